/*
 * The shim's state, shared by its two halves: shim.c (the job: start, output,
 * input, stop, exit record) and clients.c (its socket: control requests and
 * attached terminals). Internal to src/shim/.
 */
#ifndef TRAINCTL_SHIM_STATE_H
#define TRAINCTL_SHIM_STATE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/job.h"
#include "lib/loop.h"
#include "lib/paths.h"
#include "lib/progress.h"
#include "lib/strbuf.h"
#include "lib/cgroup.h"
#include "shim/logfile.h"

#define LOG_KEEP 3

struct shim_client;

struct shim {
	struct loop *loop;
	struct paths paths;
	int64_t id;
	json_t *spec;
	int use_pty;

	pid_t pid;
	uint64_t pid_start;
	int reaped;
	struct job_exit exit;

	int output_fd; /* PTY master or output pipe; -1 once drained */
	int input_fd;  /* PTY master (dup) or stdin pipe */
	struct loop_watch *output_watch;
	struct loop_watch *input_watch; /* only while input is queued */
	struct strbuf input;            /* bytes for the job not yet taken */
	struct strbuf recent;           /* the last output, replayed on attach */
	int recent_truncated;
	struct logfile log;

	struct progress_parser *progress;
	int progress_dirty;
	int64_t last_output_ms;      /* when the job last printed anything */
	int64_t progress_changed_ms; /* when its progress last moved */
	int64_t progress_written_ms;
	struct loop_watch *progress_timer;
	struct loop_watch *log_retry_timer; /* while the log cannot be written */
	int log_failing;                    /* as last written to the status file */

	int listen_fd;
	char *sock_path;
	struct shim_client *clients;

	struct cgroup_job cgroup;   /* kind CGROUP_NONE without one */
	int nice;
	int set_nice;
	double cpu_limit;           /* CPUs, 0 for none */
	int64_t mem_limit;          /* bytes, 0 for none */
	double duty;                /* fallback: share of each period the job may run */
	int duty_stopped;
	struct loop_watch *duty_timer;
	struct loop_watch *mem_timer;

	int stop_signal;
	int64_t stop_timeout_ms;
	int paused;
	int cleanup_started;
	struct loop_watch *grace_timer;
};

/* shim.c */
void shim_signal_tree(struct shim *shim, int sig);
void shim_stop(struct shim *shim, int sig, int64_t timeout_ms);
/* Queue bytes for the job's stdin; -1 when too much is already waiting. */
int shim_input(struct shim *shim, const char *data, size_t len);
/* Something the status file shows changed (limits, nice): rewrite it soon. */
void shim_status_changed(struct shim *shim);
/* Set the job's terminal size (TIOCSWINSZ: the job gets SIGWINCH). */
void shim_resize(struct shim *shim, unsigned rows, unsigned cols);

/* clients.c */
void clients_listen(struct shim *shim);
/* Copy output to every attached terminal. */
void clients_output(struct shim *shim, const char *data, size_t len);
/* Tell attached terminals the job ended, and give them a moment to read it. */
void clients_exit(struct shim *shim, const json_t *exit_record);
void clients_release(struct shim *shim);

#endif
