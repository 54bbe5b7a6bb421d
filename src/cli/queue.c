/*
 * trainctl queue and start: named queues (a limit of running jobs each, a
 * pause) and held jobs. The waiting itself is the daemon's (sched.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/parse.h"
#include "lib/proto.h"

enum { OPT_PARALLEL = 256, OPT_PAUSE, OPT_RESUME, OPT_JSON };

static const struct opt_spec queue_opts[] = {
	{ OPT_PARALLEL, "parallel", OPT_VALUE, "N", "run at most N of the queue's jobs at once (0: no limit)" },
	{ OPT_PAUSE, "pause", OPT_FLAG, NULL, "start none of its waiting jobs (running ones go on)" },
	{ OPT_RESUME, "resume", OPT_FLAG, NULL, "start its waiting jobs again" },
	{ OPT_JSON, "json", OPT_FLAG, NULL, "print the queues as JSON" },
	{ 0 },
};

static void print_queues(const json_t *queues)
{
	static const char *const header[] = { "QUEUE", "PARALLEL", "STATE", "RUNNING", "WAITING" };
	struct table t;
	size_t i;
	json_t *q;

	if (!json_array_size(queues)) {
		printf("no queues (run jobs with --queue Q; set a limit with trainctl queue Q --parallel N)\n");
		return;
	}
	table_init(&t, 5, header);
	json_array_foreach(queues, i, q) {
		char parallel[16], running[16], waiting[16];
		long long limit = json_integer_value(json_object_get(q, "parallel"));
		const char *cells[5] = { json_string_value(json_object_get(q, "name")), parallel,
					 json_is_true(json_object_get(q, "paused")) ? "paused" : "active",
					 running, waiting };

		snprintf(parallel, sizeof(parallel), limit ? "%lld" : "unlimited", limit);
		snprintf(running, sizeof(running), "%lld",
			 (long long)json_integer_value(json_object_get(q, "running")));
		snprintf(waiting, sizeof(waiting), "%lld",
			 (long long)json_integer_value(json_object_get(q, "queued")));
		table_add_row(&t, cells);
	}
	table_print(&t, stdout, 0);
	table_release(&t);
}

static int queue_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("queue"), *reply;
	const char *parallel = opt_value(ctx, OPT_PARALLEL);
	int n;

	if (opt_count(ctx, OPT_PAUSE) && opt_count(ctx, OPT_RESUME))
		return json_decref(req), err_usage(&ctx->err, "queue: give --pause or --resume, not both");
	if ((parallel || opt_count(ctx, OPT_PAUSE) || opt_count(ctx, OPT_RESUME)) && ctx->argc == 0)
		return json_decref(req), err_usage(&ctx->err, "queue: name the queue to change "
							       "(trainctl queue Q --parallel N)");
	if (parallel && (parse_uint(parallel, &n) < 0 || n > 1000000))
		return json_decref(req), err_usage(&ctx->err, "invalid --parallel '%s' (expected a "
							       "number of jobs, 0 for no limit)", parallel);
	if (ctx->argc)
		json_object_set_new(req, "queue", json_string(ctx->argv[0]));
	if (parallel)
		json_object_set_new(req, "parallel", json_integer(n));
	if (opt_count(ctx, OPT_PAUSE))
		json_object_set_new(req, "pause", json_true());
	if (opt_count(ctx, OPT_RESUME))
		json_object_set_new(req, "resume", json_true());
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	if (opt_count(ctx, OPT_JSON))
		print_json(json_object_get(reply, "queues"));
	else
		print_queues(json_object_get(reply, "queues"));
	json_decref(reply);
	return 0;
}

static int start_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("start"), *reply, *job;
	size_t i;

	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	json_array_foreach(json_object_get(reply, "jobs"), i, job) {
		json_t *reason = json_object_get(job, "reason");

		printf("job %lld %s%s%s%s\n", (long long)json_integer_value(json_object_get(job, "id")),
		       json_string_value(json_object_get(job, "state")), json_is_string(reason) ? " (" : "",
		       json_is_string(reason) ? json_string_value(reason) : "",
		       json_is_string(reason) ? ")" : "");
	}
	json_decref(reply);
	return 0;
}

const struct cmd_entry cmd_queue = {
	.name = "queue",
	.brief = "show named queues, limit or pause one",
	.synopsis = "[Q]",
	.summary = "Without options, list the queues: their limit of running jobs, whether they are\n"
		   "paused, and how many of their jobs run and wait. With Q and an option, change\n"
		   "queue Q first (a queue exists once a job names it or it is given a setting).",
	.opts = queue_opts,
	.max_args = 1,
	.fn = queue_main,
};

const struct cmd_entry cmd_start = {
	.name = "start",
	.brief = "let held jobs (run --hold) start",
	.synopsis = "JOB...",
	.summary = "A job run with --hold waits until this command; then it waits in the queue like\n"
		   "any other (for its GPUs, its queue, its dependencies) and starts when it can.",
	.min_args = 1,
	.max_args = -1,
	.fn = start_main,
};
