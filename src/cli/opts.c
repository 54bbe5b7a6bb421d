/*
 * Option parsing for every command from its table entry, with getopt_long;
 * see cmd.h. One piece serves all commands, so no command parses by hand.
 */
#include "cli/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define KEY_HELP 1000

static int spec_count(const struct opt_spec *opts)
{
	int n = 0;

	while (opts && opts[n].long_name)
		n++;
	return n;
}

static int spec_index(const struct cmd_entry *cmd, int key)
{
	for (int i = 0; cmd->opts && cmd->opts[i].long_name; i++) {
		if (cmd->opts[i].key == key)
			return i;
	}
	return -1;
}

/* Build getopt_long's short string and long table from the spec. */
static struct option *build_getopt(const struct cmd_entry *cmd, struct strbuf *shorts)
{
	int n = spec_count(cmd->opts);
	struct option *longs = xcalloc((size_t)n + 2, sizeof(*longs));

	ASSERT(n <= OPT_MAX);

	strbuf_addstr(shorts, cmd->flags & CMD_STOP_AT_OPERAND ? "+:h" : ":h");
	for (int i = 0; i < n; i++) {
		const struct opt_spec *o = &cmd->opts[i];
		longs[i].name = o->long_name;
		longs[i].has_arg = o->arg == OPT_VALUE ? required_argument : no_argument;
		longs[i].val = o->key;
		if (o->key < 256) {
			strbuf_addch(shorts, (char)o->key);
			if (o->arg == OPT_VALUE)
				strbuf_addch(shorts, ':');
		}
	}
	longs[n].name = "help";
	longs[n].val = KEY_HELP;
	return longs;
}

int opt_find(const struct cmd_entry *cmd, const char *long_name)
{
	for (int i = 0; cmd->opts && cmd->opts[i].long_name; i++) {
		if (strcmp(cmd->opts[i].long_name, long_name) == 0)
			return i;
	}
	return -1;
}

void opt_record(struct cmd_ctx *ctx, int idx, const char *value)
{
	int n = ctx->counts[idx]++;

	ctx->values[idx] = value;
	if (!value)
		return;
	ctx->lists[idx] = xreallocarray(ctx->lists[idx], (size_t)n + 2, sizeof(char *));
	ctx->lists[idx][n] = (char *)value;
	ctx->lists[idx][n + 1] = NULL;
}

/* Name the option getopt complained about, as the user typed it. */
static const char *bad_option(char **argv, int c)
{
	static char buf[8];

	if (optopt && optopt < 256 && c != ':') {
		snprintf(buf, sizeof(buf), "-%c", optopt);
		return buf;
	}
	return argv[optind - 1];
}

int cmd_parse(const struct cmd_entry *cmd, int argc, char **argv, struct cmd_ctx *ctx)
{
	struct strbuf shorts = STRBUF_INIT;
	struct option *longs = build_getopt(cmd, &shorts);
	int c, ret = 0;

	ctx->cmd = cmd;
	/* 0, not 1: glibc then starts afresh (a subcommand parses after its command did). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts.buf, longs, NULL)) != -1) {
		int idx = spec_index(cmd, c);
		if (c == 'h' || c == KEY_HELP) {
			ret = 1;
			break;
		}
		if (c == '?' || c == ':' || idx < 0) {
			ret = err_usage(&ctx->err, "%s: %s option '%s' (see 'trainctl %s --help')",
					cmd->name, c == ':' ? "missing value for" : "unknown",
					bad_option(argv, c), cmd->name);
			break;
		}
		opt_record(ctx, idx, optarg);
	}
	ctx->argc = argc - optind;
	ctx->argv = argv + optind;
	if (ret == 0 && ctx->argc < cmd->min_args)
		ret = err_usage(&ctx->err, "%s: missing %s (usage: trainctl %s%s%s)", cmd->name,
				cmd->synopsis, cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
	if (ret == 0 && cmd->max_args >= 0 && ctx->argc > cmd->max_args)
		ret = err_usage(&ctx->err, "%s: unexpected argument '%s' (usage: trainctl %s%s%s)",
				cmd->name, ctx->argv[cmd->max_args], cmd->name,
				*cmd->synopsis ? " " : "", cmd->synopsis);
	free(longs);
	strbuf_release(&shorts);
	return ret;
}

void cmd_ctx_release(struct cmd_ctx *ctx)
{
	for (int i = 0; i < OPT_MAX; i++)
		free(ctx->lists[i]);
	paths_release(&ctx->paths);
}

int opt_count(const struct cmd_ctx *ctx, int key)
{
	int idx = spec_index(ctx->cmd, key);

	return idx < 0 ? 0 : ctx->counts[idx];
}

const char *opt_value(const struct cmd_ctx *ctx, int key)
{
	int idx = spec_index(ctx->cmd, key);

	return idx < 0 ? NULL : ctx->values[idx];
}

char *const *opt_values(const struct cmd_ctx *ctx, int key)
{
	static char *const empty[] = { NULL };
	int idx = spec_index(ctx->cmd, key);

	return idx < 0 || !ctx->lists[idx] ? empty : ctx->lists[idx];
}

json_t *cmd_jobs_array(const struct cmd_ctx *ctx)
{
	json_t *jobs = json_array();

	for (int i = 0; i < ctx->argc; i++)
		json_array_append_new(jobs, json_string(ctx->argv[i]));
	return jobs;
}

void cmd_print_help(const struct cmd_entry *cmd, FILE *out)
{
	fprintf(out, "Usage: trainctl %s%s%s%s\n\n%s\n", cmd->name, cmd->opts ? " [options]" : "",
		*cmd->synopsis ? " " : "", cmd->synopsis, cmd->summary);
	if (cmd->details)
		fprintf(out, "\n%s\n", cmd->details);
	fprintf(out, "\nOptions:\n");
	for (int i = 0; cmd->opts && cmd->opts[i].long_name; i++) {
		const struct opt_spec *o = &cmd->opts[i];
		char left[64];

		if (o->key < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->key, o->long_name,
				 o->value_name ? " " : "", o->value_name ? o->value_name : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->long_name,
				 o->value_name ? " " : "", o->value_name ? o->value_name : "");
		fprintf(out, "  %-28s %s\n", left, o->help);
	}
	fprintf(out, "  %-28s %s\n", "-h, --help", "show this help");
}
