/*
 * The daemon: one per $TRAINCTL_HOME. It owns the database (the only
 * writer), accepts requests from the CLI on run/daemon.sock, starts a shim
 * per job and watches it through a pidfd, and turns what the shims record
 * into job states and events. It holds no job's terminal and is no job's
 * parent, so it can be killed and restarted while jobs run: at start-up it
 * re-adopts the shims it finds alive and settles the jobs whose shims ended.
 */
#ifndef TRAINCTL_DAEMON_H
#define TRAINCTL_DAEMON_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/loop.h"
#include "lib/paths.h"
#include "lib/store.h"
#include "lib/strbuf.h"

struct client;
struct active;
struct waiter;
struct watched;
struct sampling;
struct slurm;
struct daemon_gpus;
struct onexit;
struct notify;
struct metrics;

struct daemon {
	struct loop *loop;
	struct paths paths;
	struct store *store;
	char *shim_exe;   /* trainctl-shim, found at start-up; NULL when missing */
	char *shim_error; /* then: where it was looked for */
	int listen_fd;
	int lock_fd;
	int reserve_fd; /* spent to refuse a client when descriptors run out */
	int fds_exhausted;
	int64_t started_at;
	struct client *clients;
	struct active *active;
	struct waiter *waiters;
	struct watched *watched;
	struct sampling *sampling;
	struct slurm *slurm; /* Slurm jobs and commands in flight (backend/slurm.c) */
	struct daemon_gpus *gpus;
	int sched_dirty;        /* something changed that may let a queued job start */
	int sched_waiting_gpus; /* a queued job waits for GPUs: look again now and then */
	int64_t sched_gpu_checked_ms;
	int64_t gpu_free_mem;   /* a GPU is free while other processes use less than this */
	struct onexit *onexits; /* on-exit commands still running */
	struct notify *notify;  /* systemd's notification socket, when it gave one */
	struct metrics *metrics; /* the Prometheus endpoint, when asked for */
	int64_t sample_interval_ms;
	struct config config; /* the configuration file, read at start-up */
	const char *cgroup; /* what per-job cgroups can be made here: "v2", "v1" or "none" */
	char cgroup_why[1024];
};

/*
 * A connected CLI. One request at a time; a request may be answered later.
 * Replies are queued in `out` and written as the socket takes them, so a
 * client that does not read can never block the daemon.
 */
struct client {
	struct daemon *daemon;
	int fd;
	struct loop_watch *watch;
	struct strbuf in;
	struct strbuf out;
	int pending;
	struct client *next;
};

/* Send a reply and let the client send its next request. */
void client_reply(struct client *c, json_t *reply);

/*
 * A fault-injection point for the crash tests: when TRAINCTL_CRASH_AT is
 * NAME (or NAME@N, the Nth time this point is reached), the daemon kills
 * itself with SIGKILL here, as a crash or `kill -9` would.
 */
void crash_point(const char *name);

/*
 * Messages to the daemon's log (stderr), with a timestamp; under systemd's
 * journal with a <N> priority prefix instead. daemon_warn for what went wrong.
 */
void daemon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void daemon_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Run the daemon in this process until stopped; report start-up on ready_fd
 * (or -1). sample_interval_ms: how often jobs are sampled (0: the default).
 */
int daemon_run(int ready_fd, int64_t sample_interval_ms);

/* requests.c: carry out one request from a client. */
void request_dispatch(struct daemon *d, struct client *c, const json_t *req);
/*
 * The reply a client would get to a request that answers at once (ls,
 * machine...), for the daemon's own use; NULL for an unknown request or an
 * error. Only for requests that never use the client.
 */
json_t *request_call(struct daemon *d, const json_t *req);

#endif
