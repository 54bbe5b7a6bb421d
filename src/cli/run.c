/*
 * trainctl run: build a job spec from the command line and the caller's
 * environment and cwd, hand it to the daemon, print the new job's id. The
 * daemon answers once the job has really started, or with the exec error.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/xmalloc.h"

extern char **environ;

enum {
	OPT_SH = 256,
	OPT_NO_PTY,
	OPT_STOP_SIGNAL,
	OPT_STOP_TIMEOUT,
	OPT_LOG_MAX,
};

static const struct opt_spec run_opts[] = {
	{ 'n', "name", OPT_VALUE, "NAME", "name the job (unique among unfinished jobs)" },
	{ 'C', "cwd", OPT_VALUE, "DIR", "run in DIR (default: the current directory)" },
	{ 'e', "env", OPT_VALUE, "KEY=VAL", "set an environment variable (repeatable)" },
	{ OPT_SH, "sh", OPT_VALUE, "'CMD'", "run CMD with /bin/sh -c instead of COMMAND" },
	{ OPT_NO_PTY, "no-pty", OPT_FLAG, NULL, "give the job pipes instead of a terminal" },
	{ OPT_STOP_SIGNAL, "stop-signal", OPT_VALUE, "SIG", "signal for a graceful stop (default TERM)" },
	{ OPT_STOP_TIMEOUT, "stop-timeout", OPT_VALUE, "DUR", "grace before SIGKILL (default 30s)" },
	{ OPT_LOG_MAX, "log-max", OPT_VALUE, "SIZE", "rotate the log at SIZE, keep 3 (default 100M)" },
	{ 0 },
};

static mode_t current_umask(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return mask;
}

/* The caller's environment with every -e KEY=VAL applied. */
static json_t *build_env(struct cmd_ctx *ctx)
{
	char *const *sets = opt_values(ctx, 'e');
	json_t *env = json_array();

	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		int overridden = 0;
		for (char *const *s = sets; eq && *s; s++) {
			const char *seq = strchr(*s, '=');
			if (seq - *s == eq - *e && strncmp(*s, *e, (size_t)(eq - *e)) == 0)
				overridden = 1;
		}
		if (!overridden)
			json_array_append_new(env, json_string(*e));
	}
	for (char *const *s = sets; *s; s++)
		json_array_append_new(env, json_string(*s));
	return env;
}

static int check_env_sets(struct cmd_ctx *ctx)
{
	for (char *const *s = opt_values(ctx, 'e'); *s; s++) {
		const char *eq = strchr(*s, '=');
		if (!eq || eq == *s)
			return err_usage(&ctx->err, "invalid -e '%s' (expected KEY=VALUE)", *s);
	}
	return 0;
}

static int resolve_cwd(struct cmd_ctx *ctx, json_t *spec)
{
	const char *dir = opt_value(ctx, 'C');
	char buf[PATH_MAX];

	if (dir ? !realpath(dir, buf) : !getcwd(buf, sizeof(buf)))
		return err_errno(&ctx->err, "cannot use directory %s", dir ? dir : ".");
	json_object_set_new(spec, "cwd", json_string(buf));
	return 0;
}

/* Fill the stop and log settings, with their defaults. */
static int parse_limits(struct cmd_ctx *ctx, json_t *spec)
{
	int64_t timeout = 30000, log_max = 100LL * 1024 * 1024;
	int sig = SIGTERM;

	if (opt_value(ctx, OPT_STOP_SIGNAL) &&
	    parse_signal(opt_value(ctx, OPT_STOP_SIGNAL), &sig, &ctx->err) < 0)
		return -1;
	if (opt_value(ctx, OPT_STOP_TIMEOUT) &&
	    parse_duration_ms(opt_value(ctx, OPT_STOP_TIMEOUT), &timeout, &ctx->err) < 0)
		return -1;
	if (opt_value(ctx, OPT_LOG_MAX) &&
	    parse_size_bytes(opt_value(ctx, OPT_LOG_MAX), &log_max, &ctx->err) < 0)
		return -1;
	if (log_max > 0 && log_max < 4096)
		return err_usage(&ctx->err, "--log-max %s is too small (expected at least 4K, or 0 "
					    "for no rotation)", opt_value(ctx, OPT_LOG_MAX));
	json_object_set_new(spec, "stop_signal", json_integer(sig));
	json_object_set_new(spec, "stop_timeout_ms", json_integer(timeout));
	json_object_set_new(spec, "log_max", json_integer(log_max));
	return 0;
}

static int build_command(struct cmd_ctx *ctx, json_t *spec)
{
	const char *sh = opt_value(ctx, OPT_SH);
	json_t *argv;

	if (sh && ctx->argc > 0)
		return err_usage(&ctx->err, "run: give either --sh 'CMD' or COMMAND [ARG...], not both");
	if (!sh && ctx->argc == 0)
		return err_usage(&ctx->err, "run: missing COMMAND (usage: trainctl run [options] "
					    "[--] COMMAND [ARG...])");
	if (sh)
		json_object_set_new(spec, "sh", json_string(sh));
	argv = json_array();
	for (int i = 0; i < ctx->argc; i++)
		json_array_append_new(argv, json_string(ctx->argv[i]));
	json_object_set_new(spec, "argv", argv);
	return 0;
}

static json_t *build_spec(struct cmd_ctx *ctx)
{
	json_t *spec = json_object();

	if (build_command(ctx, spec) < 0 || check_env_sets(ctx) < 0 || parse_limits(ctx, spec) < 0 ||
	    resolve_cwd(ctx, spec) < 0) {
		json_decref(spec);
		return NULL;
	}
	if (opt_value(ctx, 'n'))
		json_object_set_new(spec, "name", json_string(opt_value(ctx, 'n')));
	json_object_set_new(spec, "pty", json_boolean(!opt_count(ctx, OPT_NO_PTY)));
	json_object_set_new(spec, "umask", json_integer(current_umask()));
	json_object_set_new(spec, "env", build_env(ctx));
	return spec;
}

static int run_main(struct cmd_ctx *ctx)
{
	json_t *spec = build_spec(ctx);
	json_t *req, *reply;

	if (!spec)
		return -1;
	req = proto_request("run");
	json_object_set_new(req, "spec", spec);
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	printf("%lld\n", (long long)json_integer_value(json_object_get(reply, "id")));
	json_decref(reply);
	return 0;
}

const struct cmd_entry cmd_run = {
	.name = "run",
	.brief = "start a job and print its id",
	.synopsis = "[--] COMMAND [ARG...]",
	.summary = "Start a job and print its id. The job runs under its own supervisor, survives\n"
		   "the terminal and the daemon, and its output goes to its log.",
	.opts = run_opts,
	.min_args = 0,
	.max_args = -1,
	.flags = CMD_STOP_AT_OPERAND,
	.fn = run_main,
	.details = "Options end at COMMAND: everything after it belongs to the job. The job\n"
		   "inherits your environment and directory; a command that cannot be executed\n"
		   "makes run fail at once.\n\n"
		   "Examples:\n"
		   "  trainctl run -n sim -- build/train-sim --epochs 60 --checkpoint-every 10\n"
		   "  trainctl run -e CUDA_VISIBLE_DEVICES=1 --stop-timeout 2m python train.py\n"
		   "  trainctl run --sh 'python prep.py && python train.py'",
};
