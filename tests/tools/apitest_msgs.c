/* srdma-apitest: the connector's side of the scenarios that only exchange messages on QP 0
 * (echo, limits, busy, sizes); the others and main() are in srdma-apitest.c. */
#include "apitest.h"

int run_echo(struct opts *o, struct sess *s, json_object *out)
{
	struct srdma_conn_info info;
	char m[64], nonce[8];
	unsigned n;

	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce))
		return failf(s, "getrandom: %s", strerror(errno));
	if (send_ctrl(s, "echo"))
		return -1;
	for (n = 0; n < o->count; n++) {
		int len = snprintf(m, sizeof(m), "echo %u %02x%02x%02x%02x", n, (uint8_t)nonce[0],
				   (uint8_t)nonce[1], (uint8_t)nonce[2], (uint8_t)nonce[3]);

		if (send_msg(s, m, (size_t)len) || expect_msg(s, m))
			break;
		if (o->pause_ms)
			sleep_ms(o->pause_ms);
	}
	add_int(out, "messages_verified", n);
	if (n < o->count)
		return -1;
	if (send_str(s, "end"))
		return -1;
	srdma_conn_info(s->c, &info);
	add_int(out, "key_updates", info.key_updates);
	return 0;
}

/* A declared send limit: agreed, enforced here, and what the listener sized its receives for
 * (the server side prints its srdma_msg_limits). */
int run_limits(struct sess *s, json_object *out)
{
	static const size_t lens[] = {1, 333, LIMITS_SEND - 1, LIMITS_SEND};
	uint8_t buf[LIMITS_SEND + 1], got[LIMITS_SEND + 1];
	uint32_t recv_max = 0, send_max = 0;
	size_t len;
	unsigned n = 0;
	int r;

	r = srdma_msg_limits(s->c, 0, &recv_max, &send_max);
	add_int(out, "recv_max", recv_max);
	add_int(out, "send_max", send_max);
	if (r)
		return failf(s, "srdma_msg_limits: %s", strerror(-r));
	if (send_ctrl(s, "echo"))
		return -1;
	memset(buf, 0x5a, sizeof(buf));
	r = srdma_msg_send(s->c, 0, buf, LIMITS_SEND + 1);
	add_int(out, "over_limit_ret", r);
	if (r != -EMSGSIZE)
		return failf(s, "a message of %u bytes over max_send %u: %d, expected -EMSGSIZE",
			     LIMITS_SEND + 1, LIMITS_SEND, r);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (size_t j = 0; j < lens[i]; j++)
			buf[j] = (uint8_t)(j * 7 + i);
		if (send_msg(s, buf, lens[i]) || recv_msg(s, got, sizeof(got), &len, NULL))
			break;
		if (len != lens[i] || memcmp(got, buf, len))
			return failf(s, "echo of %zu bytes came back as %zu different bytes",
				     lens[i], len);
		n++;
	}
	add_int(out, "messages_verified", n);
	if (n < sizeof(lens) / sizeof(lens[0]))
		return -1;
	return send_str(s, "end");
}

/* Busy on the data plane, silent on the control channel: srdma_msg_send and srdma_msg_recv
 * in a spin, never a blocking call or srdma_conn_process, for 4 x the heartbeat's silence
 * bound. The session must stay up: the peer hears our messages. */
int run_busy(struct opts *o, struct sess *s, json_object *out)
{
	uint64_t hb = o->heartbeat_ms ? o->heartbeat_ms : 5000, t0, t1, busy_us = 4 * 3 * hb * 1000;
	char m[32], got[32];
	unsigned n = 0;
	size_t len;
	int r, mlen;

	if (send_ctrl(s, "echo"))
		return -1;
	t0 = now_us();
	while (now_us() - t0 < busy_us) {
		mlen = snprintf(m, sizeof(m), "busy %u", n);
		while ((r = srdma_msg_send(s->c, 0, m, (size_t)mlen)) == -EAGAIN)
			;
		if (r)
			return failf(s, "srdma_msg_send after %u echoes, %llu ms: %s (%s)", n,
				     (unsigned long long)(now_us() - t0) / 1000, strerror(-r),
				     srdma_conn_errmsg(s->c));
		/* Bounded: a peer that ended the session sends nothing more, and we do not read
		 * the control channel that would say so. */
		t1 = now_us();
		while ((r = srdma_msg_recv(s->c, 0, got, sizeof(got), &len, NULL)) == -EAGAIN &&
		       now_us() - t1 < 5000000)
			;
		if (r == -EAGAIN)
			return failf(
			    s, "echo %u not answered within 5 s, %llu ms into the run (%s)", n,
			    (unsigned long long)(now_us() - t0) / 1000, srdma_conn_errmsg(s->c));
		if (r)
			return failf(s, "srdma_msg_recv after %u echoes, %llu ms: %s (%s)", n,
				     (unsigned long long)(now_us() - t0) / 1000, strerror(-r),
				     srdma_conn_errmsg(s->c));
		if (len != (size_t)mlen || memcmp(got, m, len))
			return failf(s, "echo %u came back altered", n);
		n++;
	}
	add_int(out, "messages_verified", n);
	add_int(out, "busy_ms", (int64_t)((now_us() - t0) / 1000));
	add_int(out, "silence_bound_ms", (int64_t)(3 * hb));
	return send_str(s, "end");
}

/* Byte j of message i of round k: distinct per session, round, message and offset. */
static uint8_t sizes_byte(const uint8_t nonce[8], unsigned k, unsigned i, size_t j)
{
	return (uint8_t)(nonce[j % 8] ^ (j * 31u + k * 7u + i * 101u + (j >> 8)));
}

/* This process's pinned memory (VmPin), in KiB; -1 if unknown. Registering memory on rxe pins
 * it, so this shows the send slots growing. */
static long vm_pin_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int run_sizes(struct sess *s, json_object *out)
{
	/* The large message of each round: just past one page, larger, small again, up to the
	 * peer's max_msg (64 KiB), then smaller ones on the grown slots. */
	static const size_t big[] = {4065, 5000, 300, 20000, 65536, 100, 40000, 65536};
	const size_t small = 24, most = 65536;
	uint8_t nonce[8], *buf = malloc(most), *got = malloc(most);
	unsigned k, i, n = 0;
	uint64_t bytes = 0;
	size_t len, j, want;
	int ret = -1;

	if (!buf || !got) {
		failf(s, "out of memory");
		goto out;
	}
	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		failf(s, "getrandom: %s", strerror(errno));
		goto out;
	}
	if (send_ctrl(s, "echo"))
		goto out;
	add_int(out, "vm_pin_kib_before", vm_pin_kib());
	for (k = 0; k < sizeof(big) / sizeof(big[0]); k++) {
		for (i = 0; i < 4; i++) {
			want = i < 3 ? small : big[k];
			for (j = 0; j < want; j++)
				buf[j] = sizes_byte(nonce, k, i, j);
			if (send_msg(s, buf, want))
				goto out;
		}
		for (i = 0; i < 4; i++) {
			want = i < 3 ? small : big[k];
			if (recv_msg(s, got, most, &len, NULL))
				goto out;
			for (j = 0; j < len && got[j] == sizes_byte(nonce, k, i, j); j++)
				;
			if (len != want || j != len) {
				failf(s,
				      "round %u message %u: %zu bytes back of %zu, first bad byte "
				      "%zu",
				      k, i, len, want, j);
				goto out;
			}
			n++;
			bytes += len;
		}
	}
	add_int(out, "vm_pin_kib_after", vm_pin_kib());
	if (send_str(s, "end"))
		goto out;
	ret = 0;
out:
	add_int(out, "messages_verified", n);
	add_int(out, "bytes_verified", (int64_t)bytes);
	free(buf);
	free(got);
	return ret;
}
