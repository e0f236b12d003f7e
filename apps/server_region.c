/* The write region of a srdma-server session: made on the client's REGION request (a page
 * multiple, at most write_size), registered in the connection's PD for the client's RDMA WRITEs
 * only, advertised over TLS, and replaced by a larger one (the old one revoked) when asked. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "log.h"

#include "echo_proto.h"
#include "server.h"

static size_t page_size(void)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > 0 ? (size_t)page : 4096;
}

static void region_reply(struct session *s, uint32_t status, uint32_t len)
{
	struct echo_msg r = {.op = ECHO_OP_REGION_READY};

	r.u.region_ready.status = status;
	r.u.region_ready.length = status == ECHO_WRITE_OK ? len : 0;
	session_reply(s, echo_encode(&r, s->buf, s->cap));
}

/* Regions of at least this many bytes are made on the worker's region thread: allocating,
 * zeroing and pinning 64 MiB took a quarter to half a second under TCG, which the worker's
 * other sessions would otherwise wait out. Smaller ones cost less than the hand-off. Freeing a
 * region stays on the worker: for 64 MiB, deregistering took 0.4 to 1.8 ms and unmapping 1.6
 * to 2.8 ms under TCG (a hundredth of making it). */
#define REGION_OFFLOAD (1u << 20)

/* A region being made: by the worker itself, or on its region thread. */
struct region_job {
	struct session *s;
	struct ibv_pd *pd;
	uint32_t size, want, had;
	int err;	  /* 0, or a positive errno of the step that failed */
	const char *step; /* that step */
	int offloaded;	  /* made on the region thread */
	int taken;	  /* the region thread has begun it (w->lock): it can no longer be
			     called off */
	uint64_t took_ns; /* making it took */
	uint8_t *mem;
	struct ibv_mr *mr;
	STAILQ_ENTRY(region_job) link; /* the worker's jobs, then its made ones */
};

/* Anonymous pages come zeroed from the kernel, when ibv_reg_mr pins them: no pass of our own
 * over the memory (a memset doubled the cost). */
static uint8_t *region_map(uint32_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void region_unmap(uint8_t *mem, uint32_t size)
{
	if (mem)
		munmap(mem, size);
}

/* Allocate job->size zeroed bytes and register them in job->pd for the peer's RDMA WRITEs only
 * (not advertised yet; counted in n.mr). Touches nothing but the job, the PD and that atomic
 * count, so it may run on any thread; on failure job->err and job->step say why and nothing is
 * held. */
static void region_build_steps(struct region_job *job)
{
	job->mem = region_map(job->size);
	if (!job->mem) {
		job->err = errno ? errno : ENOMEM;
		job->step = "allocate";
		return;
	}
	job->mr = ibv_reg_mr(job->pd, job->mem, job->size,
			     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!job->mr) {
		job->err = errno ? errno : ENOMEM;
		job->step = "register";
		region_unmap(job->mem, job->size);
		job->mem = NULL;
		return;
	}
	atomic_fetch_add(&job->s->srv->n.mr, 1);
}

static void region_build(struct region_job *job)
{
	uint64_t t0 = server_now_ns();

	region_build_steps(job);
	job->took_ns = server_now_ns() - t0;
}

/* Deregister and free a region that was never advertised (counted in n.mr). If the device
 * will not let it go, the memory stays mapped: it may still be written. */
static void region_free(struct session *s, uint8_t *mem, uint32_t size, struct ibv_mr *mr)
{
	int ret = ibv_dereg_mr(mr);

	if (ret) {
		srdma_err("client #%llu: cannot deregister a write region: %s",
			  (unsigned long long)s->id, strerror(ret));
		if (!s->w->result)
			s->w->result = -ret;
		return;
	}
	atomic_fetch_sub(&s->srv->n.mr, 1);
	region_unmap(mem, size);
}

/* Revoke the advertised region: the library deregisters it, then tells the client, so no
 * write lands in it afterwards and its memory can go. 0, or a negative errno with the region
 * as it was (still registered and advertised). */
static int region_retire(struct session *s)
{
	int ret = srdma_revoke(s->conn, ECHO_WRITE_REGION, 1);

	if (ret) {
		srdma_warn("client #%llu: cannot revoke its %u-byte write region: %s",
			   (unsigned long long)s->id, s->region_len, strerror(-ret));
		return ret;
	}
	atomic_fetch_sub(&s->srv->n.mr, 1);
	region_unmap(s->region, s->region_len);
	s->region = NULL;
	s->mr = NULL;
	s->region_len = 0;
	return 0;
}

/* The region of a finished job in place of the current one (if any), advertised, and the
 * answer queued: REGION_READY with the region's size, or NO_REGION (the session keeps its old
 * region, or none if only the advertisement failed). */
static void region_done(struct session *s, struct region_job *job)
{
	int ret;

	if (job->err) {
		srdma_warn("client #%llu: cannot %s a %u-byte write region: %s",
			   (unsigned long long)s->id, job->step, job->size, strerror(job->err));
		region_reply(s, ECHO_WRITE_NO_REGION, 0);
		return;
	}
	if (s->mr && region_retire(s)) {
		region_free(s, job->mem, job->size, job->mr);
		region_reply(s, ECHO_WRITE_NO_REGION, 0);
		return;
	}
	ret = srdma_advertise(s->conn, ECHO_WRITE_REGION, job->mr, SRDMA_ACCESS_REMOTE_WRITE);
	if (ret) {
		srdma_warn("client #%llu: cannot advertise its %u-byte write region: %s",
			   (unsigned long long)s->id, job->size, strerror(-ret));
		region_free(s, job->mem, job->size, job->mr);
		region_reply(s, ECHO_WRITE_NO_REGION, 0);
		return;
	}
	s->region = job->mem;
	s->mr = job->mr;
	s->region_len = job->size;
	srdma_info("client #%llu: write region of %u bytes made and advertised (asked %u%s; "
		   "%.1f ms%s)",
		   (unsigned long long)s->id, s->region_len, job->want,
		   job->had ? ", replacing a smaller one" : "", (double)job->took_ns / 1e6,
		   job->offloaded ? " on the region thread" : "");
	region_reply(s, ECHO_WRITE_OK, s->region_len);
}

/* The worker's region thread: makes the jobs queued to it in order, hands each back with a
 * wake-up; ends when told to and nothing is left. */
static void *region_thread(void *arg)
{
	struct worker *w = arg;
	struct region_job *job;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (STAILQ_EMPTY(&w->jobs) && !w->maker_stop)
			pthread_cond_wait(&w->maker_cond, &w->lock);
		if (!(job = STAILQ_FIRST(&w->jobs)))
			break;
		STAILQ_REMOVE_HEAD(&w->jobs, link);
		job->taken = 1;
		pthread_mutex_unlock(&w->lock);
		region_build(job);
		pthread_mutex_lock(&w->lock);
		STAILQ_INSERT_TAIL(&w->made, job, link);
		worker_wake(w);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Hand the job to the worker's region thread (started on first use): 0, or a negative errno
 * when it cannot (the worker then makes the region itself). The session reads no message
 * until the region comes back (IO_MAKING); its control channel goes on. */
static int region_offload(struct session *s, const struct region_job *proto)
{
	struct worker *w = s->w;
	struct region_job *job;
	int ret;

	if (w->maker_failed)
		return -EAGAIN;
	if (!w->maker_started) {
		ret = pthread_create(&w->maker, NULL, region_thread, w);
		if (ret) {
			/* Said once: the worker makes every region itself from now on. */
			srdma_warn("worker %u: cannot start its region thread (%s): it makes "
				   "write regions itself",
				   w->id, strerror(ret));
			w->maker_failed = 1;
			return -ret;
		}
		w->maker_started = 1;
	}
	job = malloc(sizeof(*job));
	if (!job)
		return -ENOMEM;
	*job = *proto;
	job->offloaded = 1;
	srdma_debug("client #%llu: making a %u-byte write region on the region thread",
		    (unsigned long long)s->id, job->size);
	pthread_mutex_lock(&w->lock);
	STAILQ_INSERT_TAIL(&w->jobs, job, link);
	pthread_cond_signal(&w->maker_cond);
	pthread_mutex_unlock(&w->lock);
	s->job = job;
	s->io = IO_MAKING;
	w->jobs_pending++;
	return 0;
}

static void region_made(struct worker *w, struct region_job *job)
{
	struct session *s = job->s;

	w->jobs_pending--;
	s->job = NULL;
	if (s->closed) {
		/* Ended while its region was being made: the region goes, then the session. */
		srdma_debug("client #%llu: its %u-byte write region came back after the session "
			    "ended: freed",
			    (unsigned long long)s->id, job->size);
		if (!job->err)
			region_free(s, job->mem, job->size, job->mr);
		free(job);
		session_release(s);
		return;
	}
	s->io = IO_IDLE;
	region_done(s, job);
	free(job);
	session_on_qp(s); /* sends the answer, reads on */
}

void region_take_made(struct worker *w)
{
	STAILQ_HEAD(, region_job) made = STAILQ_HEAD_INITIALIZER(made);
	struct region_job *job;

	pthread_mutex_lock(&w->lock);
	STAILQ_CONCAT(&made, &w->made);
	pthread_mutex_unlock(&w->lock);
	while ((job = STAILQ_FIRST(&made))) {
		STAILQ_REMOVE_HEAD(&made, link);
		region_made(w, job);
	}
}

/* A session that ends with its region still queued: the job is called off, so the thread
 * never makes a region no one will use and the session's resources go now. One the thread has
 * begun comes back first (region_made), since it uses the session's PD. */
void region_cancel(struct session *s)
{
	struct worker *w = s->w;
	struct region_job *job = s->job;
	int taken;

	if (!job)
		return;
	pthread_mutex_lock(&w->lock);
	taken = job->taken;
	if (!taken)
		STAILQ_REMOVE(&w->jobs, job, region_job, link);
	pthread_mutex_unlock(&w->lock);
	if (taken)
		return;
	srdma_debug("client #%llu: its %u-byte write region called off (the session ended)",
		    (unsigned long long)s->id, job->size);
	free(job);
	s->job = NULL;
	w->jobs_pending--;
}

/* At the worker's end, once its sessions are closed (their queued jobs called off): waits for
 * the job being made, if any, and ends the sessions that waited for theirs. */
void region_thread_stop(struct worker *w)
{
	if (w->maker_started) {
		pthread_mutex_lock(&w->lock);
		w->maker_stop = 1;
		pthread_cond_signal(&w->maker_cond);
		pthread_mutex_unlock(&w->lock);
		/* The thread ends with its list empty: every job it took is in w->made. */
		pthread_join(w->maker, NULL);
		w->maker_started = 0;
	}
	region_take_made(w);
}

/* REGION: a region of at least want bytes (a page multiple, at least twice the one it replaces,
 * at most write_size), made now if the session has none that large; advertised over TLS before
 * REGION_READY goes. */
void session_on_region(struct session *s, uint32_t want)
{
	uint32_t max = s->srv->cfg.write_size, had = s->region_len;
	uint64_t size, page = page_size();
	struct region_job job;

	if (!want || want > max) {
		srdma_debug("client #%llu: REGION of %u bytes refused (write_size %u)",
			    (unsigned long long)s->id, want, max);
		region_reply(s, ECHO_WRITE_RANGE, 0);
		return;
	}
	if (s->mr && s->region_len >= want) {
		srdma_debug("client #%llu: REGION of %u bytes: its %u-byte write region serves",
			    (unsigned long long)s->id, want, s->region_len);
		region_reply(s, ECHO_WRITE_OK, s->region_len);
		return;
	}
	size = ((uint64_t)want + page - 1) / page * page;
	/* A region that grows at least doubles: a client asking a little more each time makes
	 * the server allocate, zero and register at most about twice write_size in all. */
	if (had && size < 2 * (uint64_t)had)
		size = 2 * (uint64_t)had;
	if (size > max)
		size = max;
	job = (struct region_job){
	    .s = s, .pd = srdma_conn_pd(s->conn), .size = (uint32_t)size, .want = want, .had = had};
	if (size >= REGION_OFFLOAD && !region_offload(s, &job))
		return;
	region_build(&job);
	region_done(s, &job);
}
