/* Data-plane message codec; the byte layouts are defined in src/msg.h. */
#include "msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "wire.h" /* SRDMA_MAX_MSG (the ceiling any negotiated max_msg stays under),
			  SRDMA_MAX_RECV_DEPTH (the most credits one message can return) */

#include "byteorder.h"

/* Header offsets, from the layout in msg.h. */
enum {
	HDR_OFF_MAGIC = 0,
	HDR_OFF_TYPE = 2,
	HDR_OFF_FLAGS = 3,
	HDR_OFF_SEQ = 4,
	HDR_OFF_LEN = 8,
	HDR_OFF_ACK = 12,
};

/* Offsets inside WRITE_DONE and WRITE_RESULT payloads. */
enum {
	WD_OFF_OFFSET = 0,
	WD_OFF_LENGTH = 4,
	WD_OFF_DIGEST = 8,
	WR_OFF_STATUS = 0,
	WR_OFF_OFFSET = 4,
	WR_OFF_LENGTH = 8,
	WR_OFF_DIGEST = 12,
};

/* Receive buffers carry no alignment guarantee, so every multi-byte field goes through memcpy. */
static int text_valid(const uint8_t *p, uint32_t n)
{
	if (n > SRDMA_MSG_TEXT_MAX)
		return 0;
	/* WELCOME text is shown to users: no control bytes or terminal escapes from a peer. */
	for (uint32_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	}
	return 1;
}

static int write_status_valid(uint32_t status)
{
	switch (status) {
	case SRDMA_WRITE_OK:
	case SRDMA_WRITE_MISMATCH:
	case SRDMA_WRITE_RANGE:
		return 1;
	}
	return 0;
}

int srdma_msg_decode(const uint8_t *buf, size_t len, uint32_t max_payload, struct srdma_msg *out)
{
	const uint8_t *p;
	uint32_t plen;
	uint8_t type;

	/* A RECV completion delivers whole messages, so a short one is malformed, not partial. */
	if (len < SRDMA_MSG_HDR_LEN)
		return -EBADMSG;
	/* No peer keeps more than SRDMA_MAX_RECV_DEPTH receives posted, so a larger ack is not a
	 * count of reposted receives: refusing it here keeps credit arithmetic in range. */
	if (srdma__get_u16(buf + HDR_OFF_MAGIC) != SRDMA_MSG_MAGIC || buf[HDR_OFF_FLAGS] != 0 ||
	    srdma__get_u32(buf + HDR_OFF_ACK) > SRDMA_MAX_RECV_DEPTH)
		return -EBADMSG;
	plen = srdma__get_u32(buf + HDR_OFF_LEN);
	if (len - SRDMA_MSG_HDR_LEN != plen)
		return -EBADMSG;

	p = buf + SRDMA_MSG_HDR_LEN;
	type = buf[HDR_OFF_TYPE];
	memset(out, 0, sizeof(*out));
	out->type = type;
	out->seq = srdma__get_u32(buf + HDR_OFF_SEQ);
	out->ack = srdma__get_u32(buf + HDR_OFF_ACK);
	/* Never NULL, even when empty, so callers may pass it straight to memcpy. */
	out->payload = p;
	out->len = plen;

	switch (type) {
	case SRDMA_MSG_WELCOME:
		return text_valid(p, plen) ? 0 : -EBADMSG;
	case SRDMA_MSG_DATA:
	case SRDMA_MSG_ECHO:
	case SRDMA_MSG_PUSH:
	case SRDMA_MSG_APP:
		return plen <= max_payload ? 0 : -EMSGSIZE;
	case SRDMA_MSG_WRITE_DONE:
		if (plen != SRDMA_WRITE_DONE_LEN)
			return -EBADMSG;
		/* offset/length are not range-checked here: only the receiver knows its region, and
		 * it answers with SRDMA_WRITE_RANGE. */
		out->u.write_done.offset = srdma__get_u32(p + WD_OFF_OFFSET);
		out->u.write_done.length = srdma__get_u32(p + WD_OFF_LENGTH);
		memcpy(out->u.write_done.digest, p + WD_OFF_DIGEST, SRDMA_DIGEST_LEN);
		return 0;
	case SRDMA_MSG_WRITE_RESULT:
		if (plen != SRDMA_WRITE_RESULT_LEN)
			return -EBADMSG;
		out->u.write_result.status = srdma__get_u32(p + WR_OFF_STATUS);
		if (!write_status_valid(out->u.write_result.status))
			return -EBADMSG;
		out->u.write_result.offset = srdma__get_u32(p + WR_OFF_OFFSET);
		out->u.write_result.length = srdma__get_u32(p + WR_OFF_LENGTH);
		memcpy(out->u.write_result.digest, p + WR_OFF_DIGEST, SRDMA_DIGEST_LEN);
		return 0;
	case SRDMA_MSG_PING:
	case SRDMA_MSG_PONG:
		if (plen != SRDMA_PING_LEN)
			return -EBADMSG;
		out->u.token = srdma__get_u64(p);
		return 0;
	case SRDMA_MSG_QUIT:
	case SRDMA_MSG_BYE:
	case SRDMA_MSG_CREDIT:
		return plen == 0 ? 0 : -EBADMSG;
	}
	return -EBADMSG; /* unknown type */
}

static void put_hdr(uint8_t *buf, enum srdma_msg_type type, uint32_t seq, uint32_t payload_len,
		    uint32_t ack)
{
	srdma__put_u16(buf + HDR_OFF_MAGIC, SRDMA_MSG_MAGIC);
	buf[HDR_OFF_TYPE] = (uint8_t)type;
	buf[HDR_OFF_FLAGS] = 0;
	srdma__put_u32(buf + HDR_OFF_SEQ, seq);
	srdma__put_u32(buf + HDR_OFF_LEN, payload_len);
	srdma__put_u32(buf + HDR_OFF_ACK, ack);
}

void srdma_msg_put_hdr(uint8_t *buf, enum srdma_msg_type type, uint32_t seq, uint32_t payload_len)
{
	put_hdr(buf, type, seq, payload_len, 0);
}

ssize_t srdma_msg_encode(const struct srdma_msg *m, uint8_t *buf, size_t cap)
{
	uint8_t *p;
	uint32_t plen;

	/* Range errors first: they are the caller's bug whatever the buffer size. */
	if (m->ack > SRDMA_MAX_RECV_DEPTH)
		return -EINVAL;
	switch (m->type) {
	case SRDMA_MSG_WELCOME:
		if (m->len > 0 && !m->payload)
			return -EINVAL;
		if (!text_valid(m->payload, m->len))
			return -EINVAL;
		plen = m->len;
		break;
	case SRDMA_MSG_DATA:
	case SRDMA_MSG_ECHO:
	case SRDMA_MSG_PUSH:
	case SRDMA_MSG_APP:
		/* The negotiated max_msg is the peer's to enforce; no peer may accept more than
		 * SRDMA_MAX_MSG, so anything larger can only be a bug. */
		if ((m->len > 0 && !m->payload) || m->len > SRDMA_MAX_MSG)
			return -EINVAL;
		plen = m->len;
		break;
	case SRDMA_MSG_WRITE_DONE:
		plen = SRDMA_WRITE_DONE_LEN;
		break;
	case SRDMA_MSG_WRITE_RESULT:
		if (!write_status_valid(m->u.write_result.status))
			return -EINVAL;
		plen = SRDMA_WRITE_RESULT_LEN;
		break;
	case SRDMA_MSG_PING:
	case SRDMA_MSG_PONG:
		plen = SRDMA_PING_LEN;
		break;
	case SRDMA_MSG_QUIT:
	case SRDMA_MSG_BYE:
	case SRDMA_MSG_CREDIT:
		plen = 0;
		break;
	default:
		return -EINVAL;
	}
	if (cap < SRDMA_MSG_HDR_LEN + (size_t)plen)
		return -ENOBUFS;

	p = buf + SRDMA_MSG_HDR_LEN;
	/* Payload before header: a payload the caller placed anywhere in buf is read before the
	 * header can overwrite it. */
	switch (m->type) {
	case SRDMA_MSG_WELCOME:
	case SRDMA_MSG_DATA:
	case SRDMA_MSG_ECHO:
	case SRDMA_MSG_PUSH:
	case SRDMA_MSG_APP:
		/* memmove: the caller may have built the payload in place, inside buf. */
		if (plen > 0)
			memmove(p, m->payload, plen);
		break;
	case SRDMA_MSG_WRITE_DONE:
		srdma__put_u32(p + WD_OFF_OFFSET, m->u.write_done.offset);
		srdma__put_u32(p + WD_OFF_LENGTH, m->u.write_done.length);
		memcpy(p + WD_OFF_DIGEST, m->u.write_done.digest, SRDMA_DIGEST_LEN);
		break;
	case SRDMA_MSG_WRITE_RESULT:
		srdma__put_u32(p + WR_OFF_STATUS, m->u.write_result.status);
		srdma__put_u32(p + WR_OFF_OFFSET, m->u.write_result.offset);
		srdma__put_u32(p + WR_OFF_LENGTH, m->u.write_result.length);
		memcpy(p + WR_OFF_DIGEST, m->u.write_result.digest, SRDMA_DIGEST_LEN);
		break;
	case SRDMA_MSG_PING:
	case SRDMA_MSG_PONG:
		srdma__put_u64(p, m->u.token);
		break;
	case SRDMA_MSG_QUIT:
	case SRDMA_MSG_BYE:
	case SRDMA_MSG_CREDIT:
		break;
	}
	put_hdr(buf, m->type, m->seq, plen, m->ack);
	return (ssize_t)(SRDMA_MSG_HDR_LEN + plen);
}

static const char *const msg_type_names[] = {
    [SRDMA_MSG_WELCOME] = "WELCOME",
    [SRDMA_MSG_DATA] = "DATA",
    [SRDMA_MSG_ECHO] = "ECHO",
    [SRDMA_MSG_WRITE_DONE] = "WRITE_DONE",
    [SRDMA_MSG_WRITE_RESULT] = "WRITE_RESULT",
    [SRDMA_MSG_PING] = "PING",
    [SRDMA_MSG_PONG] = "PONG",
    [SRDMA_MSG_QUIT] = "QUIT",
    [SRDMA_MSG_BYE] = "BYE",
    [SRDMA_MSG_PUSH] = "PUSH",
    [SRDMA_MSG_APP] = "APP",
    [SRDMA_MSG_CREDIT] = "CREDIT",
};

const char *srdma_msg_type_name(unsigned type)
{
	/* Slot 0 is NULL: no type 0. */
	if (type >= sizeof(msg_type_names) / sizeof(msg_type_names[0]) || !msg_type_names[type])
		return "unknown";
	return msg_type_names[type];
}
