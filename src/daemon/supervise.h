/*
 * Supervision of running jobs from the daemon's side: starting a shim,
 * hearing its start-up report, noticing through a pidfd when it has ended,
 * re-adopting shims after a daemon restart, turning the shim's exit record
 * into a final state, and answering the clients that wait for jobs to end.
 *
 * Every transition goes through supervise_transition(), which updates the
 * database and records an event, so the history of a job is complete.
 */
#ifndef TRAINCTL_SUPERVISE_H
#define TRAINCTL_SUPERVISE_H

#include "daemon/daemon.h"

/* Start a shim for a job already inserted in state 'starting'; `c` gets the run reply. */
int supervise_start(struct daemon *d, int64_t id, const json_t *spec, struct client *c,
		    struct err *err);
/* At daemon start-up: adopt live shims, settle jobs whose shims ended. */
void supervise_recover(struct daemon *d);
/* At daemon exit: forget every shim and waiter (the shims and jobs run on). */
void supervise_release(struct daemon *d);
/* The daemon got SIGCHLD: reap the shims it started itself. */
void supervise_reap(struct daemon *d);

/* Change a job's state (and reason), recording an event. */
void supervise_transition(struct daemon *d, int64_t id, enum job_state state, const char *reason);

/*
 * Stop a live job gracefully: sig 0 and timeout_ms < 0 mean the job's own
 * --stop-signal and --stop-timeout. cause is NULL for the user's stop, else
 * why trainctl stops it ("time-limit", "hung", "restart"), which decides the
 * reason and whether it restarts.
 */
int supervise_stop(struct daemon *d, int64_t id, int sig, int64_t timeout_ms, const char *cause,
		   struct err *err);
/*
 * A job waiting to restart is stopped: it ends without another attempt.
 * cause: NULL for the user, "shutdown" for daemon stop --checkpoint-jobs.
 */
void supervise_cancel_restart(struct daemon *d, int64_t id, const char *cause);

/* Send a request to a job's shim and return its reply (NULL with err). */
json_t *supervise_shim_request(struct daemon *d, int64_t id, json_t *req, struct err *err);
/* The pid of the job's shim, or 0 when it has none. */
pid_t supervise_shim_pid(struct daemon *d, int64_t id);
/* A job that never started (queued, held) ends cancelled with reason; waiters hear of it. */
void supervise_end_unstarted(struct daemon *d, int64_t id, enum job_state state, const char *reason);
/* The live job whose shim is pid, or 0. */
int64_t supervise_job_of_shim(struct daemon *d, pid_t pid);
/* Is the job's shim known and alive? */
int supervise_is_active(struct daemon *d, int64_t id);

/* Answer `c` once every job in ids (-1 terminated, copied) is final. */
void supervise_wait(struct daemon *d, struct client *c, const int64_t *ids, const char *op);
/* A client went away: forget what it waited for. */
void supervise_forget_client(struct daemon *d, struct client *c);

/*
 * Fill a live job's "progress" from what its shim last wrote
 * (jobs/<id>.progress); finished jobs keep what was stored when they ended.
 */
void supervise_add_progress(struct daemon *d, json_t *job);

/* Result object for a job: id, name, state, reason, exit_code, signal, status. */
json_t *supervise_result(struct daemon *d, int64_t id);

#endif
