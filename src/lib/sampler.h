/*
 * Sampling the process trees of many jobs at once. Each tree is everything
 * below a root pid (a job's shim), the root itself excluded.
 *
 * Two paths. A job with a cgroup meter (see cgroup.h) gets its CPU time and
 * memory from two cgroup files, one pread each, however many processes it
 * has: that is every tick's fast path. When some job has no meter, every
 * tick is one pass over /proc for all jobs together, reading only
 * /proc/PID/stat (kept open between ticks and read again with pread). When
 * every job has one, /proc is not walked: on the ticks that ask for
 * SAMPLE_PROCS each cgroup lists its processes and threads. /proc/PID/io and
 * /proc/PID/smaps_rollup of the jobs' processes are read only on the ticks
 * that ask for SAMPLE_IO and SAMPLE_PSS. Counts not refreshed on a tick
 * (processes, threads) carry the last pass's values; I/O and PSS are unknown
 * (-1) on ticks without them.
 * While a job's main process exits, its cgroup's memory drains page by page:
 * a metered job whose memory went down and whose main process is gone or
 * has let go of its memory gets procs 0 (nothing worth keeping) rather than
 * a figure of its teardown.
 *
 * On the /proc path CPU use is the change, between two ticks, of the tree's
 * total CPU time: the utime+stime+cutime+cstime of every live process below
 * the root plus the root's cutime+cstime, so that time spent by processes
 * that have exited (and were reaped inside the tree) is not lost.
 */
#ifndef TRAINCTL_SAMPLER_H
#define TRAINCTL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/cgroup.h"
#include "lib/stats.h"

enum sample_parts {
	SAMPLE_PROCS = 1 << 0, /* count processes and threads (and CPU/memory without a meter) */
	SAMPLE_IO = 1 << 1,    /* read /proc/PID/io (implies SAMPLE_PROCS) */
	SAMPLE_PSS = 1 << 2,   /* read /proc/PID/smaps_rollup (implies SAMPLE_PROCS) */
};

struct sampler_job {
	pid_t root;
	pid_t main; /* the job's main process (0: unknown); with a meter, its end ends the samples */
	struct cgroup_meter *meter; /* NULL: everything from /proc */
};

struct sampler;

struct sampler *sampler_new(void);
void sampler_free(struct sampler *s);

/*
 * Sample jobs[0..n) into out[0..n). A job's cpu_percent is -1 on its first
 * tick (and when its source of CPU time changed). Roots not seen for a tick
 * are forgotten. Returns how many processes the pass read or, when every job
 * has a meter, how many the cgroups listed (0 on a tick without a pass).
 */
size_t sampler_sample(struct sampler *s, const struct sampler_job *jobs, size_t n,
		      unsigned parts, int64_t now_ms, struct sample *out);

#endif
