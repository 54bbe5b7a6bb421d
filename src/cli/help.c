/* trainctl help [COMMAND] and trainctl version. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "lib/version.h"


void help_print_overview(FILE *out);

void help_print_overview(FILE *out)
{
	fprintf(out, "Usage: trainctl COMMAND [options] [ARGS]\n\n"
		     "A process manager for machine-learning training jobs.\n\nCommands:\n");
	for (int i = 0; cmd_table[i]; i++)
		fprintf(out, "  %-9s %s\n", cmd_table[i]->name, cmd_table[i]->brief);
	fprintf(out, "\nJOB is a job id or name. 'trainctl COMMAND --help' shows a command's options.\n"
		     "State lives in $TRAINCTL_HOME (default ~/.local/state/trainctl).\n"
		     "See trainctl(1) for the full manual.\n");
}

static int help_main(struct cmd_ctx *ctx)
{
	if (ctx->argc == 0) {
		help_print_overview(stdout);
		return 0;
	}
	for (int i = 0; cmd_table[i]; i++) {
		if (strcmp(cmd_table[i]->name, ctx->argv[0]) == 0) {
			cmd_print_help(cmd_table[i], stdout);
			return 0;
		}
	}
	return err_usage(&ctx->err, "help: unknown command '%s' (see 'trainctl help')", ctx->argv[0]);
}

static int version_main(struct cmd_ctx *ctx)
{
	(void)ctx;
	printf("trainctl %s\n", TRAINCTL_VERSION);
	return 0;
}

const struct cmd_entry cmd_help = {
	.name = "help",
	.brief = "list the commands, or show one command's help",
	.synopsis = "[COMMAND]",
	.summary = "Show the list of commands, or one command's options.",
	.max_args = 1,
	.fn = help_main,
};

const struct cmd_entry cmd_version = {
	.name = "version",
	.brief = "print trainctl's version",
	.synopsis = "",
	.summary = "Print trainctl's version.",
	.max_args = 0,
	.fn = version_main,
};
