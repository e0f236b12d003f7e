/* Control-channel frame codec; the byte layouts are defined in src/wire.h. */
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "byteorder.h"

/* Offsets inside the payloads, from the layouts in wire.h. */
/* enum ibv_mtu spans IBV_MTU_256 (1) to IBV_MTU_4096 (5); spelled out so the codec does not
 * need <infiniband/verbs.h>. */
#define MTU_MIN 1u
#define MTU_MAX 5u

enum {
	OPEN_OFF_FEATURES = 0,
	OPEN_OFF_NQP = 4,
	OPEN_OFF_RSVD8 = 5,
	OPEN_OFF_MSG_MASK = 6,
	OPEN_OFF_RSVD32 = 8,
};

enum {
	QP_OFF_INDEX = 0,
	QP_OFF_DRIVER = 1,
	QP_OFF_LID = 2,
	QP_OFF_QPN = 4,
	QP_OFF_PSN = 8,
	QP_OFF_MTU = 12,
	QP_OFF_RD_ATOMIC = 13,
	QP_OFF_RSVD16A = 14,
	QP_OFF_GID = 16,
	QP_OFF_MAX_MSG = 32,
	QP_OFF_DEPTH = 36,
	QP_OFF_REKEY = 38,
	QP_OFF_RSVD8 = 39,
	QP_OFF_MAX_SEND = 40,
};

/* Values of struct srdma_wire_qp.driver. */
#define QP_DRIVER_RAW	   0u
#define QP_DRIVER_MESSAGES 1u
/* A messages QP keeps one receive in flight while the other is being refilled. */
#define QP_MIN_MSG_DEPTH 2u

enum {
	REGION_OFF_ID = 0,
	REGION_OFF_ACCESS = 4,
	REGION_OFF_ADDR = 8,
	REGION_OFF_LEN = 16,
	REGION_OFF_RKEY = 24,
	REGION_OFF_RSVD = 28,
};

#define REGION_ACCESS_ALL                                                                          \
	(SRDMA_WIRE_ACCESS_WRITE | SRDMA_WIRE_ACCESS_READ | SRDMA_WIRE_ACCESS_ATOMIC)

enum {
	ERROR_OFF_CODE = 0,
	ERROR_OFF_N = 2,
	ERROR_OFF_TEXT = 4, /* also the length of the fixed part */
};

/* Network buffers carry no alignment guarantee, so every multi-byte field goes through memcpy. */
static int is_printable(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int type_known(unsigned type)
{
	return type >= SRDMA_FRAME_FIRST && type <= SRDMA_FRAME_LAST;
}

/* Shared by decoder and encoder so the two can never disagree on what is in range. */
static int open_valid(const struct srdma_open *o)
{
	/* Unknown feature bits are legal here: negotiating them is the receiver's decision. */
	if (o->nqp < 1 || o->nqp > SRDMA_WIRE_MAX_QPS)
		return 0;
	return ((uint32_t)o->msg_mask >> o->nqp) == 0;
}

static int qp_valid(const struct srdma_wire_qp *q)
{
	if (q->index >= SRDMA_WIRE_MAX_QPS || (q->qpn & ~SRDMA_PSN_MASK) != 0 || q->qpn == 0 ||
	    (q->psn & ~SRDMA_PSN_MASK) != 0 || q->mtu < MTU_MIN || q->mtu > MTU_MAX ||
	    q->rd_atomic > SRDMA_WIRE_MAX_RD_ATOMIC)
		return 0;
	switch (q->driver) {
	case QP_DRIVER_RAW:
		return q->max_msg == 0 && q->depth == 0 && q->rekey_log2 == 0 && q->max_send == 0;
	case QP_DRIVER_MESSAGES:
		return q->max_msg >= 1 && q->max_msg <= SRDMA_MAX_MSG &&
		       q->max_send <= SRDMA_MAX_MSG && q->depth >= QP_MIN_MSG_DEPTH &&
		       q->depth <= SRDMA_MAX_RECV_DEPTH &&
		       q->rekey_log2 <= SRDMA_WIRE_MAX_REKEY_LOG2;
	default:
		return 0;
	}
}

static int region_valid(const struct srdma_wire_region *r)
{
	/* The end address must be representable: a peer checks accesses against addr + len. */
	return r->access != 0 && (r->access & ~REGION_ACCESS_ALL) == 0 && r->len != 0 &&
	       r->addr <= UINT64_MAX - r->len;
}

static int qp_refused_valid(const struct srdma_qp_refused *r)
{
	return r->index < SRDMA_WIRE_MAX_QPS && r->error.code != 0;
}

static int ctrl_valid(const struct srdma_ctrl *c)
{
	return c->len >= 1 && c->len <= SRDMA_CTRL_MSG_MAX;
}

int srdma_frame_decode_hdr(const uint8_t *buf, size_t len, struct srdma_frame_hdr *out)
{
	if (len < SRDMA_FRAME_HDR_LEN)
		return -EAGAIN;

	out->magic = srdma__get_u16(buf);
	out->version = buf[2];
	out->type = buf[3];
	out->length = srdma__get_u32(buf + 4);

	/* Version before type and length: another version may define other types and sizes, and
	 * the caller wants to answer with SRDMA_ERR_VERSION rather than a protocol error. */
	if (out->magic != SRDMA_WIRE_MAGIC)
		return -EBADMSG;
	if (out->version != SRDMA_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (!type_known(out->type))
		return -EBADMSG;
	if (out->length > SRDMA_FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

static int decode_error(const uint8_t *p, uint32_t len, struct srdma_error *e)
{
	uint32_t n;

	if (len < ERROR_OFF_TEXT)
		return -EBADMSG;
	n = srdma__get_u16(p + ERROR_OFF_N);
	if (n > SRDMA_ERROR_MSG_MAX || len != ERROR_OFF_TEXT + n)
		return -EBADMSG;
	/* The text ends up in logs and on terminals: refuse control bytes and escapes outright. */
	for (uint32_t i = 0; i < n; i++) {
		if (!is_printable(p[ERROR_OFF_TEXT + i]))
			return -EBADMSG;
	}
	e->code = srdma__get_u16(p + ERROR_OFF_CODE);
	memcpy(e->msg, p + ERROR_OFF_TEXT, n);
	e->msg[n] = '\0';
	return 0;
}

static int decode_qp_refused(const uint8_t *p, uint32_t len, struct srdma_qp_refused *r)
{
	int ret;

	if (len < SRDMA_QP_REFUSED_MIN || p[1] != 0)
		return -EBADMSG;
	r->index = p[0];
	ret = decode_error(p + 2, len - 2, &r->error);
	if (ret)
		return ret;
	return qp_refused_valid(r) ? 0 : -EBADMSG;
}

static int decode_open(const uint8_t *p, uint32_t len, struct srdma_open *o)
{
	if (len != SRDMA_OPEN_LEN || p[OPEN_OFF_RSVD8] != 0 ||
	    srdma__get_u32(p + OPEN_OFF_RSVD32) != 0)
		return -EBADMSG;
	o->features = srdma__get_u32(p + OPEN_OFF_FEATURES);
	o->nqp = p[OPEN_OFF_NQP];
	o->msg_mask = srdma__get_u16(p + OPEN_OFF_MSG_MASK);
	return open_valid(o) ? 0 : -EBADMSG;
}

static int decode_qp(const uint8_t *p, uint32_t len, struct srdma_wire_qp *q)
{
	if (len != SRDMA_QP_LEN || srdma__get_u16(p + QP_OFF_RSVD16A) != 0 || p[QP_OFF_RSVD8] != 0)
		return -EBADMSG;
	q->index = p[QP_OFF_INDEX];
	q->driver = p[QP_OFF_DRIVER];
	q->lid = srdma__get_u16(p + QP_OFF_LID);
	q->qpn = srdma__get_u32(p + QP_OFF_QPN);
	q->psn = srdma__get_u32(p + QP_OFF_PSN);
	q->mtu = p[QP_OFF_MTU];
	q->rd_atomic = p[QP_OFF_RD_ATOMIC];
	memcpy(q->gid, p + QP_OFF_GID, sizeof(q->gid));
	q->max_msg = srdma__get_u32(p + QP_OFF_MAX_MSG);
	q->depth = srdma__get_u16(p + QP_OFF_DEPTH);
	q->rekey_log2 = p[QP_OFF_REKEY];
	q->max_send = srdma__get_u32(p + QP_OFF_MAX_SEND);
	return qp_valid(q) ? 0 : -EBADMSG;
}

static int decode_region(const uint8_t *p, uint32_t len, struct srdma_wire_region *r)
{
	if (len != SRDMA_REGION_LEN || srdma__get_u32(p + REGION_OFF_RSVD) != 0)
		return -EBADMSG;
	r->id = srdma__get_u32(p + REGION_OFF_ID);
	r->access = srdma__get_u32(p + REGION_OFF_ACCESS);
	r->addr = srdma__get_u64(p + REGION_OFF_ADDR);
	r->len = srdma__get_u64(p + REGION_OFF_LEN);
	r->rkey = srdma__get_u32(p + REGION_OFF_RKEY);
	return region_valid(r) ? 0 : -EBADMSG;
}

static int decode_ctrl(const uint8_t *p, uint32_t len, struct srdma_ctrl *c)
{
	if (len < 1 || len > SRDMA_CTRL_MSG_MAX)
		return -EBADMSG;
	c->len = (uint16_t)len;
	memcpy(c->data, p, len);
	return 0;
}

ssize_t srdma_frame_decode(const uint8_t *buf, size_t len, struct srdma_frame *out)
{
	struct srdma_frame_hdr hdr;
	const uint8_t *p;
	int ret;

	if (len < SRDMA_FRAME_HDR_LEN)
		return 0;
	/* Header errors are reported before the payload arrives: an oversized or foreign frame
	 * would otherwise make the caller wait for bytes that are never valid. */
	ret = srdma_frame_decode_hdr(buf, len, &hdr);
	if (ret < 0)
		return ret;
	if (len - SRDMA_FRAME_HDR_LEN < hdr.length)
		return 0;

	p = buf + SRDMA_FRAME_HDR_LEN;
	memset(out, 0, sizeof(*out));
	out->type = hdr.type;
	switch (out->type) {
	case SRDMA_FRAME_READY:
		ret = hdr.length == 0 ? 0 : -EBADMSG;
		break;
	case SRDMA_FRAME_ERROR:
		ret = decode_error(p, hdr.length, &out->u.error);
		break;
	case SRDMA_FRAME_OPEN:
		ret = decode_open(p, hdr.length, &out->u.open);
		break;
	case SRDMA_FRAME_QP:
		ret = decode_qp(p, hdr.length, &out->u.qp);
		break;
	case SRDMA_FRAME_REGION:
		ret = decode_region(p, hdr.length, &out->u.region);
		break;
	case SRDMA_FRAME_REVOKE:
		if (hdr.length != SRDMA_REVOKE_LEN)
			return -EBADMSG;
		out->u.revoke_id = srdma__get_u32(p);
		ret = 0;
		break;
	case SRDMA_FRAME_CTRL:
		ret = decode_ctrl(p, hdr.length, &out->u.ctrl);
		break;
	case SRDMA_FRAME_QP_REFUSED:
		ret = decode_qp_refused(p, hdr.length, &out->u.qp_refused);
		break;
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		ret = hdr.length == 0 ? 0 : -EBADMSG;
		break;
	default:
		ret = -EBADMSG; /* unreachable: decode_hdr rejected unknown types */
		break;
	}
	if (ret < 0)
		return ret;
	return (ssize_t)(SRDMA_FRAME_HDR_LEN + hdr.length);
}

static void encode_error(const struct srdma_error *e, uint32_t n, uint8_t *p)
{
	srdma__put_u16(p + ERROR_OFF_CODE, e->code);
	srdma__put_u16(p + ERROR_OFF_N, (uint16_t)n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)e->msg[i];

		p[ERROR_OFF_TEXT + i] = is_printable(c) ? c : '?';
	}
}

static void encode_open(const struct srdma_open *o, uint8_t *p)
{
	srdma__put_u32(p + OPEN_OFF_FEATURES, o->features);
	p[OPEN_OFF_NQP] = o->nqp;
	p[OPEN_OFF_RSVD8] = 0;
	srdma__put_u16(p + OPEN_OFF_MSG_MASK, o->msg_mask);
	srdma__put_u32(p + OPEN_OFF_RSVD32, 0);
}

static void encode_qp(const struct srdma_wire_qp *q, uint8_t *p)
{
	p[QP_OFF_INDEX] = q->index;
	p[QP_OFF_DRIVER] = q->driver;
	srdma__put_u16(p + QP_OFF_LID, q->lid);
	srdma__put_u32(p + QP_OFF_QPN, q->qpn);
	srdma__put_u32(p + QP_OFF_PSN, q->psn);
	p[QP_OFF_MTU] = q->mtu;
	p[QP_OFF_RD_ATOMIC] = q->rd_atomic;
	srdma__put_u16(p + QP_OFF_RSVD16A, 0);
	memcpy(p + QP_OFF_GID, q->gid, sizeof(q->gid));
	srdma__put_u32(p + QP_OFF_MAX_MSG, q->max_msg);
	srdma__put_u16(p + QP_OFF_DEPTH, q->depth);
	p[QP_OFF_REKEY] = q->rekey_log2;
	p[QP_OFF_RSVD8] = 0;
	srdma__put_u32(p + QP_OFF_MAX_SEND, q->max_send);
}

static void encode_region(const struct srdma_wire_region *r, uint8_t *p)
{
	srdma__put_u32(p + REGION_OFF_ID, r->id);
	srdma__put_u32(p + REGION_OFF_ACCESS, r->access);
	srdma__put_u64(p + REGION_OFF_ADDR, r->addr);
	srdma__put_u64(p + REGION_OFF_LEN, r->len);
	srdma__put_u32(p + REGION_OFF_RKEY, r->rkey);
	srdma__put_u32(p + REGION_OFF_RSVD, 0);
}

ssize_t srdma_frame_encode(const struct srdma_frame *f, uint8_t *buf, size_t cap)
{
	uint32_t plen;
	uint32_t msg_n = 0;

	/* Range errors first: they are the caller's bug whatever the buffer size. */
	switch (f->type) {
	case SRDMA_FRAME_READY:
		plen = 0;
		break;
	case SRDMA_FRAME_ERROR:
		/* Longer text is truncated, not refused (wire.h); strnlen also bounds the scan
		 * should the caller have left msg unterminated. */
		msg_n = (uint32_t)strnlen(f->u.error.msg, SRDMA_ERROR_MSG_MAX);
		plen = ERROR_OFF_TEXT + msg_n;
		break;
	case SRDMA_FRAME_OPEN:
		if (!open_valid(&f->u.open))
			return -EINVAL;
		plen = SRDMA_OPEN_LEN;
		break;
	case SRDMA_FRAME_QP:
		if (!qp_valid(&f->u.qp))
			return -EINVAL;
		plen = SRDMA_QP_LEN;
		break;
	case SRDMA_FRAME_REGION:
		if (!region_valid(&f->u.region))
			return -EINVAL;
		plen = SRDMA_REGION_LEN;
		break;
	case SRDMA_FRAME_REVOKE:
		plen = SRDMA_REVOKE_LEN;
		break;
	case SRDMA_FRAME_CTRL:
		if (!ctrl_valid(&f->u.ctrl))
			return -EINVAL;
		plen = f->u.ctrl.len;
		break;
	case SRDMA_FRAME_QP_REFUSED:
		if (!qp_refused_valid(&f->u.qp_refused))
			return -EINVAL;
		msg_n = (uint32_t)strnlen(f->u.qp_refused.error.msg, SRDMA_ERROR_MSG_MAX);
		plen = 2 + ERROR_OFF_TEXT + msg_n;
		break;
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		plen = 0;
		break;
	default:
		return -EINVAL;
	}

	if (cap < SRDMA_FRAME_HDR_LEN + plen)
		return -ENOBUFS;

	srdma__put_u16(buf, SRDMA_WIRE_MAGIC);
	buf[2] = SRDMA_PROTO_VERSION;
	buf[3] = (uint8_t)f->type;
	srdma__put_u32(buf + 4, plen);
	switch (f->type) {
	case SRDMA_FRAME_READY:
		break;
	case SRDMA_FRAME_ERROR:
		encode_error(&f->u.error, msg_n, buf + SRDMA_FRAME_HDR_LEN);
		break;
	case SRDMA_FRAME_OPEN:
		encode_open(&f->u.open, buf + SRDMA_FRAME_HDR_LEN);
		break;
	case SRDMA_FRAME_QP:
		encode_qp(&f->u.qp, buf + SRDMA_FRAME_HDR_LEN);
		break;
	case SRDMA_FRAME_REGION:
		encode_region(&f->u.region, buf + SRDMA_FRAME_HDR_LEN);
		break;
	case SRDMA_FRAME_REVOKE:
		srdma__put_u32(buf + SRDMA_FRAME_HDR_LEN, f->u.revoke_id);
		break;
	case SRDMA_FRAME_CTRL:
		memcpy(buf + SRDMA_FRAME_HDR_LEN, f->u.ctrl.data, plen);
		break;
	case SRDMA_FRAME_QP_REFUSED:
		buf[SRDMA_FRAME_HDR_LEN] = f->u.qp_refused.index;
		buf[SRDMA_FRAME_HDR_LEN + 1] = 0;
		encode_error(&f->u.qp_refused.error, msg_n, buf + SRDMA_FRAME_HDR_LEN + 2);
		break;
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		break;
	}
	return (ssize_t)(SRDMA_FRAME_HDR_LEN + plen);
}

void srdma_frame_error(struct srdma_frame *f, uint16_t code, const char *fmt, ...)
{
	va_list ap;
	int n;

	memset(f, 0, sizeof(*f));
	f->type = SRDMA_FRAME_ERROR;
	f->u.error.code = code;

	va_start(ap, fmt);
	n = vsnprintf(f->u.error.msg, sizeof(f->u.error.msg), fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* An encoding error leaves the buffer unspecified; send the code without text. */
		f->u.error.msg[0] = '\0';
		return;
	}
	/* Messages often embed peer- or OS-supplied strings; keep the frame valid as it stands. */
	for (char *c = f->u.error.msg; *c; c++) {
		if (!is_printable((uint8_t)*c))
			*c = '?';
	}
}

static const char *const frame_type_names[] = {
    [SRDMA_FRAME_READY] = "READY",
    [SRDMA_FRAME_ERROR] = "ERROR",
    [SRDMA_FRAME_OPEN] = "OPEN",
    [SRDMA_FRAME_QP] = "QP",
    [SRDMA_FRAME_REGION] = "REGION",
    [SRDMA_FRAME_REVOKE] = "REVOKE",
    [SRDMA_FRAME_CTRL] = "CTRL",
    [SRDMA_FRAME_CLOSE] = "CLOSE",
    [SRDMA_FRAME_PING] = "PING",
    [SRDMA_FRAME_PONG] = "PONG",
    [SRDMA_FRAME_QP_REFUSED] = "QP_REFUSED",
};

static const char *const error_code_names[] = {
    [SRDMA_ERR_SERVER_FULL] = "SERVER_FULL",
    [SRDMA_ERR_VERSION] = "VERSION",
    [SRDMA_ERR_PROTOCOL] = "PROTOCOL",
    [SRDMA_ERR_RESOURCES] = "RESOURCES",
    [SRDMA_ERR_SHUTDOWN] = "SHUTDOWN",
    [SRDMA_ERR_TIMEOUT] = "TIMEOUT",
    [SRDMA_ERR_FEATURE] = "FEATURE",
    [SRDMA_ERR_INTERNAL] = "INTERNAL",
    [SRDMA_ERR_RDMA] = "RDMA",
    [SRDMA_ERR_REFUSED] = "REFUSED",
};

/* Tables are sparse (no slot 0; no frame types 1 and 2), so a NULL slot means "unknown". */
static const char *table_name(const char *const *table, size_t n, unsigned idx)
{
	if (idx >= n || !table[idx])
		return "unknown";
	return table[idx];
}

const char *srdma_frame_type_name(unsigned type)
{
	return table_name(frame_type_names, sizeof(frame_type_names) / sizeof(frame_type_names[0]),
			  type);
}

const char *srdma_error_code_name(unsigned code)
{
	return table_name(error_code_names, sizeof(error_code_names) / sizeof(error_code_names[0]),
			  code);
}
