/* The requests a connected client session makes: lock-step echoes, RDMA writes and their
 * verification, pipelined echoes, one-way pushes and write bursts, ping, quit. */
#include <errno.h>
#include <string.h>

#include <srdma/client.h>
#include <srdma/crypto.h>
#include <srdma/dataplane.h>
#include <srdma/tls.h>
#include <srdma/verbs.h>

#include "client_internal.h"

int srdma_client_echo(struct srdma_client *cl, const void *buf, uint32_t len)
{
	struct srdma_msg m = {.type = SRDMA_MSG_DATA, .payload = buf, .len = len};
	unsigned slot;
	int ret, same;

	ret = srdma__client_send(cl, &m);
	if (!ret)
		ret = srdma__client_expect(cl, SRDMA_MSG_ECHO, &m, &slot);
	if (ret)
		return ret;
	same = m.len == len && memcmp(m.payload, buf, len) == 0;
	ret = srdma__client_repost(cl, slot);
	if (ret)
		return ret;
	if (!same)
		return srdma__client_fail(cl, -EBADMSG,
					  "echo of message %u differs from what was sent",
					  cl->dp.tx_seq - 1);
	return 0;
}

/* Wait until at most `most` RDMA writes are in flight. */
static int writes_drain(struct srdma_client *cl, unsigned most)
{
	int ret;

	while (cl->writes_inflight > most) {
		ret = srdma__client_reap(cl);
		if (ret)
			return ret;
	}
	return 0;
}

/* Post an RDMA write from the start of the local write buffer, once there is room. */
static int post_write(struct srdma_client *cl, uint32_t len, uint64_t raddr, uint32_t rkey)
{
	int ret = writes_drain(cl, cl->cfg.depth - 1);

	if (ret)
		return ret;
	ret = srdma_ep_post_write(cl->ep, 0, len, raddr, rkey);
	if (ret)
		return srdma__client_fail(cl, ret, "cannot post the RDMA write: %s",
					  strerror(-ret));
	cl->writes_inflight++;
	return 0;
}

/* Post an RDMA write and wait for its completion. RC completes in order: once the write is
 * acknowledged it is in the server's memory. */
static int write_and_wait(struct srdma_client *cl, uint32_t len, uint64_t raddr, uint32_t rkey)
{
	int ret;

	srdma__client_arm_deadline(cl);
	ret = post_write(cl, len, raddr, rkey);
	return ret ? ret : writes_drain(cl, 0);
}

int srdma_client_write_raw(struct srdma_client *cl, uint32_t len, uint64_t remote_addr,
			   uint32_t rkey)
{
	if (!cl->ep->write_mr || len > cl->ep->write_len)
		return srdma__client_fail(cl, -EINVAL,
					  "write of %u bytes exceeds the local write buffer", len);
	return write_and_wait(cl, len, remote_addr, rkey);
}

int srdma_client_verify(struct srdma_client *cl, const void *buf, uint32_t len, uint32_t offset)
{
	struct srdma_msg m = {.type = SRDMA_MSG_WRITE_DONE};
	uint8_t digest[SRDMA_DIGEST_LEN], sha[SRDMA_DIGEST_LEN];
	struct srdma_write_result r;
	unsigned slot;
	int ret;

	if (srdma_crypto_sha256(buf, len, sha))
		return srdma__client_fail(cl, -EIO, "cannot hash the written bytes");
	/* The tag covers the bytes under the sequence number this WRITE_DONE will carry. */
	ret = srdma_dp_write_tag(&cl->dp, cl->dp.tx_seq, offset, buf, len, digest);
	if (ret)
		return srdma__client_fail(cl, ret, "cannot compute the tag of the written bytes");
	m.u.write_done.offset = offset;
	m.u.write_done.length = len;
	memcpy(m.u.write_done.digest, digest, sizeof(digest));
	ret = srdma__client_send(cl, &m);
	if (!ret)
		ret = srdma__client_expect(cl, SRDMA_MSG_WRITE_RESULT, &m, &slot);
	if (ret)
		return ret;
	r = m.u.write_result;
	ret = srdma__client_repost(cl, slot);
	if (ret)
		return ret;
	if (r.status != SRDMA_WRITE_OK)
		return srdma__client_fail(cl, -EBADMSG, "server found %s in its region",
					  r.status == SRDMA_WRITE_RANGE
					      ? "the range out of bounds"
					      : "other bytes than written");
	/* Check what the server says it found, not only its verdict. */
	if (r.offset != offset || r.length != len || memcmp(r.digest, sha, sizeof(sha)))
		return srdma__client_fail(
		    cl, -EBADMSG, "server's digest of the region differs from the bytes written");
	return 0;
}

int srdma_client_write(struct srdma_client *cl, const void *buf, uint32_t len, uint32_t offset)
{
	int ret;

	if (!cl->ep->write_mr || len > cl->ep->write_len)
		return srdma__client_fail(cl, -EINVAL,
					  "write of %u bytes exceeds the local write buffer", len);
	if ((uint64_t)offset + len > cl->remote.write_len)
		return srdma__client_fail(cl, -ERANGE, "write outside the server's region");
	memcpy(cl->ep->write_buf, buf, len);
	ret = write_and_wait(cl, len, cl->remote.write_addr + offset, cl->remote.write_rkey);
	if (ret)
		return ret;
	return srdma_client_verify(cl, buf, len, offset);
}

int srdma_client_echo_pipelined(struct srdma_client *cl, const void *buf, uint32_t len,
				uint64_t count)
{
	uint64_t sent = 0, got = 0;
	unsigned w = cl->info.window, slot;
	struct srdma_msg m;
	int ret, same;

	srdma__client_arm_deadline(cl);
	while (got < count) {
		while (sent < count && sent - got < w) {
			m = (struct srdma_msg){.type = SRDMA_MSG_DATA, .payload = buf, .len = len};
			ret = srdma__client_stage(cl, &m);
			if (ret)
				return ret;
			sent++;
		}
		ret = srdma__client_wait_msg(cl, &m, &slot);
		if (ret)
			return ret;
		if (m.type != SRDMA_MSG_ECHO)
			return srdma__client_fail(
			    cl, -EPROTO, "protocol error: expected %s, got %s",
			    srdma_msg_type_name(SRDMA_MSG_ECHO), srdma_msg_type_name(m.type));
		same = m.len == len && memcmp(m.payload, buf, len) == 0;
		ret = srdma__client_repost(cl, slot);
		if (ret)
			return ret;
		if (!same)
			return srdma__client_fail(
			    cl, -EBADMSG, "echo %llu of %llu differs from what was sent",
			    (unsigned long long)got + 1, (unsigned long long)count);
		got++;
		srdma__client_arm_deadline(cl);
	}
	return 0;
}

/* PINGs of srdma_client_push in flight, oldest first, each closing a group of messages. */
#define PUSH_GROUPS_MAX 8

int srdma_client_push(struct srdma_client *cl, const void *buf, uint32_t len, uint64_t count)
{
	struct {
		uint64_t token;
		unsigned msgs; /* the group's PUSHes and its PING */
	} ring[PUSH_GROUPS_MAX];
	unsigned w = cl->info.window, group, head = 0, groups = 0, inflight = 0, open = 0;
	uint64_t sent = 0, done = 0;
	struct srdma_msg m;
	unsigned slot;
	int ret;

	/* Every group of PUSHes ends with a PING: its PONG vouches for the whole group, so the
	 * server's receives bound what is in flight. Two groups fit in the window, so the
	 * pipe never drains while a PONG is on its way. */
	if (w < 2)
		return srdma__client_fail(
		    cl, -EINVAL,
		    "pushing needs 2 or more messages in flight (the depth and the server's "
		    "recv_depth)");
	group = w / 2 < 2 ? 2 : w / 2;
	srdma__client_arm_deadline(cl);
	while (done < count) {
		while (inflight < w && (sent < count || open)) {
			if (open == group - 1 || (sent == count && open)) {
				if (groups == PUSH_GROUPS_MAX)
					break;
				m = (struct srdma_msg){.type = SRDMA_MSG_PING};
				m.u.token = ++cl->next_token;
				ret = srdma__client_stage(cl, &m);
				if (ret)
					return ret;
				ring[(head + groups) % PUSH_GROUPS_MAX].token = m.u.token;
				ring[(head + groups++) % PUSH_GROUPS_MAX].msgs = open + 1;
				inflight++;
				open = 0;
				continue;
			}
			/* Staged, then posted in lists of up to SRDMA_POST_LIST_MAX with one
			 * completion each: one doorbell and one completion per list. */
			m = (struct srdma_msg){.type = SRDMA_MSG_PUSH, .payload = buf, .len = len};
			ret = srdma__client_stage(cl, &m);
			if (ret)
				return ret;
			sent++;
			open++;
			inflight++;
		}
		ret = srdma__client_wait_msg(cl, &m, &slot);
		if (ret)
			return ret;
		ret = srdma__client_repost(cl, slot);
		if (ret)
			return ret;
		if (m.type != SRDMA_MSG_PONG || !groups || m.u.token != ring[head].token)
			return srdma__client_fail(
			    cl, -EPROTO,
			    "protocol error: expected the PONG of a push group, "
			    "got %s",
			    srdma_msg_type_name(m.type));
		inflight -= ring[head].msgs;
		done += ring[head].msgs - 1;
		head = (head + 1) % PUSH_GROUPS_MAX;
		groups--;
		srdma__client_arm_deadline(cl);
	}
	return 0;
}

int srdma_client_write_burst(struct srdma_client *cl, uint32_t len, uint64_t count)
{
	uint64_t i;
	int ret;

	if (!cl->ep->write_mr || len > cl->ep->write_len)
		return srdma__client_fail(cl, -EINVAL,
					  "write of %u bytes exceeds the local write buffer", len);
	if (len > cl->remote.write_len)
		return srdma__client_fail(cl, -ERANGE, "write outside the server's region");
	for (i = 0; i < count; i++) {
		srdma__client_arm_deadline(cl);
		ret = post_write(cl, len, cl->remote.write_addr, cl->remote.write_rkey);
		if (ret)
			return ret;
	}
	return writes_drain(cl, 0);
}

int srdma_client_ping(struct srdma_client *cl, uint64_t *rtt_ns)
{
	struct srdma_msg m = {.type = SRDMA_MSG_PING};
	uint64_t token = ++cl->next_token, t0 = srdma__client_now_ns();
	unsigned slot;
	int ret;

	m.u.token = token;
	ret = srdma__client_send(cl, &m);
	if (!ret)
		ret = srdma__client_expect(cl, SRDMA_MSG_PONG, &m, &slot);
	if (ret)
		return ret;
	if (rtt_ns)
		*rtt_ns = srdma__client_now_ns() - t0;
	ret = srdma__client_repost(cl, slot);
	if (ret)
		return ret;
	if (m.u.token != token)
		return srdma__client_fail(cl, -EBADMSG, "PONG carries another token than the PING");
	return 0;
}

int srdma_client_quit(struct srdma_client *cl)
{
	struct srdma_msg m = {.type = SRDMA_MSG_QUIT};
	unsigned slot;
	int ret;

	ret = srdma__client_send(cl, &m);
	if (!ret)
		ret = srdma__client_expect(cl, SRDMA_MSG_BYE, &m, &slot);
	if (ret)
		return ret;
	srdma_tls_close_notify(cl->tls);
	return 0;
}
