/*
 * The daemon's resource sampler: every interval (default 2 s, `daemon
 * --interval`), one pass over /proc samples the process trees of all running
 * jobs (CPU %, RSS, threads, processes; I/O counters every fifth tick) and
 * stores the samples. Samples older than a day are folded into one-minute
 * min/mean/max rows, so that a three-day run stays a few MB.
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
/* Set a live job's "cpu_percent" and "rss_bytes" from its latest sample. */
void sampling_add_current(struct daemon *d, json_t *job);

#endif
