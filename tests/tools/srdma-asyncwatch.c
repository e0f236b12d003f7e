/* srdma-asyncwatch: print the device events a context reports (srdma_ctx_async_fd and
 * srdma_ctx_async_event), one JSON object per line, for tests.
 *
 *   srdma-asyncwatch --ca FILE [-d DEVICE] [-i PORT] [--count N] [--seconds S]
 *
 * (A context needs a TLS role: --ca makes it a connecting one; nothing connects.)
 *
 * Prints {"ready":true} once the device is open and its event descriptor is polled, then one
 * line per event ({"event":"port error","type":10,"port":1,"own_port":true,"qp":false}); exits 0
 * after N events (default 2), 1 if S seconds (default 30) pass first, 2 on a set-up error. */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <srdma.h>

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"ca", required_argument, NULL, 'c'},      {"device", required_argument, NULL, 'd'},
	    {"ib-port", required_argument, NULL, 'i'}, {"count", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 's'}, {0},
	};
	struct srdma_ctx_opts co;
	struct srdma_async_event ev;
	struct srdma_ctx *ctx;
	long long deadline;
	unsigned count = 2, seen = 0, secs = 30;
	char err[256];
	int c, fd, ret = 0;

	srdma_ctx_opts_init(&co);
	while ((c = getopt_long(argc, argv, "d:i:", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			co.ca = optarg;
			break;
		case 'd':
			co.device = optarg;
			break;
		case 'i':
			co.ib_port = (uint8_t)atoi(optarg);
			break;
		case 'n':
			count = (unsigned)atoi(optarg);
			break;
		case 's':
			secs = (unsigned)atoi(optarg);
			break;
		default:
			fprintf(
			    stderr,
			    "usage: srdma-asyncwatch --ca FILE [-d DEVICE] [-i PORT] [--count N] "
			    "[--seconds S]\n");
			return 2;
		}
	}
	if (srdma_ctx_create(&co, &ctx, err, sizeof(err))) {
		fprintf(stderr, "srdma-asyncwatch: %s\n", err);
		return 2;
	}
	fd = srdma_ctx_async_fd(ctx, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "srdma-asyncwatch: %s\n", err);
		srdma_ctx_destroy(ctx);
		return 2;
	}
	printf("{\"ready\":true}\n");
	fflush(stdout);
	deadline = now_ms() + (long long)secs * 1000;
	while (seen < count && now_ms() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			continue;
		while (seen < count && (ret = srdma_ctx_async_event(ctx, &ev)) == 1) {
			printf("{\"event\":\"%s\",\"type\":%d,\"port\":%u,\"own_port\":%s,"
			       "\"qp\":%s}\n",
			       ev.name, (int)ev.type, ev.port, ev.own_port ? "true" : "false",
			       ev.qp ? "true" : "false");
			fflush(stdout);
			seen++;
		}
		if (ret < 0) {
			fprintf(stderr, "srdma-asyncwatch: reading device events failed\n");
			break;
		}
	}
	srdma_ctx_destroy(ctx);
	return seen >= count ? 0 : 1;
}
