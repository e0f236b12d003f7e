/* srdma-server's metrics (Prometheus text at /metrics) and statistics (JSON at /stats), served
 * by libmicrohttpd on its own thread; the counting side the server's threads call. See
 * server_metrics.h for who writes what. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>

#include <gnutls/gnutls.h>
#include <json-c/json.h>
#include <microhttpd.h>

#include "log.h"

#include "server.h"
#include "server_metrics.h"

#define MX_CONNECTIONS 32	 /* HTTP connections at once */
#define MX_TIMEOUT_S   10	 /* an idle HTTP connection is closed after this */
#define MX_FILE_MAX    (1 << 20) /* largest PEM file read for HTTPS */

static const double bucket_bounds[MX_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static const char *const refusal_names[MX_NREFUSALS] = {
    [MX_REFUSED_SERVER_FULL] = "server_full",	[MX_REFUSED_CERTIFICATE] = "certificate",
    [MX_REFUSED_RATE_LIMITED] = "rate_limited", [MX_REFUSED_PREAUTH_DROP] = "preauth_drop",
    [MX_REFUSED_REQUEST] = "request",
};

static const char *const failure_names[MX_NFAILURES] = {
    [MX_FAILED_TLS] = "tls",
    [MX_FAILED_PROTOCOL] = "protocol",
    [MX_FAILED_DEADLINE] = "deadline",
    [MX_FAILED_DISCONNECTED] = "disconnected",
    [MX_FAILED_RESOURCES] = "resources",
    [MX_FAILED_OTHER] = "other",
};

static const char *const end_names[MX_NENDS] = {
    [MX_END_QUIT] = "quit",
    [MX_END_DISCONNECTED] = "disconnected",
    [MX_END_HEARTBEAT] = "heartbeat",
    [MX_END_QP_ERROR] = "qp_error",
    [MX_END_AUTH_FAILURE] = "auth_failure",
    [MX_END_ERROR] = "error",
    [MX_END_SHUTDOWN] = "shutdown",
};

/* The set-up steps srdma_conn_info reports on the accepting side (tcp_us is the connector's). */
static const char *const step_names[4] = {"tls", "open", "qp", "ready"};

static const char *const async_names[MX_ASYNC_EVENTS] = {
    [IBV_EVENT_CQ_ERR] = "cq_err",
    [IBV_EVENT_QP_FATAL] = "qp_fatal",
    [IBV_EVENT_QP_REQ_ERR] = "qp_req_err",
    [IBV_EVENT_QP_ACCESS_ERR] = "qp_access_err",
    [IBV_EVENT_COMM_EST] = "comm_est",
    [IBV_EVENT_SQ_DRAINED] = "sq_drained",
    [IBV_EVENT_PATH_MIG] = "path_mig",
    [IBV_EVENT_PATH_MIG_ERR] = "path_mig_err",
    [IBV_EVENT_DEVICE_FATAL] = "device_fatal",
    [IBV_EVENT_PORT_ACTIVE] = "port_active",
    [IBV_EVENT_PORT_ERR] = "port_err",
    [IBV_EVENT_LID_CHANGE] = "lid_change",
    [IBV_EVENT_PKEY_CHANGE] = "pkey_change",
    [IBV_EVENT_SM_CHANGE] = "sm_change",
    [IBV_EVENT_SRQ_ERR] = "srq_err",
    [IBV_EVENT_SRQ_LIMIT_REACHED] = "srq_limit_reached",
    [IBV_EVENT_QP_LAST_WQE_REACHED] = "qp_last_wqe_reached",
    [IBV_EVENT_CLIENT_REREGISTER] = "client_reregister",
    [IBV_EVENT_GID_CHANGE] = "gid_change",
    [IBV_EVENT_WQ_FATAL] = "wq_fatal",
};

static uint64_t rd(atomic_ullong *c)
{
	return atomic_load_explicit(c, memory_order_acquire);
}

/* ---- Counting ------------------------------------------------------------------------- */

void metrics_init(struct metrics *m, struct server *srv)
{
	m->srv = srv;
	pthread_mutex_init(&m->lock, NULL);
	LIST_INIT(&m->sessions);
}

static void observe(struct mx_histogram *h, uint64_t us)
{
	unsigned i = 0;

	while (i < MX_BUCKETS && (double)us > bucket_bounds[i] * 1e6)
		i++;
	mx_add(&h->bucket[i], 1);
	mx_add(&h->sum_us, us);
}

enum setup_end setup_end_of(const char *addr, int error, const char *reason)
{
	/* The listener's reasons (src/cm_listen.c, cm_conn.c, tls.c) are stable sentences; the
	 * errno tells the kind, the text the ends that share -EBUSY and -EPROTO. */
	if (!addr[0])
		return SETUP_ACCEPT;
	if (error == -EBUSY) {
		if (strstr(reason, "server full"))
			return SETUP_SERVER_FULL;
		if (strstr(reason, "max_pending_per_addr"))
			return SETUP_PER_ADDR;
		if (strstr(reason, "early drop"))
			return SETUP_EARLY_DROP;
		if (strstr(reason, "lighter address"))
			return SETUP_EVICTED;
		return SETUP_POOL_FULL;
	}
	if (error == -ECONNREFUSED)
		return SETUP_REQUEST;
	if (!strncmp(reason, "TLS", 3))
		return strstr(reason, "certificate") ? SETUP_CERTIFICATE : SETUP_TLS;
	if (error == -ETIMEDOUT)
		return SETUP_DEADLINE;
	if (error == -EPROTO)
		return strstr(reason, "data-plane mode mismatch") ? SETUP_MODE_MISMATCH
								  : SETUP_PROTOCOL;
	if (error == -ECONNRESET)
		return SETUP_DISCONNECTED;
	if (error == -ENOMEM || error == -ENOBUFS || error == -EMFILE || error == -ENFILE ||
	    error == -ENODEV)
		return SETUP_RESOURCES;
	return SETUP_OTHER;
}

void metrics_on_failure(struct metrics *m, enum setup_end end)
{
	int refusal = -1, failure = MX_FAILED_OTHER;

	switch (end) {
	case SETUP_SERVER_FULL:
		refusal = MX_REFUSED_SERVER_FULL;
		break;
	case SETUP_PER_ADDR:
		refusal = MX_REFUSED_RATE_LIMITED;
		break;
	case SETUP_EARLY_DROP:
	case SETUP_EVICTED:
	case SETUP_POOL_FULL:
		refusal = MX_REFUSED_PREAUTH_DROP;
		break;
	case SETUP_REQUEST:
		refusal = MX_REFUSED_REQUEST;
		break;
	case SETUP_CERTIFICATE:
		refusal = MX_REFUSED_CERTIFICATE;
		break;
	case SETUP_TLS:
		failure = MX_FAILED_TLS;
		break;
	case SETUP_DEADLINE:
		failure = MX_FAILED_DEADLINE;
		break;
	case SETUP_PROTOCOL:
	case SETUP_MODE_MISMATCH:
		failure = MX_FAILED_PROTOCOL;
		break;
	case SETUP_DISCONNECTED:
		failure = MX_FAILED_DISCONNECTED;
		break;
	case SETUP_ACCEPT:
	case SETUP_RESOURCES:
		failure = MX_FAILED_RESOURCES;
		break;
	case SETUP_OTHER:
		break;
	}
	if (refusal >= 0)
		mx_add(&m->refused[refusal], 1);
	else
		mx_add(&m->failed[failure], 1);
}

static void list_add(struct metrics *m, struct mx_session *x)
{
	pthread_mutex_lock(&m->lock);
	LIST_INSERT_HEAD(&m->sessions, x, link);
	m->nsessions++;
	x->listed = 1;
	pthread_mutex_unlock(&m->lock);
}

static void list_del(struct metrics *m, struct mx_session *x)
{
	pthread_mutex_lock(&m->lock);
	if (x->listed) {
		LIST_REMOVE(x, link);
		x->listed = 0;
		m->nsessions--;
	}
	pthread_mutex_unlock(&m->lock);
}

void metrics_session_open(struct session *s)
{
	struct metrics *m = &s->srv->mx;
	struct mx_session *x = &s->mx;
	const struct srdma_peer *peer = srdma_conn_peer(s->conn);
	struct srdma_conn_info info;

	srdma_conn_info(s->conn, &info);
	x->id = s->id;
	snprintf(x->peer, sizeof(x->peer), "%s", peer->addr);
	x->verified = peer->verified;
	snprintf(x->identity, sizeof(x->identity), "%s", peer->verified ? peer->subject : "");
	x->dataplane = (int)info.dataplane;
	x->start_ns = server_now_ns();
	x->end = -1;
	atomic_store(&x->worker, -1);
	observe(&m->setup, info.setup_us);
	observe(&m->steps[0], info.tls_us);
	observe(&m->steps[1], info.open_us);
	observe(&m->steps[2], info.qp_us);
	observe(&m->steps[3], info.ready_us);
	list_add(m, x);
}

void metrics_session_start(struct session *s)
{
	atomic_store(&s->mx.worker, (int)s->w->id);
	mx_add(&s->w->mx.sessions, 1);
}

void metrics_session_close(struct session *s, const char *why)
{
	struct metrics *m = &s->srv->mx;
	int end = s->mx.end;

	if (end < 0) {
		/* Without a recorded error: a quit, the peer's close (no notice), a failure the
		 * session reported (a notice), or the shutdown. */
		if (s->bye)
			end = MX_END_QUIT;
		else if (!why)
			end = MX_END_DISCONNECTED;
		else if (!strcmp(why, "server shutting down"))
			end = MX_END_SHUTDOWN;
		else
			end = MX_END_ERROR;
	}
	atomic_fetch_add(&m->ended[end], 1);
	list_del(m, &s->mx);
}

void metrics_conn_error(struct session *s, int ret)
{
	struct metrics *m = &s->srv->mx;

	switch (ret) {
	case -ECONNRESET:
		s->mx.end = MX_END_DISCONNECTED;
		break;
	case -ETIMEDOUT:
		s->mx.end = MX_END_HEARTBEAT;
		break;
	case -EBADMSG:
		s->mx.end = MX_END_AUTH_FAILURE;
		atomic_fetch_add(&m->auth_failures, 1);
		break;
	case -EIO:
	case -EPIPE:
		s->mx.end = MX_END_QP_ERROR;
		atomic_fetch_add(&m->qp_errors, 1);
		break;
	default:
		s->mx.end = MX_END_ERROR;
		break;
	}
}

void metrics_throttled(struct session *s)
{
	atomic_store_explicit(&s->mx.throttled_until_ns, s->throttle_until_ns,
			      memory_order_relaxed);
	atomic_fetch_add(&s->srv->mx.throttled, 1);
}

/* The worker's counter first, the session's after (release): a reader that takes the
 * sessions first (acquire) and the workers after never sees a session ahead of its worker. */
void metrics_msg_in(struct session *s, size_t len)
{
	mx_add(&s->w->mx.msgs_in, 1);
	mx_add(&s->w->mx.bytes_in, len);
	mx_add(&s->mx.msgs_in, 1);
	mx_add(&s->mx.bytes_in, len);
}

void metrics_msg_out(struct session *s, size_t len)
{
	mx_add(&s->w->mx.msgs_out, 1);
	mx_add(&s->w->mx.bytes_out, len);
	mx_add(&s->mx.msgs_out, 1);
	mx_add(&s->mx.bytes_out, len);
}

void metrics_worker_busy(struct worker *w, uint64_t ns)
{
	mx_add(&w->mx.busy_ns, ns);
}

/* ---- Snapshots -------------------------------------------------------------------------- */

struct snap_session {
	uint64_t id, start_ns, throttled_until_ns;
	uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
	int worker, verified, dataplane;
	char peer[64];
	char identity[256];
};

struct snap_worker {
	uint64_t busy_ns, msgs_in, msgs_out, bytes_in, bytes_out, adopted;
	unsigned sessions;
};

struct snap {
	uint64_t now_ns;
	struct snap_session *s;
	unsigned ns;
	struct snap_worker *w;
	unsigned nw;
	/* Totals of the workers' counters: every message of every session, live or gone. */
	uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
	unsigned queued, active, throttled, setup;
};

static const char *session_state(const struct snap *sn, const struct snap_session *x)
{
	if (x->worker < 0)
		return "queued";
	return x->throttled_until_ns > sn->now_ns ? "throttled" : "active";
}

/* Sessions first, under the table's lock; the workers' counters after (see metrics_msg_in). */
static int take_snap(struct metrics *m, struct snap *sn)
{
	struct server *srv = m->srv;
	struct mx_session *x;
	unsigned i, live;

	memset(sn, 0, sizeof(*sn));
	pthread_mutex_lock(&m->lock);
	sn->now_ns = server_now_ns();
	sn->s = calloc(m->nsessions ? m->nsessions : 1, sizeof(*sn->s));
	if (!sn->s) {
		pthread_mutex_unlock(&m->lock);
		return -ENOMEM;
	}
	for (x = LIST_FIRST(&m->sessions); x; x = LIST_NEXT(x, link), sn->ns++) {
		struct snap_session *o = &sn->s[sn->ns];

		o->id = x->id;
		o->start_ns = x->start_ns;
		o->worker = atomic_load(&x->worker);
		o->msgs_in = rd(&x->msgs_in);
		o->msgs_out = rd(&x->msgs_out);
		o->bytes_in = rd(&x->bytes_in);
		o->bytes_out = rd(&x->bytes_out);
		o->throttled_until_ns = rd(&x->throttled_until_ns);
		o->verified = x->verified;
		o->dataplane = x->dataplane;
		memcpy(o->peer, x->peer, sizeof(o->peer));
		memcpy(o->identity, x->identity, sizeof(o->identity));
	}
	pthread_mutex_unlock(&m->lock);

	sn->nw = m->nworkers;
	sn->w = calloc(sn->nw ? sn->nw : 1, sizeof(*sn->w));
	if (!sn->w) {
		free(sn->s);
		return -ENOMEM;
	}
	for (i = 0; i < sn->nw; i++) {
		struct worker *w = &srv->workers[i];
		struct snap_worker *o = &sn->w[i];

		o->busy_ns = rd(&w->mx.busy_ns);
		o->msgs_in = rd(&w->mx.msgs_in);
		o->msgs_out = rd(&w->mx.msgs_out);
		o->bytes_in = rd(&w->mx.bytes_in);
		o->bytes_out = rd(&w->mx.bytes_out);
		o->adopted = rd(&w->mx.sessions);
		o->sessions = atomic_load(&w->nsessions);
		sn->msgs_in += o->msgs_in;
		sn->msgs_out += o->msgs_out;
		sn->bytes_in += o->bytes_in;
		sn->bytes_out += o->bytes_out;
	}
	for (i = 0; i < sn->ns; i++) {
		const char *st = session_state(sn, &sn->s[i]);

		if (!strcmp(st, "queued"))
			sn->queued++;
		else if (!strcmp(st, "throttled"))
			sn->throttled++;
		else
			sn->active++;
	}
	/* Connections of the context past the request callback and not yet handed over: the
	 * OPEN, QP and READY steps. */
	live = srdma_ctx_conns(srv->ctx);
	sn->setup = live > sn->ns ? live - sn->ns : 0;
	return 0;
}

static void free_snap(struct snap *sn)
{
	free(sn->s);
	free(sn->w);
}

/* ---- /metrics ------------------------------------------------------------------------------ */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(FILE *f, const char *name, const char *labels, struct mx_histogram *h)
{
	uint64_t cum = 0;
	unsigned i;

	for (i = 0; i <= MX_BUCKETS; i++) {
		cum += rd(&h->bucket[i]);
		if (i < MX_BUCKETS)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
				labels[0] ? "," : "", bucket_bounds[i], (unsigned long long)cum);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
				labels[0] ? "," : "", (unsigned long long)cum);
	}
	fprintf(f, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
		(double)rd(&h->sum_us) / 1e6);
	fprintf(f, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", (unsigned long long)cum);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* The port's hardware counters (rxe and NICs: out_of_seq_request, duplicate_request,
 * rcvd_seq_err, ...), one family each. */
static void port_counters(struct metrics *m, FILE *f)
{
	struct dirent **names;
	char path[768], metric[160], help[256], buf[64];
	int n, i;

	if (!m->hw_dir[0])
		return;
	n = scandir(m->hw_dir, &names, NULL, by_name);
	if (n < 0)
		return;
	for (i = 0; i < n; i++) {
		const char *d = names[i]->d_name;
		unsigned long long v;
		size_t k, len;
		char *end;
		FILE *cf;

		/* lifespan is a setting (the counters' refresh period), not a counter. */
		if (d[0] == '.' || !strcmp(d, "lifespan"))
			goto next;
		snprintf(path, sizeof(path), "%s/%s", m->hw_dir, d);
		cf = fopen(path, "r");
		if (!cf)
			goto next;
		if (!fgets(buf, sizeof(buf), cf)) {
			fclose(cf);
			goto next;
		}
		fclose(cf);
		errno = 0;
		v = strtoull(buf, &end, 10);
		if (errno || end == buf)
			goto next;
		len = (size_t)snprintf(metric, sizeof(metric), "srdma_port_%s", d);
		if (len >= sizeof(metric) - 7)
			goto next;
		for (k = strlen("srdma_port_"); k < len; k++)
			if (!((metric[k] >= 'a' && metric[k] <= 'z') ||
			      (metric[k] >= '0' && metric[k] <= '9')))
				metric[k] = metric[k] >= 'A' && metric[k] <= 'Z'
						? (char)(metric[k] - 'A' + 'a')
						: '_';
		if (len < 6 || strcmp(metric + len - 6, "_total"))
			strcat(metric, "_total");
		snprintf(help, sizeof(help), "RDMA port hardware counter %.100s (hw_counters).", d);
		family(f, metric, "counter", help);
		fprintf(f, "%s{device=\"%s\",port=\"%u\"} %llu\n", metric, m->device, m->port, v);
	next:
		free(names[i]);
	}
	free(names);
}

static char *render_metrics(struct metrics *m, size_t *len)
{
	struct server *srv = m->srv;
	const char *mode = srdma_dp_mode_name((enum srdma_dp_mode)srv->cfg.dataplane);
	struct snap sn;
	char *buf = NULL, labels[64];
	FILE *f;
	unsigned i;

	if (take_snap(m, &sn))
		return NULL;
	f = open_memstream(&buf, len);
	if (!f) {
		free_snap(&sn);
		return NULL;
	}
	family(f, "srdma_build_info", "gauge", "The server's version.");
	fprintf(f, "srdma_build_info{version=\"%s\"} 1\n", srdma_version());

	family(f, "srdma_sessions_active", "gauge", "Established sessions alive.");
	fprintf(f, "srdma_sessions_active %u\n", sn.ns);
	family(f, "srdma_sessions_max", "gauge", "Sessions served at once at most (max_clients).");
	fprintf(f, "srdma_sessions_max %u\n",
		__atomic_load_n(&srv->cfg.max_clients, __ATOMIC_RELAXED));
	family(f, "srdma_sessions", "gauge",
	       "Sessions by state: setup (accepted, RDMA set-up in progress), queued (established, "
	       "not yet taken by a worker), active, throttled (held by max_msg_rate).");
	fprintf(f, "srdma_sessions{state=\"setup\"} %u\n", sn.setup);
	fprintf(f, "srdma_sessions{state=\"queued\"} %u\n", sn.queued);
	fprintf(f, "srdma_sessions{state=\"active\"} %u\n", sn.active);
	fprintf(f, "srdma_sessions{state=\"throttled\"} %u\n", sn.throttled);

	family(f, "srdma_connections_accepted_total", "counter",
	       "Connections established and handed to a worker.");
	fprintf(f, "srdma_connections_accepted_total %llu\n",
		(unsigned long long)atomic_load(&srv->n.accepted));
	family(f, "srdma_connections_refused_total", "counter",
	       "Connections the server refused, by reason.");
	for (i = 0; i < MX_NREFUSALS; i++)
		fprintf(f, "srdma_connections_refused_total{reason=\"%s\"} %llu\n",
			refusal_names[i], (unsigned long long)rd(&m->refused[i]));
	family(f, "srdma_connections_failed_total", "counter",
	       "Connections whose handshake or set-up failed, by reason.");
	for (i = 0; i < MX_NFAILURES; i++)
		fprintf(f, "srdma_connections_failed_total{reason=\"%s\"} %llu\n", failure_names[i],
			(unsigned long long)rd(&m->failed[i]));
	family(f, "srdma_sessions_closed_total", "counter", "Sessions ended, by reason.");
	for (i = 0; i < MX_NENDS; i++)
		fprintf(f, "srdma_sessions_closed_total{reason=\"%s\"} %llu\n", end_names[i],
			(unsigned long long)rd(&m->ended[i]));

	family(f, "srdma_setup_duration_seconds", "histogram",
	       "Connection set-up, from the TCP accept to established.");
	histogram(f, "srdma_setup_duration_seconds", "", &m->setup);
	family(f, "srdma_setup_step_duration_seconds", "histogram",
	       "Connection set-up by step: the TLS handshake, the OPEN exchange (the request "
	       "decision, PD, CQs, QPs), the QP frames and moves to RTS, the READY exchange.");
	for (i = 0; i < 4; i++) {
		snprintf(labels, sizeof(labels), "step=\"%s\"", step_names[i]);
		histogram(f, "srdma_setup_step_duration_seconds", labels, &m->steps[i]);
	}

	family(f, "srdma_messages_total", "counter",
	       "Data-plane messages taken (in) and posted (out), by data-plane mode.");
	fprintf(f, "srdma_messages_total{direction=\"in\",mode=\"%s\"} %llu\n", mode,
		(unsigned long long)sn.msgs_in);
	fprintf(f, "srdma_messages_total{direction=\"out\",mode=\"%s\"} %llu\n", mode,
		(unsigned long long)sn.msgs_out);
	family(f, "srdma_message_bytes_total", "counter",
	       "Bytes of data-plane message payloads, by direction and data-plane mode.");
	fprintf(f, "srdma_message_bytes_total{direction=\"in\",mode=\"%s\"} %llu\n", mode,
		(unsigned long long)sn.bytes_in);
	fprintf(f, "srdma_message_bytes_total{direction=\"out\",mode=\"%s\"} %llu\n", mode,
		(unsigned long long)sn.bytes_out);
	family(f, "srdma_message_auth_failures_total", "counter",
	       "Sealed messages that failed authentication or the sequence check (forged, "
	       "altered, replayed, reordered or lost); each ends its session.");
	fprintf(f, "srdma_message_auth_failures_total %llu\n",
		(unsigned long long)rd(&m->auth_failures));
	family(f, "srdma_messages_throttled_total", "counter",
	       "Messages held back by max_msg_rate.");
	fprintf(f, "srdma_messages_throttled_total %llu\n", (unsigned long long)rd(&m->throttled));
	family(f, "srdma_qp_errors_total", "counter",
	       "Sessions ended by a failed completion or a queue pair in the error state.");
	fprintf(f, "srdma_qp_errors_total %llu\n", (unsigned long long)rd(&m->qp_errors));
	family(f, "srdma_async_events_total", "counter",
	       "Asynchronous events of the RDMA device (ibv_get_async_event), by type.");
	for (i = 0; i < MX_ASYNC_EVENTS; i++)
		if (async_names[i])
			fprintf(f, "srdma_async_events_total{event=\"%s\"} %llu\n", async_names[i],
				(unsigned long long)rd(&m->async_events[i]));
	fprintf(f, "srdma_async_events_total{event=\"other\"} %llu\n",
		(unsigned long long)rd(&m->async_other));

	family(f, "srdma_rdma_resources", "gauge",
	       "RDMA objects the sessions hold: protection domains, completion queues, queue "
	       "pairs, memory regions.");
	fprintf(f, "srdma_rdma_resources{kind=\"pd\"} %ld\n", atomic_load(&srv->n.pd));
	fprintf(f, "srdma_rdma_resources{kind=\"cq\"} %ld\n", atomic_load(&srv->n.cq));
	fprintf(f, "srdma_rdma_resources{kind=\"qp\"} %ld\n", atomic_load(&srv->n.qp));
	fprintf(f, "srdma_rdma_resources{kind=\"mr\"} %ld\n", atomic_load(&srv->n.mr));

	family(f, "srdma_worker_sessions", "gauge", "Sessions each worker serves.");
	for (i = 0; i < sn.nw; i++)
		fprintf(f, "srdma_worker_sessions{worker=\"%u\"} %u\n", i, sn.w[i].sessions);
	family(f, "srdma_worker_sessions_adopted_total", "counter",
	       "Sessions each worker has taken on.");
	for (i = 0; i < sn.nw; i++)
		fprintf(f, "srdma_worker_sessions_adopted_total{worker=\"%u\"} %llu\n", i,
			(unsigned long long)sn.w[i].adopted);
	family(f, "srdma_worker_busy_seconds_total", "counter",
	       "Time each worker spent handling events rather than waiting for them.");
	for (i = 0; i < sn.nw; i++)
		fprintf(f, "srdma_worker_busy_seconds_total{worker=\"%u\"} %.6f\n", i,
			(double)sn.w[i].busy_ns / 1e9);
	family(f, "srdma_worker_messages_total", "counter",
	       "Data-plane messages each worker handled, by direction.");
	for (i = 0; i < sn.nw; i++) {
		fprintf(f, "srdma_worker_messages_total{worker=\"%u\",direction=\"in\"} %llu\n", i,
			(unsigned long long)sn.w[i].msgs_in);
		fprintf(f, "srdma_worker_messages_total{worker=\"%u\",direction=\"out\"} %llu\n", i,
			(unsigned long long)sn.w[i].msgs_out);
	}
	port_counters(m, f);
	free_snap(&sn);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- /stats ---------------------------------------------------------------------------------- */

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static json_object *reasons(atomic_ullong *c, const char *const *names, unsigned n)
{
	json_object *o = json_object_new_object();
	unsigned i;

	for (i = 0; i < n; i++)
		add_u64(o, names[i], rd(&c[i]));
	return o;
}

static char *render_stats(struct metrics *m, size_t *len)
{
	struct server *srv = m->srv;
	json_object *root, *sessions, *totals, *o;
	struct snap sn;
	const char *text;
	char *buf;
	unsigned i;

	if (take_snap(m, &sn))
		return NULL;
	root = json_object_new_object();
	sessions = json_object_new_array();
	for (i = 0; i < sn.ns; i++) {
		const struct snap_session *x = &sn.s[i];

		o = json_object_new_object();
		add_u64(o, "id", x->id);
		json_object_object_add(o, "peer", json_object_new_string(x->peer));
		json_object_object_add(o, "identity",
				       x->verified ? json_object_new_string(x->identity) : NULL);
		json_object_object_add(o, "state", json_object_new_string(session_state(&sn, x)));
		json_object_object_add(
		    o, "age_seconds",
		    json_object_new_double((double)(sn.now_ns - x->start_ns) / 1e9));
		json_object_object_add(o, "worker",
				       x->worker < 0 ? NULL : json_object_new_int(x->worker));
		json_object_object_add(
		    o, "dataplane",
		    json_object_new_string(srdma_dp_mode_name((enum srdma_dp_mode)x->dataplane)));
		add_u64(o, "messages_in", x->msgs_in);
		add_u64(o, "messages_out", x->msgs_out);
		add_u64(o, "bytes_in", x->bytes_in);
		add_u64(o, "bytes_out", x->bytes_out);
		json_object_array_add(sessions, o);
	}
	totals = json_object_new_object();
	add_u64(totals, "sessions_active", sn.ns);
	add_u64(totals, "sessions_max", __atomic_load_n(&srv->cfg.max_clients, __ATOMIC_RELAXED));
	add_u64(totals, "sessions_setup", sn.setup);
	add_u64(totals, "connections_accepted", atomic_load(&srv->n.accepted));
	json_object_object_add(totals, "connections_refused",
			       reasons(m->refused, refusal_names, MX_NREFUSALS));
	json_object_object_add(totals, "connections_failed",
			       reasons(m->failed, failure_names, MX_NFAILURES));
	json_object_object_add(totals, "sessions_closed", reasons(m->ended, end_names, MX_NENDS));
	add_u64(totals, "messages_in", sn.msgs_in);
	add_u64(totals, "messages_out", sn.msgs_out);
	add_u64(totals, "bytes_in", sn.bytes_in);
	add_u64(totals, "bytes_out", sn.bytes_out);
	add_u64(totals, "message_auth_failures", rd(&m->auth_failures));
	add_u64(totals, "qp_errors", rd(&m->qp_errors));
	json_object_object_add(root, "version", json_object_new_string(srdma_version()));
	json_object_object_add(
	    root, "dataplane",
	    json_object_new_string(srdma_dp_mode_name((enum srdma_dp_mode)srv->cfg.dataplane)));
	add_u64(root, "workers", sn.nw);
	json_object_object_add(root, "totals", totals);
	json_object_object_add(root, "sessions", sessions);
	free_snap(&sn);

	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	*len = strlen(text) + 1;
	buf = malloc(*len);
	if (buf) {
		memcpy(buf, text, *len - 1);
		buf[*len - 1] = '\n';
	}
	json_object_put(root);
	return buf;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

/* metrics_client_ca: MHD asks for a client certificate (GNUTLS_CERT_REQUEST); it must be
 * there and verify against the CA (chain, validity dates). */
static const char *client_refused(struct metrics *m, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	unsigned status = 0;
	int ret;

	if (!m->client_certs)
		return NULL;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return "no TLS session";
	ret = gnutls_certificate_verify_peers2((gnutls_session_t)ci->tls_session, &status);
	if (ret == GNUTLS_E_NO_CERTIFICATE_FOUND)
		return "no client certificate";
	if (ret < 0)
		return "client certificate not verified";
	if (status)
		return "client certificate not verified (unknown issuer, expired or revoked)";
	return NULL;
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = sa->sa_family == AF_INET6
			    ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
			    : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct metrics *m = cls;
	const char *why;
	char *body;
	size_t len = 0;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
	why = client_refused(m, conn);
	if (why) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char addr[64] = "?";

		if (ci && ci->client_addr)
			addr_text(ci->client_addr, addr, sizeof(addr));
		srdma_warn("metrics: request from %s refused: %s", addr, why);
		return reply_text(conn, MHD_HTTP_FORBIDDEN, "a client certificate is required\n");
	}
	if (!strcmp(url, "/metrics")) {
		body = render_metrics(m, &len);
		if (!body)
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body,
			     len);
	}
	if (!strcmp(url, "/stats")) {
		body = render_stats(m, &len);
		if (!body)
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return reply(conn, MHD_HTTP_OK, "application/json", body, len);
	}
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /stats\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	srdma_warn("metrics: %s", msg);
}

static char *read_pem(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: cannot open %s: %s", what, path, strerror(errno));
		return NULL;
	}
	buf = malloc(MX_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", what);
		return NULL;
	}
	n = fread(buf, 1, MX_FILE_MAX + 1, f);
	if (ferror(f) || n == 0 || n > MX_FILE_MAX || !strstr(buf, "-----BEGIN")) {
		snprintf(err, errlen, "%s: %s is %s", what, path,
			 ferror(f)	   ? "unreadable"
			 : n > MX_FILE_MAX ? "too large"
					   : "not PEM");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* ---- The device's asynchronous events ----------------------------------------------------- */

void metrics_async_event(struct metrics *m, enum ibv_event_type type)
{
	if ((unsigned)type < MX_ASYNC_EVENTS && async_names[type])
		atomic_fetch_add(&m->async_events[type], 1);
	else
		atomic_fetch_add(&m->async_other, 1);
}

int metrics_start(struct metrics *m, char *err, size_t errlen)
{
	const struct srdma_server_config *cfg = &m->srv->cfg;
	struct ibv_context *vctx = srdma_ctx_verbs(m->srv->ctx);
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	int ret;

	if (!cfg->metrics_listen[0])
		return 0;
	m->nworkers = m->srv->nworkers;
	ret = srdma_listen_addr_parse("metrics_listen", cfg->metrics_listen, &ss, &sslen, err,
				      errlen);
	if (ret)
		return ret;
	if (vctx) {
		snprintf(m->device, sizeof(m->device), "%s", ibv_get_device_name(vctx->device));
		m->port = cfg->ib_port;
		snprintf(m->hw_dir, sizeof(m->hw_dir),
			 "/sys/class/infiniband/%s/ports/%u/hw_counters", m->device, m->port);
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->metrics_cert[0]) {
		flags |= MHD_USE_TLS;
		m->tls_cert = read_pem("metrics_cert", cfg->metrics_cert, err, errlen);
		if (!m->tls_cert)
			return -EINVAL;
		m->tls_key = read_pem("metrics_key", cfg->metrics_key, err, errlen);
		if (!m->tls_key)
			return -EINVAL;
	}
	if (cfg->metrics_client_ca[0]) {
		m->tls_ca = read_pem("metrics_client_ca", cfg->metrics_client_ca, err, errlen);
		if (!m->tls_ca)
			return -EINVAL;
		m->client_certs = 1;
	}
	/* Options that do not apply (no TLS) end the list early: MHD_OPTION_END first. */
	m->httpd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)MX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MX_TIMEOUT_S,
	    m->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, m->tls_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, m->tls_key, MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
	    m->tls_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, m->tls_ca, MHD_OPTION_END);
	if (!m->httpd) {
		snprintf(err, errlen,
			 "metrics_listen: cannot serve metrics on %s (address in use, not local, "
			 "or the TLS files are unusable: see the message above)",
			 cfg->metrics_listen);
		return -EADDRNOTAVAIL;
	}
	srdma_info("metrics and statistics at %s://%s/metrics and /stats%s",
		   m->tls_cert ? "https" : "http", cfg->metrics_listen,
		   m->client_certs ? ", client certificates required" : "");
	return 0;
}

void metrics_destroy(struct metrics *m)
{
	if (!m->srv)
		return;
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	m->httpd = NULL;
	free(m->tls_cert);
	free(m->tls_key);
	free(m->tls_ca);
	m->tls_cert = m->tls_key = m->tls_ca = NULL;
	pthread_mutex_destroy(&m->lock);
	m->srv = NULL;
}
