/*
 * A job's priority and resource limits, enforced by its shim: --nice for the
 * whole tree, and --cpu-limit / --mem-limit through a per-job cgroup (v2 or
 * v1, whichever the daemon found usable), or where there is none, honestly
 * approximated: CPU by a SIGSTOP/SIGCONT duty cycle (as cpulimit does) and
 * memory by a watchdog that stops the job gracefully when its tree's RSS
 * passes the limit (reason memory-limit). With a cgroup the kernel
 * OOM-kills inside the limit, and stopping kills the whole cgroup.
 */
#ifndef TRAINCTL_LIMITS_H
#define TRAINCTL_LIMITS_H

#include <jansson.h>

#include "lib/err.h"

struct shim;

/* Before the job starts: its cgroup and limits, from the spec. */
int limits_setup(struct shim *shim, struct err *err);
/* In the forked child, before exec: join the cgroup, take the nice value. Async-signal-safe. */
void limits_child(const struct shim *shim);
/* The job is running: start the fallback timers it needs. */
void limits_started(struct shim *shim);
/* Change the limits of the running job (cpus 0: none; -1: unchanged; mem likewise). */
int limits_update(struct shim *shim, double cpus, int64_t mem, struct err *err);
/* Set the nice value of every process of the job. */
int limits_renice(struct shim *shim, int nice, struct err *err);
/* Kill whatever is in the job's cgroup (after the grace period). */
void limits_kill(struct shim *shim);
/* The job has ended: note OOM kills in the exit record, remove the cgroup. */
void limits_finish(struct shim *shim);
/* What is in force, for show: {"nice", "cpu_limit", "mem_limit", "mechanism"}. */
json_t *limits_json(const struct shim *shim);
void limits_release(struct shim *shim);

#endif
