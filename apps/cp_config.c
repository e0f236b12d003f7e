/* srdma-cp settings: one setter for flags and config-file keys, an INI loader (section [cp]),
 * and the access list that maps a client certificate's CN to what it may read and write. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "cp.h"

void cp_config_defaults(struct cp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port = SRDMA_PORT_DEFAULT;
	cfg->tls_min = 13;
	cfg->ib_port = 1;
	cfg->gid_index = -1;
	cfg->dataplane = SRDMA_DP_AEAD;
	cfg->timeout_ms = 10000;
	cfg->busy_poll_us = 0;
	cfg->depth = 8;
	cfg->chunk = CP_CHUNK_DEFAULT;
	cfg->log_level = 1;
	cfg->max_clients = 16;
	cfg->progress = -1;
	snprintf(cfg->bind, sizeof(cfg->bind), "0.0.0.0");
}

static int key_is(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		int x = *a == '-' ? '_' : (*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a);
		int y = *b == '-' ? '_' : *b;

		if (x != y)
			return 0;
	}
	return *a == *b;
}

static int set_str(char *dst, size_t cap, const char *v, char *err, size_t errlen)
{
	if (strlen(v) >= cap) {
		snprintf(err, errlen, "value too long (at most %zu characters)", cap - 1);
		return -EINVAL;
	}
	snprintf(dst, cap, "%s", v);
	return 0;
}

static int set_uint(unsigned *dst, const char *v, unsigned long min, unsigned long max, char *err,
		    size_t errlen)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max || *v == '-' || *v == '+') {
		snprintf(err, errlen, "'%s' is not a number from %lu to %lu", v, min, max);
		return -EINVAL;
	}
	*dst = (unsigned)n;
	return 0;
}

/* "64k", "1m", "1048576": bytes. */
static int set_size(unsigned *dst, const char *v, unsigned min, unsigned max, char *err,
		    size_t errlen)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (*end == 'k' || *end == 'K')
		n <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		n <<= 20, end++;
	if (!*v || *end || errno || n < min || n > max || n % 4096) {
		snprintf(err, errlen, "'%s' is not a size from %u to %u bytes in 4 KiB steps", v,
			 min, max);
		return -EINVAL;
	}
	*dst = (unsigned)n;
	return 0;
}

static int set_bool(int *dst, const char *v, char *err, size_t errlen)
{
	if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on"))
		*dst = 1;
	else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
		 !strcasecmp(v, "off"))
		*dst = 0;
	else {
		snprintf(err, errlen, "'%s' is not a boolean (true or false)", v);
		return -EINVAL;
	}
	return 0;
}

/* CN:PERM[:SUBDIR], PERM one of r, w, rw. */
static int add_allow(struct cp_config *cfg, const char *v, char *err, size_t errlen)
{
	struct cp_allow *a;
	const char *c1, *perm, *sub = "";
	char permbuf[8], cn[sizeof(a->cn)];
	size_t n;

	if (cfg->nallow >= CP_MAX_ALLOW) {
		snprintf(err, errlen, "more than %d allow entries", CP_MAX_ALLOW);
		return -EINVAL;
	}
	a = &cfg->allow[cfg->nallow];
	/* Split at the first ':' after the CN; a CN may not contain ':' here. */
	c1 = strchr(v, ':');
	if (!c1 || c1 == v || (size_t)(c1 - v) >= sizeof(cn))
		goto bad;
	memcpy(cn, v, (size_t)(c1 - v));
	cn[c1 - v] = '\0';
	perm = c1 + 1;
	n = strcspn(perm, ":");
	if (n == 0 || n >= sizeof(permbuf))
		goto bad;
	memcpy(permbuf, perm, n);
	permbuf[n] = '\0';
	if (perm[n] == ':')
		sub = perm + n + 1;
	memset(a, 0, sizeof(*a));
	snprintf(a->cn, sizeof(a->cn), "%s", cn);
	if (!strcmp(permbuf, "r"))
		a->perm = CP_PERM_READ;
	else if (!strcmp(permbuf, "w"))
		a->perm = CP_PERM_WRITE;
	else if (!strcmp(permbuf, "rw") || !strcmp(permbuf, "wr"))
		a->perm = CP_PERM_READ | CP_PERM_WRITE;
	else if (!strcmp(permbuf, "none"))
		a->perm = 0;
	else
		goto bad;
	if (*sub) {
		if (cp_path_clean(sub, a->subdir, sizeof(a->subdir))) {
			snprintf(err, errlen,
				 "allow '%s': subdirectory must stay inside the export", v);
			return -EINVAL;
		}
		if (!strcmp(a->subdir, "."))
			a->subdir[0] = '\0';
	}
	cfg->nallow++;
	return 0;
bad:
	snprintf(err, errlen, "allow '%s': expected CN:PERM[:SUBDIR], PERM r, w, rw or none", v);
	return -EINVAL;
}

int cp_config_set(void *p, const char *key, const char *v, char *err, size_t errlen)
{
	struct cp_config *cfg = p;
	unsigned u;
	int ret;

	if (key_is(key, "port")) {
		if ((ret = set_uint(&u, v, 1, 65535, err, errlen)))
			return ret;
		cfg->port = (uint16_t)u;
		return 0;
	}
	if (key_is(key, "ca"))
		return set_str(cfg->ca, sizeof(cfg->ca), v, err, errlen);
	if (key_is(key, "server_name"))
		return set_str(cfg->server_name, sizeof(cfg->server_name), v, err, errlen);
	if (key_is(key, "cert"))
		return set_str(cfg->cert, sizeof(cfg->cert), v, err, errlen);
	if (key_is(key, "key"))
		return set_str(cfg->key, sizeof(cfg->key), v, err, errlen);
	if (key_is(key, "tls_min")) {
		if (!strcmp(v, "1.2") || !strcmp(v, "12"))
			cfg->tls_min = 12;
		else if (!strcmp(v, "1.3") || !strcmp(v, "13"))
			cfg->tls_min = 13;
		else {
			snprintf(err, errlen, "'%s' is not a TLS version (1.2 or 1.3)", v);
			return -EINVAL;
		}
		return 0;
	}
	if (key_is(key, "device"))
		return set_str(cfg->device, sizeof(cfg->device), v, err, errlen);
	if (key_is(key, "ib_port"))
		return set_uint(&cfg->ib_port, v, 1, 255, err, errlen);
	if (key_is(key, "gid_index")) {
		if (!strcmp(v, "auto") || !strcmp(v, "-1")) {
			cfg->gid_index = -1;
			return 0;
		}
		if ((ret = set_uint(&u, v, 0, 255, err, errlen)))
			return ret;
		cfg->gid_index = (int)u;
		return 0;
	}
	if (key_is(key, "dataplane")) {
		if (!strcasecmp(v, "aead"))
			cfg->dataplane = SRDMA_DP_AEAD;
		else if (!strcasecmp(v, "chacha20"))
			cfg->dataplane = SRDMA_DP_CHACHA20;
		else if (!strcasecmp(v, "plain"))
			cfg->dataplane = SRDMA_DP_PLAIN;
		else {
			snprintf(err, errlen,
				 "'%s' is not a data-plane mode (aead, chacha20, plain)", v);
			return -EINVAL;
		}
		return 0;
	}
	if (key_is(key, "timeout_ms"))
		return set_uint(&cfg->timeout_ms, v, 100, 600000, err, errlen);
	if (key_is(key, "busy_poll_us"))
		return set_uint(&cfg->busy_poll_us, v, 0, 100000, err, errlen);
	if (key_is(key, "depth"))
		return set_uint(&cfg->depth, v, 1, CP_MAX_DEPTH, err, errlen);
	if (key_is(key, "chunk_size"))
		return set_size(&cfg->chunk, v, CP_CHUNK_MIN, CP_CHUNK_MAX, err, errlen);
	if (key_is(key, "log_level")) {
		static const char *const names[] = {"error", "warn", "info", "debug"};

		for (u = 0; u < 4; u++) {
			if (!strcasecmp(v, names[u])) {
				cfg->log_level = (int)u;
				return 0;
			}
		}
		snprintf(err, errlen, "'%s' is not a log level (error, warn, info, debug)", v);
		return -EINVAL;
	}
	if (key_is(key, "serve"))
		return set_str(cfg->serve, sizeof(cfg->serve), v, err, errlen);
	if (key_is(key, "bind"))
		return set_str(cfg->bind, sizeof(cfg->bind), v, err, errlen);
	if (key_is(key, "client_ca"))
		return set_str(cfg->client_ca, sizeof(cfg->client_ca), v, err, errlen);
	if (key_is(key, "max_clients"))
		return set_uint(&cfg->max_clients, v, 1, 1024, err, errlen);
	if (key_is(key, "allow"))
		return add_allow(cfg, v, err, errlen);
	if (key_is(key, "recursive"))
		return set_bool(&cfg->recursive, v, err, errlen);
	if (key_is(key, "json"))
		return set_bool(&cfg->json, v, err, errlen);
	if (key_is(key, "verify"))
		return set_bool(&cfg->verify, v, err, errlen);
	if (key_is(key, "no_encrypt"))
		return set_bool(&cfg->no_encrypt, v, err, errlen);
	if (key_is(key, "quiet"))
		return set_bool(&cfg->quiet, v, err, errlen);
	if (key_is(key, "progress"))
		return set_bool(&cfg->progress, v, err, errlen);
	if (key_is(key, "no_progress")) {
		int b;

		if ((ret = set_bool(&b, v, err, errlen)))
			return ret;
		cfg->progress = b ? 0 : cfg->progress;
		return 0;
	}
	snprintf(err, errlen, "unknown key '%s'", key);
	return -EINVAL;
}

struct load_state {
	struct cp_config *cfg;
	int line;
	char msg[512];
};

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *ls = user;
	char msg[400];

	if (ls->msg[0])
		return 0;
	if (*section && strcasecmp(section, "cp")) {
		snprintf(ls->msg, sizeof(ls->msg), "unknown section [%s] (expected [cp])", section);
		return 0;
	}
	if (cp_config_set(ls->cfg, name, value, msg, sizeof(msg))) {
		snprintf(ls->msg, sizeof(ls->msg), "%s: %s", name, msg);
		return 0;
	}
	return 1;
}

/* A failed load leaves cfg as it was. */
int cp_config_load(void *p, const char *path, char *err, size_t errlen)
{
	struct cp_config *cfg = p, *tmp;
	struct load_state ls = {0};
	FILE *f;
	int ret;

	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	tmp = malloc(sizeof(*tmp));
	if (!tmp) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*tmp = *cfg;
	ls.cfg = tmp;
	ret = ini_parse_file(f, on_value, &ls);
	fclose(f);
	if (ret || ls.msg[0]) {
		if (ls.msg[0])
			snprintf(err, errlen, "%s:%d: %s", path, ret > 0 ? ret : 0, ls.msg);
		else
			snprintf(err, errlen,
				 "%s:%d: syntax error (expected \"key = value\", [cp] "
				 "or a comment)",
				 path, ret);
		free(tmp);
		return -EINVAL;
	}
	*cfg = *tmp;
	free(tmp);
	return 0;
}

/* rel is inside sub (equal to it or below it). */
static int under(const char *rel, const char *sub)
{
	size_t n = strlen(sub);

	if (!n)
		return 1;
	return !strncmp(rel, sub, n) && (rel[n] == '\0' || rel[n] == '/');
}

/* The first entry naming cn exactly, else the first "*" entry, decides; an entry grants its
 * permissions only under its subdirectory. No entry: nothing. */
unsigned cp_acl_lookup(const struct cp_config *cfg, const char *cn, const char *rel)
{
	unsigned i, perm = 0;
	int named = 0;

	for (i = 0; i < cfg->nallow; i++) {
		if (!strcmp(cfg->allow[i].cn, cn)) {
			named = 1;
			if (under(rel, cfg->allow[i].subdir))
				perm |= cfg->allow[i].perm;
		}
	}
	if (named)
		return perm;
	for (i = 0; i < cfg->nallow; i++)
		if (!strcmp(cfg->allow[i].cn, "*") && under(rel, cfg->allow[i].subdir))
			perm |= cfg->allow[i].perm;
	return perm;
}
