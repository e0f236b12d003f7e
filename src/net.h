/* TCP helpers shared by the client and the test tools. */
#ifndef SRDMA_NET_H
#define SRDMA_NET_H

#include <stddef.h>
#include <stdint.h>

/* Connect to host:port (names resolved, every address tried in turn) within timeout_ms. The
 * socket is non-blocking, close-on-exec, with TCP_NODELAY. 0 and *out, or a negative errno
 * (-EHOSTUNREACH when the name does not resolve, -ETIMEDOUT, -ECONNREFUSED, ...) with the
 * reason in err. */
int srdma_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *out, char *err,
		      size_t errlen);

struct addrinfo;

/* Resolve host:port for TCP (every family): 0 and *out (release with freeaddrinfo), or
 * -EHOSTUNREACH with the reason in err. */
int srdma_tcp_resolve(const char *host, uint16_t port, struct addrinfo **out, char *err,
		      size_t errlen);

/* Start a non-blocking connect to one address: 0 and *out, a non-blocking close-on-exec socket
 * connected or connecting (wait for writability, then srdma_tcp_connect_result), or a negative
 * errno. */
int srdma_tcp_connect_start(const struct addrinfo *ai, int *out);

/* Once the socket is writable: 0 if the connect succeeded (TCP_NODELAY is then set), else the
 * connect's negative errno (-ECONNREFUSED, -ENETUNREACH, ...). */
int srdma_tcp_connect_result(int fd);

/* A non-blocking, close-on-exec listening socket on bind:port (NULL or "": every IPv6 and IPv4
 * address, or every IPv4 address where IPv6 is not available), with SO_REUSEADDR. 0, *out and
 * *bound (the port bound, useful with port 0), or a negative errno with the reason in err. */
int srdma_tcp_listen(const char *bind, uint16_t port, unsigned backlog, int *out, uint16_t *bound,
		     char *err, size_t errlen);

/* "192.0.2.7:51234" or "[2001:db8::7]:51234" of a socket's peer (IPv4-mapped IPv6 addresses
 * shown as IPv4), "unknown peer" if it has none. */
void srdma_tcp_peer_name(int fd, char *buf, size_t len);

/* Close fd with a reset (SO_LINGER 0): one RST instead of the FIN exchange, and no TIME_WAIT
 * entry on this side. For connections refused before TLS, which a flood makes by the
 * thousand; the peer sees "connection reset" (or the end of the connection) either way. */
void srdma_tcp_reset_close(int fd);

#endif
