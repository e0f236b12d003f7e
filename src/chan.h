/* A framed control channel: srdma_frame values over a srdma_tls connection.
 *
 * Non-blocking, for one thread at a time. Outgoing frames are queued in a small buffer and
 * flushed as the socket allows; incoming bytes are buffered until a whole frame is there. The
 * channel does not own the srdma_tls. On failure ch->errmsg says what went wrong. */
#ifndef SRDMA_CHAN_H
#define SRDMA_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "tls.h"
#include "wire.h"

#define SRDMA_CHAN_OUT_CAP (16 * SRDMA_FRAME_MAX_LEN)

struct srdma_chan {
	struct srdma_tls *tls;
	uint8_t in[2 * SRDMA_FRAME_MAX_LEN];
	size_t in_len;
	uint8_t out[SRDMA_CHAN_OUT_CAP];
	size_t out_len;
	size_t out_inflight; /* bytes handed to a TLS write that must be retried as is */
	struct srdma_frame_hdr last_hdr; /* header of the last frame that failed to decode */
	uint64_t frames_in;
	uint64_t frames_out;
	char errmsg[256];
};

void srdma_chan_init(struct srdma_chan *ch, struct srdma_tls *tls);

/* Receive one frame: 1 and *f filled; 0 if no whole frame is available yet (wait for the socket
 * to be readable, or writable if srdma_tls_want_write()); negative errno on a closed or broken
 * connection (-ECONNRESET, -EPROTO, ...) or a malformed frame (srdma_frame_decode's codes:
 * -EBADMSG, -EPROTONOSUPPORT with last_hdr.version set, -EMSGSIZE). */
int srdma_chan_recv(struct srdma_chan *ch, struct srdma_frame *f);

/* Queue a frame and try to flush: 0 when everything queued is written, -EAGAIN when bytes remain
 * (wait for writability and call srdma_chan_flush), -ENOBUFS if the queue is full, other
 * negative errno on failure. */
int srdma_chan_send(struct srdma_chan *ch, const struct srdma_frame *f);
/* Queue a frame without writing: 0, -ENOBUFS, or the encoder's error. Frames queued together
 * leave in one TLS record with the next flush (a set-up flight). */
int srdma_chan_queue(struct srdma_chan *ch, const struct srdma_frame *f);
int srdma_chan_flush(struct srdma_chan *ch);

/* 1 if queued bytes wait to be written. */
int srdma_chan_out_pending(const struct srdma_chan *ch);

#endif
