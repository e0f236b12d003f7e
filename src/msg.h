/* Data-plane message codec (messages carried by RDMA SEND/RECV on the QPs the library drives).
 *
 * Pure: bytes in, struct out; no I/O. A message is a 16-byte header and a payload, network
 * byte order:
 *
 *   u16 magic (SRDMA_MSG_MAGIC) | u8 type | u8 flags (0) | u32 seq | u32 payload length | u32 ack
 *
 * seq counts messages per direction from 0; the receiver requires exactly the next value, so
 * any loss, duplicate or reorder is detected. ack (0..SRDMA_MAX_RECV_DEPTH, either type) is the
 * number of receives the sender has reposted since its previous message: the send credits it
 * returns to the peer. In the sealed modes the whole header, ack included, is authenticated.
 * flags: 0 once decoded; on the wire bit 0 (SRDMA_MSG_F_SEALED, dataplane.h) marks a sealed
 * message, removed when it is opened. Payloads by type:
 *   APP    (11): opaque bytes, 0..max_msg: an application message (srdma_msg_send)
 *   CREDIT (12): empty: carries only ack, when credits must go back with nothing to say
 * Every other type number is unknown: the decoder refuses it.
 */
#ifndef SRDMA_MSG_H
#define SRDMA_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SRDMA_MSG_MAGIC	  0x534Du /* "SM" */
#define SRDMA_MSG_HDR_LEN 16u

/* The numbers are the wire's: they stay as they are. */
enum srdma_msg_type {
	SRDMA_MSG_APP = 11,
	SRDMA_MSG_CREDIT = 12,
};

/* A decoded message. payload points into the caller's buffer (no copy). */
struct srdma_msg {
	enum srdma_msg_type type;
	uint32_t seq;
	uint32_t ack; /* receives reposted since the sender's previous message */
	const uint8_t *payload;
	uint32_t len;
};

/* Decode the message in buf[0..len) (exactly one message: a RECV completion's byte_len).
 * max_payload bounds APP payloads. Returns 0, or -EBADMSG for a wrong magic, an unknown type,
 * nonzero flags, an ack above SRDMA_MAX_RECV_DEPTH, a length that disagrees with len, or a
 * CREDIT with a payload; -EMSGSIZE if an APP payload exceeds max_payload. */
int srdma_msg_decode(const uint8_t *buf, size_t len, uint32_t max_payload, struct srdma_msg *out);

/* Write a header for (type, seq, payload_len), with ack 0, into buf[0..SRDMA_MSG_HDR_LEN). Any
 * type number is written as given (tests build refused messages with it). */
void srdma_msg_put_hdr(uint8_t *buf, enum srdma_msg_type type, uint32_t seq, uint32_t payload_len);

/* Encode a whole message into buf (cap bytes), with m->ack. payload/len are used for APP and
 * ignored for CREDIT. Returns total length, -ENOBUFS or -EINVAL (an unknown type, an APP above
 * SRDMA_MAX_MSG or with len but no payload, an ack above SRDMA_MAX_RECV_DEPTH). */
ssize_t srdma_msg_encode(const struct srdma_msg *m, uint8_t *buf, size_t cap);

const char *srdma_msg_type_name(unsigned type);

#endif
