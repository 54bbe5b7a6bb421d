/*
 * Slurm commands run from the daemon without blocking its loop. sbatch,
 * squeue, scancel and scontrol are RPCs to slurmctld that answer in
 * milliseconds when it is up, but take about 9 s to give up when it is not
 * (MessageTimeout): run synchronously, one unreachable controller would
 * freeze every client of the daemon. So each runs as a child process whose
 * output is read through the event loop; the caller's callback gets the
 * exit status and output once the pipes are at EOF and the child has been
 * reaped, or a timeout, after which the child is killed.
 */
#ifndef TRAINCTL_SLURM_CALL_H
#define TRAINCTL_SLURM_CALL_H

#include <sys/types.h>

#include "daemon/daemon.h"

struct slurm_call;
typedef void (*slurm_call_fn)(struct daemon *d, struct slurm_call *call, void *data);

struct slurm_call {
	struct daemon *daemon;
	pid_t pid;
	int status;     /* wait status, once reaped */
	int reaped;
	int timed_out;
	struct strbuf out; /* stdout */
	struct strbuf err; /* stderr */
	int out_fd, err_fd;
	struct loop_watch *out_watch, *err_watch, *timer;
	slurm_call_fn done;
	void *data;
	struct slurm_call *next;
};

/*
 * Run argv[0] (found in the PATH of envp) with envp, input on its stdin
 * (or /dev/null); call done(d, call, data) when it has ended. -1 with err
 * when the program is not on that PATH or cannot be started.
 */
int slurm_call_start(struct daemon *d, char *const argv[], char *const envp[], const char *input,
		     int64_t timeout_ms, slurm_call_fn done, void *data, struct err *err);
/* The daemon reaped pid: 1 if it was a Slurm command (its status is kept). */
int slurm_call_reaped(struct daemon *d, pid_t pid, int status);
/* Did the call succeed (exit 0 in time)? Else fill err with what it printed. */
int slurm_call_check(const struct slurm_call *call, const char *what, struct err *err);
/* Forget every call in flight (daemon exit); their children are killed. */
void slurm_call_release(struct daemon *d);

#endif
