/* srdma-cp --serve: export a directory. One thread per session (a file server's sessions block
 * on disk I/O; a thread each keeps one slow disk or client from stalling the others), joined by
 * the accepting thread when it ends and at shutdown. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cp.h"

static volatile int stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void __attribute__((format(printf, 3, 4)))
slog(const struct cp_config *cfg, int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	va_list ap;

	if (level > cfg->log_level)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "srdma-cp[%s]: ", names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}

struct session {
	const struct cp_config *cfg;
	struct srdma_conn *c;
	int root;
	const char *root_real; /* the export's real path */
	unsigned id;
	int done;
	pthread_t thread;
	struct session *next;
	/* per session */
	struct cp_link l;
	char cn[128];
	uint8_t *ring;
	size_t ring_len;
	uint32_t last_xfer;
	int sealed;
};

static int reply(struct session *s, uint32_t xfer, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reply(struct session *s, uint32_t xfer, int status, const char *fmt, ...)
{
	struct cp_msg m = {.type = CP_REPLY, .xfer = xfer, .status = status};
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(m.text, sizeof(m.text), fmt, ap);
		va_end(ap);
		slog(s->cfg, 2, "session %u (%s): refused: %s", s->id, s->cn, m.text);
	}
	return cp_send(&s->l, &m);
}

/* Resolve the request's path and check it against the access list. 0 and rel, or a reply
 * was sent (1) or the connection failed (<0). */
static int check_path(struct session *s, const struct cp_msg *m, unsigned need, char *rel,
		      size_t cap)
{
	int ret = cp_path_clean(m->text, rel, cap);

	if (ret == -EXDEV)
		return reply(s, m->xfer, -EXDEV, "'%s': path escapes the exported directory",
			     m->text)
			   ?: 1;
	if (ret)
		return reply(s, m->xfer, ret, "'%s': bad path", m->text) ?: 1;
	if (!(cp_acl_lookup(s->cfg, s->cn, rel) & need))
		return reply(s, m->xfer, -EACCES, "'%s': %s may not %s it", rel, s->cn,
			     need & CP_PERM_WRITE ? "write" : "read")
			   ?: 1;
	return 0;
}

/* The access list applies to where a path really leads: a symlink inside the export may point
 * to a place the client may not use. fd is the opened file (or its directory, with base the
 * name in it). 0, or a reply was sent (1), or the connection failed (<0). */
static int check_real(struct session *s, const struct cp_msg *m, int fd, const char *base,
		      unsigned need)
{
	char link[64], real[PATH_MAX + 1], rel[PATH_MAX + 260];
	size_t rl = strlen(s->root_real);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n < 0)
		return reply(s, m->xfer, -EIO, "cannot resolve '%s'", m->text) ?: 1;
	real[n] = '\0';
	if (strncmp(real, s->root_real, rl) || (real[rl] != '/' && real[rl] != '\0'))
		return reply(s, m->xfer, -EXDEV, "'%s': path escapes the exported directory",
			     m->text)
			   ?: 1;
	snprintf(rel, sizeof(rel), "%s%s%s", real[rl] ? real + rl + 1 : "",
		 base && real[rl] ? "/" : "", base ? base : "");
	if (!rel[0])
		snprintf(rel, sizeof(rel), ".");
	if (!(cp_acl_lookup(s->cfg, s->cn, rel) & need))
		return reply(s, m->xfer, -EACCES, "'%s' (really '%s'): %s may not %s it", m->text,
			     rel, s->cn, need & CP_PERM_WRITE ? "write" : "read")
			   ?: 1;
	return 0;
}

/* Open path beneath the export with flags and check where it really leads against need (base:
 * a name in the opened directory, as for check_real): the descriptor, or -1 with *ret what the
 * request's handler returns (0 once the client was told why, or the connection's failure). */
static int open_checked(struct session *s, const struct cp_msg *rq, const char *path, int flags,
			const char *base, unsigned need, int *ret)
{
	int fd = cp_open_beneath(s->root, path, flags, 0);

	if (fd < 0) {
		*ret = reply(s, rq->xfer, fd, "'%s': %s", path,
			     fd == -EXDEV ? "path escapes the exported directory" : strerror(-fd));
		return -1;
	}
	*ret = check_real(s, rq, fd, base, need);
	if (*ret) {
		close(fd);
		if (*ret > 0)
			*ret = 0;
		return -1;
	}
	return fd;
}

static int ring_for(struct session *s, const struct cp_msg *m, uint32_t *chunk, uint32_t *depth)
{
	uint32_t ck = m->chunk ? m->chunk : s->cfg->chunk, d = m->depth ? m->depth : s->cfg->depth;

	if (ck > s->cfg->chunk)
		ck = s->cfg->chunk;
	ck = ck < CP_CHUNK_MIN ? CP_CHUNK_MIN : ck & ~(CP_CHUNK_MIN - 1);
	if (d > s->cfg->depth)
		d = s->cfg->depth;
	if (d < 1)
		d = 1;
	/* Sized for what this client asked, grown if a later transfer asks for more. */
	if (s->ring_len < (size_t)ck * d) {
		free(s->ring);
		s->ring = NULL;
		s->ring_len = 0;
		if (posix_memalign((void **)&s->ring, 4096, (size_t)ck * d))
			return -ENOMEM;
		s->ring_len = (size_t)ck * d;
	}
	*chunk = ck;
	*depth = d;
	return 0;
}

/* Give the peer access to the ring for this transfer only. */
static int expose(struct session *s, uint32_t xfer, unsigned access, size_t len, struct ibv_mr **mr)
{
	int flags =
	    IBV_ACCESS_LOCAL_WRITE |
	    (access & SRDMA_ACCESS_REMOTE_WRITE ? IBV_ACCESS_REMOTE_WRITE : IBV_ACCESS_REMOTE_READ);
	int ret;

	/* Zeroed between transfers, so that a reader never sees an earlier transfer's bytes. */
	memset(s->ring, 0, len);
	*mr = ibv_reg_mr(srdma_conn_pd(s->c), s->ring, len, flags);
	if (!*mr)
		return -errno;
	ret = srdma_advertise(s->c, xfer, *mr, access);
	if (ret < 0) {
		ibv_dereg_mr(*mr);
		*mr = NULL;
	}
	return ret;
}

static void unexpose(struct session *s, uint32_t xfer, struct ibv_mr *mr)
{
	if (!mr)
		return;
	/* Not srdma_revoke(..., 1): when the REVOKE frame cannot be queued (a dead peer) it
	 * returns an error after having deregistered the MR, so the caller cannot tell whether
	 * to. The REVOKE is only queued here, so the rkey still dies before the peer hears. */
	srdma_revoke(s->c, xfer, 0);
	ibv_dereg_mr(mr);
}

static int new_xfer(struct session *s, const struct cp_msg *m)
{
	/* Numbers only go up: a sealed chunk is bound to its transfer's number, so no chunk of an
	 * earlier transfer can pass for one of this. */
	if (m->xfer <= s->last_xfer)
		return cp_fail(&s->l, -EPROTO, "transfer number %u not above %u", m->xfer,
			       s->last_xfer);
	s->last_xfer = m->xfer;
	return 0;
}

/* Tell the client the transfer is over, with why if it failed. */
static int result(struct session *s, uint32_t xfer, int status, const char *text)
{
	struct cp_msg m = {.type = CP_RESULT, .xfer = xfer, .status = status};

	snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
	return cp_send(&s->l, &m);
}

/* What both directions of a transfer set up: the ring (advertised with access for this
 * transfer only), whether chunks are sealed (srdma_tag_seal) and the file's running SHA-256. */
struct xfer_setup {
	uint32_t chunk, depth;
	int enc;
	struct ibv_mr *mr;
	struct cp_hasher h; /* the file's SHA-256 (cp_hasher) */
};

/* Set x up and answer REPLY (with size and mode): 1 when the transfer has started; otherwise
 * the status to return (the client got an error reply; why says what failed, if anything did
 * on our side). What x holds is freed by the caller, started or not. */
static int start_transfer(struct session *s, const struct cp_msg *rq, unsigned access,
			  uint64_t size, uint32_t mode, int fd, struct xfer_setup *x, char *why,
			  size_t whylen)
{
	struct cp_msg ok = {.type = CP_REPLY, .xfer = rq->xfer, .size = size, .mode = mode};
	int ret;

	x->enc = s->sealed && (rq->flags & CP_F_SEAL);
	if ((ret = ring_for(s, rq, &x->chunk, &x->depth)) < 0 ||
	    (ret = expose(s, rq->xfer, access, (size_t)x->chunk * x->depth, &x->mr)) < 0) {
		snprintf(why, whylen, "server: cannot set up the transfer: %s", strerror(-ret));
		return reply(s, rq->xfer, ret, "%s", why);
	}
	if (cp_hasher_start(&x->h, fd) < 0)
		return reply(s, rq->xfer, -ENOMEM, "server: out of memory");
	ok.chunk = x->chunk;
	ok.depth = x->depth;
	ok.flags = x->enc ? CP_F_SEAL : 0; /* we seal too (an older server leaves it out) */
	ret = cp_send(&s->l, &ok);
	return ret < 0 ? ret : 1;
}

static int do_put(struct session *s, const struct cp_msg *rq)
{
	char rel[CP_PATH_MAX + 1], parent[CP_PATH_MAX + 1], why[CP_PATH_MAX + 600] = "";
	const char *base;
	struct xfer_setup x = {0};
	struct cp_tmp t = {.fd = -1};
	uint32_t seq, next = 0;
	uint64_t off = 0;
	int ret, dfd = -1, fd = -1, st = 0;
	struct stat sb;

	if ((ret = new_xfer(s, rq)) || (ret = check_path(s, rq, CP_PERM_WRITE, rel, sizeof(rel))))
		return ret < 0 ? ret : 0;
	if (cp_split_parent(rel, parent, sizeof(parent), &base))
		return reply(s, rq->xfer, -EISDIR, "'%s' is the exported directory", rel);
	if ((rq->flags & CP_F_MKDIRS) && (ret = cp_mkdirs(s->root, parent)) < 0)
		return reply(s, rq->xfer, ret, "'%s': cannot create it: %s", parent,
			     ret == -EXDEV ? "path escapes the exported directory"
					   : strerror(-ret));
	dfd = open_checked(s, rq, parent, O_RDONLY | O_DIRECTORY, base, CP_PERM_WRITE, &ret);
	if (dfd < 0)
		return ret;
	if (!fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) && S_ISDIR(sb.st_mode)) {
		close(dfd);
		return reply(s, rq->xfer, -EISDIR, "'%s' is a directory", rel);
	}
	/* Unnamed until it is complete and checked (a named temporary where the file system
	 * has no O_TMPFILE): a server killed mid-transfer leaves no partial file. */
	ret = cp_tmp_open(&t, dfd, base, (rq->mode & 0777) | 0600, 0);
	if (ret < 0) {
		close(dfd);
		return reply(s, rq->xfer, ret, "'%s': cannot create a file there: %s", parent,
			     strerror(-ret));
	}
	fd = t.fd;
	/* Room for the whole file now, so that a full disk shows at once. */
	if (rq->size && (ret = fallocate(fd, 0, 0, (off_t)rq->size)) && errno != EOPNOTSUPP &&
	    errno != EINVAL) {
		ret = -errno;
		snprintf(why, sizeof(why), "'%s': %s on the server", rel, strerror(-ret));
		st = reply(s, rq->xfer, ret, "%s", why);
		goto out;
	}
	st =
	    start_transfer(s, rq, SRDMA_ACCESS_REMOTE_WRITE, rq->size, 0, fd, &x, why, sizeof(why));
	if (st != 1)
		goto out;
	st = 0;
	slog(s->cfg, 2, "session %u (%s): receiving '%s' (%llu bytes)", s->id, s->cn, rel,
	     (unsigned long long)rq->size);
	for (;;) {
		struct cp_msg m;
		uint8_t *slot, tag[SRDMA_TAG_LEN];

		if ((st = cp_recv_wait(&s->l, &m, &seq, -1)) < 0)
			goto out;
		if (m.xfer != rq->xfer) {
			st = cp_fail(&s->l, -EPROTO, "message of transfer %u during %u", m.xfer,
				     rq->xfer);
			goto out;
		}
		if (m.type == CP_END && m.status) {
			snprintf(why, sizeof(why), "client gave up: %s", m.text);
			goto out;
		}
		if (m.type == CP_END)
			break;
		if (m.type != CP_CHUNK || m.index != next || m.slot != next % x.depth ||
		    m.offset != off || m.len == 0 || m.len > x.chunk || off + m.len > rq->size) {
			st = cp_fail(&s->l, -EPROTO, "unexpected chunk notice");
			goto out;
		}
		slot = s->ring + (size_t)m.slot * x.chunk;
		if (x.enc) {
			/* Authenticated and decrypted in one pass, in place. */
			ret = cp_chunk_open(&s->l, rq->xfer, next, m.offset, slot, m.len, m.tag);
			if (ret == -EBADMSG) {
				snprintf(why, sizeof(why), "%s", s->l.err);
				st = ret;
				result(s, rq->xfer, -EBADMSG, why);
				goto out;
			}
			if (ret < 0) {
				st = ret;
				goto out;
			}
		} else if (s->sealed) {
			if (srdma_tag(s->c, 0, 0, seq, m.offset, slot, m.len, tag) < 0 ||
			    !srdma_tag_equal(tag, m.tag)) {
				snprintf(why, sizeof(why), "chunk %u failed authentication", next);
				st = cp_fail(&s->l, -EBADMSG, "%s", why);
				result(s, rq->xfer, -EBADMSG, why);
				goto out;
			}
		}
		if ((ret = cp_full_pwrite(fd, slot, m.len, (off_t)m.offset)) < 0) {
			snprintf(why, sizeof(why), "writing '%s' on the server: %s", rel,
				 strerror(-ret));
			st = result(s, rq->xfer, ret, why);
			goto out;
		}
		off += m.len;
		cp_hasher_advance(&x.h, off); /* hashed as read back from the file */
		next++;
		{
			struct cp_msg ack = {.type = CP_ACK, .xfer = rq->xfer, .index = m.index};

			if ((st = cp_send(&s->l, &ack)) < 0)
				goto out;
		}
	}
	{
		uint8_t sha[32];
		struct cp_sha peer;

		if (off != rq->size) {
			snprintf(why, sizeof(why), "'%s': got %llu of %llu bytes", rel,
				 (unsigned long long)off, (unsigned long long)rq->size);
			st = result(s, rq->xfer, -EPROTO, why);
			goto out;
		}
		if ((ret = cp_hasher_finish_link(&x.h, &s->l, off, sha)) < 0) {
			if (s->l.err[0]) { /* the connection failed meanwhile */
				st = ret;
				goto out;
			}
			snprintf(why, sizeof(why), "'%s': reading it back: %s", rel,
				 strerror(-ret));
			st = result(s, rq->xfer, ret, why);
			goto out;
		}
		if ((st = cp_sha_wait(&s->l, rq->xfer, &peer, (int)s->cfg->timeout_ms)) < 0)
			goto out;
		if (peer.size != rq->size || memcmp(peer.sha, sha, 32)) {
			snprintf(why, sizeof(why), "'%s': SHA-256 mismatch: the file is not kept",
				 rel);
			st = result(s, rq->xfer, -EBADMSG, why);
			goto out;
		}
		/* fsync, then the name (link or rename over the old file), then the directory. */
		if ((ret = cp_tmp_commit(&t, base)) < 0) {
			snprintf(why, sizeof(why), "'%s': storing it: %s", rel, strerror(-ret));
			st = result(s, rq->xfer, ret, why);
			goto out;
		}
		char hex[65];
		cp_hex(sha, 32, hex);
		slog(s->cfg, 2, "session %u (%s): stored '%s' (%llu bytes, sha256 %s)", s->id,
		     s->cn, rel, (unsigned long long)off, hex);
		st = result(s, rq->xfer, 0, NULL);
	}
out:
	unexpose(s, rq->xfer, x.mr);
	cp_hasher_cancel(&x.h); /* before its file is closed */
	cp_tmp_discard(&t);	/* never a partial file under any name */
	if (dfd >= 0)
		close(dfd);
	/* Logged once the temporary file is gone: the log line means it is. */
	if (why[0])
		slog(s->cfg, 1, "session %u (%s): upload of '%s' failed: %s", s->id, s->cn, rel,
		     why);
	else if (st < 0)
		slog(s->cfg, 1, "session %u (%s): upload of '%s' failed: %s", s->id, s->cn, rel,
		     s->l.err);
	return st;
}

static int do_get(struct session *s, const struct cp_msg *rq)
{
	char rel[CP_PATH_MAX + 1], why[CP_PATH_MAX + 600] = "";
	struct xfer_setup x = {0};
	uint32_t seq, sent = 0, acked = 0, nchunks;
	struct stat st0, st1;
	int ret, fd, st = 0, ended = 0;

	if ((ret = new_xfer(s, rq)) || (ret = check_path(s, rq, CP_PERM_READ, rel, sizeof(rel))))
		return ret < 0 ? ret : 0;
	fd = open_checked(s, rq, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, NULL, CP_PERM_READ, &ret);
	if (fd < 0)
		return ret;
	if (fstat(fd, &st0) < 0 || !S_ISREG(st0.st_mode)) {
		close(fd);
		return reply(s, rq->xfer, S_ISDIR(st0.st_mode) ? -EISDIR : -EINVAL,
			     "'%s' is not a regular file%s", rel,
			     S_ISDIR(st0.st_mode) ? " (a directory: use -r)" : "");
	}
	st = start_transfer(s, rq, SRDMA_ACCESS_REMOTE_READ, (uint64_t)st0.st_size,
			    st0.st_mode & 0777, fd, &x, why, sizeof(why));
	if (st != 1)
		goto out;
	st = 0;
	/* The whole file is there: its hash runs alongside the transfer from the start. */
	cp_hasher_advance(&x.h, (uint64_t)st0.st_size);
	slog(s->cfg, 2, "session %u (%s): sending '%s' (%llu bytes)", s->id, s->cn, rel,
	     (unsigned long long)st0.st_size);
	nchunks = (uint32_t)(((uint64_t)st0.st_size + x.chunk - 1) / x.chunk);
	for (;;) {
		struct cp_msg m;

		/* Fill every free slot, then wait for the reader to free one. */
		while (sent < nchunks && sent - acked < x.depth) {
			struct cp_msg c = {.type = CP_CHUNK, .xfer = rq->xfer, .index = sent};
			uint64_t off = (uint64_t)sent * x.chunk;
			uint8_t *slot = s->ring + (size_t)(sent % x.depth) * x.chunk;
			uint32_t len = (uint64_t)st0.st_size - off < x.chunk
					   ? (uint32_t)((uint64_t)st0.st_size - off)
					   : x.chunk;
			ssize_t n = cp_full_pread(fd, slot, len, (off_t)off);

			if (n != (ssize_t)len) {
				snprintf(why, sizeof(why), "'%s' %s while being read", rel,
					 n < 0 ? strerror((int)-n) : "changed (shrank)");
				goto abort;
			}
			c.slot = sent % x.depth;
			c.offset = off;
			c.len = len;
			if (x.enc) {
				/* Sealed in place, in one pass; the notice carries its tag. */
				if ((st = cp_chunk_seal(&s->l, rq->xfer, off, slot, len, c.tag)) <
				    0)
					goto out;
				st = cp_send(&s->l, &c);
			} else if (s->sealed) {
				st = cp_send_tagged(&s->l, &c, slot);
			} else {
				st = cp_send(&s->l, &c);
			}
			if (st < 0)
				goto out;
			sent++;
		}
		if (sent == nchunks && !ended) {
			struct cp_sha sh = {.xfer = rq->xfer, .size = (uint64_t)st0.st_size};
			struct cp_msg e = {.type = CP_END, .xfer = rq->xfer};

			ret = cp_hasher_finish_link(&x.h, &s->l, (uint64_t)st0.st_size, sh.sha);
			if (ret < 0 && s->l.err[0]) { /* the connection failed meanwhile */
				st = ret;
				goto out;
			}
			if (ret < 0 && ret != -ESTALE) {
				snprintf(why, sizeof(why), "'%s': %s while being read", rel,
					 strerror(-ret));
				goto abort;
			}
			if (ret < 0 || fstat(fd, &st1) < 0 || !cp_same_file(&st0, &st1)) {
				snprintf(why, sizeof(why), "'%s' changed while being read", rel);
				goto abort;
			}
			if ((st = cp_send(&s->l, &e)) < 0 || (st = cp_sha_send(&s->l, &sh)) < 0)
				goto out;
			ended = 1;
		}
		if ((st = cp_recv_wait(&s->l, &m, &seq, -1)) < 0)
			goto out;
		if (m.xfer != rq->xfer) {
			st = cp_fail(&s->l, -EPROTO, "message of transfer %u during %u", m.xfer,
				     rq->xfer);
			goto out;
		}
		if (m.type == CP_ACK && m.index == acked && acked < sent) {
			acked++;
			continue;
		}
		if (m.type == CP_RESULT || m.type == CP_END) {
			if (m.status)
				snprintf(why, sizeof(why), "client: %s", m.text);
			else if (!ended || acked != nchunks)
				st = cp_fail(&s->l, -EPROTO, "early result");
			else
				slog(s->cfg, 2, "session %u (%s): sent '%s' (%llu bytes)", s->id,
				     s->cn, rel, (unsigned long long)st0.st_size);
			goto out;
		}
		st = cp_fail(&s->l, -EPROTO, "unexpected message type %u", m.type);
		goto out;
	}
abort : {
	struct cp_msg e = {.type = CP_END, .xfer = rq->xfer, .status = -ESTALE};

	snprintf(e.text, sizeof(e.text), "%s", why);
	st = cp_send(&s->l, &e);
}
out:
	if (why[0])
		slog(s->cfg, 1, "session %u (%s): download of '%s' failed: %s", s->id, s->cn, rel,
		     why);
	else if (st < 0)
		slog(s->cfg, 1, "session %u (%s): download of '%s' failed: %s", s->id, s->cn, rel,
		     s->l.err);
	/* Read access ends with the transfer. */
	unexpose(s, rq->xfer, x.mr);
	cp_hasher_cancel(&x.h);
	close(fd);
	return st;
}

/* Walk dir (fd), sending an entry per directory and regular file; symlinks and others are
 * skipped. */
static int walk(struct session *s, uint32_t xfer, int dfd, const char *prefix, unsigned depth)
{
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (depth > 64)
		return 0;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while ((e = readdir(d)) && ret >= 0) {
		struct cp_msg m = {.type = CP_ENTRY, .xfer = xfer};
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			continue;
		if ((size_t)snprintf(m.text, sizeof(m.text), "%s%s%s", prefix, *prefix ? "/" : "",
				     e->d_name) >= sizeof(m.text))
			continue;
		m.op = S_ISDIR(sb.st_mode) ? 'd' : 'f';
		m.size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
		m.mode = sb.st_mode & 0777;
		if ((ret = cp_send(&s->l, &m)) < 0)
			break;
		if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			char p2[CP_PATH_MAX + 1];

			snprintf(p2, sizeof(p2), "%s", m.text);
			if (sub >= 0)
				ret = walk(s, xfer, sub, p2, depth + 1);
		}
	}
	closedir(d);
	return ret;
}

static int do_list(struct session *s, const struct cp_msg *rq)
{
	char rel[CP_PATH_MAX + 1];
	struct cp_msg e = {.type = CP_END, .xfer = rq->xfer};
	struct stat sb;
	int ret, fd;

	if ((ret = new_xfer(s, rq)) || (ret = check_path(s, rq, CP_PERM_READ, rel, sizeof(rel))))
		return ret < 0 ? ret : 0;
	fd = open_checked(s, rq, rel, O_RDONLY | O_NONBLOCK, NULL, CP_PERM_READ, &ret);
	if (fd < 0)
		return ret;
	if (fstat(fd, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		close(fd);
		return reply(s, rq->xfer, -ENOTDIR, "'%s' is not a directory", rel);
	}
	if ((ret = reply(s, rq->xfer, 0, NULL)) < 0) {
		close(fd);
		return ret;
	}
	if ((ret = walk(s, rq->xfer, fd, "", 0)) < 0)
		return ret;
	return cp_send(&s->l, &e);
}

static int do_mkdir(struct session *s, const struct cp_msg *rq)
{
	char rel[CP_PATH_MAX + 1];
	int ret;

	if ((ret = new_xfer(s, rq)) || (ret = check_path(s, rq, CP_PERM_WRITE, rel, sizeof(rel))))
		return ret < 0 ? ret : 0;
	ret = cp_mkdirs(s->root, rel);
	if (ret < 0)
		return reply(s, rq->xfer, ret, "'%s': %s", rel,
			     ret == -EXDEV ? "path escapes the exported directory"
					   : strerror(-ret));
	return reply(s, rq->xfer, 0, NULL);
}

/* The SHA-256 of a file as it is now on disk (--verify after an upload). */
static int do_verify(struct session *s, const struct cp_msg *rq)
{
	char rel[CP_PATH_MAX + 1];
	struct cp_sha sh = {.xfer = rq->xfer};
	EVP_MD_CTX *md;
	uint8_t *buf;
	unsigned shalen;
	ssize_t n;
	off_t off = 0;
	int ret, fd;

	if ((ret = new_xfer(s, rq)) ||
	    (ret = check_path(s, rq, CP_PERM_READ | CP_PERM_WRITE, rel, sizeof(rel))))
		return ret < 0 ? ret : 0;
	fd = open_checked(s, rq, rel, O_RDONLY | O_NONBLOCK, NULL, CP_PERM_READ | CP_PERM_WRITE,
			  &ret);
	if (fd < 0)
		return ret;
	buf = malloc(1u << 20);
	md = EVP_MD_CTX_new();
	if (!buf || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		ret = reply(s, rq->xfer, -ENOMEM, "server: out of memory");
		goto out;
	}
	while ((n = cp_full_pread(fd, buf, 1u << 20, off)) > 0) {
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += n;
	}
	if (n < 0) {
		ret = reply(s, rq->xfer, (int)n, "'%s': %s", rel, strerror((int)-n));
		goto out;
	}
	EVP_DigestFinal_ex(md, sh.sha, &shalen);
	sh.size = (uint64_t)off;
	if ((ret = reply(s, rq->xfer, 0, NULL)) == 0)
		ret = cp_sha_send(&s->l, &sh);
out:
	EVP_MD_CTX_free(md);
	free(buf);
	close(fd);
	return ret;
}

static void *session_main(void *arg)
{
	struct session *s = arg;
	const struct srdma_peer *peer = srdma_conn_peer(s->c);
	struct srdma_conn_info info;
	uint64_t t0 = cp_now_ns();
	unsigned transfers = 0;
	int ret = 0;

	srdma_conn_info(s->c, &info);
	s->sealed = info.dataplane != SRDMA_DP_PLAIN;
	snprintf(s->cn, sizeof(s->cn), "%s", peer->common_name);
	s->l.c = s->c;
	s->l.cfg = s->cfg;
	s->l.stop = &stop_flag;
	slog(s->cfg, 2, "session %u: %s CN=%s connected", s->id, peer->addr, s->cn);
	for (;;) {
		struct cp_msg m;
		uint32_t seq;

		ret = cp_recv_wait(&s->l, &m, &seq, -1);
		if (ret < 0)
			break;
		if (m.type != CP_REQ) {
			ret = cp_fail(&s->l, -EPROTO, "expected a request, got message type %u",
				      m.type);
			break;
		}
		transfers++;
		if ((m.op == CP_OP_PUT || m.op == CP_OP_GET) && (m.flags & CP_F_ENCRYPT_OLD)) {
			/* Chunks encrypted the way srdma-cp did before one-pass sealing. */
			ret = reply(s, m.xfer, -EPROTONOSUPPORT,
				    "this server seals chunks in one pass, the client's srdma-cp "
				    "is older: upgrade it, or copy with --no-encrypt");
			if (ret < 0)
				break;
			continue;
		}
		switch (m.op) {
		case CP_OP_PUT:
			ret = do_put(s, &m);
			break;
		case CP_OP_GET:
			ret = do_get(s, &m);
			break;
		case CP_OP_LIST:
			ret = do_list(s, &m);
			break;
		case CP_OP_VERIFY:
			ret = do_verify(s, &m);
			break;
		case CP_OP_MKDIR:
			ret = do_mkdir(s, &m);
			break;
		default:
			ret = cp_fail(&s->l, -EPROTO, "unknown request %u", m.op);
		}
		if (ret < 0)
			break;
	}
	if (s->l.peer_closed && ret == -ECONNRESET)
		slog(s->cfg, 2, "session %u (%s): closed after %u requests, %.1f s", s->id, s->cn,
		     transfers, (double)(cp_now_ns() - t0) / 1e9);
	else
		slog(s->cfg, s->l.peer_closed ? 2 : 1, "session %u (%s): ended: %s", s->id, s->cn,
		     s->l.err[0] ? s->l.err : strerror(-ret));
	srdma_conn_close(s->c);
	s->c = NULL;
	free(s->ring);
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int on_request(void *arg, struct srdma_request *rq)
{
	const struct cp_config *cfg = arg;
	unsigned i, any = 0;

	if (rq->nqp != 2 || rq->driver[0] != SRDMA_QP_MESSAGES || rq->driver[1] != SRDMA_QP_RAW) {
		snprintf(rq->reason, sizeof(rq->reason), "srdma-cp wants QP 0 messages, QP 1 raw");
		return -1;
	}
	for (i = 0; i < cfg->nallow; i++)
		if ((!strcmp(cfg->allow[i].cn, rq->peer->common_name) ||
		     !strcmp(cfg->allow[i].cn, "*")) &&
		    cfg->allow[i].perm)
			any = 1;
	if (!rq->peer->verified || !any) {
		snprintf(rq->reason, sizeof(rq->reason), "certificate CN=%.80s has no access here",
			 rq->peer->common_name);
		slog(cfg, 1, "refused %s: %s", rq->peer->addr, rq->reason);
		return -1;
	}
	rq->qp[0].max_msg = CP_MSG_MAX;
	rq->qp[0].depth = 128;
	/* The client writes into (upload) and reads from (download) the ring; each transfer's
	 * region grants one of the two, for that transfer only. */
	rq->qp[1].remote_access = SRDMA_ACCESS_REMOTE_WRITE | SRDMA_ACCESS_REMOTE_READ;
	return 0;
}

static void on_failure(void *arg, const char *addr, int error, const char *reason)
{
	slog(arg, 1, "handshake with %s failed: %s (%s)", addr, reason, strerror(-error));
}

static unsigned reap(struct session **list, int all)
{
	struct session **pp = list, *s;
	unsigned live = 0;

	while ((s = *pp)) {
		if (all || __atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
			pthread_join(s->thread, NULL);
			*pp = s->next;
			free(s);
			continue;
		}
		live++;
		pp = &s->next;
	}
	return live;
}

int cp_serve(const struct cp_config *cfg)
{
	struct srdma_ctx_opts co;
	struct srdma_listen_opts lo;
	struct srdma_ctx *ctx = NULL;
	struct srdma_listener *l = NULL;
	struct session *list = NULL;
	struct sigaction sa;
	unsigned ids = 0, n;
	char err[512];
	char root_real[PATH_MAX];
	int ret, root;

	root = open(cfg->serve, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0 || !realpath(cfg->serve, root_real)) {
		fprintf(stderr, "srdma-cp: --serve %s: %s\n", cfg->serve, strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	srdma_ctx_opts_init(&co);
	co.cert = cfg->cert;
	co.key = cfg->key;
	co.ca = cfg->client_ca;
	co.tls_min = cfg->tls_min;
	co.dataplane = cfg->dataplane;
	co.device = cfg->device;
	co.ib_port = (uint8_t)cfg->ib_port;
	co.gid_index = cfg->gid_index;
	co.max_conns = cfg->max_clients;
	if ((ret = srdma_ctx_create(&co, &ctx, err, sizeof(err))) < 0 ||
	    (ret = srdma_ctx_open_device(ctx, err, sizeof(err))) < 0)
		goto fail;
	srdma_listen_opts_init(&lo);
	lo.bind = cfg->bind;
	lo.port = cfg->port;
	lo.handshake_timeout_ms = cfg->timeout_ms;
	lo.on_request = on_request;
	lo.on_failure = on_failure;
	lo.arg = (void *)cfg;
	if ((ret = srdma_listen(ctx, &lo, &l, err, sizeof(err))) < 0)
		goto fail;
	/* Always printed: scripts wait for it. */
	fprintf(stderr, "srdma-cp: listening on %s port %u, exporting %s\n", cfg->bind,
		srdma_listener_port(l), cfg->serve);
	while (!stop_flag) {
		struct srdma_conn *c;
		struct session *s;

		reap(&list, 0);
		ret = srdma_accept(l, &c, 200);
		if (ret == -ETIMEDOUT || ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret < 0) {
			snprintf(err, sizeof(err), "accept: %s", strerror(-ret));
			break;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			srdma_conn_close(c);
			continue;
		}
		s->cfg = cfg;
		s->c = c;
		s->root = root;
		s->root_real = root_real;
		s->id = ++ids;
		if (pthread_create(&s->thread, NULL, session_main, s)) {
			srdma_conn_close(c);
			free(s);
			continue;
		}
		s->next = list;
		list = s;
	}
	srdma_listener_close(l);
	n = reap(&list, 0);
	if (n)
		slog(cfg, 2, "stopping: waiting for %u sessions", n);
	reap(&list, 1);
	ret = srdma_ctx_destroy(ctx);
	close(root);
	fprintf(stderr, "srdma-cp: shutdown complete: %u sessions served%s\n", ids,
		ret ? ", context not freed" : "");
	return ret ? 1 : 0;
fail:
	fprintf(stderr, "srdma-cp: %s\n", err);
	srdma_listener_close(l);
	srdma_ctx_destroy(ctx);
	close(root);
	return 1;
}
