#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_OPTS 64

void cli_usage(const struct cli *cli, FILE *out)
{
	const struct cli_opt *o;

	fprintf(out, "Usage: %s %s\n\n%s\n\nOptions:\n", cli->prog, cli->usage, cli->summary);
	for (o = cli->opts; o->name; o++) {
		char left[64];
		int n;

		if (o->short_name)
			n = snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->name);
		else
			n = snprintf(left, sizeof(left), "    --%s", o->name);
		if (o->arg && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->arg);
		fprintf(out, "  %-30s %s\n", left, o->help);
	}
	fprintf(out, "  %-30s %s\n", "    --config FILE",
		"read settings from an INI file (flags override it)");
	fprintf(out, "  %-30s %s\n", "-h, --help", "show this help and exit");
	fprintf(out, "  %-30s %s\n", "-V, --version", "show the version and exit");
	if (cli->epilog)
		fprintf(out, "\n%s", cli->epilog);
}

enum { OPT_CONFIG = 1000, OPT_HELP, OPT_VERSION, OPT_TABLE_BASE = 2000 };

static int build(const struct cli *cli, struct option *lo, char *so, size_t solen)
{
	size_t n = 0, sp = 0;
	const struct cli_opt *o;

	so[sp++] = ':';
	for (o = cli->opts; o->name && n < MAX_OPTS - 4; o++, n++) {
		lo[n].name = o->name;
		lo[n].has_arg = o->arg ? required_argument : no_argument;
		lo[n].flag = NULL;
		lo[n].val = o->short_name ? o->short_name : OPT_TABLE_BASE + (int)n;
		if (o->short_name && sp + 3 < solen) {
			so[sp++] = (char)o->short_name;
			if (o->arg)
				so[sp++] = ':';
		}
	}
	lo[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
	lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n++] = (struct option){"version", no_argument, NULL, 'V'};
	lo[n] = (struct option){0};
	so[sp++] = 'h';
	so[sp++] = 'V';
	so[sp] = '\0';
	return 0;
}

static const struct cli_opt *find(const struct cli *cli, int val)
{
	const struct cli_opt *o;
	int n = 0;

	for (o = cli->opts; o->name; o++, n++)
		if ((o->short_name && o->short_name == val) || val == OPT_TABLE_BASE + n)
			return o;
	return NULL;
}

enum cli_result cli_parse(const struct cli *cli, int argc, char **argv, int *first_positional)
{
	struct option lo[MAX_OPTS];
	char so[2 * MAX_OPTS + 8], err[512];
	int c, pass;

	build(cli, lo, so, sizeof(so));
	/* Pass 0 loads --config and handles --help/--version; pass 1 applies the flags. */
	for (pass = 0; pass < 2; pass++) {
		optind = 0;
		opterr = 0;
		while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
			const struct cli_opt *o;

			if (c == '?' || c == ':') {
				if (pass == 0) {
					if (c == ':')
						fprintf(stderr, "%s: option %s needs an argument\n",
							cli->prog, argv[optind - 1]);
					else
						fprintf(stderr, "%s: unknown option %s\n",
							cli->prog, argv[optind - 1]);
					fprintf(stderr, "Try '%s --help'.\n", cli->prog);
					return CLI_EXIT_USAGE;
				}
				continue;
			}
			if (c == 'h' || c == 'V') {
				if (pass == 1)
					continue;
				if (c == 'h')
					cli_usage(cli, stdout);
				else
					printf("%s %s\n", cli->prog, SRDMA_VERSION);
				return CLI_EXIT_OK;
			}
			if (c == OPT_CONFIG) {
				if (pass == 0 && cli->load(cli->cfg, optarg, err, sizeof(err))) {
					fprintf(stderr, "%s: %s\n", cli->prog, err);
					return CLI_EXIT_USAGE;
				}
				continue;
			}
			if (pass == 0)
				continue;
			o = find(cli, c);
			if (!o || !o->key)
				continue;
			if (cli->set(cli->cfg, o->key, o->arg ? optarg : "1", err, sizeof(err))) {
				fprintf(stderr, "%s: --%s: %s\n", cli->prog, o->name, err);
				return CLI_EXIT_USAGE;
			}
		}
	}
	*first_positional = optind;
	return CLI_OK;
}
