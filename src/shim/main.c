/*
 * trainctl-shim: the per-job supervisor as its own small executable. The
 * daemon execs it once for every job it starts (`trainctl-shim --id N`,
 * the spec on stdin, the report pipe as fd 3; see shim.h). It is linked
 * apart from trainctl, without SQLite or ncurses and with only the library
 * files it uses, because one runs for every live job and what counts is
 * the memory each one holds (docs/ARCHITECTURE.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "lib/parse.h"
#include "shim/shim.h"

#define SHIM_USAGE "usage: trainctl-shim --id N (the supervisor of job N, started by the " \
		   "trainctl daemon with the job's spec on stdin and a report pipe as fd 3)"

/* A usage error: one line naming what was wrong and what was expected. */
static int shim_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "trainctl-shim: %s%s%s%s (expected: trainctl-shim --id N, as the trainctl "
		"daemon starts it)\n", what, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *id_text = NULL;
	int opt, id;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1) {
		if (opt == 'i')
			id_text = optarg;
		else if (opt == 'h')
			return puts(SHIM_USAGE) < 0;
		else if (opt == ':')
			return shim_usage_error("--id needs a value", NULL);
		else
			return shim_usage_error("unknown option", argv[optind - 1]);
	}
	if (optind < argc)
		return shim_usage_error("unexpected operand", argv[optind]);
	if (!id_text)
		return shim_usage_error("missing --id", NULL);
	if (parse_uint(id_text, &id) < 0 || id <= 0)
		return shim_usage_error("bad job id", id_text);
	return shim_run(id);
}
