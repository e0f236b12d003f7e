/* What the files of the client session share: the session itself and the helpers that move
 * messages over its QP. client.c sets the session up, watches the control channel and owns
 * the completion and message plumbing; client_ops.c holds the requests a connected session
 * makes (echoes, writes, pushes, ping, quit). */
#ifndef SRDMA_CLIENT_INTERNAL_H
#define SRDMA_CLIENT_INTERNAL_H

#include <stdint.h>

#include <srdma/chan.h>
#include <srdma/client.h>
#include <srdma/dataplane.h>
#include <srdma/tls.h>
#include <srdma/verbs.h>

/* Received messages not yet taken by the caller: completions of receives reaped while waiting
 * for something else (a send slot, a write), kept in arrival order. At most recv_depth. */
struct rx_queue {
	struct ibv_wc *wc;
	unsigned head, len, cap;
};

struct srdma_client {
	struct srdma_client_config cfg;
	struct srdma_tls_ctx *tls_ctx;
	struct srdma_tls *tls;
	struct srdma_chan chan;
	struct srdma_dev *dev;
	struct srdma_cq *cq;
	struct srdma_ep *ep;
	struct srdma_params remote;
	struct srdma_dataplane dp;
	unsigned sends_inflight;
	unsigned writes_inflight;
	unsigned staged; /* messages encoded into send slots, not yet posted */
	unsigned staged_slot[SRDMA_POST_LIST_MAX];
	uint32_t staged_len[SRDMA_POST_LIST_MAX];
	uint64_t spin_ns; /* current busy-poll budget, adapted by next_wc() */
	struct rx_queue rxq;
	int armed;
	int ctrl_lost; /* error seen on the control channel, reported once the CQ is drained */
	uint64_t deadline_ns;
	uint64_t next_token;
	struct srdma_client_info info;
	struct srdma_client_timing timing;
	uint64_t lap_ns; /* when the last timed set-up step ended */
	char errmsg[256];
};

uint64_t srdma__client_now_ns(void);
/* Record the session's error message; returns ret. */
int srdma__client_fail(struct srdma_client *cl, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Start the deadline of the next wait: cfg.timeout_ms from now. */
void srdma__client_arm_deadline(struct srdma_client *cl);
/* Take and account for the next completion (a send, a write, or a message queued). */
int srdma__client_reap(struct srdma_client *cl);
/* Encode and seal m into the next send slot, posted with the next batch; and the same, posted
 * now. */
int srdma__client_stage(struct srdma_client *cl, struct srdma_msg *m);
int srdma__client_send(struct srdma_client *cl, struct srdma_msg *m);
/* The next message from the server (staged sends are posted first); release *slot with
 * srdma__client_repost. expect: the same, which must be of type want. */
int srdma__client_wait_msg(struct srdma_client *cl, struct srdma_msg *m, unsigned *slot);
int srdma__client_expect(struct srdma_client *cl, enum srdma_msg_type want, struct srdma_msg *m,
			 unsigned *slot);
int srdma__client_repost(struct srdma_client *cl, unsigned slot);

#endif
