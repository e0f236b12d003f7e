/* Send credits of a SRDMA_QP_MESSAGES queue pair (cm_msg.c): pure accounting, no I/O, so that
 * the rules can be tested without a device (tests/unit/test_credits.c).
 *
 * Each side keeps `depth` receives posted. A side may send only while the peer has a receive
 * posted for it, so nothing ever waits on RNR:
 *   - credits start at the peer's depth; every message (APP or CREDIT) costs one;
 *   - every message carries ack = our receives reposted since our previous message, which the
 *     peer adds to its credits;
 *   - an APP needs two credits, or its last one if it returns at least one credit itself
 *     (ack >= 1); the last credit is otherwise kept for a CREDIT message, so that a side can
 *     always hand credits back to a peer that waits for them;
 *   - a CREDIT (no payload, just the ack) is sent
 *       eagerly, right after the application took an APP message, when the reposts not yet
 *       returned reach max(1, depth / 2) and we would keep three credits (two for the
 *       application's own next APP, which may be the answer the peer waits for);
 *       when the application is about to wait for a message (none to take), if
 *       the application took an APP since our last message and either the peer cannot send
 *       an APP in our view (rx_avail <= 1) or the reposts reach max(1, depth / 2); or, with
 *       only CREDIT messages to return, if the peer cannot send an APP and there are two at
 *       least (so each such CREDIT returns more than it costs, and two idle sides never
 *       bounce CREDITs back and forth for ever).
 *     (An APP that cannot go has either no credit or nothing to return, so waiting to send
 *     never calls for a CREDIT.)
 * With a peer depth of 2 these rules can deadlock (one CREDIT leaves its sender at one credit
 * with nothing to return, while the peer holds only that CREDIT's repost and has nothing to
 * say); cm_msg.c keeps at least 3 receives posted. From 3 up, test_credits.c finds none.
 * The receiver checks the peer against the same rules: a message when the peer has no credit
 * in our view, an APP on the peer's last credit without an ack, or an ack that returns more
 * than we ever used, is a protocol violation. Our view of the peer's credits (rx_avail) is
 * never below its real count, since the peer learns of our acks only after we send them. */
#ifndef SRDMA_CREDITS_H
#define SRDMA_CREDITS_H

#include <errno.h>
#include <stdint.h>

struct srdma_credits {
	uint32_t depth;		 /* our receives kept posted */
	uint32_t peer_depth;	 /* the peer's: our credits never exceed it */
	uint32_t credits;	 /* messages we may send now */
	uint32_t rx_avail;	 /* messages the peer may send now, in our view (an upper bound) */
	uint32_t unreturned;	 /* receives reposted since our last message */
	uint32_t unreturned_app; /* of which: receives of APP messages */
	uint32_t held;		 /* messages received, receive not yet reposted */
};

static inline void srdma__credits_init(struct srdma_credits *cr, uint32_t depth,
				       uint32_t peer_depth)
{
	cr->depth = depth;
	cr->peer_depth = peer_depth;
	cr->credits = peer_depth;
	cr->rx_avail = depth;
	cr->unreturned = 0;
	cr->unreturned_app = 0;
	cr->held = 0;
}

static inline uint32_t srdma__credits_threshold(const struct srdma_credits *cr)
{
	return cr->depth / 2 > 1 ? cr->depth / 2 : 1;
}

/* 1 if an APP (app != 0) or a CREDIT message may be sent now. */
static inline int srdma__credits_can_send(const struct srdma_credits *cr, int app)
{
	if (app)
		return cr->credits >= 2 || (cr->credits == 1 && cr->unreturned >= 1);
	return cr->credits >= 1 && cr->unreturned >= 1;
}

/* A message is sent (srdma__credits_can_send said yes): returns the ack it carries. */
static inline uint32_t srdma__credits_sent(struct srdma_credits *cr)
{
	uint32_t ack = cr->unreturned;

	cr->credits--;
	cr->rx_avail += ack;
	cr->unreturned = 0;
	cr->unreturned_app = 0;
	return ack;
}

/* A message arrived (authenticated): 0, -EOVERFLOW if the peer had no credit for it (it
 * overran our receives or used its last credit for an APP without an ack), -ERANGE if its ack
 * returns credits we never used. */
static inline int srdma__credits_received(struct srdma_credits *cr, int app, uint32_t ack)
{
	if (cr->rx_avail == 0 || (app && cr->rx_avail == 1 && ack == 0))
		return -EOVERFLOW;
	if (ack > cr->peer_depth - cr->credits)
		return -ERANGE;
	cr->rx_avail--;
	cr->credits += ack;
	cr->held++;
	return 0;
}

/* The receive of a message was posted again (app: it carried an APP). */
static inline void srdma__credits_reposted(struct srdma_credits *cr, int app)
{
	cr->held--;
	cr->unreturned++;
	if (app)
		cr->unreturned_app++;
}

/* 1 if a CREDIT message should go now: idle == 0 right after the application took an APP,
 * idle == 1 when the application is about to wait. */
static inline int srdma__credits_want_credit(const struct srdma_credits *cr, int idle)
{
	if (!srdma__credits_can_send(cr, 0))
		return 0;
	if (!idle)
		return cr->unreturned_app >= 1 && cr->unreturned >= srdma__credits_threshold(cr) &&
		       cr->credits >= 3;
	if (cr->unreturned_app >= 1)
		return cr->rx_avail <= 1 || cr->unreturned >= srdma__credits_threshold(cr);
	/* Only CREDITs to return: for a stuck peer, two at least, so that the CREDIT we send
	 * (one receive of the peer's) returns more than it costs and no exchange goes on alone. */
	return cr->rx_avail <= 1 && cr->unreturned >= 2;
}

#endif
