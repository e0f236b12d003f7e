/* srdma-crypto-bench: what the data plane's seal and open cost per message on this CPU, with no
 * RDMA device. bench/crypto.sh runs it next to `openssl speed -evp ... -aead` and prints the
 * ratios (BENCHMARKS.md, "Crypto at its limit").
 *
 *   srdma-crypto-bench --certs DIR [--quick] [--seconds S] [--sizes N,N,...]
 *                      [--modes aead,chacha20,plain] [--clock cpu|wall]
 *
 * A client and a server TLS 1.3 session (the certificates of scripts/gen-certs.sh in DIR) shake
 * hands over a socketpair; each mode's keys are then derived from that session exactly as a
 * connection derives them (srdma_dp_derive, with random QPNs and PSNs). Per size, messages go
 * client to server as the library sends them: srdma_dp_put (encode + seal into a send slot),
 * then srdma_dp_get (open in place + decode), in batches of up to 256 slots so that the clock
 * is read once per batch. The seal and open times are summed separately; after each batch,
 * outside the timed part, every message is checked byte for byte against what was sent.
 *
 * --cp: srdma-cp's chunk protection instead (docs/srdma-cp.md, "Chunk protection"), per chunk
 * of --sizes bytes (default 65536,1048576,16777216; srdma-cp's default chunk is 1 MiB): the
 * writer seals the chunk in place in one pass (srdma_dp_tag_seal, behind srdma_tag_seal:
 * AES-256-GCM in aead mode, ChaCha20-Poly1305 in chacha20 mode, under the region sealing keys
 * the library derives from the TLS session), the reader opens it in place (srdma_dp_tag_open:
 * tag check and decryption in one pass). The --no-encrypt path is timed too (auth: the writer's
 * region tag, srdma_dp_region_tag, and the reader's, compared). Each chunk is checked against
 * the original after its round, outside the timed part. The SHA-256 of the chunk (which
 * srdma-cp computes at both ends in every mode) is timed on its own, for information.
 *
 * Output: one line per mode and size (columns: see print_header / print_cp_header). Exit
 * status 0, 1 on a functional error (a message or chunk that did not seal, open or come back
 * intact), 2 on a usage or set-up error. Timing never fails a run. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto.h"
#include "dataplane.h"
#include "tls.h"
#include "wire.h"

#define CP_BENCH_CHUNK_MAX (16u << 20) /* srdma-cp's largest chunk */
#define MAX_SIZES	   16
#define BATCH_BYTES	   (256u << 10) /* slots per batch: this many bytes, 1..MAX_BATCH slots */
#define MAX_BATCH	   256u
#define SLOT_EXTRA	   (SRDMA_MSG_HDR_LEN + SRDMA_AEAD_TAG_LEN)

struct opts {
	const char *certs;
	double seconds; /* per mode and size */
	uint32_t sizes[MAX_SIZES];
	unsigned nsizes;
	enum srdma_dp_mode modes[3];
	unsigned nmodes;
	clockid_t clock;
	int cp; /* --cp: srdma-cp's chunk protection */
	int sizes_given;
};

/* One direction of one session: what the client seals, what the server opens. */
struct pair {
	struct srdma_dataplane tx;
	struct srdma_dataplane rx;
};

struct result {
	unsigned long messages;
	double seal_s;
	double open_s;
};

/* The floor: the same AEAD calls straight on OpenSSL's EVP interface (fixed key, per message: the
 * nonce, the 16-byte header as additional data, the payload in place, the tag), on the same
 * slots, with no encoding, copying or checks around them. */
struct evp_pair {
	EVP_CIPHER_CTX *seal;
	EVP_CIPHER_CTX *open;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: srdma-crypto-bench --certs DIR [--quick] [--seconds S] [--sizes N,N,...]\n"
	    "                          [--modes aead,chacha20,plain] [--clock cpu|wall] [--cp]\n"
	    "  --certs DIR   ca.pem, server.pem, server.key (scripts/gen-certs.sh DIR)\n"
	    "  --seconds S   seal+open time per mode and size (1; --quick: 0.005)\n"
	    "  --sizes       payload bytes (64,4096,65536,1048576; at most %u)\n"
	    "  --modes       data-plane modes (aead,chacha20)\n"
	    "  --clock       cpu: this thread's CPU time (default), wall: CLOCK_MONOTONIC\n"
	    "  --cp          srdma-cp's chunk protection (one-pass seal and open) per chunk\n"
	    "                of --sizes bytes (65536,1048576,16777216; at most %u)\n",
	    SRDMA_MAX_MSG, CP_BENCH_CHUNK_MAX);
}

static double now_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_sizes(const char *arg, struct opts *o)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	o->nsizes = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);

		if (*end || v == 0 || v > CP_BENCH_CHUNK_MAX || o->nsizes == MAX_SIZES) {
			ret = -EINVAL;
			break;
		}
		o->sizes[o->nsizes++] = (uint32_t)v;
	}
	free(copy);
	return ret || o->nsizes == 0 ? -EINVAL : 0;
}

static int parse_modes(const char *arg, struct opts *o)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	o->nmodes = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum srdma_dp_mode m = SRDMA_DP_PLAIN;

		if (!strcmp(tok, "aead"))
			m = SRDMA_DP_AEAD;
		else if (!strcmp(tok, "chacha20"))
			m = SRDMA_DP_CHACHA20;
		else if (!strcmp(tok, "plain"))
			m = SRDMA_DP_PLAIN;
		else
			ret = -EINVAL;
		if (ret || o->nmodes == 3) {
			ret = -EINVAL;
			break;
		}
		o->modes[o->nmodes++] = m;
	}
	free(copy);
	return ret || o->nmodes == 0 ? -EINVAL : 0;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option long_opts[] = {
	    {"certs", required_argument, NULL, 'c'},
	    {"quick", no_argument, NULL, 'q'},
	    {"seconds", required_argument, NULL, 's'},
	    {"sizes", required_argument, NULL, 'S'},
	    {"modes", required_argument, NULL, 'm'},
	    {"clock", required_argument, NULL, 'k'},
	    {"cp", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	*o = (struct opts){.seconds = 1.0, .clock = CLOCK_THREAD_CPUTIME_ID};
	parse_modes("aead,chacha20", o);
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->certs = optarg;
			break;
		case 'q':
			o->seconds = 0.005;
			break;
		case 's':
			o->seconds = strtod(optarg, &end);
			if (*end || !(o->seconds > 0 && o->seconds <= 3600))
				goto bad;
			break;
		case 'S':
			if (parse_sizes(optarg, o))
				goto bad;
			o->sizes_given = 1;
			break;
		case 'C':
			o->cp = 1;
			break;
		case 'm':
			if (parse_modes(optarg, o))
				goto bad;
			break;
		case 'k':
			if (!strcmp(optarg, "cpu"))
				o->clock = CLOCK_THREAD_CPUTIME_ID;
			else if (!strcmp(optarg, "wall"))
				o->clock = CLOCK_MONOTONIC;
			else
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (!o->cp && !o->sizes_given)
		parse_sizes("64,4096,65536,1048576", o);
	else if (!o->sizes_given)
		parse_sizes("65536,1048576,16777216", o);
	for (unsigned i = 0; !o->cp && i < o->nsizes; i++)
		if (o->sizes[i] > SRDMA_MAX_MSG)
			goto bad; /* a message is at most SRDMA_MAX_MSG */
	if (optind == argc && o->certs)
		return;
bad:
	usage(stderr);
	exit(2);
}

/* --- a real TLS 1.3 session to derive the keys from ---------------------------------------- */

/* Drive both ends of the handshake in this thread until both are done. 0 or a negative errno. */
static int handshake_pair(struct srdma_tls *c, struct srdma_tls *s)
{
	int rc = -EAGAIN, rs = -EAGAIN, rounds;

	for (rounds = 0; rounds < 1000 && (rc == -EAGAIN || rs == -EAGAIN); rounds++) {
		struct pollfd p[2] = {{.fd = srdma_tls_fd(c), .events = POLLIN},
				      {.fd = srdma_tls_fd(s), .events = POLLIN}};

		if (rc == -EAGAIN)
			rc = srdma_tls_handshake(c);
		if (rs == -EAGAIN)
			rs = srdma_tls_handshake(s);
		if (rc == -EAGAIN && rs == -EAGAIN)
			poll(p, 2, 100);
	}
	if (rc == -EAGAIN || rs == -EAGAIN)
		return -ETIMEDOUT;
	return rc ? rc : rs;
}

struct session {
	struct srdma_tls_ctx *cctx, *sctx;
	struct srdma_tls *client, *server;
};

static void session_close(struct session *s)
{
	srdma_tls_destroy(s->client);
	srdma_tls_destroy(s->server);
	srdma_tls_ctx_destroy(s->cctx);
	srdma_tls_ctx_destroy(s->sctx);
}

static int session_open(const char *dir, struct session *s)
{
	char ca[4096], cert[4096], key[4096], err[512];
	struct srdma_tls_server_opts so = {.cert = cert, .key = key, .min_version = SRDMA_TLS_1_3};
	struct srdma_tls_client_opts co = {.ca = ca, .min_version = SRDMA_TLS_1_3};
	int sv[2], ret;

	memset(s, 0, sizeof(*s));
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	ret = srdma_tls_ctx_server_create(&so, &s->sctx, err, sizeof(err));
	if (!ret)
		ret = srdma_tls_ctx_client_create(&co, &s->cctx, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "srdma-crypto-bench: TLS set-up: %s\n", err);
		return ret;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) {
		ret = -errno;
		perror("srdma-crypto-bench: socketpair");
		return ret;
	}
	ret = srdma_tls_create(s->sctx, sv[0], NULL, &s->server);
	if (ret) {
		close(sv[1]);
		return ret;
	}
	ret = srdma_tls_create(s->cctx, sv[1], "localhost", &s->client);
	if (!ret)
		ret = handshake_pair(s->client, s->server);
	if (ret)
		fprintf(stderr, "srdma-crypto-bench: TLS handshake: %s / %s (%s)\n",
			s->client ? srdma_tls_errmsg(s->client) : "", srdma_tls_errmsg(s->server),
			strerror(-ret));
	return ret;
}

/* The keys of mode, as a connection with these (random) QPNs and PSNs derives them. */
static int pair_derive(struct session *s, enum srdma_dp_mode mode, struct pair *p)
{
	uint32_t id[4];
	int ret;

	srdma_dp_init(&p->tx, mode);
	srdma_dp_init(&p->rx, mode);
	ret = srdma_crypto_random(id, sizeof(id));
	for (unsigned i = 0; i < 4; i++)
		id[i] &= 0xffffff;
	if (!ret)
		ret = srdma_dp_derive(&p->tx, s->client, 1, id[0], id[1], id[2], id[3]);
	if (!ret)
		ret = srdma_dp_derive(&p->rx, s->server, 0, id[0], id[1], id[2], id[3]);
	if (ret)
		fprintf(stderr, "srdma-crypto-bench: %s: %s%s\n", srdma_dp_mode_name(mode),
			p->tx.errmsg, p->rx.errmsg);
	return ret;
}

static void pair_cleanup(struct pair *p)
{
	srdma_dp_cleanup(&p->tx);
	srdma_dp_cleanup(&p->rx);
}

/* --- the timed loop ------------------------------------------------------------------------- */

struct slots {
	uint8_t *mem; /* n slots of stride bytes */
	size_t stride;
	unsigned n;
	uint8_t *payload; /* what is sent; its first bytes carry the message number */
	struct srdma_msg *got;
};

static void slots_free(struct slots *sl)
{
	free(sl->mem);
	free(sl->payload);
	free(sl->got);
}

static int slots_alloc(struct slots *sl, uint32_t size)
{
	memset(sl, 0, sizeof(*sl));
	sl->n = BATCH_BYTES / size;
	if (sl->n < 1)
		sl->n = 1;
	if (sl->n > MAX_BATCH)
		sl->n = MAX_BATCH;
	sl->stride = ((size_t)size + SLOT_EXTRA + 63) & ~(size_t)63;
	sl->mem = aligned_alloc(64, sl->stride * sl->n);
	sl->payload = aligned_alloc(64, ((size_t)size + 63) & ~(size_t)63);
	sl->got = calloc(sl->n, sizeof(*sl->got));
	if (!sl->mem || !sl->payload || !sl->got || srdma_crypto_random(sl->payload, size)) {
		slots_free(sl);
		return -ENOMEM;
	}
	return 0;
}

/* The message number k in the payload's first bytes (all of them if it is shorter). */
static void stamp(uint8_t *p, uint32_t size, uint64_t k)
{
	memcpy(p, &k, size < sizeof(k) ? size : sizeof(k));
}

/* Every message of the batch that started at message number first came back as sent. */
static int batch_check(const struct slots *sl, uint32_t size, uint64_t first)
{
	size_t head = size < sizeof(uint64_t) ? size : sizeof(uint64_t);

	for (unsigned i = 0; i < sl->n; i++) {
		const struct srdma_msg *m = &sl->got[i];
		uint64_t k = first + i;

		if (m->type != SRDMA_MSG_APP || m->len != size || memcmp(m->payload, &k, head) ||
		    memcmp(m->payload + head, sl->payload + head, size - head)) {
			fprintf(stderr,
				"srdma-crypto-bench: message %llu of %u bytes came back "
				"altered\n",
				(unsigned long long)k, size);
			return -EBADMSG;
		}
	}
	return 0;
}

/* One batch: seal every slot, then open every slot; the two times are added to r. */
static int batch_run(struct pair *p, struct slots *sl, uint32_t size, uint64_t first,
		     clockid_t clock, struct result *r)
{
	double t0, t1, t2;
	unsigned i;

	t0 = now_s(clock);
	for (i = 0; i < sl->n; i++) {
		struct srdma_msg m = {.type = SRDMA_MSG_APP, .payload = sl->payload, .len = size};
		ssize_t n;

		stamp(sl->payload, size, first + i);
		n = srdma_dp_put(&p->tx, &m, sl->mem + i * sl->stride, sl->stride);
		if (n !=
		    (ssize_t)size + (p->tx.mode == SRDMA_DP_PLAIN ? SRDMA_MSG_HDR_LEN : SLOT_EXTRA))
			goto sealfail;
	}
	t1 = now_s(clock);
	for (i = 0; i < sl->n; i++) {
		size_t len = size + (p->rx.mode == SRDMA_DP_PLAIN ? SRDMA_MSG_HDR_LEN : SLOT_EXTRA);

		if (srdma_dp_get(&p->rx, sl->mem + i * sl->stride, len, size, &sl->got[i]))
			goto openfail;
	}
	t2 = now_s(clock);
	r->seal_s += t1 - t0;
	r->open_s += t2 - t1;
	r->messages += sl->n;
	return 0;

sealfail:
	fprintf(stderr, "srdma-crypto-bench: message %llu: %s\n", (unsigned long long)(first + i),
		p->tx.errmsg);
	return -EBADMSG;
openfail:
	fprintf(stderr, "srdma-crypto-bench: message %llu: %s\n", (unsigned long long)(first + i),
		p->rx.errmsg);
	return -EBADMSG;
}

/* Batches until seal + open have taken o->seconds (at least two, the first untimed). */
static int measure(struct pair *p, uint32_t size, const struct opts *o, struct result *r)
{
	struct result warm = {0};
	struct slots sl;
	uint64_t k = 0;
	int ret;

	*r = (struct result){0};
	ret = slots_alloc(&sl, size);
	if (ret) {
		fprintf(stderr, "srdma-crypto-bench: out of memory for %u-byte messages\n", size);
		return ret;
	}
	ret = batch_run(p, &sl, size, k, o->clock, &warm);
	if (!ret)
		ret = batch_check(&sl, size, k);
	k += sl.n;
	while (!ret && (r->messages == 0 || r->seal_s + r->open_s < o->seconds)) {
		ret = batch_run(p, &sl, size, k, o->clock, r);
		if (!ret)
			ret = batch_check(&sl, size, k);
		k += sl.n;
	}
	slots_free(&sl);
	return ret;
}

/* --- the floor: bare EVP on the same slots -------------------------------------------------- */

static void evp_pair_free(struct evp_pair *e)
{
	EVP_CIPHER_CTX_free(e->seal);
	EVP_CIPHER_CTX_free(e->open);
}

static int evp_pair_new(enum srdma_dp_mode mode, struct evp_pair *e)
{
	const EVP_CIPHER *c =
	    mode == SRDMA_DP_CHACHA20 ? EVP_chacha20_poly1305() : EVP_aes_256_gcm();
	uint8_t key[SRDMA_AEAD_KEY_LEN];

	e->seal = EVP_CIPHER_CTX_new();
	e->open = EVP_CIPHER_CTX_new();
	if (!e->seal || !e->open || srdma_crypto_random(key, sizeof(key)) ||
	    EVP_CipherInit_ex(e->seal, c, NULL, key, NULL, 1) != 1 ||
	    EVP_CipherInit_ex(e->open, c, NULL, key, NULL, 0) != 1) {
		evp_pair_free(e);
		return -EIO;
	}
	return 0;
}

static void evp_nonce(uint8_t nonce[SRDMA_AEAD_IV_LEN], uint64_t k)
{
	memset(nonce, 0, SRDMA_AEAD_IV_LEN);
	memcpy(nonce + SRDMA_AEAD_IV_LEN - sizeof(k), &k, sizeof(k));
}

static int evp_seal(EVP_CIPHER_CTX *ctx, uint8_t *slot, uint32_t size, uint64_t k)
{
	uint8_t nonce[SRDMA_AEAD_IV_LEN], *p = slot + SRDMA_MSG_HDR_LEN;
	int outl, fin;

	evp_nonce(nonce, k);
	return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 1) != 1 ||
	       EVP_EncryptUpdate(ctx, NULL, &outl, slot, SRDMA_MSG_HDR_LEN) != 1 ||
	       EVP_EncryptUpdate(ctx, p, &outl, p, (int)size) != 1 ||
	       EVP_EncryptFinal_ex(ctx, p + outl, &fin) != 1 ||
	       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SRDMA_AEAD_TAG_LEN, p + size) != 1;
}

static int evp_open(EVP_CIPHER_CTX *ctx, uint8_t *slot, uint32_t size, uint64_t k)
{
	uint8_t nonce[SRDMA_AEAD_IV_LEN], *p = slot + SRDMA_MSG_HDR_LEN;
	int outl, fin;

	evp_nonce(nonce, k);
	return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) != 1 ||
	       EVP_DecryptUpdate(ctx, NULL, &outl, slot, SRDMA_MSG_HDR_LEN) != 1 ||
	       EVP_DecryptUpdate(ctx, p, &outl, p, (int)size) != 1 ||
	       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SRDMA_AEAD_TAG_LEN, p + size) != 1 ||
	       EVP_DecryptFinal_ex(ctx, p + outl, &fin) != 1;
}

/* Like measure(), through bare EVP: batches of seals, then opens (each must verify). */
static int evp_measure(enum srdma_dp_mode mode, uint32_t size, const struct opts *o,
		       struct result *r)
{
	struct evp_pair e;
	struct slots sl;
	uint64_t k = 0;
	int ret = 0, warm = 1;

	*r = (struct result){0};
	if (slots_alloc(&sl, size))
		return -ENOMEM;
	if (evp_pair_new(mode, &e)) {
		slots_free(&sl);
		return -EIO;
	}
	memset(sl.mem, 0x5a, sl.stride * sl.n);
	while (!ret && (warm || r->messages == 0 || r->seal_s + r->open_s < o->seconds)) {
		double t0, t1, t2;
		unsigned i;

		t0 = now_s(o->clock);
		for (i = 0; i < sl.n && !ret; i++)
			ret = evp_seal(e.seal, sl.mem + i * sl.stride, size, k + i);
		t1 = now_s(o->clock);
		for (i = 0; i < sl.n && !ret; i++)
			ret = evp_open(e.open, sl.mem + i * sl.stride, size, k + i);
		t2 = now_s(o->clock);
		k += sl.n;
		if (!warm) {
			r->seal_s += t1 - t0;
			r->open_s += t2 - t1;
			r->messages += sl.n;
		}
		warm = 0;
	}
	if (ret)
		fprintf(stderr, "srdma-crypto-bench: EVP %s: a %u-byte message did not open\n",
			srdma_dp_mode_name(mode), size);
	evp_pair_free(&e);
	slots_free(&sl);
	return ret ? -EBADMSG : 0;
}

static void print_header(void)
{
	printf(
	    "# srdma-crypto-bench: the data plane's seal (srdma_dp_put: encode + seal) and open "
	    "(srdma_dp_get: open + decode),\n"
	    "# per message, client to server, keys derived from a TLS 1.3 session; evp_*: the same "
	    "AEAD calls on bare EVP\n"
	    "# (no encode, copy or checks; plain mode: none); us per message; MB = 10^6 bytes of "
	    "payload\n");
	printf("%-9s %8s %10s %10s %10s %10s %11s %13s %11s %11s\n", "mode", "bytes", "messages",
	       "seconds", "seal_us", "open_us", "sealopen_us", "sealopen_MBps", "evp_seal_us",
	       "evp_open_us");
}

static void print_result(enum srdma_dp_mode mode, uint32_t size, const struct result *r,
			 const struct result *evp)
{
	double n = (double)r->messages, seal = r->seal_s / n, open = r->open_s / n;
	double en = evp->messages ? (double)evp->messages : 1;

	printf("%-9s %8u %10lu %10.3f %10.3f %10.3f %11.3f %13.1f %11.3f %11.3f\n",
	       srdma_dp_mode_name(mode), size, r->messages, r->seal_s + r->open_s, seal * 1e6,
	       open * 1e6, (seal + open) * 1e6, size / (seal + open) / 1e6, evp->seal_s / en * 1e6,
	       evp->open_s / en * 1e6);
	fflush(stdout);
}

/* 0, 1 on a functional failure, 2 on a set-up failure. */
static int run_mode(struct session *s, enum srdma_dp_mode mode, const struct opts *o)
{
	struct pair p;
	int ret = 0;

	if (pair_derive(s, mode, &p)) {
		pair_cleanup(&p);
		return 2;
	}
	for (unsigned i = 0; i < o->nsizes && !ret; i++) {
		struct result r, evp = {0};

		ret = measure(&p, o->sizes[i], o, &r);
		if (!ret && mode != SRDMA_DP_PLAIN)
			ret = evp_measure(mode, o->sizes[i], o, &evp);
		if (!ret)
			print_result(mode, o->sizes[i], &r, &evp);
	}
	pair_cleanup(&p);
	if (ret == -ENOMEM || ret == -EIO)
		return 2;
	return ret ? 1 : 0;
}

/* --- srdma-cp's chunk protection (--cp) ------------------------------------------------------ */

struct cp_result {
	unsigned long chunks;
	double write_s; /* seal (encrypt + tag); --no-encrypt: region tag */
	double read_s;	/* open (tag check + decrypt); --no-encrypt: region tag + compare */
	double sha_s;	/* SHA-256 of the chunk (information) */
};

/* The transfer number srdma-cp seals its chunks under (their seq). */
#define CP_BENCH_XFER 1u

/* One chunk, as srdma-cp's writer and reader treat it: timed into r. seq is the number of the
 * message that would carry a --no-encrypt chunk's tag. */
static int cp_round(struct pair *p, uint8_t *buf, const uint8_t *src, uint32_t len, uint64_t off,
		    uint32_t seq, int encrypt, clockid_t clock, struct cp_result *r)
{
	uint8_t tw[SRDMA_DIGEST_LEN], tr[SRDMA_DIGEST_LEN], sha[32];
	unsigned shalen;
	double t0, t1, t1b, t2, t3;
	int ret = 0;

	memcpy(buf, src, len);
	t0 = now_s(clock);
	if (encrypt)
		ret = srdma_dp_tag_seal(&p->tx, CP_BENCH_XFER, off, buf, len, tw);
	else
		ret = srdma_dp_region_tag(&p->tx, 1, seq, off, buf, len, tw);
	t1 = now_s(clock);
	/* Outside the timed part: the seal did encrypt. */
	if (!ret && encrypt && len >= 16 && !memcmp(buf, src, 16))
		ret = -EIO;
	t1b = now_s(clock);
	if (!ret && encrypt) {
		ret = srdma_dp_tag_open(&p->rx, CP_BENCH_XFER, off, buf, len, tw);
	} else if (!ret) {
		ret = srdma_dp_region_tag(&p->rx, 1, seq, off, buf, len, tr);
		if (!ret && CRYPTO_memcmp(tw, tr, sizeof(tw)))
			ret = -EBADMSG;
	}
	t2 = now_s(clock);
	if (!ret && EVP_Digest(buf, len, sha, &shalen, EVP_sha256(), NULL) != 1)
		ret = -EIO;
	t3 = now_s(clock);
	if (ret) {
		fprintf(stderr, "srdma-crypto-bench: chunk at %llu of %u bytes: %s\n",
			(unsigned long long)off, len,
			ret == -EBADMSG ? "region tag mismatch" : "crypto failure");
		return ret;
	}
	if (memcmp(buf, src, len)) { /* outside the timed part */
		fprintf(stderr, "srdma-crypto-bench: chunk at %llu came back altered\n",
			(unsigned long long)off);
		return -EBADMSG;
	}
	r->write_s += t1 - t0;
	r->read_s += t2 - t1b;
	r->sha_s += t3 - t2;
	r->chunks++;
	return 0;
}

static int cp_measure(struct pair *p, uint32_t len, int encrypt, const struct opts *o,
		      struct cp_result *r)
{
	struct cp_result warm = {0};
	uint8_t *src = NULL, *buf = NULL;
	uint64_t off = 0;
	uint32_t seq = 0;
	int ret;

	*r = (struct cp_result){0};
	src = aligned_alloc(4096, len);
	buf = aligned_alloc(4096, len);
	if (!src || !buf || srdma_crypto_random(src, len)) {
		ret = -ENOMEM;
		goto out;
	}
	/* The first round derives the sealing keys (from the TLS exporter): not timed. */
	ret = cp_round(p, buf, src, len, off, seq++, encrypt, o->clock, &warm);
	off += len;
	while (!ret && (r->chunks == 0 || r->write_s + r->read_s < o->seconds)) {
		ret = cp_round(p, buf, src, len, off, seq++, encrypt, o->clock, r);
		off += len; /* as in a file: every chunk at its own offset */
	}
out:
	free(src);
	free(buf);
	return ret;
}

static void print_cp_header(void)
{
	printf("# srdma-crypto-bench --cp: srdma-cp's chunk protection per chunk; write: one-pass "
	       "seal in place (srdma_tag_seal);\n"
	       "# read: one-pass open in place (srdma_tag_open); auth: region tag at both ends + "
	       "compare (--no-encrypt); sha256: the chunk's\n"
	       "# SHA-256 (every mode, both ends; information); us per chunk; MB = 10^6 bytes\n");
	printf("%-9s %9s %8s %8s %11s %11s %11s %9s %11s %11s\n", "mode", "bytes", "chunks",
	       "seconds", "write_us", "read_us", "wr+rd_us", "MBps", "auth_us", "sha256_us");
}

static int run_cp(struct session *s, enum srdma_dp_mode mode, const struct opts *o)
{
	struct pair p;
	int ret = 0;

	if (mode == SRDMA_DP_PLAIN)
		return 0; /* plain chunks are neither tagged nor encrypted */
	if (pair_derive(s, mode, &p)) {
		pair_cleanup(&p);
		return 2;
	}
	for (unsigned i = 0; i < o->nsizes && !ret; i++) {
		struct cp_result r, a;
		uint32_t n = o->sizes[i];

		ret = cp_measure(&p, n, 1, o, &r);
		if (!ret)
			ret = cp_measure(&p, n, 0, o, &a);
		if (!ret) {
			double c = (double)r.chunks, w = r.write_s / c, rd = r.read_s / c;

			printf("%-9s %9u %8lu %8.3f %11.3f %11.3f %11.3f %9.1f %11.3f %11.3f\n",
			       srdma_dp_mode_name(mode), n, r.chunks, r.write_s + r.read_s, w * 1e6,
			       rd * 1e6, (w + rd) * 1e6, n / (w + rd) / 1e6,
			       (a.write_s + a.read_s) / (double)a.chunks * 1e6, r.sha_s / c * 1e6);
			fflush(stdout);
		}
	}
	pair_cleanup(&p);
	if (ret == -ENOMEM || ret == -EIO)
		return 2;
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct session s;
	struct opts o;
	int ret = 0;

	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	if (session_open(o.certs, &s)) {
		session_close(&s);
		return 2;
	}
	if (o.cp)
		print_cp_header();
	else
		print_header();
	for (unsigned i = 0; i < o.nmodes && !ret; i++)
		ret = o.cp ? run_cp(&s, o.modes[i], &o) : run_mode(&s, o.modes[i], &o);
	session_close(&s);
	if (ret == 1)
		fprintf(stderr, "srdma-crypto-bench: FAILED: a message did not survive seal and "
				"open\n");
	return ret;
}
