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

/* Receive buffers carry no alignment guarantee, so every multi-byte field goes through memcpy. */
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
	case SRDMA_MSG_APP:
		return plen <= max_payload ? 0 : -EMSGSIZE;
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
	uint32_t plen;

	/* Range errors first: they are the caller's bug whatever the buffer size. */
	if (m->ack > SRDMA_MAX_RECV_DEPTH)
		return -EINVAL;
	switch (m->type) {
	case SRDMA_MSG_APP:
		/* The negotiated max_msg is the peer's to enforce; no peer may accept more than
		 * SRDMA_MAX_MSG, so anything larger can only be a bug. */
		if ((m->len > 0 && !m->payload) || m->len > SRDMA_MAX_MSG)
			return -EINVAL;
		plen = m->len;
		break;
	case SRDMA_MSG_CREDIT:
		plen = 0;
		break;
	default:
		return -EINVAL;
	}
	if (cap < SRDMA_MSG_HDR_LEN + (size_t)plen)
		return -ENOBUFS;

	/* Payload before header: a payload the caller placed anywhere in buf is read before the
	 * header can overwrite it. memmove: the caller may have built it in place, inside buf. */
	if (plen > 0)
		memmove(buf + SRDMA_MSG_HDR_LEN, m->payload, plen);
	put_hdr(buf, m->type, m->seq, plen, m->ack);
	return (ssize_t)(SRDMA_MSG_HDR_LEN + plen);
}

const char *srdma_msg_type_name(unsigned type)
{
	switch (type) {
	case SRDMA_MSG_APP:
		return "APP";
	case SRDMA_MSG_CREDIT:
		return "CREDIT";
	}
	return "unknown";
}
