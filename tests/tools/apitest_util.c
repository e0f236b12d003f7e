/* srdma-apitest: helpers shared by both sides (apitest.h). */
#include "apitest.h"

int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Record the first failure of a session; always returns -1. */
__attribute__((format(printf, 2, 3))) int failf(struct sess *s, const char *fmt, ...)
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
void pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

const char *dp_name(enum srdma_dp_mode m)
{
	return m == SRDMA_DP_PLAIN ? "plain" : m == SRDMA_DP_CHACHA20 ? "chacha20" : "aead";
}

/* ---- control channel ---- */

/* One round of the control channel: wait up to ms for the fd, then take every event. */
int pump(struct sess *s, int ms)
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
		case SRDMA_EV_QP_ADDED:
			if (ev.region_id > SRDMA_MAX_QPS || s->qp_added[ev.region_id])
				return failf(s, "SRDMA_EV_QP_ADDED for index %u (again?)",
					     ev.region_id);
			s->qp_added[ev.region_id] = 1;
			s->nqp_added++;
			break;
		case SRDMA_EV_QP_ADD_FAILED:
			if (ev.region_id > SRDMA_MAX_QPS || ev.len >= sizeof(ev.data) ||
			    ev.data[ev.len] != 0)
				return failf(s,
					     "SRDMA_EV_QP_ADD_FAILED malformed (index %u, len %u)",
					     ev.region_id, ev.len);
			s->qp_add_failed[ev.region_id] = 1;
			s->nqp_add_failed++;
			memcpy(s->add_failed_text, ev.data, ev.len + 1);
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
int wait_ctrl(struct sess *s, char *buf, size_t cap)
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

int expect_ctrl(struct sess *s, const char *want)
{
	char buf[SRDMA_CTRL_MAX + 1];

	if (wait_ctrl(s, buf, sizeof(buf)))
		return -1;
	if (strcmp(buf, want))
		return failf(s, "control message \"%s\", expected \"%s\"", buf, want);
	return 0;
}

int send_ctrl(struct sess *s, const char *msg)
{
	int ret = srdma_ctrl_send(s->c, msg, strlen(msg));

	if (ret)
		return failf(s, "srdma_ctrl_send(%s): %s", msg, strerror(-ret));
	return 0;
}

/* flags[id] set (added or revoked) */
int wait_flag(struct sess *s, const uint8_t *flags, uint32_t id, const char *what)
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
int flush_ctrl(struct sess *s)
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

int wait_peer_closed(struct sess *s)
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

int send_msg(struct sess *s, const void *buf, size_t len)
{
	int ret = srdma_msg_send_wait(s->c, 0, buf, len, STEP_MS);

	if (ret)
		return failf(s, "srdma_msg_send_wait: %s (%s)", strerror(-ret),
			     srdma_conn_errmsg(s->c));
	return 0;
}

int recv_msg(struct sess *s, void *buf, size_t cap, size_t *len, uint32_t *seq)
{
	int ret = srdma_msg_recv_wait(s->c, 0, buf, cap, len, seq, STEP_MS);

	if (ret)
		return failf(s, "srdma_msg_recv_wait: %s (%s)", strerror(-ret),
			     srdma_conn_errmsg(s->c));
	return 0;
}

int send_msg_on(struct sess *s, unsigned qp, const void *buf, size_t len)
{
	int ret = srdma_msg_send_wait(s->c, qp, buf, len, STEP_MS);

	if (ret)
		return failf(s, "srdma_msg_send_wait(QP %u): %s (%s)", qp, strerror(-ret),
			     srdma_conn_errmsg(s->c));
	return 0;
}

int expect_msg_on(struct sess *s, unsigned qp, const char *want)
{
	char buf[256];
	size_t len;
	int ret = srdma_msg_recv_wait(s->c, qp, buf, sizeof(buf) - 1, &len, NULL, STEP_MS);

	if (ret)
		return failf(s, "srdma_msg_recv_wait(QP %u): %s (%s)", qp, strerror(-ret),
			     srdma_conn_errmsg(s->c));
	buf[len] = 0;
	if (len != strlen(want) || memcmp(buf, want, len))
		return failf(s, "QP %u: message \"%s\", expected \"%s\"", qp, buf, want);
	return 0;
}

int send_str(struct sess *s, const char *msg)
{
	return send_msg(s, msg, strlen(msg));
}

int expect_msg(struct sess *s, const char *want)
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
int wait_wc(struct sess *s, struct ibv_cq *cq, uint64_t wr_id, struct ibv_wc *out)
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

int wait_ok(struct sess *s, unsigned qp, uint64_t wr_id, const char *what)
{
	struct ibv_wc wc;

	if (wait_wc(s, srdma_conn_send_cq(s->c, qp), wr_id, &wc))
		return -1;
	if (wc.status != IBV_WC_SUCCESS)
		return failf(s, "%s on QP %u: %s", what, qp, ibv_wc_status_str(wc.status));
	return 0;
}

int post_recv(struct sess *s, unsigned qp, struct ibv_mr *mr, void *buf, uint32_t len,
	      uint64_t wr_id)
{
	struct ibv_sge sge = {.addr = (uintptr_t)buf, .length = len, .lkey = mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = wr_id, .sg_list = &sge, .num_sge = 1}, *bad;
	int ret = ibv_post_recv(srdma_conn_qp(s->c, qp), &wr, &bad);

	if (ret)
		return failf(s, "ibv_post_recv on QP %u: %s", qp, strerror(ret));
	return 0;
}

int post_send(struct sess *s, unsigned qp, enum ibv_wr_opcode op, struct ibv_mr *mr, void *buf,
	      uint32_t len, uint64_t raddr, uint32_t rkey, uint64_t wr_id)
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

struct ibv_mr *reg(struct sess *s, void *buf, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(srdma_conn_pd(s->c), buf, len, access);

	if (!mr)
		failf(s, "ibv_reg_mr(%zu bytes): %s", len, strerror(errno));
	return mr;
}

void dereg(struct ibv_mr **mr)
{
	if (*mr)
		ibv_dereg_mr(*mr);
	*mr = NULL;
}

/* ---- JSON ---- */

void add_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

void add_bool(json_object *o, const char *k, int v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* Every QP's numbers and PSNs. */
int add_secrets(struct sess *s, json_object *o)
{
	return add_secrets_as(s, o, "qps");
}

int add_secrets_as(struct sess *s, json_object *o, const char *key)
{
	struct srdma_conn_info info;
	json_object *a = json_object_new_array();

	srdma_conn_info(s->c, &info);
	json_object_object_add(o, key, a);
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

void print_json(json_object *o)
{
	pthread_mutex_lock(&out_lock);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	json_object_put(o);
}
