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

#endif
