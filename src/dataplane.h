/* One session's data-plane state, shared by the client and the server side: the per-direction
 * message sequence numbers and, in the sealed modes, the AEAD keys (AES-256-GCM in aead mode,
 * ChaCha20-Poly1305 in chacha20 mode; everything below holds for both).
 *
 * Keys come from the TLS session (srdma_tls_export, label SRDMA_DP_LABEL) with a context that
 * binds both QPNs and both PSNs, so a key belongs to exactly one RC connection. Messages are
 * sealed with the header as additional data and the nonce made from the sender's sequence
 * number; the receiver opens with the sequence number it expects, so a forged, altered,
 * replayed or reordered message fails to open and is never decoded. Bytes in a region are
 * authenticated by a region tag (srdma_dp_region_tag, behind srdma_tag() in <srdma.h>): GMAC or
 * Poly1305 under a third key, with a nonce from the carrying message's sequence number and
 * direction, over the offset, length and bytes; in plain mode the SHA-256 of the bytes.
 * Bytes in a region can also be sealed in one pass (srdma_dp_tag_seal / srdma_dp_tag_open,
 * behind srdma_tag_seal() / srdma_tag_open()): encrypted in place and tagged with the mode's
 * AEAD under keys of their own (label SRDMA_DP_LABEL_SEAL), one per sealing side.
 * One thread at a time per session. Any error from srdma_dp_get ends the session: close it. */
#ifndef SRDMA_DATAPLANE_H
#define SRDMA_DATAPLANE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto.h"
#include "msg.h"
#include "tls.h"

#define SRDMA_DP_LABEL "EXPORTER-secure-rdma-dataplane-v1"
/* chacha20 mode: its own label, so that no key ever serves two algorithms. */
#define SRDMA_DP_LABEL_CHACHA20 "EXPORTER-secure-rdma-dataplane-chacha20-v1"
/* Region sealing (srdma_dp_tag_seal): keys of their own, per algorithm as above. */
#define SRDMA_DP_LABEL_SEAL	     "EXPORTER-secure-rdma-region-seal-v1"
#define SRDMA_DP_LABEL_SEAL_CHACHA20 "EXPORTER-secure-rdma-region-seal-chacha20-v1"
/* Its exporter output, per epoch: the client's sealing key+IV, then the server's. */
#define SRDMA_DP_SEAL_MATERIAL (2 * (SRDMA_AEAD_KEY_LEN + SRDMA_AEAD_IV_LEN))
/* Bytes one side seals under one epoch's key before it moves to the next epoch: 64 GiB, as the
 * message keys' default interval allows (2^32 seals end an epoch too). */
#define SRDMA_DP_SEAL_EPOCH_BYTES (1ull << 36)
/* Exporter output: c2s key+IV, s2c key+IV, tag key+IV. */
#define SRDMA_DP_KEY_MATERIAL (3 * (SRDMA_AEAD_KEY_LEN + SRDMA_AEAD_IV_LEN))
/* Header flag of a sealed message: a tag follows the (encrypted) payload. */
#define SRDMA_MSG_F_SEALED 0x01u
/* Room for a region tag: SHA-256 in plain mode, a 16-byte AEAD tag and zeros otherwise. */
#define SRDMA_DIGEST_LEN 32u

/* Where new keys come from: the TLS exporter (srdma_dp_derive sets it), or a test's own, which
 * must give other bytes for another label (as the exporter does). */
typedef int (*srdma_dp_export_fn)(void *arg, const char *label, const uint8_t *context,
				  size_t context_len, uint8_t *out, size_t out_len);

struct srdma_dataplane {
	enum srdma_dp_mode mode;
	uint32_t tx_seq; /* sequence number of our next message */
	uint32_t rx_seq; /* sequence number we expect next */
	struct srdma_aead *tx;
	struct srdma_aead *rx;
	struct srdma_aead *wtag; /* the tag key: region tags */
	/* Key update (srdma_dp_set_rekey): a direction's messages with sequence numbers
	 * [e * 2^log2, (e + 1) * 2^log2) are sealed under that direction's keys of epoch e; epoch
	 * 0 is srdma_dp_derive's, epoch e > 0 comes from the exporter with the epoch appended to
	 * the context. Both sides know both directions' log2 (0: never), so they switch at the
	 * same sequence number without a word on the wire. */
	uint8_t tx_log2, rx_log2;
	uint32_t tx_epoch, rx_epoch;
	uint32_t rekeys; /* key updates done, both directions */
	int is_client;
	uint8_t kctx[16];	      /* the context the keys of epoch 0 were exported with */
	struct srdma_tls *tls;	      /* their exporter (srdma_dp_derive) */
	srdma_dp_export_fn export_fn; /* or a test's (srdma_dp_set_exporter) */
	void *export_arg;
	/* Region sealing: the key we seal with and the key we open the peer's with, each of one
	 * epoch (derived when first needed, from the exporter alone); seal_next is the nonce
	 * counter of our next seal, epoch << 32 | index, and seal_bytes what we sealed under
	 * the key of its epoch. */
	struct srdma_aead *seal_tx, *seal_rx;
	uint32_t seal_tx_epoch, seal_rx_epoch;
	uint64_t seal_next, seal_bytes;
	char errmsg[128];
};

/* OPEN's feature bits (SRDMA_FEAT_*) of a mode, and the mode of feature bits (-EINVAL: CHACHA20
 * without AEAD; bits outside SRDMA_FEAT_KNOWN are ignored). */
uint32_t srdma_dp_features(enum srdma_dp_mode mode);
int srdma_dp_mode_of(uint32_t features, enum srdma_dp_mode *out);

void srdma_dp_init(struct srdma_dataplane *dp, enum srdma_dp_mode mode);
/* Frees the keys; accepts a dp never given keys. */
void srdma_dp_cleanup(struct srdma_dataplane *dp);

/* Derive the keys (sealed modes; plain: nothing to do). 0, -EPROTO (exporter) or -EIO. */
int srdma_dp_derive(struct srdma_dataplane *dp, struct srdma_tls *tls, int is_client,
		    uint32_t client_qpn, uint32_t server_qpn, uint32_t client_psn,
		    uint32_t server_psn);

/* Turn on key update: our messages change keys every 2^tx_log2, the peer's every 2^rx_log2
 * (1..31; 0: never). Sealed modes only, after srdma_dp_derive (or srdma_dp_set_exporter). */
void srdma_dp_set_rekey(struct srdma_dataplane *dp, unsigned tx_log2, unsigned rx_log2);
/* For tests: the exporter and the epoch-0 context key updates use, without TLS. */
void srdma_dp_set_exporter(struct srdma_dataplane *dp, int is_client, srdma_dp_export_fn fn,
			   void *arg, const uint8_t kctx[16]);

/* Install keys from SRDMA_DP_KEY_MATERIAL bytes (what srdma_dp_derive does after exporting);
 * for tests. */
int srdma_dp_set_keys(struct srdma_dataplane *dp, int is_client,
		      const uint8_t material[SRDMA_DP_KEY_MATERIAL]);

/* Encode m as our next message into buf (cap bytes) and seal it in the sealed modes. Returns the
 * number of bytes to send, or a negative errno (-ENOBUFS, -EINVAL (also: a sealed mode before keys
 * were set), -EOVERFLOW when the sequence space is used up, -EIO). Advances tx_seq on success. */
ssize_t srdma_dp_put(struct srdma_dataplane *dp, struct srdma_msg *m, uint8_t *buf, size_t cap);

/* Check, open (in place) and decode the len bytes received in buf: 0 and *m (pointing into buf).
 * Errors, with the reason in dp->errmsg: -EBADMSG for a message that fails authentication (in
 * a sealed mode that includes every lost, duplicated, replayed or reordered message: the nonce no
 * longer matches) or is malformed; -EPROTO for a sequence error that authentication did not
 * catch (plain mode); -EINVAL in a sealed mode before keys were set. After an error buf holds
 * unauthenticated bytes and *m is undefined; rx_seq advances on success only. */
int srdma_dp_get(struct srdma_dataplane *dp, uint8_t *buf, size_t len, uint32_t max_payload,
		 struct srdma_msg *m);

/* The tag of len bytes found at offset in a region, for a tag that travels in message seq of
 * one direction (from_client: 1 for a client-to-server message, 0 for server-to-client), as
 * srdma_tag() in <srdma.h> defines it. Sealed modes: the 16-byte GMAC (aead) or Poly1305 tag
 * (chacha20) under the tag key, over offset (u64) and length (u64) as additional data and
 * the bytes, in out[0..16) and zeros after; plain: SHA-256 of the bytes. Its 64-bit nonce is
 * 1 << 63 | from_client << 32 | seq, so the two directions never share one. Each side computes
 * the same tag for the same inputs. 0, -EINVAL (sealed mode before keys), -EMSGSIZE (sealed
 * modes: len above INT_MAX), -EIO. */
int srdma_dp_region_tag(struct srdma_dataplane *dp, int from_client, uint32_t seq, uint64_t offset,
			const uint8_t *bytes, size_t len, uint8_t out[SRDMA_DIGEST_LEN]);

/* One-pass region sealing, as srdma_tag_seal() / srdma_tag_open() in <srdma.h> define it.
 *
 * Sealed modes: buf[0..len) is encrypted in place with the mode's AEAD (one EVP chain: the
 * nonce, the additional data, the bytes, the tag) under this side's sealing key; out[0..16) is
 * the AEAD tag, out[16..24) the be64 nonce counter, out[24..32) zeros. The additional data is
 * seq (be32) | offset (be64) | len (be64) | counter (be64). Keys: per epoch e, the exporter
 * with SRDMA_DP_LABEL_SEAL (or its chacha20 twin) and the context kctx | be32 e, 44 bytes for
 * each side (key, IV); a side seals with its own and opens with the peer's, so the two sides
 * never share a sealing key. Nonce: the key's IV XOR the counter, the counter being
 * epoch << 32 | the seal's index in the epoch. Why no nonce repeats under one key: a key
 * belongs to one session (the exporter's secret), one QP (kctx: its QPNs and PSNs), one
 * sealing side and one epoch; only that side seals under it, and it takes every counter value
 * once, from a 64-bit count in dp that only goes up (never from the caller's seq or offset,
 * so sealing the same seq and offset twice is still safe). An epoch ends after 2^32 seals (the
 * index carries into the epoch) or SRDMA_DP_SEAL_EPOCH_BYTES bytes (the count jumps to the next
 * epoch); its key is then derived anew. Since the counter travels in the tag, the opener
 * derives the epoch's key itself and needs no state in step with the sealer.
 * Plain mode: buf is left as it is and out is its SHA-256 (srdma_dp_region_tag's plain tag);
 * open recomputes it.
 * 0; -EINVAL (no exporter yet); -EMSGSIZE (len above INT_MAX); -EOVERFLOW (2^64 seals: never);
 * -EIO. Open: also -EBADMSG if anything (bytes, tag, seq, offset, len, key) differs from what
 * was sealed: buf then holds neither the sealed nor the original bytes. */
int srdma_dp_tag_seal(struct srdma_dataplane *dp, uint32_t seq, uint64_t offset, uint8_t *buf,
		      size_t len, uint8_t out[SRDMA_DIGEST_LEN]);
int srdma_dp_tag_open(struct srdma_dataplane *dp, uint32_t seq, uint64_t offset, uint8_t *buf,
		      size_t len, const uint8_t tag[SRDMA_DIGEST_LEN]);

#endif
