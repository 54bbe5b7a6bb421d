/*
 * trainctl stats: what a job cost, from the daemon's samples of its process
 * tree: min / mean / p95 / max of every metric, CPU-seconds, peak memory, I/O
 * totals and duration, with the hints an experienced engineer would give.
 * --csv exports the raw series.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/stats.h"

enum { OPT_JSON = 256, OPT_CSV };

static const struct opt_spec stats_opts[] = {
	{ OPT_JSON, "json", OPT_FLAG, NULL, "print the statistics and hints as JSON" },
	{ OPT_CSV, "csv", OPT_FLAG, NULL, "print the raw samples as CSV, with a header row" },
	{ 0 },
};

static void print_csv(const struct sample *samples, size_t n)
{
	char row[512];

	printf("%s\n", samples_csv_header());
	for (size_t i = 0; i < n; i++) {
		samples_csv_row(&samples[i], row, sizeof(row));
		printf("%s\n", row);
	}
}

static void print_metric(const char *label, const struct metric_summary *m, int bytes)
{
	char a[32], b[32], c[32], d[32];

	if (m->count == 0)
		return;
	if (bytes) {
		format_size((int64_t)m->min, a, sizeof(a));
		format_size((int64_t)m->mean, b, sizeof(b));
		format_size((int64_t)m->p95, c, sizeof(c));
		format_size((int64_t)m->max, d, sizeof(d));
	} else {
		snprintf(a, sizeof(a), "%.1f", m->min);
		snprintf(b, sizeof(b), "%.1f", m->mean);
		snprintf(c, sizeof(c), "%.1f", m->p95);
		snprintf(d, sizeof(d), "%.1f", m->max);
	}
	printf("  %-12s %10s %10s %10s %10s\n", label, a, b, c, d);
}

static void print_summary(const json_t *job, const struct series_summary *sum, const json_t *hints)
{
	struct strbuf label = STRBUF_INIT;
	char dur[32], rd[32], wr[32];
	size_t i;
	json_t *h;

	format_job_label(job, &label);
	format_duration(sum->end_ms - sum->start_ms, dur, sizeof(dur));
	printf("Job %s: %zu samples over %s, %.1f CPU-seconds\n\n", label.buf, sum->samples, dur,
	       sum->cpu_seconds);
	printf("  %-12s %10s %10s %10s %10s\n", "", "min", "mean", "p95", "max");
	print_metric("CPU %", &sum->cpu, 0);
	print_metric("memory", &sum->rss, 1);
	print_metric("memory PSS", &sum->pss, 1);
	print_metric("threads", &sum->threads, 0);
	print_metric("processes", &sum->procs, 0);
	print_metric("GPU %", &sum->gpu_util, 0);
	print_metric("GPU memory", &sum->gpu_mem, 1);
	if (sum->read_total >= 0) {
		format_size(sum->read_total, rd, sizeof(rd));
		format_size(sum->write_total, wr, sizeof(wr));
		printf("\n  I/O: read %s, written %s\n", rd, wr);
	}
	if (json_array_size(hints))
		printf("\nHints:\n");
	json_array_foreach(hints, i, h)
		printf("  - %s\n", json_string_value(h));
	strbuf_release(&label);
}

static int stats_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("samples");
	json_t *reply, *hints, *out;
	struct sample *samples = NULL;
	struct series_summary sum;
	struct machine_summary machine;
	size_t n = 0;
	int ret = 0;

	if (opt_count(ctx, OPT_JSON) && opt_count(ctx, OPT_CSV)) {
		json_decref(req);
		return err_usage(&ctx->err, "stats: give --json or --csv, not both");
	}
	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	if (samples_from_json(json_object_get(reply, "samples"), &samples, &n) < 0) {
		ret = err_set(&ctx->err, "the daemon sent samples this trainctl cannot read");
		goto out;
	}
	if (opt_count(ctx, OPT_CSV)) {
		print_csv(samples, n);
		goto out;
	}
	if (n == 0) {
		ret = err_set(&ctx->err, "no samples for job %s yet (running jobs are sampled every "
					 "few seconds)", ctx->argv[0]);
		goto out;
	}
	stats_summarize(samples, n, &sum);
	hints = json_array();
	stats_hints(samples, n, &sum, (int)sysconf(_SC_NPROCESSORS_ONLN), hints);
	if (machine_summary_from_json(json_object_get(reply, "machine"), &machine) == 0)
		stats_machine_hints(&sum, &machine, hints);
	if (opt_count(ctx, OPT_JSON)) {
		out = stats_summary_json(&sum);
		json_object_set_new(out, "hints", hints);
		json_object_set_new(out, "machine", json_incref(json_object_get(reply, "machine")));
		json_object_set_new(out, "id", json_incref(json_object_get(json_object_get(reply, "job"), "id")));
		print_json(out);
		json_decref(out);
	} else {
		print_summary(json_object_get(reply, "job"), &sum, hints);
		json_decref(hints);
	}
out:
	free(samples);
	json_decref(reply);
	return ret;
}

const struct cmd_entry cmd_stats = {
	.name = "stats",
	.brief = "what a job used: CPU, memory, I/O, with hints",
	.synopsis = "JOB",
	.summary = "Statistics of a job's resource use over its run (min, mean, p95, max of CPU,\n"
		   "memory, threads, processes; CPU-seconds; I/O totals), sampled by the daemon\n"
		   "every few seconds over the job's whole process tree, with short hints.",
	.opts = stats_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = stats_main,
};
