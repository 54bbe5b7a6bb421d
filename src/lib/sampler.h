/*
 * Sampling the process trees of many jobs at once: one pass over /proc per
 * tick for all of them, reading only /proc/PID/stat on the fast path (CPU
 * times, RSS, threads), and /proc/PID/io for the I/O counters when asked (at
 * a slower cadence). Each tree is everything below a root pid (a job's
 * shim), the root itself excluded.
 *
 * CPU use is the change, between two ticks, of the tree's total CPU time:
 * the utime+stime+cutime+cstime of every live process below the root plus
 * the root's cutime+cstime, so that time spent by processes that have exited
 * (and were reaped inside the tree) is not lost.
 */
#ifndef TRAINCTL_SAMPLER_H
#define TRAINCTL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/stats.h"

struct sampler;

struct sampler *sampler_new(void);
void sampler_free(struct sampler *s);

/*
 * Sample the trees below roots[0..n). out[i] gets tree i's sample (its
 * cpu_percent is -1 on a root's first tick; read/write bytes -1 unless
 * with_io). Roots not seen for a tick are forgotten.
 */
int sampler_sample(struct sampler *s, const pid_t *roots, size_t n, int with_io, int64_t now_ms,
		   struct sample *out);

#endif
