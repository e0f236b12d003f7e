/* Framing over TLS: buffer until a whole frame is in, queue frames out. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "chan.h"

void srdma_chan_init(struct srdma_chan *ch, struct srdma_tls *tls)
{
	memset(ch, 0, sizeof(*ch));
	ch->tls = tls;
}

static int decode_one(struct srdma_chan *ch, struct srdma_frame *f)
{
	ssize_t n = srdma_frame_decode(ch->in, ch->in_len, f);

	if (n == 0)
		return 0;
	if (n < 0) {
		(void)srdma_frame_decode_hdr(ch->in, ch->in_len, &ch->last_hdr);
		snprintf(ch->errmsg, sizeof(ch->errmsg), "malformed %s frame from peer: %s",
			 srdma_frame_type_name(ch->last_hdr.type), strerror((int)-n));
		return (int)n;
	}
	ch->in_len -= (size_t)n;
	memmove(ch->in, ch->in + n, ch->in_len);
	ch->frames_in++;
	return 1;
}

int srdma_chan_recv(struct srdma_chan *ch, struct srdma_frame *f)
{
	for (;;) {
		ssize_t n;
		int ret;

		ret = decode_one(ch, f);
		if (ret)
			return ret;
		/* decode_one guarantees a frame never exceeds SRDMA_FRAME_MAX_LEN, so there is
		 * room. */
		n = srdma_tls_read(ch->tls, ch->in + ch->in_len, sizeof(ch->in) - ch->in_len);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			snprintf(ch->errmsg, sizeof(ch->errmsg), "%s", srdma_tls_errmsg(ch->tls));
			return (int)n;
		}
		ch->in_len += (size_t)n;
	}
}

int srdma_chan_flush(struct srdma_chan *ch)
{
	while (ch->out_len) {
		ssize_t n;

		if (!ch->out_inflight)
			ch->out_inflight = ch->out_len;
		n = srdma_tls_write(ch->tls, ch->out, ch->out_inflight);
		if (n == -EAGAIN)
			return -EAGAIN;
		if (n < 0) {
			snprintf(ch->errmsg, sizeof(ch->errmsg), "%s", srdma_tls_errmsg(ch->tls));
			return (int)n;
		}
		ch->out_len -= ch->out_inflight;
		memmove(ch->out, ch->out + ch->out_inflight, ch->out_len);
		ch->out_inflight = 0;
	}
	return 0;
}

int srdma_chan_queue(struct srdma_chan *ch, const struct srdma_frame *f)
{
	ssize_t n;

	n = srdma_frame_encode(f, ch->out + ch->out_len, sizeof(ch->out) - ch->out_len);
	if (n < 0) {
		snprintf(ch->errmsg, sizeof(ch->errmsg), "cannot encode %s frame: %s",
			 srdma_frame_type_name(f->type), strerror((int)-n));
		return (int)n;
	}
	ch->out_len += (size_t)n;
	ch->frames_out++;
	return 0;
}

int srdma_chan_send(struct srdma_chan *ch, const struct srdma_frame *f)
{
	int ret = srdma_chan_queue(ch, f);

	return ret ? ret : srdma_chan_flush(ch);
}

int srdma_chan_out_pending(const struct srdma_chan *ch)
{
	return ch->out_len != 0;
}
