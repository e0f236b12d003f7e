/* srdma-apitest: drives the public API (<srdma.h> and the application's own verbs only) end to
 * end, for the VM scenarios in tests/vm/cases/80-api.sh.
 *
 *   srdma-apitest serve --cert C --key K [--ca CA] [--port P] [--refuse-cn NAME]
 *                       [--dataplane M] [--sessions N] [--timeout-s S]
 *   srdma-apitest connect --ca CA [--cert C --key K] [--port P] [--dataplane M]
 *                         [--timeout-ms MS] --scenario NAME [--nqp N] [--qps N]
 *                         [--count N] [--pause-ms MS] HOST
 *
 * The server accepts N sessions (each runs on its own thread, so sessions overlap), reads the
 * scenario the connector names in its first control message, plays its side, prints one JSON
 * line per event and per session result, and exits 1 if any session failed (or if the
 * context could not be destroyed: something was left open). The connector prints one JSON
 * object and exits 0 only when every check of its scenario passed.
 *
 * Scenarios (connector's --scenario):
 *   multi-qp  QP 0 messages, QPs 1..N-1 raw: a SEND each way on every raw QP (distinct
 *             patterns), a sealed message each way on QP 0
 *   regions   RDMA WRITE into a write+read region, its tag checked by the server, RDMA READ
 *             back; an RDMA READ of a write-only region must fail with a remote access error
 *   revoke    write, the server revokes with dereg, the old rkey fails on QP 1 only; QP 0
 *             messages and the control channel still work
 *   echo      --count sealed echoes on QP 0, --pause-ms between them
 *   timing    one session of --qps QPs vs --qps sessions of one QP, set-up times
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <json-c/json.h>

#include <srdma.h>

#define STEP_MS	     60000 /* bound on every wait of a scenario step */
#define PAT_LEN	     256   /* bytes of one raw SEND */
#define REGION_LEN   4096
#define WC_STASH     64
#define MAX_SESSIONS 64

struct opts {
	const char *cert, *key, *ca;
	const char *refuse_cn;
	const char *scenario;
	const char *host;
	uint16_t port;
	enum srdma_dp_mode dp;
	unsigned sessions;
	unsigned nqp;
	unsigned qps;
	unsigned count;
	unsigned pause_ms;
	unsigned timeout_ms;
	unsigned timeout_s;
};

/* One side of a connection, with what arrived while waiting for something else. */
struct sess {
	struct srdma_conn *c;
	char err[512];
	uint8_t added[256], revoked[256];
	struct {
		uint32_t len;
		uint8_t data[SRDMA_CTRL_MAX];
	} ctrl[16];
	unsigned nctrl;
	int peer_closed;
	struct {
		struct ibv_cq *cq;
		struct ibv_wc wc;
	} stash[WC_STASH];
	unsigned nstash;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Record the first failure of a session; always returns -1. */
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

/* Deterministic bytes, different for every seed. */
static void pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

static const char *dp_name(enum srdma_dp_mode m)
{
	return m == SRDMA_DP_PLAIN ? "plain" : m == SRDMA_DP_CHACHA20 ? "chacha20" : "aead";
}

/* ---- control channel ---- */

/* One round of the control channel: wait up to ms for the fd, then take every event. */
static int pump(struct sess *s, int ms)
{
	struct srdma_event ev;
	struct pollfd p = {.fd = srdma_conn_fd(s->c), .events = srdma_conn_poll_events(s->c)};
	int ret;

	/* After PEER_CLOSED nothing more comes, and process reports the connection as ended. */
	if (s->peer_closed)
		return 0;
	if (ms > 0 && poll(&p, 1, ms) < 0 && errno != EINTR)
		return failf(s, "poll: %s", strerror(errno));
	while ((ret = srdma_conn_process(s->c, &ev)) == 1) {
		switch (ev.type) {
		case SRDMA_EV_REGION_ADDED:
			if (ev.region_id < 256)
				s->added[ev.region_id] = 1;
			break;
		case SRDMA_EV_REGION_REVOKED:
			if (ev.region_id < 256)
				s->revoked[ev.region_id] = 1;
			break;
		case SRDMA_EV_CTRL:
			if (s->nctrl == 16)
				return failf(s, "more than 16 control messages unread");
			s->ctrl[s->nctrl].len = ev.len;
			memcpy(s->ctrl[s->nctrl].data, ev.data, ev.len);
			s->nctrl++;
			break;
		case SRDMA_EV_PEER_CLOSED:
			s->peer_closed = 1;
			return 0;
		case SRDMA_EV_ESTABLISHED:
			break;
		default:
			return failf(s, "unknown event type %d", (int)ev.type);
		}
	}
	if (ret < 0)
		return failf(s, "srdma_conn_process: %s (%s)", strerror(-ret),
			     srdma_conn_errmsg(s->c));
	return 0;
}

/* The next control message (NUL-terminated into buf). */
static int wait_ctrl(struct sess *s, char *buf, size_t cap)
{
	int64_t end = now_us() + (int64_t)STEP_MS * 1000;

	while (!s->nctrl) {
		if (s->peer_closed)
			return failf(s, "peer closed while a control message was awaited");
		if (now_us() > end)
			return failf(s, "no control message within %d ms", STEP_MS);
		if (pump(s, 100))
			return -1;
	}
	if (s->ctrl[0].len >= cap)
		return failf(s, "control message of %u bytes is too long", s->ctrl[0].len);
	memcpy(buf, s->ctrl[0].data, s->ctrl[0].len);
	buf[s->ctrl[0].len] = 0;
	s->nctrl--;
	memmove(&s->ctrl[0], &s->ctrl[1], s->nctrl * sizeof(s->ctrl[0]));
	return 0;
}

static int expect_ctrl(struct sess *s, const char *want)
{
	char buf[SRDMA_CTRL_MAX + 1];

	if (wait_ctrl(s, buf, sizeof(buf)))
		return -1;
	if (strcmp(buf, want))
		return failf(s, "control message \"%s\", expected \"%s\"", buf, want);
	return 0;
}

static int send_ctrl(struct sess *s, const char *msg)
{
	int ret = srdma_ctrl_send(s->c, msg, strlen(msg));

	if (ret)
		return failf(s, "srdma_ctrl_send(%s): %s", msg, strerror(-ret));
	return 0;
}

/* flags[id] set (added or revoked) */
static int wait_flag(struct sess *s, const uint8_t *flags, uint32_t id, const char *what)
{
	int64_t end = now_us() + (int64_t)STEP_MS * 1000;

	while (!flags[id]) {
		if (s->peer_closed)
			return failf(s, "peer closed while waiting for region %u %s", id, what);
		if (now_us() > end)
			return failf(s, "region %u not %s within %d ms", id, what, STEP_MS);
		if (pump(s, 100))
			return -1;
	}
	return 0;
}

/* Output queued by srdma_ctrl_send is written (before a close, which never blocks). */
static int flush_ctrl(struct sess *s)
{
	int64_t end = now_us() + (int64_t)STEP_MS * 1000;

	while (srdma_conn_poll_events(s->c) & POLLOUT) {
		if (now_us() > end)
			return failf(s, "control output not written within %d ms", STEP_MS);
		if (pump(s, 100))
			return -1;
	}
	return 0;
}

static int wait_peer_closed(struct sess *s)
{
	int64_t end = now_us() + (int64_t)STEP_MS * 1000;

	while (!s->peer_closed) {
		if (now_us() > end)
			return failf(s, "peer did not close within %d ms", STEP_MS);
		if (pump(s, 100))
			return -1;
	}
	return 0;
}

/* ---- messages on QP 0 ---- */

static int send_msg(struct sess *s, const void *buf, size_t len)
{
	int ret = srdma_msg_send_wait(s->c, 0, buf, len, STEP_MS);

	if (ret)
		return failf(s, "srdma_msg_send_wait: %s (%s)", strerror(-ret),
			     srdma_conn_errmsg(s->c));
	return 0;
}

static int recv_msg(struct sess *s, void *buf, size_t cap, size_t *len, uint32_t *seq)
{
	int ret = srdma_msg_recv_wait(s->c, 0, buf, cap, len, seq, STEP_MS);

	if (ret)
		return failf(s, "srdma_msg_recv_wait: %s (%s)", strerror(-ret),
			     srdma_conn_errmsg(s->c));
	return 0;
}

static int send_str(struct sess *s, const char *msg)
{
	return send_msg(s, msg, strlen(msg));
}

static int expect_msg(struct sess *s, const char *want)
{
	char buf[256];
	size_t len;

	if (recv_msg(s, buf, sizeof(buf) - 1, &len, NULL))
		return -1;
	buf[len] = 0;
	if (len != strlen(want) || memcmp(buf, want, len))
		return failf(s, "message \"%s\", expected \"%s\"", buf, want);
	return 0;
}

/* ---- the application's own verbs on raw QPs ---- */

/* The completion of wr_id on cq; completions of other work requests are kept for later. */
static int wait_wc(struct sess *s, struct ibv_cq *cq, uint64_t wr_id, struct ibv_wc *out)
{
	int64_t end = now_us() + (int64_t)STEP_MS * 1000;
	struct ibv_wc wc[8];

	for (;;) {
		for (unsigned i = 0; i < s->nstash; i++) {
			if (s->stash[i].cq == cq && s->stash[i].wc.wr_id == wr_id) {
				*out = s->stash[i].wc;
				s->stash[i] = s->stash[--s->nstash];
				return 0;
			}
		}
		int n = ibv_poll_cq(cq, 8, wc);

		if (n < 0)
			return failf(s, "ibv_poll_cq failed");
		for (int i = 0; i < n; i++) {
			if (wc[i].wr_id == wr_id) {
				*out = wc[i];
				for (int j = i + 1; j < n && s->nstash < WC_STASH; j++) {
					s->stash[s->nstash].cq = cq;
					s->stash[s->nstash++].wc = wc[j];
				}
				return 0;
			}
			if (s->nstash < WC_STASH) {
				s->stash[s->nstash].cq = cq;
				s->stash[s->nstash++].wc = wc[i];
			}
		}
		if (n == 0) {
			if (now_us() > end)
				return failf(s, "no completion for work request %#llx in %d ms",
					     (unsigned long long)wr_id, STEP_MS);
			usleep(50);
		}
	}
}

static int wait_ok(struct sess *s, unsigned qp, uint64_t wr_id, const char *what)
{
	struct ibv_wc wc;

	if (wait_wc(s, srdma_conn_send_cq(s->c, qp), wr_id, &wc))
		return -1;
	if (wc.status != IBV_WC_SUCCESS)
		return failf(s, "%s on QP %u: %s", what, qp, ibv_wc_status_str(wc.status));
	return 0;
}

static int post_recv(struct sess *s, unsigned qp, struct ibv_mr *mr, void *buf, uint32_t len,
		     uint64_t wr_id)
{
	struct ibv_sge sge = {.addr = (uintptr_t)buf, .length = len, .lkey = mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = wr_id, .sg_list = &sge, .num_sge = 1}, *bad;
	int ret = ibv_post_recv(srdma_conn_qp(s->c, qp), &wr, &bad);

	if (ret)
		return failf(s, "ibv_post_recv on QP %u: %s", qp, strerror(ret));
	return 0;
}

static int post_send(struct sess *s, unsigned qp, enum ibv_wr_opcode op, struct ibv_mr *mr,
		     void *buf, uint32_t len, uint64_t raddr, uint32_t rkey, uint64_t wr_id)
{
	struct ibv_sge sge = {.addr = (uintptr_t)buf, .length = len, .lkey = mr->lkey};
	struct ibv_send_wr wr = {.wr_id = wr_id,
				 .sg_list = &sge,
				 .num_sge = 1,
				 .opcode = op,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;
	int ret;

	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	ret = ibv_post_send(srdma_conn_qp(s->c, qp), &wr, &bad);
	if (ret)
		return failf(s, "ibv_post_send on QP %u: %s", qp, strerror(ret));
	return 0;
}

static struct ibv_mr *reg(struct sess *s, void *buf, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(srdma_conn_pd(s->c), buf, len, access);

	if (!mr)
		failf(s, "ibv_reg_mr(%zu bytes): %s", len, strerror(errno));
	return mr;
}

static void dereg(struct ibv_mr **mr)
{
	if (*mr)
		ibv_dereg_mr(*mr);
	*mr = NULL;
}

/* ---- JSON ---- */

static void add_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_bool(json_object *o, const char *k, int v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* Every QP's numbers and PSNs. */
static int add_secrets(struct sess *s, json_object *o)
{
	struct srdma_conn_info info;
	json_object *a = json_object_new_array();

	srdma_conn_info(s->c, &info);
	json_object_object_add(o, "qps", a);
	for (unsigned i = 0; i < info.nqp; i++) {
		struct srdma_qp_secrets q;
		json_object *e;
		int ret = srdma_conn_qp_secrets(s->c, i, &q);

		if (ret)
			return failf(s, "srdma_conn_qp_secrets(%u): %s", i, strerror(-ret));
		e = json_object_new_object();
		add_int(e, "qp", i);
		add_int(e, "local_qpn", q.local_qpn);
		add_int(e, "remote_qpn", q.remote_qpn);
		add_int(e, "local_psn", q.local_psn);
		add_int(e, "remote_psn", q.remote_psn);
		json_object_array_add(a, e);
	}
	return 0;
}

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void print_json(json_object *o)
{
	pthread_mutex_lock(&out_lock);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	json_object_put(o);
}

/* ---- server side of each scenario ---- */

/* QP 0 messages, QPs 1.. raw: a SEND each way on every raw QP, a message each way on QP 0. */
static int serve_multi_qp(struct sess *s, json_object *o)
{
	struct srdma_conn_info info;
	struct ibv_mr *mr = NULL;
	uint8_t *buf = NULL, want[PAT_LEN];
	unsigned verified = 0;
	int ret = -1;

	srdma_conn_info(s->c, &info);
	if (info.nqp < 2)
		return failf(s, "multi-qp needs at least 2 QPs, got %u", info.nqp);
	buf = calloc(info.nqp, 2 * PAT_LEN);
	if (!buf)
		return failf(s, "out of memory");
	mr = reg(s, buf, (size_t)info.nqp * 2 * PAT_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		goto out;
	for (unsigned i = 1; i < info.nqp; i++)
		if (post_recv(s, i, mr, buf + 2 * PAT_LEN * i, PAT_LEN, 0x100 + i))
			goto out;
	if (send_ctrl(s, "ready"))
		goto out;
	for (unsigned i = 1; i < info.nqp; i++) {
		struct ibv_wc wc;
		uint8_t *ans = buf + 2 * PAT_LEN * i + PAT_LEN;

		if (wait_wc(s, srdma_conn_recv_cq(s->c, i), 0x100 + i, &wc))
			goto out;
		if (wc.status != IBV_WC_SUCCESS || wc.byte_len != PAT_LEN) {
			failf(s, "receive on QP %u: %s, %u bytes", i, ibv_wc_status_str(wc.status),
			      wc.byte_len);
			goto out;
		}
		pattern(want, PAT_LEN, 0x100 + i);
		if (memcmp(buf + 2 * PAT_LEN * i, want, PAT_LEN)) {
			failf(s, "QP %u received another QP's or a corrupted pattern", i);
			goto out;
		}
		pattern(ans, PAT_LEN, 0x200 + i);
		if (post_send(s, i, IBV_WR_SEND, mr, ans, PAT_LEN, 0, 0, 0x200 + i) ||
		    wait_ok(s, i, 0x200 + i, "answer SEND"))
			goto out;
		verified++;
	}
	if (expect_msg(s, "sealed hello from the connector") ||
	    send_str(s, "sealed hello from the server"))
		goto out;
	add_int(o, "raw_verified", verified);
	ret = 0;
out:
	dereg(&mr);
	free(buf);
	return ret;
}

static int serve_regions(struct sess *s, json_object *o)
{
	uint8_t *a = NULL, *b = NULL, *copy = NULL;
	struct ibv_mr *ma = NULL, *mb = NULL;
	uint8_t msg[64], t_ok[SRDMA_TAG_LEN], t_seq[SRDMA_TAG_LEN], t_flip[SRDMA_TAG_LEN];
	size_t len;
	uint32_t seq;
	uint64_t wlen;
	int ret = -1, r, good;

	a = calloc(1, REGION_LEN);
	b = calloc(1, REGION_LEN);
	copy = malloc(REGION_LEN);
	if (!a || !b || !copy) {
		failf(s, "out of memory");
		goto out;
	}
	ma = reg(s, a, REGION_LEN,
		 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	mb = reg(s, b, REGION_LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!ma || !mb)
		goto out;
	r = srdma_advertise(s->c, 1, ma, SRDMA_ACCESS_REMOTE_WRITE | SRDMA_ACCESS_REMOTE_READ);
	if (r) {
		failf(s, "srdma_advertise(1): %s", strerror(-r));
		goto out;
	}
	r = srdma_advertise(s->c, 2, mb, SRDMA_ACCESS_REMOTE_WRITE);
	if (r) {
		failf(s, "srdma_advertise(2): %s", strerror(-r));
		goto out;
	}
	/* The contract's refusals: an id in use, and access with bits no access has. A wrong
	 * answer fails the session but the scenario goes on (the peer's checks still run). */
	r = srdma_advertise(s->c, 1, mb, SRDMA_ACCESS_REMOTE_WRITE);
	add_int(o, "advertise_id_in_use", r);
	if (r != -EEXIST)
		failf(s, "advertising id 1 twice returned %d, expected -EEXIST", r);
	r = srdma_advertise(s->c, 3, mb, SRDMA_ACCESS_ALL + 1);
	add_int(o, "advertise_access_unknown", r);
	if (r != -EINVAL)
		failf(s, "advertising unknown access bits returned %d, expected -EINVAL", r);
	if (recv_msg(s, msg, sizeof(msg), &len, &seq))
		goto out;
	if (len != SRDMA_TAG_LEN + 8) {
		failf(s, "tag message of %zu bytes", len);
		goto out;
	}
	memcpy(&wlen, msg + SRDMA_TAG_LEN, 8);
	if (wlen != REGION_LEN) {
		failf(s, "tag covers %llu bytes", (unsigned long long)wlen);
		goto out;
	}
	memcpy(copy, a, REGION_LEN);
	copy[REGION_LEN / 2] ^= 1;
	if ((r = srdma_tag(s->c, 0, 0, seq, 0, a, REGION_LEN, t_ok)) ||
	    (r = srdma_tag(s->c, 0, 0, seq + 1, 0, a, REGION_LEN, t_seq)) ||
	    (r = srdma_tag(s->c, 0, 0, seq, 0, copy, REGION_LEN, t_flip))) {
		failf(s, "srdma_tag: %s", strerror(-r));
		goto out;
	}
	good = srdma_tag_equal(t_ok, msg);
	add_bool(o, "tag_matched", good);
	add_bool(o, "tag_bound_to_seq", !srdma_tag_equal(t_seq, msg));
	add_bool(o, "tag_bound_to_bytes", !srdma_tag_equal(t_flip, msg));
	good = good && !srdma_tag_equal(t_seq, msg) && !srdma_tag_equal(t_flip, msg);
	if (send_str(s, good ? "ok" : "mismatch"))
		goto out;
	if (!good) {
		failf(s, "region tag: matched %d, differs with seq+1 %d, with a flipped bit %d",
		      srdma_tag_equal(t_ok, msg), !srdma_tag_equal(t_seq, msg),
		      !srdma_tag_equal(t_flip, msg));
		goto out;
	}
	if (expect_msg(s, "done"))
		goto out;
	ret = s->err[0] ? -1 : 0;
out:
	dereg(&ma);
	dereg(&mb);
	free(a);
	free(b);
	free(copy);
	return ret;
}

static int serve_revoke(struct sess *s, json_object *o)
{
	uint8_t *a = calloc(1, REGION_LEN), want[REGION_LEN];
	struct ibv_mr *ma = NULL;
	int ret = -1, r;

	if (!a)
		return failf(s, "out of memory");
	ma = reg(s, a, REGION_LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!ma)
		goto out;
	r = srdma_advertise(s->c, 1, ma, SRDMA_ACCESS_REMOTE_WRITE);
	if (r) {
		failf(s, "srdma_advertise(1): %s", strerror(-r));
		goto out;
	}
	if (expect_ctrl(s, "written"))
		goto out;
	pattern(want, REGION_LEN, 0x300);
	if (memcmp(a, want, REGION_LEN)) {
		failf(s, "the connector's write did not land in the region");
		goto out;
	}
	r = srdma_revoke(s->c, 1, 1);
	if (r) {
		failf(s, "srdma_revoke(1, dereg): %s", strerror(-r));
		goto out;
	}
	ma = NULL; /* deregistered by the library */
	r = srdma_revoke(s->c, 1, 1);
	if (r != -ENOENT) {
		failf(s, "revoking id 1 a second time returned %d, expected -ENOENT", r);
		goto out;
	}
	r = srdma_revoke(s->c, 99, 0);
	if (r != -ENOENT) {
		failf(s, "revoking id 99 (never advertised) returned %d, expected -ENOENT", r);
		goto out;
	}
	/* The connector sends this after its write with the old rkey completed in error. */
	if (expect_msg(s, "after revoke") || send_str(s, "still here"))
		goto out;
	if (memcmp(a, want, REGION_LEN)) {
		failf(s, "the write with the revoked rkey changed the buffer");
		goto out;
	}
	add_bool(o, "region_untouched_after_revoke", 1);
	if (expect_ctrl(s, "ping") || send_ctrl(s, "pong"))
		goto out;
	ret = 0;
out:
	dereg(&ma);
	free(a);
	return ret;
}

static int serve_echo(struct sess *s, json_object *o)
{
	char buf[256];
	size_t len;
	unsigned n = 0;

	for (;;) {
		if (recv_msg(s, buf, sizeof(buf), &len, NULL))
			return -1;
		if (len == 3 && !memcmp(buf, "end", 3))
			break;
		if (send_msg(s, buf, len))
			return -1;
		n++;
	}
	add_int(o, "echoed", n);
	return 0;
}

struct server {
	struct opts *o;
	struct srdma_ctx *ctx;
	pthread_mutex_t lock;
	unsigned failures;
	unsigned refused;
};

struct worker {
	struct server *srv;
	struct srdma_conn *c;
	unsigned id;
	pthread_t thread;
};

static void *session_main(void *arg)
{
	struct worker *w = arg;
	struct sess *s = calloc(1, sizeof(*s));
	json_object *o = json_object_new_object();
	char scen[SRDMA_CTRL_MAX + 1] = "";
	struct srdma_conn_info info;
	int ret = -1, r;

	add_int(o, "session", w->id);
	if (!s) {
		add_bool(o, "ok", 0);
		add_str(o, "error", "out of memory");
		goto print;
	}
	s->c = w->c;
	srdma_conn_info(s->c, &info);
	add_str(o, "peer", srdma_conn_peer(s->c)->addr);
	add_str(o, "peer_cn", srdma_conn_peer(s->c)->common_name);
	add_int(o, "nqp", info.nqp);
	add_int(o, "setup_us", (int64_t)info.setup_us);
	add_str(o, "dataplane", dp_name(info.dataplane));
	if (!srdma_conn_is_server(s->c)) {
		failf(s, "srdma_conn_is_server says 0 on the accepting side");
		goto done;
	}
	if (add_secrets(s, o) || wait_ctrl(s, scen, sizeof(scen)))
		goto done;
	add_str(o, "scenario", scen);
	if (!strcmp(scen, "multi-qp"))
		ret = serve_multi_qp(s, o);
	else if (!strcmp(scen, "regions"))
		ret = serve_regions(s, o);
	else if (!strcmp(scen, "revoke"))
		ret = serve_revoke(s, o);
	else if (!strcmp(scen, "echo"))
		ret = serve_echo(s, o);
	else if (!strcmp(scen, "timing"))
		ret = 0;
	else
		failf(s, "unknown scenario \"%s\"", scen);
	/* Every connector closes in order at the end. */
	if (!ret)
		ret = wait_peer_closed(s);
done:
	r = srdma_conn_close(s->c);
	if (r && !ret)
		ret = failf(s, "srdma_conn_close: %s", strerror(-r));
	add_bool(o, "ok", ret == 0);
	if (ret)
		add_str(o, "error", s->err);
print:
	if (ret) {
		pthread_mutex_lock(&w->srv->lock);
		w->srv->failures++;
		pthread_mutex_unlock(&w->srv->lock);
	}
	print_json(o);
	free(s);
	return NULL;
}

static int on_request(void *arg, struct srdma_request *req)
{
	struct server *srv = arg;
	json_object *o = json_object_new_object();
	int refuse = srv->o->refuse_cn && !strcmp(req->peer->common_name, srv->o->refuse_cn);

	add_str(o, "event", "request");
	add_str(o, "peer", req->peer->addr);
	add_str(o, "peer_cn", req->peer->common_name);
	add_bool(o, "verified", req->peer->verified);
	add_int(o, "nqp", req->nqp);
	add_bool(o, "refused", refuse);
	print_json(o);
	if (refuse) {
		snprintf(req->reason, sizeof(req->reason),
			 "certificate identity %.80s is not allowed", req->peer->common_name);
		pthread_mutex_lock(&srv->lock);
		srv->refused++;
		pthread_mutex_unlock(&srv->lock);
		return 1;
	}
	/* Raw QPs let the peer write and read our memory; the template lets it only send. */
	for (unsigned i = 0; i < req->nqp; i++)
		if (req->driver[i] == SRDMA_QP_RAW)
			req->qp[i].remote_access =
			    SRDMA_ACCESS_REMOTE_WRITE | SRDMA_ACCESS_REMOTE_READ;
	return 0;
}

static void on_failure(void *arg, const char *peer_addr, int error, const char *reason)
{
	json_object *o = json_object_new_object();

	(void)arg;
	add_str(o, "event", "failure");
	add_str(o, "peer", peer_addr ? peer_addr : "");
	add_int(o, "error", error);
	add_str(o, "reason", reason ? reason : "");
	print_json(o);
}

static int serve(struct opts *o)
{
	struct server srv = {.o = o};
	struct srdma_ctx_opts co;
	struct srdma_listen_opts lo;
	struct srdma_listener *l = NULL;
	struct worker *w = calloc(o->sessions, sizeof(*w));
	unsigned n = 0;
	int64_t end = now_us() + (int64_t)o->timeout_s * 1000000;
	char err[512] = "";
	json_object *j;
	int ret;

	pthread_mutex_init(&srv.lock, NULL);
	if (!w) {
		fprintf(stderr, "srdma-apitest: out of memory\n");
		return 1;
	}
	srdma_ctx_opts_init(&co);
	co.cert = o->cert;
	co.key = o->key;
	co.ca = o->ca;
	co.dataplane = o->dp;
	ret = srdma_ctx_create(&co, &srv.ctx, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "srdma-apitest: srdma_ctx_create: %s\n", err);
		free(w);
		return 1;
	}
	srv.o = o;
	srdma_listen_opts_init(&lo);
	lo.port = o->port;
	lo.handshake_timeout_ms = 30000;
	lo.on_request = on_request;
	lo.on_failure = on_failure;
	lo.arg = &srv;
	ret = srdma_listen(srv.ctx, &lo, &l, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "srdma-apitest: srdma_listen: %s\n", err);
		srdma_ctx_destroy(srv.ctx);
		free(w);
		return 1;
	}
	j = json_object_new_object();
	add_str(j, "event", "listening");
	add_int(j, "port", srdma_listener_port(l));
	print_json(j);
	while (n < o->sessions) {
		struct srdma_conn *c;

		if (now_us() > end) {
			fprintf(stderr, "srdma-apitest: %u of %u sessions came within %u s\n", n,
				o->sessions, o->timeout_s);
			srv.failures++;
			break;
		}
		ret = srdma_accept(l, &c, 500);
		if (ret == -ETIMEDOUT || ret == -EINTR)
			continue;
		if (ret) {
			fprintf(stderr, "srdma-apitest: srdma_accept: %s\n", strerror(-ret));
			srv.failures++;
			break;
		}
		w[n].srv = &srv;
		w[n].c = c;
		w[n].id = n + 1;
		j = json_object_new_object();
		add_str(j, "event", "accepted");
		add_int(j, "session", n + 1);
		print_json(j);
		if (pthread_create(&w[n].thread, NULL, session_main, &w[n])) {
			fprintf(stderr, "srdma-apitest: pthread_create failed\n");
			srdma_conn_close(c);
			srv.failures++;
			break;
		}
		n++;
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);
	srdma_listener_close(l);
	ret = srdma_ctx_destroy(srv.ctx);
	if (ret) {
		fprintf(stderr, "srdma-apitest: srdma_ctx_destroy: %s\n", strerror(-ret));
		srv.failures++;
	}
	j = json_object_new_object();
	add_str(j, "event", "done");
	add_int(j, "sessions", n);
	add_int(j, "refused", srv.refused);
	add_int(j, "failures", srv.failures);
	print_json(j);
	free(w);
	return srv.failures ? 1 : 0;
}

/* ---- connector side ---- */

static int open_conn(struct opts *o, struct srdma_ctx *ctx, unsigned nqp, int first_messages,
		     struct sess *s, json_object *out)
{
	struct srdma_connect_opts c;
	int ret;

	srdma_connect_opts_init(&c);
	c.host = o->host;
	c.port = o->port;
	c.timeout_ms = o->timeout_ms;
	c.nqp = nqp;
	for (unsigned i = 0; i < nqp && i < SRDMA_MAX_QPS; i++) {
		srdma_qp_opts_init(&c.qp[i]);
		c.qp[i].driver = i == 0 && first_messages ? SRDMA_QP_MESSAGES : SRDMA_QP_RAW;
	}
	ret = srdma_connect(ctx, &c, &s->c, s->err, sizeof(s->err));
	if (ret && out)
		add_int(out, "ret", ret);
	return ret;
}

static int run_multi_qp(struct opts *o, struct sess *s, json_object *out)
{
	unsigned nqp = o->nqp;
	uint8_t *buf = calloc(nqp, 2 * PAT_LEN), want[PAT_LEN];
	struct ibv_mr *mr = NULL;
	unsigned verified = 0;
	int ret = -1;

	if (!buf)
		return failf(s, "out of memory");
	mr = reg(s, buf, (size_t)nqp * 2 * PAT_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		goto out;
	for (unsigned i = 1; i < nqp; i++)
		if (post_recv(s, i, mr, buf + 2 * PAT_LEN * i + PAT_LEN, PAT_LEN, 0x200 + i))
			goto out;
	if (send_ctrl(s, "multi-qp") || expect_ctrl(s, "ready"))
		goto out;
	/* Every raw QP carries a SEND at the same time. */
	for (unsigned i = 1; i < nqp; i++) {
		pattern(buf + 2 * PAT_LEN * i, PAT_LEN, 0x100 + i);
		if (post_send(s, i, IBV_WR_SEND, mr, buf + 2 * PAT_LEN * i, PAT_LEN, 0, 0,
			      0x100 + i))
			goto out;
	}
	for (unsigned i = 1; i < nqp; i++) {
		struct ibv_wc wc;

		if (wait_ok(s, i, 0x100 + i, "SEND") ||
		    wait_wc(s, srdma_conn_recv_cq(s->c, i), 0x200 + i, &wc))
			goto out;
		if (wc.status != IBV_WC_SUCCESS || wc.byte_len != PAT_LEN) {
			failf(s, "answer on QP %u: %s, %u bytes", i, ibv_wc_status_str(wc.status),
			      wc.byte_len);
			goto out;
		}
		pattern(want, PAT_LEN, 0x200 + i);
		if (memcmp(buf + 2 * PAT_LEN * i + PAT_LEN, want, PAT_LEN)) {
			failf(s, "QP %u received another QP's or a corrupted answer", i);
			goto out;
		}
		verified++;
	}
	if (send_str(s, "sealed hello from the connector") ||
	    expect_msg(s, "sealed hello from the server"))
		goto out;
	add_int(out, "raw_verified", verified);
	add_int(out, "messages_verified", 2);
	ret = 0;
out:
	dereg(&mr);
	free(buf);
	return ret;
}

/* The region the peer advertised under id, with the access and length expected. */
static int remote(struct sess *s, uint32_t id, unsigned access, struct srdma_region *r)
{
	int ret;

	if (wait_flag(s, s->added, id, "added"))
		return -1;
	ret = srdma_remote_region(s->c, id, r);
	if (ret)
		return failf(s, "srdma_remote_region(%u): %s", id, strerror(-ret));
	if (r->id != id || r->access != access || r->len != REGION_LEN)
		return failf(s, "region %u: id %u, access %#x, %llu bytes; expected access %#x", id,
			     r->id, r->access, (unsigned long long)r->len, access);
	return 0;
}

static int run_regions(struct opts *o, struct sess *s, json_object *out)
{
	uint8_t *buf = calloc(3, REGION_LEN), *w = buf, *rd = buf + REGION_LEN;
	uint8_t msg[SRDMA_TAG_LEN + 8], ans[16];
	struct srdma_region r1, r2;
	struct ibv_mr *mr = NULL;
	struct ibv_wc wc;
	uint64_t wlen = REGION_LEN;
	uint32_t seq;
	size_t len;
	int ret = -1, r;

	(void)o;
	if (!buf)
		return failf(s, "out of memory");
	mr = reg(s, buf, 3 * REGION_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!mr || send_ctrl(s, "regions"))
		goto out;
	if (remote(s, 1, SRDMA_ACCESS_REMOTE_WRITE | SRDMA_ACCESS_REMOTE_READ, &r1) ||
	    remote(s, 2, SRDMA_ACCESS_REMOTE_WRITE, &r2))
		goto out;
	if (getrandom(w, REGION_LEN, 0) != REGION_LEN) {
		failf(s, "getrandom: %s", strerror(errno));
		goto out;
	}
	if (post_send(s, 1, IBV_WR_RDMA_WRITE, mr, w, REGION_LEN, r1.addr, r1.rkey, 1) ||
	    wait_ok(s, 1, 1, "RDMA WRITE"))
		goto out;
	seq = srdma_msg_next_seq(s->c, 0);
	r = srdma_tag(s->c, 0, 1, seq, 0, w, REGION_LEN, msg);
	if (r) {
		failf(s, "srdma_tag: %s", strerror(-r));
		goto out;
	}
	memcpy(msg + SRDMA_TAG_LEN, &wlen, 8);
	if (send_msg(s, msg, sizeof(msg)) || recv_msg(s, ans, sizeof(ans) - 1, &len, NULL))
		goto out;
	ans[len] = 0;
	add_bool(out, "tag_verified", len == 2 && !memcmp(ans, "ok", 2));
	if (len != 2 || memcmp(ans, "ok", 2)) {
		failf(s, "the server checked the region tag: %s", (char *)ans);
		goto out;
	}
	if (post_send(s, 1, IBV_WR_RDMA_READ, mr, rd, REGION_LEN, r1.addr, r1.rkey, 2) ||
	    wait_ok(s, 1, 2, "RDMA READ"))
		goto out;
	add_bool(out, "read_verified", !memcmp(rd, w, REGION_LEN));
	if (memcmp(rd, w, REGION_LEN)) {
		failf(s, "RDMA READ of region 1 differs from what was written");
		goto out;
	}
	/* Write-only region: the responder refuses the READ (QP 2 breaks, QP 1 and 0 do not). */
	if (post_send(s, 2, IBV_WR_RDMA_READ, mr, rd + REGION_LEN, REGION_LEN, r2.addr, r2.rkey,
		      3) ||
	    wait_wc(s, srdma_conn_send_cq(s->c, 2), 3, &wc))
		goto out;
	add_str(out, "read_denied_status", ibv_wc_status_str(wc.status));
	add_bool(out, "read_denied", wc.status == IBV_WC_REM_ACCESS_ERR);
	if (wc.status != IBV_WC_REM_ACCESS_ERR) {
		failf(s, "RDMA READ of a write-only region completed with %s, expected %s",
		      ibv_wc_status_str(wc.status), ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
		goto out;
	}
	if (send_str(s, "done"))
		goto out;
	ret = 0;
out:
	dereg(&mr);
	free(buf);
	return ret;
}

static int run_revoke(struct opts *o, struct sess *s, json_object *out)
{
	uint8_t *buf = calloc(1, REGION_LEN);
	struct srdma_region r1, gone;
	struct ibv_mr *mr = NULL;
	struct ibv_wc wc;
	int ret = -1, r;

	(void)o;
	if (!buf)
		return failf(s, "out of memory");
	mr = reg(s, buf, REGION_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!mr || send_ctrl(s, "revoke") || remote(s, 1, SRDMA_ACCESS_REMOTE_WRITE, &r1))
		goto out;
	pattern(buf, REGION_LEN, 0x300);
	if (post_send(s, 1, IBV_WR_RDMA_WRITE, mr, buf, REGION_LEN, r1.addr, r1.rkey, 1) ||
	    wait_ok(s, 1, 1, "RDMA WRITE before the revocation"))
		goto out;
	if (send_ctrl(s, "written") || wait_flag(s, s->revoked, 1, "revoked"))
		goto out;
	r = srdma_remote_region(s->c, 1, &gone);
	add_int(out, "remote_region_after_revoke", r);
	if (r != -ENOENT) {
		failf(s, "srdma_remote_region after the revocation returned %d, expected -ENOENT",
		      r);
		goto out;
	}
	pattern(buf, REGION_LEN, 0x301);
	if (post_send(s, 1, IBV_WR_RDMA_WRITE, mr, buf, REGION_LEN, r1.addr, r1.rkey, 2) ||
	    wait_wc(s, srdma_conn_send_cq(s->c, 1), 2, &wc))
		goto out;
	add_str(out, "old_rkey_status", ibv_wc_status_str(wc.status));
	if (wc.status != IBV_WC_REM_ACCESS_ERR) {
		failf(s, "RDMA WRITE with the revoked rkey completed with %s, expected %s",
		      ibv_wc_status_str(wc.status), ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
		goto out;
	}
	if (send_str(s, "after revoke") || expect_msg(s, "still here"))
		goto out;
	add_bool(out, "messages_after_revoke", 1);
	if (send_ctrl(s, "ping") || expect_ctrl(s, "pong"))
		goto out;
	add_bool(out, "ctrl_after_revoke", 1);
	ret = 0;
out:
	dereg(&mr);
	free(buf);
	return ret;
}

static int run_echo(struct opts *o, struct sess *s, json_object *out)
{
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
	return send_str(s, "end");
}

/* Close in order, after whatever was queued on the control channel is written. */
static int close_sess(struct sess *s)
{
	int ret = 0, r;

	if (!s->c)
		return 0;
	if (!s->err[0])
		ret = flush_ctrl(s);
	r = srdma_conn_close(s->c);
	s->c = NULL;
	if (r && !ret)
		ret = failf(s, "srdma_conn_close: %s", strerror(-r));
	return ret;
}

static int run_timing(struct opts *o, struct srdma_ctx *ctx, struct sess *s, json_object *out)
{
	int64_t t0, one, sep = 0;
	struct srdma_conn_info info;
	json_object *each = json_object_new_array();

	json_object_object_add(out, "separate_each_us", each);
	t0 = now_us();
	if (open_conn(o, ctx, o->qps, 0, s, out))
		return -1;
	one = now_us() - t0;
	srdma_conn_info(s->c, &info);
	add_int(out, "one_session_setup_us", (int64_t)info.setup_us);
	if (info.nqp != o->qps)
		return failf(s, "the %u-QP session has %u QPs", o->qps, info.nqp);
	if (send_ctrl(s, "timing") || close_sess(s))
		return -1;
	for (unsigned i = 0; i < o->qps; i++) {
		struct sess one_s = {0};

		t0 = now_us();
		if (open_conn(o, ctx, 1, 0, &one_s, out)) {
			memcpy(s->err, one_s.err, sizeof(s->err));
			return -1;
		}
		t0 = now_us() - t0;
		sep += t0;
		json_object_array_add(each, json_object_new_int64(t0));
		if (send_ctrl(&one_s, "timing") || close_sess(&one_s)) {
			memcpy(s->err, one_s.err, sizeof(s->err));
			return -1;
		}
	}
	add_int(out, "one_session_us", one);
	add_int(out, "separate_sessions_us", sep);
	add_int(out, "sessions_timed", (int64_t)o->qps + 1);
	json_object_object_add(out, "ratio", json_object_new_double(one ? (double)sep / one : 0));
	return 0;
}

static int run_connect(struct opts *o)
{
	struct srdma_ctx_opts co;
	struct srdma_ctx *ctx = NULL;
	struct sess *s = calloc(1, sizeof(*s));
	json_object *out = json_object_new_object();
	struct srdma_conn_info info;
	int64_t t0;
	unsigned nqp;
	int ret = -1, r;

	if (!s) {
		fprintf(stderr, "srdma-apitest: out of memory\n");
		return 1;
	}
	add_str(out, "scenario", o->scenario);
	srdma_ctx_opts_init(&co);
	co.cert = o->cert;
	co.key = o->key;
	co.ca = o->ca;
	co.dataplane = o->dp;
	r = srdma_ctx_create(&co, &ctx, s->err, sizeof(s->err));
	if (r)
		goto done;
	if (!strcmp(o->scenario, "timing")) {
		ret = run_timing(o, ctx, s, out);
		goto done;
	}
	t0 = now_us();
	nqp = !strcmp(o->scenario, "multi-qp")	? o->nqp
	      : !strcmp(o->scenario, "regions") ? 3
	      : !strcmp(o->scenario, "revoke")	? 2
						: 1;

	if (strcmp(o->scenario, "multi-qp") && strcmp(o->scenario, "regions") &&
	    strcmp(o->scenario, "revoke") && strcmp(o->scenario, "echo")) {
		failf(s, "unknown scenario %s", o->scenario);
		goto done;
	}
	if (open_conn(o, ctx, nqp, 1, s, out))
		goto done;
	add_int(out, "connect_us", now_us() - t0);
	srdma_conn_info(s->c, &info);
	add_int(out, "setup_us", (int64_t)info.setup_us);
	add_int(out, "nqp", info.nqp);
	add_str(out, "dataplane", dp_name(info.dataplane));
	add_int(out, "path_mtu", info.path_mtu);
	if (srdma_conn_is_server(s->c)) {
		failf(s, "srdma_conn_is_server says 1 on the connecting side");
		goto done;
	}
	if (add_secrets(s, out))
		goto done;
	if (!strcmp(o->scenario, "multi-qp"))
		ret = run_multi_qp(o, s, out);
	else if (!strcmp(o->scenario, "regions"))
		ret = run_regions(o, s, out);
	else if (!strcmp(o->scenario, "revoke"))
		ret = run_revoke(o, s, out);
	else
		ret = run_echo(o, s, out);
done:
	if (close_sess(s))
		ret = -1;
	r = srdma_ctx_destroy(ctx);
	if (r && !ret)
		ret = failf(s, "srdma_ctx_destroy: %s", strerror(-r));
	add_bool(out, "ok", ret == 0);
	add_str(out, "error", s->err);
	print_json(out);
	free(s);
	return ret ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: srdma-apitest serve --cert C --key K [--ca CA] [--port P] [--refuse-cn "
		"NAME] [--dataplane M] [--sessions N] [--timeout-s S]\n"
		"       srdma-apitest connect --ca CA [--cert C --key K] [--port P] [--dataplane "
		"M] [--timeout-ms MS] --scenario multi-qp|regions|revoke|echo|timing [--nqp N] "
		"[--qps N] [--count N] [--pause-ms MS] HOST\n");
	exit(2);
}

static unsigned num(const char *s, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v < lo || v > hi) {
		fprintf(stderr, "srdma-apitest: %s is not a number in %u..%u\n", s, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"cert", required_argument, NULL, 'c'},
					   {"key", required_argument, NULL, 'k'},
					   {"ca", required_argument, NULL, 'a'},
					   {"port", required_argument, NULL, 'p'},
					   {"refuse-cn", required_argument, NULL, 'r'},
					   {"dataplane", required_argument, NULL, 'd'},
					   {"sessions", required_argument, NULL, 'n'},
					   {"scenario", required_argument, NULL, 's'},
					   {"nqp", required_argument, NULL, 'q'},
					   {"qps", required_argument, NULL, 'Q'},
					   {"count", required_argument, NULL, 'C'},
					   {"pause-ms", required_argument, NULL, 'P'},
					   {"timeout-ms", required_argument, NULL, 't'},
					   {"timeout-s", required_argument, NULL, 'T'},
					   {NULL, 0, NULL, 0}};
	struct opts o = {.port = SRDMA_PORT_DEFAULT,
			 .dp = SRDMA_DP_AEAD,
			 .sessions = 1,
			 .nqp = 8,
			 .qps = 8,
			 .count = 10,
			 .timeout_ms = 30000,
			 .timeout_s = 600};
	const char *role;
	int ch;

	if (argc < 2)
		usage();
	role = argv[1];
	argv++;
	argc--;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.cert = optarg;
			break;
		case 'k':
			o.key = optarg;
			break;
		case 'a':
			o.ca = optarg;
			break;
		case 'p':
			o.port = (uint16_t)num(optarg, 0, 65535);
			break;
		case 'r':
			o.refuse_cn = optarg;
			break;
		case 'd':
			if (!strcmp(optarg, "plain"))
				o.dp = SRDMA_DP_PLAIN;
			else if (!strcmp(optarg, "aead"))
				o.dp = SRDMA_DP_AEAD;
			else if (!strcmp(optarg, "chacha20"))
				o.dp = SRDMA_DP_CHACHA20;
			else
				usage();
			break;
		case 'n':
			o.sessions = num(optarg, 1, MAX_SESSIONS);
			break;
		case 's':
			o.scenario = optarg;
			break;
		case 'q':
			o.nqp = num(optarg, 2, SRDMA_MAX_QPS);
			break;
		case 'Q':
			o.qps = num(optarg, 1, SRDMA_MAX_QPS);
			break;
		case 'C':
			o.count = num(optarg, 1, 1000000);
			break;
		case 'P':
			o.pause_ms = num(optarg, 0, 60000);
			break;
		case 't':
			o.timeout_ms = num(optarg, 1, 3600000);
			break;
		case 'T':
			o.timeout_s = num(optarg, 1, 86400);
			break;
		default:
			usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(role, "serve")) {
		if (optind != argc || !o.cert || !o.key)
			usage();
		return serve(&o);
	}
	if (strcmp(role, "connect") || optind != argc - 1 || !o.ca || !o.scenario)
		usage();
	o.host = argv[optind];
	return run_connect(&o);
}
