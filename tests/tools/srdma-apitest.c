/* srdma-apitest: drives the public API (<srdma.h> and the application's own verbs only) end to
 * end, for the VM scenarios in tests/vm/cases/80-api.sh.
 *
 *   srdma-apitest serve --cert C --key K [--ca CA] [--port P] [--refuse-cn NAME]
 *                       [--dataplane M] [--sessions N] [--timeout-s S] [--max-qps N]
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
 *   sizes     echoes of changing sizes, pipelined: in each round three short messages, then one
 *             of 4,065 bytes to 64 KiB (the library's max_msg) sent while they may still be in
 *             flight, so both sides' send slots grow under sends in flight; every byte checked
 *   limits    QP 0 declares max_send LIMITS_SEND (srdma_qp_opts.max_send): srdma_msg_limits on
 *             both sides agrees (the server prints its own), a longer message is refused with
 *             -EMSGSIZE before anything is sent, messages of 1 byte up to the limit are echoed
 *   busy      echoes for 4 x the silence bound (--heartbeat-ms x 3), sent and received with the
 *             non-blocking calls only, spinning: the control channel is never read meanwhile,
 *             so only the messages themselves show the server that this peer is alive
 *   hold      wait for a message that never comes (the test freezes the connector; the
 *             server's heartbeat, --heartbeat-ms, must end the session); exits 1
 *   msg-write srdma_msg_write into the server's region on the messages QP, then the tag of
 *             the bytes in a message after it; srdma_msg_flush; srdma_conn_export gives both
 *             sides the same key; the set-up steps of srdma_conn_info add up
 *   timing    one session of --qps QPs vs --qps sessions of one QP, set-up times
 *   add-qp    a 1-QP connection adds --count messages QPs (srdma_conn_add_qp: the first
 *             non-blocking, with -EBUSY for a second add meanwhile; the others with
 *             srdma_conn_add_qp_wait), each timed; one more add must be refused (the server's
 *             --max-qps, -ECONNREFUSED; or -ENOSPC at SRDMA_MAX_QPS) with the session going
 *             on; then a message each way on every QP and a srdma_msg_write through the last
 *             one, proved by its tag
 */
#include "apitest.h"

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
	if (!strcmp(o->scenario, "limits"))
		c.qp[0].max_send = LIMITS_SEND;
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

/* The library's RDMA WRITE on a messages QP, ordered before the tag that proves it; the
 * exporter for the application's own keys; the set-up steps adding up. */
static int run_msg_write(struct sess *s, json_object *out)
{
	uint8_t *buf = malloc(REGION_LEN), tag[SRDMA_TAG_LEN], key[32];
	struct ibv_mr *mr = NULL;
	struct srdma_region r;
	struct srdma_conn_info info;
	uint64_t steps;
	uint32_t seq;
	int ret = -1, e;

	if (!buf)
		return failf(s, "out of memory");
	srdma_conn_info(s->c, &info);
	steps = info.tcp_us + info.tls_us + info.open_us + info.qp_us + info.ready_us;
	add_int(out, "tcp_us", (int64_t)info.tcp_us);
	add_int(out, "tls_us", (int64_t)info.tls_us);
	add_int(out, "open_us", (int64_t)info.open_us);
	add_int(out, "qp_us", (int64_t)info.qp_us);
	add_int(out, "ready_us", (int64_t)info.ready_us);
	/* Each step is truncated to whole microseconds on its own. */
	if (steps > info.setup_us || info.setup_us - steps > 5 || !info.tls_us || !info.qp_us) {
		failf(s, "set-up steps add up to %llu us, setup_us is %llu",
		      (unsigned long long)steps, (unsigned long long)info.setup_us);
		goto out;
	}
	pattern(buf, REGION_LEN, 77);
	mr = reg(s, buf, REGION_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!mr || send_ctrl(s, "msg-write") || remote(s, 1, SRDMA_ACCESS_REMOTE_WRITE, &r))
		goto out;
	/* The contract's refusals, before anything is posted. */
	e = srdma_msg_write(s->c, 0, buf, mr->lkey, 16, 99, 0);
	add_int(out, "write_unknown_region", e);
	if (e != -ENOENT) {
		failf(s, "a write to region 99 returned %d, expected -ENOENT", e);
		goto out;
	}
	e = srdma_msg_write(s->c, 0, buf, mr->lkey, 16, 1, REGION_LEN - 8);
	add_int(out, "write_out_of_range", e);
	if (e != -ERANGE) {
		failf(s, "a write past the region returned %d, expected -ERANGE", e);
		goto out;
	}
	do
		e = srdma_msg_write(s->c, 0, buf, mr->lkey, REGION_LEN, 1, 0);
	while (e == -EAGAIN && !pump(s, 10));
	if (e) {
		failf(s, "srdma_msg_write: %s (%s)", strerror(-e), srdma_conn_errmsg(s->c));
		goto out;
	}
	seq = srdma_msg_next_seq(s->c, 0);
	e = srdma_tag(s->c, 0, 1, seq, 0, buf, REGION_LEN, tag);
	if (e) {
		failf(s, "srdma_tag: %s", strerror(-e));
		goto out;
	}
	if (send_msg(s, tag, sizeof(tag)))
		goto out;
	e = srdma_msg_flush(s->c, 0, STEP_MS);
	if (e) {
		failf(s, "srdma_msg_flush: %s", strerror(-e));
		goto out;
	}
	e = srdma_conn_export(s->c, "EXPORTER-secure-rdma-dataplane-v1", NULL, 0, key, 32);
	add_int(out, "export_library_label", e);
	if (e != -EINVAL) {
		failf(s, "exporting under the library's label returned %d, expected -EINVAL", e);
		goto out;
	}
	e = srdma_conn_export(s->c, "EXPORTER-apitest", "ctx", 3, key, sizeof(key));
	if (e) {
		failf(s, "srdma_conn_export: %s", strerror(-e));
		goto out;
	}
	if (send_msg(s, key, sizeof(key)) || expect_msg(s, "write and key verified"))
		goto out;
	add_int(out, "bytes_written_verified", REGION_LEN);
	ret = 0;
out:
	dereg(&mr);
	free(buf);
	return ret;
}

/* Wait for a message that never comes, until the connection ends (the test freezes this
 * process meanwhile, and the server's heartbeat must end the session). */
static int run_hold(struct opts *o, struct sess *s, json_object *out)
{
	uint8_t b[16];
	size_t len;
	int r;

	if (send_ctrl(s, "hold") || flush_ctrl(s))
		return -1;
	r = srdma_msg_recv_wait(s->c, 0, b, sizeof(b), &len, NULL, (int)o->timeout_ms);
	add_int(out, "hold_ret", r);
	add_str(out, "hold_error", srdma_conn_errmsg(s->c));
	return failf(s, "the session ended: %s (%s)", strerror(-r), srdma_conn_errmsg(s->c));
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Wait (pumping the control channel) until QP idx was added or its add failed. */
static int wait_added(struct sess *s, unsigned idx)
{
	int64_t end = now_us() + (int64_t)STEP_MS * 1000;

	while (!s->qp_added[idx] && !s->qp_add_failed[idx]) {
		if (now_us() > end)
			return failf(s, "QP %u: no SRDMA_EV_QP_ADDED within %d ms", idx, STEP_MS);
		if (pump(s, 10))
			return -1;
	}
	if (s->qp_add_failed[idx])
		return failf(s, "adding QP %u failed: %s", idx, s->add_failed_text);
	return 0;
}

static int run_add_qp(struct opts *o, struct sess *s, json_object *out)
{
	unsigned n = o->count, idx = 0, busy_idx = 99;
	int64_t us[SRDMA_MAX_QPS], sorted[SRDMA_MAX_QPS], t0;
	json_object *each = json_object_new_array();
	uint8_t *buf = malloc(REGION_LEN), tag[SRDMA_TAG_LEN];
	struct srdma_conn_info info;
	struct srdma_qp_opts qo;
	struct srdma_region r;
	struct ibv_mr *mr = NULL;
	char msg[64], want[64];
	uint32_t seq;
	int ret = -1, rc;

	json_object_object_add(out, "add_us", each);
	if (!buf)
		return failf(s, "out of memory");
	if (n < 1 || n >= SRDMA_MAX_QPS) {
		failf(s, "--count %u: 1..%u adds", n, SRDMA_MAX_QPS - 1);
		goto out;
	}
	if (send_ctrl(s, "add-qp") || expect_ctrl(s, "ready") ||
	    wait_flag(s, s->added, 1, "advertised"))
		goto out;
	srdma_qp_opts_init(&qo);
	qo.driver = SRDMA_QP_MESSAGES;
	qo.remote_access = SRDMA_ACCESS_REMOTE_WRITE;
	/* The first add without blocking: the index comes at once, the QP with the event. */
	t0 = now_us();
	rc = srdma_conn_add_qp(s->c, &qo, &idx);
	if (rc || idx != 1) {
		failf(s, "srdma_conn_add_qp: %d, index %u (%s)", rc, idx, srdma_conn_errmsg(s->c));
		goto out;
	}
	rc = srdma_conn_add_qp(s->c, &qo, &busy_idx);
	add_int(out, "add_in_flight_ret", rc);
	add_bool(out, "qp_null_before_event", srdma_conn_qp(s->c, 1) == NULL);
	if (rc != -EBUSY || busy_idx != 99 || srdma_conn_qp(s->c, 1)) {
		failf(s, "a second add in flight returned %d (expected -EBUSY), QP 1 %s", rc,
		      srdma_conn_qp(s->c, 1) ? "already there" : "not there yet");
		goto out;
	}
	if (wait_added(s, 1))
		goto out;
	us[0] = now_us() - t0;
	for (unsigned k = 2; k <= n; k++) {
		t0 = now_us();
		rc = srdma_conn_add_qp_wait(s->c, &qo, &idx, STEP_MS);
		us[k - 1] = now_us() - t0;
		if (rc || idx != k) {
			failf(s, "srdma_conn_add_qp_wait: %s, index %u (%s)", strerror(-rc), idx,
			      srdma_conn_errmsg(s->c));
			goto out;
		}
	}
	for (unsigned k = 0; k < n; k++)
		json_object_array_add(each, json_object_new_int64(us[k]));
	memcpy(sorted, us, n * sizeof(us[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_i64);
	add_int(out, "adds", n);
	add_int(out, "add_p50_us", n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2);
	/* One more: past the server's bound (or ours). */
	rc = srdma_conn_add_qp_wait(s->c, &qo, &idx, STEP_MS);
	add_int(out, "over_limit_ret", rc);
	add_str(out, "over_limit_error", srdma_conn_errmsg(s->c));
	if (rc == -ECONNREFUSED) {
		/* The event was queued while the blocking form waited. */
		if (pump(s, 0))
			goto out;
		if (!s->qp_add_failed[n + 1] || !strstr(s->add_failed_text, "refused")) {
			failf(s, "no SRDMA_EV_QP_ADD_FAILED for QP %u naming the refusal", n + 1);
			goto out;
		}
		add_str(out, "over_limit_event", s->add_failed_text);
	} else if (rc != -ENOSPC) {
		failf(s, "an add past the limit returned %d (%s)", rc, srdma_conn_errmsg(s->c));
		goto out;
	}
	if (pump(s, 0))
		goto out;
	srdma_conn_info(s->c, &info);
	add_int(out, "nqp_after", info.nqp);
	add_int(out, "qp_added_events", s->nqp_added);
	if (info.nqp != n + 1 || s->nqp_added != n || srdma_conn_qp(s->c, n + 1)) {
		failf(s, "%u QPs, %u QP_ADDED events after %u adds", info.nqp, s->nqp_added, n);
		goto out;
	}
	if (add_secrets_as(s, out, "qps_after"))
		goto out;
	snprintf(msg, sizeof(msg), "added %u", n);
	if (send_ctrl(s, msg))
		goto out;
	for (unsigned i = 0; i <= n; i++) {
		snprintf(msg, sizeof(msg), "qp %u hello", i);
		snprintf(want, sizeof(want), "qp %u echo", i);
		if (send_msg_on(s, i, msg, strlen(msg)) || expect_msg_on(s, i, want))
			goto out;
	}
	add_int(out, "echoed_qps", n + 1);
	/* srdma_msg_write through the last added QP, then its tag in a message there. */
	mr = reg(s, buf, REGION_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		goto out;
	pattern(buf, REGION_LEN, 0x400 + n);
	rc = srdma_remote_region(s->c, 1, &r);
	if (!rc)
		rc = srdma_msg_write(s->c, n, buf, mr->lkey, REGION_LEN, 1, 0);
	if (!rc) {
		seq = srdma_msg_next_seq(s->c, n);
		rc = srdma_tag(s->c, n, 1, seq, 0, buf, REGION_LEN, tag);
	}
	if (rc) {
		failf(s, "write through QP %u: %s", n, strerror(-rc));
		goto out;
	}
	if (send_msg_on(s, n, tag, sizeof(tag)) || expect_msg_on(s, n, "write verified"))
		goto out;
	rc = srdma_msg_flush(s->c, n, STEP_MS);
	if (rc) {
		failf(s, "srdma_msg_flush(QP %u): %s", n, strerror(-rc));
		goto out;
	}
	add_int(out, "bytes_written_verified", REGION_LEN);
	ret = 0;
out:
	dereg(&mr);
	free(buf);
	return ret;
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
	co.heartbeat_ms = o->heartbeat_ms;
	co.rekey_messages = o->rekey_messages;
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
	    strcmp(o->scenario, "revoke") && strcmp(o->scenario, "echo") &&
	    strcmp(o->scenario, "msg-write") && strcmp(o->scenario, "hold") &&
	    strcmp(o->scenario, "add-qp") && strcmp(o->scenario, "sizes") &&
	    strcmp(o->scenario, "limits") && strcmp(o->scenario, "busy")) {
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
	else if (!strcmp(o->scenario, "msg-write"))
		ret = run_msg_write(s, out);
	else if (!strcmp(o->scenario, "hold"))
		ret = run_hold(o, s, out);
	else if (!strcmp(o->scenario, "add-qp"))
		ret = run_add_qp(o, s, out);
	else if (!strcmp(o->scenario, "sizes"))
		ret = run_sizes(s, out);
	else if (!strcmp(o->scenario, "limits"))
		ret = run_limits(s, out);
	else if (!strcmp(o->scenario, "busy"))
		ret = run_busy(o, s, out);
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
		"NAME] [--dataplane M] [--sessions N] [--timeout-s S] [--max-qps N]\n"
		"       srdma-apitest connect --ca CA [--cert C --key K] [--port P] [--dataplane "
		"M] [--timeout-ms MS] --scenario "
		"multi-qp|regions|revoke|echo|msg-write|hold|timing|add-qp "
		"[--nqp N] "
		"[--qps N] [--count N] [--pause-ms MS] [--heartbeat-ms MS] [--rekey-messages N] "
		"HOST\n");
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
					   {"heartbeat-ms", required_argument, NULL, 'H'},
					   {"rekey-messages", required_argument, NULL, 'R'},
					   {"max-qps", required_argument, NULL, 'M'},
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
		case 'H':
			o.heartbeat_ms = num(optarg, 100, 600000);
			break;
		case 'R':
			o.rekey_messages = num(optarg, 2, 1u << 31);
			break;
		case 'M':
			o.max_qps = num(optarg, 1, SRDMA_MAX_QPS);
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
