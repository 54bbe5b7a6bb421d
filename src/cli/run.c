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
#include <time.h>
#include <unistd.h>

#include "cli/attach.h"
#include "cli/client.h"
#include "cli/watch.h"
#include "lib/progress.h"
#include "cli/cmd.h"
#include "lib/config.h"
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
	OPT_PROGRESS_REGEX,
	OPT_PROGRESS_TOTAL,
	OPT_DETACH_KEY,
	OPT_RESTART,
	OPT_MAX_RESTARTS,
	OPT_RESUME_ARGS,
	OPT_CHECKPOINT,
	OPT_TIME_LIMIT,
	OPT_HANG_TIMEOUT,
	OPT_ON_HANG,
	OPT_NICE,
	OPT_CPU_LIMIT,
	OPT_MEM_LIMIT,
	OPT_RESUME_ON_BOOT,
	OPT_GPUS,
	OPT_GPU_MEM,
	OPT_QUEUE,
	OPT_AFTER,
	OPT_PRIORITY,
	OPT_HOLD,
	OPT_ON_EXIT,
	OPT_ON,
	OPT_PARTITION,
	OPT_NODES,
	OPT_NTASKS_PER_NODE,
	OPT_ACCOUNT,
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
	{ OPT_PROGRESS_REGEX, "progress-regex", OPT_VALUE, "ERE", "progress from output: groups (current) or (current, total)" },
	{ OPT_PROGRESS_TOTAL, "progress-total", OPT_VALUE, "N", "the total when the output does not say (e.g. epochs)" },
	{ OPT_CHECKPOINT, "checkpoint", OPT_VALUE, "GLOB", "the job's checkpoint files, e.g. 'ckpt/epoch_*.pt'" },
	{ OPT_RESTART, "restart", OPT_VALUE, "POLICY", "no (default), on-failure or always" },
	{ OPT_MAX_RESTARTS, "max-restarts", OPT_VALUE, "N", "automatic restarts at most (default 3)" },
	{ OPT_RESUME_ARGS, "resume-args", OPT_VALUE, "'ARGS'", "added on restarts; {checkpoint} is the latest one" },
	{ OPT_RESUME_ON_BOOT, "resume-on-boot", OPT_FLAG, NULL, "resume after a crash, reboot or daemon stop --checkpoint-jobs" },
	{ OPT_TIME_LIMIT, "time-limit", OPT_VALUE, "DUR", "stop the job gracefully after DUR of running" },
	{ OPT_NICE, "nice", OPT_VALUE, "N", "run the whole tree at nice N (-20 to 19)" },
	{ OPT_CPU_LIMIT, "cpu-limit", OPT_VALUE, "PCT", "at most PCT of one CPU, e.g. 150%" },
	{ OPT_MEM_LIMIT, "mem-limit", OPT_VALUE, "SIZE", "at most SIZE of memory, e.g. 8G" },
	{ OPT_HANG_TIMEOUT, "hang-timeout", OPT_VALUE, "DUR", "hung after DUR without output, progress, checkpoint or CPU" },
	{ OPT_ON_HANG, "on-hang", OPT_VALUE, "ACTION", "none (default: an event), kill or restart" },
	{ OPT_GPUS, "gpus", OPT_VALUE, "N|LIST", "wait for N free GPUs (or GPUs 0,2) and run on them" },
	{ OPT_GPU_MEM, "gpu-mem", OPT_VALUE, "SIZE", "with --gpus: share GPUs, declaring SIZE of GPU memory" },
	{ OPT_QUEUE, "queue", OPT_VALUE, "Q", "run in queue Q (see trainctl queue Q --parallel N)" },
	{ OPT_AFTER, "after", OPT_VALUE, "JOB", "start only after JOB succeeded (repeatable, or JOB,JOB)" },
	{ OPT_PRIORITY, "priority", OPT_VALUE, "N", "higher starts first among waiting jobs (default 0)" },
	{ OPT_HOLD, "hold", OPT_FLAG, NULL, "queue the job but start it only at trainctl start" },
	{ OPT_ON_EXIT, "on-exit", OPT_VALUE, "'CMD'", "run CMD (sh -c) when the job ends; TRAINCTL_JOB_* describe it" },
	{ 'a', "attach", OPT_FLAG, NULL, "attach to the job's terminal right away" },
	{ 'w', "wait", OPT_FLAG, NULL, "wait with a live progress line; exit with the job's status" },
	{ OPT_DETACH_KEY, "detach-key", OPT_VALUE, "KEY", "with -a: detach with KEY (default ctrl-\\)" },
	{ OPT_ON, "on", OPT_VALUE, "BACKEND", "local (default: this machine) or slurm (sbatch)" },
	{ OPT_PARTITION, "partition", OPT_VALUE, "P", "with --on slurm: the partition" },
	{ OPT_ACCOUNT, "account", OPT_VALUE, "A", "with --on slurm: the account to charge" },
	{ OPT_NODES, "nodes", OPT_VALUE, "N", "with --on slurm: nodes, under srun with MASTER_ADDR etc." },
	{ OPT_NTASKS_PER_NODE, "ntasks-per-node", OPT_VALUE, "N", "with --on slurm: tasks per node, under srun" },
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

/*
 * Fill the stop and log settings. The grace period and the log size go in
 * the spec only when given: the daemon fills in its own defaults (from its
 * configuration file, or 30s and 100M).
 */
static int parse_limits(struct cmd_ctx *ctx, json_t *spec)
{
	int64_t timeout = -1, log_max = -1;
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
	if (timeout >= 0)
		json_object_set_new(spec, "stop_timeout_ms", json_integer(timeout));
	if (log_max >= 0)
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

/* A duration option that must be longer than 0. */
static int parse_positive_duration(struct cmd_ctx *ctx, const char *option, const char *text,
				   int64_t *ms)
{
	if (parse_duration_ms(text, ms, &ctx->err) < 0)
		return -1;
	if (*ms <= 0)
		return err_usage(&ctx->err, "%s must be longer than 0", option);
	return 0;
}

/* Restart policy, checkpoints and the time limit. */
static int parse_restart(struct cmd_ctx *ctx, json_t *spec)
{
	const char *policy = opt_value(ctx, OPT_RESTART);
	const char *max = opt_value(ctx, OPT_MAX_RESTARTS);
	const char *resume = opt_value(ctx, OPT_RESUME_ARGS);
	const char *limit = opt_value(ctx, OPT_TIME_LIMIT);
	json_t *words = json_array();
	int64_t limit_ms = 0;
	int n = 3, ret = 0;

	if (policy && strcmp(policy, "no") && strcmp(policy, "on-failure") && strcmp(policy, "always"))
		ret = err_usage(&ctx->err, "invalid --restart '%s' (expected no, on-failure or always)",
				policy);
	else if (max && parse_uint(max, &n) < 0)
		ret = err_usage(&ctx->err, "invalid --max-restarts '%s' (expected a number, e.g. 3)", max);
	else if (resume && parse_shell_words(resume, words, &ctx->err) < 0)
		ret = -1;
	else if (limit && parse_positive_duration(ctx, "--time-limit", limit, &limit_ms) < 0)
		ret = -1;
	else if (opt_value(ctx, OPT_CHECKPOINT) && !*opt_value(ctx, OPT_CHECKPOINT))
		ret = err_usage(&ctx->err, "empty --checkpoint (expected a glob such as 'ckpt/*.pt')");
	json_decref(words);
	if (ret < 0)
		return -1;
	json_object_set_new(spec, "restart", json_string(policy ? policy : "no"));
	json_object_set_new(spec, "resume_on_boot", json_boolean(opt_count(ctx, OPT_RESUME_ON_BOOT)));
	json_object_set_new(spec, "max_restarts", json_integer(n));
	if (resume)
		json_object_set_new(spec, "resume_args", json_string(resume));
	if (opt_value(ctx, OPT_CHECKPOINT))
		json_object_set_new(spec, "checkpoint", json_string(opt_value(ctx, OPT_CHECKPOINT)));
	if (limit_ms)
		json_object_set_new(spec, "time_limit_ms", json_integer(limit_ms));
	return 0;
}

static int parse_limits_options(struct cmd_ctx *ctx, json_t *spec)
{
	const char *nice = opt_value(ctx, OPT_NICE);
	const char *cpu = opt_value(ctx, OPT_CPU_LIMIT);
	const char *mem = opt_value(ctx, OPT_MEM_LIMIT);
	double cpus;
	int64_t bytes;
	int n;

	if (nice && parse_nice(nice, &n, &ctx->err) < 0)
		return -1;
	if (cpu && parse_cpu_limit(cpu, &cpus, &ctx->err) < 0)
		return -1;
	if (mem && parse_mem_limit(mem, &bytes, &ctx->err) < 0)
		return -1;
	if (nice)
		json_object_set_new(spec, "nice", json_integer(n));
	if (cpu)
		json_object_set_new(spec, "cpu_limit", json_real(cpus));
	if (mem)
		json_object_set_new(spec, "mem_limit", json_integer(bytes));
	return 0;
}

/* --gpus N or --gpus 0,2: a count, or distinct GPU indices. */
static int parse_gpus(struct cmd_ctx *ctx, const char *text, json_t **out)
{
	json_t *list = json_array();
	const char *p = text;
	int n;

	if (!strchr(text, ',') && parse_uint(text, &n) == 0 && n > 0) {
		*out = json_integer(n);
		json_decref(list);
		return 0;
	}
	while (*p) {
		char item[16];
		size_t len = strcspn(p, ",");
		size_t i;
		json_t *v;

		if (len == 0 || len >= sizeof(item))
			goto bad;
		memcpy(item, p, len);
		item[len] = '\0';
		if (parse_uint(item, &n) < 0)
			goto bad;
		json_array_foreach(list, i, v) {
			if (json_integer_value(v) == n)
				goto bad;
		}
		json_array_append_new(list, json_integer(n));
		p += len + (p[len] == ',');
		if (p[-1] == ',' && !*p)
			goto bad;
	}
	if (!json_array_size(list))
		goto bad;
	*out = list;
	return 0;
bad:
	json_decref(list);
	return err_usage(&ctx->err, "invalid --gpus '%s' (expected a count like 2, or distinct "
				    "GPU indices like 0,2)", text);
}

/* The queue: GPUs, a named queue, dependencies, priority, hold. */
static int parse_queue_options(struct cmd_ctx *ctx, json_t *spec)
{
	const char *gpus = opt_value(ctx, OPT_GPUS), *mem = opt_value(ctx, OPT_GPU_MEM);
	const char *priority = opt_value(ctx, OPT_PRIORITY);
	json_t *want = NULL, *after;
	int64_t bytes;
	char *end;
	long prio;

	if (gpus && parse_gpus(ctx, gpus, &want) < 0)
		return -1;
	if (mem && !gpus)
		return err_usage(&ctx->err, "--gpu-mem needs --gpus");
	if (mem && (parse_size_bytes(mem, &bytes, &ctx->err) < 0 || bytes <= 0)) {
		json_decref(want);
		return ctx->err.msg[0] ? -1 : err_usage(&ctx->err, "invalid --gpu-mem '%s' (expected a "
								  "size like 10G)", mem);
	}
	if (priority) {
		errno = 0;
		prio = strtol(priority, &end, 10);
		if (!*priority || *end || errno || prio < -1000000 || prio > 1000000) {
			json_decref(want);
			return err_usage(&ctx->err, "invalid --priority '%s' (expected an integer, higher "
						    "first)", priority);
		}
		json_object_set_new(spec, "priority", json_integer(prio));
	}
	if (want)
		json_object_set_new(spec, "gpus", want);
	if (mem)
		json_object_set_new(spec, "gpu_mem", json_integer(bytes));
	if (opt_value(ctx, OPT_QUEUE))
		json_object_set_new(spec, "queue", json_string(opt_value(ctx, OPT_QUEUE)));
	if (opt_count(ctx, OPT_HOLD))
		json_object_set_new(spec, "hold", json_true());
	after = json_array();
	for (char *const *v = opt_values(ctx, OPT_AFTER); *v; v++) {
		for (const char *p = *v; *p; p += *p == ',') {
			size_t len = strcspn(p, ",");
			if (len == 0)
				return err_usage(&ctx->err, "invalid --after '%s' (expected job ids or "
							    "names, separated by commas)", *v);
			json_array_append_new(after, json_stringn(p, len));
			p += len;
		}
	}
	if (json_array_size(after))
		json_object_set_new(spec, "after", after);
	else
		json_decref(after);
	return 0;
}

/* Hang detection: how long without a sign of life, and what then. */
static int parse_hang(struct cmd_ctx *ctx, json_t *spec)
{
	const char *timeout = opt_value(ctx, OPT_HANG_TIMEOUT);
	const char *action = opt_value(ctx, OPT_ON_HANG);
	int64_t ms = 0;

	if (timeout && parse_positive_duration(ctx, "--hang-timeout", timeout, &ms) < 0)
		return -1;
	if (action && strcmp(action, "none") && strcmp(action, "kill") && strcmp(action, "restart"))
		return err_usage(&ctx->err, "invalid --on-hang '%s' (expected none, kill or restart)",
				 action);
	if (action && !timeout)
		return err_usage(&ctx->err, "--on-hang needs --hang-timeout");
	if (ms)
		json_object_set_new(spec, "hang_timeout_ms", json_integer(ms));
	json_object_set_new(spec, "on_hang", json_string(action ? action : "none"));
	return 0;
}

/* Check the progress options here, so that a bad regex is an error of run. */
static int parse_progress(struct cmd_ctx *ctx, json_t *spec)
{
	const char *regex = opt_value(ctx, OPT_PROGRESS_REGEX);
	const char *total_text = opt_value(ctx, OPT_PROGRESS_TOTAL);
	struct progress_parser *parser;
	double total = 0;
	char *end;

	if (total_text) {
		total = strtod(total_text, &end);
		if (end == total_text || *end || !(total > 0))
			return err_usage(&ctx->err, "invalid --progress-total '%s' (expected a positive "
						    "number, e.g. 100)", total_text);
		json_object_set_new(spec, "progress_total", json_real(total));
	}
	parser = progress_parser_new(regex, total, &ctx->err);
	if (!parser)
		return -1;
	progress_parser_free(parser);
	if (regex)
		json_object_set_new(spec, "progress_regex", json_string(regex));
	return 0;
}

/* A positive count for a Slurm option. */
static int parse_count(struct cmd_ctx *ctx, int key, const char *option, json_t *spec,
		       const char *field)
{
	const char *text = opt_value(ctx, key);
	int n;

	if (!text)
		return 0;
	if (parse_uint(text, &n) < 0 || n < 1)
		return err_usage(&ctx->err, "invalid --%s '%s' (expected a number, at least 1)", option,
				 text);
	json_object_set_new(spec, field, json_integer(n));
	return 0;
}

static int parse_slurm_name(struct cmd_ctx *ctx, int key, const char *option, json_t *spec)
{
	const char *text = opt_value(ctx, key);

	if (!text)
		return 0;
	if (!*text || strpbrk(text, " \t\n\r\"'"))
		return err_usage(&ctx->err, "invalid --%s '%s' (expected a slurm %s name)", option,
				 text, option);
	json_object_set_new(spec, option, json_string(text));
	return 0;
}

/*
 * --on slurm and its options. A job on Slurm has no shim on this machine:
 * what only a shim does (a terminal, log rotation, nice, progress parsing,
 * hang detection) cannot be asked for with it.
 */
static int parse_backend(struct cmd_ctx *ctx, json_t *spec)
{
	static const struct { int key; const char *name; } slurm_only[] = {
		{ OPT_PARTITION, "--partition" }, { OPT_ACCOUNT, "--account" },
		{ OPT_NODES, "--nodes" }, { OPT_NTASKS_PER_NODE, "--ntasks-per-node" },
	};
	static const struct { int key; const char *name; } local_only[] = {
		{ 'a', "--attach" }, { OPT_NO_PTY, "--no-pty" }, { OPT_NICE, "--nice" },
		{ OPT_LOG_MAX, "--log-max" }, { OPT_PROGRESS_REGEX, "--progress-regex" },
		{ OPT_PROGRESS_TOTAL, "--progress-total" }, { OPT_HANG_TIMEOUT, "--hang-timeout" },
		{ OPT_ON_HANG, "--on-hang" }, { OPT_DETACH_KEY, "--detach-key" },
		{ OPT_GPU_MEM, "--gpu-mem" }, { OPT_QUEUE, "--queue" }, { OPT_AFTER, "--after" },
		{ OPT_PRIORITY, "--priority" }, { OPT_HOLD, "--hold" },
	};
	const char *on = opt_value(ctx, OPT_ON);
	int slurm = on && strcmp(on, "slurm") == 0;

	if (on && !slurm && strcmp(on, "local") != 0)
		return err_usage(&ctx->err, "invalid --on '%s' (expected local or slurm)", on);
	for (size_t i = 0; i < sizeof(slurm_only) / sizeof(slurm_only[0]); i++) {
		if (!slurm && opt_count(ctx, slurm_only[i].key))
			return err_usage(&ctx->err, "%s needs --on slurm", slurm_only[i].name);
	}
	for (size_t i = 0; i < sizeof(local_only) / sizeof(local_only[0]); i++) {
		if (slurm && opt_count(ctx, local_only[i].key))
			return err_usage(&ctx->err, "%s cannot be used with --on slurm (a slurm job has "
						    "no supervisor on this machine)", local_only[i].name);
	}
	if (!slurm)
		return 0;
	if (json_is_array(json_object_get(spec, "gpus")))
		return err_usage(&ctx->err, "--gpus %s names GPUs of this machine: with --on slurm give "
					    "a count (slurm picks the GPUs)", opt_value(ctx, OPT_GPUS));
	json_object_set_new(spec, "on", json_string("slurm"));
	return parse_slurm_name(ctx, OPT_PARTITION, "partition", spec) < 0 ||
			       parse_slurm_name(ctx, OPT_ACCOUNT, "account", spec) < 0 ||
			       parse_count(ctx, OPT_NODES, "nodes", spec, "nodes") < 0 ||
			       parse_count(ctx, OPT_NTASKS_PER_NODE, "ntasks-per-node", spec,
					   "ntasks_per_node") < 0
		       ? -1
		       : 0;
}

static json_t *build_spec(struct cmd_ctx *ctx)
{
	json_t *spec = json_object();

	if (build_command(ctx, spec) < 0 || check_env_sets(ctx) < 0 || parse_limits(ctx, spec) < 0 ||
	    parse_progress(ctx, spec) < 0 || parse_restart(ctx, spec) < 0 ||
	    parse_hang(ctx, spec) < 0 || parse_limits_options(ctx, spec) < 0 ||
	    parse_queue_options(ctx, spec) < 0 || parse_backend(ctx, spec) < 0 ||
	    resolve_cwd(ctx, spec) < 0) {
		json_decref(spec);
		return NULL;
	}
	if (opt_value(ctx, 'n'))
		json_object_set_new(spec, "name", json_string(opt_value(ctx, 'n')));
	if (opt_value(ctx, OPT_ON_EXIT) && *opt_value(ctx, OPT_ON_EXIT))
		json_object_set_new(spec, "on_exit", json_string(opt_value(ctx, OPT_ON_EXIT)));
	json_object_set_new(spec, "pty", json_boolean(!opt_count(ctx, OPT_NO_PTY)));
	json_object_set_new(spec, "umask", json_integer(current_umask()));
	json_object_set_new(spec, "env", build_env(ctx));
	return spec;
}

/* run --attach: the new job's terminal, until detach (0) or the job's end (its status). */
static int run_attach(struct cmd_ctx *ctx, int64_t id, int key)
{
	json_t *req = proto_request("show");
	json_t *reply;
	int status = 0, ret;

	json_object_set_new(req, "jobs", json_pack("[I]", (json_int_t)id));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	ret = attach_job(ctx, json_object_get(reply, "job"), 0, key, &status);
	json_decref(reply);
	if (ret < 0)
		return -1;
	return ret == ATTACH_JOB_ENDED ? status : 0;
}

/* run --attach of a queued job: wait until it has left the queue (checked 4 times a second). */
static int run_wait_started(struct cmd_ctx *ctx, int64_t id)
{
	const struct timespec pause = { 0, 250 * 1000 * 1000 };

	for (;;) {
		json_t *req = proto_request("show"), *reply;
		const char *state;
		int queued;

		json_object_set_new(req, "jobs", json_pack("[I]", (json_int_t)id));
		reply = client_call(&ctx->paths, req, &ctx->err);
		if (!reply)
			return -1;
		state = json_string_value(json_object_get(json_object_get(reply, "job"), "state"));
		queued = state && (!strcmp(state, "queued") || !strcmp(state, "held"));
		json_decref(reply);
		if (!queued)
			return 0;
		nanosleep(&pause, NULL);
	}
}

/* Options no configuration file may preset: they name one job, or replace COMMAND. */
static int run_option_per_job(const char *option)
{
	return !strcmp(option, "name") || !strcmp(option, "sh");
}

/*
 * The configuration file's run.OPTION lines, for every option not given on
 * the command line (which wins); a flag takes true or false.
 */
static int apply_config_defaults(struct cmd_ctx *ctx, const struct config *cfg)
{
	int given[OPT_MAX];

	memcpy(given, ctx->counts, sizeof(given));
	for (size_t i = 0; i < cfg->nrun; i++) {
		const struct config_run_default *r = &cfg->run[i];
		int idx = opt_find(ctx->cmd, r->option), on = 1;

		if (idx < 0 || run_option_per_job(r->option))
			return err_usage(&ctx->err, "config %s:%d: unknown key 'run.%s' (expected "
					 "run.OPTION with a long option of 'trainctl run' other than "
					 "name and sh, e.g. run.stop-timeout)", cfg->path, r->line, r->option);
		if (ctx->cmd->opts[idx].arg == OPT_FLAG &&
		    (on = config_parse_bool(r->value)) < 0)
			return err_usage(&ctx->err, "config %s:%d: invalid value '%s' for run.%s "
					 "(expected true or false)", cfg->path, r->line, r->value, r->option);
		if (given[idx])
			continue;
		if (ctx->cmd->opts[idx].arg == OPT_VALUE)
			opt_record(ctx, idx, r->value);
		else if (on)
			opt_record(ctx, idx, NULL);
	}
	return 0;
}

static int run_job(struct cmd_ctx *ctx)
{
	json_t *spec, *req, *reply;
	int key = 0, waiting;
	int64_t id;

	if (opt_count(ctx, 'a') && opt_count(ctx, 'w'))
		return err_usage(&ctx->err, "run: give --attach or --wait, not both");
	if (opt_count(ctx, 'a') && opt_count(ctx, OPT_HOLD))
		return err_usage(&ctx->err, "run: --attach cannot wait for a --hold job; attach after "
					    "trainctl start");
	if (opt_count(ctx, 'a') && (key = attach_detach_key(ctx, opt_value(ctx, OPT_DETACH_KEY))) < 0)
		return -1;
	spec = build_spec(ctx);
	if (!spec)
		return -1;
	req = proto_request("run");
	json_object_set_new(req, "spec", spec);
	/* To attach, the job's terminal must exist: the answer waits for the start. */
	if (opt_count(ctx, 'a'))
		json_object_set_new(req, "confirm", json_true());
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	id = json_integer_value(json_object_get(reply, "id"));
	waiting = json_is_string(json_object_get(reply, "state"));
	if (waiting && isatty(STDERR_FILENO))
		fprintf(stderr, "job %lld %s%s%s%s\n", (long long)id,
			json_string_value(json_object_get(reply, "state")),
			json_is_string(json_object_get(reply, "reason")) ? " (" : "",
			json_is_string(json_object_get(reply, "reason"))
				? json_string_value(json_object_get(reply, "reason")) : "",
			json_is_string(json_object_get(reply, "reason")) ? ")" : "");
	json_decref(reply);
	printf("%lld\n", (long long)id);
	fflush(stdout);
	if (opt_count(ctx, 'a') && waiting && run_wait_started(ctx, id) < 0)
		return -1;
	if (opt_count(ctx, 'a'))
		return run_attach(ctx, id, key);
	if (opt_count(ctx, 'w'))
		return watch_job(ctx, id);
	return 0;
}

static int run_main(struct cmd_ctx *ctx)
{
	struct config cfg;
	int ret;

	if (config_load(&cfg, &ctx->err) < 0)
		return -1;
	ret = apply_config_defaults(ctx, &cfg);
	if (ret == 0)
		ret = run_job(ctx);
	config_release(&cfg);
	return ret;
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
		   "inherits your environment and directory. run returns as soon as the job is\n"
		   "recorded and its supervisor started; a command that cannot be found or\n"
		   "executed makes it fail at once (for a job that waits, --after, --queue,\n"
		   "--gpus or --hold, when it starts: the job then ends failed, with the reason).\n\n"
		   "Examples:\n"
		   "  trainctl run -n sim -- build/train-sim --epochs 60 --checkpoint-every 10\n"
		   "  trainctl run -e CUDA_VISIBLE_DEVICES=1 --stop-timeout 2m python train.py\n"
		   "  trainctl run --sh 'python prep.py && python train.py'\n"
		   "  trainctl run -n exp -a -- python train.py      (detach with ctrl-\\)\n"
		   "  trainctl run -w --progress-total 3 -- python hf_train.py\n"
		   "  trainctl run --on slurm --partition gpu --gpus 1 -- python train.py\n\n"
		   "Progress is read from the output without any option for 'Epoch 3/10',\n"
		   "'epoch 3 of 10', tqdm bars, PyTorch Lightning and Hugging Face Trainer logs.\n"
		   "With --wait, run exits with the job's status; Ctrl-C asks whether to stop\n"
		   "the job or only to stop waiting.\n\n"
		   "With --on slurm the job is submitted with sbatch (its id is shown in its\n"
		   "reason) and followed by the daemon: ls, show, log -f, stop, kill, wait and\n"
		   "restart work on it. --gpus, --cpu-limit, --mem-limit and --time-limit\n"
		   "become --gres, --cpus-per-task, --mem and --time.",
};
