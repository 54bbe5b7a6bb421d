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
	CMD_STOP_AT_OPERAND = 1 << 0, /* options end at the first operand (run) */
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

#define OPT_MAX 48

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

/* The index in cmd's option table of the option named long_name, or -1. */
int opt_find(const struct cmd_entry *cmd, const char *long_name);
/* Record a value for the option at index idx as if typed (NULL for a flag). */
void opt_record(struct cmd_ctx *ctx, int idx, const char *value);

/* Build the request's "jobs" array from the operands. */
json_t *cmd_jobs_array(const struct cmd_ctx *ctx);

/* Every command, for main and help. */
extern const struct cmd_entry *const cmd_table[];

extern const struct cmd_entry cmd_run;
extern const struct cmd_entry cmd_ls;
extern const struct cmd_entry cmd_show;
extern const struct cmd_entry cmd_log;
extern const struct cmd_entry cmd_attach;
extern const struct cmd_entry cmd_send;
extern const struct cmd_entry cmd_stop;
extern const struct cmd_entry cmd_kill;
extern const struct cmd_entry cmd_pause;
extern const struct cmd_entry cmd_resume;
extern const struct cmd_entry cmd_restart;
extern const struct cmd_entry cmd_wait;
extern const struct cmd_entry cmd_renice;
extern const struct cmd_entry cmd_limit;
extern const struct cmd_entry cmd_stats;
extern const struct cmd_entry cmd_plot;
extern const struct cmd_entry cmd_monitor;
extern const struct cmd_entry cmd_analyze;
extern const struct cmd_entry cmd_diagnose;
extern const struct cmd_entry cmd_top;
extern const struct cmd_entry cmd_gpu;
extern const struct cmd_entry cmd_queue;
extern const struct cmd_entry cmd_start;
extern const struct cmd_entry cmd_rm;
extern const struct cmd_entry cmd_prune;
extern const struct cmd_entry cmd_export;
extern const struct cmd_entry cmd_systemd_unit;
extern const struct cmd_entry cmd_completion;
extern const struct cmd_entry cmd_daemon;
extern const struct cmd_entry cmd_help;
extern const struct cmd_entry cmd_version;

/* Exit status for usage errors. */
#define EXIT_USAGE 2

#endif
