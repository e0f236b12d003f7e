/* Unit tests for data-plane sequencing and sealing (src/dataplane.c); the AEAD primitives
 * under it have their known-answer tests in test_aead.c. A client-side and
 * a server-side struct srdma_dataplane are given the same key material, as srdma_dp_derive
 * would give them from one TLS session, and messages travel between them through a copy, as
 * over the wire. The tests of a sealed session run in both sealed modes (aead and chacha20),
 * the same test body with another setup (dp_test_util.h). Region tags: test_dp_tags.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dataplane.h"
#include "msg.h"
#include "wire.h"
#include "dp_test_util.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BUF_CAP	     8192u /* room for the largest message here (APP 4096) and its tag */
#define MAX_PAYLOAD  4096u

/* 64 bytes that no ciphertext should ever show. */
static const char pattern[] = "secure-rdma-plaintext-marker:0123456789abcdefghijklmnopqrstuvwxy";
_Static_assert(sizeof(pattern) == 65, "the pattern is 64 bytes");

/* A message of each kind, its payload taken from the pattern. */
struct msg_case {
	enum srdma_msg_type type;
	uint32_t len; /* APP */
};

static const struct msg_case all_cases[] = {
    {SRDMA_MSG_APP, 0},	 {SRDMA_MSG_APP, 1},   {SRDMA_MSG_APP, 8},    {SRDMA_MSG_APP, 17},
    {SRDMA_MSG_APP, 64}, {SRDMA_MSG_APP, 100}, {SRDMA_MSG_APP, 4096}, {SRDMA_MSG_CREDIT, 0},
};

static void make_msg(const struct msg_case *c, uint8_t *storage, struct srdma_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = c->type;
	for (uint32_t i = 0; i < c->len; i++)
		storage[i] = (uint8_t)pattern[i % 64];
	if (c->type == SRDMA_MSG_APP) {
		m->payload = storage;
		m->len = c->len;
		m->ack = c->len % 17; /* credits returned, authenticated with the header */
	} else {
		m->ack = SRDMA_MAX_RECV_DEPTH; /* CREDIT */
	}
}

static void assert_msg_equal(const struct srdma_msg *got, const struct srdma_msg *want)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->seq, want->seq);
	assert_int_equal(got->ack, want->ack);
	if (want->type == SRDMA_MSG_APP) {
		assert_int_equal(got->len, want->len);
		if (want->len)
			assert_memory_equal(got->payload, want->payload, want->len);
	} else {
		assert_int_equal(got->len, 0);
	}
}

/* Put one message of each kind from tx and get it at rx, checking what travels. */
static void round_trip_all(struct srdma_dataplane *tx, struct srdma_dataplane *rx, int sealed)
{
	static uint8_t storage[MAX_PAYLOAD], wire[BUF_CAP], plain[BUF_CAP], rxbuf[BUF_CAP];
	uint32_t seq0 = tx->tx_seq;

	assert_int_equal(rx->rx_seq, seq0);
	for (size_t i = 0; i < ARRAY_LEN(all_cases); i++) {
		struct srdma_msg m, got;
		ssize_t n, plain_n;
		size_t plen;

		make_msg(&all_cases[i], storage, &m);
		n = srdma_dp_put(tx, &m, wire, sizeof(wire));
		assert_true(n > 0);
		assert_int_equal(m.seq, seq0 + i);
		assert_int_equal(tx->tx_seq, seq0 + i + 1);

		/* What the codec alone makes of the same message: the plaintext. */
		plain_n = srdma_msg_encode(&m, plain, sizeof(plain));
		assert_true(plain_n >= (ssize_t)SRDMA_MSG_HDR_LEN);
		plen = (size_t)plain_n - SRDMA_MSG_HDR_LEN;
		if (sealed) {
			assert_int_equal(n, plain_n + SRDMA_AEAD_TAG_LEN);
			/* The header travels in clear (authenticated as additional data) with
			 * only the sealed flag set; the payload must not. */
			assert_int_equal(wire[3], SRDMA_MSG_F_SEALED);
			plain[3] = SRDMA_MSG_F_SEALED;
			assert_memory_equal(wire, plain, SRDMA_MSG_HDR_LEN);
			if (plen >= 8)
				assert_null(
				    memmem(wire, (size_t)n, plain + SRDMA_MSG_HDR_LEN, plen));
			if (plen >= 64)
				assert_null(memmem(wire, (size_t)n, pattern, 64));
		} else {
			assert_int_equal(n, plain_n);
			assert_memory_equal(wire, plain, (size_t)n);
		}

		memcpy(rxbuf, wire, (size_t)n);
		assert_int_equal(srdma_dp_get(rx, rxbuf, (size_t)n, MAX_PAYLOAD, &got), 0);
		assert_int_equal(rx->rx_seq, seq0 + i + 1);
		/* Opened in place: the payload points into the receive buffer. */
		assert_ptr_equal(got.payload, rxbuf + SRDMA_MSG_HDR_LEN);
		assert_msg_equal(&got, &m);
	}
}

static void test_aead_round_trip(void **state)
{
	struct pair *p = *state;

	round_trip_all(&p->client, &p->server, 1);
	round_trip_all(&p->server, &p->client, 1);
	/* And on: each direction keeps its own counters. */
	round_trip_all(&p->client, &p->server, 1);
	assert_int_equal(p->client.tx_seq, 2 * ARRAY_LEN(all_cases));
	assert_int_equal(p->client.rx_seq, ARRAY_LEN(all_cases));
}

static void test_plain_round_trip(void **state)
{
	struct pair *p = *state;

	round_trip_all(&p->client, &p->server, 0);
	round_trip_all(&p->server, &p->client, 0);
}

/* Seal one message from tx into out; returns its length. */
static size_t seal_one(struct srdma_dataplane *tx, const struct msg_case *c, uint8_t *out)
{
	uint8_t storage[MAX_PAYLOAD];
	struct srdma_msg m;
	ssize_t n;

	make_msg(c, storage, &m);
	n = srdma_dp_put(tx, &m, out, BUF_CAP);
	assert_true(n > 0);
	return (size_t)n;
}

/* The contract: a message that fails authentication is refused with -EBADMSG and rx_seq does
 * not advance. The dataplane itself does not latch the failure (tearing the session down is
 * the caller's decision), so the genuine message, delivered afterwards, must still open; that
 * is asserted here so that an attacker's garbage cannot desynchronise the receiver either. */
static void test_tamper_every_bit(void **state)
{
	static const struct msg_case small[] = {
	    {SRDMA_MSG_APP, 8},	   /* header, 8-byte payload, tag */
	    {SRDMA_MSG_APP, 17},   /* a payload that is not a whole AES block */
	    {SRDMA_MSG_CREDIT, 0}, /* header and tag only */
	};
	struct pair *p = *state;

	for (size_t k = 0; k < ARRAY_LEN(small); k++) {
		uint8_t sealed[BUF_CAP], rxbuf[BUF_CAP], storage[MAX_PAYLOAD];
		struct srdma_msg want, got;
		size_t n = seal_one(&p->client, &small[k], sealed);
		uint32_t seq = p->server.rx_seq;

		for (size_t bit = 0; bit < 8 * n; bit++) {
			memcpy(rxbuf, sealed, n);
			rxbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(srdma_dp_get(&p->server, rxbuf, n, MAX_PAYLOAD, &got),
					 -EBADMSG);
			assert_int_equal(p->server.rx_seq, seq);
			assert_true(p->server.errmsg[0] != '\0');
		}
		memcpy(rxbuf, sealed, n);
		assert_int_equal(srdma_dp_get(&p->server, rxbuf, n, MAX_PAYLOAD, &got), 0);
		make_msg(&small[k], storage, &want);
		want.seq = seq;
		assert_msg_equal(&got, &want);
		assert_int_equal(p->server.rx_seq, seq + 1);
	}
}

/* Cutting or extending a sealed message moves where the tag is read from: refused. */
static void test_truncated_or_extended(void **state)
{
	static const struct msg_case ping = {SRDMA_MSG_APP, 8};
	struct pair *p = *state;
	uint8_t sealed[BUF_CAP], rxbuf[BUF_CAP];
	struct srdma_msg got;
	size_t n = seal_one(&p->client, &ping, sealed);

	for (size_t len = 0; len < n; len++) {
		memcpy(rxbuf, sealed, n);
		assert_int_equal(srdma_dp_get(&p->server, rxbuf, len, MAX_PAYLOAD, &got), -EBADMSG);
	}
	memcpy(rxbuf, sealed, n);
	rxbuf[n] = 0;
	assert_int_equal(srdma_dp_get(&p->server, rxbuf, n + 1, MAX_PAYLOAD, &got), -EBADMSG);
	assert_int_equal(p->server.rx_seq, 0);
	memcpy(rxbuf, sealed, n);
	assert_int_equal(srdma_dp_get(&p->server, rxbuf, n, MAX_PAYLOAD, &got), 0);
}

/* Deliver a copy of msg (the wire keeps the original). */
static int deliver(struct srdma_dataplane *rx, const uint8_t *msg, size_t n)
{
	uint8_t rxbuf[BUF_CAP];
	struct srdma_msg got;

	memcpy(rxbuf, msg, n);
	return srdma_dp_get(rx, rxbuf, n, MAX_PAYLOAD, &got);
}

/* In aead mode a replayed, reordered or missing message is caught by the nonce (the receiver
 * opens with the sequence number it expects), so it fails authentication: -EBADMSG. */
static void test_aead_replay(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 100};
	struct pair *p = *state;
	uint8_t m0[BUF_CAP], m1[BUF_CAP];
	size_t n0 = seal_one(&p->client, &c, m0), n1 = seal_one(&p->client, &c, m1);

	assert_int_equal(deliver(&p->server, m0, n0), 0);
	assert_int_equal(deliver(&p->server, m0, n0), -EBADMSG);
	assert_int_equal(p->server.rx_seq, 1);
	assert_int_equal(deliver(&p->server, m1, n1), 0);
	assert_int_equal(deliver(&p->server, m1, n1), -EBADMSG);
	assert_int_equal(deliver(&p->server, m0, n0), -EBADMSG);
	assert_int_equal(p->server.rx_seq, 2);
}

static void test_aead_reorder(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 8};
	struct pair *p = *state;
	uint8_t m0[BUF_CAP], m1[BUF_CAP];
	size_t n0 = seal_one(&p->client, &c, m0), n1 = seal_one(&p->client, &c, m1);

	assert_int_equal(deliver(&p->server, m1, n1), -EBADMSG);
	assert_int_equal(p->server.rx_seq, 0);
	/* The refusal did not disturb the receiver: in order, both open. */
	assert_int_equal(deliver(&p->server, m0, n0), 0);
	assert_int_equal(deliver(&p->server, m1, n1), 0);
}

static void test_aead_loss(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 1};
	struct pair *p = *state;
	uint8_t m0[BUF_CAP], m1[BUF_CAP], m2[BUF_CAP];
	size_t n1, n2;

	(void)seal_one(&p->client, &c, m0); /* lost */
	n1 = seal_one(&p->client, &c, m1);
	n2 = seal_one(&p->client, &c, m2);
	assert_int_equal(deliver(&p->server, m1, n1), -EBADMSG);
	/* Nothing after a loss opens either: the receiver still waits for message 0. */
	assert_int_equal(deliver(&p->server, m2, n2), -EBADMSG);
	assert_int_equal(p->server.rx_seq, 0);
}

/* A key holder that seals under nonce 0 but writes another sequence number in the header gets
 * past authentication and is then caught by the header check (-EPROTO). Also: a sealed message
 * whose plaintext breaks the codec's rules opens and is refused as malformed. */
static size_t seal_raw(enum srdma_aead_alg alg, uint8_t salt, int from_client,
		       enum srdma_msg_type type, uint32_t hdr_seq, uint64_t nonce_seq,
		       const uint8_t *payload, uint32_t plen, uint8_t *out)
{
	uint8_t material[SRDMA_DP_KEY_MATERIAL];
	const uint8_t *part;
	struct srdma_aead *a;

	fill_material(material, salt);
	part = material + (from_client ? 0 : KEY_PART);
	assert_int_equal(srdma_aead_create_alg(alg, part, part + SRDMA_AEAD_KEY_LEN, 1, &a), 0);
	srdma_msg_put_hdr(out, type, hdr_seq, plen);
	out[3] = SRDMA_MSG_F_SEALED;
	if (plen)
		memcpy(out + SRDMA_MSG_HDR_LEN, payload, plen);
	assert_int_equal(srdma_aead_seal(a, nonce_seq, out, SRDMA_MSG_HDR_LEN,
					 out + SRDMA_MSG_HDR_LEN, plen,
					 out + SRDMA_MSG_HDR_LEN + plen),
			 0);
	srdma_aead_destroy(a);
	return SRDMA_MSG_HDR_LEN + plen + SRDMA_AEAD_TAG_LEN;
}

static void test_aead_authentic_but_wrong(void **state)
{
	struct pair *p = *state;
	enum srdma_aead_alg alg = alg_of(p->server.mode);
	uint8_t msg[BUF_CAP], payload[128];
	size_t n;

	memset(payload, 'a', sizeof(payload));
	/* Control: built by hand exactly as srdma_dp_put builds it, it opens. */
	n = seal_raw(alg, 0, 1, SRDMA_MSG_APP, 0, 0, payload, 10, msg);
	assert_int_equal(deliver(&p->server, msg, n), 0);

	n = seal_raw(alg, 0, 1, SRDMA_MSG_CREDIT, 5, 1, NULL, 0, msg);
	assert_int_equal(deliver(&p->server, msg, n), -EPROTO);
	assert_int_equal(p->server.rx_seq, 1);

	/* A type the codec does not know (the former demo protocol's PING, 6), sealed. */
	n = seal_raw(alg, 0, 1, (enum srdma_msg_type)6, 1, 1, payload, 8, msg);
	assert_int_equal(deliver(&p->server, msg, n), -EBADMSG);
	n = seal_raw(alg, 0, 1, SRDMA_MSG_CREDIT, 1, 1, payload, 1, msg);
	assert_int_equal(deliver(&p->server, msg, n), -EBADMSG);
	n = seal_raw(alg, 0, 1, SRDMA_MSG_APP, 1, 1, payload, 100, msg);
	{
		uint8_t rxbuf[BUF_CAP];
		struct srdma_msg got;

		memcpy(rxbuf, msg, n);
		assert_int_equal(srdma_dp_get(&p->server, rxbuf, n, 99, &got), -EBADMSG);
	}
	assert_int_equal(p->server.rx_seq, 1);
	assert_int_equal(deliver(&p->server, msg, n), 0);
	assert_int_equal(p->server.rx_seq, 2);
}

static void test_direction_separation(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 64};
	struct pair *p = *state;
	uint8_t from_client[BUF_CAP], from_server[BUF_CAP];
	size_t nc = seal_one(&p->client, &c, from_client);
	size_t ns = seal_one(&p->server, &c, from_server);

	/* Reflected back to its sender, a message does not open: each direction has its own
	 * key, and both sides are at sequence number 0, so only the key can tell them apart. */
	assert_int_equal(deliver(&p->client, from_client, nc), -EBADMSG);
	assert_int_equal(deliver(&p->server, from_server, ns), -EBADMSG);
	assert_int_equal(p->client.rx_seq, 0);
	assert_int_equal(p->server.rx_seq, 0);
	assert_int_equal(deliver(&p->server, from_client, nc), 0);
	assert_int_equal(deliver(&p->client, from_server, ns), 0);
}

static void test_other_session(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 8};
	struct pair *p = *state;
	struct pair other;
	uint8_t msg[BUF_CAP];
	size_t n;

	pair_key(&other, p->client.mode, 1);
	n = seal_one(&other.client, &c, msg);
	assert_int_equal(deliver(&p->server, msg, n), -EBADMSG);
	n = seal_one(&p->client, &c, msg);
	assert_int_equal(deliver(&other.server, msg, n), -EBADMSG);
	n = seal_one(&other.server, &c, msg);
	assert_int_equal(deliver(&p->client, msg, n), -EBADMSG);
	srdma_dp_cleanup(&other.client);
	srdma_dp_cleanup(&other.server);
}

static void test_mode_mismatch(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 64};
	struct pair *p = *state; /* sealed: aead or chacha20 */
	struct srdma_dataplane plain_tx, plain_rx;
	uint8_t msg[BUF_CAP];
	size_t n;

	srdma_dp_init(&plain_tx, SRDMA_DP_PLAIN);
	srdma_dp_init(&plain_rx, SRDMA_DP_PLAIN);

	/* Sealed to a plain receiver: the sealed flag is not a flag the codec accepts. */
	n = seal_one(&p->client, &c, msg);
	assert_int_equal(deliver(&plain_rx, msg, n), -EBADMSG);
	assert_int_equal(plain_rx.rx_seq, 0);

	/* Plain to a sealed receiver: never decoded, whatever its sequence number. */
	n = seal_one(&plain_tx, &c, msg);
	assert_int_equal(deliver(&p->server, msg, n), -EBADMSG);
	/* Even with the sealed flag forged on and 16 bytes of "tag" appended. */
	msg[3] = SRDMA_MSG_F_SEALED;
	memset(msg + n, 0, SRDMA_AEAD_TAG_LEN);
	assert_int_equal(deliver(&p->server, msg, n + SRDMA_AEAD_TAG_LEN), -EBADMSG);
	assert_int_equal(p->server.rx_seq, 0);

	srdma_dp_cleanup(&plain_tx);
	srdma_dp_cleanup(&plain_rx);
}

/* Plain mode has no cryptography: the header's sequence number is all there is, and a gap,
 * duplicate or reorder is -EPROTO without advancing rx_seq. */
static void test_plain_sequence(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 8};
	struct pair *p = *state;
	uint8_t m0[BUF_CAP], m1[BUF_CAP], m2[BUF_CAP];
	size_t n0 = seal_one(&p->client, &c, m0), n1 = seal_one(&p->client, &c, m1);
	size_t n2 = seal_one(&p->client, &c, m2);

	assert_int_equal(deliver(&p->server, m1, n1), -EPROTO);
	assert_int_equal(deliver(&p->server, m2, n2), -EPROTO);
	assert_int_equal(p->server.rx_seq, 0);
	assert_int_equal(deliver(&p->server, m0, n0), 0);
	assert_int_equal(deliver(&p->server, m0, n0), -EPROTO);
	assert_int_equal(deliver(&p->server, m2, n2), -EPROTO);
	assert_int_equal(deliver(&p->server, m1, n1), 0);
	assert_int_equal(deliver(&p->server, m2, n2), 0);
	assert_int_equal(p->server.rx_seq, 3);
	/* Plain mode still refuses what the codec refuses. */
	m0[0] ^= 1;
	assert_int_equal(deliver(&p->server, m0, n0), -EBADMSG);
}

/* The ack travels in the header, which sealing authenticates: an APP's ack arrives as sent,
 * and a changed ack fails to open. */
static void test_ack_sealed(void **state)
{
	struct pair *p = *state;
	uint8_t wire[BUF_CAP], copy[BUF_CAP];
	struct srdma_msg m = {
	    .type = SRDMA_MSG_APP, .ack = 3, .payload = (const uint8_t *)"hi", .len = 2};
	struct srdma_msg got;
	ssize_t n;

	n = srdma_dp_put(&p->client, &m, wire, sizeof(wire));
	assert_true(n > 0);
	memcpy(copy, wire, (size_t)n);
	copy[15] ^= 0x01; /* ack 3 -> 2: still in range */
	assert_int_equal(srdma_dp_get(&p->server, copy, (size_t)n, MAX_PAYLOAD, &got), -EBADMSG);
	assert_int_equal(p->server.rx_seq, 0);
	assert_int_equal(srdma_dp_get(&p->server, wire, (size_t)n, MAX_PAYLOAD, &got), 0);
	assert_int_equal(got.type, SRDMA_MSG_APP);
	assert_int_equal(got.ack, 3);
	assert_int_equal(got.len, 2);
	assert_memory_equal(got.payload, "hi", 2);

	m = (struct srdma_msg){.type = SRDMA_MSG_CREDIT, .ack = SRDMA_MAX_RECV_DEPTH};
	n = srdma_dp_put(&p->server, &m, wire, sizeof(wire));
	assert_int_equal(n, SRDMA_MSG_HDR_LEN + SRDMA_AEAD_TAG_LEN);
	assert_int_equal(srdma_dp_get(&p->client, wire, (size_t)n, MAX_PAYLOAD, &got), 0);
	assert_int_equal(got.type, SRDMA_MSG_CREDIT);
	assert_int_equal(got.ack, SRDMA_MAX_RECV_DEPTH);
}

/* The last sequence number, UINT32_MAX, is never sent: put refuses with -EOVERFLOW (and keeps
 * refusing) instead of wrapping to a nonce already used. */
static void sequence_exhaustion(struct pair *p)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 8};
	uint8_t msg[BUF_CAP], storage[MAX_PAYLOAD];
	struct srdma_msg m;
	size_t n;

	p->client.tx_seq = UINT32_MAX - 1;
	p->server.rx_seq = UINT32_MAX - 1;
	n = seal_one(&p->client, &c, msg);
	assert_int_equal(p->client.tx_seq, UINT32_MAX);
	assert_int_equal(deliver(&p->server, msg, n), 0);
	assert_int_equal(p->server.rx_seq, UINT32_MAX);

	make_msg(&c, storage, &m);
	assert_int_equal(srdma_dp_put(&p->client, &m, msg, sizeof(msg)), -EOVERFLOW);
	assert_int_equal(srdma_dp_put(&p->client, &m, msg, sizeof(msg)), -EOVERFLOW);
	assert_int_equal(p->client.tx_seq, UINT32_MAX);
	assert_true(p->client.errmsg[0] != '\0');
}

static void test_exhaustion_aead(void **state)
{
	sequence_exhaustion(*state);
}

static void test_exhaustion_plain(void **state)
{
	sequence_exhaustion(*state);
}

/* Errors from put leave tx_seq alone, so no sequence number (nonce) is skipped or reused. */
static void test_put_errors(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 100};
	struct pair *p = *state;
	uint8_t msg[BUF_CAP], storage[MAX_PAYLOAD];
	struct srdma_msg m;
	const size_t need = SRDMA_MSG_HDR_LEN + 100 + SRDMA_AEAD_TAG_LEN;

	make_msg(&c, storage, &m);
	assert_int_equal(srdma_dp_put(&p->client, &m, msg, need - SRDMA_AEAD_TAG_LEN), -ENOBUFS);
	assert_int_equal(srdma_dp_put(&p->client, &m, msg, need - 1), -ENOBUFS);
	assert_int_equal(srdma_dp_put(&p->client, &m, msg, 10), -ENOBUFS);
	assert_int_equal(p->client.tx_seq, 0);
	m.type = (enum srdma_msg_type)0;
	assert_int_equal(srdma_dp_put(&p->client, &m, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(p->client.tx_seq, 0);
	make_msg(&c, storage, &m);
	assert_int_equal(srdma_dp_put(&p->client, &m, msg, need), (ssize_t)need);
	assert_int_equal(deliver(&p->server, msg, need), 0);
}

/* A payload outside the send buffer is sealed straight from where it lies; one built in place
 * in the buffer, or overlapping it anywhere else, is copied first. Every way gives the same bytes
 * on the wire for the same message, and each opens. */
static void test_payload_placement(void **state)
{
	static const uint32_t offsets[] = {SRDMA_MSG_HDR_LEN, 0, 7, 40};
	static const struct msg_case c = {SRDMA_MSG_APP, 100};
	const size_t need = SRDMA_MSG_HDR_LEN + 100 + SRDMA_AEAD_TAG_LEN;
	struct pair *p = *state;
	uint8_t want[BUF_CAP], storage[MAX_PAYLOAD];
	struct srdma_msg m;

	make_msg(&c, storage, &m);
	assert_int_equal(srdma_dp_put(&p->client, &m, want, sizeof(want)), (ssize_t)need);
	assert_int_equal(deliver(&p->server, want, need), 0);
	for (size_t i = 0; i < ARRAY_LEN(offsets); i++) {
		uint8_t wire[BUF_CAP];
		struct pair q;

		pair_key(&q, p->client.mode, 0);
		memcpy(wire + offsets[i], storage, 100);
		make_msg(&c, storage, &m);
		m.payload = wire + offsets[i];
		assert_int_equal(srdma_dp_put(&q.client, &m, wire, sizeof(wire)), (ssize_t)need);
		assert_memory_equal(wire, want, need);
		assert_int_equal(deliver(&q.server, wire, need), 0);
		srdma_dp_cleanup(&q.client);
		srdma_dp_cleanup(&q.server);
	}
}

static void test_cleanup(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 8};
	uint8_t material[SRDMA_DP_KEY_MATERIAL], msg[BUF_CAP];
	struct srdma_dataplane dp, rx;
	size_t n;

	(void)state;
	srdma_dp_init(&dp, SRDMA_DP_AEAD);
	srdma_dp_cleanup(&dp);
	srdma_dp_cleanup(&dp);
	srdma_dp_init(&dp, SRDMA_DP_PLAIN);
	srdma_dp_cleanup(&dp);

	fill_material(material, 0);
	srdma_dp_init(&dp, SRDMA_DP_AEAD);
	assert_int_equal(srdma_dp_set_keys(&dp, 1, material), 0);
	/* Keys set again replace the old ones (LeakSanitizer checks they were freed). */
	fill_material(material, 1);
	assert_int_equal(srdma_dp_set_keys(&dp, 1, material), 0);
	srdma_dp_init(&rx, SRDMA_DP_AEAD);
	assert_int_equal(srdma_dp_set_keys(&rx, 0, material), 0);
	n = seal_one(&dp, &c, msg);
	assert_int_equal(deliver(&rx, msg, n), 0);
	srdma_dp_cleanup(&dp);
	assert_null(dp.tx);
	assert_null(dp.rx);
	assert_null(dp.wtag);
	srdma_dp_cleanup(&dp);
	srdma_dp_cleanup(&rx);
	srdma_dp_cleanup(&rx);
}

/* aead and chacha20 sessions given the very same key material: the key bytes are equal, the
 * algorithm is not, so nothing sealed in one mode opens in the other, in either direction, and
 * the region tags differ. (srdma_dp_derive exports with another label per mode, so real keys
 * differ too; this checks the algorithm alone keeps the modes apart.) */
static void test_chacha20_aead_mismatch(void **state)
{
	static const struct msg_case c = {SRDMA_MSG_APP, 64};
	struct pair *p = *state; /* chacha20 */
	struct pair gcm;
	uint8_t cc[BUF_CAP], ga[BUF_CAP], bytes[500];
	uint8_t tc[SRDMA_DIGEST_LEN], tg[SRDMA_DIGEST_LEN], sha[SRDMA_DIGEST_LEN];
	size_t nc, ng;

	assert_int_equal(p->client.mode, SRDMA_DP_CHACHA20);
	pair_key(&gcm, SRDMA_DP_AEAD, 0);

	/* Client to server. Both messages are sequence number 0 under the same key bytes. */
	nc = seal_one(&p->client, &c, cc);
	ng = seal_one(&gcm.client, &c, ga);
	assert_int_equal(nc, ng);
	assert_memory_equal(cc, ga, SRDMA_MSG_HDR_LEN);
	assert_memory_not_equal(cc + SRDMA_MSG_HDR_LEN, ga + SRDMA_MSG_HDR_LEN,
				nc - SRDMA_MSG_HDR_LEN);
	assert_int_equal(deliver(&gcm.server, cc, nc), -EBADMSG);
	assert_true(gcm.server.errmsg[0] != '\0');
	assert_int_equal(deliver(&p->server, ga, ng), -EBADMSG);
	assert_true(p->server.errmsg[0] != '\0');
	assert_int_equal(gcm.server.rx_seq, 0);
	assert_int_equal(p->server.rx_seq, 0);
	/* Each opens where it belongs. */
	assert_int_equal(deliver(&p->server, cc, nc), 0);
	assert_int_equal(deliver(&gcm.server, ga, ng), 0);

	/* Server to client. */
	nc = seal_one(&p->server, &c, cc);
	ng = seal_one(&gcm.server, &c, ga);
	assert_int_equal(deliver(&gcm.client, cc, nc), -EBADMSG);
	assert_int_equal(deliver(&p->client, ga, ng), -EBADMSG);
	assert_int_equal(deliver(&p->client, cc, nc), 0);
	assert_int_equal(deliver(&gcm.client, ga, ng), 0);

	/* Region tags: same tag key bytes, direction, sequence number, offset and region; other
	 * tags, and neither is the plain-mode SHA-256. */
	region(bytes, sizeof(bytes));
	assert_int_equal(srdma_dp_region_tag(&p->client, 1, 9, 0, bytes, sizeof(bytes), tc), 0);
	assert_int_equal(srdma_dp_region_tag(&gcm.client, 1, 9, 0, bytes, sizeof(bytes), tg), 0);
	assert_int_equal(srdma_crypto_sha256(bytes, sizeof(bytes), sha), 0);
	assert_memory_not_equal(tc, tg, SRDMA_AEAD_TAG_LEN);
	assert_memory_not_equal(tc, sha, SRDMA_AEAD_TAG_LEN);
	assert_memory_not_equal(tg, sha, SRDMA_AEAD_TAG_LEN);

	srdma_dp_cleanup(&gcm.client);
	srdma_dp_cleanup(&gcm.server);
}

/* OPEN's feature bits: each mode has its own, srdma_dp_mode_of reads them back, and a
 * CHACHA20 bit without AEAD is no mode at all. Bits outside SRDMA_FEAT_KNOWN (a newer peer's)
 * do not change the mode read. */
static void test_dp_features(void **state)
{
	static const enum srdma_dp_mode modes[] = {SRDMA_DP_PLAIN, SRDMA_DP_AEAD,
						   SRDMA_DP_CHACHA20};
	static const char *const names[] = {"plain", "aead", "chacha20"};
	enum srdma_dp_mode got;

	(void)state;
	assert_int_equal(srdma_dp_features(SRDMA_DP_PLAIN), 0);
	assert_int_equal(srdma_dp_features(SRDMA_DP_AEAD), SRDMA_FEAT_AEAD);
	assert_int_equal(srdma_dp_features(SRDMA_DP_CHACHA20),
			 SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20);
	for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
		uint32_t f = srdma_dp_features(modes[i]);

		assert_int_equal(f & ~SRDMA_FEAT_KNOWN, 0);
		for (size_t j = 0; j < i; j++)
			assert_true(f != srdma_dp_features(modes[j]));
		got = (enum srdma_dp_mode)99;
		assert_int_equal(srdma_dp_mode_of(f, &got), 0);
		assert_int_equal(got, modes[i]);
		got = (enum srdma_dp_mode)99;
		assert_int_equal(srdma_dp_mode_of(f | ~SRDMA_FEAT_KNOWN, &got), 0);
		assert_int_equal(got, modes[i]);
		assert_string_equal(srdma_dp_mode_name(modes[i]), names[i]);
	}
	assert_int_equal(srdma_dp_mode_of(SRDMA_FEAT_CHACHA20, &got), -EINVAL);
	assert_int_equal(srdma_dp_mode_of(SRDMA_FEAT_CHACHA20 | ~SRDMA_FEAT_KNOWN, &got), -EINVAL);
	/* One exporter label per sealed mode, so that no key serves two algorithms. */
	assert_string_not_equal(SRDMA_DP_LABEL, SRDMA_DP_LABEL_CHACHA20);
}

/* A sealed mode before its keys are set: put, get and region_tag refuse with -EINVAL and say
 * why; nothing is sent in the clear instead. */
static void test_sealed_needs_keys(void **state)
{
	static const enum srdma_dp_mode modes[] = {SRDMA_DP_AEAD, SRDMA_DP_CHACHA20};
	static const struct msg_case c = {SRDMA_MSG_APP, 8};
	uint8_t msg[BUF_CAP], storage[MAX_PAYLOAD], tag[SRDMA_DIGEST_LEN];
	struct srdma_dataplane dp;
	struct srdma_msg m, got;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
		srdma_dp_init(&dp, modes[i]);
		make_msg(&c, storage, &m);
		assert_int_equal(srdma_dp_put(&dp, &m, msg, sizeof(msg)), -EINVAL);
		assert_non_null(strstr(dp.errmsg, "keys"));
		assert_int_equal(dp.tx_seq, 0);
		srdma_msg_put_hdr(msg, SRDMA_MSG_CREDIT, 0, 0);
		dp.errmsg[0] = '\0';
		assert_int_equal(srdma_dp_get(&dp, msg, SRDMA_MSG_HDR_LEN, MAX_PAYLOAD, &got),
				 -EINVAL);
		assert_non_null(strstr(dp.errmsg, "keys"));
		assert_int_equal(dp.rx_seq, 0);
		assert_int_equal(srdma_dp_region_tag(&dp, 1, 0, 0, storage, 16, tag), -EINVAL);
		srdma_dp_cleanup(&dp);
	}
}

/* A sealed-session test run again in chacha20 mode, under its own name. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_aead_round_trip, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_plain_round_trip, setup_plain, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_tamper_every_bit, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_truncated_or_extended, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_aead_replay, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_aead_reorder, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_aead_loss, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_aead_authentic_but_wrong, setup_aead,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(test_direction_separation, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_other_session, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_mode_mismatch, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_plain_sequence, setup_plain, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_ack_sealed, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_exhaustion_aead, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_exhaustion_plain, setup_plain, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_put_errors, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_payload_placement, setup_aead, teardown_pair),
	    cmocka_unit_test(test_cleanup),
	    cmocka_unit_test(test_dp_features),
	    cmocka_unit_test(test_sealed_needs_keys),
	    chacha20_test("test_chacha20_round_trip", test_aead_round_trip),
	    chacha20_test("test_chacha20_tamper_every_bit", test_tamper_every_bit),
	    chacha20_test("test_chacha20_truncated_or_extended", test_truncated_or_extended),
	    chacha20_test("test_chacha20_replay", test_aead_replay),
	    chacha20_test("test_chacha20_reorder", test_aead_reorder),
	    chacha20_test("test_chacha20_loss", test_aead_loss),
	    chacha20_test("test_chacha20_authentic_but_wrong", test_aead_authentic_but_wrong),
	    chacha20_test("test_chacha20_direction_separation", test_direction_separation),
	    chacha20_test("test_chacha20_other_session", test_other_session),
	    chacha20_test("test_chacha20_plain_mismatch", test_mode_mismatch),
	    chacha20_test("test_chacha20_aead_mismatch", test_chacha20_aead_mismatch),
	    chacha20_test("test_chacha20_exhaustion", test_exhaustion_aead),
	    chacha20_test("test_chacha20_put_errors", test_put_errors),
	    chacha20_test("test_chacha20_payload_placement", test_payload_placement),
	    chacha20_test("test_chacha20_ack_sealed", test_ack_sealed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
