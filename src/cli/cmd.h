/*
 * The command table. Each command family lives in src/cli/<name>.c and
 * exports `struct cmd_entry`s: name, synopsis, options, argument counts,
 * flags and handler. main.c dispatches from the table; options are parsed
 * from the entry's spec (GNU style: options may follow operands, except
 * after "--", or after the COMMAND of `run`), and `--help` is generated.
 */
#ifndef TRAINCTL_CMD_H
#define TRAINCTL_CMD_H

#include <jansson.h>

#include "lib/err.h"
#include "lib/paths.h"

enum opt_arg { OPT_FLAG, OPT_VALUE };

struct opt_spec {
	int key;               /* a short option letter, or >= 256 for long-only */
	const char *long_name;
	enum opt_arg arg;
	const char *value_name; /* "DUR", "SIG", ... */
	const char *help;
};

enum cmd_flags {
	CMD_HIDDEN = 1 << 0,          /* not listed by --help */
	CMD_STOP_AT_OPERAND = 1 << 1, /* options end at the first operand (run) */
};

struct cmd_ctx;

struct cmd_entry {
	const char *name;
	const char *synopsis; /* operands, e.g. "JOB..." */
	const char *brief;    /* one line for the command list */
	const char *summary;  /* the paragraph of --help */
	const struct opt_spec *opts; /* terminated by { 0 } */
	int min_args;
	int max_args; /* -1: any number */
	unsigned flags;
	int (*fn)(struct cmd_ctx *ctx);
	const char *details; /* extra paragraph for --help, or NULL */
};

#define OPT_MAX 32

struct cmd_ctx {
	const struct cmd_entry *cmd;
	int argc; /* operands only */
	char **argv;
	int counts[OPT_MAX];
	const char *values[OPT_MAX];
	char **lists[OPT_MAX]; /* every value of a repeated option, NULL-terminated */
	struct paths paths;
	struct err err;
};

/* Parse argv (after the command name) into ctx; usage errors fill ctx->err. */
int cmd_parse(const struct cmd_entry *cmd, int argc, char **argv, struct cmd_ctx *ctx);
void cmd_ctx_release(struct cmd_ctx *ctx);
void cmd_print_help(const struct cmd_entry *cmd, FILE *out);

/* How many times option key was given, and its last value (or NULL). */
int opt_count(const struct cmd_ctx *ctx, int key);
const char *opt_value(const struct cmd_ctx *ctx, int key);
/* Every value of a repeatable option, NULL-terminated (never NULL itself). */
char *const *opt_values(const struct cmd_ctx *ctx, int key);

/* Build the request's "jobs" array from the operands. */
json_t *cmd_jobs_array(const struct cmd_ctx *ctx);

/* Every command, for main and help. */
extern const struct cmd_entry *const cmd_table[];

extern const struct cmd_entry cmd_attach, cmd_send, cmd_restart, cmd_renice, cmd_limit, cmd_stats, cmd_plot, cmd_monitor, cmd_analyze, cmd_run, cmd_ls, cmd_show, cmd_log, cmd_stop, cmd_kill, cmd_pause,
	cmd_resume, cmd_wait, cmd_rm, cmd_prune, cmd_queue, cmd_start, cmd_daemon, cmd_shim, cmd_help, cmd_version;

/* Exit status for usage errors. */
#define EXIT_USAGE 2

#endif
