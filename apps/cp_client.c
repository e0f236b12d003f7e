/* srdma-cp, the copying side: uploads (RDMA WRITE into the server's ring) and downloads (RDMA
 * READ from it), a file or a tree, on one connection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cp.h"

struct client {
	const struct cp_config *cfg;
	struct srdma_ctx *ctx;
	struct srdma_conn *c;
	struct cp_link l;
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	struct ibv_comp_channel *ch;
	uint8_t *ring;
	struct ibv_mr *mr;
	uint32_t xfer;
	int sealed, encrypt, progress;
	struct cp_summary *sum;
	char host[256];
};

/* ---- Connection ---- */

static int client_open(struct client *cl, const char *host)
{
	const struct cp_config *cfg = cl->cfg;
	struct srdma_ctx_opts co;
	struct srdma_connect_opts o;
	struct srdma_conn_info info;
	size_t ring_len = (size_t)cfg->chunk * cfg->depth;
	char err[512];
	int ret;

	srdma_ctx_opts_init(&co);
	co.ca = cfg->ca;
	co.cert = cfg->cert[0] ? cfg->cert : NULL;
	co.key = cfg->key[0] ? cfg->key : NULL;
	co.tls_min = cfg->tls_min;
	co.dataplane = cfg->dataplane;
	co.device = cfg->device;
	co.ib_port = (uint8_t)cfg->ib_port;
	co.gid_index = cfg->gid_index;
	if ((ret = srdma_ctx_create(&co, &cl->ctx, err, sizeof(err))) < 0)
		goto fail;
	srdma_connect_opts_init(&o);
	o.host = host;
	o.port = cfg->port;
	o.server_name = cfg->server_name[0] ? cfg->server_name : NULL;
	o.timeout_ms = cfg->timeout_ms;
	o.nqp = 2;
	srdma_qp_opts_init(&o.qp[0]);
	srdma_qp_opts_init(&o.qp[1]);
	o.qp[0].driver = SRDMA_QP_MESSAGES;
	o.qp[0].max_msg = CP_MSG_MAX;
	o.qp[0].depth = 128;
	o.qp[1].max_send_wr = 2 * CP_MAX_DEPTH + 4;
	if ((ret = srdma_connect(cl->ctx, &o, &cl->c, err, sizeof(err))) < 0)
		goto fail;
	srdma_conn_info(cl->c, &info);
	cl->sealed = info.dataplane != SRDMA_DP_PLAIN;
	cl->encrypt = cl->sealed && !cfg->no_encrypt;
	cl->l.c = cl->c;
	cl->l.cfg = cfg;
	cl->qp = srdma_conn_qp(cl->c, 1);
	cl->cq = srdma_conn_send_cq(cl->c, 1);
	cl->ch = srdma_conn_comp_channel(cl->c, 1);
	if (posix_memalign((void **)&cl->ring, 4096, ring_len)) {
		snprintf(err, sizeof(err), "out of memory for %zu bytes of buffers", ring_len);
		ret = -ENOMEM;
		goto fail;
	}
	/* Local only: the server never gets access to the client's memory. */
	cl->mr = ibv_reg_mr(srdma_conn_pd(cl->c), cl->ring, ring_len, IBV_ACCESS_LOCAL_WRITE);
	if (!cl->mr) {
		ret = -errno;
		snprintf(err, sizeof(err), "ibv_reg_mr of %zu bytes: %s (memlock limit?)", ring_len,
			 strerror(errno));
		goto fail;
	}
	if (cl->ch && ibv_req_notify_cq(cl->cq, 0)) {
		ret = -EIO;
		snprintf(err, sizeof(err), "ibv_req_notify_cq failed");
		goto fail;
	}
	return 0;
fail:
	snprintf(cl->sum->err, sizeof(cl->sum->err), "%s", err);
	return ret;
}

static void client_close(struct client *cl)
{
	if (cl->mr)
		ibv_dereg_mr(cl->mr);
	srdma_conn_close(cl->c);
	srdma_ctx_destroy(cl->ctx);
	free(cl->ring);
}

/* Completions of QP 1: wait on the channel, or spin up to busy_poll_us first. */
static int poll_raw(struct client *cl, struct ibv_wc *wc, int max)
{
	int n = ibv_poll_cq(cl->cq, max, wc);

	return n < 0 ? -EIO : n;
}

/* Nothing to do: sleep until QP 0, the control channel or QP 1 has something. */
static int idle(struct client *cl, uint64_t *last_progress)
{
	struct ibv_cq *ecq;
	void *ectx;
	int ret;

	if (cp_now_ns() - *last_progress < (uint64_t)cl->cfg->busy_poll_us * 1000u)
		return 0;
	ret = cp_wait(&cl->l, cl->ch ? cl->ch->fd : -1, 100);
	if (ret < 0 && ret != -ETIMEDOUT)
		return ret;
	if (cl->ch) {
		struct pollfd p = {.fd = cl->ch->fd, .events = POLLIN};

		if (poll(&p, 1, 0) == 1 && !ibv_get_cq_event(cl->ch, &ecq, &ectx)) {
			ibv_ack_cq_events(ecq, 1);
			ibv_req_notify_cq(ecq, 0);
		}
	}
	return 0;
}

static int post(struct client *cl, enum ibv_wr_opcode op, uint32_t idx, uint8_t *local,
		uint32_t len, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = {.addr = (uintptr_t)local, .length = len, .lkey = cl->mr->lkey};
	struct ibv_send_wr *bad, wr = {.wr_id = idx,
				       .sg_list = &sge,
				       .num_sge = 1,
				       .opcode = op,
				       .send_flags = IBV_SEND_SIGNALED};

	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return -ibv_post_send(cl->qp, &wr, &bad);
}

static int request(struct client *cl, uint8_t op, uint8_t flags, const char *path, uint64_t size,
		   uint32_t mode, struct cp_msg *rep)
{
	struct cp_msg m = {.type = CP_REQ,
			   .op = op,
			   .flags = flags,
			   .xfer = ++cl->xfer,
			   .size = size,
			   .mode = mode,
			   .chunk = cl->cfg->chunk,
			   .depth = cl->cfg->depth};
	uint32_t seq;
	int ret;

	if (strlen(path) > CP_PATH_MAX)
		return cp_fail(&cl->l, -ENAMETOOLONG, "path too long");
	snprintf(m.text, sizeof(m.text), "%s", path);
	if ((ret = cp_send(&cl->l, &m)) < 0 ||
	    (ret = cp_recv_wait(&cl->l, rep, &seq, (int)cl->cfg->timeout_ms)) < 0)
		return ret;
	if (rep->type != CP_REPLY || rep->xfer != m.xfer)
		return cp_fail(&cl->l, -EPROTO, "unexpected answer to a request");
	if (rep->status)
		return cp_fail(&cl->l, rep->status, "server: %s", rep->text);
	if (op != CP_OP_PUT && op != CP_OP_GET)
		return 0;
	if ((flags & CP_F_SEAL) && !(rep->flags & CP_F_SEAL))
		return cp_fail(&cl->l, -EPROTO,
			       "the server does not seal chunks in one pass (an older srdma-cp): "
			       "upgrade it, or copy with --no-encrypt");
	if (rep->chunk < CP_CHUNK_MIN || rep->chunk > cl->cfg->chunk || rep->chunk % CP_CHUNK_MIN ||
	    rep->depth < 1 || rep->depth > cl->cfg->depth)
		return cp_fail(&cl->l, -EPROTO, "server proposed a ring we cannot use");
	return 0;
}

static int ring_region(struct client *cl, const struct cp_msg *rep, unsigned access,
		       struct srdma_region *r)
{
	int ret = cp_region_wait(&cl->l, rep->xfer, r, (int)cl->cfg->timeout_ms);

	if (ret < 0)
		return ret;
	if (!(r->access & access) || r->len < (uint64_t)rep->chunk * rep->depth)
		return cp_fail(&cl->l, -EPROTO, "the server's ring is not usable");
	return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int sha_file(int fd, uint8_t sha[32], uint64_t *size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t *buf = malloc(1u << 20);
	unsigned shalen;
	off_t off = 0;
	ssize_t n = -ENOMEM;

	if (md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
		while ((n = cp_full_pread(fd, buf, 1u << 20, off)) > 0) {
			EVP_DigestUpdate(md, buf, (size_t)n);
			off += n;
		}
		if (n == 0)
			EVP_DigestFinal_ex(md, sha, &shalen);
	}
	*size = (uint64_t)off;
	EVP_MD_CTX_free(md);
	free(buf);
	return n < 0 ? (int)n : 0;
}

/* Abort a transfer: tell the server why (it drops its temporary file). */
static void give_up(struct client *cl, uint32_t xfer, int status, const char *why)
{
	struct cp_msg e = {.type = CP_END, .xfer = xfer, .status = status ? status : -EIO};

	snprintf(e.text, sizeof(e.text), "%s", why);
	cp_send(&cl->l, &e);
}

static void note_sha(struct client *cl, const uint8_t sha[32])
{
	cp_hex(sha, 32, cl->sum->sha256);
}

/* ---- Upload ---- */

static int verify_remote(struct client *cl, const char *rpath, const uint8_t sha[32], uint64_t size)
{
	struct cp_msg rep;
	struct cp_sha sh;
	int ret;

	if ((ret = request(cl, CP_OP_VERIFY, 0, rpath, 0, 0, &rep)) < 0 ||
	    (ret = cp_sha_wait(&cl->l, rep.xfer, &sh, (int)cl->cfg->timeout_ms)) < 0)
		return ret;
	if (sh.size != size || memcmp(sh.sha, sha, 32))
		return cp_fail(&cl->l, -EBADMSG, "--verify: '%s' on the server differs", rpath);
	return 0;
}

static int upload(struct client *cl, const char *lpath, const char *rpath, uint8_t flags)
{
	const struct cp_config *cfg = cl->cfg;
	struct stat st0, st1;
	struct cp_msg rep;
	struct srdma_region r;
	struct cp_progress pr = {0};
	struct cp_hasher h = {0};
	uint8_t sha[32], tags[CP_MAX_DEPTH][SRDMA_TAG_LEN];
	uint32_t issued = 0, written = 0, acked = 0, nchunks, chunk, depth, xfer;
	uint64_t last = cp_now_ns();
	int fd, ret, enc = 0;

	fd = open(lpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cp_fail(&cl->l, -errno, "%s: %s", lpath, strerror(errno));
	if (fstat(fd, &st0) < 0 || !S_ISREG(st0.st_mode)) {
		close(fd);
		return cp_fail(&cl->l, -EINVAL, "%s: not a regular file%s", lpath,
			       S_ISDIR(st0.st_mode) ? " (a directory: use -r)" : "");
	}
	if (cl->encrypt)
		flags |= CP_F_SEAL;
	if ((ret = request(cl, CP_OP_PUT, flags, rpath, (uint64_t)st0.st_size, st0.st_mode & 0777,
			   &rep)) < 0)
		goto out;
	xfer = rep.xfer;
	chunk = rep.chunk;
	depth = rep.depth;
	nchunks = (uint32_t)(((uint64_t)st0.st_size + chunk - 1) / chunk);
	/* The whole file is there: its hash runs alongside the transfer from the start. */
	if ((ret = cp_hasher_start(&h, fd)) < 0) {
		ret = cp_fail(&cl->l, ret, "out of memory");
		give_up(cl, xfer, ret, cl->l.err);
		goto out;
	}
	cp_hasher_advance(&h, (uint64_t)st0.st_size);
	if (nchunks && (ret = ring_region(cl, &rep, SRDMA_ACCESS_REMOTE_WRITE, &r)) < 0)
		goto out;
	enc = cl->encrypt;
	cp_progress_start(&pr, cl->progress, lpath, (uint64_t)st0.st_size);
	while (acked < nchunks) {
		struct ibv_wc wc[16];
		struct cp_msg m;
		uint32_t seq;
		int n, i, progressed = 0;

		/* Fill every free slot of the server's ring. */
		while (issued < nchunks && issued - acked < depth) {
			uint64_t off = (uint64_t)issued * chunk;
			uint32_t len = (uint64_t)st0.st_size - off < chunk
					   ? (uint32_t)((uint64_t)st0.st_size - off)
					   : chunk;
			uint32_t slot = issued % depth;
			uint8_t *buf = cl->ring + (size_t)slot * chunk;
			ssize_t got = cp_full_pread(fd, buf, len, (off_t)off);

			if (got != (ssize_t)len) {
				ret = cp_fail(&cl->l, -ESTALE, "%s %s while being read", lpath,
					      got < 0 ? strerror((int)-got) : "changed (shrank)");
				give_up(cl, xfer, ret, cl->l.err);
				goto out;
			}
			/* Sealed in place before it leaves; its tag waits for the
			 * WRITE's completion, in the notice. */
			if (enc &&
			    (ret = cp_chunk_seal(&cl->l, xfer, off, buf, len, tags[slot])) < 0)
				goto out;
			if ((ret = post(cl, IBV_WR_RDMA_WRITE, issued, buf, len,
					r.addr + (uint64_t)slot * chunk, r.rkey)) < 0) {
				ret = cp_fail(&cl->l, ret, "posting an RDMA WRITE: %s",
					      strerror(-ret));
				goto out;
			}
			issued++;
			progressed = 1;
		}
		/* A completed WRITE is in the server's memory: announce it on QP 0. */
		if ((n = poll_raw(cl, wc, 16)) < 0) {
			ret = cp_fail(&cl->l, -EIO, "polling QP 1");
			goto out;
		}
		for (i = 0; i < n; i++) {
			struct cp_msg c = {.type = CP_CHUNK, .xfer = xfer};
			uint64_t off = (uint64_t)written * chunk;

			if (wc[i].status != IBV_WC_SUCCESS || wc[i].wr_id != written) {
				ret = cp_fail(&cl->l, -EIO, "RDMA WRITE failed: %s",
					      ibv_wc_status_str(wc[i].status));
				goto out;
			}
			c.index = written;
			c.slot = written % depth;
			c.offset = off;
			c.len = (uint64_t)st0.st_size - off < chunk
				    ? (uint32_t)((uint64_t)st0.st_size - off)
				    : chunk;
			if (enc) {
				memcpy(c.tag, tags[c.slot], SRDMA_TAG_LEN);
				ret = cp_send(&cl->l, &c);
			} else if (cl->sealed) {
				ret = cp_send_tagged(&cl->l, &c, cl->ring + (size_t)c.slot * chunk);
			} else {
				ret = cp_send(&cl->l, &c);
			}
			if (ret < 0)
				goto out;
			written++;
			progressed = 1;
		}
		while ((ret = cp_recv(&cl->l, &m, &seq)) == 0) {
			progressed = 1;
			if (m.xfer == xfer && (m.type == CP_RESULT || m.type == CP_END) &&
			    m.status) {
				ret = cp_fail(&cl->l, m.status, "server: %s", m.text);
				goto out;
			}
			if (m.type != CP_ACK || m.xfer != xfer || m.index != acked ||
			    acked >= written) {
				ret =
				    cp_fail(&cl->l, -EPROTO, "unexpected message from the server");
				goto out;
			}
			acked++;
		}
		if (ret != -EAGAIN)
			goto out;
		if ((ret = cp_pump_ctrl(&cl->l)) < 0) {
			ret = cp_fail(&cl->l, ret, "the server closed the connection or died");
			goto out;
		}
		cp_progress_update(&pr, (uint64_t)acked * chunk);
		if (progressed)
			last = cp_now_ns();
		else if ((ret = idle(cl, &last)) < 0)
			goto out;
	}
	if ((ret = cp_hasher_finish_link(&h, &cl->l, (uint64_t)st0.st_size, sha)) < 0 ||
	    fstat(fd, &st1) < 0 || !same_file(&st0, &st1)) {
		if (ret < 0 && ret != -ESTALE)
			ret = cp_fail(&cl->l, ret, "%s: reading it: %s", lpath, strerror(-ret));
		else
			ret = cp_fail(&cl->l, -ESTALE, "%s changed while being read", lpath);
		give_up(cl, xfer, ret, cl->l.err);
		goto out;
	}
	{
		struct cp_msg e = {.type = CP_END, .xfer = xfer}, res;
		struct cp_sha sh = {.xfer = xfer, .size = (uint64_t)st0.st_size};
		uint32_t seq;

		memcpy(sh.sha, sha, 32);
		if ((ret = cp_send(&cl->l, &e)) < 0 || (ret = cp_sha_send(&cl->l, &sh)) < 0 ||
		    (ret = cp_recv_wait(&cl->l, &res, &seq, (int)cfg->timeout_ms * 6)) < 0)
			goto out;
		if (res.type != CP_RESULT || res.xfer != xfer) {
			ret = cp_fail(&cl->l, -EPROTO, "unexpected answer at the end");
			goto out;
		}
		if (res.status) {
			ret = cp_fail(&cl->l, res.status, "server: %s", res.text);
			goto out;
		}
	}
	cp_progress_end(&pr);
	note_sha(cl, sha);
	cl->sum->bytes += (uint64_t)st0.st_size;
	cl->sum->files++;
	if (cfg->verify)
		ret = verify_remote(cl, rpath, sha, (uint64_t)st0.st_size);
out:
	if (pr.on && ret < 0)
		fputc('\n', stderr);
	cp_hasher_cancel(&h);
	close(fd);
	return ret;
}

/* ---- Download ---- */

/* The directory of dest, opened, and the name in it. */
static int open_parent(const char *dest, char *base, size_t cap)
{
	char d[4096], b[4096];
	int fd;

	if ((size_t)snprintf(d, sizeof(d), "%s", dest) >= sizeof(d))
		return -ENAMETOOLONG;
	snprintf(b, sizeof(b), "%s", dest);
	if ((size_t)snprintf(base, cap, "%s", basename(b)) >= cap)
		return -ENAMETOOLONG;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* One chunk the server made ready, while our READ of it is in flight. */
struct pending {
	uint32_t index, slot, len, seq;
	uint64_t offset;
	uint8_t tag[SRDMA_TAG_LEN];
};

static int download(struct client *cl, const char *rpath, const char *dest)
{
	const struct cp_config *cfg = cl->cfg;
	struct cp_msg rep;
	struct srdma_region r;
	struct cp_progress pr = {0};
	struct pending pend[CP_MAX_DEPTH];
	struct cp_hasher h = {0};
	struct cp_tmp t = {.fd = -1};
	char base[4096];
	uint8_t sha[32];
	uint32_t posted = 0, done = 0, nchunks, chunk, depth, xfer;
	uint64_t last = cp_now_ns(), off = 0;
	int fd = -1, dfd = -1, ret, enc = 0, ended = 0;

	if ((ret = request(cl, CP_OP_GET, cl->encrypt ? CP_F_SEAL : 0, rpath, 0, 0, &rep)) < 0)
		return ret;
	xfer = rep.xfer;
	chunk = rep.chunk;
	depth = rep.depth;
	nchunks = (uint32_t)((rep.size + chunk - 1) / chunk);
	/* An unnamed file in dest's directory (O_TMPFILE), named only once complete and
	 * checked; a named temporary, removed on errors and signals, where that is unsupported. */
	dfd = open_parent(dest, base, sizeof(base));
	if (dfd < 0 || (ret = cp_tmp_open(&t, dfd, base, (rep.mode & 0777) | 0600, 1)) < 0) {
		ret = dfd < 0 ? dfd : ret;
		ret = cp_fail(&cl->l, ret, "%s: cannot create a file there: %s", dest,
			      strerror(-ret));
		give_up(cl, xfer, ret, cl->l.err);
		goto out;
	}
	fd = t.fd;
	if (rep.size && (ret = fallocate(fd, 0, 0, (off_t)rep.size)) && errno != EOPNOTSUPP &&
	    errno != EINVAL) {
		ret = cp_fail(&cl->l, -errno, "%s: %s", dest, strerror(errno));
		give_up(cl, xfer, ret, cl->l.err);
		goto out;
	}
	/* The hash of what is written, read back behind the writes (cp_hasher). */
	if ((ret = cp_hasher_start(&h, fd)) < 0) {
		ret = cp_fail(&cl->l, ret, "out of memory");
		give_up(cl, xfer, ret, cl->l.err);
		goto out;
	}
	if (nchunks && (ret = ring_region(cl, &rep, SRDMA_ACCESS_REMOTE_READ, &r)) < 0)
		goto out;
	enc = cl->encrypt;
	cp_progress_start(&pr, cl->progress, rpath, rep.size);
	while (done < nchunks || !ended) {
		struct ibv_wc wc[16];
		struct cp_msg m;
		uint32_t seq;
		int n, i, progressed = 0;

		while ((ret = cp_recv(&cl->l, &m, &seq)) == 0) {
			struct pending *p;

			progressed = 1;
			if (m.xfer != xfer) {
				ret = cp_fail(&cl->l, -EPROTO, "message of another transfer");
				goto out;
			}
			if (m.type == CP_END && m.status) {
				ret = cp_fail(&cl->l, m.status, "server: %s", m.text);
				goto out;
			}
			if (m.type == CP_END) {
				if (posted != nchunks) {
					ret = cp_fail(&cl->l, -EPROTO, "early end of transfer");
					goto out;
				}
				ended = 1;
				continue;
			}
			if (m.type != CP_CHUNK || m.index != posted || m.slot != posted % depth ||
			    posted - done >= depth || m.len == 0 || m.len > chunk ||
			    m.offset != (uint64_t)posted * chunk || m.offset + m.len > rep.size) {
				ret = cp_fail(&cl->l, -EPROTO, "unexpected chunk notice");
				goto out;
			}
			p = &pend[m.slot];
			p->index = m.index;
			p->slot = m.slot;
			p->len = m.len;
			p->seq = seq;
			p->offset = m.offset;
			memcpy(p->tag, m.tag, SRDMA_TAG_LEN);
			if ((ret = post(cl, IBV_WR_RDMA_READ, m.index,
					cl->ring + (size_t)m.slot * chunk, m.len,
					r.addr + (uint64_t)m.slot * chunk, r.rkey)) < 0) {
				ret = cp_fail(&cl->l, ret, "posting an RDMA READ: %s",
					      strerror(-ret));
				goto out;
			}
			posted++;
		}
		if (ret != -EAGAIN)
			goto out;
		if ((n = poll_raw(cl, wc, 16)) < 0) {
			ret = cp_fail(&cl->l, -EIO, "polling QP 1");
			goto out;
		}
		for (i = 0; i < n; i++) {
			struct pending *p = &pend[done % depth];
			uint8_t *buf = cl->ring + (size_t)p->slot * chunk, tag[SRDMA_TAG_LEN];
			struct cp_msg ack = {.type = CP_ACK, .xfer = xfer, .index = done};

			if (wc[i].status != IBV_WC_SUCCESS || wc[i].wr_id != done) {
				ret = cp_fail(&cl->l, -EIO, "RDMA READ failed: %s",
					      ibv_wc_status_str(wc[i].status));
				goto out;
			}
			if (enc) {
				/* Authenticated and decrypted in one pass, in place. */
				ret = cp_chunk_open(&cl->l, xfer, done, p->offset, buf, p->len,
						    p->tag);
				if (ret < 0) {
					if (ret == -EBADMSG)
						give_up(cl, xfer, ret, cl->l.err);
					goto out;
				}
			} else if (cl->sealed && (srdma_tag(cl->c, 0, 0, p->seq, p->offset, buf,
							    p->len, tag) < 0 ||
						  !srdma_tag_equal(tag, p->tag))) {
				ret = cp_fail(&cl->l, -EBADMSG, "chunk %u failed authentication",
					      done);
				give_up(cl, xfer, ret, cl->l.err);
				goto out;
			}
			if ((ret = cp_full_pwrite(fd, buf, p->len, (off_t)p->offset)) < 0) {
				ret = cp_fail(&cl->l, ret, "writing %s: %s", dest, strerror(-ret));
				give_up(cl, xfer, ret, cl->l.err);
				goto out;
			}
			off += p->len;
			cp_hasher_advance(&h, off);
			done++;
			progressed = 1;
			if ((ret = cp_send(&cl->l, &ack)) < 0)
				goto out;
		}
		if ((ret = cp_pump_ctrl(&cl->l)) < 0) {
			ret = cp_fail(&cl->l, ret, "the server closed the connection or died");
			goto out;
		}
		cp_progress_update(&pr, off);
		if (progressed)
			last = cp_now_ns();
		else if ((ret = idle(cl, &last)) < 0)
			goto out;
	}
	if (off != rep.size || (ret = cp_hasher_finish_link(&h, &cl->l, rep.size, sha)) < 0) {
		ret = cp_fail(&cl->l, ret < 0 ? ret : -EPROTO, "%s: reading the copy back: %s",
			      dest, ret < 0 ? strerror(-ret) : "short");
		give_up(cl, xfer, ret, cl->l.err);
		goto out;
	}
	{
		struct cp_sha sh;
		struct cp_msg res = {.type = CP_RESULT, .xfer = xfer};

		if ((ret = cp_sha_wait(&cl->l, xfer, &sh, (int)cfg->timeout_ms)) < 0)
			goto out;
		if (sh.size != rep.size || off != rep.size || memcmp(sh.sha, sha, 32)) {
			ret = cp_fail(&cl->l, -EBADMSG,
				      "%s: SHA-256 mismatch, the copy is not kept", rpath);
			give_up(cl, xfer, ret, cl->l.err);
			goto out;
		}
		/* fsync, then the name (link or rename over an old file), then the directory. */
		if ((ret = cp_tmp_commit(&t, base)) < 0) {
			ret =
			    cp_fail(&cl->l, ret, "%s: storing the copy: %s", dest, strerror(-ret));
			give_up(cl, xfer, ret, cl->l.err);
			goto out;
		}
		if ((ret = cp_send(&cl->l, &res)) < 0)
			goto out;
	}
	cp_progress_end(&pr);
	note_sha(cl, sha);
	cl->sum->bytes += rep.size;
	cl->sum->files++;
	if (cfg->verify) {
		uint8_t again[32];
		uint64_t size;
		int vfd = open(dest, O_RDONLY | O_CLOEXEC);

		if (vfd < 0 || sha_file(vfd, again, &size) < 0 || size != rep.size ||
		    memcmp(again, sha, 32))
			ret =
			    cp_fail(&cl->l, -EBADMSG, "--verify: %s differs after the copy", dest);
		if (vfd >= 0)
			close(vfd);
	}
out:
	if (pr.on && ret < 0)
		fputc('\n', stderr);
	cp_hasher_cancel(&h);
	cp_tmp_discard(&t);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

/* ---- Trees ---- */

static int join(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a);

	if (!*b)
		return (size_t)snprintf(out, cap, "%s", a) < cap ? 0 : -ENAMETOOLONG;
	return (size_t)snprintf(out, cap, "%s%s%s", a, la && a[la - 1] == '/' ? "" : "/", b) < cap
		   ? 0
		   : -ENAMETOOLONG;
}

static int upload_tree(struct client *cl, const char *ldir, const char *rdir, unsigned level)
{
	DIR *d;
	struct dirent *e;
	struct cp_msg rep;
	int ret = 0;

	if (level > 64)
		return cp_fail(&cl->l, -ELOOP, "%s: too deep", ldir);
	if ((ret = request(cl, CP_OP_MKDIR, 0, rdir, 0, 0755, &rep)) < 0)
		return ret;
	d = opendir(ldir);
	if (!d)
		return cp_fail(&cl->l, -errno, "%s: %s", ldir, strerror(errno));
	while ((e = readdir(d)) && ret >= 0) {
		char lp[4096], rp[CP_PATH_MAX + 1];
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (join(lp, sizeof(lp), ldir, e->d_name) ||
		    join(rp, sizeof(rp), rdir, e->d_name)) {
			ret =
			    cp_fail(&cl->l, -ENAMETOOLONG, "%s/%s: name too long", ldir, e->d_name);
			break;
		}
		if (lstat(lp, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			ret = upload_tree(cl, lp, rp, level + 1);
		else if (S_ISREG(sb.st_mode))
			ret = upload(cl, lp, rp, CP_F_MKDIRS);
	}
	closedir(d);
	return ret;
}

struct entry {
	char kind;
	char *path;
};

static int mkdir_p(const char *path)
{
	char p[4096];
	size_t i;

	snprintf(p, sizeof(p), "%s", path);
	for (i = 1; p[i]; i++) {
		if (p[i] == '/') {
			p[i] = '\0';
			if (mkdir(p, 0755) && errno != EEXIST)
				return -errno;
			p[i] = '/';
		}
	}
	if (mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int download_tree(struct client *cl, const char *rdir, const char *ldir)
{
	struct cp_msg rep, m;
	struct entry *ents = NULL;
	size_t n = 0, cap = 0, i;
	uint32_t seq;
	int ret;

	if ((ret = request(cl, CP_OP_LIST, 0, rdir, 0, 0, &rep)) < 0)
		return ret;
	for (;;) {
		if ((ret = cp_recv_wait(&cl->l, &m, &seq, (int)cl->cfg->timeout_ms)) < 0)
			goto out;
		if (m.type == CP_END)
			break;
		if (m.type != CP_ENTRY || (m.op != 'd' && m.op != 'f') ||
		    cp_path_clean(m.text, m.text, sizeof(m.text)) || !strcmp(m.text, ".")) {
			/* A listing naming a path outside the destination is refused, too. */
			ret = cp_fail(&cl->l, -EPROTO, "bad directory listing from the server");
			goto out;
		}
		if (n == cap) {
			struct entry *ne = realloc(ents, (cap = cap ? 2 * cap : 64) * sizeof(*ne));

			if (!ne) {
				ret = cp_fail(&cl->l, -ENOMEM, "out of memory");
				goto out;
			}
			ents = ne;
		}
		ents[n].kind = (char)m.op;
		ents[n].path = strdup(m.text);
		if (!ents[n++].path) {
			ret = cp_fail(&cl->l, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((ret = mkdir_p(ldir)) < 0) {
		ret = cp_fail(&cl->l, ret, "%s: %s", ldir, strerror(-ret));
		goto out;
	}
	for (i = 0; i < n && ret >= 0; i++) {
		char lp[4096], rp[CP_PATH_MAX + 1];

		if (join(lp, sizeof(lp), ldir, ents[i].path) ||
		    join(rp, sizeof(rp), rdir, ents[i].path)) {
			ret = cp_fail(&cl->l, -ENAMETOOLONG, "%s: name too long", ents[i].path);
			break;
		}
		if (ents[i].kind == 'd') {
			if ((ret = mkdir_p(lp)) < 0)
				ret = cp_fail(&cl->l, ret, "%s: %s", lp, strerror(-ret));
		} else {
			ret = download(cl, rp, lp);
		}
	}
out:
	for (i = 0; i < n; i++)
		free(ents[i].path);
	free(ents);
	return ret;
}

/* ---- Entry ---- */

/* "HOST:PATH" (HOST may be "[v6]"): 1 and the parts; 0 for a local path. */
static int split_remote(const char *arg, char *host, size_t hcap, const char **path)
{
	const char *colon;

	if (arg[0] == '/' || arg[0] == '.')
		return 0;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':')
			return 0;
		colon = close + 1;
		snprintf(host, hcap, "%.*s", (int)(close - arg - 1), arg + 1);
	} else {
		colon = strchr(arg, ':');
		if (!colon || memchr(arg, '/', (size_t)(colon - arg)))
			return 0;
		snprintf(host, hcap, "%.*s", (int)(colon - arg), arg);
	}
	*path = colon + 1;
	return *host != '\0';
}

int cp_client_run(const struct cp_config *cfg, const char *src, const char *dst,
		  struct cp_summary *sum)
{
	struct client cl = {.cfg = cfg, .sum = sum};
	char shost[256], dhost[256];
	const char *spath, *dpath;
	int up, down, ret;
	uint64_t t0;

	up = split_remote(dst, dhost, sizeof(dhost), &dpath);
	down = split_remote(src, shost, sizeof(shost), &spath);
	if (up == down) {
		snprintf(
		    sum->err, sizeof(sum->err),
		    up ? "both sides are remote: one side must be a local FILE, the other HOST:PATH"
		       : "one side must be HOST:PATH");
		return -EINVAL;
	}
	cp_tmp_handle_signals();
	cl.progress = cfg->progress < 0 ? isatty(2) && !cfg->json && !cfg->quiet : cfg->progress;
	t0 = cp_now_ns();
	if ((ret = client_open(&cl, up ? dhost : shost)) < 0)
		goto out;
	sum->connect_seconds = (double)(cp_now_ns() - t0) / 1e9;
	if (up) {
		struct stat sb;
		char rp[CP_PATH_MAX + 1];
		char b[4096];

		if (stat(src, &sb) < 0) {
			ret = cp_fail(&cl.l, -errno, "%s: %s", src, strerror(errno));
		} else if (S_ISDIR(sb.st_mode)) {
			if (!cfg->recursive)
				ret = cp_fail(&cl.l, -EISDIR, "%s is a directory (use -r)", src);
			else
				ret = upload_tree(&cl, src, *dpath ? dpath : ".", 0);
		} else {
			/* "HOST:" or "HOST:dir/" means the file's own name there. */
			snprintf(b, sizeof(b), "%s", src);
			if (!*dpath || dpath[strlen(dpath) - 1] == '/')
				ret = join(rp, sizeof(rp), *dpath ? dpath : ".", basename(b));
			else
				ret = (size_t)snprintf(rp, sizeof(rp), "%s", dpath) < sizeof(rp)
					  ? 0
					  : -ENAMETOOLONG;
			if (!ret)
				ret = upload(&cl, src, rp, 0);
		}
	} else {
		struct stat sb;
		char lp[4096], b[CP_PATH_MAX + 1];

		snprintf(b, sizeof(b), "%s", spath);
		if (cfg->recursive) {
			ret = download_tree(&cl, *spath ? spath : ".", dst);
			if (ret == -ENOTDIR) {
				/* A file: copied as without -r. */
				cl.l.err[0] = '\0';
				ret = 1;
			}
		}
		if (!cfg->recursive || ret == 1) {
			if (!stat(dst, &sb) && S_ISDIR(sb.st_mode))
				ret = join(lp, sizeof(lp), dst, basename(b));
			else
				ret = (size_t)snprintf(lp, sizeof(lp), "%s", dst) < sizeof(lp)
					  ? 0
					  : -ENAMETOOLONG;
			if (!ret)
				ret = download(&cl, spath, lp);
		}
	}
	if (ret < 0 && !cl.l.err[0])
		snprintf(cl.l.err, sizeof(cl.l.err), "%s", strerror(-ret));
	if (ret < 0)
		snprintf(sum->err, sizeof(sum->err), "%s", cl.l.err);
out:
	sum->seconds = (double)(cp_now_ns() - t0) / 1e9;
	if (cl.c)
		client_close(&cl);
	else
		srdma_ctx_destroy(cl.ctx);
	return ret;
}
