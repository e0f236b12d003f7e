/* srdma-bench: statistics, JSON helpers and sessions. */
#include "bench.h"

/* --- statistics --------------------------------------------------------------------------- */

int vec_push(struct vec *s, uint64_t x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint64_t *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

void vec_free(struct vec *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static uint64_t pct(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Sorts s (nanoseconds) and summarises it in microseconds. */
struct stats summarize(struct vec *s)
{
	struct stats st = {0};
	double sum = 0, sq = 0;
	size_t i;

	if (!s->n)
		return st;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	for (i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	st.n = s->n;
	st.avg = sum / (double)s->n / 1e3;
	for (i = 0; i < s->n; i++) {
		double d = (double)s->v[i] / 1e3 - st.avg;

		sq += d * d;
	}
	st.stdev = s->n > 1 ? sqrt(sq / (double)(s->n - 1)) : 0;
	st.min = (double)s->v[0] / 1e3;
	st.max = (double)s->v[s->n - 1] / 1e3;
	st.p50 = (double)pct(s->v, s->n, 50) / 1e3;
	st.p99 = (double)pct(s->v, s->n, 99) / 1e3;
	st.p999 = (double)pct(s->v, s->n, 99.9) / 1e3;
	return st;
}

/* --- JSON helpers -------------------------------------------------------------------------- */

void jint(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

void jdbl(struct json_object *o, const char *k, double v)
{
	json_object_object_add(o, k, json_object_new_double(isfinite(v) ? v : 0));
}

void jstr(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

struct json_object *jstats(const struct stats *st)
{
	struct json_object *o = json_object_new_object();

	jint(o, "n", (int64_t)st->n);
	jdbl(o, "min_us", st->min);
	jdbl(o, "t_typical_us", st->p50);
	jdbl(o, "avg_us", st->avg);
	jdbl(o, "p99_us", st->p99);
	jdbl(o, "p99_9_us", st->p999);
	jdbl(o, "max_us", st->max);
	jdbl(o, "stdev_us", st->stdev);
	return o;
}

struct json_object *results(struct bench *b)
{
	struct json_object *r;

	if (!json_object_object_get_ex(b->out, "results", &r)) {
		r = json_object_new_array();
		json_object_object_add(b->out, "results", r);
	}
	return r;
}

/* --- sessions ----------------------------------------------------------------------------- */

/* The pattern for message i of a session: differs per session, message and byte position, so
 * a stale or misplaced buffer cannot pass for the right one. */
void fill(uint8_t *buf, uint32_t len, uint64_t session, uint64_t i)
{
	uint64_t x = session * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull + 1;
	uint32_t j;

	for (j = 0; j < len; j++) {
		x ^= x >> 29;
		x *= 0x94d049bb133111ebull;
		buf[j] = (uint8_t)(x >> 56);
	}
}

/* Connect one session (on the shared context) able to echo `size` bytes or, with `writes`,
 * RDMA-write them (a writing session sends no DATA of that size, so only the server's largest
 * region bounds it; the session asks the server for a region of `size` bytes as it connects). */
int session_open(const struct bench *b, uint32_t size, int writes, struct echo_client **out,
		 char *err, size_t errlen)
{
	struct srdma_client_config cfg = b->cfg;

	cfg.size = size;
	cfg.count = writes ? 0 : 1;
	cfg.writes = writes ? 1 : 0;
	return echo_client_connect(b->ctx, &cfg, out, err, errlen);
}

void describe_session(struct bench *b, struct echo_client *cl)
{
	struct echo_client_info info;

	echo_client_get_info(cl, &info);
	jstr(b->out, "tls", info.tls);
	jstr(b->out, "device", info.device);
	jint(b->out, "path_mtu", info.path_mtu);
	jstr(b->out, "dataplane", srdma_dp_mode_name(info.dataplane));
}
