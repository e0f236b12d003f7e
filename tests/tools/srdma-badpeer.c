/* srdma-badpeer: a peer that sends bad input to a libsrdma listener (srdma-server, or
 * srdma-apitest serve) on purpose, or stalls in the middle of the set-up, for the fault tests.
 * It speaks the connection manager's control channel (OPEN, QP, READY frames inside TLS:
 * src/wire.h, docs/protocol.md) by hand.
 *
 *   srdma-badpeer [--ca FILE] [-p PORT] [--server-name NAME] [--dataplane aead|chacha20|plain]
 *                 [--count N] [--timeout-ms MS] [--expect-close-within MS]
 *                 [--expect-close-after MS] [--server-deadline-ms MS] [--seed N] [-v]
 *                 MODE SERVER
 *
 * MODE: what each connection does -> what the server must do about it.
 *   plain        TCP only: clear-text bytes (an HTTP request, an SSH banner or binary noise)
 *                -> close (a TLS alert at most: TLS is not up, no ERROR frame is possible)
 *   garbage      TLS, then something that is not a valid OPEN: noise, an unknown type, a known
 *                type with a wrong length, an OPEN with a reserved field set or a field out of
 *                range (nqp 0 or above 16, a messages bit at or above nqp), a well-formed frame
 *                that does not open a connection (READY, QP, CTRL, CLOSE); unknown types
 *                include 1 and 2, the former demo protocol's HELLO and PARAMS
 *                -> ERROR PROTOCOL, close
 *   oversize     TLS, a frame header announcing more than SRDMA_FRAME_MAX_PAYLOAD bytes
 *                -> ERROR PROTOCOL, close
 *   badmagic     TLS, an OPEN with a wrong magic -> ERROR PROTOCOL, close
 *   badversion   TLS, an OPEN whose header carries another protocol version (the header's
 *                version byte) -> ERROR VERSION, close
 *   truncated    TLS, the first bytes of an OPEN, then silence (slowloris)
 *                -> ERROR TIMEOUT at the set-up deadline, close
 *   stall-tls    TCP, a whole TLS 1.3 ClientHello (written by hand); once the server's answer
 *                arrives, silence: the server is left in the middle of its handshake -> close
 *                at the deadline (no ERROR: TLS is not up)
 *   stall-open   TLS, OPEN and QP frames (made-up numbers); reads the server's OPEN, QP frames
 *                and READY (it has accepted us and now holds a slot, a PD, a CQ, a QP at RTS
 *                and registered buffers for us), then no READY of ours: silence
 *                -> ERROR TIMEOUT at the deadline, close. (stall-hello: the old name, accepted.)
 *   badqp        TLS, OPEN (the server accepts it: slot, PD, QP in INIT, buffers) and in the
 *                same flight a bad QP step: a QP frame for an index beyond nqp, of the other
 *                driver, twice for one index, READY before our QP frame, or a second OPEN
 *                -> ERROR PROTOCOL, close (and the server frees what it held)
 *   badadd       TLS, a whole set-up (OPEN, QP, the server's answer, READY: established), then
 *                a bad step of adding a QP (srdma_conn_add_qp's exchange): a QP frame for an
 *                index other than the next, a READY or a QP_REFUSED with no add in flight, a
 *                second QP frame instead of the READY that confirms an add the server answered,
 *                or a READY after we abandoned that add (QP_REFUSED)
 *                -> ERROR PROTOCOL, close (and the server frees the added QP)
 *   mix          cycles through plain, garbage, oversize, badmagic, badversion and two kinds
 *                that hang up (shutdown(SHUT_WR)) instead of waiting for the deadline: after
 *                part of an OPEN, and after the whole or part of a ClientHello -> as above;
 *                for the hang-ups a close (OpenSSL may send a fatal alert first)
 *
 * stall-tls and stall-open without --expect-close-within print "stalling" once they are at
 * their phase and then wait until they are killed; the server closing on them is a failure.
 * Every other connection waits at most --timeout-ms (default 10000) for the server's answer
 * and close. --expect-close-within MS and --expect-close-after MS bound the time between the
 * TCP connection being established and the server closing it. --dataplane says which feature
 * bits our OPENs carry; it must match the server's (default aead, as for srdma-client).
 * --server-deadline-ms MS is the server's set-up deadline: a connection whose TLS handshake
 * took so long that the deadline cut it off before its bad input was judged is reported, not
 * counted, and made again; more than 5 % of them (MAX_CUT_OFFS_PERCENT) is a failure.
 *
 * Prints one line per connection (with --count 1, -v, or when a connection did not get what it
 * should), and a summary with --count > 1. Exit status: 0 the server behaved as expected on
 * every connection, 1 it did not, 2 usage or set-up error. */
#include "badpeer.h"

/* ---- the kinds of bad connection ------------------------------------------------------- */

static void do_plain(struct run *r, struct peer *p, struct outcome *o)
{
	static const struct {
		const char *name;
		const char *bytes;
	} texts[] = {
	    {"an HTTP request", "GET / HTTP/1.1\r\nHost: srdma\r\n\r\n"},
	    {"an SSH banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"},
	    {"a line of text", "HELLO secure-rdma, version 1\n"},
	};
	uint8_t noise[64];
	unsigned pick = rnd(r) % 4;

	if (tcp_connect(r->o, p, o))
		return;
	if (pick < 3) {
		snprintf(o->sent, sizeof(o->sent), "%s in clear", texts[pick].name);
		if (raw_send(p, o, texts[pick].bytes, strlen(texts[pick].bytes)))
			return;
	} else {
		/* Noise that cannot pass for a TLS record (content types are 20..24). */
		rnd_fill(r, noise, sizeof(noise));
		noise[0] = (uint8_t)(0x80 | noise[0]);
		snprintf(o->sent, sizeof(o->sent), "%zu bytes of binary noise", sizeof(noise));
		if (raw_send(p, o, noise, sizeof(noise)))
			return;
	}
	await_raw_close(p, o, answer_deadline(r));
	if (o->raw_bytes && !o->raw_alert)
		note(o, "server answered clear text with %zu bytes that are not a TLS alert",
		     o->raw_bytes);
}

/* A well-formed frame of type t that is not OPEN, through the codec. */
static size_t not_open(struct run *r, uint8_t type, uint8_t *buf, size_t cap)
{
	struct srdma_frame f;
	ssize_t n;

	memset(&f, 0, sizeof(f));
	f.type = type;
	switch (type) {
	case SRDMA_FRAME_QP:
		f.u.qp.driver = 1;
		f.u.qp.qpn = 1 + rnd(r) % SRDMA_PSN_MASK;
		f.u.qp.psn = rnd(r) & SRDMA_PSN_MASK;
		f.u.qp.mtu = 3;
		f.u.qp.max_msg = 65536;
		f.u.qp.depth = 16;
		break;
	case SRDMA_FRAME_CTRL:
		f.u.ctrl.len = (uint16_t)(1 + rnd(r) % SRDMA_CTRL_MSG_MAX);
		rnd_fill(r, f.u.ctrl.data, f.u.ctrl.len);
		break;
	default: /* READY, CLOSE: empty */
		break;
	}
	n = srdma_frame_encode(&f, buf, cap);
	return n > 0 ? (size_t)n : 0;
}

static void do_garbage(struct run *r, struct peer *p, struct outcome *o)
{
	static const uint8_t known[] = {SRDMA_FRAME_OPEN,   SRDMA_FRAME_QP,	SRDMA_FRAME_READY,
					SRDMA_FRAME_REGION, SRDMA_FRAME_REVOKE, SRDMA_FRAME_CLOSE};
	static const uint32_t exact[] = {SRDMA_OPEN_LEN,   SRDMA_QP_LEN,     0,
					 SRDMA_REGION_LEN, SRDMA_REVOKE_LEN, 0};
	static const uint8_t early[] = {SRDMA_FRAME_READY, SRDMA_FRAME_QP, SRDMA_FRAME_CTRL,
					SRDMA_FRAME_CLOSE};
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	uint8_t *pl = buf + SRDMA_FRAME_HDR_LEN;
	size_t len;
	uint32_t plen;
	unsigned k;

	if (tls_connect(r, p, o))
		return;
	switch (rnd(r) % 5) {
	case 0: /* noise; the first byte rules out the magic */
		len = SRDMA_FRAME_HDR_LEN + rnd(r) % (SRDMA_FRAME_MAX_PAYLOAD + 1);
		rnd_fill(r, buf, len);
		if (buf[0] == (SRDMA_WIRE_MAGIC >> 8))
			buf[0] ^= 0xff;
		snprintf(o->sent, sizeof(o->sent), "%zu bytes of noise", len);
		break;
	case 1: /* right magic and version, a type that does not exist: below the first (0, and
		 * the former HELLO and PARAMS) or above the last */
		k = rnd(r) % (256 - (SRDMA_FRAME_LAST - SRDMA_FRAME_FIRST + 1));
		k = k < SRDMA_FRAME_FIRST ? k : k + (SRDMA_FRAME_LAST - SRDMA_FRAME_FIRST + 1);
		plen = rnd(r) % (SRDMA_FRAME_MAX_PAYLOAD + 1);
		put_hdr(buf, SRDMA_WIRE_MAGIC, SRDMA_PROTO_VERSION, (uint8_t)k, plen);
		rnd_fill(r, pl, plen);
		len = SRDMA_FRAME_HDR_LEN + plen;
		snprintf(o->sent, sizeof(o->sent), "a frame of unknown type %u", k);
		break;
	case 2: /* a known type with a payload of the wrong length */
		k = rnd(r) % (unsigned)sizeof(known);
		do
			plen = rnd(r) % (SRDMA_FRAME_MAX_PAYLOAD + 1);
		while (plen == exact[k]);
		put_hdr(buf, SRDMA_WIRE_MAGIC, SRDMA_PROTO_VERSION, known[k], plen);
		rnd_fill(r, pl, plen);
		len = SRDMA_FRAME_HDR_LEN + plen;
		snprintf(o->sent, sizeof(o->sent), "%s frame of %u bytes (wrong length)",
			 srdma_frame_type_name(known[k]), plen);
		break;
	case 3: /* an OPEN of the right length with a reserved field set or a field out of range.
		 * Payload: u32 features | u8 nqp | u8 0 | u16 msg_mask | u32 0. */
		len = valid_open(r->o, buf, sizeof(buf));
		switch (rnd(r) % 5) {
		case 0:
			pl[5] = (uint8_t)(rnd(r) | 1u);
			snprintf(o->sent, sizeof(o->sent), "an OPEN with its reserved byte set");
			break;
		case 1:
			put_u32(pl + 8, rnd(r) | 1u);
			snprintf(o->sent, sizeof(o->sent), "an OPEN with its reserved word set");
			break;
		case 2:
			pl[4] = 0;
			put_u16(pl + 6, 0);
			snprintf(o->sent, sizeof(o->sent), "an OPEN for 0 QPs");
			break;
		case 3:
			pl[4] =
			    (uint8_t)(SRDMA_WIRE_MAX_QPS + 1 + rnd(r) % (255 - SRDMA_WIRE_MAX_QPS));
			snprintf(o->sent, sizeof(o->sent), "an OPEN for %u QPs", pl[4]);
			break;
		default:
			k = OPEN_NQP + rnd(r) % (16 - OPEN_NQP);
			put_u16(pl + 6, (uint16_t)(OPEN_MSG_MASK | (1u << k)));
			snprintf(o->sent, sizeof(o->sent),
				 "an OPEN for %u QP(s) that marks QP %u as library-driven",
				 OPEN_NQP, k);
			break;
		}
		break;
	default: /* well formed, but not what opens a connection */
		k = early[rnd(r) % sizeof(early)];
		len = not_open(r, (uint8_t)k, buf, sizeof(buf));
		snprintf(o->sent, sizeof(o->sent), "%s before OPEN", srdma_frame_type_name(k));
		break;
	}
	(void)tls_send(r, p, o, buf, len);
	await_tls_close(p, o, answer_deadline(r));
}

static void do_oversize(struct run *r, struct peer *p, struct outcome *o)
{
	static const uint32_t lens[] = {SRDMA_FRAME_MAX_PAYLOAD + 1, 4096, 65536, 0x7fffffffu,
					0xffffffffu};
	uint8_t buf[SRDMA_FRAME_HDR_LEN + 64];
	uint32_t plen = lens[rnd(r) % (sizeof(lens) / sizeof(lens[0]))];

	if (tls_connect(r, p, o))
		return;
	/* The header and a little of the announced payload: the server must judge the header
	 * alone rather than wait for the rest. */
	put_hdr(buf, SRDMA_WIRE_MAGIC, SRDMA_PROTO_VERSION, SRDMA_FRAME_OPEN, plen);
	rnd_fill(r, buf + SRDMA_FRAME_HDR_LEN, sizeof(buf) - SRDMA_FRAME_HDR_LEN);
	snprintf(o->sent, sizeof(o->sent), "an OPEN header announcing %u bytes", plen);
	(void)tls_send(r, p, o, buf, sizeof(buf));
	await_tls_close(p, o, answer_deadline(r));
}

static void do_badmagic(struct run *r, struct peer *p, struct outcome *o)
{
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	uint16_t magic;
	size_t len;

	if (tls_connect(r, p, o))
		return;
	len = valid_open(r->o, buf, sizeof(buf));
	switch (rnd(r) % 3) {
	case 0:
		magic = 0x5253; /* byte-swapped */
		break;
	case 1:
		magic = 0;
		break;
	default:
		do
			magic = (uint16_t)rnd(r);
		while (magic == SRDMA_WIRE_MAGIC);
		break;
	}
	put_u16(buf, magic);
	snprintf(o->sent, sizeof(o->sent), "an OPEN with magic 0x%04x", magic);
	(void)tls_send(r, p, o, buf, len);
	await_tls_close(p, o, answer_deadline(r));
}

static void do_badversion(struct run *r, struct peer *p, struct outcome *o)
{
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	uint8_t version;
	size_t len;

	if (tls_connect(r, p, o))
		return;
	len = valid_open(r->o, buf, sizeof(buf));
	switch (rnd(r) % 3) {
	case 0:
		version = SRDMA_PROTO_VERSION + 1;
		break;
	case 1:
		version = 0;
		break;
	default:
		do
			version = (uint8_t)rnd(r);
		while (version == SRDMA_PROTO_VERSION);
		break;
	}
	buf[2] = version; /* the header's version byte */
	snprintf(o->sent, sizeof(o->sent), "an OPEN of protocol version %u", version);
	(void)tls_send(r, p, o, buf, len);
	await_tls_close(p, o, answer_deadline(r));
}

/* The first bytes of an OPEN; then silence, or (hang_up) our end of the stream closed. */
static void truncated(struct run *r, struct peer *p, struct outcome *o, int hang_up)
{
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	size_t len, cut;

	if (tls_connect(r, p, o))
		return;
	len = valid_open(r->o, buf, sizeof(buf));
	cut = 1 + rnd(r) % (len - 1);
	snprintf(o->sent, sizeof(o->sent), "%zu of the %zu bytes of an OPEN%s", cut, len,
		 hang_up ? ", then EOF" : "");
	/* A failed send is noted; the close still tells whether the set-up deadline explains it
	 * (a handshake slow enough that the server gave up on it first). */
	if (tls_send(r, p, o, buf, cut) == 0 && hang_up)
		shutdown(p->fd, SHUT_WR);
	await_tls_close(p, o, answer_deadline(r));
}

static void do_truncated(struct run *r, struct peer *p, struct outcome *o)
{
	truncated(r, p, o, 0);
}

static void do_truncated_eof(struct run *r, struct peer *p, struct outcome *o)
{
	truncated(r, p, o, 1);
}

static uint8_t *put_bytes(uint8_t *p, const void *b, size_t n)
{
	memcpy(p, b, n);
	return p + n;
}

/* A TLS 1.3 ClientHello written by hand (RFC 8446 4.1.2) rather than by OpenSSL, so that how
 * far the handshake gets does not depend on timing: an OpenSSL client that finds the server's
 * answer already there finishes the handshake in the same call. One X25519 key share (any 32
 * bytes are a public key), the AES-GCM suites, ECDSA P-256 and RSA-PSS signatures. */
static size_t client_hello(struct run *r, uint8_t *buf)
{
	static const uint8_t suites[] = {0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03};
	static const uint8_t ext[] = {
	    0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04,	    /* supported_versions: 1.3 */
	    0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, /* supported_groups: x25519 */
	    0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04, /* signature_algorithms */
	    0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, /* key_share: x25519 */
	};
	uint8_t *p = buf + 9, *ext_start;
	size_t body;

	*p++ = 0x03; /* legacy_version TLS 1.2 */
	*p++ = 0x03;
	rnd_fill(r, p, 32); /* random */
	p += 32;
	*p++ = 32; /* legacy_session_id, as real clients send for middlebox compatibility */
	rnd_fill(r, p, 32);
	p += 32;
	p = put_bytes(p, suites, sizeof(suites));
	*p++ = 1; /* compression methods: null */
	*p++ = 0;
	ext_start = p + 2;
	p = put_bytes(ext_start, ext, sizeof(ext));
	rnd_fill(r, p, 32); /* ... and its 32-byte public key */
	p += 32;
	put_u16(ext_start - 2, (uint16_t)(p - ext_start));
	body = (size_t)(p - buf) - 9;
	buf[0] = TLS_RECORD_HANDSHAKE; /* legacy record version TLS 1.0 */
	buf[1] = 0x03;
	buf[2] = 0x01;
	put_u16(buf + 3, (uint16_t)(body + 4));
	buf[5] = 0x01; /* handshake: client_hello, 24-bit length */
	buf[6] = 0;
	put_u16(buf + 7, (uint16_t)body);
	return (size_t)(p - buf);
}

/* A whole ClientHello and, once the server has answered, nothing more: the server is left in
 * the middle of its handshake. With hang_up, the whole or part of a ClientHello, then EOF. */
static void stall_tls(struct run *r, struct peer *p, struct outcome *o, int hang_up)
{
	uint8_t hello[CLIENT_HELLO_MAX];
	size_t len = client_hello(r, hello), cut = len;
	uint8_t first;

	if (tcp_connect(r->o, p, o))
		return;
	if (hang_up && rnd(r) % 2)
		cut = 1 + rnd(r) % (len - 1);
	if (cut < len)
		snprintf(o->sent, sizeof(o->sent),
			 "%zu of the %zu bytes of a ClientHello, then EOF", cut, len);
	else
		snprintf(o->sent, sizeof(o->sent), "a ClientHello, then %s",
			 hang_up ? "EOF" : "nothing");
	if (raw_send(p, o, hello, cut))
		return;
	if (hang_up) {
		shutdown(p->fd, SHUT_WR);
	} else {
		if (wait_fd(p->fd, POLLIN, now_ns() + (uint64_t)r->o->timeout_ms * 1000000ull)) {
			setup_failed(o, "server did not answer the ClientHello within %u ms",
				     r->o->timeout_ms);
			return;
		}
		if (recv(p->fd, &first, 1, MSG_PEEK) != 1 || first != TLS_RECORD_HANDSHAKE) {
			setup_failed(o, "server did not answer the ClientHello with a ServerHello");
			return;
		}
		stalling(r, p, "server answered our ClientHello and waits for our Finished");
	}
	/* Whatever the server sends now (its handshake flight, an alert) is read as raw bytes. */
	await_raw_close(p, o, r->stall_forever ? 0 : answer_deadline(r));
}

static void do_stall_tls(struct run *r, struct peer *p, struct outcome *o)
{
	stall_tls(r, p, o, 0);
}

static void do_stall_tls_eof(struct run *r, struct peer *p, struct outcome *o)
{
	stall_tls(r, p, o, 1);
}

enum kind_id {
	K_PLAIN,
	K_GARBAGE,
	K_OVERSIZE,
	K_BADMAGIC,
	K_BADVERSION,
	K_TRUNCATED,
	K_STALL_TLS,
	K_STALL_OPEN,
	K_BADQP,
	K_BADADD,
	K_TRUNCATED_EOF, /* only in the mix */
	K_STALL_TLS_EOF, /* only in the mix */
	NKINDS
};

static const struct kind kinds[NKINDS] = {
    [K_PLAIN] = {"plain", 0, 0, 0, do_plain},
    [K_GARBAGE] = {"garbage", 1, SRDMA_ERR_PROTOCOL, 0, do_garbage},
    [K_OVERSIZE] = {"oversize", 1, SRDMA_ERR_PROTOCOL, 0, do_oversize},
    [K_BADMAGIC] = {"badmagic", 1, SRDMA_ERR_PROTOCOL, 0, do_badmagic},
    [K_BADVERSION] = {"badversion", 1, SRDMA_ERR_VERSION, 0, do_badversion},
    [K_TRUNCATED] = {"truncated", 1, SRDMA_ERR_TIMEOUT, 1, do_truncated},
    [K_STALL_TLS] = {"stall-tls", 0, 0, 1, do_stall_tls},
    [K_STALL_OPEN] = {"stall-open", 1, SRDMA_ERR_TIMEOUT, 1, do_stall_open},
    [K_BADQP] = {"badqp", 1, SRDMA_ERR_PROTOCOL, 0, do_badqp},
    [K_BADADD] = {"badadd", 1, SRDMA_ERR_PROTOCOL, 0, do_badadd},
    [K_TRUNCATED_EOF] = {"truncated-eof", 1, 0, 0, do_truncated_eof},
    [K_STALL_TLS_EOF] = {"stall-tls-eof", 0, 0, 0, do_stall_tls_eof},
};

static const enum kind_id mix[] = {K_PLAIN,	 K_GARBAGE,	  K_OVERSIZE,	  K_BADMAGIC,
				   K_BADVERSION, K_TRUNCATED_EOF, K_STALL_TLS_EOF};

#define NMIX (sizeof(mix) / sizeof(mix[0]))

/* A mode given on the command line (the mix-only kinds are not modes). */
static const struct kind *find_mode(const char *name)
{
	size_t i;

	if (strcmp(name, "stall-hello") == 0) /* the old protocol's name for it */
		return &kinds[K_STALL_OPEN];
	for (i = 0; i < K_TRUNCATED_EOF; i++)
		if (strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	return NULL;
}

static void peer_close(struct peer *p)
{
	if (p->tls)
		srdma_tls_destroy(p->tls); /* closes the socket */
	else if (p->fd >= 0)
		close(p->fd);
	p->tls = NULL;
	p->fd = -1;
}

/* Was the connection cut off by the server's set-up deadline before its bad input could be
 * judged? That happens, rightly, when the TLS handshake alone takes about as long as the
 * deadline (a loaded TCG host). Only a slow handshake excuses it: a server that does not answer
 * bad input until its deadline must still fail. */
static int cut_off(const struct opts *op, const struct kind *k, const struct outcome *o)
{
	double d = op->deadline_ms;

	if (!op->deadline_ms || k->at_deadline || !k->tls || !o->tls_ms)
		return 0;
	if (o->setup_failed)
		return o->tls_ms >= d; /* the server hung up on our handshake at its deadline */
	/* Our clock starts when connect() returns, which a loaded host may report a few ms late:
	 * 2 % of slack on the deadline. */
	return o->tls_ms >= d / 2 && o->closed && o->close_ms >= d * 0.98 &&
	       (!o->got_error || o->code == SRDMA_ERR_TIMEOUT);
}

/* Did the server do what it must? NULL if so, else what it should have done. */
static const char *fault(const struct opts *op, const struct kind *k, const struct outcome *o,
			 char *buf, size_t len)
{
	if (o->setup_failed)
		return "the connection could not even be set up";
	if (o->anomaly[0])
		return "see the note in brackets";
	if (!o->closed ||
	    (k->expect_code ? !o->got_error || o->code != k->expect_code : o->got_error)) {
		if (k->expect_code)
			snprintf(buf, len, "wanted ERROR %s and a close",
				 srdma_error_code_name(k->expect_code));
		else
			snprintf(buf, len, "wanted a close without an ERROR frame");
		return buf;
	}
	if (op->close_within_ms && o->close_ms > op->close_within_ms) {
		snprintf(buf, len, "wanted the close within %u ms", op->close_within_ms);
		return buf;
	}
	if (op->close_after_ms && o->close_ms < op->close_after_ms) {
		snprintf(buf, len, "wanted the close %u ms after connect at the earliest",
			 op->close_after_ms);
		return buf;
	}
	return NULL;
}

static void report(unsigned i, const struct kind *k, const struct outcome *o, const char *why)
{
	printf("%s #%u: ", k->name, i + 1);
	if (o->setup_failed) {
		printf("set-up failed: %s: UNEXPECTED\n", o->anomaly);
		return;
	}
	printf("sent %s; ", o->sent);
	if (o->prefix_frames)
		printf("the server answered the valid part first (%u frames), ", o->prefix_frames);
	if (o->got_error)
		printf("got ERROR %s \"%s\", ", srdma_error_code_name(o->code), o->msg);
	else if (k->tls && k->expect_code)
		printf("no ERROR frame, ");
	if (o->raw_bytes)
		printf("got %zu bytes%s, ", o->raw_bytes, o->raw_alert ? " (a TLS alert)" : "");
	if (o->closed && o->close_how[0])
		printf("closed by the server (%s) after %.0f ms", o->close_how, o->close_ms);
	else if (o->closed)
		printf("closed by the server after %.0f ms", o->close_ms);
	else
		printf("not closed");
	if (o->anomaly[0])
		printf(" [%s]", o->anomaly);
	if (why && o->tls_ms)
		printf(" (our TLS handshake took %.0f ms)", o->tls_ms);
	if (why)
		printf(": UNEXPECTED (%s)\n", why);
	else
		printf(": as expected\n");
}

static void usage(int status)
{
	FILE *out = status ? stderr : stdout;
	size_t i;

	fprintf(
	    out,
	    "usage: srdma-badpeer [--ca FILE] [-p PORT] [--server-name NAME]\n"
	    "                     [--dataplane aead|chacha20|plain] [--count N] [--timeout-ms MS]\n"
	    "                     [--expect-close-within MS] [--expect-close-after MS]\n"
	    "                     [--server-deadline-ms MS] [--seed N] [-v] MODE SERVER\n"
	    "MODE:");
	for (i = 0; i < K_TRUNCATED_EOF; i++)
		fprintf(out, " %s", kinds[i].name);
	fprintf(out, " mix\n");
	exit(status);
}

static unsigned parse_uint(const char *s, unsigned min, unsigned max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "srdma-badpeer: bad number \"%s\" (%u..%u)\n", s, min, max);
		usage(2);
	}
	return (unsigned)v;
}

static void parse_args(int argc, char **argv, struct opts *op, const char **mode)
{
	static const struct option lo[] = {
	    {"ca", required_argument, NULL, 'c'},
	    {"port", required_argument, NULL, 'p'},
	    {"server-name", required_argument, NULL, 'n'},
	    {"dataplane", required_argument, NULL, 'D'},
	    {"count", required_argument, NULL, 'N'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"expect-close-within", required_argument, NULL, 'W'},
	    {"expect-close-after", required_argument, NULL, 'A'},
	    {"server-deadline-ms", required_argument, NULL, 'T'},
	    {"seed", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	op->port = 4433;
	op->count = 1;
	op->timeout_ms = DEFAULT_TIMEOUT_MS;
	op->features = SRDMA_FEAT_AEAD;
	op->seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
	while ((c = getopt_long(argc, argv, "p:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			op->ca = optarg;
			break;
		case 'p':
			op->port = parse_uint(optarg, 1, 65535);
			break;
		case 'n':
			op->server_name = optarg;
			break;
		case 'D':
			if (!strcmp(optarg, "chacha20"))
				op->features = SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20;
			else if (!strcmp(optarg, "aead"))
				op->features = SRDMA_FEAT_AEAD;
			else if (!strcmp(optarg, "plain"))
				op->features = 0;
			else
				usage(2);
			break;
		case 'N':
			op->count = parse_uint(optarg, 1, 10000000);
			break;
		case 't':
			op->timeout_ms = parse_uint(optarg, 100, 600000);
			break;
		case 'W':
			op->close_within_ms = parse_uint(optarg, 1, 600000);
			break;
		case 'A':
			op->close_after_ms = parse_uint(optarg, 1, 600000);
			break;
		case 'T':
			op->deadline_ms = parse_uint(optarg, 1, 600000);
			break;
		case 'S':
			op->seed = parse_uint(optarg, 0, UINT_MAX);
			break;
		case 'v':
			op->verbose = 1;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (argc - optind != 2)
		usage(2);
	*mode = argv[optind];
	op->host = argv[optind + 1];
}

/* What a loop of connections came to. */
struct tally {
	unsigned done, ok, bad;
	unsigned cut; /* cut off by the set-up deadline during a slow handshake, made again */
	unsigned per_kind[NKINDS];
	unsigned per_code[SRDMA_ERR_RDMA + 2]; /* ERROR frames by code; the last: other codes */
	unsigned close_only;		       /* closed without an ERROR frame */
	double slowest_close_ms;
};

static void tally_add(struct tally *t, const struct kind *k, const struct outcome *o, int ok)
{
	t->done++;
	if (ok)
		t->ok++;
	else
		t->bad++;
	t->per_kind[k - kinds]++;
	if (o->got_error)
		t->per_code[o->code <= SRDMA_ERR_RDMA ? o->code : SRDMA_ERR_RDMA + 1]++;
	else if (o->closed)
		t->close_only++;
	if (o->closed && o->close_ms > t->slowest_close_ms)
		t->slowest_close_ms = o->close_ms;
}

static void print_summary(const struct opts *op, const char *mode, const struct tally *t,
			  double secs)
{
	unsigned c;

	printf("summary: %s, %u connections in %.1f s (%.1f ms each): %u as expected, %u not", mode,
	       t->done, secs, t->done ? secs * 1000.0 / t->done : 0.0, t->ok, t->bad);
	if (t->done < op->count)
		printf(" (gave up before the other %u)", op->count - t->done);
	if (t->cut)
		printf("; %u more cut off by the set-up deadline during a slow TLS handshake, "
		       "made again",
		       t->cut);
	printf("; kinds:");
	for (c = 0; c < NKINDS; c++)
		if (t->per_kind[c])
			printf(" %s %u", kinds[c].name, t->per_kind[c]);
	printf("; answers:");
	for (c = 0; c <= SRDMA_ERR_RDMA; c++)
		if (t->per_code[c])
			printf(" ERROR %s %u", srdma_error_code_name(c), t->per_code[c]);
	if (t->per_code[SRDMA_ERR_RDMA + 1])
		printf(" ERROR (other codes) %u", t->per_code[SRDMA_ERR_RDMA + 1]);
	printf(" close-only %u; slowest close %.0f ms; seed %u\n", t->close_only,
	       t->slowest_close_ms, op->seed);
}

int main(int argc, char **argv)
{
	struct opts op = {0};
	struct run r = {.o = &op};
	struct tally t = {0};
	const struct kind *single = NULL;
	unsigned i, fails_in_a_row = 0;
	const char *mode;
	char err[512];
	uint64_t t0;
	int is_mix, needs_tls = 0;

	parse_args(argc, argv, &op, &mode);
	is_mix = strcmp(mode, "mix") == 0;
	if (!is_mix) {
		single = find_mode(mode);
		if (!single)
			usage(2);
		needs_tls = single->tls;
	} else {
		for (i = 0; i < NMIX; i++)
			needs_tls |= kinds[mix[i]].tls;
	}
	r.stall_forever = single && strncmp(single->name, "stall-", 6) == 0 && !op.close_within_ms;
	if (r.stall_forever && op.count > 1) {
		fprintf(stderr,
			"srdma-badpeer: %s stalls until killed: --count needs "
			"--expect-close-within\n",
			mode);
		usage(2);
	}
	r.rng = op.seed * 0x9E3779B97F4A7C15ull + 1;
	/* The server may close while we write: that must be an error return, not a death. */
	signal(SIGPIPE, SIG_IGN);

	if (needs_tls) {
		struct srdma_tls_client_opts to = {.ca = op.ca, .min_version = SRDMA_TLS_1_2};

		if (!op.ca) {
			fprintf(stderr, "srdma-badpeer: mode %s needs --ca\n", mode);
			usage(2);
		}
		if (srdma_tls_ctx_client_create(&to, &r.ctx, err, sizeof(err))) {
			fprintf(stderr, "srdma-badpeer: %s\n", err);
			return 2;
		}
	}

	t0 = now_ns();
	for (i = 0; i < op.count;) {
		const struct kind *k = is_mix ? &kinds[mix[i % NMIX]] : single;
		struct peer p = {.fd = -1};
		struct outcome o = {0};
		char whybuf[96];
		const char *why;

		k->fn(&r, &p, &o);
		peer_close(&p);
		if (cut_off(&op, k, &o)) {
			t.cut++;
			printf(
			    "%s #%u: cut off by the set-up deadline %.0f ms after connect, our TLS "
			    "handshake having taken %.0f ms; again\n",
			    k->name, i + 1, o.closed ? o.close_ms : o.tls_ms, o.tls_ms);
			if (t.cut > 3 && t.cut * 100 > MAX_CUT_OFFS_PERCENT * op.count) {
				printf("giving up: too many connections cut off by the deadline\n");
				break;
			}
			continue;
		}
		i++;
		/* A stall that is meant to end by SIGKILL must never come back. */
		if (r.stall_forever && !o.setup_failed)
			note(&o, "the server ended a connection it should have kept until we died");
		why = fault(&op, k, &o, whybuf, sizeof(whybuf));
		tally_add(&t, k, &o, !why);
		if (op.count == 1 || op.verbose || why)
			report(i - 1, k, &o, why);
		fails_in_a_row = o.setup_failed ? fails_in_a_row + 1 : 0;
		if (fails_in_a_row >= MAX_SETUP_FAILURES_IN_A_ROW) {
			printf("giving up after %u connections in a row that could not be set up\n",
			       fails_in_a_row);
			break;
		}
	}
	if (op.count > 1)
		print_summary(&op, mode, &t, (double)(now_ns() - t0) / 1e9);
	else if (t.bad)
		printf("replay with --seed %u\n", op.seed);
	srdma_tls_ctx_destroy(r.ctx);
	return t.bad || t.done < op.count ? 1 : 0;
}
