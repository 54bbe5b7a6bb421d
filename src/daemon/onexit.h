/*
 * Notifications: when a job reaches a final state, the daemon runs the job's
 * --on-exit command and the configuration's on-exit command (for every job)
 * with `sh -c CMD` in the job's directory, with the job's environment plus
 * TRAINCTL_JOB_ID, _NAME, _STATE, _REASON, _EXIT_CODE and _DURATION_S — the
 * job's facts reach the command only through the environment, never by
 * pasting them into the command's text. Its stdin is /dev/null, its output
 * goes to the daemon's log, it is killed (with its process group) after the
 * on-exit-timeout, and how it ended is recorded as an `on-exit` event. It
 * never changes the job.
 */
#ifndef TRAINCTL_ONEXIT_H
#define TRAINCTL_ONEXIT_H

#include <sys/types.h>

#include "daemon/daemon.h"

/* The job just reached a final state: start its on-exit commands. */
void onexit_job_ended(struct daemon *d, int64_t id);
/* A child of the daemon was reaped: if it was an on-exit command, record how it ended. */
void onexit_reaped(struct daemon *d, pid_t pid, int status);
/* At daemon exit: forget the commands still running (they finish on their own). */
void onexit_release(struct daemon *d);

#endif
