/* trainctl rm and prune: forget finished jobs, their events and their logs. */
#include <stdio.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/parse.h"
#include "lib/proto.h"

static const struct opt_spec prune_opts[] = {
	{ 'o', "older-than", OPT_VALUE, "DUR", "only jobs that ended more than DUR ago (e.g. 7d)" },
	{ 0 },
};

static int rm_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("rm");
	json_t *reply;

	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	reply = client_call(&ctx->paths, req, &ctx->err);
	json_decref(reply);
	return reply ? 0 : -1;
}

static int prune_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("prune");
	json_t *reply;
	int64_t older = 0;
	size_t n;

	if (opt_value(ctx, 'o') && parse_duration_ms(opt_value(ctx, 'o'), &older, &ctx->err) < 0) {
		json_decref(req);
		return -1;
	}
	json_object_set_new(req, "older_than_ms", json_integer(older));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	n = json_array_size(json_object_get(reply, "removed"));
	printf("removed %zu finished job%s\n", n, n == 1 ? "" : "s");
	json_decref(reply);
	return 0;
}

const struct cmd_entry cmd_rm = {
	.name = "rm",
	.brief = "forget finished jobs and their logs",
	.synopsis = "JOB...",
	.summary = "Forget finished jobs: their records, events and logs. A job that has not\n"
		   "finished is refused (stop it first).",
	.min_args = 1,
	.max_args = -1,
	.fn = rm_main,
};

const struct cmd_entry cmd_prune = {
	.name = "prune",
	.brief = "forget every finished job (or the older ones)",
	.synopsis = "",
	.summary = "Forget every finished job (or those that ended more than --older-than ago).",
	.opts = prune_opts,
	.max_args = 0,
	.fn = prune_main,
};
