/*
 * Statistics and hints over resource time series: what `trainctl stats`
 * prints for a job (from the daemon's samples) and `trainctl analyze` for a
 * CSV written by `trainctl monitor`. Pure functions over arrays.
 */
#ifndef TRAINCTL_STATS_H
#define TRAINCTL_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* One sample of a process tree (or one process). */
struct sample {
	int64_t time_ms;
	double cpu_percent;   /* of one CPU: 250 = two and a half cores; -1 unknown (first tick) */
	int64_t rss_bytes;
	int threads;
	int procs;
	int64_t read_bytes;   /* cumulative, -1 when unknown */
	int64_t write_bytes;  /* cumulative, -1 when unknown */
	double gpu_util;      /* percent, -1 when unknown */
	int64_t gpu_mem_bytes; /* -1 when unknown */
	int64_t pss_bytes;    /* proportional set size (shared pages split), -1 when unknown */
	double cpu_seconds;   /* cumulative CPU time of the tree so far; -1 unknown (not stored) */
};

struct metric_summary {
	double min, mean, p95, max;
	size_t count; /* samples with a known value */
};

struct series_summary {
	int64_t start_ms, end_ms;
	size_t samples;
	struct metric_summary cpu, rss, pss, threads, procs, gpu_util, gpu_mem;
	double cpu_seconds;       /* integral of cpu_percent over time / 100 */
	int64_t read_total;       /* last - first of the cumulative counters, -1 unknown */
	int64_t write_total;
	double rss_slope_per_hour; /* least-squares slope of RSS, bytes per hour */
};

/* Summarize samples (sorted by time). */
void stats_summarize(const struct sample *samples, size_t n, struct series_summary *out);

/*
 * Hints an experienced engineer would give, one sentence each, appended to
 * `hints` (a JSON array of strings): CPU-bound on one core, CPU-starved
 * (mostly idle), memory growing steadily (a leak?), GPU idle part of the time,
 * I/O-heavy. ncpus is the machine's CPU count.
 */
void stats_hints(const struct sample *samples, size_t n, const struct series_summary *sum,
		 int ncpus, json_t *hints);

/* What the machine as a whole did over a job's run (from the daemon's machine samples). */
struct machine_summary {
	double cpu_mean;          /* busy share of all CPUs, 0-100; -1 unknown */
	int64_t mem_available_min; /* -1 unknown */
	int64_t mem_total;
	int ncpus;
};

/*
 * Hints about the job's surroundings: other processes competing for the CPUs,
 * the machine running short of memory. Appended to hints like stats_hints.
 */
void stats_machine_hints(const struct series_summary *sum, const struct machine_summary *m,
			 json_t *hints);
json_t *machine_summary_json(const struct machine_summary *m);
/* Parse what machine_summary_json wrote (unknown fields stay -1); -1 when not an object. */
int machine_summary_from_json(const json_t *o, struct machine_summary *m);

/*
 * Samples on the wire (the daemon's "samples" reply, stats --json): an array
 * of arrays [time_ms, cpu_percent, rss_bytes, threads, procs, read_bytes,
 * write_bytes, gpu_util, gpu_mem_bytes, pss_bytes], unknown values as null.
 */
json_t *samples_to_json(const struct sample *samples, size_t n);
/* Parse that array; *samples is allocated (caller frees). -1 when malformed. */
int samples_from_json(const json_t *array, struct sample **samples, size_t *n);

/* The CSV header and one row for `stats --csv` (time as RFC 3339, unknown values empty). */
const char *samples_csv_header(void);
void samples_csv_row(const struct sample *s, char *buf, size_t size);

/* The summary as JSON: {"duration_s", "samples", "cpu_percent": {min,mean,p95,max}, ...}. */
json_t *stats_summary_json(const struct series_summary *sum);

#endif
