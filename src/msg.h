/* Data-plane message codec (messages carried by RDMA SEND/RECV between the two QPs).
 *
 * Pure: bytes in, struct out; no I/O. A message is a 16-byte header and a payload, network
 * byte order:
 *
 *   u16 magic (SRDMA_MSG_MAGIC) | u8 type | u8 flags (0) | u32 seq | u32 payload length | u32 ack
 *
 * seq counts messages per direction from 0; the receiver requires exactly the next value, so
 * any loss, duplicate or reorder is detected. ack (0..SRDMA_MAX_RECV_DEPTH, any type) is the
 * number of receives the sender has reposted since its previous message: the send credits it
 * returns to the peer on library-driven QPs (the demo programs always send 0). In the sealed
 * modes the whole header, ack included, is authenticated. Payloads by type:
 *   WELCOME      : printable text, 0..SRDMA_MSG_TEXT_MAX bytes
 *   DATA, ECHO   : opaque bytes, 0..max_msg
 *   PUSH         : opaque bytes, 0..max_msg: one-way data, consumed without a reply; the
 *                  next reply (e.g. a PONG) vouches that every earlier PUSH was received,
 *                  opened and its receive reposted, which is the sender's flow control
 *   WRITE_DONE   (40 bytes): u32 offset | u32 length | u8 tag[32] of the bytes written
 *                            (srdma_dp_write_tag: SHA-256 in plain mode, GMAC in aead mode)
 *   WRITE_RESULT (44 bytes): u32 status (enum srdma_write_status) | u32 offset | u32 length
 *                            | u8 sha256[32] of the bytes the receiver found
 * flags: 0 once decoded; on the wire bit 0 (SRDMA_MSG_F_SEALED, dataplane.h) marks a sealed
 * message, removed when it is opened.
 *   PING, PONG   (8 bytes): u64 opaque token, echoed
 *   QUIT, BYE    : empty
 *   APP          : opaque bytes, 0..max_msg: an application message (srdma_msg_send)
 *   CREDIT       : empty: carries only ack, when credits must go back with nothing to say
 */
#ifndef SRDMA_MSG_H
#define SRDMA_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SRDMA_MSG_MAGIC	       0x534Du /* "SM" */
#define SRDMA_MSG_HDR_LEN      16u
#define SRDMA_MSG_TEXT_MAX     256u
#define SRDMA_DIGEST_LEN       32u
#define SRDMA_WRITE_DONE_LEN   40u
#define SRDMA_WRITE_RESULT_LEN 44u
#define SRDMA_PING_LEN	       8u

enum srdma_msg_type {
	SRDMA_MSG_WELCOME = 1,
	SRDMA_MSG_DATA = 2,
	SRDMA_MSG_ECHO = 3,
	SRDMA_MSG_WRITE_DONE = 4,
	SRDMA_MSG_WRITE_RESULT = 5,
	SRDMA_MSG_PING = 6,
	SRDMA_MSG_PONG = 7,
	SRDMA_MSG_QUIT = 8,
	SRDMA_MSG_BYE = 9,
	SRDMA_MSG_PUSH = 10,
	SRDMA_MSG_APP = 11,
	SRDMA_MSG_CREDIT = 12,
};

enum srdma_write_status {
	SRDMA_WRITE_OK = 0,
	SRDMA_WRITE_MISMATCH = 1, /* the region does not hold the announced bytes */
	SRDMA_WRITE_RANGE = 2,	  /* offset/length outside the region */
};

struct srdma_msg_hdr {
	uint16_t magic;
	uint8_t type;
	uint8_t flags;
	uint32_t seq;
	uint32_t len;
};

struct srdma_write_done {
	uint32_t offset;
	uint32_t length;
	uint8_t digest[SRDMA_DIGEST_LEN];
};

struct srdma_write_result {
	uint32_t status;
	uint32_t offset;
	uint32_t length;
	uint8_t digest[SRDMA_DIGEST_LEN];
};

/* A decoded message. payload points into the caller's buffer (no copy). */
struct srdma_msg {
	enum srdma_msg_type type;
	uint32_t seq;
	uint32_t ack; /* receives reposted since the sender's previous message */
	const uint8_t *payload;
	uint32_t len;
	union {
		struct srdma_write_done write_done;
		struct srdma_write_result write_result;
		uint64_t token; /* PING, PONG */
	} u;
};

/* Decode the message in buf[0..len) (exactly one message: a RECV completion's byte_len).
 * max_payload bounds DATA/ECHO/PUSH/APP payloads. Returns 0, or -EBADMSG for a wrong magic,
 * unknown type, nonzero flags, an ack above SRDMA_MAX_RECV_DEPTH, a length that disagrees with
 * len, or a payload that breaks its type's rules above; -EMSGSIZE if the payload exceeds
 * max_payload. */
int srdma_msg_decode(const uint8_t *buf, size_t len, uint32_t max_payload, struct srdma_msg *out);

/* Write a header for (type, seq, payload_len), with ack 0, into buf[0..SRDMA_MSG_HDR_LEN). */
void srdma_msg_put_hdr(uint8_t *buf, enum srdma_msg_type type, uint32_t seq, uint32_t payload_len);

/* Encode a whole message into buf (cap bytes), with m->ack. payload/len are used for WELCOME,
 * DATA, ECHO, PUSH and APP; the union fields for the fixed-size types. Returns total length,
 * -ENOBUFS or -EINVAL (also: ack above SRDMA_MAX_RECV_DEPTH). */
ssize_t srdma_msg_encode(const struct srdma_msg *m, uint8_t *buf, size_t cap);

const char *srdma_msg_type_name(unsigned type);

#endif
