/* srdma-badpeer's shared pieces: options, one connection's outcome, and the connection and
 * I/O helpers (badpeer_io.c) that the kinds of bad connection (srdma-badpeer.c) are made of. */
#ifndef SRDMA_TESTS_BADPEER_H
#define SRDMA_TESTS_BADPEER_H

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "chan.h"
#include "net.h"
#include "tls.h"
#include "wire.h"

#define DEFAULT_TIMEOUT_MS 10000u
/* A loop gives up after this many connections in a row that could not even be set up (the
 * server is gone: no point in timing out 1,000 times). */
#define MAX_SETUP_FAILURES_IN_A_ROW 20
#define MAX_CUT_OFFS_PERCENT	    5
#define TLS_RECORD_ALERT	    0x15
#define TLS_RECORD_HANDSHAKE	    0x16
#define CLIENT_HELLO_MAX	    256
/* Our OPEN asks for what srdma-client asks for: one queue pair, library-driven (messages). */
#define OPEN_NQP      1u
#define OPEN_MSG_MASK 0x1u

struct opts {
	const char *ca;
	const char *host;
	const char *server_name;
	unsigned port;
	unsigned count;
	unsigned timeout_ms;
	unsigned close_within_ms; /* 0: not checked */
	unsigned close_after_ms;  /* 0: not checked */
	unsigned deadline_ms;	  /* the server's set-up deadline, 0: unknown */
	unsigned seed;
	uint32_t features; /* of our OPENs (the data-plane mode) */
	int verbose;
};

/* What one connection saw. */
struct outcome {
	int setup_failed; /* could not connect or finish TLS: the test's problem or a dead server */
	int got_error;	  /* an ERROR frame arrived */
	uint16_t code;	  /* its code */
	char msg[SRDMA_ERROR_MSG_MAX + 1];
	double tls_ms;	     /* our TLS handshake ended (done or failed) this long after connect */
	int closed;	     /* the server closed the connection */
	double close_ms;     /* ... this long after the TCP connection was established */
	size_t raw_bytes;    /* bytes read without TLS (plain, stall-tls) */
	int raw_alert;	     /* ... and they started with a TLS alert record */
	char close_how[256]; /* how the TLS channel ended when not by close_notify or EOF */
	char sent[96];	     /* what was sent, for the report */
	char anomaly[256];   /* anything else unexpected ("" if none) */
	/* The bad step followed a valid one the server may answer first (its OPEN, QP frames and
	 * READY before the ERROR): allowed, and counted here. */
	int prefix_answer_ok;
	unsigned prefix_frames;
};

struct peer {
	int fd; /* owned by tls once that exists */
	struct srdma_tls *tls;
	struct srdma_chan chan;
	uint64_t t0_ns; /* TCP connection established */
};

struct run;

struct kind {
	const char *name;
	int tls;	      /* needs a TLS context */
	uint16_t expect_code; /* the ERROR code the server must send; 0: close without one */
	int at_deadline;      /* the server's answer is its set-up deadline */
	void (*fn)(struct run *r, struct peer *p, struct outcome *o);
};

struct run {
	const struct opts *o;
	struct srdma_tls_ctx *ctx;
	uint64_t rng;
	int stall_forever; /* stall-* without --expect-close-within */
};

uint64_t now_ns(void);
uint32_t rnd(struct run *r);
void rnd_fill(struct run *r, uint8_t *buf, size_t n);
void put_u16(uint8_t *p, uint16_t v);
void put_u32(uint8_t *p, uint32_t v);
void put_hdr(uint8_t *p, uint16_t magic, uint8_t version, uint8_t type, uint32_t len);
size_t valid_open(const struct opts *op, uint8_t *buf, size_t cap);
int send_frame(struct run *r, struct peer *p, struct outcome *o, const struct srdma_frame *f);
int await_server_open(struct run *r, struct peer *p, struct outcome *o);
void note(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void setup_failed(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tcp_connect(const struct opts *op, struct peer *p, struct outcome *o);
int wait_fd(int fd, short events, uint64_t deadline);
int tls_wait(struct peer *p, uint64_t deadline);
int tls_connect(struct run *r, struct peer *p, struct outcome *o);
int tls_send(struct run *r, struct peer *p, struct outcome *o, const void *buf, size_t len);
int raw_send(struct peer *p, struct outcome *o, const void *buf, size_t len);
void await_tls_close(struct peer *p, struct outcome *o, uint64_t deadline);
/* The same for an established connection: the server's REGION, CTRL and PING frames before its
 * answer are its own traffic, not an anomaly. */
void await_established_close(struct peer *p, struct outcome *o, uint64_t deadline);
void await_raw_close(struct peer *p, struct outcome *o, uint64_t deadline);
uint64_t answer_deadline(struct run *r);
void stalling(struct run *r, struct peer *p, const char *what);

/* Kinds past TLS and OPEN (badpeer_open.c). */
void do_stall_open(struct run *r, struct peer *p, struct outcome *o);
void do_badqp(struct run *r, struct peer *p, struct outcome *o);
void do_badadd(struct run *r, struct peer *p, struct outcome *o);

#endif
