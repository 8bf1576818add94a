// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rstguard: the command table, global options, and the one place errors become exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "version.h"

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "attach", do_attach, "attach the filter to interfaces (it stays after exit)" },
	{ "detach", do_detach, "remove it from interfaces, or everything with --all" },
	{ "status", do_status, "attached interfaces, modes, programs, flow-table fill" },
	{ "policy", do_policy, "show or change policy and scope, live" },
	{ "stats", do_stats, "counters per interface and reason; --watch for rates" },
	{ "flows", do_flows, "tracked flows with state and sequence bookkeeping" },
	{ "save", do_save, "write the live configuration as rstguard commands (-o FILE)" },
	{ "apply", do_apply, "make the live state equal to a configuration file" },
	{ "capture", do_capture, "dropped packets, sampled, to a pcap file or the terminal" },
	{ "metrics", do_metrics, "Prometheus exposition once, to stdout or a file (-o)" },
	{ "serve", do_serve, "HTTP endpoint for Prometheus, read at every scrape" },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: rstguard [-v] [-j] [--pin-dir DIR] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n"
		   "Options (accepted before or after COMMAND):\n"
		   "  -v, --verbose     more detail; repeat for library output (-vv, -vvv)\n"
		   "  -j, --json        machine-readable output; errors as {\"error\": \"...\"}\n"
		   "  --pin-dir DIR     where maps and links are pinned (default %s,\n"
		   "                    or $RSTGUARD_PIN_DIR)\n"
		   "  -h, --help        this text; 'rstguard COMMAND --help' for a command\n"
		   "\n"
		   "Exit status: 0 ok, 1 runtime or kernel error, 2 usage or invalid input.\n"
		   "See rstguard(8).\n",
		RG_DEFAULT_PIN_DIR);
}

/* The command's result becomes the exit status; its error is printed exactly once. */
static int finish(int rc)
{
	const char *msg = rg_last_error();

	if (rc == RC_OK)
		return RC_OK;
	if (rc == RC_UNHEALTHY) {
		fflush(stdout);
		fprintf(stderr, "rstguard: %s\n", msg);
		return RC_ERR;
	}
	if (rc != RC_USAGE)
		rc = RC_ERR;
	if (!*msg)
		msg = "failed";
	if (cli.json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "error", json_object_new_string(msg));
		json_print(o);
	} else {
		fprintf(stderr, "rstguard: %s\n", msg);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { RG_COMMON_LONGOPTS, { "version", no_argument, NULL, 'V' }, {} };
	const char *env = getenv("RSTGUARD_PIN_DIR");
	int c;

	if (env && *env)
		cli.pin_dir = env;
	rg_log_init_libs();
	/* '+': stop at the command; everything after it is the command's to parse. */
	while ((c = getopt_long(argc, argv, "+:" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			usage(stdout);
			return RC_OK;
		case 'V':
			printf("rstguard %s\n", rg_version);
			return RC_OK;
		default:
			return finish(bad_opt("", c, argv));
		}
	}
	if (optind >= argc) {
		if (!cli.json)
			usage(stderr);
		return finish(rg_fail(RC_USAGE, "no command given"));
	}
	if (!strcmp(argv[optind], "help")) {
		usage(stdout);
		return RC_OK;
	}
	for (size_t i = 0; i < NCMDS; i++) {
		if (strcmp(argv[optind], cmds[i].name))
			continue;
		argc -= optind;
		argv += optind;
		/* Reset getopt: the command parses its own argv from the start. */
		optind = 0;
		return finish(cmds[i].fn(argc, argv));
	}
	return finish(rg_fail(RC_USAGE, "unknown command '%s'; see 'rstguard --help'", argv[optind]));
}
