/*
 * The daemon's resource sampler: every interval (default 2 s, `daemon
 * --interval`) it samples the process trees of all running jobs and the
 * machine's totals, and stores both. A job with a cgroup costs two preads
 * a tick (its CPU time and memory charged); every PROCS_EVERY (10) ticks its
 * cgroup's lists give the counts of processes and threads, and its
 * memory.stat the resident memory. Without a cgroup, one pass over /proc for
 * all jobs every tick. I/O counters every IO_EVERY (30) ticks and PSS every
 * PSS_EVERY (60), from each process of the job.
 * Samples older than a day are folded into one-minute min/mean/max rows, so
 * that a three-day run stays a few MB. Samples reach the database in
 * batches, every 10 seconds.
 */
#ifndef TRAINCTL_SAMPLING_H
#define TRAINCTL_SAMPLING_H

#include <jansson.h>

#include "daemon/daemon.h"

#define SAMPLING_DEFAULT_MS 2000

void sampling_start(struct daemon *d, int64_t interval_ms);
void sampling_release(struct daemon *d);
/* Store the samples waiting in memory now (before a request reads samples). */
void sampling_flush(struct daemon *d);
/* A live job's CPU use (percent of one CPU) at its latest sample, or -1. */
double sampling_current_cpu(struct daemon *d, int64_t id);
/* Set a live job's cpu_percent, rss_bytes, pss_bytes and cpu_seconds from its latest samples. */
void sampling_add_current(struct daemon *d, json_t *job);
/* The machine's latest totals as JSON (the "machine" request), or NULL before the first tick. */
json_t *sampling_machine_json(struct daemon *d);

#endif
