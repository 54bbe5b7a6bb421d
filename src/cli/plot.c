/*
 * trainctl plot: a job's resource use over time as a chart, in the terminal
 * (braille, or ASCII) or as an SVG file. The samples come from the daemon's
 * "samples" request, the same series `trainctl stats` summarizes; --input
 * reads such a reply saved as JSON instead, to plot a job after the fact or
 * on another machine. Rendering is src/lib/chart.c; this file turns samples
 * into panels, one per metric.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/chart.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/stats.h"
#include "lib/xmalloc.h"

enum { OPT_HEIGHT = 256, OPT_ASCII, OPT_SVG, OPT_INPUT };

static const struct opt_spec plot_opts[] = {
	{ 'm', "metric", OPT_VALUE, "LIST",
	  "some of cpu,mem,pss,io,threads,procs,gpu,gpumem (default cpu,mem)" },
	{ 'w', "width", OPT_VALUE, "N", "width in columns (default: the terminal's, or 80)" },
	{ OPT_HEIGHT, "height", OPT_VALUE, "N", "rows of each panel's chart (default 8)" },
	{ OPT_ASCII, "ascii", OPT_FLAG, NULL, "draw with ASCII characters instead of braille" },
	{ OPT_SVG, "svg", OPT_VALUE, "FILE", "write an SVG document to FILE ('-': stdout)" },
	{ OPT_INPUT, "input", OPT_VALUE, "FILE",
	  "plot samples from FILE (a samples reply saved as JSON) instead of asking the daemon" },
	{ 0 },
};

#define PLOT_MIN_WIDTH 20
#define PLOT_MAX_WIDTH 1000
#define PLOT_MAX_HEIGHT 200
#define PLOT_DEFAULT_HEIGHT 8

/* ---- metrics ---------------------------------------------------------------- */

static double cpu_value(const struct sample *s)
{
	return s->cpu_percent;
}

static double mem_value(const struct sample *s)
{
	return (double)s->rss_bytes;
}

static double pss_value(const struct sample *s)
{
	return (double)s->pss_bytes;
}

/* Bytes read and written so far; plotted as a rate. */
static double io_value(const struct sample *s)
{
	if (s->read_bytes < 0 || s->write_bytes < 0)
		return -1;
	return (double)s->read_bytes + (double)s->write_bytes;
}

static double threads_value(const struct sample *s)
{
	return s->threads;
}

static double procs_value(const struct sample *s)
{
	return s->procs;
}

static double gpu_value(const struct sample *s)
{
	return s->gpu_util;
}

static double gpumem_value(const struct sample *s)
{
	return (double)s->gpu_mem_bytes;
}

/* A metric: its name on the command line, its panel, and its value in a sample (< 0: unknown). */
struct metric {
	const char *key;
	const char *title;
	enum chart_unit unit;
	double (*value)(const struct sample *s);
	int rate;	     /* plot the change per second of a cumulative counter */
	const char *missing; /* why a job may have no values at all */
};

static const struct metric metrics[] = {
	{ "cpu", "CPU", CHART_PERCENT, cpu_value, 0, "not sampled" },
	{ "mem", "Memory (RSS)", CHART_BYTES, mem_value, 0, "not sampled" },
	{ "pss", "Memory (PSS, shared pages split)", CHART_BYTES, pss_value, 0,
	  "its smaps_rollup could not be read, or it ran less than a PSS interval" },
	{ "io", "Disk I/O (read + write)", CHART_RATE, io_value, 1,
	  "its I/O counters could not be read" },
	{ "threads", "Threads", CHART_COUNT, threads_value, 0, "not sampled" },
	{ "procs", "Processes", CHART_COUNT, procs_value, 0, "not sampled" },
	{ "gpu", "GPU utilization", CHART_PERCENT, gpu_value, 0,
	  "no NVIDIA GPU in use, or NVML not available" },
	{ "gpumem", "GPU memory", CHART_BYTES, gpumem_value, 0,
	  "no NVIDIA GPU in use, or NVML not available" },
};

static const struct metric *metric_find(const char *key, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++) {
		if (strlen(metrics[i].key) == len && !strncmp(metrics[i].key, key, len))
			return &metrics[i];
	}
	return NULL;
}

static int metric_unknown(const char *key, size_t len, struct err *err)
{
	struct strbuf valid = STRBUF_INIT;
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++)
		strbuf_addf(&valid, "%s%s", i ? ", " : "", metrics[i].key);
	ret = err_usage(err, "plot: unknown metric '%.*s' (valid: %s)", (int)len, key, valid.buf);
	strbuf_release(&valid);
	return ret;
}

/*
 * The metrics asked for, in order, each once: every --metric value is a
 * comma-separated list. Returns how many went into chosen, or -1.
 */
static int metrics_parse(char *const *lists, const struct metric **chosen, struct err *err)
{
	int n = 0;

	for (; *lists; lists++) {
		const char *s = *lists;
		for (;;) {
			size_t len = strcspn(s, ",");
			const struct metric *m = metric_find(s, len);
			int seen = 0;
			if (!m)
				return metric_unknown(s, len, err);
			for (int i = 0; i < n; i++)
				seen |= chosen[i] == m;
			if (!seen)
				chosen[n++] = m;
			if (!s[len])
				break;
			s += len + 1;
		}
	}
	return n;
}

/* Does any sample have a value for the metric? */
static int metric_known(const struct metric *m, const struct sample *samples, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m->value(&samples[i]) >= 0)
			return 1;
	}
	return 0;
}

/*
 * A counter's rate between consecutive known readings (the daemon reads I/O
 * counters less often than it samples, so readings are sparse). A counter
 * that went down lost an exited process's share: no rate for that interval.
 */
static void panel_fill_rate(struct chart_panel *p, const struct metric *m,
			    const struct sample *samples, size_t n)
{
	const struct sample *prev = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct sample *s = &samples[i];
		double v = m->value(s), dt;
		if (v < 0)
			continue;
		dt = prev ? (double)(s->time_ms - prev->time_ms) / 1000 : 0;
		if (dt > 0 && v >= m->value(prev))
			chart_panel_add(p, s->time_ms, (v - m->value(prev)) / dt);
		prev = s;
	}
}

static void panel_fill(struct chart_panel *p, const struct metric *m, const struct sample *samples,
		       size_t n)
{
	if (m->rate) {
		panel_fill_rate(p, m, samples, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		double v = m->value(&samples[i]);
		if (v >= 0)
			chart_panel_add(p, samples[i].time_ms, v);
	}
}

/* ---- the command ------------------------------------------------------------ */

/* What plot_main gathers before drawing. */
struct plot {
	const struct metric *chosen[ARRAY_SIZE(metrics)];
	int metric_count;
	int width, height;
	json_t *reply; /* {"job": {...}, "samples": [...]} */
	struct sample *samples;
	size_t sample_count;
	struct strbuf label; /* "job 3 (sim)", or the --input file's name without a job */
};

static int parse_bounded(const char *text, const char *option, int min, int max, int *out,
			 struct err *err)
{
	if (parse_uint(text, out) < 0 || *out < min || *out > max)
		return err_usage(err, "plot: bad %s '%s' (expected a number from %d to %d)", option,
				 text, min, max);
	return 0;
}

static int plot_parse_options(struct cmd_ctx *ctx, struct plot *pl)
{
	static char *const default_metrics[] = { "cpu,mem", NULL };
	char *const *lists = opt_values(ctx, 'm');
	const char *width = opt_value(ctx, 'w'), *height = opt_value(ctx, OPT_HEIGHT);

	if ((ctx->argc > 0) == (opt_value(ctx, OPT_INPUT) != NULL))
		return err_usage(&ctx->err, "plot: give JOB or --input FILE (usage: trainctl plot "
					    "%s)", ctx->cmd->synopsis);
	pl->metric_count = metrics_parse(*lists ? lists : default_metrics, pl->chosen, &ctx->err);
	if (pl->metric_count < 0)
		return -1;
	pl->width = terminal_width() ? terminal_width() : 80;
	pl->height = PLOT_DEFAULT_HEIGHT;
	if (width && parse_bounded(width, "--width", PLOT_MIN_WIDTH, PLOT_MAX_WIDTH, &pl->width,
				   &ctx->err) < 0)
		return -1;
	if (height &&
	    parse_bounded(height, "--height", 2, PLOT_MAX_HEIGHT, &pl->height, &ctx->err) < 0)
		return -1;
	return 0;
}

/* The daemon's "samples" reply for the job. */
static json_t *plot_ask_daemon(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("samples");
	json_t *reply;

	json_object_set_new(req, "jobs", json_pack("[s]", ctx->argv[0]));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply && strstr(ctx->err.msg, "unknown request"))
		err_set(&ctx->err, "plot: the running daemon is older than this trainctl and "
				   "keeps no samples; run 'trainctl daemon stop' (jobs keep "
				   "running), then plot again");
	return reply;
}

/* A samples reply saved in a file; a bare samples array will do too. */
static json_t *plot_read_input(const char *path, struct err *err)
{
	FILE *f = fopen(path, "r");
	json_error_t jerr;
	json_t *root;

	if (!f) {
		err_errno(err, "plot: cannot read %s", path);
		return NULL;
	}
	root = json_loadf(f, 0, &jerr);
	fclose(f);
	if (!root) {
		err_set(err, "plot: %s is not JSON: %s (line %d)", path, jerr.text, jerr.line);
		return NULL;
	}
	if (json_is_array(root)) {
		json_t *reply = json_object();
		json_object_set_new(reply, "samples", root);
		return reply;
	}
	if (!json_is_array(json_object_get(root, "samples"))) {
		err_set(err, "plot: %s is not a samples reply (expected a JSON object with a "
			     "\"samples\" array)", path);
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * Times must be in order and plausible epoch milliseconds (year 1970 to
 * 3000): a hand-edited file must not make the chart's arithmetic overflow.
 */
static int plot_check_times(const struct plot *pl, const char *source, struct err *err)
{
	const int64_t max_ms = 32503680000000; /* 3000-01-01 */

	for (size_t i = 0; i < pl->sample_count; i++) {
		int64_t t = pl->samples[i].time_ms;
		if (t < 0 || t > max_ms || (i && t < pl->samples[i - 1].time_ms))
			return err_set(err, "plot: %s has samples out of time order or "
					    "range (sample %zu: time_ms %lld)",
				       source, i + 1, (long long)t);
	}
	return 0;
}

/* Get the samples, from the daemon or the --input file, and the job's label. */
static int plot_load(struct cmd_ctx *ctx, struct plot *pl)
{
	const char *input = opt_value(ctx, OPT_INPUT);
	json_t *job;

	pl->reply = input ? plot_read_input(input, &ctx->err) : plot_ask_daemon(ctx);
	if (!pl->reply)
		return -1;
	if (samples_from_json(json_object_get(pl->reply, "samples"), &pl->samples,
			      &pl->sample_count) < 0)
		return err_set(&ctx->err, "plot: %s holds samples this trainctl cannot read",
			       input ? input : "the daemon's reply");
	job = json_object_get(pl->reply, "job");
	if (json_is_object(job)) {
		strbuf_addstr(&pl->label, "job ");
		format_job_label(job, &pl->label);
	} else {
		strbuf_addstr(&pl->label, input ? input : ctx->argv[0]);
	}
	if (!pl->sample_count && input)
		return err_set(&ctx->err, "plot: %s holds no samples", input);
	if (!pl->sample_count)
		return err_set(&ctx->err, "no samples for %s yet: the daemon samples every 2s "
					  "(by default)", pl->label.buf);
	return plot_check_times(pl, input ? input : "the daemon's reply", &ctx->err);
}

/*
 * One panel per chosen metric that has values. A metric without any (no GPU)
 * gets a note on stderr instead, or is the error when no metric has values.
 */
static int plot_build_chart(struct cmd_ctx *ctx, const struct plot *pl, struct chart *c)
{
	int known[ARRAY_SIZE(metrics)] = { 0 }, any = 0, first_missing = -1;

	for (int i = 0; i < pl->metric_count; i++) {
		known[i] = metric_known(pl->chosen[i], pl->samples, pl->sample_count);
		any |= known[i];
		first_missing = first_missing < 0 && !known[i] ? i : first_missing;
	}
	if (!any && first_missing >= 0)
		return err_set(&ctx->err, "plot: no %s values for %s: %s",
			       pl->chosen[first_missing]->title, pl->label.buf,
			       pl->chosen[first_missing]->missing);
	chart_init(c, pl->label.buf);
	for (int i = 0; i < pl->metric_count; i++) {
		const struct metric *m = pl->chosen[i];
		if (known[i])
			panel_fill(chart_add_panel(c, m->title, m->unit), m, pl->samples,
				   pl->sample_count);
		else
			fprintf(stderr, "trainctl: note: no %s values for %s: %s\n", m->title,
				pl->label.buf, m->missing);
	}
	return 0;
}

/* Write the document to path ("-": standard output), then say where it went. */
static int plot_write_svg(const char *path, const struct strbuf *svg, struct err *err)
{
	FILE *f;

	if (!strcmp(path, "-")) {
		fwrite(svg->buf, 1, svg->len, stdout);
		return 0;
	}
	f = fopen(path, "w");
	if (!f)
		return err_errno(err, "plot: cannot write %s", path);
	if (fwrite(svg->buf, 1, svg->len, f) != svg->len || fflush(f) != 0 || ferror(f)) {
		err_errno(err, "plot: cannot write %s", path);
		fclose(f);
		unlink(path);
		return -1;
	}
	if (fclose(f) != 0) {
		err_errno(err, "plot: cannot write %s", path);
		unlink(path);
		return -1;
	}
	printf("%s\n", path);
	return 0;
}

static int plot_main(struct cmd_ctx *ctx)
{
	struct plot pl = { .label = STRBUF_INIT };
	struct strbuf out = STRBUF_INIT;
	const char *svg = opt_value(ctx, OPT_SVG);
	struct chart c = { 0 };
	int ret = -1;

	if (plot_parse_options(ctx, &pl) < 0 || plot_load(ctx, &pl) < 0 ||
	    plot_build_chart(ctx, &pl, &c) < 0)
		goto out;
	if (svg) {
		chart_render_svg(&c, &out);
		ret = plot_write_svg(svg, &out, &ctx->err);
	} else {
		chart_render_text(&c, pl.width, pl.height, opt_count(ctx, OPT_ASCII), &out);
		fwrite(out.buf, 1, out.len, stdout);
		ret = 0;
	}
out:
	chart_release(&c);
	strbuf_release(&out);
	strbuf_release(&pl.label);
	free(pl.samples);
	json_decref(pl.reply);
	return ret;
}

const struct cmd_entry cmd_plot = {
	.name = "plot",
	.brief = "chart a job's CPU, memory, I/O... over time",
	.synopsis = "JOB | --input FILE",
	.summary = "Chart a job's resource use over time from the daemon's samples, one panel per\n"
		   "metric: in the terminal (braille characters, or --ascii), or as an SVG\n"
		   "document with --svg. I/O is plotted as bytes read and written per second.",
	.details = "--width, --height and --ascii shape the terminal chart; --svg has a layout of\n"
		   "its own, and prints the path it wrote. The file of --input holds the daemon's\n"
		   "reply to a samples request: {\"job\": {...}, \"samples\": [[time_ms,\n"
		   "cpu_percent, rss_bytes, threads, procs, read_bytes, write_bytes, gpu_util,\n"
		   "gpu_mem_bytes], ...]}, unknown values null (a bare samples array will do).",
	.opts = plot_opts,
	.min_args = 0,
	.max_args = 1,
	.fn = plot_main,
};
