/* Data-plane sequencing and sealing for one session. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "dataplane.h"
#include "wire.h"

#include "byteorder.h"

#define FLAGS_OFFSET 3 /* the header's flags byte */
#define LEN_OFFSET   8 /* the header's payload length (u32) */

/* Both sealed modes work alike; only the algorithm (and the exporter label) differ. */
static int sealed(const struct srdma_dataplane *dp)
{
	return dp->mode != SRDMA_DP_PLAIN;
}

uint32_t srdma_dp_features(enum srdma_dp_mode mode)
{
	switch (mode) {
	case SRDMA_DP_AEAD:
		return SRDMA_FEAT_AEAD;
	case SRDMA_DP_CHACHA20:
		return SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20;
	default:
		return 0;
	}
}

int srdma_dp_mode_of(uint32_t features, enum srdma_dp_mode *out)
{
	switch (features & (SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20)) {
	case 0:
		*out = SRDMA_DP_PLAIN;
		return 0;
	case SRDMA_FEAT_AEAD:
		*out = SRDMA_DP_AEAD;
		return 0;
	case SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20:
		*out = SRDMA_DP_CHACHA20;
		return 0;
	default:
		return -EINVAL;
	}
}

void srdma_dp_init(struct srdma_dataplane *dp, enum srdma_dp_mode mode)
{
	memset(dp, 0, sizeof(*dp));
	dp->mode = mode;
}

void srdma_dp_cleanup(struct srdma_dataplane *dp)
{
	srdma_aead_destroy(dp->tx);
	srdma_aead_destroy(dp->rx);
	srdma_aead_destroy(dp->wtag);
	srdma_aead_destroy(dp->seal_tx);
	srdma_aead_destroy(dp->seal_rx);
	dp->tx = dp->rx = dp->wtag = dp->seal_tx = dp->seal_rx = NULL;
}

int srdma_dp_set_keys(struct srdma_dataplane *dp, int is_client,
		      const uint8_t material[SRDMA_DP_KEY_MATERIAL])
{
	const size_t part = SRDMA_AEAD_KEY_LEN + SRDMA_AEAD_IV_LEN;
	const uint8_t *c2s = material, *s2c = material + part, *wr = material + 2 * part;
	const uint8_t *mine = is_client ? c2s : s2c, *theirs = is_client ? s2c : c2s;
	enum srdma_aead_alg alg =
	    dp->mode == SRDMA_DP_CHACHA20 ? SRDMA_AEAD_CHACHA20_POLY1305 : SRDMA_AEAD_AES_256_GCM;
	int ret;

	srdma_dp_cleanup(dp);
	ret = srdma_aead_create_alg(alg, mine, mine + SRDMA_AEAD_KEY_LEN, 1, &dp->tx);
	if (!ret)
		ret = srdma_aead_create_alg(alg, theirs, theirs + SRDMA_AEAD_KEY_LEN, 0, &dp->rx);
	if (!ret)
		ret = srdma_aead_create_alg(alg, wr, wr + SRDMA_AEAD_KEY_LEN, 1, &dp->wtag);
	if (ret)
		srdma_dp_cleanup(dp);
	return ret;
}

static const char *dp_label(const struct srdma_dataplane *dp)
{
	return dp->mode == SRDMA_DP_CHACHA20 ? SRDMA_DP_LABEL_CHACHA20 : SRDMA_DP_LABEL;
}

void srdma_dp_set_exporter(struct srdma_dataplane *dp, int is_client, srdma_dp_export_fn fn,
			   void *arg, const uint8_t kctx[16])
{
	dp->is_client = is_client;
	dp->export_fn = fn;
	dp->export_arg = arg;
	memcpy(dp->kctx, kctx, sizeof(dp->kctx));
}

void srdma_dp_set_rekey(struct srdma_dataplane *dp, unsigned tx_log2, unsigned rx_log2)
{
	dp->tx_log2 = (uint8_t)(tx_log2 > 31 ? 31 : tx_log2);
	dp->rx_log2 = (uint8_t)(rx_log2 > 31 ? 31 : rx_log2);
	dp->tx_epoch = dp->tx_log2 ? dp->tx_seq >> dp->tx_log2 : 0;
	dp->rx_epoch = dp->rx_log2 ? dp->rx_seq >> dp->rx_log2 : 0;
}

/* Keying material from the session's exporter: the TLS session's, or a test's. */
static int dp_export(struct srdma_dataplane *dp, const char *label, const uint8_t *context,
		     size_t context_len, uint8_t *out, size_t out_len)
{
	if (dp->export_fn)
		return dp->export_fn(dp->export_arg, label, context, context_len, out, out_len);
	if (dp->tls)
		return srdma_tls_export(dp->tls, label, context, context_len, out, out_len);
	return -EINVAL;
}

/* The keys of one direction (tx: ours) for epoch: exported with the epoch-0 context and the
 * epoch, only that direction's part kept. */
static int rotate(struct srdma_dataplane *dp, int tx, uint32_t epoch)
{
	const size_t part = SRDMA_AEAD_KEY_LEN + SRDMA_AEAD_IV_LEN;
	uint8_t context[20], material[SRDMA_DP_KEY_MATERIAL];
	enum srdma_aead_alg alg =
	    dp->mode == SRDMA_DP_CHACHA20 ? SRDMA_AEAD_CHACHA20_POLY1305 : SRDMA_AEAD_AES_256_GCM;
	const uint8_t *k;
	struct srdma_aead *a = NULL;
	int ret;

	if (!dp->export_fn && !dp->tls) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "key update without an exporter");
		return -EINVAL;
	}
	memcpy(context, dp->kctx, sizeof(dp->kctx));
	srdma__put_u32(context + 16, epoch);
	ret = dp_export(dp, dp_label(dp), context, sizeof(context), material, sizeof(material));
	if (ret) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot export keys for epoch %u", epoch);
		return -EIO;
	}
	/* c2s first, then s2c: ours is c2s on the client. */
	k = material + ((tx == dp->is_client) ? 0 : part);
	ret = srdma_aead_create_alg(alg, k, k + SRDMA_AEAD_KEY_LEN, tx, &a);
	explicit_bzero(material, sizeof(material));
	if (ret) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot set up keys for epoch %u", epoch);
		return -EIO;
	}
	if (tx) {
		srdma_aead_destroy(dp->tx);
		dp->tx = a;
		dp->tx_epoch = epoch;
	} else {
		srdma_aead_destroy(dp->rx);
		dp->rx = a;
		dp->rx_epoch = epoch;
	}
	dp->rekeys++;
	return 0;
}

int srdma_dp_derive(struct srdma_dataplane *dp, struct srdma_tls *tls, int is_client,
		    uint32_t client_qpn, uint32_t server_qpn, uint32_t client_psn,
		    uint32_t server_psn)
{
	uint8_t context[16], material[SRDMA_DP_KEY_MATERIAL];
	int ret;

	if (!sealed(dp))
		return 0;
	srdma__put_u32(context, client_qpn);
	srdma__put_u32(context + 4, server_qpn);
	srdma__put_u32(context + 8, client_psn);
	srdma__put_u32(context + 12, server_psn);
	ret = srdma_tls_export(tls, dp_label(dp), context, sizeof(context), material,
			       sizeof(material));
	dp->tls = tls;
	dp->is_client = is_client;
	memcpy(dp->kctx, context, sizeof(dp->kctx));
	if (ret) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot derive data-plane keys: %s",
			 srdma_tls_errmsg(tls));
		return ret;
	}
	ret = srdma_dp_set_keys(dp, is_client, material);
	explicit_bzero(material, sizeof(material));
	if (ret)
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot set up data-plane keys");
	return ret;
}

static int keys_missing(struct srdma_dataplane *dp)
{
	if (!sealed(dp) || (dp->tx && dp->rx && dp->wtag))
		return 0;
	snprintf(dp->errmsg, sizeof(dp->errmsg), "data-plane keys not derived yet");
	return 1;
}

/* A sealed APP whose payload lies wholly outside buf[0..cap) is encrypted straight from the
 * caller's payload into buf: one pass over the bytes instead of a copy into buf and a second pass
 * to seal it there (at 64 KiB and more, the copy alone cost a quarter of the seal). A payload
 * inside buf (built in place) takes the copying path. */
static int seal_from_payload(const struct srdma_dataplane *dp, const struct srdma_msg *m,
			     const uint8_t *buf, size_t cap)
{
	uintptr_t p = (uintptr_t)m->payload, b = (uintptr_t)buf;

	if (!sealed(dp) || !m->payload || m->len == 0 || m->len > SRDMA_MAX_MSG)
		return 0;
	if (m->type != SRDMA_MSG_APP)
		return 0;
	return p + m->len <= b || b + cap <= p;
}

/* Encode m into buf; *src is then where the payload's bytes are to be sealed from: buf itself, or
 * (seal_from_payload) the caller's payload, which the message's length already counts. */
static ssize_t encode(const struct srdma_dataplane *dp, const struct srdma_msg *m, uint8_t *buf,
		      size_t cap, const uint8_t **src)
{
	struct srdma_msg hdr = *m;
	ssize_t n;

	*src = buf + SRDMA_MSG_HDR_LEN;
	if (!seal_from_payload(dp, m, buf, cap))
		return srdma_msg_encode(m, buf, cap);
	hdr.payload = NULL;
	hdr.len = 0;
	n = srdma_msg_encode(&hdr, buf, cap);
	if (n < 0)
		return n;
	if (cap - (size_t)n < m->len)
		return -ENOBUFS;
	srdma__put_u32(buf + LEN_OFFSET, m->len);
	*src = m->payload;
	return n + m->len;
}

ssize_t srdma_dp_put(struct srdma_dataplane *dp, struct srdma_msg *m, uint8_t *buf, size_t cap)
{
	const uint8_t *src;
	ssize_t n;
	int ret;

	if (keys_missing(dp))
		return -EINVAL;
	if (dp->tx_seq == UINT32_MAX) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "message sequence space used up");
		return -EOVERFLOW;
	}
	if (sealed(dp) && dp->tx_log2 && (dp->tx_seq >> dp->tx_log2) != dp->tx_epoch) {
		ret = rotate(dp, 1, dp->tx_seq >> dp->tx_log2);
		if (ret)
			return ret;
	}
	m->seq = dp->tx_seq;
	n = encode(dp, m, buf, cap, &src);
	if (n < 0) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot encode %s: %s",
			 srdma_msg_type_name(m->type), strerror((int)-n));
		return n;
	}
	if (sealed(dp)) {
		if ((size_t)n + SRDMA_AEAD_TAG_LEN > cap) {
			snprintf(dp->errmsg, sizeof(dp->errmsg), "no room for the tag");
			return -ENOBUFS;
		}
		buf[FLAGS_OFFSET] = SRDMA_MSG_F_SEALED;
		ret = srdma_aead_seal_to(dp->tx, dp->tx_seq, buf, SRDMA_MSG_HDR_LEN, src,
					 (size_t)n - SRDMA_MSG_HDR_LEN, buf + SRDMA_MSG_HDR_LEN,
					 buf + n);
		if (ret) {
			snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot seal a message");
			return ret;
		}
		n += SRDMA_AEAD_TAG_LEN;
	}
	dp->tx_seq++;
	return n;
}

int srdma_dp_get(struct srdma_dataplane *dp, uint8_t *buf, size_t len, uint32_t max_payload,
		 struct srdma_msg *m)
{
	int ret;

	if (keys_missing(dp))
		return -EINVAL;
	if (sealed(dp)) {
		if (len < SRDMA_MSG_HDR_LEN + SRDMA_AEAD_TAG_LEN ||
		    buf[FLAGS_OFFSET] != SRDMA_MSG_F_SEALED) {
			snprintf(dp->errmsg, sizeof(dp->errmsg),
				 "unsealed or truncated message in %s mode",
				 srdma_dp_mode_name(dp->mode));
			return -EBADMSG;
		}
		if (dp->rx_log2 && (dp->rx_seq >> dp->rx_log2) != dp->rx_epoch) {
			ret = rotate(dp, 0, dp->rx_seq >> dp->rx_log2);
			if (ret)
				return ret;
		}
		len -= SRDMA_AEAD_TAG_LEN;
		ret = srdma_aead_open(dp->rx, dp->rx_seq, buf, SRDMA_MSG_HDR_LEN,
				      buf + SRDMA_MSG_HDR_LEN, len - SRDMA_MSG_HDR_LEN, buf + len);
		if (ret) {
			snprintf(dp->errmsg, sizeof(dp->errmsg),
				 "message %u failed authentication (forged, altered, replayed or "
				 "reordered)",
				 dp->rx_seq);
			return -EBADMSG;
		}
		buf[FLAGS_OFFSET] = 0;
	}
	ret = srdma_msg_decode(buf, len, max_payload, m);
	if (ret) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "malformed message (%s)", strerror(-ret));
		return -EBADMSG;
	}
	if (m->seq != dp->rx_seq) {
		snprintf(dp->errmsg, sizeof(dp->errmsg),
			 "message sequence error: expected %u, got %u (lost, duplicated or "
			 "reordered)",
			 dp->rx_seq, m->seq);
		return -EPROTO;
	}
	dp->rx_seq++;
	return 0;
}

/* Region tags take the top half of the nonce space and bit 32 for the direction, so a tag's nonce
 * is unique per (direction, seq) under the one tag key both sides hold. */
#define REGION_TAG_NONCE (1ull << 63)

int srdma_dp_region_tag(struct srdma_dataplane *dp, int from_client, uint32_t seq, uint64_t offset,
			const uint8_t *bytes, size_t len, uint8_t out[SRDMA_DIGEST_LEN])
{
	uint64_t nonce = REGION_TAG_NONCE | (uint64_t)(from_client ? 1 : 0) << 32 | seq;
	uint8_t aad[16];

	if (!sealed(dp))
		return srdma_crypto_sha256(bytes, len, out);
	if (keys_missing(dp))
		return -EINVAL;
	if (len > INT_MAX) /* what one AEAD update takes */
		return -EMSGSIZE;
	srdma__put_u64(aad, offset);
	srdma__put_u64(aad + 8, (uint64_t)len);
	memset(out, 0, SRDMA_DIGEST_LEN);
	return srdma_aead_mac(dp->wtag, nonce, aad, sizeof(aad), bytes, len, out);
}

/* ---- One-pass region sealing (srdma_dp_tag_seal; the design is in dataplane.h) ---- */

#define SEAL_AAD_LEN 28

static const char *seal_label(const struct srdma_dataplane *dp)
{
	return dp->mode == SRDMA_DP_CHACHA20 ? SRDMA_DP_LABEL_SEAL_CHACHA20 : SRDMA_DP_LABEL_SEAL;
}

/* Make *slot the sealing key of epoch (ours if tx, the peer's otherwise), unless it is already. */
static int seal_key(struct srdma_dataplane *dp, int tx, uint32_t epoch)
{
	const size_t part = SRDMA_AEAD_KEY_LEN + SRDMA_AEAD_IV_LEN;
	struct srdma_aead **slot = tx ? &dp->seal_tx : &dp->seal_rx;
	uint32_t *have = tx ? &dp->seal_tx_epoch : &dp->seal_rx_epoch;
	uint8_t context[20], material[SRDMA_DP_SEAL_MATERIAL];
	enum srdma_aead_alg alg =
	    dp->mode == SRDMA_DP_CHACHA20 ? SRDMA_AEAD_CHACHA20_POLY1305 : SRDMA_AEAD_AES_256_GCM;
	const uint8_t *k;
	struct srdma_aead *a = NULL;
	int ret;

	if (*slot && *have == epoch)
		return 0;
	if (!dp->export_fn && !dp->tls) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "region sealing before keys were derived");
		return -EINVAL;
	}
	memcpy(context, dp->kctx, sizeof(dp->kctx));
	srdma__put_u32(context + 16, epoch);
	ret = dp_export(dp, seal_label(dp), context, sizeof(context), material, sizeof(material));
	if (ret) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot export region sealing keys");
		return -EIO;
	}
	/* The client's part first: we seal with ours and open with the peer's. */
	k = material + ((tx == dp->is_client) ? 0 : part);
	ret = srdma_aead_create_alg(alg, k, k + SRDMA_AEAD_KEY_LEN, tx, &a);
	explicit_bzero(material, sizeof(material));
	if (ret) {
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot set up region sealing keys");
		return -EIO;
	}
	srdma_aead_destroy(*slot);
	*slot = a;
	*have = epoch;
	return 0;
}

static void seal_aad(uint8_t aad[SEAL_AAD_LEN], uint32_t seq, uint64_t offset, size_t len,
		     uint64_t counter)
{
	srdma__put_u32(aad, seq);
	srdma__put_u64(aad + 4, offset);
	srdma__put_u64(aad + 12, (uint64_t)len);
	srdma__put_u64(aad + 20, counter);
}

int srdma_dp_tag_seal(struct srdma_dataplane *dp, uint32_t seq, uint64_t offset, uint8_t *buf,
		      size_t len, uint8_t out[SRDMA_DIGEST_LEN])
{
	uint8_t aad[SEAL_AAD_LEN];
	uint64_t counter;
	int ret;

	if (!sealed(dp))
		return srdma_crypto_sha256(buf, len, out);
	if (len > INT_MAX) /* what one AEAD update takes */
		return -EMSGSIZE;
	/* An epoch holds 2^32 seals and SRDMA_DP_SEAL_EPOCH_BYTES bytes: past the bytes, the
	 * count skips to the next epoch's first value (and never comes back). */
	if (dp->seal_bytes && dp->seal_bytes + len > SRDMA_DP_SEAL_EPOCH_BYTES) {
		if ((dp->seal_next >> 32) == UINT32_MAX)
			goto used_up;
		dp->seal_next = ((dp->seal_next >> 32) + 1) << 32;
		dp->seal_bytes = 0;
	}
	if (dp->seal_next == UINT64_MAX)
		goto used_up;
	counter = dp->seal_next;
	ret = seal_key(dp, 1, (uint32_t)(counter >> 32));
	if (ret)
		return ret;
	/* Taken before sealing: even a seal that fails never leaves its nonce for another. */
	dp->seal_next++;
	if ((dp->seal_next & 0xffffffffu) == 0)
		dp->seal_bytes = 0; /* the index carried into the next epoch */
	else
		dp->seal_bytes += len;
	seal_aad(aad, seq, offset, len, counter);
	memset(out, 0, SRDMA_DIGEST_LEN);
	srdma__put_u64(out + SRDMA_AEAD_TAG_LEN, counter);
	ret = srdma_aead_seal(dp->seal_tx, counter, aad, sizeof(aad), buf, len, out);
	if (ret)
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot seal a region");
	return ret;
used_up:
	snprintf(dp->errmsg, sizeof(dp->errmsg), "region sealing nonces used up");
	return -EOVERFLOW;
}

int srdma_dp_tag_open(struct srdma_dataplane *dp, uint32_t seq, uint64_t offset, uint8_t *buf,
		      size_t len, const uint8_t tag[SRDMA_DIGEST_LEN])
{
	static const uint8_t zeros[SRDMA_DIGEST_LEN - SRDMA_AEAD_TAG_LEN - 8];
	uint8_t aad[SEAL_AAD_LEN], sha[SRDMA_DIGEST_LEN];
	uint64_t counter;
	int ret;

	if (!sealed(dp)) {
		ret = srdma_crypto_sha256(buf, len, sha);
		if (ret)
			return ret;
		return srdma_crypto_memcmp(sha, tag, sizeof(sha)) ? -EBADMSG : 0;
	}
	if (len > INT_MAX)
		return -EMSGSIZE;
	/* Every byte of the tag counts: the padding must be zeros, the counter picks the key
	 * and nonce (any other counter fails the AEAD tag). */
	if (srdma_crypto_memcmp(tag + SRDMA_AEAD_TAG_LEN + 8, zeros, sizeof(zeros)))
		return -EBADMSG;
	counter = srdma__get_u64(tag + SRDMA_AEAD_TAG_LEN);
	ret = seal_key(dp, 0, (uint32_t)(counter >> 32));
	if (ret)
		return ret;
	seal_aad(aad, seq, offset, len, counter);
	ret = srdma_aead_open(dp->seal_rx, counter, aad, sizeof(aad), buf, len, tag);
	if (ret == -EBADMSG)
		snprintf(dp->errmsg, sizeof(dp->errmsg),
			 "a sealed region failed authentication (altered, moved or replayed)");
	else if (ret)
		snprintf(dp->errmsg, sizeof(dp->errmsg), "cannot open a sealed region");
	return ret;
}
