/*
 * Job states and the vocabulary shared by the daemon, the shim and the CLI.
 *
 *   queued/held -> starting -> running <-> paused -> stopping -> final
 *                     ^                                           |
 *                     +------------ restarting <------------------+
 *
 * Final states: succeeded (exit 0), failed (non-zero exit or a signal nobody
 * asked for), stopped (ended after a user's stop or kill), cancelled (never
 * started), lost (its shim vanished).
 */
#ifndef TRAINCTL_JOB_H
#define TRAINCTL_JOB_H

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"

enum job_state {
	JOB_QUEUED,
	JOB_HELD,
	JOB_STARTING,
	JOB_RUNNING,
	JOB_PAUSED,
	JOB_STOPPING,
	JOB_RESTARTING,
	JOB_SUCCEEDED,
	JOB_FAILED,
	JOB_STOPPED,
	JOB_CANCELLED,
	JOB_LOST,
	JOB_STATE_COUNT
};

const char *job_state_name(enum job_state state);
/* -1 if name is not a state. */
int job_state_parse(const char *name);
int job_state_is_final(enum job_state state);
/* A comma-separated list of every state name, for error messages. */
const char *job_state_names(void);

/*
 * What the shim records when the job has ended (jobs/<id>.exit), and how the
 * daemon turns it into a final state and a reason.
 */
struct job_exit {
	int exit_code; /* -1 when killed by a signal */
	int signal;    /* 0 when it exited */
	int core_dumped;
	int stop_requested;
	int stop_signal;
	int64_t stop_timeout_ms;
	int killed_after_grace;
	int user_signal; /* last signal sent with 'kill', 0 if none */
	int64_t started_at;
	int64_t ended_at;
	int64_t utime_ms;
	int64_t stime_ms;
	int64_t maxrss_kb;
	int64_t oom_kills; /* processes of the job's cgroup the kernel OOM-killed, -1 unknown */
	char limit[16];    /* "memory-limit" when the shim stopped it for its memory */
	char note[256];    /* the shim's own word, e.g. why it gave up */
};

json_t *job_exit_to_json(const struct job_exit *ex);
int job_exit_from_json(const json_t *obj, struct job_exit *ex);
/* Classify an ended job: its final state, and a reason a person can act on. */
enum job_state job_exit_classify(const struct job_exit *ex, char *reason, size_t size);
/* The shell-style status: the exit code, or 128+signal. */
int job_exit_status(const struct job_exit *ex);

/*
 * Read/write a small JSON file; the write is atomic (tmp, rename). With
 * `durable`, the file and its directory are fsynced too, so that the record
 * survives a power loss; records that only matter while processes live (a
 * pid file) skip that cost.
 */
json_t *json_file_read(const char *path, struct err *err);
int json_file_write_atomic(const char *path, const json_t *obj, int durable, struct err *err);

#endif
