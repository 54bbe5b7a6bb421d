/*
 * What Slurm says about its jobs, and what that means in trainctl's terms.
 * Pure parsers of `squeue --json` (Slurm 22.05 and later) and of
 * `scontrol show job -o` (a finished job that squeue no longer lists), and
 * the mapping of Slurm's job states onto trainctl's states and reasons.
 *
 * Slurm's "exit_code" in JSON is the raw wait status (768 is exit 3, 9 is
 * SIGKILL); scontrol writes "ExitCode=3:0" (code:signal). Both become the
 * exit code or signal of a struct job_exit, so that an ended Slurm job is
 * classified by the same rules as a local one.
 */
#ifndef TRAINCTL_SLURM_STATE_H
#define TRAINCTL_SLURM_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/job.h"

struct slurm_job_info {
	int64_t slurm_id;
	char state[32];   /* "PENDING", "RUNNING", "FAILED", ... */
	char reason[64];  /* Slurm's reason: "Resources", "Priority", "None" */
	int exit_code;    /* -1 when ended by a signal */
	int signal;       /* 0 when it exited */
	char nodes[128];  /* allocated nodes, "" before it runs */
	int64_t start_ms; /* 0 when unknown */
	int64_t end_ms;
};

enum slurm_phase { SLURM_PENDING, SLURM_RUNNING, SLURM_SUSPENDED, SLURM_ENDED };

/*
 * Parse `squeue --json` output into an array of infos (caller frees *jobs).
 * -1 with err when it is not squeue's JSON, or squeue reports errors.
 */
int slurm_parse_squeue_json(const char *text, struct slurm_job_info **jobs, size_t *n,
			    struct err *err);
/* Parse one line of `scontrol show job -o`; -1 with err if it has no JobId. */
int slurm_parse_scontrol_line(const char *line, struct slurm_job_info *info, struct err *err);
/* Turn a raw wait status into info's exit_code and signal. */
void slurm_info_set_wait_status(struct slurm_job_info *info, int status);

/* Where a Slurm state is in a job's life; unknown states count as running. */
enum slurm_phase slurm_state_phase(const char *state);

/* "slurm 1234, PENDING (Resources)", "slurm 1234 on node1": the reason of a live job. */
void slurm_live_reason(const struct slurm_job_info *info, char *buf, size_t size);

/*
 * An ended Slurm job: its final state and reason. ex arrives with what
 * trainctl did (stop_requested, stop_signal, user_signal...) and gets the
 * exit code, signal and times from info. Returns 1 when the state comes from
 * the exit status (job_exit_classify), which the daemon may refine further
 * from the log; 0 when Slurm's own end decides it (a time limit, a node
 * failure, a cancel from outside trainctl, a preemption).
 */
int slurm_final_state(const struct slurm_job_info *info, struct job_exit *ex,
		      enum job_state *state, char *reason, size_t size);

#endif
