/* Non-blocking TCP connect with a deadline. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <srdma/net.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One address: 0 and *out, or a negative errno. */
static int try_addr(const struct addrinfo *ai, int64_t deadline, int *out)
{
	struct pollfd p;
	socklen_t sl = sizeof(int);
	int fd, soerr = 0, left, ret;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto done;
	if (errno != EINPROGRESS) {
		ret = -errno;
		goto err;
	}
	p.fd = fd;
	p.events = POLLOUT;
	left = (int)(deadline - now_ms());
	do {
		ret = poll(&p, 1, left > 0 ? left : 0);
	} while (ret < 0 && errno == EINTR);
	if (ret <= 0) {
		ret = -ETIMEDOUT;
		goto err;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		ret = -soerr;
		goto err;
	}
done:
	*out = fd;
	return 0;
err:
	close(fd);
	return ret;
}

int srdma_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *out, char *err,
		      size_t errlen)
{
	struct addrinfo hints = {0}, *res, *ai;
	int64_t deadline = now_ms() + timeout_ms;
	int fd = -1, ret, one = 1;
	char portstr[8];

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(host, portstr, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	ret = -ECONNREFUSED;
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		ret = try_addr(ai, deadline, &fd);
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s port %u: %s", host, port,
			 strerror(-ret));
		return ret;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return 0;
}
