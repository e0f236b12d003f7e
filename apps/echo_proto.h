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
 *                      TLS with write access, made on REGION) before this message; tag is
 *                      srdma_tag() of those bytes under this message's sequence number
 *   WRITE_RESULT S->C  u32 status (enum echo_write_status) | u32 offset | u32 length |
 *                      u8 sha256[32] of the bytes the server found; RANGE if no region was
 *                      made or the range leaves the current one
 *   PING, PONG         u64 token, echoed
 *   QUIT         C->S  empty: the server answers BYE and closes
 *   BYE          S->C  empty
 *   REGION       C->S  u32 length: the client will RDMA-write up to length bytes: the server
 *                      makes its region ECHO_WRITE_REGION at least that large
 *   REGION_READY S->C  u32 status | u32 length: the answer to REGION. Status OK (0) and the
 *                      region's length (> 0); or RANGE (length 0 or above WELCOME's
 *                      write_len) or NO_REGION (the server could not make it: memory,
 *                      registration; the session goes on), with length 0
 *
 * The write region: the server makes none at the start of a session. On the client's first
 * REGION it allocates length bytes rounded up to the page size (at most write_len), registers
 * them in the connection's PD (LOCAL_WRITE and REMOTE_WRITE only), advertises them over TLS as
 * ECHO_WRITE_REGION with write access, and only then sends REGION_READY. A REGION for more than
 * the region has replaces it: the old one is revoked (srdma_revoke, which deregisters it first)
 * and a larger one advertised under the same id; a REGION the region already covers is answered
 * at once. The advertisement goes out before REGION_READY but travels on the control channel,
 * so the client may see REGION_READY first: it then waits for an ECHO_WRITE_REGION of at least
 * the length it needs (srdma_remote_region). WELCOME's write_len is the largest region the
 * server will make (its write_size; 0: no RDMA writes offered).
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

#define ECHO_HDR_LEN	   4u
#define ECHO_TEXT_MAX	   200u
#define ECHO_TAG_LEN	   32u
#define ECHO_WRITE_REGION  1u /* region id of the server's RDMA-write target */
#define ECHO_WELCOME_FIXED 12u
/* The longest message the server sends whatever the client asked: a WELCOME with its text.
 * A client accepts at least this much; the server's buffer holds at least this much. */
#define ECHO_WELCOME_MAX    (ECHO_HDR_LEN + ECHO_WELCOME_FIXED + ECHO_TEXT_MAX)
#define ECHO_WRITE_DONE_LEN (8u + ECHO_TAG_LEN)
#define ECHO_WRITE_RES_LEN  (12u + ECHO_TAG_LEN)
#define ECHO_PING_LEN	    8u
#define ECHO_REGION_LEN	    4u
#define ECHO_REGION_RDY_LEN 8u
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
	ECHO_OP_REGION = 11,
	ECHO_OP_REGION_READY = 12,
};

#define ECHO_OP_LAST ECHO_OP_REGION_READY

enum echo_write_status {
	ECHO_WRITE_OK = 0,
	ECHO_WRITE_MISMATCH = 1,  /* the region does not hold the announced bytes */
	ECHO_WRITE_RANGE = 2,	  /* offset/length outside the region */
	ECHO_WRITE_TOO_LONG = 3,  /* length over ECHO_WRITE_DONE_MAX: not verified */
	ECHO_WRITE_NO_REGION = 4, /* REGION_READY only: the server could not make the region */
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
		struct {
			uint32_t length;
		} region;
		struct {
			uint32_t status, length;
		} region_ready;
	} u;
};

/* Decode the message in buf[0..len). -EBADMSG: short, unknown op, nonzero flags or reserved,
 * a fixed-size body of the wrong length, WELCOME text not printable or too long, a
 * WRITE_RESULT status out of range (NO_REGION included), a REGION_READY status other than OK,
 * RANGE or NO_REGION, or with OK and length 0, or with another status and a length, a body on
 * QUIT or BYE. */
int echo_decode(const uint8_t *buf, size_t len, struct echo_msg *out);

/* Encode m into buf (cap bytes); m->body/len for DATA, ECHO, PUSH and the WELCOME text. Returns
 * the length, -ENOBUFS, or -EINVAL (unknown op, text too long or not printable, a body length
 * without a body, a WRITE_RESULT or REGION_READY the decoder would refuse). */
ssize_t echo_encode(const struct echo_msg *m, uint8_t *buf, size_t cap);

/* Write just a header for op into buf[0..ECHO_HDR_LEN): for DATA/ECHO/PUSH built in place. */
void echo_put_hdr(uint8_t *buf, enum echo_op op);

const char *echo_op_name(unsigned op);

/* What a WRITE_RESULT status says the server found, for messages: "the bytes written", ...
 * (and the REGION_READY statuses: RANGE, NO_REGION). */
const char *echo_write_status_text(unsigned status);

#endif
