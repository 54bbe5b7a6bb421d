/*
 * The SQLite database (trainctl.db, WAL). The daemon is its only writer.
 * The schema is versioned with PRAGMA user_version; store_open() applies the
 * migrations a database is missing, once, inside one transaction, and refuses
 * a database from a newer trainctl rather than guessing.
 */
#ifndef TRAINCTL_STORE_H
#define TRAINCTL_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/machine.h"
#include "lib/stats.h"

struct store;

/* The schema version this build writes. */
#define STORE_SCHEMA_VERSION 6

struct store *store_open(const char *path, struct err *err);
void store_close(struct store *store);
/* Group the writes of one request or event into one transaction (one WAL commit). */
/* Give back the page cache's memory (it fills again as pages are read). */
void store_release_memory(struct store *store);
int store_begin(struct store *store);
int store_commit(struct store *store);
/*
 * Make what the open transaction wrote durable now, and go on in a new one
 * (nothing outside a transaction). Called before starting a process that the
 * database must know of, so that a crash cannot leave one it does not.
 */
int store_commit_point(struct store *store);

/* Insert a new job in state `state`; *id gets its id. The spec's "env" is stored apart. */
int store_job_insert(struct store *store, const char *name, const json_t *spec,
		     enum job_state state, int64_t *id, struct err *err);
int store_job_delete(struct store *store, int64_t id, struct err *err);
int store_job_set_state(struct store *store, int64_t id, enum job_state state, const char *reason);
/* Record the processes of a started job. */
int store_job_set_started(struct store *store, int64_t id, int pid, uint64_t pid_start,
			  int shim_pid, uint64_t shim_start, int64_t started_at);
/* Record the end of a job: final state, reason and status. */
int store_job_set_ended(struct store *store, int64_t id, enum job_state state, const char *reason,
			const struct job_exit *ex);

/* A job's restart bookkeeping, kept in the database so it survives the daemon. */
struct job_restart {
	int attempt;       /* 1 for the first run */
	int auto_restarts; /* automatic restarts so far (counted against --max-restarts) */
	int fail_streak;   /* consecutive failed attempts, for the backoff */
	int64_t restart_at; /* when the next attempt is due (ms), 0 for none */
	int restart_fresh; /* the next attempt ignores the checkpoint */
	char stop_cause[32]; /* why trainctl itself stopped the job: "time-limit", "hung", "restart" */
};

int store_job_restart_get(struct store *store, int64_t id, struct job_restart *r);
int store_job_restart_set(struct store *store, int64_t id, const struct job_restart *r);
/* Keep one ended attempt: number, times, final state, reason, status, checkpoint. */
int store_attempt_add(struct store *store, int64_t id, int attempt, int64_t started_at,
		      enum job_state state, const char *reason, const struct job_exit *ex,
		      const char *checkpoint);
json_t *store_job_attempts(struct store *store, int64_t id);
int store_job_set_checkpoint(struct store *store, int64_t id, const char *path);
/* Count one restart in the job's "restarts". */
int store_job_count_restart(struct store *store, int64_t id);

/* Resource samples of a job's process tree. */
int store_sample_add(struct store *store, int64_t id, const struct sample *s);
/*
 * The samples of a job taken at or after since_ms (0: all) in time order, minute
 * aggregates (their means) first (caller frees).
 */
int store_samples_get(struct store *store, int64_t id, int64_t since_ms, struct sample **out,
		      size_t *n);
/* Retention: fold samples older than before_ms into one-minute min/mean/max rows. */
int store_samples_compact(struct store *store, int64_t before_ms);
/* The highest CPU (percent of a CPU), RSS and PSS seen for a job; -1 when none. */
int store_job_peaks(struct store *store, int64_t id, double *cpu, int64_t *rss, int64_t *pss);

/* A job's reason (caller frees), or NULL. */
char *store_job_reason(struct store *store, int64_t id);
/* The queue. The GPUs a job holds (a JSON array of indices; NULL: none). */
json_t *store_job_gpus(struct store *store, int64_t id);
int store_job_set_gpus(struct store *store, int64_t id, const json_t *gpus);
/*
 * Queued jobs, highest priority first, then oldest first, with each one's
 * named queue ("" for none) and whether it has --after (caller frees *out).
 */
struct store_queued {
	int64_t id;
	char queue[72];
	int has_after;
};
size_t store_jobs_queued(struct store *store, struct store_queued **out);
/* What a queued job waits for (its reason), written only when it changed. */
int store_job_set_waiting(struct store *store, int64_t id, const char *reason);
/* The live jobs holding GPUs: [{id, gpus: [...], gpu_mem: bytes or null}] (caller decrefs). */
json_t *store_gpu_holders(struct store *store);
/* Jobs of a named queue that have started and not ended. */
int store_queue_running(struct store *store, const char *queue);
/* A queue's settings (0, 0: unlimited and running when it has none). */
int store_queue_get(struct store *store, const char *queue, int *parallel, int *paused);
int store_queue_set(struct store *store, const char *queue, int parallel, int paused);
/* Every queue with settings or live jobs: [{name, parallel, paused, running, queued}]. */
json_t *store_queues_json(struct store *store);

/* Machine totals, kept and compacted like the jobs' samples. */
int store_machine_sample_add(struct store *store, const struct machine_sample *m);
/*
 * The machine's busy CPU share (0-100) and its lowest available memory between
 * from_ms and to_ms: *cpu_mean -1 and *mem_available_min -1 when nothing was sampled.
 */
int store_machine_summary(struct store *store, int64_t from_ms, int64_t to_ms, double *cpu_mean,
			  double *cpu_max, int64_t *mem_available_min, int64_t *mem_total);

/* Record a job's progress (the JSON object of the interface). */
int store_job_set_progress(struct store *store, int64_t id, const json_t *progress);

int store_event_add(struct store *store, int64_t id, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* When the job's last event of this kind was recorded (ms), or -1. */
int64_t store_event_last_time(struct store *store, int64_t id, const char *kind);

/*
 * Find a job by id ("12") or by name (the newest job with that name).
 * Fills a usage-free error naming what was not found.
 */
int store_job_resolve(struct store *store, const char *text, int64_t *id, struct err *err);
/* The id of a job with this name that has not finished, or 0. */
int64_t store_job_active_by_name(struct store *store, const char *name);

/* The job as the JSON object of the interface (ls --json / show --json). */
json_t *store_job_json(struct store *store, int64_t id);
/* Jobs in id order: all, or only unfinished ones; optionally one state. */
json_t *store_job_list(struct store *store, int all, int state);
/* Counts per state: {"running":2,...} (kept by triggers: no scan of the jobs). */
json_t *store_job_counts(struct store *store);
/* How many jobs have finished (a sum over the counts per state, whatever the history). */
int64_t store_job_count_finished(struct store *store);
json_t *store_job_events(struct store *store, int64_t id);
/* Replace a job's spec (without its environment), e.g. after `limit`. */
int store_job_set_spec(struct store *store, int64_t id, const json_t *spec);
/* The job's environment as stored at run time (a JSON array), or NULL. */
json_t *store_job_env(struct store *store, int64_t id);
/* The stored spec of a job, without its environment (new reference), or NULL. */
json_t *store_job_spec(struct store *store, int64_t id);
enum job_state store_job_state(struct store *store, int64_t id);

/* Ids of jobs in a non-final state, or finished before `before` (ms); -1 ends. */
int64_t *store_job_ids_active(struct store *store);
/* The jobs in one state, by id (-1 terminated; caller frees): one query, not one a job. */
int64_t *store_job_ids_in_state(struct store *store, enum job_state state);
int64_t *store_job_ids_finished_before(struct store *store, int64_t before);
/* Finished jobs that trainctl itself stopped for `cause` (e.g. "shutdown"). */
int64_t *store_job_ids_stopped_by(struct store *store, const char *cause);

#endif
