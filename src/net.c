/* Non-blocking TCP connect with a deadline. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "net.h"

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

int srdma_tcp_resolve(const char *host, uint16_t port, struct addrinfo **out, char *err,
		      size_t errlen)
{
	struct addrinfo hints = {0};
	char portstr[8];
	int ret;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(host, portstr, &hints, out);
	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	return 0;
}

int srdma_tcp_connect_start(const struct addrinfo *ai, int *out)
{
	int fd, ret;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

int srdma_tcp_connect_result(int fd)
{
	socklen_t sl = sizeof(int);
	int soerr = 0, one = 1;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -errno;
	if (soerr)
		return -soerr;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int listen_on(const struct sockaddr *sa, socklen_t len, unsigned backlog, int v6only,
		     int *out)
{
	int fd, ret, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6only >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
		goto err;
	if (bind(fd, sa, len) < 0 || listen(fd, backlog > 65535 ? 65535 : (int)backlog) < 0)
		goto err;
	*out = fd;
	return 0;
err:
	ret = -errno;
	close(fd);
	return ret;
}

int srdma_tcp_listen(const char *bind, uint16_t port, unsigned backlog, int *out, uint16_t *bound,
		     char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, ret;

	if (!bind || !bind[0]) {
		struct sockaddr_in6 any6 = {.sin6_family = AF_INET6,
					    .sin6_port = htons(port),
					    .sin6_addr = IN6ADDR_ANY_INIT};
		struct sockaddr_in any4 = {.sin_family = AF_INET,
					   .sin_port = htons(port),
					   .sin_addr.s_addr = htonl(INADDR_ANY)};

		bind = "every address";
		ret = listen_on((struct sockaddr *)&any6, sizeof(any6), backlog, 0, &fd);
		if (ret == -EAFNOSUPPORT)
			ret = listen_on((struct sockaddr *)&any4, sizeof(any4), backlog, -1, &fd);
	} else {
		struct addrinfo hints = {0}, *res;
		char portstr[8];

		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		snprintf(portstr, sizeof(portstr), "%u", port);
		ret = getaddrinfo(bind, portstr, &hints, &res);
		if (ret) {
			snprintf(err, errlen, "cannot resolve bind address %s: %s", bind,
				 gai_strerror(ret));
			return -EINVAL;
		}
		ret = listen_on(res->ai_addr, res->ai_addrlen, backlog,
				res->ai_family == AF_INET6 ? 1 : -1, &fd);
		freeaddrinfo(res);
	}
	if (ret) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", bind, port,
			 strerror(-ret));
		return ret;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		ret = -errno;
		snprintf(err, errlen, "getsockname: %s", strerror(-ret));
		close(fd);
		return ret;
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						: ((struct sockaddr_in *)&ss)->sin_port);
	*out = fd;
	return 0;
}

void srdma_tcp_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "unknown peer");
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], host, sizeof(host));
			snprintf(buf, len, "%s:%u", host, ntohs(sin6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
			snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
		}
	} else {
		snprintf(buf, len, "unknown peer");
	}
}

void srdma_tcp_reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	/* Best effort: if it fails, the close below is the ordinary one. */
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}
