/*
 * Restart policies: what happens when an attempt of a job ends. With
 * --restart on-failure (or always) the job gets up to --max-restarts more
 * attempts, after an exponential backoff (1 s doubling, capped at 5 min, and
 * reset after an attempt that ran longer than 10 min), each resumed from its
 * latest checkpoint with --resume-args. A job stopped by the user is never
 * restarted automatically; `trainctl restart` restarts one by hand.
 *
 * Every attempt is kept (number, times, state, reason) and the due time of
 * the next one is in the database, so a daemon restart mid-backoff still
 * performs the restart.
 */
#ifndef TRAINCTL_RESTART_H
#define TRAINCTL_RESTART_H

#include "daemon/daemon.h"

/*
 * An attempt ended (ex is NULL when its shim vanished). Keep the attempt,
 * then either schedule the next one (state restarting) or end the job.
 */
void restart_on_end(struct daemon *d, int64_t id, enum job_state state, const char *reason,
		    const struct job_exit *ex);
/*
 * At daemon start-up: jobs stopped by `daemon stop --checkpoint-jobs` that
 * asked for --resume-on-boot start again from their checkpoint.
 */
void restart_resume_on_boot(struct daemon *d);
/* Start every attempt that is due; called on every tick and at start-up. */
void restart_tick(struct daemon *d);
/*
 * Restart by hand: a job that has ended starts a new attempt now; a live one
 * is stopped gracefully first. fresh: ignore the checkpoint.
 */
int restart_request(struct daemon *d, int64_t id, int fresh, struct err *err);
/* Start the next attempt of a job that waited in the queue to restart. */
int restart_from_queue(struct daemon *d, int64_t id, struct err *err);
/* The latest complete checkpoint of a job that is not running, or NULL (caller frees). */
char *restart_latest_checkpoint(struct daemon *d, int64_t id);

#endif
