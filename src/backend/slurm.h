/*
 * The Slurm backend of the daemon: a job whose spec says "on": "slurm" is
 * submitted with `sbatch --parsable` instead of getting a shim, and followed
 * by polling Slurm. The hooks into supervision are few and explicit: where a
 * job starts (supervise_start), is stopped (supervise_stop), is signalled,
 * paused or resumed (requests.c), and where the daemon re-adopts jobs at
 * start-up (supervise_recover). Its end goes through the same
 * restart_on_end as a local job's, so --restart and `restart` resubmit it
 * with --resume-args and the latest checkpoint.
 *
 * Tracking: every SLURM_POLL_MS, while Slurm jobs are live, one
 * `squeue --json` per Slurm configuration (SLURM_CONF of the jobs) maps
 * each job's state: PENDING is queued with Slurm's reason, RUNNING is
 * running, SUSPENDED paused, and an end is classified like a local job's
 * (lib/slurm_state.c). A job squeue no longer lists is asked for with
 * `scontrol show job -o`; one Slurm has forgotten altogether is lost.
 */
#ifndef TRAINCTL_SLURM_H
#define TRAINCTL_SLURM_H

#include "daemon/daemon.h"

#define SLURM_POLL_MS 1000
#define SLURM_CALL_TIMEOUT_MS 30000

struct slurm_call;
struct slurm_job;

struct slurm {
	struct slurm_job *jobs;   /* live Slurm jobs */
	struct slurm_call *calls; /* Slurm commands in flight */
	struct loop_watch *poll;  /* the poll timer, while jobs are live */
	int polls_in_flight;
	char last_error[512];     /* the poll's last error, logged once */
};

/* The daemon's Slurm state (made on first use). */
struct slurm *slurm_of(struct daemon *d);
/* Does the spec ask for Slurm ("on": "slurm")? */
int slurm_spec_wanted(const json_t *spec);
/* Is the job a live Slurm job of this daemon? */
int slurm_owns(struct daemon *d, int64_t id);

/*
 * Submit a job (its row is in state starting; spec with "env"). c: the run
 * client, answered with the id once sbatch has accepted it, or with sbatch's
 * error, after which the job's row is deleted; NULL for a later attempt,
 * which ends failed when the submission does.
 */
int slurm_start(struct daemon *d, int64_t id, const json_t *spec, struct client *c,
		struct err *err);
/* Stop: the signal to the whole job, then scancel after the grace period. */
int slurm_stop(struct daemon *d, int64_t id, int sig, int64_t timeout_ms, struct err *err);
/*
 * kill ("signal"), pause or resume the jobs of ids (all Slurm jobs): c is
 * answered once Slurm has answered for each. NULL with err at once for a
 * bad request.
 */
json_t *slurm_control(struct daemon *d, struct client *c, const int64_t *ids, const char *op,
		      int sig, struct err *err);
/* At start-up: follow a Slurm job again; 0 if the job is not one. */
int slurm_adopt(struct daemon *d, int64_t id);
/* A client went away: forget it wherever it waits for an answer. */
void slurm_forget_client(struct daemon *d, struct client *c);
void slurm_release(struct daemon *d);

#endif
