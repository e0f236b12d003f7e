/* srdma-cp: the QP 0 message codec, a connection's waits, chunk sealing, progress. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp.h"

/* ---- Codec ---- */

#define HDR_LEN 90

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

size_t cp_msg_encode(const struct cp_msg *m, uint8_t *buf, size_t cap)
{
	size_t tl = strnlen(m->text, CP_PATH_MAX);

	if (cap < HDR_LEN + tl)
		return 0;
	memset(buf, 0, HDR_LEN);
	buf[0] = m->type;
	buf[1] = m->op;
	buf[2] = m->flags;
	put32(buf + 4, (uint32_t)m->status);
	put32(buf + 8, m->xfer);
	put32(buf + 12, m->index);
	put32(buf + 16, m->slot);
	put32(buf + 20, m->len);
	put32(buf + 24, m->mode);
	put32(buf + 28, m->chunk);
	put32(buf + 32, m->depth);
	put64(buf + 40, m->size);
	put64(buf + 48, m->offset);
	memcpy(buf + 56, m->tag, SRDMA_TAG_LEN);
	buf[88] = (uint8_t)(tl & 0xff);
	buf[89] = (uint8_t)(tl >> 8);
	memcpy(buf + HDR_LEN, m->text, tl);
	return HDR_LEN + tl;
}

int cp_msg_decode(struct cp_msg *m, const uint8_t *buf, size_t len)
{
	size_t tl;

	if (len < HDR_LEN)
		return -EBADMSG;
	tl = (size_t)buf[88] | (size_t)buf[89] << 8;
	if (tl > CP_PATH_MAX || HDR_LEN + tl != len || memchr(buf + HDR_LEN, 0, tl))
		return -EBADMSG;
	m->type = buf[0];
	m->op = buf[1];
	m->flags = buf[2];
	m->status = (int32_t)get32(buf + 4);
	m->xfer = get32(buf + 8);
	m->index = get32(buf + 12);
	m->slot = get32(buf + 16);
	m->len = get32(buf + 20);
	m->mode = get32(buf + 24);
	m->chunk = get32(buf + 28);
	m->depth = get32(buf + 32);
	m->size = get64(buf + 40);
	m->offset = get64(buf + 48);
	memcpy(m->tag, buf + 56, SRDMA_TAG_LEN);
	memcpy(m->text, buf + HDR_LEN, tl);
	m->text[tl] = '\0';
	if (m->type < CP_REQ || m->type > CP_RESULT)
		return -EBADMSG;
	return 0;
}

/* ---- Link ---- */

int cp_fail(struct cp_link *l, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!l->err[0]) {
		va_start(ap, fmt);
		vsnprintf(l->err, sizeof(l->err), fmt, ap);
		va_end(ap);
	}
	return ret < 0 ? ret : -EIO;
}

static int conn_error(struct cp_link *l, int ret, const char *what)
{
	const char *m = srdma_conn_errmsg(l->c);

	if (ret == -ECONNRESET)
		return cp_fail(l, ret, "%s: the peer closed the connection or died%s%s", what,
			       m && *m ? ": " : "", m ? m : "");
	return cp_fail(l, ret, "%s: %s%s%s", what, strerror(-ret), m && *m ? ": " : "", m ? m : "");
}

int cp_pump_ctrl(struct cp_link *l)
{
	struct srdma_event ev;
	int ret;

	if (l->peer_closed)
		return -ECONNRESET;
	while ((ret = srdma_conn_process(l->c, &ev)) == 1) {
		if (ev.type == SRDMA_EV_PEER_CLOSED) {
			l->peer_closed = 1;
			return -ECONNRESET;
		}
		if (ev.type == SRDMA_EV_CTRL && ev.len == 1 + 4 + 8 + 32 &&
		    ev.data[0] == CP_CTRL_SHA && l->nshas < sizeof(l->shas) / sizeof(l->shas[0])) {
			struct cp_sha *s = &l->shas[l->nshas++];

			s->xfer = get32(ev.data + 1);
			s->size = get64(ev.data + 5);
			memcpy(s->sha, ev.data + 13, 32);
		}
	}
	return ret < 0 ? ret : 0;
}

int cp_wait(struct cp_link *l, int extra_fd, int timeout_ms)
{
	struct pollfd p[3];
	int n = 2, ret;

	p[0].fd = srdma_conn_fd(l->c);
	p[0].events = srdma_conn_poll_events(l->c);
	p[1].fd = srdma_conn_qp_fd(l->c, 0);
	p[1].events = POLLIN;
	if (extra_fd >= 0) {
		p[2].fd = extra_fd;
		p[2].events = POLLIN;
		n = 3;
	}
	ret = poll(p, (nfds_t)n, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	return ret == 0 ? -ETIMEDOUT : 0;
}

int cp_send(struct cp_link *l, const struct cp_msg *m)
{
	uint8_t buf[CP_MSG_MAX];
	size_t n = cp_msg_encode(m, buf, sizeof(buf));
	int ret;

	if (!n)
		return cp_fail(l, -EMSGSIZE, "message too long");
	ret = srdma_msg_send_wait(l->c, 0, buf, n, (int)l->cfg->timeout_ms);
	if (ret < 0)
		return conn_error(l, ret, "sending a message");
	return 0;
}

int cp_send_tagged(struct cp_link *l, struct cp_msg *m, const void *bytes)
{
	uint8_t buf[CP_MSG_MAX];
	uint64_t deadline = cp_now_ns() + (uint64_t)l->cfg->timeout_ms * 1000000u;
	size_t n;
	int ret;

	for (;;) {
		/* The tag names the sequence number of the message that carries it: computed
		 * anew before each attempt, since a wait may take numbers (credit messages). */
		ret = srdma_tag(l->c, 0, 1, srdma_msg_next_seq(l->c, 0), m->offset, bytes, m->len,
				m->tag);
		if (ret < 0)
			return conn_error(l, ret, "computing a region tag");
		n = cp_msg_encode(m, buf, sizeof(buf));
		ret = srdma_msg_send(l->c, 0, buf, n);
		if (ret != -EAGAIN)
			break;
		if (cp_now_ns() > deadline)
			return cp_fail(l, -ETIMEDOUT, "no credit to send a chunk notice");
		if ((ret = cp_pump_ctrl(l)) < 0)
			return conn_error(l, ret, "waiting for a credit");
		poll(NULL, 0, 1);
	}
	if (ret < 0)
		return conn_error(l, ret, "sending a chunk notice");
	return 0;
}

int cp_recv(struct cp_link *l, struct cp_msg *m, uint32_t *seq)
{
	uint8_t buf[CP_MSG_MAX];
	size_t n;
	int ret;

	ret = srdma_msg_recv(l->c, 0, buf, sizeof(buf), &n, seq);
	if (ret == -EAGAIN)
		return ret;
	if (ret < 0)
		return conn_error(l, ret, "receiving a message");
	if (cp_msg_decode(m, buf, n))
		return cp_fail(l, -EBADMSG, "malformed message from the peer");
	return 0;
}

int cp_recv_wait(struct cp_link *l, struct cp_msg *m, uint32_t *seq, int timeout_ms)
{
	uint64_t deadline = cp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int ret;

	for (;;) {
		ret = cp_recv(l, m, seq);
		if (ret != -EAGAIN)
			return ret;
		if (l->stop && *l->stop)
			return cp_fail(l, -EINTR, "shutting down");
		if ((ret = cp_pump_ctrl(l)) < 0)
			return conn_error(l, ret, "waiting for the peer");
		if (timeout_ms >= 0 && cp_now_ns() > deadline)
			return cp_fail(l, -ETIMEDOUT, "the peer did not answer within %d ms",
				       timeout_ms);
		if ((ret = cp_wait(l, -1, 100)) < 0 && ret != -ETIMEDOUT)
			return conn_error(l, ret, "poll");
	}
}

int cp_sha_wait(struct cp_link *l, uint32_t xfer, struct cp_sha *out, int timeout_ms)
{
	uint64_t deadline = cp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned i;
	int ret;

	for (;;) {
		for (i = 0; i < l->nshas; i++) {
			if (l->shas[i].xfer == xfer) {
				*out = l->shas[i];
				l->shas[i] = l->shas[--l->nshas];
				return 0;
			}
		}
		if ((ret = cp_pump_ctrl(l)) < 0)
			return conn_error(l, ret, "waiting for the file's SHA-256");
		if (cp_now_ns() > deadline)
			return cp_fail(l, -ETIMEDOUT, "the file's SHA-256 did not come");
		struct pollfd p = {.fd = srdma_conn_fd(l->c),
				   .events = srdma_conn_poll_events(l->c)};
		poll(&p, 1, 100);
	}
}

int cp_sha_send(struct cp_link *l, const struct cp_sha *s)
{
	uint8_t b[1 + 4 + 8 + 32];
	int ret;

	b[0] = CP_CTRL_SHA;
	put32(b + 1, s->xfer);
	put64(b + 5, s->size);
	memcpy(b + 13, s->sha, 32);
	while ((ret = srdma_ctrl_send(l->c, b, sizeof(b))) == -ENOBUFS) {
		if ((ret = cp_ctrl_flush(l, (int)l->cfg->timeout_ms)) < 0)
			return ret;
	}
	if (ret < 0)
		return conn_error(l, ret, "sending the SHA-256");
	return cp_ctrl_flush(l, (int)l->cfg->timeout_ms);
}

int cp_ctrl_flush(struct cp_link *l, int timeout_ms)
{
	uint64_t deadline = cp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int ret;

	for (;;) {
		if ((ret = cp_pump_ctrl(l)) < 0)
			return conn_error(l, ret, "control channel");
		struct pollfd p = {.fd = srdma_conn_fd(l->c),
				   .events = srdma_conn_poll_events(l->c)};
		if (!(p.events & POLLOUT))
			return 0;
		if (cp_now_ns() > deadline)
			return cp_fail(l, -ETIMEDOUT, "control channel stuck");
		poll(&p, 1, 100);
	}
}

int cp_region_wait(struct cp_link *l, uint32_t id, struct srdma_region *r, int timeout_ms)
{
	uint64_t deadline = cp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int ret;

	for (;;) {
		if (srdma_remote_region(l->c, id, r) == 0)
			return 0;
		if ((ret = cp_pump_ctrl(l)) < 0)
			return conn_error(l, ret, "waiting for the peer's buffers");
		if (srdma_remote_region(l->c, id, r) == 0)
			return 0;
		if (cp_now_ns() > deadline)
			return cp_fail(l, -ETIMEDOUT, "the peer did not advertise its buffers");
		struct pollfd p = {.fd = srdma_conn_fd(l->c),
				   .events = srdma_conn_poll_events(l->c)};
		poll(&p, 1, 100);
	}
}

/* ---- Chunk sealing ---- */

int cp_chunk_seal(struct cp_link *l, uint32_t xfer, uint64_t off, uint8_t *buf, size_t len,
		  uint8_t tag[SRDMA_TAG_LEN])
{
	int ret = srdma_tag_seal(l->c, 0, xfer, off, buf, len, tag);

	return ret < 0 ? conn_error(l, ret, "sealing a chunk") : 0;
}

int cp_chunk_open(struct cp_link *l, uint32_t xfer, uint32_t index, uint64_t off, uint8_t *buf,
		  size_t len, const uint8_t tag[SRDMA_TAG_LEN])
{
	int ret = srdma_tag_open(l->c, 0, xfer, off, buf, len, tag);

	if (ret == -EBADMSG)
		return cp_fail(l, ret, "chunk %u failed authentication", index);
	return ret < 0 ? conn_error(l, ret, "opening a chunk") : 0;
}

/* ---- The file's SHA-256 ---- */

ssize_t cp_full_pread(int fd, uint8_t *b, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, b + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

#define HASH_BUF (1u << 20)

static void *hasher_main(void *arg)
{
	struct cp_hasher *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		uint64_t from = h->done, to = h->avail;
		ssize_t n;

		if (h->err || (h->finish && from >= to))
			break;
		if (from >= to) {
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		pthread_mutex_unlock(&h->lock);
		if (to - from > HASH_BUF)
			to = from + HASH_BUF;
		n = cp_full_pread(h->fd, h->buf, (size_t)(to - from), (off_t)from);
		if (n == (ssize_t)(to - from) && EVP_DigestUpdate(h->md, h->buf, (size_t)n) != 1)
			n = -EIO;
		pthread_mutex_lock(&h->lock);
		if (n < 0)
			h->err = (int)n;
		else if (n != (ssize_t)(to - from))
			h->err = -ESTALE; /* the file is shorter than it was */
		else
			h->done = to;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int cp_hasher_start(struct cp_hasher *h, int fd)
{
	memset(h, 0, sizeof(*h));
	h->fd = fd;
	h->md = EVP_MD_CTX_new();
	h->buf = malloc(HASH_BUF);
	if (!h->md || !h->buf || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
		goto nomem;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, hasher_main, h)) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		goto nomem;
	}
	h->running = 1;
	return 0;
nomem:
	EVP_MD_CTX_free(h->md);
	free(h->buf);
	h->md = NULL;
	h->buf = NULL;
	return -ENOMEM;
}

void cp_hasher_advance(struct cp_hasher *h, uint64_t upto)
{
	if (!h->running)
		return;
	pthread_mutex_lock(&h->lock);
	if (upto > h->avail) {
		h->avail = upto;
		pthread_cond_signal(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
}

static void hasher_stop(struct cp_hasher *h)
{
	if (h->running) {
		pthread_mutex_lock(&h->lock);
		h->finish = 1;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		h->running = 0;
	}
}

int cp_hasher_finish(struct cp_hasher *h, uint64_t size, uint8_t sha[32])
{
	unsigned len;
	int ret;

	if (!h->running)
		return -EINVAL;
	cp_hasher_advance(h, size);
	hasher_stop(h);
	ret = h->err;
	if (!ret && h->done != size)
		ret = -ESTALE;
	if (!ret && EVP_DigestFinal_ex(h->md, sha, &len) != 1)
		ret = -EIO;
	cp_hasher_cancel(h);
	return ret;
}

int cp_hasher_finish_link(struct cp_hasher *h, struct cp_link *l, uint64_t size, uint8_t sha[32])
{
	int ret;

	if (!h->running)
		return -EINVAL;
	cp_hasher_advance(h, size);
	/* The hash may lag behind the transfer: wait for it while the connection is served
	 * (its heartbeat ends a session left alone for heartbeat_ms x heartbeat_misses). */
	for (;;) {
		struct timespec ts;
		int ready;

		pthread_mutex_lock(&h->lock);
		ready = h->err || h->done >= size;
		if (!ready) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&h->cond, &h->lock, &ts);
			ready = h->err || h->done >= size;
		}
		pthread_mutex_unlock(&h->lock);
		if (ready)
			break;
		if ((ret = cp_pump_ctrl(l)) < 0) {
			cp_hasher_cancel(h);
			return conn_error(l, ret, "while hashing the file");
		}
		if (l->stop && *l->stop) {
			cp_hasher_cancel(h);
			return cp_fail(l, -EINTR, "shutting down");
		}
	}
	return cp_hasher_finish(h, size, sha);
}

void cp_hasher_cancel(struct cp_hasher *h)
{
	if (h->running) {
		pthread_mutex_lock(&h->lock);
		h->err = -ECANCELED;
		pthread_mutex_unlock(&h->lock);
		hasher_stop(h);
	}
	EVP_MD_CTX_free(h->md);
	free(h->buf);
	h->md = NULL;
	h->buf = NULL;
}

/* ---- Misc ---- */

uint64_t cp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cp_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int cp_path_clean(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	const char *p = in;

	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EXDEV;
		if (!(n == 1 && p[0] == '.')) {
			if (o + n + 2 > cap)
				return -ENAMETOOLONG;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	if (!o) {
		if (cap < 2)
			return -ENAMETOOLONG;
		out[o++] = '.';
	}
	out[o] = '\0';
	return 0;
}

void cp_progress_start(struct cp_progress *p, int on, const char *name, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = on;
	p->name = name;
	p->total = total;
	p->t0 = cp_now_ns();
}

static void progress_draw(struct cp_progress *p, uint64_t now)
{
	double s = (double)(now - p->t0) / 1e9, rate = s > 0 ? (double)p->done / s : 0;
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 100.0;
	char eta[32] = "--:--";
	char bar[31];
	int i, fill = (int)(pct * 30 / 100);

	if (rate > 0 && p->total >= p->done) {
		unsigned long e = (unsigned long)((double)(p->total - p->done) / rate);

		snprintf(eta, sizeof(eta), "%lu:%02lu", e / 60, e % 60);
	}
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : ' ';
	bar[30] = '\0';
	fprintf(stderr, "\r%-24.24s [%s] %5.1f%% %8.2f MiB/s ETA %s ", p->name, bar, pct,
		rate / 1048576.0, eta);
	fflush(stderr);
}

void cp_progress_update(struct cp_progress *p, uint64_t done)
{
	uint64_t now;

	if (!p->on)
		return;
	p->done = done;
	now = cp_now_ns();
	if (now - p->last < 200000000u)
		return;
	p->last = now;
	progress_draw(p, now);
}

void cp_progress_end(struct cp_progress *p)
{
	if (!p->on)
		return;
	p->done = p->total;
	progress_draw(p, cp_now_ns());
	fputc('\n', stderr);
}
