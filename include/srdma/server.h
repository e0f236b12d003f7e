/* The secure-rdma server: one process, one shared RDMA device context, a fixed pool of worker
 * threads with epoll loops, and a main thread that owns the listening socket and the signals.
 *
 * Usage: srdma_server_create(); srdma_server_run() until SIGINT/SIGTERM or srdma_server_stop();
 * srdma_server_destroy(). create blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread (the
 * workers inherit that mask) and receives them through a signalfd in run; SIGUSR1 logs the
 * current counts. Call it before starting other threads. The process must ignore SIGPIPE. */
#ifndef SRDMA_SERVER_H
#define SRDMA_SERVER_H

#include <stddef.h>

#include <srdma/config.h>
#include <srdma/registry.h>

struct srdma_server;

/* Open the device, load the TLS identity, bind and listen, start the workers. On failure
 * returns a negative errno and a reason in err; nothing is left behind. */
int srdma_server_create(const struct srdma_server_config *cfg, struct srdma_server **out, char *err,
			size_t errlen);

/* Serve until a stop is requested, then shut down gracefully: stop accepting, tell every
 * client (ERROR "server shutting down" and TLS close_notify), free every connection's QP, MRs
 * and PD, join the workers. Returns 0, or a negative errno if resources could not be freed. */
int srdma_server_run(struct srdma_server *srv);

/* Ask run() to return. Async-signal-safe and thread-safe. */
void srdma_server_stop(struct srdma_server *srv);

/* The bound TCP port (useful with port 0). */
unsigned srdma_server_port(const struct srdma_server *srv);

void srdma_server_stats(struct srdma_server *srv, struct srdma_registry_stats *out);

/* Free what run() left: CQs, the device context (last). Accepts NULL. */
void srdma_server_destroy(struct srdma_server *srv);

#endif
