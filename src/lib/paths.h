/*
 * Where trainctl keeps its state. $TRAINCTL_HOME, else
 * $XDG_STATE_HOME/trainctl, else ~/.local/state/trainctl, holds:
 *   trainctl.db        the SQLite database (the daemon is its only writer)
 *   logs/<id>.log      each job's output (+ .1 .2 .3 rotations)
 *   run/               0700: daemon.sock, daemon.lock, job-<id>.sock
 *   jobs/<id>.shim     the shim's and job's pids and start times
 *   logs/<id>.idx      the log's time index (when each part was written)
 *   jobs/<id>.exit     the job's exit status, written atomically by its shim
 *   jobs/<id>.status   the job's latest progress and output time, written by its shim
 *   daemon.log         the daemon's own messages
 */
#ifndef TRAINCTL_PATHS_H
#define TRAINCTL_PATHS_H

#include <stdint.h>

#include "lib/err.h"

struct paths {
	char *home;
	char *db;
	char *logs;
	char *run;
	char *jobs;
	char *daemon_sock;
	char *daemon_lock;
	char *daemon_log;
};

/* Resolve the home directory from the environment (does not create it). */
int paths_init(struct paths *paths, struct err *err);
/*
 * Create home, logs/, jobs/ and run/ (0700) if missing; fail clearly if
 * unwritable or unsafe (see paths_check).
 */
int paths_ensure(const struct paths *paths, struct err *err);
/*
 * Refuse a state directory that someone else could tamper with: home not
 * ours or writable by others, or a symbolic link (or a file of another user)
 * where trainctl keeps its directories, database and sockets.
 */
int paths_check(const struct paths *paths, struct err *err);
void paths_release(struct paths *paths);

/* Newly allocated paths for one job's files. */
char *paths_job_log(const struct paths *paths, int64_t id);
char *paths_job_sock(const struct paths *paths, int64_t id);
char *paths_job_exit(const struct paths *paths, int64_t id);
char *paths_job_shim(const struct paths *paths, int64_t id);
char *paths_job_status(const struct paths *paths, int64_t id);
char *paths_job_index(const struct paths *paths, int64_t id);

/* mkdir -p with the given mode for the last component. */
int mkdir_p(const char *path, unsigned mode, struct err *err);

#endif
