/*
 * Statistics and hints over resource time series; see stats.h.
 *
 * Every metric is summarized over its known values only: a negative value
 * means "unknown" (no /proc/PID/io access, no GPU, the first tick of a
 * process whose CPU use needs two ticks), and an unknown value must neither
 * pull a mean down nor count as an idle sample. The hints are rules of thumb
 * with fixed thresholds, each phrased as one sentence with its numbers, and
 * none is given on fewer than HINT_MIN_SAMPLES samples: two points make no
 * trend.
 */
#include "lib/stats.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/parse.h"
#include "lib/xmalloc.h"

#define HINT_MIN_SAMPLES 3
#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * MIB)
#define MS_PER_HOUR 3600000.0

/* Reading one metric of a sample as a double; negative means unknown. */
typedef double (*metric_get_fn)(const struct sample *s);

static double get_cpu(const struct sample *s)
{
	return s->cpu_percent;
}

static double get_rss(const struct sample *s)
{
	return (double)s->rss_bytes;
}

static double get_threads(const struct sample *s)
{
	return s->threads;
}

static double get_procs(const struct sample *s)
{
	return s->procs;
}

static double get_gpu_util(const struct sample *s)
{
	return s->gpu_util;
}

static double get_pss(const struct sample *s)
{
	return (double)s->pss_bytes;
}

static double get_gpu_mem(const struct sample *s)
{
	return (double)s->gpu_mem_bytes;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The known values of one metric, in sample order; caller frees. */
static double *metric_values(const struct sample *samples, size_t n, metric_get_fn get,
			     size_t *count)
{
	double *values = xreallocarray(NULL, n ? n : 1, sizeof(*values));

	*count = 0;
	for (size_t i = 0; i < n; i++) {
		double v = get(&samples[i]);
		if (v >= 0)
			values[(*count)++] = v;
	}
	return values;
}

/* min, mean, p95 (nearest rank: the ceil(0.95 n)-th smallest) and max. */
static void metric_summarize(const struct sample *samples, size_t n, metric_get_fn get,
			     struct metric_summary *m)
{
	size_t count;
	double *v = metric_values(samples, n, get, &count);
	double sum = 0;

	memset(m, 0, sizeof(*m));
	m->count = count;
	if (count > 0) {
		qsort(v, count, sizeof(*v), compare_doubles);
		for (size_t i = 0; i < count; i++)
			sum += v[i];
		m->min = v[0];
		m->max = v[count - 1];
		m->mean = sum / (double)count;
		m->p95 = v[(95 * count + 99) / 100 - 1];
	}
	free(v);
}

/* Trapezoid integral of cpu_percent / 100 over time, skipping unknown ends. */
static double cpu_seconds(const struct sample *samples, size_t n)
{
	double total = 0;

	for (size_t i = 1; i < n; i++) {
		const struct sample *a = &samples[i - 1], *b = &samples[i];
		if (a->cpu_percent >= 0 && b->cpu_percent >= 0)
			total += (double)(b->time_ms - a->time_ms) / 1000.0 *
				 (a->cpu_percent + b->cpu_percent) / 200.0;
	}
	return total;
}

static int64_t get_read(const struct sample *s)
{
	return s->read_bytes;
}

static int64_t get_write(const struct sample *s)
{
	return s->write_bytes;
}

/* Last minus first known value of a cumulative counter; -1 when none is known. */
static int64_t counter_total(const struct sample *samples, size_t n,
			     int64_t (*get)(const struct sample *s))
{
	int64_t first = -1, last = -1;

	for (size_t i = 0; i < n; i++) {
		int64_t v = get(&samples[i]);
		if (v < 0)
			continue;
		if (first < 0)
			first = v;
		last = v;
	}
	return first < 0 ? -1 : last - first;
}

/* Least-squares slope of RSS over time, in bytes per hour (0 without two distinct times). */
static double rss_slope_per_hour(const struct sample *samples, size_t n)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0, mx, my;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (samples[i].rss_bytes < 0)
			continue;
		sx += (double)(samples[i].time_ms - samples[0].time_ms) / MS_PER_HOUR;
		sy += (double)samples[i].rss_bytes;
		k++;
	}
	if (k < 2)
		return 0;
	mx = sx / (double)k;
	my = sy / (double)k;
	for (size_t i = 0; i < n; i++) {
		double dx, dy;

		if (samples[i].rss_bytes < 0)
			continue;
		dx = (double)(samples[i].time_ms - samples[0].time_ms) / MS_PER_HOUR - mx;
		dy = (double)samples[i].rss_bytes - my;
		sxx += dx * dx;
		sxy += dx * dy;
	}
	return sxx > 0 ? sxy / sxx : 0;
}

void stats_summarize(const struct sample *samples, size_t n, struct series_summary *out)
{
	memset(out, 0, sizeof(*out));
	out->samples = n;
	if (n > 0) {
		out->start_ms = samples[0].time_ms;
		out->end_ms = samples[n - 1].time_ms;
	}
	metric_summarize(samples, n, get_cpu, &out->cpu);
	metric_summarize(samples, n, get_rss, &out->rss);
	metric_summarize(samples, n, get_pss, &out->pss);
	metric_summarize(samples, n, get_threads, &out->threads);
	metric_summarize(samples, n, get_procs, &out->procs);
	metric_summarize(samples, n, get_gpu_util, &out->gpu_util);
	metric_summarize(samples, n, get_gpu_mem, &out->gpu_mem);
	out->cpu_seconds = cpu_seconds(samples, n);
	out->read_total = counter_total(samples, n, get_read);
	out->write_total = counter_total(samples, n, get_write);
	out->rss_slope_per_hour = rss_slope_per_hour(samples, n);
}

/* ---- hints ---- */

/* A size for a sentence: format_size's "1.2G" written "1.2 GB". */
static void hint_size(double bytes, char *buf, size_t size)
{
	char text[32];
	size_t len;

	format_size((int64_t)llround(bytes), text, sizeof(text));
	len = strlen(text);
	if (len > 0 && text[len - 1] == 'B')
		snprintf(buf, size, "%.*s B", (int)(len - 1), text);
	else if (len > 0)
		snprintf(buf, size, "%.*s %cB", (int)(len - 1), text, text[len - 1]);
}

static void hint_add(json_t *hints, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void hint_add(json_t *hints, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(hints, json_string(buf));
}

/* Most samples between 85% and 115%: one busy thread (the training loop). */
static void hint_one_core(const struct sample *samples, size_t n, json_t *hints)
{
	size_t known = 0, in_band = 0;
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		double cpu = samples[i].cpu_percent;
		if (cpu < 0)
			continue;
		known++;
		if (cpu >= 85 && cpu <= 115) {
			in_band++;
			sum += cpu;
		}
	}
	if (known < HINT_MIN_SAMPLES || in_band * 5 < known * 4)
		return;
	hint_add(hints,
		 "CPU-bound on one core: ~%.0f%% of one core for %.0f%% of the run — "
		 "more data-loader workers?",
		 sum / (double)in_band, 100.0 * (double)in_band / (double)known);
}

static void hint_cores(const struct series_summary *sum, int ncpus, json_t *hints)
{
	if (sum->cpu.count < HINT_MIN_SAMPLES || sum->cpu.mean <= 150)
		return;
	hint_add(hints, "uses ~%.1f cores on average (p95 %.1f) of %d", sum->cpu.mean / 100,
		 sum->cpu.p95 / 100, ncpus);
}

static void hint_idle(const struct series_summary *sum, json_t *hints)
{
	if (sum->cpu.count < HINT_MIN_SAMPLES || sum->cpu.mean >= 10 ||
	    sum->end_ms - sum->start_ms <= 30000)
		return;
	hint_add(hints,
		 "mostly idle: %.0f%% of one CPU on average — waiting on I/O, the network or a "
		 "lock?",
		 sum->cpu.mean);
}

/* The mean of the known values values[from..to). */
static double mean_of(const double *values, size_t from, size_t to)
{
	double total = 0;

	for (size_t i = from; i < to; i++)
		total += values[i];
	return to > from ? total / (double)(to - from) : 0;
}

/*
 * A leak looks like a steady climb. A positive slope alone also fits a
 * process that loaded its data at the start and then stayed flat, and so
 * does "the last third of the run sits 20% above the first": the climb must
 * also go on through the run, the middle third above the first and the last
 * above the middle, each by at least a quarter of the whole rise.
 */
static int rss_grows_steadily(const double *rss, size_t count)
{
	size_t third = count / 3;
	double first, middle, last;

	if (count < HINT_MIN_SAMPLES)
		return 0;
	first = mean_of(rss, 0, third);
	middle = mean_of(rss, third, count - third);
	last = mean_of(rss, count - third, count);
	return last > 1.2 * first && middle - first >= 0.25 * (last - first) &&
	       last - middle >= 0.25 * (last - first);
}

static void hint_memory(const struct sample *samples, size_t n, const struct series_summary *sum,
			json_t *hints)
{
	size_t count;
	double *rss;
	char size[32];
	int growing;

	if (sum->rss_slope_per_hour <= 50 * MIB)
		return;
	rss = metric_values(samples, n, get_rss, &count);
	growing = rss_grows_steadily(rss, count);
	free(rss);
	if (!growing)
		return;
	hint_size(sum->rss_slope_per_hour, size, sizeof(size));
	hint_add(hints, "memory grew steadily by %s/hour — leak?", size);
}

static void hint_gpu_idle(const struct sample *samples, size_t n, const struct series_summary *sum,
			  json_t *hints)
{
	size_t known = 0, idle = 0;

	for (size_t i = 0; i < n; i++) {
		if (samples[i].gpu_util < 0)
			continue;
		known++;
		idle += samples[i].gpu_util < 5;
	}
	if (known < HINT_MIN_SAMPLES)
		return;
	if (idle * 5 >= known)
		hint_add(hints, "GPU idle %.0f%% of the time — waiting for data or for CPU work between "
				"steps?", 100.0 * (double)idle / (double)known);
	else if (sum->gpu_util.mean < 50)
		hint_add(hints, "GPU utilization averaged %.0f%%: input pipeline bound? More data-loader "
				"workers, pin_memory, or a larger batch", sum->gpu_util.mean);
}

/* More than 1 GB a minute read and written together. */
static void hint_io(const struct series_summary *sum, json_t *hints)
{
	double minutes = (double)(sum->end_ms - sum->start_ms) / 60000.0;
	double rd = sum->read_total > 0 ? (double)sum->read_total : 0;
	double wr = sum->write_total > 0 ? (double)sum->write_total : 0;
	char rs[32], ws[32];

	if (sum->samples < HINT_MIN_SAMPLES || minutes <= 0 || (rd + wr) / minutes <= GIB)
		return;
	hint_size(rd / minutes, rs, sizeof(rs));
	hint_size(wr / minutes, ws, sizeof(ws));
	if (rd > 0 && wr > 0)
		hint_add(hints, "reads %s/min and writes %s/min — I/O-bound?", rs, ws);
	else if (rd > 0)
		hint_add(hints, "reads %s/min — I/O-bound?", rs);
	else
		hint_add(hints, "writes %s/min — I/O-bound?", ws);
}

void stats_hints(const struct sample *samples, size_t n, const struct series_summary *sum,
		 int ncpus, json_t *hints)
{
	hint_one_core(samples, n, hints);
	hint_cores(sum, ncpus, hints);
	hint_idle(sum, hints);
	hint_memory(samples, n, sum, hints);
	hint_gpu_idle(samples, n, sum, hints);
	hint_io(sum, hints);
}

/* ---- JSON and CSV ---- */

static json_t *int_or_null(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *real_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

/* ---- the machine around the job ---- */

#define CONTENDED_MACHINE_PERCENT 85 /* the machine this busy on average... */
#define OTHERS_SHARE_PERCENT 50      /* ...of which others took at least this much */
#define LOW_MEMORY_PERCENT 10

void stats_machine_hints(const struct series_summary *sum, const struct machine_summary *m,
			 json_t *hints)
{
	char size[32], total[32];

	if (m->cpu_mean >= CONTENDED_MACHINE_PERCENT && m->ncpus > 0 && sum->cpu.count > 0) {
		double own = sum->cpu.mean / m->ncpus; /* the job's share of the whole machine */
		if (m->cpu_mean - own >= OTHERS_SHARE_PERCENT)
			hint_add(hints,
				"The machine's CPUs were %.0f%% busy on average, %.0f points of it not this "
				"job: other processes compete for the CPUs — run it where it has them to itself, "
				"or nice the others?", m->cpu_mean, m->cpu_mean - own);
	}
	if (m->mem_available_min >= 0 && m->mem_total > 0 &&
	    m->mem_available_min * 100 < m->mem_total * LOW_MEMORY_PERCENT) {
		hint_size((double)m->mem_available_min, size, sizeof(size));
		hint_size((double)m->mem_total, total, sizeof(total));
		hint_add(hints,
			"The machine ran low on memory: %s of %s available at the lowest — close to "
			"swapping or the OOM killer.", size, total);
	}
}

json_t *machine_summary_json(const struct machine_summary *m)
{
	return json_pack("{sosososi}", "cpu_percent_mean", real_or_null(m->cpu_mean),
			 "mem_available_min_bytes", int_or_null(m->mem_available_min),
			 "mem_total_bytes", int_or_null(m->mem_total), "ncpus", m->ncpus);
}

int machine_summary_from_json(const json_t *o, struct machine_summary *m)
{
	json_t *v;

	*m = (struct machine_summary){ -1, -1, -1, 0 };
	if (!json_is_object(o))
		return -1;
	if (json_is_number(v = json_object_get(o, "cpu_percent_mean")))
		m->cpu_mean = json_number_value(v);
	if (json_is_integer(v = json_object_get(o, "mem_available_min_bytes")))
		m->mem_available_min = json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "mem_total_bytes")))
		m->mem_total = json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "ncpus")))
		m->ncpus = (int)json_integer_value(v);
	return 0;
}

json_t *samples_to_json(const struct sample *samples, size_t n)
{
	json_t *array = json_array();

	for (size_t i = 0; i < n; i++) {
		const struct sample *s = &samples[i];
		json_t *row = json_pack("[Iooooooooo]", (json_int_t)s->time_ms,
					real_or_null(s->cpu_percent), int_or_null(s->rss_bytes),
					int_or_null(s->threads), int_or_null(s->procs),
					int_or_null(s->read_bytes), int_or_null(s->write_bytes),
					real_or_null(s->gpu_util), int_or_null(s->gpu_mem_bytes),
					int_or_null(s->pss_bytes));
		json_array_append_new(array, row);
	}
	return array;
}

/* A number (integer or real) or null (-1); -1 when it is neither. */
static int json_number_or_null(const json_t *v, double *out)
{
	if (json_is_null(v)) {
		*out = -1;
		return 0;
	}
	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return 0;
}

/*
 * One [time_ms, cpu, rss, threads, procs, read, write, gpu_util, gpu_mem, pss]
 * row; pss may be missing (rows written before it was sampled).
 */
static int sample_from_json(const json_t *row, struct sample *s)
{
	double v[9] = { [8] = -1 };
	size_t len = json_array_size(row);

	if (!json_is_array(row) || len < 9 || !json_is_integer(json_array_get(row, 0)))
		return -1;
	s->time_ms = json_integer_value(json_array_get(row, 0));
	for (size_t i = 0; i < 9 && i + 1 < len; i++) {
		if (json_number_or_null(json_array_get(row, i + 1), &v[i]) < 0)
			return -1;
	}
	s->cpu_percent = v[0];
	s->rss_bytes = (int64_t)llround(v[1]);
	s->threads = (int)v[2];
	s->procs = (int)v[3];
	s->read_bytes = (int64_t)llround(v[4]);
	s->write_bytes = (int64_t)llround(v[5]);
	s->gpu_util = v[6];
	s->gpu_mem_bytes = (int64_t)llround(v[7]);
	s->pss_bytes = (int64_t)llround(v[8]);
	s->cpu_seconds = -1;
	return 0;
}

int samples_from_json(const json_t *array, struct sample **samples, size_t *n)
{
	size_t count = json_array_size(array);
	struct sample *out;

	*samples = NULL;
	*n = 0;
	if (!json_is_array(array))
		return -1;
	out = xcalloc(count ? count : 1, sizeof(*out));
	for (size_t i = 0; i < count; i++) {
		if (sample_from_json(json_array_get(array, i), &out[i]) < 0) {
			free(out);
			return -1;
		}
	}
	*samples = out;
	*n = count;
	return 0;
}

const char *samples_csv_header(void)
{
	return "time,cpu_percent,rss_bytes,threads,procs,read_bytes,write_bytes,gpu_util,"
	       "gpu_mem_bytes,pss_bytes";
}

/* Append ",N" or "," (unknown) to buf at *used. */
static void csv_add_int(char *buf, size_t size, size_t *used, int64_t v)
{
	int len = v < 0 ? snprintf(buf + *used, size - *used, ",")
			: snprintf(buf + *used, size - *used, ",%lld", (long long)v);

	*used += (size_t)len < size - *used ? (size_t)len : size - *used - 1;
}

static void csv_add_real(char *buf, size_t size, size_t *used, double v)
{
	int len = v < 0 ? snprintf(buf + *used, size - *used, ",")
			: snprintf(buf + *used, size - *used, ",%.1f", v);

	*used += (size_t)len < size - *used ? (size_t)len : size - *used - 1;
}

void samples_csv_row(const struct sample *s, char *buf, size_t size)
{
	size_t used;

	if (size == 0)
		return;
	format_rfc3339(s->time_ms, buf, size);
	used = strlen(buf);
	csv_add_real(buf, size, &used, s->cpu_percent);
	csv_add_int(buf, size, &used, s->rss_bytes);
	csv_add_int(buf, size, &used, s->threads);
	csv_add_int(buf, size, &used, s->procs);
	csv_add_int(buf, size, &used, s->read_bytes);
	csv_add_int(buf, size, &used, s->write_bytes);
	csv_add_real(buf, size, &used, s->gpu_util);
	csv_add_int(buf, size, &used, s->gpu_mem_bytes);
	csv_add_int(buf, size, &used, s->pss_bytes);
}

/*
 * {min, mean, p95, max}, or null with no known value. Byte-valued metrics
 * print as whole bytes; the rest keep their fractions.
 */
static json_t *metric_json(const struct metric_summary *m, int bytes)
{
	if (m->count == 0)
		return json_null();
	if (bytes)
		return json_pack("{sIsIsIsI}", "min", (json_int_t)llround(m->min), "mean",
				 (json_int_t)llround(m->mean), "p95", (json_int_t)llround(m->p95),
				 "max", (json_int_t)llround(m->max));
	return json_pack("{sfsfsfsf}", "min", m->min, "mean", m->mean, "p95", m->p95, "max",
			 m->max);
}

static json_t *time_json(const struct series_summary *sum, int64_t ms)
{
	char buf[64];

	if (sum->samples == 0)
		return json_null();
	format_rfc3339(ms, buf, sizeof(buf));
	return json_string(buf);
}

json_t *stats_summary_json(const struct series_summary *sum)
{
	json_t *o = json_object();

	json_object_set_new(o, "start", time_json(sum, sum->start_ms));
	json_object_set_new(o, "end", time_json(sum, sum->end_ms));
	json_object_set_new(o, "duration_s",
			    json_real((double)(sum->end_ms - sum->start_ms) / 1000.0));
	json_object_set_new(o, "samples", json_integer((json_int_t)sum->samples));
	json_object_set_new(o, "cpu_percent", metric_json(&sum->cpu, 0));
	json_object_set_new(o, "rss_bytes", metric_json(&sum->rss, 1));
	json_object_set_new(o, "pss_bytes", metric_json(&sum->pss, 1));
	json_object_set_new(o, "threads", metric_json(&sum->threads, 0));
	json_object_set_new(o, "procs", metric_json(&sum->procs, 0));
	json_object_set_new(o, "gpu_util", metric_json(&sum->gpu_util, 0));
	json_object_set_new(o, "gpu_mem_bytes", metric_json(&sum->gpu_mem, 1));
	json_object_set_new(o, "cpu_seconds", json_real(sum->cpu_seconds));
	json_object_set_new(o, "read_bytes", int_or_null(sum->read_total));
	json_object_set_new(o, "write_bytes", int_or_null(sum->write_total));
	json_object_set_new(o, "rss_slope_bytes_per_hour",
			    json_integer((json_int_t)llround(sum->rss_slope_per_hour)));
	return o;
}
