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
/* Exporter output: c2s key+IV, s2c key+IV, tag key+IV. */
#define SRDMA_DP_KEY_MATERIAL (3 * (SRDMA_AEAD_KEY_LEN + SRDMA_AEAD_IV_LEN))
/* Header flag of a sealed message: a tag follows the (encrypted) payload. */
#define SRDMA_MSG_F_SEALED 0x01u
/* Room for a region tag: SHA-256 in plain mode, a 16-byte AEAD tag and zeros otherwise. */
#define SRDMA_DIGEST_LEN 32u

/* Where new keys come from: the TLS exporter (srdma_dp_derive sets it), or a test's own. */
typedef int (*srdma_dp_export_fn)(void *arg, const uint8_t *context, size_t context_len,
				  uint8_t *out, size_t out_len);

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

#endif
