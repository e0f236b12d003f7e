/* srdma-hello: the smallest complete libsrdma program, both roles in one.
 *
 *   srdma-hello listen server.pem server.key
 *   srdma-hello connect ca.pem HOST
 *
 * QP 0 carries sealed messages, QP 1 is the application's own. The listener advertises a buffer
 * as region 1; the connector writes a greeting into it with one RDMA WRITE on QP 1, then sends
 * on QP 0 a region tag of the bytes it wrote. The listener checks the tag against the bytes it
 * finds and answers; both exit 0 only if they matched. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <srdma.h>

#define WAIT_MS 10000

static const char greeting[] = "Hello over secure RDMA!";
static char region[4096];

/* Drive the control channel until an event of type want arrives or, with want 0, until the
 * queued output (our advertisement) is written. */
static int drive(struct srdma_conn *c, int want, struct srdma_event *ev)
{
	for (;;) {
		int ret = srdma_conn_process(c, ev);
		if (ret < 0)
			return ret;
		if (ret == 1 && (int)ev->type == want)
			return 0;
		if (ret == 1)
			continue; /* another event; after PEER_CLOSED, process fails */
		struct pollfd p = {.fd = srdma_conn_fd(c), .events = srdma_conn_poll_events(c)};
		if (!want && !(p.events & POLLOUT))
			return 0;
		ret = poll(&p, 1, WAIT_MS);
		if (ret == 0 || (ret < 0 && errno != EINTR))
			return ret == 0 ? -ETIMEDOUT : -errno;
	}
}

static int report(struct srdma_conn *c, const char *what, int ret)
{
	if (ret < 0)
		fprintf(stderr, "srdma-hello: %s: %s %s\n", what, strerror(-ret),
			srdma_conn_errmsg(c));
	return ret;
}

/* Listener: a peer must ask for QP 0 messages and QP 1 raw; QP 1 lets it write our memory. */
static int on_request(void *arg, struct srdma_request *rq)
{
	(void)arg;
	if (rq->nqp != 2 || rq->driver[0] != SRDMA_QP_MESSAGES || rq->driver[1] != SRDMA_QP_RAW) {
		snprintf(rq->reason, sizeof(rq->reason), "want QP 0 messages, QP 1 raw");
		return -1;
	}
	rq->qp[1].remote_access = SRDMA_ACCESS_REMOTE_WRITE;
	return 0;
}

/* Listener: the peer's note on QP 0 is the tag of the greeting it wrote into region 1. */
static int serve(struct srdma_conn *c, struct ibv_mr *mr)
{
	uint8_t note[SRDMA_TAG_LEN], tag[SRDMA_TAG_LEN];
	uint32_t seq, len = sizeof(greeting) - 1;
	struct srdma_event ev;
	size_t n;
	int ret, ok;

	if ((ret = srdma_advertise(c, 1, mr, SRDMA_ACCESS_REMOTE_WRITE)) < 0 ||
	    (ret = drive(c, 0, &ev)) < 0)
		return report(c, "advertising region 1", ret);
	ret = srdma_msg_recv_wait(c, 0, note, sizeof(note), &n, &seq, 6 * WAIT_MS);
	if (ret < 0 || n != sizeof(note))
		return report(c, "receiving the note", ret < 0 ? ret : -EBADMSG);
	/* The tag of the bytes in our memory, with the sequence number of the carrying message. */
	if ((ret = srdma_tag(c, 0, 0, seq, 0, region, len, tag)) < 0)
		return report(c, "tagging the region", ret);
	ok = srdma_tag_equal(tag, note);
	printf("peer wrote \"%.*s\": %s\n", (int)len, region, ok ? "verified" : "NOT verified");
	if ((ret = srdma_msg_send_wait(c, 0, ok ? "verified" : "rejected", 8, WAIT_MS)) < 0)
		return report(c, "answering", ret);
	/* The peer closes first, so that our answer is not lost with our QP. */
	ret = drive(c, SRDMA_EV_PEER_CLOSED, &ev);
	if (ret < 0 && ret != -ECONNRESET)
		return report(c, "waiting for the peer to close", ret);
	return ok ? 0 : -EBADMSG;
}

/* Connector: one RDMA WRITE into the listener's region 1, then the note that proves it. */
static int greet(struct srdma_conn *c, struct ibv_mr *mr)
{
	uint32_t len = sizeof(greeting) - 1;
	struct ibv_sge sge = {.addr = (uintptr_t)region, .length = len, .lkey = mr->lkey};
	struct ibv_send_wr *bad, wr = {.sg_list = &sge,
				       .num_sge = 1,
				       .opcode = IBV_WR_RDMA_WRITE,
				       .send_flags = IBV_SEND_SIGNALED};
	uint8_t note[SRDMA_TAG_LEN];
	char answer[64];
	struct srdma_event ev;
	struct srdma_region r;
	struct ibv_wc wc;
	size_t n;
	int ret, i;

	if ((ret = drive(c, SRDMA_EV_REGION_ADDED, &ev)) < 0 ||
	    (ret = srdma_remote_region(c, 1, &r)) < 0)
		return report(c, "waiting for region 1", ret);
	if (!(r.access & SRDMA_ACCESS_REMOTE_WRITE) || r.len < len)
		return report(c, "region 1 does not take the greeting", -EPROTO);
	memcpy(region, greeting, len);
	wr.wr.rdma.remote_addr = r.addr;
	wr.wr.rdma.rkey = r.rkey;
	if ((ret = -ibv_post_send(srdma_conn_qp(c, 1), &wr, &bad)) < 0)
		return report(c, "posting the RDMA WRITE", ret);
	/* Busy-polled for brevity; srdma_conn_comp_channel() gives an fd to sleep on instead. */
	for (i = 0; (ret = ibv_poll_cq(srdma_conn_send_cq(c, 1), 1, &wc)) == 0 && i < WAIT_MS; i++)
		poll(NULL, 0, 1);
	if (ret != 1 || wc.status != IBV_WC_SUCCESS)
		return report(c, ret == 1 ? ibv_wc_status_str(wc.status) : "RDMA WRITE", -EIO);
	/* The bytes are in the peer's memory: tag them with the carrying message's number. */
	if ((ret = srdma_tag(c, 0, 1, srdma_msg_next_seq(c, 0), 0, region, len, note)) < 0 ||
	    (ret = srdma_msg_send_wait(c, 0, note, sizeof(note), WAIT_MS)) < 0 ||
	    (ret = srdma_msg_recv_wait(c, 0, answer, sizeof(answer), &n, NULL, WAIT_MS)) < 0)
		return report(c, "exchanging the note", ret);
	printf("listener says: %.*s\n", (int)n, answer);
	return n == 8 && !memcmp(answer, "verified", 8) ? 0 : -EBADMSG;
}

int main(int argc, char **argv)
{
	int listen = argc == 4 && !strcmp(argv[1], "listen");
	struct srdma_ctx_opts co;
	struct srdma_listen_opts lo;
	struct srdma_connect_opts cn;
	struct srdma_ctx *ctx = NULL;
	struct srdma_listener *l;
	struct srdma_conn *c;
	struct ibv_mr *mr;
	char err[256];
	int ret;

	if (!listen && !(argc == 4 && !strcmp(argv[1], "connect"))) {
		fprintf(stderr,
			"usage: srdma-hello listen CERT KEY | srdma-hello connect CA HOST\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* OpenSSL writes to sockets with write(2) */
	srdma_ctx_opts_init(&co);
	if (listen)
		co.cert = argv[2], co.key = argv[3];
	else
		co.ca = argv[2];
	if ((ret = srdma_ctx_create(&co, &ctx, err, sizeof(err))) < 0)
		goto error;
	if (listen) {
		srdma_listen_opts_init(&lo); /* port 4433 */
		lo.on_request = on_request;
		if ((ret = srdma_listen(ctx, &lo, &l, err, sizeof(err))) < 0)
			goto error;
		snprintf(err, sizeof(err), "accepting a connection");
		ret = srdma_accept(l, &c, -1);
		srdma_listener_close(l);
	} else {
		srdma_connect_opts_init(&cn);
		cn.host = argv[3];
		cn.nqp = 2;
		srdma_qp_opts_init(&cn.qp[0]);
		srdma_qp_opts_init(&cn.qp[1]); /* SRDMA_QP_RAW */
		cn.qp[0].driver = SRDMA_QP_MESSAGES;
		ret = srdma_connect(ctx, &cn, &c, err, sizeof(err));
	}
	if (ret < 0)
		goto error;
	/* The listener's region takes the peer's write; the connector's is only a source. */
	mr = ibv_reg_mr(srdma_conn_pd(c), region, sizeof(region),
			listen ? IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE : 0);
	ret = !mr ? report(c, "ibv_reg_mr", -errno) : listen ? serve(c, mr) : greet(c, mr);
	if (mr && ibv_dereg_mr(mr)) /* before srdma_conn_close */
		ret = report(c, "ibv_dereg_mr", -EBUSY);
	srdma_conn_close(c);
	srdma_ctx_destroy(ctx);
	return ret < 0;
error:
	fprintf(stderr, "srdma-hello: %s (%s)\n", err, strerror(-ret));
	srdma_ctx_destroy(ctx);
	return 1;
}
