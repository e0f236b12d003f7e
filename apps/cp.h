/* srdma-cp: file copy between authenticated hosts, built on <srdma.h> alone.
 *
 * One connection per client: QP 0 is a SRDMA_QP_MESSAGES queue pair (requests, replies,
 * chunk notices with their region tags, acknowledgements: sealed as the data-plane mode says),
 * QP 1 a SRDMA_QP_RAW queue pair on which only the client posts: RDMA WRITEs into the
 * server's ring (upload) and RDMA READs from it (download). The whole-file SHA-256 travels
 * over the TLS control channel (srdma_ctrl_send). docs/srdma-cp.md has the protocol. */
#ifndef SRDMA_APPS_CP_H
#define SRDMA_APPS_CP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include <srdma.h>

#define CP_PATH_MAX	 4000
#define CP_MSG_MAX	 4096
#define CP_MAX_ALLOW	 64
#define CP_MAX_DEPTH	 32
#define CP_CHUNK_DEFAULT (1u << 20)
#define CP_CHUNK_MIN	 4096u
#define CP_CHUNK_MAX	 (16u << 20)

/* ---- Settings (flags and config file keys alike) ---- */

#define CP_PERM_READ  1u
#define CP_PERM_WRITE 2u

/* A client certificate identity ("*": any verified client) and what it may do under a
 * subtree of the export ("" = all of it). */
struct cp_allow {
	char cn[128];
	unsigned perm;
	char subdir[256];
};

struct cp_config {
	/* both ends */
	uint16_t port;
	char ca[1024], server_name[256], cert[1024], key[1024];
	int tls_min; /* 12 or 13 */
	char device[64];
	unsigned ib_port;
	int gid_index;
	enum srdma_dp_mode dataplane;
	unsigned timeout_ms;
	unsigned busy_poll_us;
	unsigned depth;
	unsigned chunk;
	int log_level; /* 0 error .. 3 debug */
	/* server */
	char serve[1024];
	char bind[256];
	char client_ca[1024];
	unsigned max_clients;
	struct cp_allow allow[CP_MAX_ALLOW];
	unsigned nallow;
	/* client */
	int recursive, json, verify, no_encrypt, quiet, progress; /* progress: -1 auto */
};

void cp_config_defaults(struct cp_config *cfg);
int cp_config_set(void *cfg, const char *key, const char *value, char *err, size_t errlen);
int cp_config_load(void *cfg, const char *path, char *err, size_t errlen);
/* What cn may do at rel (a path relative to the export, already checked): CP_PERM_* bits. */
unsigned cp_acl_lookup(const struct cp_config *cfg, const char *cn, const char *rel);

/* ---- Messages on QP 0 (little-endian, fixed header then text) ---- */

enum cp_msg_type {
	CP_REQ = 1,    /* client: op, flags, xfer, size, mode, chunk, depth, text = path */
	CP_REPLY = 2,  /* server: status, xfer, size, mode, chunk, depth, text = error */
	CP_CHUNK = 3,  /* writer of a chunk: xfer, index, slot, offset, len, tag */
	CP_ACK = 4,    /* reader of a chunk: xfer, index (slot free again) */
	CP_END = 5,    /* either side: xfer, status (0: all sent), text = error */
	CP_ENTRY = 6,  /* server, after a LIST reply: kind in op, size, mode, text = path */
	CP_RESULT = 7, /* the receiver: xfer, status, text = error; final word on a transfer */
};

enum cp_op { CP_OP_PUT = 1, CP_OP_GET = 2, CP_OP_LIST = 3, CP_OP_VERIFY = 4, CP_OP_MKDIR = 5 };

/* Flag 1 (chunks encrypted with srdma-cp's own stream cipher, then tagged) belonged to the
 * protocol before one-pass sealing: the server refuses it, naming the older client. */
#define CP_F_ENCRYPT_OLD 1u
#define CP_F_MKDIRS	 2u /* PUT: create missing parent directories */
/* REQ: chunks are sealed in one pass (srdma_tag_seal: encrypted and tagged; sealed modes,
 * unless --no-encrypt); REPLY: the server does so too (a server that leaves it out is older). */
#define CP_F_SEAL 4u

struct cp_msg {
	uint8_t type, op, flags;
	int32_t status;
	uint32_t xfer, index, slot, len, mode, chunk, depth;
	uint64_t size, offset;
	uint8_t tag[SRDMA_TAG_LEN];
	char text[CP_PATH_MAX + 1];
};

size_t cp_msg_encode(const struct cp_msg *m, uint8_t *buf, size_t cap);
int cp_msg_decode(struct cp_msg *m, const uint8_t *buf, size_t len);

/* The SHA-256 of a transfer, on the control channel. */
struct cp_sha {
	uint32_t xfer;
	uint64_t size;
	uint8_t sha[32];
};
#define CP_CTRL_SHA 0x53 /* 'S' */

/* ---- A connection's event loop ---- */

/* Per-connection state shared by both roles. */
struct cp_link {
	struct srdma_conn *c;
	const struct cp_config *cfg;
	/* control events seen while waiting for something else */
	struct cp_sha shas[8];
	unsigned nshas;
	int peer_closed;
	volatile int *stop; /* waits return -EINTR once it is set (server shutdown) */
	char err[512];
};

/* Send m on QP 0, waiting for a credit if need be. */
int cp_send(struct cp_link *l, const struct cp_msg *m);
/* Send a chunk notice with the region tag of bytes[0..len) computed for the carrying message
 * (--no-encrypt; a sealed chunk's notice carries the tag of srdma_tag_seal and goes by cp_send). */
int cp_send_tagged(struct cp_link *l, struct cp_msg *m, const void *bytes);
/* Non-blocking: the next QP 0 message into m (0), -EAGAIN, or an error. *seq is its number. */
int cp_recv(struct cp_link *l, struct cp_msg *m, uint32_t *seq);
/* Drain the control channel: 0, or an error (-ECONNRESET when the peer is gone). */
int cp_pump_ctrl(struct cp_link *l);
/* Wait (poll) on the control channel, QP 0 and, if extra_fd >= 0, that fd too. */
int cp_wait(struct cp_link *l, int extra_fd, int timeout_ms);
/* Blocking: the next QP 0 message, with the control channel served meanwhile. */
int cp_recv_wait(struct cp_link *l, struct cp_msg *m, uint32_t *seq, int timeout_ms);
/* Blocking: the SHA of xfer from the control channel. */
int cp_sha_wait(struct cp_link *l, uint32_t xfer, struct cp_sha *out, int timeout_ms);
int cp_sha_send(struct cp_link *l, const struct cp_sha *s);
/* Blocking: until the peer's region id is known. */
int cp_region_wait(struct cp_link *l, uint32_t id, struct srdma_region *r, int timeout_ms);
/* Flush the control channel's queued output. */
int cp_ctrl_flush(struct cp_link *l, int timeout_ms);
int cp_fail(struct cp_link *l, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- Chunk sealing ----
 *
 * A sealed chunk (CP_F_SEAL) is encrypted and tagged in one pass by the library
 * (srdma_tag_seal on QP 0) with seq = the transfer's number and offset = the chunk's file
 * offset, and opened likewise (srdma_tag_open): the tag binds the chunk to its transfer, its
 * place in the file, its length and the side that wrote it. */
int cp_chunk_seal(struct cp_link *l, uint32_t xfer, uint64_t off, uint8_t *buf, size_t len,
		  uint8_t tag[SRDMA_TAG_LEN]);
/* 0, or an error with l->err set: "chunk N failed authentication" for a tag that does not
 * match (-EBADMSG: the bytes must not be used). */
int cp_chunk_open(struct cp_link *l, uint32_t xfer, uint32_t index, uint64_t off, uint8_t *buf,
		  size_t len, const uint8_t tag[SRDMA_TAG_LEN]);

/* ---- The file's SHA-256, on a thread of its own ----
 *
 * Each end hashes the file from the file itself, not from the ring: the sender reads it once
 * more from the page cache, the receiver reads back what it wrote. A thread of its own keeps
 * the hash off the path of the chunks (on a CPU the transfer leaves idle it adds nothing to
 * the copy's time), and hashing what is really in the file catches a source that changes behind the
 * copy and a destination that does not hold what was received. */
struct cp_hasher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd, running, finish, err;
	uint64_t avail, done; /* bytes of the file ready to hash, and hashed */
	EVP_MD_CTX *md;
	uint8_t *buf;
};
/* 0 or -errno; fd must stay open until cp_hasher_finish or cp_hasher_cancel. */
int cp_hasher_start(struct cp_hasher *h, int fd);
/* The file's first upto bytes are final: hash them. */
void cp_hasher_advance(struct cp_hasher *h, uint64_t upto);
/* Wait for the hash of the first size bytes: 0, or -errno (the file is shorter: -ESTALE). */
int cp_hasher_finish(struct cp_hasher *h, uint64_t size, uint8_t sha[32]);
/* The same, serving l's control channel while it waits (a connection's thread must not
 * block for long: the heartbeat). A connection error is returned as such, with l->err set. */
struct cp_link;
int cp_hasher_finish_link(struct cp_hasher *h, struct cp_link *l, uint64_t size, uint8_t sha[32]);
void cp_hasher_cancel(struct cp_hasher *h);

/* ---- Misc ---- */

uint64_t cp_now_ns(void);
void cp_hex(const uint8_t *in, size_t n, char *out);
/* A relative path inside the export: no "..", no empty or absolute path; "." components
 * removed, duplicate slashes collapsed. 0 or -EXDEV. */
int cp_path_clean(const char *in, char *out, size_t cap);

/* Progress bar on stderr (only when it is a TTY and progress is on). */
struct cp_progress {
	int on;
	uint64_t total, done, t0, last;
	const char *name;
};
void cp_progress_start(struct cp_progress *p, int on, const char *name, uint64_t total);
void cp_progress_update(struct cp_progress *p, uint64_t done);
void cp_progress_end(struct cp_progress *p);

/* ---- File-system helpers of the server (cp_fs.c) ---- */

int cp_open_beneath(int root, const char *rel, int flags, mode_t mode);
int cp_split_parent(const char *rel, char *parent, size_t cap, const char **base);
int cp_mkdirs(int root, const char *rel);
int cp_full_pwrite(int fd, const uint8_t *b, size_t len, off_t off);
ssize_t cp_full_pread(int fd, uint8_t *b, size_t len, off_t off);
int cp_same_file(const struct stat *a, const struct stat *b);

/* A file being received, never visible under its final name before cp_tmp_commit: an unnamed
 * file (O_TMPFILE) in the destination's directory where the file system allows it, so that no
 * partial file is left whatever ends the process (SIGKILL included); elsewhere a named
 * temporary ".NAME.srdma-cp.RANDOM", removed on every error and, with guard (the client, one
 * transfer at a time), by cp_tmp_handle_signals's handler on SIGINT, SIGTERM, SIGHUP, SIGQUIT. */
#define CP_TMP_NAME 300
struct cp_tmp {
	int fd;	   /* open for reading and writing */
	int dirfd; /* the destination's directory (the caller's, not closed here) */
	int anon;  /* unnamed (O_TMPFILE) */
	int guard;
	char name[CP_TMP_NAME]; /* the temporary name in dirfd while one exists */
};
int cp_tmp_open(struct cp_tmp *t, int dirfd, const char *base, mode_t mode, int guard);
/* fsync, then the file takes the name base in its directory (replacing a file there
 * atomically), then the directory is fsynced. 0 or -errno (the caller then discards). */
int cp_tmp_commit(struct cp_tmp *t, const char *base);
/* Close and remove what is left (nothing after a commit). */
void cp_tmp_discard(struct cp_tmp *t);
void cp_tmp_handle_signals(void);
/* ---- The two roles ---- */

int cp_serve(const struct cp_config *cfg);

struct cp_summary {
	uint64_t bytes;
	unsigned files;
	double seconds, connect_seconds;
	char sha256[65]; /* of the last (or only) file */
	char err[512];
};

/* srcs and dst as given on the command line; upload if dst is HOST:PATH. */
int cp_client_run(const struct cp_config *cfg, const char *src, const char *dst,
		  struct cp_summary *sum);

#endif
