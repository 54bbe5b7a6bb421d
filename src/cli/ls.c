/*
 * trainctl ls and trainctl show: the jobs as a table, and one job in full
 * with its events. Both print the interface's JSON with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/parse.h"
#include "lib/proto.h"

enum { OPT_JSON = 256, OPT_STATE };

static const struct opt_spec ls_opts[] = {
	{ 'a', "all", OPT_FLAG, NULL, "also list finished jobs" },
	{ OPT_STATE, "state", OPT_VALUE, "STATE", "only jobs in STATE (running, failed, ...)" },
	{ OPT_JSON, "json", OPT_FLAG, NULL, "print a JSON array of job objects" },
	{ 0 },
};

static const struct opt_spec show_opts[] = {
	{ OPT_JSON, "json", OPT_FLAG, NULL, "print the job object, with its events, as JSON" },
	{ 0 },
};

/* The footer of a listing of the active jobs: how many finished jobs it leaves out. */
static void print_finished_footer(json_int_t finished)
{
	if (finished > 0)
		printf("(%lld finished job%s not shown: trainctl ls -a)\n", (long long)finished,
		       finished == 1 ? "" : "s");
}

static int ls_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("ls");
	int all = opt_count(ctx, 'a') || opt_value(ctx, OPT_STATE);
	json_t *reply, *text;

	json_object_set_new(req, "all", json_boolean(opt_count(ctx, 'a')));
	if (opt_value(ctx, OPT_STATE))
		json_object_set_new(req, "state", json_string(opt_value(ctx, OPT_STATE)));
	/* The daemon draws the table: thousands of rows are not turned into JSON and back. */
	if (!opt_count(ctx, OPT_JSON))
		json_object_set_new(req, "table_width", json_integer(terminal_width()));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	text = json_object_get(reply, "text");
	if (opt_count(ctx, OPT_JSON))
		print_json(json_object_get(reply, "jobs"));
	else if (json_is_string(text))
		fwrite(json_string_value(text), 1, json_string_length(text), stdout);
	else /* a daemon from before the table was drawn there */
		format_job_table(json_object_get(reply, "jobs"), stdout, terminal_width());
	if (!opt_count(ctx, OPT_JSON) && !all)
		print_finished_footer(json_integer_value(json_object_get(reply, "finished")));
	json_decref(reply);
	return 0;
}

static void print_field(const char *label, const char *value)
{
	struct strbuf sb = STRBUF_INIT;

	format_text(value && *value ? value : "-", &sb);
	printf("  %-11s %s\n", label, sb.buf);
	strbuf_release(&sb);
}

static void print_show_times(const json_t *job)
{
	char buf[64];

	format_job_time(job, "created_at", buf, sizeof(buf));
	print_field("Created:", buf);
	format_job_time(job, "started_at", buf, sizeof(buf));
	print_field("Started:", buf);
	format_job_time(job, "ended_at", buf, sizeof(buf));
	print_field("Ended:", buf);
	format_job_elapsed(job, buf, sizeof(buf));
	print_field("Elapsed:", buf);
}

/* Current and peak CPU and memory of the job's tree, from the daemon's samples. */
static void print_show_usage(const json_t *job)
{
	json_t *cpu = json_object_get(job, "cpu_percent"), *rss = json_object_get(job, "rss_bytes");
	json_t *peak_cpu = json_object_get(job, "peak_cpu_percent");
	json_t *peak_rss = json_object_get(job, "peak_rss_bytes");
	json_t *peak_pss = json_object_get(job, "peak_pss_bytes");
	char now[64] = "", peak[96] = "", size[32], pss[32], buf[192];

	if (json_is_number(cpu) && json_is_integer(rss)) {
		format_size(json_integer_value(rss), size, sizeof(size));
		snprintf(now, sizeof(now), "%.0f%% CPU, %s now", json_number_value(cpu), size);
	}
	if (json_is_number(peak_cpu) && json_is_integer(peak_rss)) {
		format_size(json_integer_value(peak_rss), size, sizeof(size));
		pss[0] = '\0';
		if (json_is_integer(peak_pss))
			format_size(json_integer_value(peak_pss), pss, sizeof(pss));
		snprintf(peak, sizeof(peak), "peak %.0f%% CPU, %s%s%s%s", json_number_value(peak_cpu),
			 size, pss[0] ? " (PSS " : "", pss, pss[0] ? ")" : "");
	}
	if (!now[0] && !peak[0])
		return;
	snprintf(buf, sizeof(buf), "%s%s%s", now, now[0] && peak[0] ? "; " : "", peak);
	print_field("Resources:", buf);
}

static void print_show_progress(const json_t *progress)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *rate = json_object_get(progress, "rate");

	format_progress(progress, 20, &sb);
	if (json_is_number(rate))
		strbuf_addf(&sb, ", %.3g %s/s", json_number_value(rate),
			    json_string_value(json_object_get(progress, "unit")));
	print_field("Progress:", sb.buf);
	strbuf_release(&sb);
}

/* "nice 5, cpu 50%, memory 64M (cgroup v1)" from the limits the shim reports. */
static void print_show_limits(const json_t *limits)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *nice = json_object_get(limits, "nice");
	json_t *cpu = json_object_get(limits, "cpu_limit");
	json_t *mem = json_object_get(limits, "mem_limit");
	char size[32];

	if (!json_is_object(limits) || (!json_is_number(nice) && !json_is_number(cpu) &&
					 !json_is_number(mem))) {
		strbuf_release(&sb);
		return;
	}
	if (json_is_integer(nice))
		strbuf_addf(&sb, "nice %lld", (long long)json_integer_value(nice));
	if (json_is_number(cpu))
		strbuf_addf(&sb, "%scpu %.0f%%", sb.len ? ", " : "", json_number_value(cpu) * 100);
	if (json_is_integer(mem)) {
		format_size(json_integer_value(mem), size, sizeof(size));
		strbuf_addf(&sb, "%smemory %s", sb.len ? ", " : "", size);
	}
	if (json_is_number(cpu) || json_is_number(mem))
		strbuf_addf(&sb, " (%s)", json_string_value(json_object_get(limits, "mechanism")));
	print_field("Limits:", sb.buf);
	strbuf_release(&sb);
}

static void print_show_restart(const json_t *spec)
{
	const char *policy = json_string_value(json_object_get(spec, "restart"));
	const char *resume = json_string_value(json_object_get(spec, "resume_args"));
	json_t *limit = json_object_get(spec, "time_limit_ms");
	char buf[256], dur[32];

	if (policy && strcmp(policy, "no") != 0) {
		snprintf(buf, sizeof(buf), "%s, at most %lld times%s%s", policy,
			 (long long)json_integer_value(json_object_get(spec, "max_restarts")),
			 resume ? ", resuming with " : "", resume ? resume : "");
		print_field("Restart:", buf);
	}
	if (json_is_integer(limit)) {
		format_duration(json_integer_value(limit), dur, sizeof(dur));
		print_field("Time limit:", dur);
	}
}

static void print_show_spec(const json_t *spec)
{
	char grace[32], size[32], buf[96];
	int64_t log_max = json_integer_value(json_object_get(spec, "log_max"));

	format_duration(json_integer_value(json_object_get(spec, "stop_timeout_ms")), grace,
			sizeof(grace));
	snprintf(buf, sizeof(buf), "%s, then SIGKILL after %s",
		 signal_name((int)json_integer_value(json_object_get(spec, "stop_signal"))), grace);
	print_field("Stop:", buf);
	format_size(log_max, size, sizeof(size));
	if (json_is_integer(json_object_get(spec, "slurm_job_id"))) {
		snprintf(buf, sizeof(buf), "slurm job %lld%s%s",
			 (long long)json_integer_value(json_object_get(spec, "slurm_job_id")),
			 json_object_get(spec, "partition") ? ", partition " : "",
			 json_string_value(json_object_get(spec, "partition")) ?: "");
		print_field("On:", buf);
		snprintf(buf, sizeof(buf), "written by slurm (sbatch --output, appended)");
	} else if (log_max > 0)
		snprintf(buf, sizeof(buf), "%s, log rotated at %s (3 kept)",
			 json_is_false(json_object_get(spec, "pty")) ? "pipes" : "pty", size);
	else
		snprintf(buf, sizeof(buf), "%s, log never rotated",
			 json_is_false(json_object_get(spec, "pty")) ? "pipes" : "pty");
	print_field("Output:", buf);
	print_show_restart(spec);
}

static void print_show_attempts(const json_t *attempts)
{
	size_t i;
	json_t *a;

	if (json_array_size(attempts) == 0)
		return;
	printf("Attempts:\n");
	json_array_foreach(attempts, i, a) {
		char start[40], end[40];
		const char *ckpt = json_string_value(json_object_get(a, "checkpoint"));
		struct strbuf sb = STRBUF_INIT;

		format_job_time(a, "started_at", start, sizeof(start));
		format_job_time(a, "ended_at", end, sizeof(end));
		format_job_state(a, &sb);
		if (ckpt) {
			strbuf_addstr(&sb, ", checkpoint ");
			format_text(ckpt, &sb);
		}
		printf("  #%lld  %s .. %s  %s\n",
		       (long long)json_integer_value(json_object_get(a, "attempt")), start, end, sb.buf);
		strbuf_release(&sb);
	}
}

static void print_show_events(const json_t *events)
{
	size_t i;
	json_t *ev;

	printf("Events:\n");
	json_array_foreach(events, i, ev) {
		char when[40];
		const char *detail = json_string_value(json_object_get(ev, "detail"));
		struct strbuf sb = STRBUF_INIT;

		format_job_time(ev, "time", when, sizeof(when));
		format_text(detail ? detail : "", &sb);
		printf("  %s  %-11s %s\n", when, json_string_value(json_object_get(ev, "kind")), sb.buf);
		strbuf_release(&sb);
	}
}

/* The log's path, and why it is not being written if it is not. */
static void print_show_log(const json_t *job)
{
	const json_t *failing = json_object_get(job, "log_error");
	struct strbuf sb = STRBUF_INIT;
	char since[40];

	strbuf_addstr(&sb, json_string_value(json_object_get(job, "log")));
	if (json_is_object(failing)) {
		format_job_time(failing, "since", since, sizeof(since));
		strbuf_addf(&sb, " (not written since %s: %s; %lld bytes wait in memory, %lld lost)",
			    since, json_string_value(json_object_get(failing, "error")),
			    (long long)json_integer_value(json_object_get(failing, "pending_bytes")),
			    (long long)json_integer_value(json_object_get(failing, "lost_bytes")));
	}
	print_field("Log:", sb.buf);
	strbuf_release(&sb);
}

static void print_show(const json_t *job)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *pid = json_object_get(job, "pid");
	char buf[64];

	format_job_label(job, &sb);
	printf("Job %s\n", sb.buf);
	strbuf_reset(&sb);
	format_job_state(job, &sb);
	print_field("State:", sb.buf);
	strbuf_reset(&sb);
	format_command(json_object_get(job, "command"), &sb);
	print_field("Command:", sb.buf);
	print_field("Directory:", json_string_value(json_object_get(job, "cwd")));
	snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(pid));
	print_field("PID:", json_is_integer(pid) ? buf : NULL);
	print_show_times(job);
	print_show_progress(json_object_get(job, "progress"));
	print_show_usage(job);
	if (json_array_size(json_object_get(job, "gpus")) ||
	    json_is_integer(json_object_get(job, "gpu_mem_bytes"))) {
		struct strbuf gpus = STRBUF_INIT;

		format_job_gpus(job, &gpus);
		print_field("GPUs:", gpus.buf);
		strbuf_release(&gpus);
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(json_object_get(job, "restarts")));
	print_field("Restarts:", buf);
	print_show_spec(json_object_get(job, "spec"));
	print_show_limits(json_object_get(job, "limits"));
	print_field("Checkpoint:", json_string_value(json_object_get(job, "checkpoint")));
	print_show_log(job);
	print_show_attempts(json_object_get(job, "attempts"));
	print_show_events(json_object_get(job, "events"));
	strbuf_release(&sb);
}

static int show_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("show");
	json_t *reply, *job;

	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	job = json_object_get(reply, "job");
	if (opt_count(ctx, OPT_JSON)) {
		json_object_del(job, "spec");
		print_json(job);
	} else {
		print_show(job);
	}
	json_decref(reply);
	return 0;
}

const struct cmd_entry cmd_ls = {
	.name = "ls",
	.brief = "list jobs: state, pid, elapsed time, command",
	.synopsis = "",
	.summary = "List the jobs that have not finished (all jobs with -a), with their state,\n"
		   "pid, elapsed time and command.",
	.opts = ls_opts,
	.max_args = 0,
	.fn = ls_main,
};

const struct cmd_entry cmd_show = {
	.name = "show",
	.brief = "everything about one job, with its events",
	.synopsis = "JOB",
	.summary = "Show everything about one job, with its events. JOB is an id or a name.",
	.opts = show_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = show_main,
};
