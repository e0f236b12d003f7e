/* srdma-srq-pd-probe: against which protection domain does the device check the lkey of a
 * receive taken from a shared receive queue, the SRQ's or the consuming QP's? (BENCHMARKS.md,
 * "Limits for many connections".)
 *
 *   srdma-srq-pd-probe [DEVICE [GID_INDEX]]     (default: the first device, GID index 1)
 *
 * Three trials, each with two fresh PDs A and B: a receiving RC QP attached to an SRQ, and a
 * sending RC QP in B, connected to each other on port 1 of the device; one 6-byte SEND. The
 * trials differ in where the SRQ, its receive buffer's MR and the receiving QP live:
 *   A, A, A     everything in one PD (the control: must work)
 *   A, A, B     the SRQ and its buffer in A, the QP in B
 *   A, B, B     the SRQ in A, its buffer and the QP in B
 * Prints each trial's completion statuses and whether the payload arrived; exit status 0 if
 * the control worked, 1 otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

static struct ibv_context *dev;
static int gid_index = 1;

static int to_rts(struct ibv_qp *q, uint32_t dest, const union ibv_gid *gid)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	if (ibv_modify_qp(q, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dest;
	a.rq_psn = 1000;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *gid;
	a.ah_attr.grh.sgid_index = (uint8_t)gid_index;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(q, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			      IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 3;
	a.rnr_retry = 1;
	a.sq_psn = 1000;
	a.max_rd_atomic = 1;
	return ibv_modify_qp(q, &a,
			     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				 IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC)
		   ? -1
		   : 0;
}

/* One trial; 1 if the payload arrived with both completions successful. */
static int trial(const char *name, int srq_in_a, int mr_in_a, int qp_in_a)
{
	static char rbuf[4096], sbuf[4096];
	struct ibv_pd *a = ibv_alloc_pd(dev), *b = ibv_alloc_pd(dev);
	struct ibv_cq *cq = ibv_create_cq(dev, 16, NULL, NULL, 0);
	struct ibv_srq_init_attr sa = {.attr = {.max_wr = 4, .max_sge = 1}};
	struct ibv_qp_init_attr qa = {.qp_type = IBV_QPT_RC};
	struct ibv_srq *srq = NULL;
	struct ibv_mr *rmr = NULL, *smr = NULL;
	struct ibv_qp *rq = NULL, *sq = NULL;
	struct ibv_recv_wr rw, *bad_r;
	struct ibv_send_wr sw, *bad_s;
	struct ibv_sge rg, sg;
	struct ibv_wc wc[2];
	union ibv_gid gid;
	char status[160] = "";
	int got = 0, ok = 1, n;
	time_t until;

	memset(rbuf, 0, sizeof(rbuf));
	snprintf(sbuf, sizeof(sbuf), "hello");
	if (!a || !b || !cq)
		goto setup;
	srq = ibv_create_srq(srq_in_a ? a : b, &sa);
	rmr = ibv_reg_mr(mr_in_a ? a : b, rbuf, sizeof(rbuf), IBV_ACCESS_LOCAL_WRITE);
	smr = ibv_reg_mr(b, sbuf, sizeof(sbuf), 0);
	qa.send_cq = qa.recv_cq = cq;
	qa.cap.max_send_wr = 4;
	qa.cap.max_send_sge = 1;
	qa.srq = srq;
	if (srq)
		rq = ibv_create_qp(qp_in_a ? a : b, &qa);
	qa.srq = NULL;
	qa.cap.max_recv_wr = 4;
	qa.cap.max_recv_sge = 1;
	sq = ibv_create_qp(b, &qa);
	if (!srq || !rmr || !smr || !rq || !sq || ibv_query_gid(dev, 1, gid_index, &gid) ||
	    to_rts(rq, sq->qp_num, &gid) || to_rts(sq, rq->qp_num, &gid))
		goto setup;
	rg = (struct ibv_sge){(uintptr_t)rbuf, sizeof(rbuf), rmr->lkey};
	rw = (struct ibv_recv_wr){.wr_id = 1, .sg_list = &rg, .num_sge = 1};
	sg = (struct ibv_sge){(uintptr_t)sbuf, 6, smr->lkey};
	sw = (struct ibv_send_wr){.wr_id = 2,
				  .sg_list = &sg,
				  .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED};
	if (ibv_post_srq_recv(srq, &rw, &bad_r) || ibv_post_send(sq, &sw, &bad_s))
		goto setup;
	until = time(NULL) + 10;
	while (got < 2 && time(NULL) < until) {
		n = ibv_poll_cq(cq, 2, wc);
		for (int i = 0; i < n; i++, got++) {
			size_t len = strlen(status);

			snprintf(status + len, sizeof(status) - len, " %s %s",
				 wc[i].wr_id == 1 ? "receive" : "send",
				 ibv_wc_status_str(wc[i].status));
			if (wc[i].status != IBV_WC_SUCCESS)
				ok = 0;
		}
	}
	ok = ok && got == 2 && !strcmp(rbuf, "hello");
	printf("%-40s %s:%s%s\n", name, ok ? "arrived" : "did not arrive", status,
	       got < 2 ? " (completions missing after 10 s)" : "");
	goto out;
setup:
	printf("%-40s set-up failed\n", name);
	ok = 0;
out:
	if (rq)
		ibv_destroy_qp(rq);
	if (sq)
		ibv_destroy_qp(sq);
	if (srq)
		ibv_destroy_srq(srq);
	if (rmr)
		ibv_dereg_mr(rmr);
	if (smr)
		ibv_dereg_mr(smr);
	if (cq)
		ibv_destroy_cq(cq);
	if (a)
		ibv_dealloc_pd(a);
	if (b)
		ibv_dealloc_pd(b);
	return ok;
}

int main(int argc, char **argv)
{
	struct ibv_device **list;
	int n, i, control;

	list = ibv_get_device_list(&n);
	if (!list || !n) {
		fprintf(stderr, "srdma-srq-pd-probe: no RDMA device\n");
		return 1;
	}
	for (i = 0; argc > 1 && i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), argv[1]))
			break;
	if (i == n) {
		fprintf(stderr, "srdma-srq-pd-probe: no device %s\n", argv[1]);
		return 1;
	}
	if (argc > 2)
		gid_index = atoi(argv[2]);
	dev = ibv_open_device(list[argc > 1 ? i : 0]);
	ibv_free_device_list(list);
	if (!dev) {
		fprintf(stderr, "srdma-srq-pd-probe: cannot open the device\n");
		return 1;
	}
	printf("device %s, GID index %d; SRQ PD, receive MR PD, receiving QP PD:\n",
	       ibv_get_device_name(dev->device), gid_index);
	control = trial("A, A, A (one PD: the control)", 1, 1, 1);
	trial("A, A, B (SRQ and buffer in A, QP in B)", 1, 1, 0);
	trial("A, B, B (SRQ in A, buffer and QP in B)", 1, 0, 0);
	ibv_close_device(dev);
	return control ? 0 : 1;
}
