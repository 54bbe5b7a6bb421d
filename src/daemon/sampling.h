/*
 * The daemon's resource sampler: every interval (default 2 s, `daemon
 * --interval`) it samples the process trees of all running jobs and the
 * machine's totals, and stores both. A job with a cgroup costs two preads
 * a tick (its CPU time and memory); every process is visited, in one pass
 * over /proc for all jobs, every PROCS_EVERY ticks for the counts of
 * processes and threads (every tick for jobs without a cgroup), with I/O
 * counters on the same ticks and PSS every PSS_EVERY. Samples older than a
 * day are folded into one-minute min/mean/max rows, so that a three-day run
 * stays a few MB.
 */
#ifndef TRAINCTL_SAMPLING_H
#define TRAINCTL_SAMPLING_H

#include <jansson.h>

#include "daemon/daemon.h"

#define SAMPLING_DEFAULT_MS 2000

void sampling_start(struct daemon *d, int64_t interval_ms);
void sampling_release(struct daemon *d);
/* A live job's CPU use (percent of one CPU) at its latest sample, or -1. */
double sampling_current_cpu(struct daemon *d, int64_t id);
/* Set a live job's cpu_percent, rss_bytes, pss_bytes and cpu_seconds from its latest samples. */
void sampling_add_current(struct daemon *d, json_t *job);
/* The machine's latest totals as JSON (the "machine" request), or NULL before the first tick. */
json_t *sampling_machine_json(struct daemon *d);

#endif
