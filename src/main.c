/*
 * trainctl: the command table and dispatch. Each command lives in
 * src/cli/<family>.c; adding one is one new entry here.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/paths.h"

void help_print_overview(FILE *out);

const struct cmd_entry *const cmd_table[] = {
	&cmd_run,
	&cmd_ls,
	&cmd_show,
	&cmd_log,
	&cmd_attach,
	&cmd_send,
	&cmd_stop,
	&cmd_kill,
	&cmd_pause,
	&cmd_resume,
	&cmd_restart,
	&cmd_wait,
	&cmd_renice,
	&cmd_limit,
	&cmd_stats,
	&cmd_plot,
	&cmd_monitor,
	&cmd_analyze,
	&cmd_diagnose,
	&cmd_top,
	&cmd_gpu,
	&cmd_queue,
	&cmd_start,
	&cmd_rm,
	&cmd_prune,
	&cmd_export,
	&cmd_systemd_unit,
	&cmd_completion,
	&cmd_daemon,
	&cmd_help,
	&cmd_version,
	NULL,
};

static const struct cmd_entry *cmd_find(const char *name)
{
	for (int i = 0; cmd_table[i]; i++) {
		if (strcmp(cmd_table[i]->name, name) == 0)
			return cmd_table[i];
	}
	return NULL;
}

/* Print the error the command left, and turn it into an exit status. */
static int report(struct cmd_ctx *ctx, int ret)
{
	struct strbuf msg = STRBUF_INIT;

	if (ret >= 0)
		return ret;
	/* An error may quote a job's command or path: never let it drive the terminal. */
	format_text(ctx->err.msg[0] ? ctx->err.msg : "failed", &msg);
	fprintf(stderr, "trainctl: %s\n", msg.buf);
	strbuf_release(&msg);
	return ctx->err.usage ? EXIT_USAGE : 1;
}

int main(int argc, char **argv)
{
	struct cmd_ctx ctx = { 0 };
	const struct cmd_entry *cmd;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		help_print_overview(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		help_print_overview(stdout);
		return 0;
	}
	cmd = cmd_find(!strcmp(argv[1], "--version") ? "version" : argv[1]);
	if (!cmd) {
		fprintf(stderr, "trainctl: unknown command '%s' (see 'trainctl --help')\n", argv[1]);
		return EXIT_USAGE;
	}
	ret = cmd_parse(cmd, argc - 1, argv + 1, &ctx);
	if (ret == 1) {
		cmd_print_help(cmd, stdout);
		ret = 0;
	} else if (ret == 0 && paths_init(&ctx.paths, &ctx.err) < 0) {
		ret = -1;
	} else if (ret == 0) {
		ret = cmd->fn(&ctx);
	}
	ret = report(&ctx, ret);
	cmd_ctx_release(&ctx);
	return ret;
}
