/*
 * The shim: one small process per running job (`trainctl-shim`, started by
 * the daemon). It is the job's parent and subreaper, holds its terminal,
 * copies its output to the log, obeys stop/kill/pause/resume on its own
 * socket (run/job-<id>.sock), reaps every descendant, and writes the exit
 * status atomically to jobs/<id>.exit before it exits. Because the job's
 * parent is the shim and not the daemon, the daemon can die and come back
 * while the job runs on.
 *
 * Start-up handshake: the daemon passes the job spec (JSON) on stdin and a
 * pipe as fd 3; the shim answers on it with one line, either
 *   {"event":"started","pid":..,"pid_start":..,"started_at":..}
 * or {"event":"failed","error":"/no/such/prog: No such file or directory"}.
 */
#ifndef TRAINCTL_SHIM_H
#define TRAINCTL_SHIM_H

/* The shim's executable, which the daemon looks for beside itself, else in the libexec directory. */
#define SHIM_EXE_NAME "trainctl-shim"

/* The fd on which the shim reports start-up. */
#define SHIM_REPORT_FD 3

#include <stdint.h>

/* Run the shim for job id (`trainctl-shim --id N`). Returns the exit status. */
int shim_run(int64_t id);

#endif
