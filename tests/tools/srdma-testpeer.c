/* srdma-testpeer: a client that misbehaves on purpose, or exposes its session, for tests.
 *
 *   srdma-testpeer [--ca FILE] [-p PORT] [-s SIZE] [--timeout-ms MS] [--dataplane
 * aead|chacha20|plain] MODE SERVER
 *
 * MODE:
 *   outside  RDMA-write just past the end of the session's own region (right rkey)
 *   badrkey  RDMA-write into the region with a wrong rkey
 *   steal    open a victim session B and an attacker session A; A writes into B's region
 *            with B's address and rkey; then B checks its region is unchanged and carries on
 *   hold     print the session's secrets as JSON, then obey stdin lines: "echo N", "write",
 *            "verify", "quit" (answers "ok" or "error: ...")
 *
 * The attack modes print one JSON object and exit 0 when the attack was refused (the write
 * failed and, for steal, the victim was untouched), 1 when it was not, 2 on a set-up error. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srdma/client.h>
#include <srdma/config.h>

static struct srdma_client_config cfg;

static void usage(void)
{
	fprintf(stderr, "usage: srdma-testpeer [--ca FILE] [-p PORT] [-s SIZE] [--timeout-ms MS] "
			"outside|badrkey|steal|hold SERVER\n");
	exit(2);
}

static struct srdma_client *connect_or_die(const char *pattern)
{
	struct srdma_client_config c = cfg;
	struct srdma_client *cl;
	char err[512];

	snprintf(c.pattern, sizeof(c.pattern), "%s", pattern);
	if (srdma_client_connect(&c, &cl, err, sizeof(err))) {
		printf("{\"setup_error\":\"%s\"}\n", err);
		exit(2);
	}
	return cl;
}

static void fill(uint8_t *buf, uint32_t len, const char *pattern)
{
	size_t n = strlen(pattern);
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)pattern[i % n];
}

/* One session writes (and has verified) its own pattern, then makes the hostile write. */
static int attack_own_region(int wrong_rkey)
{
	struct srdma_client *cl = connect_or_die("hostile");
	struct srdma_params p;
	uint8_t *buf = malloc(cfg.size);
	uint64_t addr;
	uint32_t rkey;
	int ret;

	fill(buf, cfg.size, "legitimate");
	if (srdma_client_write(cl, buf, cfg.size, 0)) {
		printf("{\"setup_error\":\"%s\"}\n", srdma_client_errmsg(cl));
		return 2;
	}
	srdma_client_get_remote(cl, &p);
	addr = wrong_rkey ? p.write_addr : p.write_addr + p.write_len;
	/* rxe and most devices keep a key byte in the low bits of an rkey: change only that. */
	rkey = wrong_rkey ? p.write_rkey ^ 0x5a : p.write_rkey;
	ret = srdma_client_write_raw(cl, cfg.size, addr, rkey);
	printf("{\"mode\":\"%s\",\"attack_refused\":%s,\"error\":\"%s\"}\n",
	       wrong_rkey ? "badrkey" : "outside", ret ? "true" : "false",
	       ret ? srdma_client_errmsg(cl) : "");
	srdma_client_close(cl);
	free(buf);
	return ret ? 0 : 1;
}

static int attack_other_session(void)
{
	struct srdma_client *b = connect_or_die("victim"), *a = connect_or_die("attacker");
	uint8_t *mine = malloc(cfg.size), *evil = malloc(cfg.size);
	struct srdma_params pb;
	int refused, unchanged, carried_on;

	fill(mine, cfg.size, "victim-bytes");
	fill(evil, cfg.size, "ATTACKER");
	if (srdma_client_write(b, mine, cfg.size, 0) || srdma_client_write(a, evil, cfg.size, 0)) {
		printf("{\"setup_error\":\"%s\"}\n", srdma_client_errmsg(b));
		return 2;
	}
	srdma_client_get_remote(b, &pb);
	refused = srdma_client_write_raw(a, cfg.size, pb.write_addr, pb.write_rkey) != 0;
	unchanged = srdma_client_verify(b, mine, cfg.size, 0) == 0;
	carried_on =
	    unchanged && srdma_client_echo(b, mine, cfg.size) == 0 && srdma_client_quit(b) == 0;
	printf("{\"mode\":\"steal\",\"attack_refused\":%s,\"attacker_error\":\"%s\","
	       "\"victim_region_unchanged\":%s,\"victim_carried_on\":%s,\"victim_error\":\"%s\"}\n",
	       refused ? "true" : "false", srdma_client_errmsg(a), unchanged ? "true" : "false",
	       carried_on ? "true" : "false", carried_on ? "" : srdma_client_errmsg(b));
	srdma_client_close(a);
	srdma_client_close(b);
	free(mine);
	free(evil);
	return refused && unchanged && carried_on ? 0 : 1;
}

static int hold(void)
{
	struct srdma_client *cl = connect_or_die("held");
	struct srdma_client_info info;
	struct srdma_params p;
	uint8_t *buf = malloc(cfg.size);
	char line[256];

	srdma_client_get_info(cl, &info);
	srdma_client_get_remote(cl, &p);
	printf("{\"server_qpn\":%u,\"client_qpn\":%u,\"rkey\":%u,\"addr\":%llu,"
	       "\"write_len\":%u,\"local_psn\":%u,\"remote_psn\":%u,\"dataplane\":\"%s\"}\n",
	       p.qpn, info.local_qpn, p.write_rkey, (unsigned long long)p.write_addr, p.write_len,
	       info.local_psn, info.remote_psn, srdma_dp_mode_name(info.dataplane));
	fflush(stdout);
	fill(buf, cfg.size, "held-session");
	while (fgets(line, sizeof(line), stdin)) {
		unsigned n = 0, i;
		int ret = 0;

		if (sscanf(line, "echo %u", &n) == 1) {
			for (i = 0; i < n && !ret; i++)
				ret = srdma_client_echo(cl, buf, cfg.size);
		} else if (strncmp(line, "write", 5) == 0) {
			ret = srdma_client_write(cl, buf, cfg.size, 0);
		} else if (strncmp(line, "verify", 6) == 0) {
			ret = srdma_client_verify(cl, buf, cfg.size, 0);
		} else if (strncmp(line, "quit", 4) == 0) {
			ret = srdma_client_quit(cl);
			printf(ret ? "error: %s\n" : "ok\n", srdma_client_errmsg(cl));
			break;
		} else {
			printf("error: unknown command\n");
			fflush(stdout);
			continue;
		}
		printf(ret ? "error: %s\n" : "ok\n", srdma_client_errmsg(cl));
		fflush(stdout);
	}
	srdma_client_close(cl);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"ca", required_argument, NULL, 'c'},
	    {"port", required_argument, NULL, 'p'},
	    {"size", required_argument, NULL, 's'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"dataplane", required_argument, NULL, 'D'},
	    {0},
	};
	char err[512];
	const char *mode;
	int c;

	signal(SIGPIPE, SIG_IGN);
	srdma_client_config_defaults(&cfg);
	cfg.writes = 1; /* every mode needs a local write buffer */
	while ((c = getopt_long(argc, argv, "p:s:", lo, NULL)) != -1) {
		const char *key = c == 'c'   ? "ca"
				  : c == 'p' ? "port"
				  : c == 's' ? "size"
				  : c == 't' ? "timeout_ms"
				  : c == 'D' ? "dataplane"
					     : NULL;

		if (!key || srdma_client_config_set(&cfg, key, optarg, err, sizeof(err))) {
			if (key)
				fprintf(stderr, "srdma-testpeer: %s\n", err);
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	mode = argv[optind];
	if (srdma_client_config_set(&cfg, "host", argv[optind + 1], err, sizeof(err)) ||
	    srdma_client_config_validate(&cfg, err, sizeof(err))) {
		fprintf(stderr, "srdma-testpeer: %s\n", err);
		usage();
	}
	if (strcmp(mode, "outside") == 0)
		return attack_own_region(0);
	if (strcmp(mode, "badrkey") == 0)
		return attack_own_region(1);
	if (strcmp(mode, "steal") == 0)
		return attack_other_session();
	if (strcmp(mode, "hold") == 0)
		return hold();
	usage();
	return 2;
}
