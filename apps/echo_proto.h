/* The echo protocol of srdma-server, srdma-client and srdma-bench: an application of libsrdma.
 *
 * It runs on one connection with one SRDMA_QP_MESSAGES queue pair (index 0): every message is
 * a library message (sealed, sequence-checked and flow-controlled by libsrdma as the data-plane
 * mode says) whose payload starts with this 4-byte header, big-endian fields:
 *
 *   u8 op | u8 flags (0) | u16 reserved (0) | body
 *
 *   WELCOME      S->C  u32 max_data | u32 write_len | u32 window | text (0..ECHO_TEXT_MAX
 *                      printable ASCII bytes): the server's limits, sent first
 *   DATA         C->S  bytes (0..max_data): answered by an ECHO of the same bytes
 *   ECHO         S->C  bytes
 *   PUSH         C->S  bytes (0..max_data): consumed, not answered; the next PONG vouches
 *                      for every earlier PUSH
 *   WRITE_DONE   C->S  u32 offset | u32 length | u8 tag[32]: the client RDMA-wrote length bytes
 *                      at offset of the server's region ECHO_WRITE_REGION (advertised over
 *                      TLS with write access) before this message; tag is srdma_tag() of
 *                      those bytes under this message's sequence number
 *   WRITE_RESULT S->C  u32 status (enum echo_write_status) | u32 offset | u32 length |
 *                      u8 sha256[32] of the bytes the server found
 *   PING, PONG         u64 token, echoed
 *   QUIT         C->S  empty: the server answers BYE and closes
 *   BYE          S->C  empty
 *
 * The server announces a shutdown (or any other reason it ends a session) with a control
 * message over TLS, ECHO_CTRL_NOTICE followed by printable text, before it closes.
 *
 * Pure: bytes in, struct out; no I/O. */
#ifndef SRDMA_ECHO_PROTO_H
#define SRDMA_ECHO_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ECHO_HDR_LEN	    4u
#define ECHO_TEXT_MAX	    200u
#define ECHO_TAG_LEN	    32u
#define ECHO_WRITE_REGION   1u /* region id of the server's RDMA-write target */
#define ECHO_WELCOME_FIXED  12u
#define ECHO_WRITE_DONE_LEN (8u + ECHO_TAG_LEN)
#define ECHO_WRITE_RES_LEN  (12u + ECHO_TAG_LEN)
#define ECHO_PING_LEN	    8u
#define ECHO_CTRL_NOTICE    0x4eu /* 'N': first byte of a notice control message */

enum echo_op {
	ECHO_OP_WELCOME = 1,
	ECHO_OP_DATA = 2,
	ECHO_OP_ECHO = 3,
	ECHO_OP_WRITE_DONE = 4,
	ECHO_OP_WRITE_RESULT = 5,
	ECHO_OP_PING = 6,
	ECHO_OP_PONG = 7,
	ECHO_OP_QUIT = 8,
	ECHO_OP_BYE = 9,
	ECHO_OP_PUSH = 10,
};

enum echo_write_status {
	ECHO_WRITE_OK = 0,
	ECHO_WRITE_MISMATCH = 1, /* the region does not hold the announced bytes */
	ECHO_WRITE_RANGE = 2,	 /* offset/length outside the region */
	ECHO_WRITE_TOO_LONG = 3, /* length over ECHO_WRITE_DONE_MAX: not verified */
};

/* The most bytes one WRITE_DONE may cover (the most any client writes at once, SRDMA_MSG_MAX):
 * what one message can make the server hash is bounded, whatever the size of its region. A
 * client that wrote more announces it in several WRITE_DONEs. */
#define ECHO_WRITE_DONE_MAX (1u << 20)

struct echo_msg {
	enum echo_op op;
	const uint8_t *body; /* into the decoded buffer: DATA, ECHO, PUSH bytes; WELCOME text */
	uint32_t len;	     /* of body */
	union {
		struct {
			uint32_t max_data, write_len, window;
		} welcome;
		struct {
			uint32_t offset, length;
			uint8_t tag[ECHO_TAG_LEN];
		} write_done;
		struct {
			uint32_t status, offset, length;
			uint8_t sha256[ECHO_TAG_LEN];
		} write_result;
		uint64_t token; /* PING, PONG */
	} u;
};

/* Decode the message in buf[0..len). -EBADMSG: short, unknown op, nonzero flags or reserved,
 * a fixed-size body of the wrong length, WELCOME text not printable or too long, a
 * WRITE_RESULT status out of range, a body on QUIT or BYE. */
int echo_decode(const uint8_t *buf, size_t len, struct echo_msg *out);

/* Encode m into buf (cap bytes); m->body/len for DATA, ECHO, PUSH and the WELCOME text. Returns
 * the length, -ENOBUFS, or -EINVAL (unknown op, text too long or not printable, a body length
 * without a body, a WRITE_RESULT status out of range). */
ssize_t echo_encode(const struct echo_msg *m, uint8_t *buf, size_t cap);

/* Write just a header for op into buf[0..ECHO_HDR_LEN): for DATA/ECHO/PUSH built in place. */
void echo_put_hdr(uint8_t *buf, enum echo_op op);

const char *echo_op_name(unsigned op);

/* What a WRITE_RESULT status says the server found, for messages: "the bytes written", ... */
const char *echo_write_status_text(unsigned status);

#endif
