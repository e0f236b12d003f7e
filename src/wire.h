/* Control-channel frame codec (the frames of the connection manager, inside TLS).
 *
 * Pure: bytes in, struct out; no I/O, no allocation, no global state, safe from any thread.
 * Every frame is an 8-byte header followed by a bounded payload, all in network byte order:
 *
 *   u16 magic (SRDMA_WIRE_MAGIC) | u8 version | u8 type | u32 payload length
 *
 * Payloads (exact lengths; any other length is malformed):
 *   READY  (0 bytes)
 *   ERROR  (4 + n bytes): u16 code | u16 n (0..SRDMA_ERROR_MSG_MAX) | n bytes of printable ASCII
 *   OPEN   (12 bytes): u32 features (SRDMA_FEAT_*) | u8 nqp (1..SRDMA_WIRE_MAX_QPS)
 *                      | u8 reserved (0) | u16 msg_mask (bit i: QP i is library-driven; no bit
 *                      at or above nqp) | u32 reserved (0)
 *                      (unknown feature bits pass, the receiver decides)
 *   QP     (44 bytes): u8 index (< SRDMA_WIRE_MAX_QPS) | u8 driver (0 raw, 1 messages)
 *                      | u16 lid | u32 qpn (24-bit, not 0) | u32 psn (24-bit) | u8 mtu (1..5)
 *                      | u8 rd_atomic (0..SRDMA_WIRE_MAX_RD_ATOMIC: RDMA reads and atomics this
 *                      side serves at once) | u16 reserved (0) | u8 gid[16]
 *                      | u32 max_msg | u16 depth | u8 rekey_log2 | u8 reserved (0)
 *                      | u32 max_send
 *                      (messages QPs: max_msg 1..SRDMA_MAX_MSG, depth 2..SRDMA_MAX_RECV_DEPTH,
 *                      rekey_log2 0..SRDMA_WIRE_MAX_REKEY_LOG2: the sender's messages on this
 *                      QP change keys every 2^rekey_log2 messages, 0 never; max_send
 *                      0..SRDMA_MAX_MSG: the largest message the sender will send, 0 as large
 *                      as the receiver's max_msg; raw QPs: all 0)
 *   REGION (32 bytes): u32 id | u32 access (1..7: SRDMA_WIRE_ACCESS_*) | u64 addr | u64 len
 *                      (not 0; addr + len <= 2^64 - 1) | u32 rkey | u32 reserved (0)
 *   REVOKE (4 bytes):  u32 id
 *   CTRL   (1..SRDMA_CTRL_MSG_MAX bytes): opaque application bytes
 *   CLOSE  (0 bytes):  orderly close; nothing follows but TLS close_notify
 *   PING   (0 bytes):  heartbeat: the peer answers PONG at once
 *   PONG   (0 bytes)
 *   QP_REFUSED (6 + n bytes): u8 index (< SRDMA_WIRE_MAX_QPS) | u8 reserved (0) | u16 code
 *                      (not 0: SRDMA_ERR_*) | u16 n (0..SRDMA_ERROR_MSG_MAX) | n bytes of
 *                      printable ASCII: a QP added to an established connection is refused
 *                      (listener -> connector) or abandoned (connector -> listener); the
 *                      connection goes on (cm_internal.h)
 *
 * A QP frame is also what adds a QP to an established connection (same layout; cm_internal.h
 * says when it is allowed).
 *
 * Type numbers below SRDMA_FRAME_FIRST (0, 1 and 2) or above SRDMA_FRAME_LAST are unknown: the
 * header decoder refuses them.
 */
#ifndef SRDMA_WIRE_H
#define SRDMA_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SRDMA_WIRE_MAGIC 0x5352u /* "SR" */
/* 3: QP frames carry max_send (libsrdma 0.5). 2: the set-up in one flight each way
 * (cm_internal.h), QP frames without max_send. 1 had the same frames in another order (two
 * round trips after TLS). A peer of another version is refused from the header. */
#define SRDMA_PROTO_VERSION	  3u
#define SRDMA_FRAME_HDR_LEN	  8u
#define SRDMA_FRAME_MAX_PAYLOAD	  256u
#define SRDMA_FRAME_MAX_LEN	  (SRDMA_FRAME_HDR_LEN + SRDMA_FRAME_MAX_PAYLOAD)
#define SRDMA_ERROR_MSG_MAX	  200u
#define SRDMA_PSN_MASK		  0xFFFFFFu
#define SRDMA_MAX_RECV_DEPTH	  1024u
#define SRDMA_MAX_MSG		  (1u << 20)
#define SRDMA_OPEN_LEN		  12u
#define SRDMA_QP_LEN		  44u
#define SRDMA_REGION_LEN	  32u
#define SRDMA_REVOKE_LEN	  4u
#define SRDMA_QP_REFUSED_MIN	  6u
#define SRDMA_CTRL_MSG_MAX	  240u
#define SRDMA_WIRE_MAX_QPS	  16u
#define SRDMA_WIRE_MAX_RD_ATOMIC  16u
#define SRDMA_WIRE_MAX_REKEY_LOG2 31u
#define SRDMA_WIRE_ACCESS_WRITE	  (1u << 0)
#define SRDMA_WIRE_ACCESS_READ	  (1u << 1)
#define SRDMA_WIRE_ACCESS_ATOMIC  (1u << 2)

/* Feature bits carried in OPEN: the data-plane mode. */
#define SRDMA_FEAT_AEAD	    (1u << 0) /* sealed data plane (AES-256-GCM unless CHACHA20) */
#define SRDMA_FEAT_CHACHA20 (1u << 1) /* with AEAD: sealed with ChaCha20-Poly1305 instead */
#define SRDMA_FEAT_KNOWN    (SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20)

enum srdma_frame_type {
	SRDMA_FRAME_READY = 3,
	SRDMA_FRAME_ERROR = 4,
	SRDMA_FRAME_OPEN = 5,
	SRDMA_FRAME_QP = 6,
	SRDMA_FRAME_REGION = 7,
	SRDMA_FRAME_REVOKE = 8,
	SRDMA_FRAME_CTRL = 9,
	SRDMA_FRAME_CLOSE = 10,
	SRDMA_FRAME_PING = 11,
	SRDMA_FRAME_PONG = 12,
	SRDMA_FRAME_QP_REFUSED = 13, /* protocol version 2 since libsrdma 0.4 */
	SRDMA_FRAME_FIRST = SRDMA_FRAME_READY,
	SRDMA_FRAME_LAST = SRDMA_FRAME_QP_REFUSED,
};

/* Codes of ERROR frames; each has a fixed meaning a peer can act on. */
enum srdma_error_code {
	SRDMA_ERR_SERVER_FULL = 1,
	SRDMA_ERR_VERSION = 2,	 /* unsupported protocol version */
	SRDMA_ERR_PROTOCOL = 3,	 /* malformed or unexpected frame */
	SRDMA_ERR_RESOURCES = 4, /* the peer could not create its RDMA resources */
	SRDMA_ERR_SHUTDOWN = 5,	 /* the server is shutting down */
	SRDMA_ERR_TIMEOUT = 6,
	SRDMA_ERR_FEATURE = 7, /* incompatible feature bits (e.g. data-plane mode) */
	SRDMA_ERR_INTERNAL = 8,
	SRDMA_ERR_RDMA = 9,	/* the RDMA session failed (QP error, completion error) */
	SRDMA_ERR_REFUSED = 10, /* the listener's application refused this peer */
};

struct srdma_frame_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t type;
	uint32_t length;
};

struct srdma_open {
	uint32_t features;
	uint8_t nqp;
	uint16_t msg_mask;
};

struct srdma_wire_qp {
	uint8_t index;
	uint8_t driver;
	uint16_t lid;
	uint32_t qpn;
	uint32_t psn;
	uint8_t mtu;
	uint8_t rd_atomic;
	uint8_t gid[16];
	uint32_t max_msg;
	uint16_t depth;
	uint8_t rekey_log2;
	uint32_t max_send;
};

struct srdma_wire_region {
	uint32_t id;
	uint32_t access;
	uint64_t addr;
	uint64_t len;
	uint32_t rkey;
};

struct srdma_ctrl {
	uint16_t len; /* 1..SRDMA_CTRL_MSG_MAX */
	uint8_t data[SRDMA_CTRL_MSG_MAX];
};

struct srdma_error {
	uint16_t code;
	char msg[SRDMA_ERROR_MSG_MAX + 1]; /* NUL-terminated */
};

struct srdma_qp_refused {
	uint8_t index;
	struct srdma_error error; /* code not 0 */
};

struct srdma_frame {
	enum srdma_frame_type type;
	union {
		struct srdma_error error;
		struct srdma_qp_refused qp_refused;
		struct srdma_open open;
		struct srdma_wire_qp qp;
		struct srdma_wire_region region;
		uint32_t revoke_id;
		struct srdma_ctrl ctrl;
	} u;
};

/* Parse and validate a frame header from buf (at least SRDMA_FRAME_HDR_LEN bytes).
 * Returns 0; -EAGAIN if len < SRDMA_FRAME_HDR_LEN; -EBADMSG on a wrong magic or an unknown
 * type; -EPROTONOSUPPORT on another protocol version; -EMSGSIZE if the length exceeds
 * SRDMA_FRAME_MAX_PAYLOAD. On every return but -EAGAIN, *out holds the raw header fields, so a
 * caller can report e.g. which version the peer spoke. */
int srdma_frame_decode_hdr(const uint8_t *buf, size_t len, struct srdma_frame_hdr *out);

/* Decode one whole frame from the start of buf.
 * Returns the number of bytes consumed (> 0); 0 if buf does not yet hold a whole frame (read
 * more); a negative errno if the frame is malformed: the header errors above, or -EBADMSG for a
 * payload of the wrong length or with an out-of-range field. *out is only valid on > 0. */
ssize_t srdma_frame_decode(const uint8_t *buf, size_t len, struct srdma_frame *out);

/* Encode f into buf. Returns the frame length, -ENOBUFS if cap is too small, -EINVAL if a field
 * is out of range (the same ranges the decoder enforces; ERROR messages longer than
 * SRDMA_ERROR_MSG_MAX are truncated, non-printable bytes replaced by '?'). */
ssize_t srdma_frame_encode(const struct srdma_frame *f, uint8_t *buf, size_t cap);

/* Fill an ERROR frame with code and a printf-style message (truncated to fit). */
void srdma_frame_error(struct srdma_frame *f, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Static names for logs: "READY", ..., "unknown". */
const char *srdma_frame_type_name(unsigned type);
const char *srdma_error_code_name(unsigned code);

#endif
