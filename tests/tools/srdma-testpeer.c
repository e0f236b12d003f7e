/* srdma-testpeer: a client of srdma-server's echo protocol (apps/echo_proto.h) that misbehaves
 * on purpose, or exposes its session, for tests. It connects through the public API
 * (<srdma.h>): one library-driven message QP (index 0); right after the WELCOME it asks the
 * server for a write region of SIZE bytes (REGION, answered by REGION_READY), and learns the
 * server's RDMA-write target as region ECHO_WRITE_REGION over TLS.
 *
 *   srdma-testpeer [--ca FILE] [-p PORT] [--server-name NAME] [-s SIZE] [--timeout-ms MS]
 *                  [--setup-timeout-ms MS] [--dataplane aead|chacha20|plain] MODE SERVER
 *
 * --timeout-ms bounds each wait for the server after the set-up (default 10000);
 * --setup-timeout-ms those of the set-up: the connect, WELCOME and the first region (default
 * 30000). A scenario can then expect a short silence later without failing a set-up slowed by
 * a loaded machine (a TLS handshake took 4.6 s in a VM at nice 10 beside a busy one).
 *
 * MODE:
 *   outside  RDMA-write just past the end of the server's region (right rkey)
 *   badrkey  RDMA-write into the region with a wrong rkey
 *   steal    open a victim connection B and an attacker connection A; A writes into B's region
 *            with B's address and rkey; then B checks its region is unchanged and carries on
 *   hold     print the session's secrets as JSON, then obey stdin lines: "echo N", "write",
 *            "verify", "quit" (answers "ok" or "error: ...")
 *   hashwork make the server hash as much as one message can: grow the region to the largest
 *            the server makes (a second REGION), then a WRITE_DONE over the whole region
 *            (must be refused as too long when the region exceeds ECHO_WRITE_DONE_MAX),
 *            then --count WRITE_DONEs of ECHO_WRITE_DONE_MAX bytes with a wrong tag (each
 *            hashed, answered "bytes differ"); prints the times as JSON
 *   regions  the server's answers to REGION, without the REGION sess_open makes: WRITE_DONE
 *            before any region and REGION 0 or above write_len refused (RANGE), REGION 1
 *            made, asked again answered at once, one byte more replaces it with one at least
 *            twice as large (or write_len), which is advertised, written and verified, and
 *            WRITE_DONE past its end refused; prints each check as JSON, exits 0 if all held,
 *            1 if not
 *
 * The hostile writes are RDMA WRITEs this tool posts itself on QP 0, which the library drives
 * (the API says not to: srdma_msg_write refuses a write outside a region before it reaches the
 * wire, and the point here is what the server's device does with one). They go out only once
 * every message and write the library posted has completed (srdma_msg_flush), and the tool
 * reaps their completion from the QP's CQ itself; the QP is broken afterwards, as RC requires
 * after a remote access error, and the connection is only closed.
 *
 * hold: "write" RDMA-writes SIZE bytes at offset 0 of the region (srdma_msg_write) and sends
 * WRITE_DONE with their region tag; "verify" sends the WRITE_DONE alone, for the bytes last
 * written; each checks the server's WRITE_RESULT (verdict and SHA-256 of what it found). The
 * request packets each sends on QP 0: write 2 (the RDMA WRITE, WRITE_DONE), verify 1, echo N N
 * (with SIZE up to the path MTU), quit 1: lock-step requests never make the library send a
 * CREDIT message, so the PSN the server's QP expects next is local_psn plus requests_sent (the
 * REGION request made before the JSON line: one packet, message sequence number 0) plus these
 * counts.
 *
 * The attack modes print one JSON object and exit 0 when the attack was refused (the write
 * failed and, for steal, the victim was untouched), 1 when it was not, 2 on a set-up error. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <srdma.h>
#include "crypto.h"

#include "echo_proto.h"

#define RAW_WR_ID 0x5ca1ab1eull

struct cfg {
	const char *ca;
	const char *host;
	const char *server_name;
	uint16_t port;
	uint32_t size;
	unsigned timeout_ms;
	unsigned setup_timeout_ms;
	unsigned count;
	enum srdma_dp_mode dp;
};

static struct cfg cfg = {
    .port = SRDMA_PORT_DEFAULT,
    .size = 64,
    .timeout_ms = 10000,
    .setup_timeout_ms = 30000,
    .count = 20,
    .dp = SRDMA_DP_AEAD,
};

/* The bound of the wait at hand: setup_timeout_ms during the set-up, then timeout_ms. */
static unsigned wait_ms = 10000;

static struct srdma_ctx *ctx;

/* One connection to the echo server. */
struct sess {
	struct srdma_conn *c;
	struct srdma_region region; /* ECHO_WRITE_REGION */
	uint32_t max_data, write_len, window;
	uint8_t *buf; /* cfg.size bytes, registered: what we write and echo */
	struct ibv_mr *mr;
	uint8_t *msg;	   /* an outgoing message */
	uint8_t *in;	   /* an incoming one */
	uint32_t written;  /* bytes of buf last written at offset 0 (for verify) */
	unsigned requests; /* messages sent on QP 0 (lock-step requests, one packet each) */
	char notice[256];  /* the server's last notice (ECHO_CTRL_NOTICE), "" if none */
	char err[512];	   /* the first failure */
	int broken;	   /* a raw write went through QP 0: only close it */
	int dead;	   /* the connection failed (or the server closed it) */
};

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
		"usage: srdma-testpeer [--ca FILE] [-p PORT] [--server-name NAME] [-s SIZE] "
		"[--timeout-ms MS] [--setup-timeout-ms MS] [--dataplane aead|chacha20|plain] "
		"[--count N] outside|badrkey|steal|hold|hashwork|regions SERVER\n");
	exit(2);
}

static const char *dp_name(enum srdma_dp_mode m)
{
	return m == SRDMA_DP_PLAIN ? "plain" : m == SRDMA_DP_CHACHA20 ? "chacha20" : "aead";
}

/* s as the inside of a JSON string. */
static const char *jstr(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch > 0x7e) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return out;
}

__attribute__((format(printf, 2, 3))) static int failf(struct sess *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return -1;
}

static void fill(uint8_t *buf, uint32_t len, const char *pattern)
{
	size_t n = strlen(pattern);
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)pattern[i % n];
}

/* Take one control-channel event (non-blocking): 1 one was handled, 0 none, -1 the
 * connection failed (s->err says why, with the server's notice if it sent one). */
static int take_event(struct sess *s)
{
	struct srdma_event ev;
	int ret = srdma_conn_process(s->c, &ev);

	if (ret < 0) {
		s->dead = 1;
		return failf(s, "connection ended: %s%s%s", srdma_conn_errmsg(s->c),
			     s->notice[0] ? "; the server said: " : "", s->notice);
	}
	if (ret == 0)
		return 0;
	if (ev.type == SRDMA_EV_CTRL && ev.len >= 1 && ev.data[0] == ECHO_CTRL_NOTICE) {
		size_t n = ev.len - 1 < sizeof(s->notice) - 1 ? ev.len - 1 : sizeof(s->notice) - 1;

		memcpy(s->notice, ev.data + 1, n);
		s->notice[n] = '\0';
	} else if (ev.type == SRDMA_EV_PEER_CLOSED) {
		s->dead = 1;
		return failf(s, "the server closed the connection%s%s", s->notice[0] ? ": " : "",
			     s->notice);
	}
	return 1;
}

/* After a failed message call: the reason, with whatever the control channel said. */
static int msg_fail(struct sess *s, const char *what, int ret)
{
	while (!s->err[0] && take_event(s) > 0)
		;
	if (s->err[0])
		return -1;
	if (ret == -ETIMEDOUT)
		return failf(s, "no answer from the server within %u ms (%s)", wait_ms, what);
	return failf(s, "%s: %s%s%s", what, srdma_conn_errmsg(s->c),
		     s->notice[0] ? "; the server said: " : "", s->notice);
}

/* Send m, receive the answer of op `want` into *out (its body points into s->in). */
static int request(struct sess *s, const struct echo_msg *m, enum echo_op want,
		   struct echo_msg *out)
{
	ssize_t n = echo_encode(m, s->msg, ECHO_HDR_LEN + SRDMA_MSG_MAX);
	size_t len;
	int ret;

	if (n < 0)
		return failf(s, "cannot encode %s", echo_op_name(m->op));
	ret = srdma_msg_send_wait(s->c, 0, s->msg, (size_t)n, (int)wait_ms);
	if (ret)
		return msg_fail(s, "sending a message", ret);
	s->requests++;
	ret = srdma_msg_recv_wait(s->c, 0, s->in, SRDMA_MSG_MAX, &len, NULL, (int)wait_ms);
	if (ret)
		return msg_fail(s, "waiting for the answer", ret);
	if (echo_decode(s->in, len, out))
		return failf(s, "the server sent a malformed message");
	if (out->op != want)
		return failf(s, "the server answered %s, expected %s", echo_op_name(out->op),
			     echo_op_name(want));
	return 0;
}

static void sess_close(struct sess *s)
{
	if (s->mr)
		ibv_dereg_mr(s->mr);
	srdma_conn_close(s->c);
	free(s->buf);
	free(s->msg);
	free(s->in);
	memset(s, 0, sizeof(*s));
}

__attribute__((noreturn)) static void setup_error(const char *why)
{
	char j[1024];

	printf("{\"setup_error\":\"%s\"}\n", jstr(why, j, sizeof(j)));
	exit(2);
}

/* REGION for want bytes: the REGION_READY status (its length in *len), or -1 (s->err says
 * why). */
static int region_ask(struct sess *s, uint32_t want, uint32_t *len)
{
	struct echo_msg m = {.op = ECHO_OP_REGION}, r;

	m.u.region.length = want;
	if (request(s, &m, ECHO_OP_REGION_READY, &r))
		return -1;
	*len = r.u.region_ready.length;
	return (int)r.u.region_ready.status;
}

/* Ask for a write region of want bytes (REGION), take the answer (REGION_READY) and learn the
 * region. The advertisement travels on the control channel, the answer on QP 0: either may
 * come first, and a smaller region seen is the one being replaced. On failure print the set-up
 * error, exit 2. */
static void sess_region(struct sess *s, uint32_t want)
{
	struct pollfd pf;
	uint32_t len;
	int ret;

	ret = region_ask(s, want, &len);
	if (ret < 0)
		setup_error(s->err);
	if (ret != ECHO_WRITE_OK) {
		failf(s, "the server refused a write region of %u bytes: %s", want,
		      echo_write_status_text((unsigned)ret));
		setup_error(s->err);
	}
	while (srdma_remote_region(s->c, ECHO_WRITE_REGION, &s->region) || s->region.len < want) {
		ret = take_event(s);
		if (ret < 0)
			setup_error(s->err);
		if (ret > 0)
			continue;
		pf.fd = srdma_conn_fd(s->c);
		pf.events = srdma_conn_poll_events(s->c);
		pf.revents = 0;
		if (poll(&pf, 1, (int)cfg.timeout_ms) == 0)
			setup_error("the server advertised no write region of the size asked for");
	}
	if (!(s->region.access & SRDMA_ACCESS_REMOTE_WRITE))
		setup_error("the server's region grants no write access");
}

/* Connect and take the WELCOME; on failure print the set-up error, exit 2. */
static void sess_connect(struct sess *s)
{
	struct srdma_connect_opts o;
	struct echo_msg w;
	char err[512];
	size_t len;
	int ret;

	memset(s, 0, sizeof(*s));
	wait_ms = cfg.setup_timeout_ms;
	srdma_connect_opts_init(&o);
	o.host = cfg.host;
	o.port = cfg.port;
	o.server_name = cfg.server_name;
	o.timeout_ms = wait_ms;
	o.nqp = 1;
	srdma_qp_opts_init(&o.qp[0]);
	o.qp[0].driver = SRDMA_QP_MESSAGES;
	ret = srdma_connect(ctx, &o, &s->c, err, sizeof(err));
	if (ret)
		setup_error(err);
	s->msg = malloc(ECHO_HDR_LEN + SRDMA_MSG_MAX);
	s->in = malloc(SRDMA_MSG_MAX);
	if (posix_memalign((void **)&s->buf, 4096, cfg.size) || !s->msg || !s->in)
		setup_error("out of memory");
	memset(s->buf, 0, cfg.size);
	/* Only the source of our writes: no remote access at all. */
	s->mr = ibv_reg_mr(srdma_conn_pd(s->c), s->buf, cfg.size, 0);
	if (!s->mr)
		setup_error("cannot register the write buffer");

	ret = srdma_msg_recv_wait(s->c, 0, s->in, SRDMA_MSG_MAX, &len, NULL, (int)wait_ms);
	if (ret) {
		msg_fail(s, "waiting for WELCOME", ret);
		setup_error(s->err);
	}
	if (echo_decode(s->in, len, &w) || w.op != ECHO_OP_WELCOME)
		setup_error("the server's first message is not a WELCOME");
	s->max_data = w.u.welcome.max_data;
	s->write_len = w.u.welcome.write_len;
	s->window = w.u.welcome.window;
	if (cfg.size > s->max_data || cfg.size > s->write_len)
		setup_error("--size is larger than the server's max_data or its largest region");
	wait_ms = cfg.timeout_ms;
}

/* sess_connect, then a region of --size bytes. */
static void sess_open(struct sess *s)
{
	sess_connect(s);
	wait_ms = cfg.setup_timeout_ms;
	sess_region(s, cfg.size);
	wait_ms = cfg.timeout_ms;
}

static int echo(struct sess *s, unsigned n)
{
	struct echo_msg m = {.op = ECHO_OP_DATA, .body = s->buf, .len = cfg.size}, r;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (request(s, &m, ECHO_OP_ECHO, &r))
			return -1;
		if (r.len != cfg.size || memcmp(r.body, s->buf, cfg.size))
			return failf(s, "echo %u of %u differs from what was sent", i + 1, n);
	}
	return 0;
}

/* WRITE_DONE for the len bytes of buf at offset 0 of the region, and the server's verdict. */
static int verify(struct sess *s, uint32_t len)
{
	struct echo_msg m = {.op = ECHO_OP_WRITE_DONE}, r;
	uint8_t sha[ECHO_TAG_LEN];
	uint32_t seq;

	if (srdma_crypto_sha256(s->buf, len, sha))
		return failf(s, "cannot hash the written bytes");
	/* The tag is bound to the sequence number of the message that carries it. */
	seq = srdma_msg_next_seq(s->c, 0);
	if (srdma_tag(s->c, 0, 1, seq, 0, s->buf, len, m.u.write_done.tag))
		return failf(s, "cannot compute the region tag: %s", srdma_conn_errmsg(s->c));
	m.u.write_done.offset = 0;
	m.u.write_done.length = len;
	if (request(s, &m, ECHO_OP_WRITE_RESULT, &r))
		return -1;
	if (r.u.write_result.status != ECHO_WRITE_OK)
		return failf(s, "server found %s in its region",
			     echo_write_status_text(r.u.write_result.status));
	/* Check what the server says it found, not only its verdict. */
	if (r.u.write_result.offset != 0 || r.u.write_result.length != len ||
	    memcmp(r.u.write_result.sha256, sha, sizeof(sha)))
		return failf(s, "server's digest of the region differs from the bytes written");
	return 0;
}

/* srdma_msg_write of buf to offset 0, then WRITE_DONE. */
static int write_verify(struct sess *s)
{
	int ret;

	for (;;) {
		ret = srdma_msg_write(s->c, 0, s->buf, s->mr->lkey, cfg.size, ECHO_WRITE_REGION, 0);
		if (ret != -EAGAIN)
			break;
		ret = srdma_msg_flush(s->c, 0, (int)cfg.timeout_ms);
		if (ret)
			break;
	}
	if (ret)
		return msg_fail(s, "RDMA write", ret);
	s->written = cfg.size;
	return verify(s, cfg.size);
}

static int quit(struct sess *s)
{
	struct echo_msg m = {.op = ECHO_OP_QUIT}, r;

	return request(s, &m, ECHO_OP_BYE, &r);
}

/* The hostile write: our own RDMA WRITE on QP 0, its completion reaped here. 0 if it completed
 * (the attack went through), -1 with s->err naming the completion status otherwise. */
static int raw_write(struct sess *s, uint64_t addr, uint32_t rkey, uint32_t len)
{
	struct ibv_sge sge = {.addr = (uintptr_t)s->buf, .length = len, .lkey = s->mr->lkey};
	struct ibv_send_wr wr = {0}, *bad;
	struct ibv_cq *cq = srdma_conn_send_cq(s->c, 0);
	struct timespec nap = {.tv_nsec = 1000000};
	unsigned waited_ms = 0;
	struct ibv_wc wc;
	int ret, n;

	/* Nothing of the library's in flight: every completion from here on is ours or a flush. */
	ret = srdma_msg_flush(s->c, 0, (int)cfg.timeout_ms);
	if (ret)
		return msg_fail(s, "waiting for the library's sends before the raw write", ret);
	wr.wr_id = RAW_WR_ID;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = addr;
	wr.wr.rdma.rkey = rkey;
	s->broken = 1;
	ret = ibv_post_send(srdma_conn_qp(s->c, 0), &wr, &bad);
	if (ret)
		return failf(s, "cannot post the RDMA write: %s", strerror(ret));
	for (;;) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			return failf(s, "cannot poll the completion queue");
		if (n == 1 && wc.wr_id == RAW_WR_ID)
			break;
		if (n == 1)
			continue; /* a flushed receive of the library's, after the QP failed */
		if (waited_ms++ >= cfg.timeout_ms)
			return failf(s, "no completion for the RDMA write within %u ms",
				     cfg.timeout_ms);
		nanosleep(&nap, NULL);
	}
	if (wc.status != IBV_WC_SUCCESS)
		return failf(s, "RDMA write failed: %s", ibv_wc_status_str(wc.status));
	return 0;
}

/* One connection writes (and has verified) its own pattern, then makes the hostile write. */
static int attack_own_region(int wrong_rkey)
{
	struct sess s;
	uint64_t addr;
	uint32_t rkey;
	char j[1024];
	int ret;

	sess_open(&s);
	fill(s.buf, cfg.size, "legitimate");
	if (write_verify(&s))
		setup_error(s.err);
	addr = wrong_rkey ? s.region.addr : s.region.addr + s.region.len;
	/* rxe and most devices keep a key byte in the low bits of an rkey: change only that. */
	rkey = wrong_rkey ? s.region.rkey ^ 0x5a : s.region.rkey;
	ret = raw_write(&s, addr, rkey, cfg.size);
	printf("{\"mode\":\"%s\",\"attack_refused\":%s,\"error\":\"%s\"}\n",
	       wrong_rkey ? "badrkey" : "outside", ret ? "true" : "false",
	       ret ? jstr(s.err, j, sizeof(j)) : "");
	sess_close(&s);
	return ret ? 0 : 1;
}

static int attack_other_session(void)
{
	struct sess a, b;
	int refused, unchanged, carried_on;
	char ja[1024], jb[1024];

	sess_open(&b);
	sess_open(&a);
	fill(b.buf, cfg.size, "victim-bytes");
	fill(a.buf, cfg.size, "ATTACKER");
	if (write_verify(&b))
		setup_error(b.err);
	if (write_verify(&a))
		setup_error(a.err);
	refused = raw_write(&a, b.region.addr, b.region.rkey, cfg.size) != 0;
	unchanged = verify(&b, cfg.size) == 0;
	carried_on = unchanged && echo(&b, 1) == 0 && quit(&b) == 0;
	printf("{\"mode\":\"steal\",\"attack_refused\":%s,\"attacker_error\":\"%s\","
	       "\"victim_region_unchanged\":%s,\"victim_carried_on\":%s,\"victim_error\":\"%s\"}\n",
	       refused ? "true" : "false", jstr(a.err, ja, sizeof(ja)),
	       unchanged ? "true" : "false", carried_on ? "true" : "false",
	       carried_on ? "" : jstr(b.err, jb, sizeof(jb)));
	sess_close(&a);
	sess_close(&b);
	return refused && unchanged && carried_on ? 0 : 1;
}

static void answer(struct sess *s, int ret)
{
	if (ret)
		printf("error: %s\n", s->err);
	else
		printf("ok\n");
	fflush(stdout);
	s->err[0] = '\0'; /* each command reports its own failure */
}

/* The next line of stdin (without its newline) into line; 0 at EOF. While it waits, the
 * connection is kept alive: its control channel is served (the library's heartbeats, the
 * server's notices) as srdma_conn_fd and srdma_conn_timeout_ms ask. */
static int next_line(struct sess *s, char *line, size_t cap)
{
	static char buf[1024];
	static size_t len;
	static int eof;
	struct pollfd pf[2];
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(buf, '\n', len);
		if (nl || eof || len == sizeof(buf)) {
			size_t take = nl ? (size_t)(nl - buf) + 1 : len, copy = take;

			if (!take)
				return 0;
			if (nl)
				copy--;
			if (copy > cap - 1)
				copy = cap - 1;
			memcpy(line, buf, copy);
			line[copy] = '\0';
			memmove(buf, buf + take, len - take);
			len -= take;
			return 1;
		}
		pf[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		pf[1] = (struct pollfd){.fd = srdma_conn_fd(s->c), .events = POLLIN};
		if (!s->dead)
			pf[1].events = srdma_conn_poll_events(s->c);
		n = poll(pf, s->dead ? 1 : 2, s->dead ? -1 : srdma_conn_timeout_ms(s->c));
		if (n < 0 && errno != EINTR)
			return 0;
		if (!s->dead && (n == 0 || (n > 0 && pf[1].revents))) {
			while (take_event(s) > 0)
				;
			s->err[0] = '\0'; /* told when the next command fails */
		}
		if (n > 0 && pf[0].revents) {
			n = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
			if (n <= 0)
				eof = 1;
			else
				len += (size_t)n;
		}
	}
}

static int hold(void)
{
	struct srdma_qp_secrets q;
	struct sess s;
	char line[256];

	sess_open(&s);
	if (srdma_conn_qp_secrets(s.c, 0, &q))
		setup_error("no QP secrets");
	/* Secrets, on purpose: this is what the injection and capture tests need. */
	printf("{\"server_qpn\":%u,\"client_qpn\":%u,\"rkey\":%u,\"addr\":%llu,"
	       "\"write_len\":%llu,\"region_id\":%u,\"local_psn\":%u,\"remote_psn\":%u,"
	       "\"requests_sent\":%u,\"dataplane\":\"%s\"}\n",
	       q.remote_qpn, q.local_qpn, s.region.rkey, (unsigned long long)s.region.addr,
	       (unsigned long long)s.region.len, s.region.id, q.local_psn, q.remote_psn, s.requests,
	       dp_name(cfg.dp));
	fflush(stdout);
	fill(s.buf, cfg.size, "held-session");
	while (next_line(&s, line, sizeof(line))) {
		unsigned n = 0;

		if (sscanf(line, "echo %u", &n) == 1) {
			answer(&s, echo(&s, n));
		} else if (strncmp(line, "write", 5) == 0) {
			answer(&s, write_verify(&s));
		} else if (strncmp(line, "verify", 6) == 0) {
			answer(&s, verify(&s, s.written ? s.written : cfg.size));
		} else if (strncmp(line, "quit", 4) == 0) {
			answer(&s, quit(&s));
			break;
		} else {
			printf("error: unknown command\n");
			fflush(stdout);
		}
	}
	sess_close(&s);
	return 0;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* One WRITE_DONE over [0, len) of the region with an all-zero tag: the server's status, or -1
 * (s->err says why); its round trip in *ms. */
static int hash_request(struct sess *s, uint32_t len, double *ms)
{
	struct echo_msg m = {.op = ECHO_OP_WRITE_DONE}, r;
	double t0 = now_ms();

	m.u.write_done.offset = 0;
	m.u.write_done.length = len;
	if (request(s, &m, ECHO_OP_WRITE_RESULT, &r))
		return -1;
	*ms = now_ms() - t0;
	return (int)r.u.write_result.status;
}

static int hashwork(void)
{
	double ms, max = 0, sum = 0, long_ms = 0;
	int st, long_st = -1, ok = 1;
	char j[1024];
	uint32_t len;
	unsigned i;
	struct sess s;

	sess_open(&s);
	/* The largest region the server makes: a second REGION replaces the first. */
	if (s.write_len > s.region.len)
		sess_region(&s, s.write_len);
	if (s.write_len > ECHO_WRITE_DONE_MAX) {
		long_st = hash_request(&s, s.write_len, &long_ms);
		ok = long_st == ECHO_WRITE_TOO_LONG;
	}
	len = s.write_len < ECHO_WRITE_DONE_MAX ? s.write_len : ECHO_WRITE_DONE_MAX;
	for (i = 0; ok && i < cfg.count; i++) {
		st = hash_request(&s, len, &ms);
		if (st != ECHO_WRITE_MISMATCH) {
			ok = 0;
			break;
		}
		sum += ms;
		if (ms > max)
			max = ms;
	}
	printf("{\"region\":%u,\"whole_region_status\":\"%s\",\"whole_region_ms\":%.1f,"
	       "\"hashed\":%u,\"bytes_each\":%u,\"hash_max_ms\":%.1f,\"hash_mean_ms\":%.1f,"
	       "\"error\":\"%s\"}\n",
	       s.write_len, long_st < 0 ? "none" : echo_write_status_text((unsigned)long_st),
	       long_ms, i, len, max, i ? sum / i : 0.0, jstr(s.err, j, sizeof(j)));
	fflush(stdout);
	if (ok)
		quit(&s);
	sess_close(&s);
	return ok && !s.err[0] ? 0 : 1;
}

/* One step of regions: what was expected, and what came. */
static int region_step(struct sess *s, const char *what, int ok, char *log, size_t cap)
{
	size_t n = strlen(log);

	if (!ok && !s->err[0])
		failf(s, "unexpected answer: %s", what);
	snprintf(log + n, cap - n, "%s\"%s\":%s", n ? "," : "", what, ok ? "true" : "false");
	return ok;
}

static int regions(void)
{
	uint32_t len1 = 0, len2 = 0, len;
	char log[1024] = "", j[1024];
	double ms;
	int ok = 1;
	struct sess s;

	sess_connect(&s);
	ok &= region_step(&s, "write_done_without_region_range",
			  hash_request(&s, 1, &ms) == ECHO_WRITE_RANGE, log, sizeof(log));
	ok &= region_step(&s, "zero_range", region_ask(&s, 0, &len) == ECHO_WRITE_RANGE && !len,
			  log, sizeof(log));
	if (s.write_len < UINT32_MAX)
		ok &= region_step(&s, "over_write_len_range",
				  region_ask(&s, s.write_len + 1, &len) == ECHO_WRITE_RANGE && !len,
				  log, sizeof(log));
	ok &= region_step(&s, "small_ok",
			  region_ask(&s, 1, &len1) == ECHO_WRITE_OK && len1 >= 1 &&
			      len1 <= s.write_len,
			  log, sizeof(log));
	ok &= region_step(&s, "again_same", region_ask(&s, 1, &len) == ECHO_WRITE_OK && len == len1,
			  log, sizeof(log));
	if (ok && len1 < s.write_len) {
		ok &= region_step(&s, "grow_ok",
				  region_ask(&s, len1 + 1, &len2) == ECHO_WRITE_OK &&
				      (len2 >= 2 * len1 || len2 == s.write_len) &&
				      len2 <= s.write_len,
				  log, sizeof(log));
		len1 = len2;
	}
	if (ok) {
		/* Learn the (new) region, then write into it and have it verified. */
		sess_region(&s, len1);
		ok &= region_step(&s, "advertised_len", s.region.len == len1, log, sizeof(log));
		fill(s.buf, cfg.size, "grown-region");
		ok &= region_step(&s, "write_verified", cfg.size <= len1 && write_verify(&s) == 0,
				  log, sizeof(log));
		ok &= region_step(&s, "write_done_past_end_range",
				  hash_request(&s, len1 + 1, &ms) == ECHO_WRITE_RANGE, log,
				  sizeof(log));
	}
	printf("{\"mode\":\"regions\",\"write_len\":%u,\"region_len\":%u,%s,\"error\":\"%s\"}\n",
	       s.write_len, len1, log, jstr(s.err, j, sizeof(j)));
	fflush(stdout);
	if (ok)
		ok = quit(&s) == 0;
	sess_close(&s);
	return ok ? 0 : 1;
}

static unsigned parse_uint(const char *s, unsigned min, unsigned max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "srdma-testpeer: bad number \"%s\" (%u..%u)\n", s, min, max);
		usage();
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"ca", required_argument, NULL, 'c'},
	    {"port", required_argument, NULL, 'p'},
	    {"server-name", required_argument, NULL, 'n'},
	    {"size", required_argument, NULL, 's'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"setup-timeout-ms", required_argument, NULL, 'T'},
	    {"dataplane", required_argument, NULL, 'D'},
	    {"count", required_argument, NULL, 'N'},
	    {0},
	};
	struct srdma_ctx_opts co;
	const char *mode;
	char err[512];
	int c, ret;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "p:s:", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg.ca = optarg;
			break;
		case 'p':
			cfg.port = (uint16_t)parse_uint(optarg, 1, 65535);
			break;
		case 'n':
			cfg.server_name = optarg;
			break;
		case 's':
			cfg.size = parse_uint(optarg, 1, SRDMA_MSG_MAX - ECHO_HDR_LEN);
			break;
		case 't':
			cfg.timeout_ms = parse_uint(optarg, 100, 600000);
			break;
		case 'T':
			cfg.setup_timeout_ms = parse_uint(optarg, 100, 600000);
			break;
		case 'N':
			cfg.count = parse_uint(optarg, 1, 1000000);
			break;
		case 'D':
			if (!strcmp(optarg, "aead"))
				cfg.dp = SRDMA_DP_AEAD;
			else if (!strcmp(optarg, "chacha20"))
				cfg.dp = SRDMA_DP_CHACHA20;
			else if (!strcmp(optarg, "plain"))
				cfg.dp = SRDMA_DP_PLAIN;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || !cfg.ca)
		usage();
	mode = argv[optind];
	cfg.host = argv[optind + 1];
	wait_ms = cfg.timeout_ms;
	srdma_ctx_opts_init(&co);
	co.ca = cfg.ca;
	co.dataplane = cfg.dp;
	if (srdma_ctx_create(&co, &ctx, err, sizeof(err)))
		setup_error(err);
	if (strcmp(mode, "outside") == 0)
		ret = attack_own_region(0);
	else if (strcmp(mode, "badrkey") == 0)
		ret = attack_own_region(1);
	else if (strcmp(mode, "steal") == 0)
		ret = attack_other_session();
	else if (strcmp(mode, "hold") == 0)
		ret = hold();
	else if (strcmp(mode, "hashwork") == 0)
		ret = hashwork();
	else if (strcmp(mode, "regions") == 0)
		ret = regions();
	else
		usage();
	srdma_ctx_destroy(ctx);
	return ret;
}
