/* srdma-apitest: the listener's side of each scenario (apitest.h). */
#include "apitest.h"

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

/* Register a (REGION_LEN bytes) for the peer's RDMA WRITEs and advertise it as region 1: the MR,
 * or NULL with the failure recorded. */
static struct ibv_mr *write_region(struct sess *s, void *a)
{
	struct ibv_mr *m = reg(s, a, REGION_LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	int r;

	if (!m)
		return NULL;
	r = srdma_advertise(s->c, 1, m, SRDMA_ACCESS_REMOTE_WRITE);
	if (r) {
		failf(s, "srdma_advertise(1): %s", strerror(-r));
		dereg(&m);
		return NULL;
	}
	return m;
}

static int serve_revoke(struct sess *s, json_object *o)
{
	uint8_t *a = calloc(1, REGION_LEN), want[REGION_LEN];
	struct ibv_mr *ma = NULL;
	int ret = -1, r;

	if (!a)
		return failf(s, "out of memory");
	ma = write_region(s, a);
	if (!ma)
		goto out;
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

/* Echo every message (up to the library's default max_msg, 64 KiB) until "end". */
static int serve_echo(struct sess *s, json_object *o)
{
	struct srdma_conn_info info;
	const size_t cap = 65536;
	char *buf = malloc(cap);
	size_t len;
	unsigned n = 0;
	int ret = 0;

	if (!buf)
		return failf(s, "out of memory");
	for (;;) {
		if (recv_msg(s, buf, cap, &len, NULL)) {
			ret = -1;
			break;
		}
		if (len == 3 && !memcmp(buf, "end", 3))
			break;
		if (send_msg(s, buf, len)) {
			ret = -1;
			break;
		}
		n++;
	}
	free(buf);
	if (ret)
		return ret;
	add_int(o, "echoed", n);
	srdma_conn_info(s->c, &info);
	add_int(o, "key_updates", info.key_updates);
	return 0;
}

static int serve_msg_write(struct sess *s, json_object *o)
{
	uint8_t *a = calloc(1, REGION_LEN), *want = malloc(REGION_LEN);
	uint8_t got[64], tag[SRDMA_TAG_LEN], key[32];
	struct ibv_mr *ma = NULL;
	size_t len;
	uint32_t seq;
	int ret = -1, r;

	if (!a || !want) {
		failf(s, "out of memory");
		goto out;
	}
	ma = write_region(s, a);
	if (!ma)
		goto out;
	if (recv_msg(s, got, sizeof(got), &len, &seq))
		goto out;
	/* RC ordering: the write landed before the message that carries its tag. */
	pattern(want, REGION_LEN, 77);
	r = srdma_tag(s->c, 0, 0, seq, 0, a, REGION_LEN, tag);
	if (r || len != SRDMA_TAG_LEN || !srdma_tag_equal(got, tag) ||
	    memcmp(a, want, REGION_LEN)) {
		failf(s, "the region does not hold what the peer's tag says (tag %s, bytes %s)",
		      len == SRDMA_TAG_LEN && !r && srdma_tag_equal(got, tag) ? "ok" : "bad",
		      memcmp(a, want, REGION_LEN) ? "differ" : "ok");
		goto out;
	}
	if (recv_msg(s, got, sizeof(got), &len, NULL))
		goto out;
	r = srdma_conn_export(s->c, "EXPORTER-apitest", "ctx", 3, key, sizeof(key));
	if (r || len != sizeof(key) || memcmp(got, key, sizeof(key))) {
		failf(s, "srdma_conn_export differs between the two sides (%d)", r);
		goto out;
	}
	add_int(o, "bytes_written_verified", REGION_LEN);
	ret = send_str(s, "write and key verified");
out:
	dereg(&ma);
	free(a);
	free(want);
	return ret;
}

/* QPs added by the connector (srdma_conn_add_qp): this side may not add (-EPERM); it learns
 * each QP from SRDMA_EV_QP_ADDED, echoes a message on every QP, and checks a write through the
 * last added QP by the tag that follows it there. */
static int serve_add_qp(struct sess *s, json_object *o)
{
	uint8_t *a = calloc(1, REGION_LEN), *want = malloc(REGION_LEN);
	uint8_t got[64], tag[SRDMA_TAG_LEN];
	char scen[SRDMA_CTRL_MAX + 1], msg[64];
	struct srdma_conn_info info;
	struct srdma_qp_opts qo;
	struct ibv_mr *ma = NULL;
	unsigned n = 0, idx = 99;
	size_t len;
	uint32_t seq;
	int ret = -1, r;

	if (!a || !want) {
		failf(s, "out of memory");
		goto out;
	}
	srdma_qp_opts_init(&qo);
	qo.driver = SRDMA_QP_MESSAGES;
	r = srdma_conn_add_qp(s->c, &qo, &idx);
	add_int(o, "listener_add_ret", r);
	if (r != -EPERM || idx != 99) {
		failf(s, "srdma_conn_add_qp on the accepting side returned %d, expected -EPERM", r);
		goto out;
	}
	ma = write_region(s, a);
	if (!ma)
		goto out;
	if (send_ctrl(s, "ready") || wait_ctrl(s, scen, sizeof(scen)))
		goto out;
	if (sscanf(scen, "added %u", &n) != 1 || n < 1 || n >= SRDMA_MAX_QPS) {
		failf(s, "control message \"%s\", expected \"added N\"", scen);
		goto out;
	}
	srdma_conn_info(s->c, &info);
	add_int(o, "nqp_after", info.nqp);
	add_int(o, "qp_added_events", s->nqp_added);
	for (unsigned i = 1; i <= n; i++)
		if (!s->qp_added[i]) {
			failf(s, "no SRDMA_EV_QP_ADDED for QP %u", i);
			goto out;
		}
	if (info.nqp != n + 1 || s->nqp_added != n || s->nqp_add_failed) {
		failf(s, "%u QPs and %u QP_ADDED events (%u failures) after %u adds", info.nqp,
		      s->nqp_added, s->nqp_add_failed, n);
		goto out;
	}
	if (add_secrets_as(s, o, "qps_after"))
		goto out;
	for (unsigned i = 0; i <= n; i++) {
		snprintf(scen, sizeof(scen), "qp %u hello", i);
		snprintf(msg, sizeof(msg), "qp %u echo", i);
		if (expect_msg_on(s, i, scen) || send_msg_on(s, i, msg, strlen(msg)))
			goto out;
	}
	add_int(o, "echoed_qps", n + 1);
	/* The write through QP n, then its tag in a message on QP n (RC orders them). */
	r = srdma_msg_recv_wait(s->c, n, got, sizeof(got), &len, &seq, STEP_MS);
	if (r) {
		failf(s, "srdma_msg_recv_wait(QP %u): %s", n, strerror(-r));
		goto out;
	}
	pattern(want, REGION_LEN, 0x400 + n);
	r = srdma_tag(s->c, n, 0, seq, 0, a, REGION_LEN, tag);
	if (r || len != SRDMA_TAG_LEN || !srdma_tag_equal(got, tag) ||
	    memcmp(a, want, REGION_LEN)) {
		failf(s, "QP %u: the region does not hold what the peer's tag says", n);
		goto out;
	}
	add_int(o, "bytes_written_verified", REGION_LEN);
	ret = send_msg_on(s, n, "write verified", 14);
out:
	dereg(&ma);
	free(a);
	free(want);
	return ret;
}

/* The connector goes silent (frozen): the heartbeat must end the session with -ETIMEDOUT. */
static int serve_hold(struct sess *s, json_object *o)
{
	uint8_t b[16];
	size_t len;
	struct timespec ts;
	int r = srdma_msg_recv_wait(s->c, 0, b, sizeof(b), &len, NULL, -1);

	clock_gettime(CLOCK_REALTIME, &ts);
	add_int(o, "ended_at_ms", (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	add_int(o, "hold_ret", r);
	add_str(o, "hold_error", srdma_conn_errmsg(s->c));
	if (r != -ETIMEDOUT || !strstr(srdma_conn_errmsg(s->c), "stopped answering"))
		return failf(s, "expected the heartbeat to end the session, got %s (%s)",
			     strerror(-r), srdma_conn_errmsg(s->c));
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

/* QP 0's agreed message sizes, if it is a messages QP (-EINVAL: a raw one, as in timing). */
static int add_limits(struct sess *s, json_object *o)
{
	uint32_t recv_max, send_max;
	int r = srdma_msg_limits(s->c, 0, &recv_max, &send_max);

	if (r == -EINVAL)
		return 0;
	if (r)
		return failf(s, "srdma_msg_limits on the accepting side: %s", strerror(-r));
	add_int(o, "recv_max", recv_max);
	add_int(o, "send_max", send_max);
	return 0;
}

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
	if (add_secrets(s, o) || add_limits(s, o) || wait_ctrl(s, scen, sizeof(scen)))
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
	else if (!strcmp(scen, "msg-write"))
		ret = serve_msg_write(s, o);
	else if (!strcmp(scen, "hold"))
		ret = serve_hold(s, o);
	else if (!strcmp(scen, "add-qp"))
		ret = serve_add_qp(s, o);
	else if (!strcmp(scen, "timing"))
		ret = 0;
	else
		failf(s, "unknown scenario \"%s\"", scen);
	/* Every connector closes in order at the end (but a held one is gone). */
	if (!ret && strcmp(scen, "hold"))
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
	/* Raw QPs let the peer write and read our memory, the messages QP write it (msg-write);
	 * the template lets it only send. */
	for (unsigned i = 0; i < req->nqp; i++)
		req->qp[i].remote_access =
		    req->driver[i] == SRDMA_QP_RAW
			? SRDMA_ACCESS_REMOTE_WRITE | SRDMA_ACCESS_REMOTE_READ
			: SRDMA_ACCESS_REMOTE_WRITE;
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

int serve(struct opts *o)
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
	co.heartbeat_ms = o->heartbeat_ms;
	co.rekey_messages = o->rekey_messages;
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
	/* The template of QPs the peer adds (add-qp): it may write through them (msg_write). */
	lo.qp.remote_access = SRDMA_ACCESS_REMOTE_WRITE;
	ret = srdma_listen(srv.ctx, &lo, &l, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "srdma-apitest: srdma_listen: %s\n", err);
		srdma_ctx_destroy(srv.ctx);
		free(w);
		return 1;
	}
	if (o->max_qps) {
		ret = srdma_listener_set_max_qps(l, o->max_qps);
		if (ret) {
			fprintf(stderr, "srdma-apitest: srdma_listener_set_max_qps: %s\n",
				strerror(-ret));
			srdma_listener_close(l);
			srdma_ctx_destroy(srv.ctx);
			free(w);
			return 1;
		}
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
