/* The write region of a srdma-server session: made on the client's REGION request (a page
 * multiple, at most write_size), registered in the connection's PD for the client's RDMA WRITEs
 * only, advertised over TLS, and replaced by a larger one (the old one revoked) when asked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A zeroed region of size bytes registered in the connection's PD for the peer's RDMA WRITEs
 * only (not advertised yet): 0, or a negative errno with nothing held. */
static int region_alloc(struct session *s, uint32_t size, uint8_t **mem, struct ibv_mr **mr)
{
	void *p = NULL;
	int err;

	if (posix_memalign(&p, page_size(), size)) {
		srdma_warn("client #%llu: server out of memory for a %u-byte write region",
			   (unsigned long long)s->id, size);
		return -ENOMEM;
	}
	memset(p, 0, size);
	*mr = ibv_reg_mr(srdma_conn_pd(s->conn), p, size,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!*mr) {
		err = errno ? errno : ENOMEM;
		srdma_warn("client #%llu: cannot register a %u-byte write region: %s",
			   (unsigned long long)s->id, size, strerror(err));
		free(p);
		return -err;
	}
	atomic_fetch_add(&s->srv->n.mr, 1);
	*mem = p;
	return 0;
}

/* Deregister and free a region that was never advertised. If the device will not let it go,
 * the memory stays allocated: it may still be written. */
static void region_free(struct session *s, uint8_t *mem, struct ibv_mr *mr)
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
	free(mem);
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
	free(s->region);
	s->region = NULL;
	s->mr = NULL;
	s->region_len = 0;
	return 0;
}

/* Make a region of size bytes in place of the current one (if any) and advertise it: 0, or a
 * negative errno (the session has its old region, or none if only the advertisement failed). */
static int region_make(struct session *s, uint32_t size)
{
	struct ibv_mr *mr;
	uint8_t *mem;
	int ret;

	ret = region_alloc(s, size, &mem, &mr);
	if (ret)
		return ret;
	if (s->mr && (ret = region_retire(s))) {
		region_free(s, mem, mr);
		return ret;
	}
	ret = srdma_advertise(s->conn, ECHO_WRITE_REGION, mr, SRDMA_ACCESS_REMOTE_WRITE);
	if (ret) {
		srdma_warn("client #%llu: cannot advertise its %u-byte write region: %s",
			   (unsigned long long)s->id, size, strerror(-ret));
		region_free(s, mem, mr);
		return ret;
	}
	s->region = mem;
	s->mr = mr;
	s->region_len = size;
	return 0;
}

/* REGION: a region of at least want bytes (a page multiple, at least twice the one it replaces,
 * at most write_size), made now if the session has none that large; advertised over TLS before
 * REGION_READY goes. */
void session_on_region(struct session *s, uint32_t want)
{
	uint32_t max = s->srv->cfg.write_size, had = s->region_len;
	uint64_t size, page = page_size();

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
	if (region_make(s, (uint32_t)size)) {
		region_reply(s, ECHO_WRITE_NO_REGION, 0);
		return;
	}
	srdma_info("client #%llu: write region of %u bytes made and advertised (asked %u%s)",
		   (unsigned long long)s->id, s->region_len, want,
		   had ? ", replacing a smaller one" : "");
	region_reply(s, ECHO_WRITE_OK, s->region_len);
}
