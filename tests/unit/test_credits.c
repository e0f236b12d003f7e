/* Unit tests for the send-credit rules of messages QPs (src/credits.h): the rules one at a
 * time, then two simulated peers that exchange messages under random schedules (deliveries,
 * reads, sends and waits interleaved in any order) for every pair of depths from 3 to 9 and
 * 16 (cm_msg.c raises depth 2 to 3: at 2, one CREDIT can leave its sender unable to send an
 * APP while the peer has nothing to say, see credits.h), in several traffic patterns. The
 * simulation checks what the rules promise: no message ever arrives without a receive posted for it
 * (no RNR wait), the receiver's checks never refuse a peer that follows the rules, and every
 * pattern finishes (no deadlock, no endless exchange of CREDIT messages). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "credits.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void test_init_and_threshold(void **state)
{
	struct srdma_credits cr;

	(void)state;
	srdma__credits_init(&cr, 16, 4);
	assert_int_equal(cr.credits, 4);
	assert_int_equal(cr.rx_avail, 16);
	assert_int_equal(cr.unreturned, 0);
	assert_int_equal(cr.held, 0);
	assert_int_equal(srdma__credits_threshold(&cr), 8);
	srdma__credits_init(&cr, 2, 2);
	assert_int_equal(srdma__credits_threshold(&cr), 1);
	srdma__credits_init(&cr, 3, 2);
	assert_int_equal(srdma__credits_threshold(&cr), 1);
	srdma__credits_init(&cr, 1024, 2);
	assert_int_equal(srdma__credits_threshold(&cr), 512);
}

/* An APP needs two credits, or the last one when it returns credits; a CREDIT needs one and
 * something to return. Every message costs one credit and carries (then clears) the ack. */
static void test_send_rules(void **state)
{
	struct srdma_credits cr;

	(void)state;
	srdma__credits_init(&cr, 4, 3);
	assert_true(srdma__credits_can_send(&cr, 1));
	assert_false(srdma__credits_can_send(&cr, 0)); /* nothing to return */
	assert_int_equal(srdma__credits_sent(&cr), 0);
	assert_int_equal(cr.credits, 2);
	assert_true(srdma__credits_can_send(&cr, 1));
	assert_int_equal(srdma__credits_sent(&cr), 0);
	assert_int_equal(cr.credits, 1);
	assert_false(srdma__credits_can_send(&cr, 1)); /* the last credit is kept */
	assert_false(srdma__credits_can_send(&cr, 0));

	/* A message comes in and its receive is reposted: now there is something to return. */
	assert_int_equal(srdma__credits_received(&cr, 1, 0), 0);
	assert_int_equal(cr.rx_avail, 3);
	assert_int_equal(cr.held, 1);
	srdma__credits_reposted(&cr, 1);
	assert_int_equal(cr.held, 0);
	assert_int_equal(cr.unreturned, 1);
	assert_int_equal(cr.unreturned_app, 1);
	assert_true(srdma__credits_can_send(&cr, 1)); /* the last credit, with an ack */
	assert_true(srdma__credits_can_send(&cr, 0));
	assert_int_equal(srdma__credits_sent(&cr), 1);
	assert_int_equal(cr.credits, 0);
	assert_int_equal(cr.unreturned, 0);
	assert_int_equal(cr.unreturned_app, 0);
	assert_int_equal(cr.rx_avail, 4); /* the peer has its receive back */
	assert_false(srdma__credits_can_send(&cr, 1));
	assert_false(srdma__credits_can_send(&cr, 0));

	/* The peer's ack gives credits back. */
	assert_int_equal(srdma__credits_received(&cr, 0, 3), 0);
	assert_int_equal(cr.credits, 3);
}

/* What the receiver refuses: a message beyond the peer's credits, an APP on its last credit
 * without an ack, an ack above what we used. Refusals change nothing. */
static void test_receive_checks(void **state)
{
	struct srdma_credits cr, before;

	(void)state;
	srdma__credits_init(&cr, 2, 5);
	assert_int_equal(srdma__credits_received(&cr, 1, 0), 0); /* rx_avail 2 -> 1 */
	before = cr;
	assert_int_equal(srdma__credits_received(&cr, 1, 0), -EOVERFLOW);
	assert_memory_equal(&cr, &before, sizeof(cr));
	/* The last one may carry a CREDIT, or an APP that returns credits. */
	assert_int_equal(srdma__credits_received(&cr, 0, 0), 0);
	assert_int_equal(cr.rx_avail, 0);
	before = cr;
	assert_int_equal(srdma__credits_received(&cr, 0, 0), -EOVERFLOW);
	assert_int_equal(srdma__credits_received(&cr, 1, 1), -EOVERFLOW);
	assert_memory_equal(&cr, &before, sizeof(cr));

	srdma__credits_init(&cr, 2, 5);
	assert_int_equal(srdma__credits_received(&cr, 1, 0), 0);
	assert_int_equal(srdma__credits_received(&cr, 1, 1), -ERANGE); /* we used none */
	(void)srdma__credits_sent(&cr);
	(void)srdma__credits_sent(&cr);
	before = cr;
	assert_int_equal(srdma__credits_received(&cr, 1, 3), -ERANGE);
	assert_memory_equal(&cr, &before, sizeof(cr));
	assert_int_equal(srdma__credits_received(&cr, 1, 2), 0);
	assert_int_equal(cr.credits, 5);

	srdma__credits_init(&cr, 4, 4);
	assert_int_equal(srdma__credits_received(&cr, 1, 1), -ERANGE);
}

/* When a CREDIT goes out on its own. */
static void test_want_credit(void **state)
{
	struct srdma_credits cr;

	(void)state;
	/* Eager: after the application takes APPs, at depth / 2 reposts, keeping 3 credits. */
	srdma__credits_init(&cr, 8, 8);
	for (int i = 0; i < 4; i++) {
		assert_false(srdma__credits_want_credit(&cr, 0));
		assert_int_equal(srdma__credits_received(&cr, 1, 0), 0);
		srdma__credits_reposted(&cr, 1);
	}
	assert_true(srdma__credits_want_credit(&cr, 0));
	cr.credits = 2; /* the application's next APP would have to wait: not eagerly */
	assert_false(srdma__credits_want_credit(&cr, 0));
	assert_true(srdma__credits_want_credit(&cr, 1)); /* but when it waits anyway */
	cr.credits = 0;
	assert_false(srdma__credits_want_credit(&cr, 1));

	/* Idle: the peer cannot send an APP in our view. */
	srdma__credits_init(&cr, 8, 8);
	for (int i = 0; i < 7; i++)
		assert_int_equal(srdma__credits_received(&cr, 0, 0), 0);
	assert_int_equal(cr.rx_avail, 1);
	for (int i = 0; i < 7; i++)
		srdma__credits_reposted(&cr, 0);
	/* Only CREDITs came: never eagerly; when we wait, for a stuck peer only, and two at least
	 * (one CREDIT for one would go back and forth between two idle sides). */
	assert_false(srdma__credits_want_credit(&cr, 0));
	assert_true(srdma__credits_want_credit(&cr, 1));
	assert_int_equal(srdma__credits_received(&cr, 1, 0), -EOVERFLOW); /* the peer's reserve */
	assert_int_equal(srdma__credits_received(&cr, 1, 1), -ERANGE);
	srdma__credits_init(&cr, 8, 8);
	for (int i = 0; i < 7; i++)
		assert_int_equal(srdma__credits_received(&cr, 0, 0), 0);
	srdma__credits_reposted(&cr, 0);
	assert_false(srdma__credits_want_credit(&cr, 1)); /* one */
	srdma__credits_reposted(&cr, 0);
	assert_true(srdma__credits_want_credit(&cr, 1)); /* two */
	srdma__credits_init(&cr, 8, 8);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(srdma__credits_received(&cr, 0, 0), 0);
		srdma__credits_reposted(&cr, 0);
	}
	assert_int_equal(cr.rx_avail, 2);
	assert_false(srdma__credits_want_credit(&cr, 1)); /* the peer can still send an APP */

	srdma__credits_init(&cr, 8, 8);
	for (int i = 0; i < 7; i++)
		assert_int_equal(srdma__credits_received(&cr, i == 0, 0), 0);
	srdma__credits_reposted(&cr, 1); /* one APP taken, six still held */
	assert_int_equal(cr.rx_avail, 1);
	assert_false(srdma__credits_want_credit(&cr, 0)); /* 1 < threshold 4 */
	assert_true(srdma__credits_want_credit(&cr, 1));  /* the peer is stuck */
	assert_int_equal(srdma__credits_sent(&cr), 1);
	assert_int_equal(cr.rx_avail, 2);
	assert_false(srdma__credits_want_credit(&cr, 1));
}

/* ---- Two simulated peers ------------------------------------------------------------------ */

enum pattern {
	ONE_WAY, /* A sends, B reads */
	BOTH_WAYS,
	REQ_RESP, /* A asks, B answers, one at a time */
	PIPELINE, /* A sends, B answers each, A reads answers whenever */
};

#define WIRE_CAP 4096u

struct wmsg {
	int app;
	uint32_t ack;
};

struct wire {
	struct wmsg m[WIRE_CAP];
	unsigned head, len;
};

struct side {
	struct srdma_credits cr;
	unsigned sends_left;
	unsigned held_app; /* APPs waiting for the application */
	int phase;	   /* REQ_RESP: 0 send, 1 read */
	int answers;	   /* PIPELINE, B: answers owed */
	unsigned reads;
	unsigned credit_msgs;
};

struct sim {
	struct side s[2];
	struct wire w[2]; /* w[i]: from side i to side 1 - i */
	enum pattern pat;
	uint64_t rng;
	unsigned credit_limit;
};

static uint32_t rnd(struct sim *sim)
{
	sim->rng ^= sim->rng << 13;
	sim->rng ^= sim->rng >> 7;
	sim->rng ^= sim->rng << 17;
	return (uint32_t)(sim->rng >> 16);
}

static void put_msg(struct sim *sim, int i, int app)
{
	struct side *s = &sim->s[i];
	struct wire *w = &sim->w[i];

	assert_true(srdma__credits_can_send(&s->cr, app));
	assert_true(w->len < WIRE_CAP);
	w->m[(w->head + w->len++) % WIRE_CAP] = (struct wmsg){app, srdma__credits_sent(&s->cr)};
	if (!app)
		s->credit_msgs++;
}

static int wants_send(const struct sim *sim, int i)
{
	const struct side *s = &sim->s[i];

	switch (sim->pat) {
	case REQ_RESP:
		return s->phase == 0 && s->sends_left > 0;
	case PIPELINE:
		return i == 0 ? s->sends_left > 0 : s->answers > 0;
	default:
		return s->sends_left > 0;
	}
}

static int wants_read(const struct sim *sim, int i)
{
	return sim->pat != REQ_RESP || sim->s[i].phase == 1;
}

/* Enabled actions: 0 deliver, 1 read, 2 send, 3 wait (idle credit). */
static int try_action(struct sim *sim, int i, int action)
{
	struct side *s = &sim->s[i];
	struct wire *w = &sim->w[1 - i]; /* what comes to side i */
	int idle;

	switch (action) {
	case 0: {
		struct wmsg m;

		if (!w->len)
			return 0;
		m = w->m[w->head];
		w->head = (w->head + 1) % WIRE_CAP;
		w->len--;
		/* A receive is posted for it (no RNR), and the receiver's checks agree. */
		assert_true(s->cr.held < s->cr.depth);
		assert_int_equal(srdma__credits_received(&s->cr, m.app, m.ack), 0);
		assert_true(s->cr.credits <= s->cr.peer_depth);
		if (m.app)
			s->held_app++;
		else
			srdma__credits_reposted(&s->cr, 0);
		return 1;
	}
	case 1:
		if (!s->held_app || !wants_read(sim, i))
			return 0;
		s->held_app--;
		s->reads++;
		srdma__credits_reposted(&s->cr, 1);
		if (sim->pat == REQ_RESP)
			s->phase = 0;
		if (sim->pat == PIPELINE && i == 1)
			s->answers++;
		if (srdma__credits_want_credit(&s->cr, 0))
			put_msg(sim, i, 0);
		return 1;
	case 2:
		if (!wants_send(sim, i) || !srdma__credits_can_send(&s->cr, 1))
			return 0;
		put_msg(sim, i, 1);
		if (sim->pat == PIPELINE && i == 1)
			s->answers--;
		else
			s->sends_left--;
		if (sim->pat == REQ_RESP)
			s->phase = 1;
		return 1;
	case 3:
		/* The application waits for a message (srdma_msg_recv finds none). A send that
		 * cannot go never wants a CREDIT: no credit to spend, or nothing to return. */
		if (wants_send(sim, i) && !srdma__credits_can_send(&s->cr, 1))
			assert_false(srdma__credits_want_credit(&s->cr, 1));
		idle = wants_read(sim, i) && !s->held_app;
		if (!idle || !srdma__credits_want_credit(&s->cr, 1))
			return 0;
		put_msg(sim, i, 0);
		return 1;
	}
	return 0;
}

static int finished(const struct sim *sim)
{
	for (int i = 0; i < 2; i++) {
		if (wants_send(sim, i) || sim->s[i].held_app || sim->w[i].len)
			return 0;
	}
	return 1;
}

static void run(enum pattern pat, uint32_t depth_a, uint32_t depth_b, uint64_t seed, unsigned n)
{
	static struct sim sim;
	unsigned steps = 0;

	memset(&sim, 0, sizeof(sim));
	sim.pat = pat;
	sim.rng = seed * 0x9e3779b97f4a7c15ull + 1;
	srdma__credits_init(&sim.s[0].cr, depth_a, depth_b);
	srdma__credits_init(&sim.s[1].cr, depth_b, depth_a);
	sim.s[0].sends_left = n;
	sim.s[1].sends_left = pat == ONE_WAY || pat == PIPELINE ? 0 : n;
	sim.s[1].phase = 1; /* REQ_RESP: B answers */

	while (!finished(&sim)) {
		int start = (int)(rnd(&sim) % 8), done = 0;

		/* Any enabled action, picked at random: a fair but arbitrary interleaving. */
		for (int k = 0; k < 8 && !done; k++) {
			int pick = (start + k) % 8;

			done = try_action(&sim, pick / 4, pick % 4);
		}
		if (!done)
			fail_msg(
			    "deadlock: pattern %d, depths %u/%u, seed %llu, A sent %u, B read %u, "
			    "A credits %u, B credits %u",
			    pat, depth_a, depth_b, (unsigned long long)seed,
			    n - sim.s[0].sends_left, sim.s[1].reads, sim.s[0].cr.credits,
			    sim.s[1].cr.credits);
		if (++steps > 40 * n + 1000)
			fail_msg("no end: pattern %d, depths %u/%u, seed %llu", pat, depth_a,
				 depth_b, (unsigned long long)seed);
	}
	/* Every APP arrived and was read; CREDITs stayed a fraction of the traffic. */
	if (pat == ONE_WAY)
		assert_int_equal(sim.s[1].reads, n);
	else
		assert_int_equal(sim.s[0].reads + sim.s[1].reads, 2 * n);
	assert_true(sim.s[0].credit_msgs + sim.s[1].credit_msgs <= 2 * n + 2);
}

static void sim_pattern(enum pattern pat)
{
	static const uint32_t depths[] = {3, 4, 5, 6, 7, 8, 9, 16};

	for (size_t a = 0; a < ARRAY_LEN(depths); a++) {
		for (size_t b = 0; b < ARRAY_LEN(depths); b++) {
			for (uint64_t seed = 1; seed <= 40; seed++)
				run(pat, depths[a], depths[b], seed, 300);
		}
	}
}

static void test_sim_one_way(void **state)
{
	(void)state;
	sim_pattern(ONE_WAY);
}

static void test_sim_both_ways(void **state)
{
	(void)state;
	sim_pattern(BOTH_WAYS);
}

static void test_sim_req_resp(void **state)
{
	(void)state;
	sim_pattern(REQ_RESP);
}

static void test_sim_pipeline(void **state)
{
	(void)state;
	sim_pattern(PIPELINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_and_threshold), cmocka_unit_test(test_send_rules),
	    cmocka_unit_test(test_receive_checks),     cmocka_unit_test(test_want_credit),
	    cmocka_unit_test(test_sim_one_way),	       cmocka_unit_test(test_sim_both_ways),
	    cmocka_unit_test(test_sim_req_resp),       cmocka_unit_test(test_sim_pipeline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
