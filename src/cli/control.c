/*
 * The commands that act on running jobs: stop, kill, pause, resume, and
 * wait. stop and wait return when the jobs have ended (the daemon answers
 * then); wait exits with the job's own status.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/parse.h"
#include "lib/proto.h"

enum { OPT_ALL = 256 };

static const struct opt_spec stop_opts[] = {
	{ 't', "timeout", OPT_VALUE, "DUR", "grace before SIGKILL (default: the job's --stop-timeout)" },
	{ 's', "signal", OPT_VALUE, "SIG", "stop signal (default: the job's --stop-signal)" },
	{ OPT_ALL, "all", OPT_FLAG, NULL, "stop every job that has not finished" },
	{ 0 },
};

static const struct opt_spec kill_opts[] = {
	{ 's', "signal", OPT_VALUE, "SIG", "signal to send (default KILL)" },
	{ 0 },
};

/* Send a request naming the operand jobs; returns the reply or NULL. */
static json_t *call_with_jobs(struct cmd_ctx *ctx, json_t *req)
{
	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	return client_call(&ctx->paths, req, &ctx->err);
}

/*
 * Wait for the jobs to end, surviving a daemon restart: jobs outlive the
 * daemon, so when it goes away mid-wait we reconnect (starting a new one)
 * and wait again.
 */
static json_t *wait_for_jobs(struct cmd_ctx *ctx, json_t *req)
{
	json_t *reply = call_with_jobs(ctx, json_incref(req));

	for (int tries = 0; !reply && ctx->err.disconnected && tries < 100; tries++) {
		json_decref(req);
		req = proto_request("wait");
		reply = call_with_jobs(ctx, json_incref(req));
	}
	json_decref(req);
	return reply;
}

/* Put a parsed signal option into the request. */
static int add_signal(struct cmd_ctx *ctx, json_t *req)
{
	const char *text = opt_value(ctx, 's');
	int sig;

	if (!text)
		return 0;
	if (parse_signal(text, &sig, &ctx->err) < 0)
		return -1;
	json_object_set_new(req, "signal", json_integer(sig));
	return 0;
}

static int stop_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("stop");
	json_t *reply;
	int64_t timeout = 0;

	if (opt_count(ctx, OPT_ALL) == (ctx->argc > 0)) {
		json_decref(req);
		return err_usage(&ctx->err, "stop: give JOB... or --all (usage: trainctl stop JOB... | --all)");
	}
	if (add_signal(ctx, req) < 0 ||
	    (opt_value(ctx, 't') && parse_duration_ms(opt_value(ctx, 't'), &timeout, &ctx->err) < 0)) {
		json_decref(req);
		return -1;
	}
	if (opt_value(ctx, 't'))
		json_object_set_new(req, "timeout_ms", json_integer(timeout));
	json_object_set_new(req, "all", json_boolean(opt_count(ctx, OPT_ALL)));
	reply = opt_count(ctx, OPT_ALL) ? call_with_jobs(ctx, req) : wait_for_jobs(ctx, req);
	if (!reply)
		return -1;
	print_job_results(json_object_get(reply, "results"));
	json_decref(reply);
	return 0;
}

static int kill_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("kill");
	json_t *reply;

	if (add_signal(ctx, req) < 0) {
		json_decref(req);
		return -1;
	}
	reply = call_with_jobs(ctx, req);
	json_decref(reply);
	return reply ? 0 : -1;
}

static int simple_main(struct cmd_ctx *ctx)
{
	json_t *reply = call_with_jobs(ctx, proto_request(ctx->cmd->name));

	json_decref(reply);
	return reply ? 0 : -1;
}

/* 0 when every job succeeded, else the status of the first that did not. */
static int results_status(const json_t *results)
{
	size_t i;
	json_t *job;

	json_array_foreach(results, i, job) {
		int status = (int)json_integer_value(json_object_get(job, "status"));
		if (status)
			return status;
	}
	return 0;
}

static int wait_main(struct cmd_ctx *ctx)
{
	json_t *reply = wait_for_jobs(ctx, proto_request("wait"));
	int status;

	if (!reply)
		return -1;
	status = results_status(json_object_get(reply, "results"));
	json_decref(reply);
	return status;
}

static int send_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("send");
	json_t *reply;

	json_object_set_new(req, "jobs", json_pack("[s]", ctx->argv[0]));
	json_object_set_new(req, "text", json_string(ctx->argv[1]));
	reply = client_call(&ctx->paths, req, &ctx->err);
	json_decref(reply);
	return reply ? 0 : -1;
}

const struct cmd_entry cmd_send = {
	.name = "send",
	.brief = "write a line to a job's standard input",
	.synopsis = "JOB TEXT",
	.summary = "Write TEXT and a line end to the job's standard input (its terminal, or its\n"
		   "stdin pipe with --no-pty), as if typed and followed by Enter.",
	.min_args = 2,
	.max_args = 2,
	.fn = send_main,
};

static const struct opt_spec restart_opts[] = {
	{ 'f', "fresh", OPT_FLAG, NULL, "start from scratch, without the resume args" },
	{ 0 },
};

static int restart_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("restart");
	json_t *reply;

	json_object_set_new(req, "fresh", json_boolean(opt_count(ctx, 'f')));
	reply = call_with_jobs(ctx, req);
	if (!reply)
		return -1;
	print_job_results(json_object_get(reply, "results"));
	json_decref(reply);
	return 0;
}

const struct cmd_entry cmd_restart = {
	.name = "restart",
	.brief = "run a job again, from its latest checkpoint",
	.synopsis = "JOB...",
	.summary = "Start a new attempt of each job under the same id, appending its --resume-args\n"
		   "with the latest checkpoint (unless --fresh). A running job is stopped\n"
		   "gracefully first; restart returns at once, the new attempt follows.",
	.opts = restart_opts,
	.min_args = 1,
	.max_args = -1,
	.fn = restart_main,
};

static int renice_main(struct cmd_ctx *ctx)
{
	json_t *req, *reply;
	int nice;

	if (parse_nice(ctx->argv[1], &nice, &ctx->err) < 0)
		return -1;
	req = proto_request("renice");
	json_object_set_new(req, "jobs", json_pack("[s]", ctx->argv[0]));
	json_object_set_new(req, "nice", json_integer(nice));
	reply = client_call(&ctx->paths, req, &ctx->err);
	json_decref(reply);
	return reply ? 0 : -1;
}

const struct cmd_entry cmd_renice = {
	.name = "renice",
	.brief = "change the nice value of a job's whole tree",
	.synopsis = "JOB N",
	.summary = "Set the nice value of every process of the job to N (-20 to 19); later\n"
		   "attempts of the job start with it too.",
	.min_args = 2,
	.max_args = 2,
	.fn = renice_main,
};

static const struct opt_spec limit_opts[] = {
	{ 'c', "cpu", OPT_VALUE, "PCT", "at most PCT of one CPU (e.g. 50%, 200%); 0 removes the limit" },
	{ 'm', "mem", OPT_VALUE, "SIZE", "at most SIZE of memory (e.g. 8G); 0 removes the limit" },
	{ 0 },
};

static int limit_main(struct cmd_ctx *ctx)
{
	const char *cpu = opt_value(ctx, 'c'), *mem = opt_value(ctx, 'm');
	json_t *req, *reply;
	double cpus = 0;
	int64_t bytes = 0;

	if (!cpu && !mem)
		return err_usage(&ctx->err, "limit: give --cpu PCT, --mem SIZE or both");
	if (cpu && strcmp(cpu, "0") && parse_cpu_limit(cpu, &cpus, &ctx->err) < 0)
		return -1;
	if (mem && strcmp(mem, "0") && parse_mem_limit(mem, &bytes, &ctx->err) < 0)
		return -1;
	req = proto_request("limit");
	json_object_set_new(req, "jobs", json_pack("[s]", ctx->argv[0]));
	if (cpu)
		json_object_set_new(req, "cpu_limit", json_real(cpus));
	if (mem)
		json_object_set_new(req, "mem_limit", json_integer(bytes));
	reply = client_call(&ctx->paths, req, &ctx->err);
	json_decref(reply);
	return reply ? 0 : -1;
}

const struct cmd_entry cmd_limit = {
	.name = "limit",
	.brief = "change a running job's CPU or memory limit",
	.synopsis = "JOB",
	.summary = "Change the CPU and memory limits of a running job (through its cgroup, or the\n"
		   "fallbacks where there is none; 'show' says which).",
	.opts = limit_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = limit_main,
};

const struct cmd_entry cmd_stop = {
	.name = "stop",
	.brief = "stop jobs gracefully: stop signal, grace period, SIGKILL",
	.synopsis = "JOB... | --all",
	.summary = "Stop jobs gracefully: SIGCONT if paused, the stop signal to the process group,\n"
		   "then SIGKILL to every remaining descendant after the grace period. Returns\n"
		   "when the jobs have ended and prints how each one ended.",
	.opts = stop_opts,
	.max_args = -1,
	.fn = stop_main,
};

const struct cmd_entry cmd_kill = {
	.name = "kill",
	.brief = "send a signal to a job's whole process tree",
	.synopsis = "JOB...",
	.summary = "Send a signal (default SIGKILL) to every process of the jobs' trees.",
	.opts = kill_opts,
	.min_args = 1,
	.max_args = -1,
	.fn = kill_main,
};

const struct cmd_entry cmd_pause = {
	.name = "pause",
	.brief = "freeze jobs' process trees (SIGSTOP)",
	.synopsis = "JOB...",
	.summary = "Freeze the jobs' whole process trees (SIGSTOP).",
	.min_args = 1,
	.max_args = -1,
	.fn = simple_main,
};

const struct cmd_entry cmd_resume = {
	.name = "resume",
	.brief = "continue paused jobs (SIGCONT)",
	.synopsis = "JOB...",
	.summary = "Continue paused jobs (SIGCONT to the whole tree).",
	.min_args = 1,
	.max_args = -1,
	.fn = simple_main,
};

const struct cmd_entry cmd_wait = {
	.name = "wait",
	.brief = "block until jobs end; exit with their status",
	.synopsis = "JOB...",
	.summary = "Block until the jobs have ended, then exit with their status as a shell would\n"
		   "see it: the exit code (0 also for a job that exited 0 after a graceful stop),\n"
		   "or 128+N for signal N. With several jobs, the first non-zero status wins.\n"
		   "A daemon restart while waiting is survived: the wait carries on.",
	.min_args = 1,
	.max_args = -1,
	.fn = wait_main,
};
