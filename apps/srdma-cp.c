/* srdma-cp: copy files between authenticated hosts over RDMA. One program, both ends:
 *
 *   srdma-cp --serve DIR --cert C --key K --client-ca CA --allow CN:rw   (export DIR)
 *   srdma-cp --ca CA --cert C --key K FILE HOST:PATH                     (upload)
 *   srdma-cp --ca CA --cert C --key K HOST:PATH FILE                     (download)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "cp.h"

static struct cli_opt opts[] = {
    CLI_CLIENT_OPTS,
    {"chunk-size", 0, "SIZE", "chunk_size",
     "bytes per RDMA chunk, 4k..16m in 4 KiB steps (default 1m; the server's is the maximum)"},
    {"recursive", 'r', NULL, "recursive", "copy a directory tree"},
    {"verify", 0, NULL, "verify", "after the copy, re-read the destination and check its SHA-256"},
    {"no-encrypt", 0, NULL, "no_encrypt",
     "sealed modes: authenticate chunks but do not encrypt them (data encrypted at rest)"},
    {"json", 0, NULL, "json", "print one JSON summary (bytes, seconds, MiB/s, sha256)"},
    {"quiet", 'q', NULL, "quiet", "no progress bar and no summary line"},
    {"progress", 0, NULL, "progress", "show the progress bar even when stderr is not a TTY"},
    {"serve", 0, "DIR", "serve", "server mode: export DIR"},
    {"bind", 0, "ADDR", "bind", "server: listen address (default 0.0.0.0)"},
    {"client-ca", 0, "FILE", "client_ca",
     "server: CA that must sign client certificates (required: mutual TLS)"},
    {"allow", 0, "CN:PERM[:SUBDIR]", "allow",
     "server: the client certificate CN (\"*\": any) may read (r), write (w) or both (rw) "
     "under SUBDIR of the export (default: all of it); repeatable"},
    {"max-clients", 'm', "N", "max_clients", "server: sessions at once (default 16)"},
    {0},
};

static void print_json(const struct cp_config *cfg, const struct cp_summary *s, int ok)
{
	struct json_object *o = json_object_new_object();
	double mibs = s->seconds > 0 ? (double)s->bytes / 1048576.0 / s->seconds : 0;
	static const char *const modes[] = {"plain", "aead", "chacha20"};

	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "files", json_object_new_int64(s->files));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)s->bytes));
	json_object_object_add(o, "seconds", json_object_new_double(s->seconds));
	json_object_object_add(o, "mib_s", json_object_new_double(mibs));
	json_object_object_add(o, "connect_seconds", json_object_new_double(s->connect_seconds));
	json_object_object_add(o, "sha256", json_object_new_string(s->sha256));
	json_object_object_add(o, "dataplane", json_object_new_string(modes[cfg->dataplane]));
	json_object_object_add(
	    o, "encrypted",
	    json_object_new_boolean(cfg->dataplane != SRDMA_DP_PLAIN && !cfg->no_encrypt));
	json_object_object_add(o, "chunk_size", json_object_new_int64(cfg->chunk));
	json_object_object_add(o, "depth", json_object_new_int64(cfg->depth));
	if (!ok)
		json_object_object_add(o, "error", json_object_new_string(s->err));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

int main(int argc, char **argv)
{
	struct cp_config cfg;
	struct cp_summary sum = {0};
	struct cli cli = {
	    .prog = "srdma-cp",
	    .usage = "[options] FILE HOST:PATH | [options] HOST:PATH FILE | --serve DIR [options]",
	    .summary = "Copy files between hosts over RDMA, on a connection set up inside mutual "
		       "TLS. Bulk data\nmoves by RDMA WRITE (upload) or READ (download); in the "
		       "sealed data-plane modes\nevery chunk is authenticated and encrypted. The "
		       "receiver checks the file's SHA-256\nbefore it renames the copy into place.",
	    .epilog =
		"Exit status: 0 copied and verified; 1 the copy failed (nothing is left under "
		"the\ndestination's name); 2 usage error. See srdma-cp(1).\n",
	    .opts = opts,
	    .set = cp_config_set,
	    .load = cp_config_load,
	    .cfg = &cfg,
	};
	int first, ret;

	/* The shared client options, with srdma-cp's own defaults in their help. */
	for (struct cli_opt *o = opts; o->name; o++) {
		if (!strcmp(o->name, "busy-poll-us"))
			o->help =
			    "spin for completions this long before sleeping (default 0: under "
			    "Soft-RoCE a spin takes the CPU the device needs)";
		else if (!strcmp(o->name, "depth"))
			o->help =
			    "chunks in flight, 1..32 (default 8; the server's is the maximum)";
	}
	cp_config_defaults(&cfg);
	switch (cli_parse(&cli, argc, argv, &first)) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_EXIT_USAGE:
		return 2;
	case CLI_OK:
		break;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg.serve[0]) {
		if (argc - first) {
			fprintf(stderr, "srdma-cp: --serve takes no FILE arguments\n"
					"Try 'srdma-cp --help'.\n");
			return 2;
		}
		if (!cfg.cert[0] || !cfg.key[0] || !cfg.client_ca[0]) {
			fprintf(stderr, "srdma-cp: --serve needs --cert, --key and --client-ca "
					"(clients are known by their certificates)\n"
					"Try 'srdma-cp --help'.\n");
			return 2;
		}
		if (!cfg.nallow)
			fprintf(stderr, "srdma-cp: warning: no --allow entry: every client will be "
					"refused\n");
		return cp_serve(&cfg);
	}
	if (argc - first != 2) {
		fprintf(stderr, "srdma-cp: SOURCE and DESTINATION expected\n"
				"Try 'srdma-cp --help'.\n");
		return 2;
	}
	if (!cfg.ca[0]) {
		fprintf(stderr, "srdma-cp: --ca is required (the server's certificate is always "
				"verified)\nTry 'srdma-cp --help'.\n");
		return 2;
	}
	if ((!cfg.cert[0]) != (!cfg.key[0])) {
		fprintf(stderr, "srdma-cp: --cert and --key go together\nTry 'srdma-cp --help'.\n");
		return 2;
	}
	ret = cp_client_run(&cfg, argv[first], argv[first + 1], &sum);
	if (ret == -EINVAL && !sum.files && !sum.bytes && strstr(sum.err, "HOST:PATH")) {
		fprintf(stderr, "srdma-cp: %s\nTry 'srdma-cp --help'.\n", sum.err);
		return 2;
	}
	if (cfg.json)
		print_json(&cfg, &sum, ret >= 0);
	else if (ret >= 0 && !cfg.quiet)
		printf("%u file%s, %llu bytes in %.3f s (%.2f MiB/s), sha256 %s\n", sum.files,
		       sum.files == 1 ? "" : "s", (unsigned long long)sum.bytes, sum.seconds,
		       sum.seconds > 0 ? (double)sum.bytes / 1048576.0 / sum.seconds : 0.0,
		       sum.sha256);
	if (ret < 0)
		fprintf(stderr, "srdma-cp: %s\n", sum.err);
	return ret < 0 ? 1 : 0;
}
