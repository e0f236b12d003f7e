/* srdma-flood: holds many unauthenticated TCP connections to a server, as an attacker who
 * wants to lock legitimate peers out before TLS would (the pre-authentication limits).
 *
 *   srdma-flood [--conns N] [--mode silent|slowloris] [--seconds S] [--port P]
 *               [--renew-rate R] --source ADDR [--source ADDR...] HOST
 *
 * Opens N connections spread round robin over the source addresses (each must be an address
 * of this host), never completes a TLS handshake, and keeps the count up: a connection the
 * server closes is opened again from the same source, up to R renewals a second (default 200:
 * the churn a test bed can bear, bounded so that the run stops by itself). silent sends nothing;
 * slowloris sends one byte of a TLS record header every second. Stops after S seconds (default
 * 30), or at SIGTERM or SIGINT, and prints one JSON object: connections opened, closed by the
 * server, held at the end.
 * Exit status 0, or 2 for a usage or set-up error. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define MAX_SOURCES 64
#define MAX_CONNS   20000

struct conn {
	int fd;
	unsigned src;
	unsigned sent; /* slowloris bytes sent */
};

static struct {
	struct sockaddr_in src[MAX_SOURCES];
	unsigned nsrc;
	struct sockaddr_in dst;
	int slowloris;
	int epfd;
	uint64_t opened, closed_by_server, open_failed;
} g;

static volatile sig_atomic_t stop_now;

static void on_stop(int sig)
{
	(void)sig;
	stop_now = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr, "usage: srdma-flood [--conns N] [--mode silent|slowloris] [--seconds S] "
			"[--port P] [--renew-rate R] --source ADDR [--source ADDR...] HOST\n");
	exit(2);
}

/* (Re)open connection c from its source; non-blocking, so the handshake completes later. */
static void open_conn(struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
	int one = 1;

	c->sent = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		g.open_failed++;
		return;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(c->fd, (struct sockaddr *)&g.src[c->src], sizeof(g.src[0])) < 0 ||
	    (connect(c->fd, (struct sockaddr *)&g.dst, sizeof(g.dst)) < 0 &&
	     errno != EINPROGRESS) ||
	    epoll_ctl(g.epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		close(c->fd);
		c->fd = -1;
		g.open_failed++;
		return;
	}
	g.opened++;
}

static void drop_conn(struct conn *c)
{
	epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"conns", required_argument, NULL, 'n'},
					   {"mode", required_argument, NULL, 'm'},
					   {"seconds", required_argument, NULL, 's'},
					   {"port", required_argument, NULL, 'p'},
					   {"source", required_argument, NULL, 'S'},
					   {"renew-rate", required_argument, NULL, 'r'},
					   {NULL, 0, NULL, 0}};
	struct epoll_event evs[256];
	struct rlimit rl;
	struct conn *conns;
	unsigned nconns = 2000, seconds = 30, port = 4433, held = 0, renew_rate = 200;
	uint64_t end, next_tick, next_renew;
	unsigned renew_at = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			nconns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			if (!strcmp(optarg, "slowloris"))
				g.slowloris = 1;
			else if (strcmp(optarg, "silent"))
				usage();
			break;
		case 's':
			seconds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			renew_rate = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			if (g.nsrc == MAX_SOURCES)
				usage();
			g.src[g.nsrc].sin_family = AF_INET;
			if (inet_pton(AF_INET, optarg, &g.src[g.nsrc].sin_addr) != 1)
				usage();
			g.nsrc++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || !g.nsrc || !nconns || nconns > MAX_CONNS || !seconds || !port ||
	    port > 65535)
		usage();
	g.dst.sin_family = AF_INET;
	g.dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, argv[optind], &g.dst.sin_addr) != 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	rl.rlim_cur = rl.rlim_max = nconns + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		fprintf(stderr, "srdma-flood: cannot allow %u descriptors: %s\n", nconns + 64,
			strerror(errno));
		return 2;
	}
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc(nconns, sizeof(*conns));
	if (g.epfd < 0 || !conns)
		return 2;
	for (unsigned i = 0; i < nconns; i++) {
		conns[i].src = i % g.nsrc;
		open_conn(&conns[i]);
	}
	end = now_ms() + (uint64_t)seconds * 1000;
	next_tick = now_ms() + 1000;
	next_renew = now_ms() + 100;
	while (!stop_now && now_ms() < end) {
		int n = epoll_wait(g.epfd, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			char b[64];

			/* Anything readable from a peer we never greeted is its close (or an
			 * alert before it): count it and come back at once. */
			if (recv(c->fd, b, sizeof(b), MSG_DONTWAIT) > 0 &&
			    !(evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				continue;
			drop_conn(c);
			g.closed_by_server++;
		}
		/* Renewals, spread over the second in ten steps. */
		if (now_ms() >= next_renew) {
			unsigned budget = renew_rate / 10 ? renew_rate / 10 : 1;

			next_renew += 100;
			for (unsigned k = 0; k < nconns && budget; k++) {
				struct conn *c = &conns[(renew_at + k) % nconns];

				if (c->fd < 0) {
					open_conn(c);
					budget--;
				}
			}
			renew_at = (renew_at + 1) % nconns;
		}
		if (now_ms() >= next_tick) {
			next_tick += 1000;
			for (unsigned i = 0; i < nconns; i++) {
				if (conns[i].fd < 0)
					continue;
				/* A TLS record header, one byte a second, never finished. */
				if (g.slowloris && conns[i].sent < 5) {
					static const uint8_t hdr[5] = {0x16, 0x03, 0x01, 0x02,
								       0x00};

					if (send(conns[i].fd, &hdr[conns[i].sent], 1,
						 MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
						conns[i].sent++;
				}
			}
		}
	}
	for (unsigned i = 0; i < nconns; i++) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (conns[i].fd >= 0 &&
		    getsockopt(conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && !err)
			held++;
	}
	printf("{\"conns\":%u,\"mode\":\"%s\",\"sources\":%u,\"seconds\":%u,\"opened\":%llu,"
	       "\"closed_by_server\":%llu,\"open_failed\":%llu,\"held_at_end\":%u}\n",
	       nconns, g.slowloris ? "slowloris" : "silent", g.nsrc, seconds,
	       (unsigned long long)g.opened, (unsigned long long)g.closed_by_server,
	       (unsigned long long)g.open_failed, held);
	for (unsigned i = 0; i < nconns; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	free(conns);
	close(g.epfd);
	return 0;
}
