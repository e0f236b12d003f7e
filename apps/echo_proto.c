/* The echo protocol's codec; layouts in echo_proto.h. */
#include "echo_proto.h"

#include <errno.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static int printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* A REGION_READY the protocol allows: OK with a length, RANGE or NO_REGION without one. */
static int region_ready_ok(uint32_t status, uint32_t length)
{
	if (status == ECHO_WRITE_OK)
		return length != 0;
	return (status == ECHO_WRITE_RANGE || status == ECHO_WRITE_NO_REGION) && length == 0;
}

/* The body length an op requires; -1: variable. */
static long fixed_len(unsigned op)
{
	switch (op) {
	case ECHO_OP_WRITE_DONE:
		return ECHO_WRITE_DONE_LEN;
	case ECHO_OP_WRITE_RESULT:
		return ECHO_WRITE_RES_LEN;
	case ECHO_OP_PING:
	case ECHO_OP_PONG:
		return ECHO_PING_LEN;
	case ECHO_OP_REGION:
		return ECHO_REGION_LEN;
	case ECHO_OP_REGION_READY:
		return ECHO_REGION_RDY_LEN;
	case ECHO_OP_QUIT:
	case ECHO_OP_BYE:
		return 0;
	default:
		return -1;
	}
}

int echo_decode(const uint8_t *buf, size_t len, struct echo_msg *out)
{
	const uint8_t *b;
	size_t n;
	long want;

	if (!buf || len < ECHO_HDR_LEN || buf[1] || buf[2] || buf[3])
		return -EBADMSG;
	if (buf[0] < ECHO_OP_WELCOME || buf[0] > ECHO_OP_LAST)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->op = (enum echo_op)buf[0];
	b = buf + ECHO_HDR_LEN;
	n = len - ECHO_HDR_LEN;
	want = fixed_len(buf[0]);
	if (want >= 0 && n != (size_t)want)
		return -EBADMSG;
	switch (out->op) {
	case ECHO_OP_WELCOME:
		if (n < ECHO_WELCOME_FIXED || n - ECHO_WELCOME_FIXED > ECHO_TEXT_MAX ||
		    !printable(b + ECHO_WELCOME_FIXED, n - ECHO_WELCOME_FIXED))
			return -EBADMSG;
		out->u.welcome.max_data = get32(b);
		out->u.welcome.write_len = get32(b + 4);
		out->u.welcome.window = get32(b + 8);
		out->body = b + ECHO_WELCOME_FIXED;
		out->len = (uint32_t)(n - ECHO_WELCOME_FIXED);
		return 0;
	case ECHO_OP_DATA:
	case ECHO_OP_ECHO:
	case ECHO_OP_PUSH:
		if (n > UINT32_MAX)
			return -EBADMSG;
		out->body = b;
		out->len = (uint32_t)n;
		return 0;
	case ECHO_OP_WRITE_DONE:
		out->u.write_done.offset = get32(b);
		out->u.write_done.length = get32(b + 4);
		memcpy(out->u.write_done.tag, b + 8, ECHO_TAG_LEN);
		return 0;
	case ECHO_OP_WRITE_RESULT:
		out->u.write_result.status = get32(b);
		if (out->u.write_result.status > ECHO_WRITE_TOO_LONG)
			return -EBADMSG;
		out->u.write_result.offset = get32(b + 4);
		out->u.write_result.length = get32(b + 8);
		memcpy(out->u.write_result.sha256, b + 12, ECHO_TAG_LEN);
		return 0;
	case ECHO_OP_PING:
	case ECHO_OP_PONG:
		out->u.token = get64(b);
		return 0;
	case ECHO_OP_REGION:
		out->u.region.length = get32(b);
		return 0;
	case ECHO_OP_REGION_READY:
		out->u.region_ready.status = get32(b);
		out->u.region_ready.length = get32(b + 4);
		if (!region_ready_ok(out->u.region_ready.status, out->u.region_ready.length))
			return -EBADMSG;
		return 0;
	case ECHO_OP_QUIT:
	case ECHO_OP_BYE:
		return 0;
	}
	return -EBADMSG;
}

void echo_put_hdr(uint8_t *buf, enum echo_op op)
{
	buf[0] = (uint8_t)op;
	buf[1] = buf[2] = buf[3] = 0;
}

ssize_t echo_encode(const struct echo_msg *m, uint8_t *buf, size_t cap)
{
	size_t body;
	uint8_t *b;
	long want;

	if (!m || !buf || m->op < ECHO_OP_WELCOME || m->op > ECHO_OP_LAST)
		return -EINVAL;
	/* A status the decoder would refuse. */
	if (m->op == ECHO_OP_WRITE_RESULT && m->u.write_result.status > ECHO_WRITE_TOO_LONG)
		return -EINVAL;
	if (m->op == ECHO_OP_REGION_READY &&
	    !region_ready_ok(m->u.region_ready.status, m->u.region_ready.length))
		return -EINVAL;
	want = fixed_len(m->op);
	if (m->op == ECHO_OP_WELCOME) {
		if (m->len > ECHO_TEXT_MAX || (m->len && !m->body) || !printable(m->body, m->len))
			return -EINVAL;
		body = ECHO_WELCOME_FIXED + m->len;
	} else if (want < 0) {
		if (m->len && !m->body)
			return -EINVAL;
		body = m->len;
	} else {
		body = (size_t)want;
	}
	if (cap < ECHO_HDR_LEN || cap - ECHO_HDR_LEN < body)
		return -ENOBUFS;
	echo_put_hdr(buf, m->op);
	b = buf + ECHO_HDR_LEN;
	switch (m->op) {
	case ECHO_OP_WELCOME:
		put32(b, m->u.welcome.max_data);
		put32(b + 4, m->u.welcome.write_len);
		put32(b + 8, m->u.welcome.window);
		if (m->len)
			memcpy(b + ECHO_WELCOME_FIXED, m->body, m->len);
		break;
	case ECHO_OP_DATA:
	case ECHO_OP_ECHO:
	case ECHO_OP_PUSH:
		if (m->len)
			memmove(b, m->body, m->len);
		break;
	case ECHO_OP_WRITE_DONE:
		put32(b, m->u.write_done.offset);
		put32(b + 4, m->u.write_done.length);
		memcpy(b + 8, m->u.write_done.tag, ECHO_TAG_LEN);
		break;
	case ECHO_OP_WRITE_RESULT:
		put32(b, m->u.write_result.status);
		put32(b + 4, m->u.write_result.offset);
		put32(b + 8, m->u.write_result.length);
		memcpy(b + 12, m->u.write_result.sha256, ECHO_TAG_LEN);
		break;
	case ECHO_OP_PING:
	case ECHO_OP_PONG:
		put64(b, m->u.token);
		break;
	case ECHO_OP_REGION:
		put32(b, m->u.region.length);
		break;
	case ECHO_OP_REGION_READY:
		put32(b, m->u.region_ready.status);
		put32(b + 4, m->u.region_ready.length);
		break;
	case ECHO_OP_QUIT:
	case ECHO_OP_BYE:
		break;
	}
	return (ssize_t)(ECHO_HDR_LEN + body);
}

const char *echo_op_name(unsigned op)
{
	static const char *const names[] = {
	    "?",    "WELCOME", "DATA", "ECHO", "WRITE_DONE", "WRITE_RESULT", "PING",
	    "PONG", "QUIT",    "BYE",  "PUSH", "REGION",     "REGION_READY",
	};
	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

const char *echo_write_status_text(unsigned status)
{
	switch (status) {
	case ECHO_WRITE_OK:
		return "the bytes written";
	case ECHO_WRITE_MISMATCH:
		return "other bytes than written";
	case ECHO_WRITE_RANGE:
		return "the range out of bounds";
	case ECHO_WRITE_TOO_LONG:
		return "the range longer than one WRITE_DONE may cover (1 MiB)";
	case ECHO_WRITE_NO_REGION:
		return "no region: the server could not make one";
	}
	return "an unknown status";
}
