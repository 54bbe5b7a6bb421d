/*
 * The daemon's once-a-second look at its jobs: new checkpoints (recorded as
 * events and kept with the job), time limits (a graceful stop with reason
 * time-limit), hangs (for --hang-timeout: no output, no progress, no new
 * checkpoint and under 5% of a CPU; recorded with what each process is
 * doing, then --on-hang), and restarts that have come due.
 */
#ifndef TRAINCTL_WATCHDOG_H
#define TRAINCTL_WATCHDOG_H

#include "daemon/daemon.h"

#define WATCHDOG_INTERVAL_MS 1000

void watchdog_start(struct daemon *d);
/* A job's attempt has ended or the job is gone: forget what was watched for it. */
void watchdog_forget(struct daemon *d, int64_t id);
void watchdog_release(struct daemon *d);
/*
 * The latest status of a watched job (its shim's status file, read again
 * only when it changed: one stat), or NULL when the job is not watched yet.
 */
const json_t *watchdog_job_status(struct daemon *d, int64_t id);

#endif
