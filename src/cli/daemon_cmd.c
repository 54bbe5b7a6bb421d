/*
 * trainctl daemon [--foreground] | daemon status | daemon stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "daemon/daemon.h"
#include "lib/config.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/strbuf.h"

enum { OPT_FOREGROUND = 256, OPT_JSON, OPT_READY_FD, OPT_CHECKPOINT_JOBS, OPT_INTERVAL, OPT_METRICS };

static const struct opt_spec daemon_opts[] = {
	{ OPT_FOREGROUND, "foreground", OPT_FLAG, NULL, "run in the foreground (for systemd, or to debug)" },
	{ OPT_JSON, "json", OPT_FLAG, NULL, "status: print JSON" },
	{ OPT_INTERVAL, "interval", OPT_VALUE, "DUR", "sample running jobs every DUR (default 2s; or $TRAINCTL_SAMPLE_INTERVAL)" },
	{ OPT_METRICS, "metrics", OPT_VALUE, "ADDR:PORT", "serve Prometheus metrics at http://ADDR:PORT/metrics (or $TRAINCTL_METRICS)" },
	{ OPT_CHECKPOINT_JOBS, "checkpoint-jobs", OPT_FLAG, NULL, "stop: stop every job gracefully first (--resume-on-boot jobs resume at the next start)" },
	{ OPT_READY_FD, "ready-fd", OPT_VALUE, "FD", "internal: report readiness on FD" },
	{ 0 },
};

/* "machine: 2 CPUs 35% busy, memory 3.2G of 24G available, swap 0 of 1G used, load 0.52 0.40 0.31" */
static void print_machine(const json_t *m)
{
	json_t *cpu = json_object_get(m, "cpu_percent"), *load = json_object_get(m, "load");
	int64_t swap_total = json_integer_value(json_object_get(m, "swap_total_bytes"));
	char avail[32], total[32], swap_used[32], swap[32], busy[32] = "";

	if (!json_is_object(m))
		return;
	format_size(json_integer_value(json_object_get(m, "mem_available_bytes")), avail, sizeof(avail));
	format_size(json_integer_value(json_object_get(m, "mem_total_bytes")), total, sizeof(total));
	format_size(swap_total - json_integer_value(json_object_get(m, "swap_free_bytes")), swap_used,
		    sizeof(swap_used));
	format_size(swap_total, swap, sizeof(swap));
	if (json_is_number(cpu))
		snprintf(busy, sizeof(busy), " %.0f%% busy", json_number_value(cpu));
	printf("machine: %lld CPUs%s, memory %s of %s available, swap %s of %s used, "
	       "load %.2f %.2f %.2f\n",
	       (long long)json_integer_value(json_object_get(m, "ncpus")), busy, avail, total,
	       swap_used, swap, json_number_value(json_array_get(load, 0)),
	       json_number_value(json_array_get(load, 1)), json_number_value(json_array_get(load, 2)));
}

static void print_status(struct cmd_ctx *ctx, const json_t *reply, const char *uptime)
{
	const char *key, *note = json_string_value(json_object_get(reply, "cgroups_note"));
	char every[32];
	json_t *value;

	format_duration(json_integer_value(json_object_get(reply, "sample_interval_ms")), every,
			sizeof(every));
	printf("daemon running, pid %lld, up %s, version %s\nhome: %s\n",
	       (long long)json_integer_value(json_object_get(reply, "pid")), uptime,
	       json_string_value(json_object_get(reply, "version")), ctx->paths.home);
	printf("sampling: every %s\njob cgroups: %s%s%s%s\njobs:", every,
	       json_string_value(json_object_get(reply, "cgroups")), note ? " (" : "",
	       note ? note : "", note ? ")" : "");
	json_object_foreach(json_object_get(reply, "jobs"), key, value)
		printf(" %lld %s", (long long)json_integer_value(value), key);
	printf("%s\n", json_object_size(json_object_get(reply, "jobs")) ? "" : " none");
	print_machine(json_object_get(reply, "machine"));
}

static int daemon_status(struct cmd_ctx *ctx)
{
	struct err err = { 0 };
	int fd = client_connect(&ctx->paths, 0, &err);
	json_t *reply;
	char uptime[32];

	if (fd < 0) {
		printf("no daemon running for %s\n", ctx->paths.home);
		return 3; /* like `systemctl status` for an inactive unit */
	}
	close(fd);
	reply = client_call(&ctx->paths, proto_request("hello"), &ctx->err);
	if (!reply)
		return -1;
	if (opt_count(ctx, OPT_JSON)) {
		json_object_del(reply, "ok");
		json_object_del(reply, "v");
		print_json(reply);
	} else {
		format_duration(json_integer_value(json_object_get(reply, "uptime_ms")), uptime,
				sizeof(uptime));
		print_status(ctx, reply, uptime);
	}
	json_decref(reply);
	return 0;
}

/* Ask the daemon to exit and wait until it has let go of its lock (it then hangs up). */
static int daemon_stop(struct cmd_ctx *ctx)
{
	struct strbuf buf = STRBUF_INIT;
	struct err err = { 0 };
	int fd = client_connect(&ctx->paths, 0, &err);
	json_t *req = proto_request("shutdown");
	json_t *reply = NULL;
	char c;

	json_object_set_new(req, "checkpoint_jobs", json_boolean(opt_count(ctx, OPT_CHECKPOINT_JOBS)));
	if (fd < 0) {
		json_decref(req);
		printf("no daemon running for %s\n", ctx->paths.home);
		return 0;
	}
	if (proto_send(fd, req, &ctx->err) == 0)
		reply = proto_recv(fd, &buf, &ctx->err);
	if (reply && proto_reply_check(reply, &ctx->err) == 0) {
		print_job_results(json_object_get(reply, "results"));
		while (read(fd, &c, 1) > 0)
			;
	}
	close(fd);
	strbuf_release(&buf);
	json_decref(req);
	if (!reply)
		return -1;
	json_decref(reply);
	return ctx->err.msg[0] ? -1 : 0;
}

static int daemon_background(struct cmd_ctx *ctx)
{
	struct err err = { 0 };
	int fd = client_connect(&ctx->paths, 1, &err);
	json_t *reply;

	if (fd < 0)
		return err_set(&ctx->err, "%s", err.msg);
	close(fd);
	reply = client_call(&ctx->paths, proto_request("hello"), &ctx->err);
	if (!reply)
		return -1;
	printf("daemon running for %s (pid %lld)\n", ctx->paths.home,
	       (long long)json_integer_value(json_object_get(reply, "pid")));
	json_decref(reply);
	return 0;
}

static int daemon_cmd_main(struct cmd_ctx *ctx)
{
	const char *sub = ctx->argc ? ctx->argv[0] : NULL;
	const char *ready = opt_value(ctx, OPT_READY_FD);
	int64_t interval;
	int ready_fd = -1;

	if (sub && strcmp(sub, "status") == 0)
		return daemon_status(ctx);
	if (sub && strcmp(sub, "stop") == 0)
		return daemon_stop(ctx);
	if (sub)
		return err_usage(&ctx->err, "daemon: unknown subcommand '%s' (expected status or stop)", sub);
	if (ready && parse_uint(ready, &ready_fd) < 0)
		return err_usage(&ctx->err, "daemon: invalid --ready-fd '%s'", ready);
	/* Through the environment, so that a daemon started in the background gets it too. */
	if (opt_value(ctx, OPT_INTERVAL)) {
		if (parse_duration_ms(opt_value(ctx, OPT_INTERVAL), &interval, &ctx->err) < 0)
			return -1;
		if (interval < 100)
			return err_usage(&ctx->err, "daemon: --interval must be at least 100ms");
		setenv("TRAINCTL_SAMPLE_INTERVAL", opt_value(ctx, OPT_INTERVAL), 1);
	}
	if (opt_value(ctx, OPT_METRICS)) {
		char host[64];
		int port;

		if (config_parse_listen(opt_value(ctx, OPT_METRICS), host, sizeof(host), &port, &ctx->err) < 0)
			return -1;
		setenv("TRAINCTL_METRICS", opt_value(ctx, OPT_METRICS), 1);
	}
	if (!opt_count(ctx, OPT_FOREGROUND))
		return daemon_background(ctx);
	return daemon_run(ready_fd, 0);
}

const struct cmd_entry cmd_daemon = {
	.name = "daemon",
	.brief = "start, inspect or stop the daemon",
	.synopsis = "[status|stop]",
	.summary = "Start the daemon in the background (commands start it on demand anyway),\n"
		   "run it in the foreground, show its status, or stop it. Stopping the daemon\n"
		   "never stops jobs: a restarted daemon re-adopts them.",
	.opts = daemon_opts,
	.max_args = 1,
	.fn = daemon_cmd_main,
	.details = "'daemon status' exits 0 when a daemon is running and 3 when none is.",
};
