/* The SQLite job database; see store.h. */
#include "lib/store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/parse.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define STORE_CACHED_STATEMENTS 64

/*
 * A prepared statement kept for the next call with the same SQL (the same
 * string constant): the daemon runs the same few statements many times a
 * second, and preparing costs more than running them.
 */
struct cached_statement {
	const char *sql;
	sqlite3_stmt *st;
	int busy;
};

struct store {
	sqlite3 *db;
	char *path;
	struct cached_statement cache[STORE_CACHED_STATEMENTS];
	size_t ncache;
};

/*
 * The columns derived from a job's spec (s: the SQL of the spec's text), in
 * SQL so that the migration that added them and every write of a spec derive
 * them alike. The command is the argv array, or sh -c for --sh.
 */
#define SPEC_COMMAND(s)                                                                   \
	"CASE WHEN json_type(" s ", '$.sh') = 'text' THEN json_array('/bin/sh', '-c', "    \
	"json_extract(" s ", '$.sh')) WHEN json_type(" s ", '$.argv') = 'array' THEN "    \
	"json_extract(" s ", '$.argv') ELSE '[]' END"
#define SPEC_CWD(s) "json_extract(" s ", '$.cwd')"
#define SPEC_SLURM_JOB_ID(s)                                                             \
	"CASE WHEN json_type(" s ", '$.slurm_job_id') = 'integer' THEN json_extract(" s \
	", '$.slurm_job_id') END"

/* Migration N brings a database from user_version N to N+1. */
static const char *const migrations[] = {
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT,"
	"  state TEXT NOT NULL,"
	"  reason TEXT,"
	"  spec TEXT NOT NULL,"
	"  env TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER, ended_at INTEGER,"
	"  exit_code INTEGER, signal INTEGER,"
	"  pid INTEGER, pid_start INTEGER, shim_pid INTEGER, shim_start INTEGER,"
	"  restarts INTEGER NOT NULL DEFAULT 0,"
	"  checkpoint TEXT, progress TEXT);"
	"CREATE INDEX jobs_name ON jobs(name);"
	"CREATE INDEX jobs_state ON jobs(state);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  time INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT);"
	"CREATE INDEX events_job ON events(job_id, id);",

	/* 1 -> 2: restarts, attempts, and why trainctl itself stopped a job. */
	"ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE jobs ADD COLUMN auto_restarts INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN fail_streak INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN restart_at INTEGER;"
	"ALTER TABLE jobs ADD COLUMN restart_fresh INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN stop_cause TEXT;"
	"CREATE TABLE attempts ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  attempt INTEGER NOT NULL,"
	"  started_at INTEGER, ended_at INTEGER, state TEXT, reason TEXT,"
	"  exit_code INTEGER, signal INTEGER, checkpoint TEXT,"
	"  PRIMARY KEY (job_id, attempt));",

	/* 2 -> 3: resource samples, at full resolution and as one-minute aggregates. */
	"CREATE TABLE samples ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  time INTEGER NOT NULL, cpu REAL, rss INTEGER, threads INTEGER, procs INTEGER,"
	"  read_bytes INTEGER, write_bytes INTEGER, gpu_util REAL, gpu_mem INTEGER);"
	"CREATE INDEX samples_job ON samples(job_id, time);"
	"CREATE TABLE samples_minute ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  time INTEGER NOT NULL, count INTEGER NOT NULL,"
	"  cpu_min REAL, cpu_mean REAL, cpu_max REAL,"
	"  rss_min INTEGER, rss_mean INTEGER, rss_max INTEGER,"
	"  threads INTEGER, procs INTEGER, read_bytes INTEGER, write_bytes INTEGER,"
	"  gpu_util REAL, gpu_mem INTEGER,"
	"  PRIMARY KEY (job_id, time));",

	/* 3 -> 4: PSS, and the machine's totals (span 0: one tick; 60000: a minute's mean). */
	"ALTER TABLE samples ADD COLUMN pss INTEGER;"
	"ALTER TABLE samples_minute ADD COLUMN pss INTEGER;"
	"CREATE TABLE machine_samples ("
	"  time INTEGER NOT NULL, span INTEGER NOT NULL DEFAULT 0,"
	"  cpu REAL, cpu_max REAL, mem_total INTEGER, mem_available INTEGER,"
	"  swap_total INTEGER, swap_free INTEGER, load1 REAL);"
	"CREATE INDEX machine_samples_time ON machine_samples(time);",

	/* 4 -> 5: the queue: named queues, priorities, and the GPUs a job holds. */
	"ALTER TABLE jobs ADD COLUMN queue TEXT;"
	"ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN gpus TEXT;"
	"CREATE INDEX jobs_queued ON jobs(state, priority DESC, id);"
	"CREATE TABLE queues ("
	"  name TEXT PRIMARY KEY, parallel INTEGER NOT NULL DEFAULT 0,"
	"  paused INTEGER NOT NULL DEFAULT 0);",

	/*
	 * 5 -> 6: what listings show of the spec in columns of their own, so that
	 * ls reads no JSON; and the number of jobs in each state, kept by
	 * triggers, so that counting the finished jobs does not grow with history.
	 */
	"ALTER TABLE jobs ADD COLUMN command TEXT;"
	"ALTER TABLE jobs ADD COLUMN cwd TEXT;"
	"ALTER TABLE jobs ADD COLUMN slurm_job_id INTEGER;"
	"UPDATE jobs SET command = " SPEC_COMMAND("spec") ", cwd = " SPEC_CWD("spec") ","
	"  slurm_job_id = " SPEC_SLURM_JOB_ID("spec") ";"
	"CREATE TABLE job_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO job_counts SELECT state, count(*) FROM jobs GROUP BY state;"
	"CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN"
	"  INSERT OR IGNORE INTO job_counts VALUES (new.state, 0);"
	"  UPDATE job_counts SET n = n + 1 WHERE state = new.state; END;"
	"CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN"
	"  UPDATE job_counts SET n = n - 1 WHERE state = old.state; END;"
	"CREATE TRIGGER job_counts_update AFTER UPDATE OF state ON jobs"
	"  WHEN old.state IS NOT new.state BEGIN"
	"  UPDATE job_counts SET n = n - 1 WHERE state = old.state;"
	"  INSERT OR IGNORE INTO job_counts VALUES (new.state, 0);"
	"  UPDATE job_counts SET n = n + 1 WHERE state = new.state; END;",
};

#define ACTIVE_STATES \
	"('queued','held','starting','running','paused','stopping','restarting')"
/* Whether the state in column col is final (an SQL expression). */
#define IS_FINAL(col)                                                                        \
	"(" col " = 'succeeded' OR " col " = 'failed' OR " col " = 'stopped' OR " col " = " \
	"'cancelled' OR " col " = 'lost')"

static int store_exec(struct store *store, const char *sql, struct err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, "database %s: %s", store->path, msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int store_user_version(struct store *store)
{
	sqlite3_stmt *st;
	int version = -1;

	if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/*
 * Refuse a damaged database rather than serve what is left of it: a corrupt
 * page reads as missing rows, which would look like lost history.
 */
static int store_check(struct store *store, struct err *err)
{
	sqlite3_stmt *st;
	const char *verdict;
	int rc, ok;

	if (sqlite3_prepare_v2(store->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
		return err_set(err, "database %s is not a trainctl database or is corrupt (%s): move "
				    "it aside to start afresh, or recover it with sqlite3's .recover",
			       store->path, sqlite3_errmsg(store->db));
	rc = sqlite3_step(st);
	verdict = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	ok = verdict && strcmp(verdict, "ok") == 0;
	if (!ok)
		err_set(err, "database %s is corrupt (%s): move it aside to start afresh, or recover "
			     "it with sqlite3's .recover",
			store->path, verdict ? verdict : sqlite3_errmsg(store->db));
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

/* Apply the migrations this database lacks, all in one transaction. */
static int store_migrate(struct store *store, struct err *err)
{
	int version = store_user_version(store);
	char pragma[64];

	if (version < 0)
		return err_set(err, "database %s is not a trainctl database or is corrupt: %s "
				    "(move it aside to start afresh)",
			       store->path, sqlite3_errmsg(store->db));
	if (version > STORE_SCHEMA_VERSION)
		return err_set(err, "database %s has schema version %d, newer than this trainctl "
				    "understands (%d): use a newer trainctl",
			       store->path, version, STORE_SCHEMA_VERSION);
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	if (store_exec(store, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	version = store_user_version(store); /* another process may have migrated meanwhile */
	if (version < 0) {
		store_exec(store, "ROLLBACK", NULL);
		return err_set(err, "database %s: cannot read its schema version: %s", store->path,
			       sqlite3_errmsg(store->db));
	}
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		if (store_exec(store, migrations[v], err) < 0) {
			store_exec(store, "ROLLBACK", NULL);
			return -1;
		}
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	if (store_exec(store, pragma, err) < 0 || store_exec(store, "COMMIT", err) < 0) {
		store_exec(store, "ROLLBACK", NULL);
		return -1;
	}
	return 0;
}

struct store *store_open(const char *path, struct err *err)
{
	struct store *store = xcalloc(1, sizeof(*store));

	store->path = xstrdup(path);
	/*
	 * Before SQLite initialises (later calls are refused, harmlessly): no
	 * bulk preallocation of 20 cache pages per connection, touched at once,
	 * ~90 kB of an idle daemon's private memory each time; pages are then
	 * allocated as they are used.
	 */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	if (sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		err_set(err, "cannot open database %s: %s", path, sqlite3_errmsg(store->db));
		goto fail;
	}
	sqlite3_busy_timeout(store->db, 5000);
	if (store_exec(store, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
			      "PRAGMA foreign_keys=ON",
		       err) < 0) {
		if (sqlite3_errcode(store->db) == SQLITE_NOTADB || sqlite3_errcode(store->db) == SQLITE_CORRUPT)
			err_set(err, "database %s is not a trainctl database or is corrupt (%s): move it "
				     "aside to start afresh", path, sqlite3_errmsg(store->db));
		goto fail;
	}
	if (store_check(store, err) < 0 || store_migrate(store, err) < 0)
		goto fail;
	return store;
fail:
	store_close(store);
	return NULL;
}

void store_close(struct store *store)
{
	if (!store)
		return;
	for (size_t i = 0; i < store->ncache; i++)
		sqlite3_finalize(store->cache[i].st);
	sqlite3_close(store->db);
	free(store->path);
	free(store);
}

/*
 * The statement for sql (one of our string constants), from the cache when
 * it is there and not in use; give it back with store_stmt_release().
 */
static sqlite3_stmt *store_prepare(struct store *store, const char *sql)
{
	struct cached_statement *c = NULL;
	sqlite3_stmt *st;

	for (size_t i = 0; i < store->ncache; i++) {
		if (store->cache[i].sql == sql && !store->cache[i].busy) {
			store->cache[i].busy = 1;
			return store->cache[i].st;
		}
	}
	if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "trainctl: database %s: %s\n", store->path, sqlite3_errmsg(store->db));
		return NULL;
	}
	if (store->ncache < STORE_CACHED_STATEMENTS) {
		c = &store->cache[store->ncache++];
		*c = (struct cached_statement){ sql, st, 1 };
	}
	return st;
}

/* Done with a statement from store_prepare: reset for the next use, or finalized. */
static void store_stmt_release(struct store *store, sqlite3_stmt *st)
{
	for (size_t i = 0; i < store->ncache; i++) {
		if (store->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			store->cache[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

/* Run a statement without parameters or rows, prepared once (each request begins and commits). */
static int store_run(struct store *store, const char *sql)
{
	sqlite3_stmt *st = store_prepare(store, sql);
	int rc;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	store_stmt_release(store, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void store_release_memory(struct store *store)
{
	sqlite3_db_release_memory(store->db);
}

int store_begin(struct store *store)
{
	return store_run(store, "BEGIN IMMEDIATE");
}

int store_commit(struct store *store)
{
	return store_run(store, "COMMIT");
}

int store_commit_point(struct store *store)
{
	if (sqlite3_get_autocommit(store->db))
		return 0;
	if (store_commit(store) < 0)
		return -1;
	return store_begin(store);
}

/* Step a statement that returns no rows, then finalize it. */
static int store_step_done(struct store *store, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	store_stmt_release(store, st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "trainctl: database %s: %s\n", store->path, sqlite3_errmsg(store->db));
		return -1;
	}
	return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int store_job_insert(struct store *store, const char *name, const json_t *spec,
		     enum job_state state, int64_t *id, struct err *err)
{
	sqlite3_stmt *st = store_prepare(store,
		"INSERT INTO jobs(name, state, spec, env, created_at, queue, priority, command, cwd, "
		"slurm_job_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, " SPEC_COMMAND("?3") ", "
		SPEC_CWD("?3") ", " SPEC_SLURM_JOB_ID("?3") ")");
	/* The environment is kept apart: it is large, private, and listings never need it. */
	json_t *bare = json_copy((json_t *)spec);
	char *env = json_dumps(json_object_get(spec, "env"), JSON_COMPACT);
	char *text;

	json_object_del(bare, "env");
	text = json_dumps(bare, JSON_COMPACT);
	json_decref(bare);

	if (!st) {
		free(text);
		free(env);
		return err_set(err, "database %s: cannot insert a job", store->path);
	}
	bind_text_or_null(st, 1, name);
	sqlite3_bind_text(st, 2, job_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
	bind_text_or_null(st, 4, env);
	sqlite3_bind_int64(st, 5, time_now_ms());
	bind_text_or_null(st, 6, json_string_value(json_object_get(spec, "queue")));
	sqlite3_bind_int64(st, 7, json_integer_value(json_object_get(spec, "priority")));
	free(text);
	free(env);
	if (store_step_done(store, st) < 0)
		return err_set(err, "database %s: %s", store->path, sqlite3_errmsg(store->db));
	*id = sqlite3_last_insert_rowid(store->db);
	return 0;
}

int store_job_delete(struct store *store, int64_t id, struct err *err)
{
	sqlite3_stmt *st = store_prepare(store, "DELETE FROM jobs WHERE id = ?");

	if (!st)
		return err_set(err, "database %s: cannot delete job %lld", store->path, (long long)id);
	sqlite3_bind_int64(st, 1, id);
	if (store_step_done(store, st) < 0)
		return err_set(err, "database %s: %s", store->path, sqlite3_errmsg(store->db));
	return 0;
}

int store_job_set_state(struct store *store, int64_t id, enum job_state state, const char *reason)
{
	sqlite3_stmt *st = store_prepare(store, "UPDATE jobs SET state = ?, reason = ? WHERE id = ?");

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, job_state_name(state), -1, SQLITE_STATIC);
	bind_text_or_null(st, 2, reason);
	sqlite3_bind_int64(st, 3, id);
	return store_step_done(store, st);
}

int store_job_set_started(struct store *store, int64_t id, int pid, uint64_t pid_start,
			  int shim_pid, uint64_t shim_start, int64_t started_at)
{
	sqlite3_stmt *st = store_prepare(store,
		"UPDATE jobs SET pid = ?, pid_start = ?, shim_pid = ?, shim_start = ?, "
		"started_at = ?, ended_at = NULL, exit_code = NULL, signal = NULL WHERE id = ?");

	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, pid);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)pid_start);
	sqlite3_bind_int(st, 3, shim_pid);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)shim_start);
	sqlite3_bind_int64(st, 5, started_at);
	sqlite3_bind_int64(st, 6, id);
	return store_step_done(store, st);
}

int store_job_set_ended(struct store *store, int64_t id, enum job_state state, const char *reason,
			const struct job_exit *ex)
{
	sqlite3_stmt *st = store_prepare(store,
		"UPDATE jobs SET state = ?, reason = ?, exit_code = ?, signal = ?, ended_at = ? "
		"WHERE id = ?");

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, job_state_name(state), -1, SQLITE_STATIC);
	bind_text_or_null(st, 2, reason);
	if (ex && ex->exit_code >= 0 && !ex->signal)
		sqlite3_bind_int(st, 3, ex->exit_code);
	else
		sqlite3_bind_null(st, 3);
	if (ex && ex->signal)
		sqlite3_bind_int(st, 4, ex->signal);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, ex && ex->ended_at ? ex->ended_at : time_now_ms());
	sqlite3_bind_int64(st, 6, id);
	return store_step_done(store, st);
}

/* Set one JSON column of a job (sql updates it by id); a NULL value stores NULL. */
static int job_set_json_column(struct store *store, const char *sql, int64_t id,
			       const json_t *value)
{
	sqlite3_stmt *st = store_prepare(store, sql);
	char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;

	if (!st) {
		free(text);
		return -1;
	}
	bind_text_or_null(st, 1, text);
	sqlite3_bind_int64(st, 2, id);
	free(text);
	return store_step_done(store, st);
}

int store_job_set_progress(struct store *store, int64_t id, const json_t *progress)
{
	return job_set_json_column(store, "UPDATE jobs SET progress = ? WHERE id = ?", id, progress);
}

static json_t *column_time(sqlite3_stmt *st, int col)
{
	char buf[40];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	format_rfc3339(sqlite3_column_int64(st, col), buf, sizeof(buf));
	return json_string(buf);
}

static json_t *column_int(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, col));
}

static json_t *column_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? json_string((const char *)s) : json_null();
}

static json_t *column_json(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	json_t *v = s ? json_loads((const char *)s, 0, NULL) : NULL;

	return v ? v : json_null();
}

int store_job_restart_get(struct store *store, int64_t id, struct job_restart *r)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT attempt, auto_restarts, fail_streak, "
						"restart_at, restart_fresh, stop_cause FROM jobs "
						"WHERE id = ?");
	int ret = -1;

	memset(r, 0, sizeof(*r));
	r->attempt = 1;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *cause = sqlite3_column_text(st, 5);

		r->attempt = sqlite3_column_int(st, 0);
		r->auto_restarts = sqlite3_column_int(st, 1);
		r->fail_streak = sqlite3_column_int(st, 2);
		r->restart_at = sqlite3_column_int64(st, 3);
		r->restart_fresh = sqlite3_column_int(st, 4);
		snprintf(r->stop_cause, sizeof(r->stop_cause), "%s", cause ? (const char *)cause : "");
		ret = 0;
	}
	store_stmt_release(store, st);
	return ret;
}

int store_job_restart_set(struct store *store, int64_t id, const struct job_restart *r)
{
	sqlite3_stmt *st = store_prepare(store, "UPDATE jobs SET attempt = ?, auto_restarts = ?, "
						"fail_streak = ?, restart_at = ?, restart_fresh = ?, "
						"stop_cause = ? WHERE id = ?");

	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, r->attempt);
	sqlite3_bind_int(st, 2, r->auto_restarts);
	sqlite3_bind_int(st, 3, r->fail_streak);
	if (r->restart_at)
		sqlite3_bind_int64(st, 4, r->restart_at);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int(st, 5, r->restart_fresh);
	bind_text_or_null(st, 6, r->stop_cause[0] ? r->stop_cause : NULL);
	sqlite3_bind_int64(st, 7, id);
	return store_step_done(store, st);
}

int store_attempt_add(struct store *store, int64_t id, int attempt, int64_t started_at,
		      enum job_state state, const char *reason, const struct job_exit *ex,
		      const char *checkpoint)
{
	sqlite3_stmt *st = store_prepare(store,
		"INSERT OR REPLACE INTO attempts(job_id, attempt, started_at, ended_at, state, reason, "
		"exit_code, signal, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, attempt);
	sqlite3_bind_int64(st, 3, started_at);
	sqlite3_bind_int64(st, 4, ex && ex->ended_at ? ex->ended_at : time_now_ms());
	sqlite3_bind_text(st, 5, job_state_name(state), -1, SQLITE_STATIC);
	bind_text_or_null(st, 6, reason);
	if (ex && !ex->signal && ex->exit_code >= 0)
		sqlite3_bind_int(st, 7, ex->exit_code);
	else
		sqlite3_bind_null(st, 7);
	if (ex && ex->signal)
		sqlite3_bind_int(st, 8, ex->signal);
	else
		sqlite3_bind_null(st, 8);
	bind_text_or_null(st, 9, checkpoint);
	return store_step_done(store, st);
}

json_t *store_job_attempts(struct store *store, int64_t id)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT attempt, started_at, ended_at, state, "
						"reason, exit_code, signal, checkpoint FROM attempts "
						"WHERE job_id = ? ORDER BY attempt");
	json_t *list = json_array();

	if (!st)
		return list;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_array_append_new(list, json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			"attempt", sqlite3_column_int(st, 0), "started_at", column_time(st, 1),
			"ended_at", column_time(st, 2), "state", column_text(st, 3), "reason",
			column_text(st, 4), "exit_code", column_int(st, 5), "signal",
			column_int(st, 6), "checkpoint", column_text(st, 7)));
	}
	store_stmt_release(store, st);
	return list;
}

int store_job_set_checkpoint(struct store *store, int64_t id, const char *path)
{
	sqlite3_stmt *st = store_prepare(store, "UPDATE jobs SET checkpoint = ? WHERE id = ?");

	if (!st)
		return -1;
	bind_text_or_null(st, 1, path);
	sqlite3_bind_int64(st, 2, id);
	return store_step_done(store, st);
}

int store_job_count_restart(struct store *store, int64_t id)
{
	sqlite3_stmt *st = store_prepare(store, "UPDATE jobs SET restarts = restarts + 1 WHERE id = ?");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return store_step_done(store, st);
}

static void bind_known_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static void bind_known_real(sqlite3_stmt *st, int i, double v)
{
	if (v >= 0)
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

int store_sample_add(struct store *store, int64_t id, const struct sample *s)
{
	sqlite3_stmt *st = store_prepare(store, "INSERT INTO samples(job_id, time, cpu, rss, threads, "
						"procs, read_bytes, write_bytes, gpu_util, gpu_mem, pss) "
						"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, s->time_ms);
	bind_known_real(st, 3, s->cpu_percent);
	sqlite3_bind_int64(st, 4, s->rss_bytes);
	sqlite3_bind_int(st, 5, s->threads);
	sqlite3_bind_int(st, 6, s->procs);
	bind_known_int(st, 7, s->read_bytes);
	bind_known_int(st, 8, s->write_bytes);
	bind_known_real(st, 9, s->gpu_util);
	bind_known_int(st, 10, s->gpu_mem_bytes);
	bind_known_int(st, 11, s->pss_bytes);
	return store_step_done(store, st);
}

static double column_real_or(sqlite3_stmt *st, int col, double unknown)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? unknown : sqlite3_column_double(st, col);
}

static int64_t column_int_or(sqlite3_stmt *st, int col, int64_t unknown)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? unknown : sqlite3_column_int64(st, col);
}

int store_samples_get(struct store *store, int64_t id, int64_t since_ms, struct sample **out,
		      size_t *n)
{
	/* Older minutes first (their means), then the full-resolution samples. */
	sqlite3_stmt *st = store_prepare(store,
		"SELECT time, cpu_mean, rss_mean, threads, procs, read_bytes, write_bytes, gpu_util, "
		"gpu_mem, pss FROM samples_minute WHERE job_id = ?1 AND time >= ?2 UNION ALL "
		"SELECT time, cpu, rss, threads, procs, read_bytes, write_bytes, gpu_util, gpu_mem, pss "
		"FROM samples WHERE job_id = ?1 AND time >= ?2 ORDER BY 1");
	size_t alloc = 0;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, since_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct sample *s;

		if (*n == alloc) {
			alloc = alloc ? 2 * alloc : 256;
			*out = xreallocarray(*out, alloc, sizeof(**out));
		}
		s = &(*out)[(*n)++];
		s->time_ms = sqlite3_column_int64(st, 0);
		s->cpu_percent = column_real_or(st, 1, -1);
		s->rss_bytes = column_int_or(st, 2, 0);
		s->threads = (int)column_int_or(st, 3, 0);
		s->procs = (int)column_int_or(st, 4, 0);
		s->read_bytes = column_int_or(st, 5, -1);
		s->write_bytes = column_int_or(st, 6, -1);
		s->gpu_util = column_real_or(st, 7, -1);
		s->gpu_mem_bytes = column_int_or(st, 8, -1);
		s->pss_bytes = column_int_or(st, 9, -1);
		s->cpu_seconds = -1;
	}
	store_stmt_release(store, st);
	return 0;
}

int store_samples_compact(struct store *store, int64_t before_ms)
{
	char sql[1024];

	/* Aggregate whole minutes older than before_ms, then drop what was aggregated. */
	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO samples_minute SELECT job_id, time / 60000 * 60000, count(*), "
		 "min(cpu), avg(cpu), max(cpu), min(rss), CAST(avg(rss) AS INTEGER), max(rss), "
		 "max(threads), max(procs), max(read_bytes), max(write_bytes), avg(gpu_util), "
		 "max(gpu_mem), max(pss) FROM samples WHERE time < %1$lld GROUP BY job_id, time / 60000;"
		 "DELETE FROM samples WHERE time < %1$lld;"
		 "INSERT INTO machine_samples SELECT time / 60000 * 60000, 60000, avg(cpu), max(cpu_max), "
		 "max(mem_total), min(mem_available), max(swap_total), min(swap_free), avg(load1) "
		 "FROM machine_samples WHERE span = 0 AND time < %1$lld GROUP BY time / 60000;"
		 "DELETE FROM machine_samples WHERE span = 0 AND time < %1$lld;",
		 (long long)(before_ms / 60000 * 60000));
	return store_exec(store, sql, NULL);
}

int store_job_peaks(struct store *store, int64_t id, double *cpu, int64_t *rss, int64_t *pss)
{
	sqlite3_stmt *st = store_prepare(store,
		"SELECT max(c), max(r), max(p) FROM (SELECT max(cpu) AS c, max(rss) AS r, max(pss) AS p "
		"FROM samples WHERE job_id = ?1 UNION ALL SELECT max(cpu_max), max(rss_max), max(pss) "
		"FROM samples_minute WHERE job_id = ?1)");
	int ret = -1;

	*cpu = -1;
	*rss = -1;
	*pss = -1;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL) {
		*cpu = column_real_or(st, 0, -1);
		*rss = sqlite3_column_int64(st, 1);
		*pss = column_int_or(st, 2, -1);
		ret = 0;
	}
	store_stmt_release(store, st);
	return ret;
}

/* ---- the queue ---- */

static int64_t *store_query_ids(struct store *store, const char *sql, int64_t param, int bind,
				const char *text);

/* One JSON column of a job (sql selects it by id), or NULL when null or absent. */
static json_t *job_json_column(struct store *store, const char *sql, int64_t id)
{
	sqlite3_stmt *st = store_prepare(store, sql);
	json_t *value = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		value = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	store_stmt_release(store, st);
	return value;
}

char *store_job_reason(struct store *store, int64_t id)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT reason FROM jobs WHERE id = ?");
	char *reason = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		reason = xstrdup((const char *)sqlite3_column_text(st, 0));
	store_stmt_release(store, st);
	return reason;
}

json_t *store_job_gpus(struct store *store, int64_t id)
{
	return job_json_column(store, "SELECT gpus FROM jobs WHERE id = ?", id);
}

int store_job_set_gpus(struct store *store, int64_t id, const json_t *gpus)
{
	return job_set_json_column(store, "UPDATE jobs SET gpus = ? WHERE id = ?", id, gpus);
}

size_t store_jobs_queued(struct store *store, struct store_queued **out)
{
	sqlite3_stmt *st = store_prepare(store,
		"SELECT id, queue, json_extract(spec, '$.after') IS NOT NULL FROM jobs "
		"WHERE state = 'queued' ORDER BY priority DESC, id");
	size_t n = 0, alloc = 0;

	*out = NULL;
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *queue = (const char *)sqlite3_column_text(st, 1);

		if (n == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			*out = xreallocarray(*out, alloc, sizeof(**out));
		}
		(*out)[n].id = sqlite3_column_int64(st, 0);
		snprintf((*out)[n].queue, sizeof((*out)[n].queue), "%s", queue ? queue : "");
		(*out)[n++].has_after = sqlite3_column_int(st, 2);
	}
	if (st)
		store_stmt_release(store, st);
	return n;
}

int store_job_set_waiting(struct store *store, int64_t id, const char *reason)
{
	sqlite3_stmt *st = store_prepare(store, "UPDATE jobs SET reason = ?1 WHERE id = ?2 AND "
						"state = 'queued' AND reason IS NOT ?1");

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	return store_step_done(store, st);
}

json_t *store_gpu_holders(struct store *store)
{
	sqlite3_stmt *st = store_prepare(store,
		"SELECT id, gpus, spec FROM jobs WHERE gpus IS NOT NULL AND state IN "
		"('starting','running','paused','stopping','restarting')");
	json_t *list = json_array();

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		json_t *spec = column_json(st, 2);
		json_t *mem = json_object_get(spec, "gpu_mem");

		json_array_append_new(list, json_pack("{sIsosO}", "id",
					(json_int_t)sqlite3_column_int64(st, 0), "gpus",
					column_json(st, 1), "gpu_mem", mem ? mem : json_null()));
		json_decref(spec);
	}
	if (st)
		store_stmt_release(store, st);
	return list;
}

int store_queue_running(struct store *store, const char *queue)
{
	sqlite3_stmt *st = store_prepare(store,
		"SELECT count(*) FROM jobs WHERE queue = ? AND state IN "
		"('starting','running','paused','stopping','restarting')");
	int n = 0;

	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	store_stmt_release(store, st);
	return n;
}

int store_queue_get(struct store *store, const char *queue, int *parallel, int *paused)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT parallel, paused FROM queues WHERE name = ?");

	*parallel = 0;
	*paused = 0;
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*parallel = sqlite3_column_int(st, 0);
		*paused = sqlite3_column_int(st, 1);
	}
	store_stmt_release(store, st);
	return 0;
}

int store_queue_set(struct store *store, const char *queue, int parallel, int paused)
{
	sqlite3_stmt *st = store_prepare(store,
		"INSERT INTO queues(name, parallel, paused) VALUES (?1, ?2, ?3) "
		"ON CONFLICT(name) DO UPDATE SET parallel = ?2, paused = ?3");

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, parallel);
	sqlite3_bind_int(st, 3, paused);
	return store_step_done(store, st);
}

json_t *store_queues_json(struct store *store)
{
	sqlite3_stmt *st = store_prepare(store,
		"SELECT q, (SELECT parallel FROM queues WHERE name = q), "
		"(SELECT paused FROM queues WHERE name = q), "
		"(SELECT count(*) FROM jobs WHERE queue = q AND state IN "
		"('starting','running','paused','stopping','restarting')), "
		"(SELECT count(*) FROM jobs WHERE queue = q AND state IN ('queued','held')) "
		"FROM (SELECT name AS q FROM queues UNION SELECT DISTINCT queue FROM jobs "
		"WHERE queue IS NOT NULL AND state IN " ACTIVE_STATES ") ORDER BY q");
	json_t *list = json_array();

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		json_array_append_new(list, json_pack("{sssisbsisi}", "name",
					(const char *)sqlite3_column_text(st, 0), "parallel",
					sqlite3_column_int(st, 1), "paused", sqlite3_column_int(st, 2),
					"running", sqlite3_column_int(st, 3), "queued",
					sqlite3_column_int(st, 4)));
	}
	if (st)
		store_stmt_release(store, st);
	return list;
}

int store_machine_sample_add(struct store *store, const struct machine_sample *m)
{
	sqlite3_stmt *st = store_prepare(store,
		"INSERT INTO machine_samples(time, cpu, cpu_max, mem_total, mem_available, swap_total, "
		"swap_free, load1) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, m->time_ms);
	bind_known_real(st, 2, m->cpu_percent);
	bind_known_real(st, 3, m->cpu_percent);
	sqlite3_bind_int64(st, 4, m->mem_total);
	sqlite3_bind_int64(st, 5, m->mem_available);
	sqlite3_bind_int64(st, 6, m->swap_total);
	sqlite3_bind_int64(st, 7, m->swap_free);
	sqlite3_bind_double(st, 8, m->load[0]);
	return store_step_done(store, st);
}

int store_machine_summary(struct store *store, int64_t from_ms, int64_t to_ms, double *cpu_mean,
			  double *cpu_max, int64_t *mem_available_min, int64_t *mem_total)
{
	sqlite3_stmt *st = store_prepare(store,
		"SELECT avg(cpu), max(cpu_max), min(mem_available), max(mem_total) FROM machine_samples "
		"WHERE time >= ?1 AND time <= ?2");

	*cpu_mean = *cpu_max = -1;
	*mem_available_min = *mem_total = -1;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*cpu_mean = column_real_or(st, 0, -1);
		*cpu_max = column_real_or(st, 1, -1);
		*mem_available_min = column_int_or(st, 2, -1);
		*mem_total = column_int_or(st, 3, -1);
	}
	store_stmt_release(store, st);
	return 0;
}

int store_event_add(struct store *store, int64_t id, const char *kind, const char *fmt, ...)
{
	sqlite3_stmt *st = store_prepare(store, "INSERT INTO events(job_id, time, kind, detail) "
						"VALUES (?, ?, ?, ?)");
	char *detail = NULL;
	va_list ap;

	if (!st)
		return -1;
	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&detail, fmt, ap) < 0)
			fatal("out of memory");
		va_end(ap);
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, time_now_ms());
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	bind_text_or_null(st, 4, detail);
	free(detail);
	return store_step_done(store, st);
}

int64_t store_event_last_time(struct store *store, int64_t id, const char *kind)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT max(time) FROM events WHERE job_id = ? AND "
						"kind = ?");
	int64_t when = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		when = sqlite3_column_int64(st, 0);
	store_stmt_release(store, st);
	return when;
}

/* Run a query that yields one integer (bound to one text or int64 parameter). */
static int64_t store_query_int(struct store *store, const char *sql, const char *text, int64_t num)
{
	sqlite3_stmt *st = store_prepare(store, sql);
	int64_t value = 0;

	if (!st)
		return 0;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, num);
	if (sqlite3_step(st) == SQLITE_ROW)
		value = sqlite3_column_int64(st, 0);
	store_stmt_release(store, st);
	return value;
}

int store_job_resolve(struct store *store, const char *text, int64_t *id, struct err *err)
{
	int n;

	if (!text || !*text)
		return err_usage(err, "empty job name (expected a job id or name)");
	if (parse_uint(text, &n) == 0) {
		*id = store_query_int(store, "SELECT id FROM jobs WHERE id = ?", NULL, n);
		if (*id)
			return 0;
		return err_set(err, "no job with id %s (see 'trainctl ls -a')", text);
	}
	*id = store_query_int(store, "SELECT id FROM jobs WHERE name = ? ORDER BY id DESC LIMIT 1",
			      text, 0);
	if (*id)
		return 0;
	return err_set(err, "no job named '%s' (see 'trainctl ls -a')", text);
}

int64_t store_job_active_by_name(struct store *store, const char *name)
{
	return store_query_int(store,
			       "SELECT id FROM jobs WHERE name = ? AND state IN " ACTIVE_STATES
			       " ORDER BY id DESC LIMIT 1",
			       name, 0);
}

/* What the job object is built from; store_job_json() adds the spec after them. */
#define JOB_COLUMNS                                                                           \
	"id, name, state, reason, command, cwd, pid, exit_code, signal, created_at, started_at, " \
	"ended_at, restarts, gpus, queue, priority, progress, checkpoint, slurm_job_id"
enum { JOB_COLUMN_SPEC = 19 };

/*
 * Build the interface's job object from one row selected with JOB_COLUMNS
 * (in that order, which is the order of the object's fields).
 */
static json_t *job_row_json(sqlite3_stmt *st)
{
	json_t *job = json_object();
	const char *state = (const char *)sqlite3_column_text(st, 2);
	int code = state ? job_state_parse(state) : -1;
	int live = code == JOB_STARTING || code == JOB_RUNNING || code == JOB_PAUSED ||
		   code == JOB_STOPPING; /* states with a process */

	json_object_set_new(job, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(job, "name", column_text(st, 1));
	json_object_set_new(job, "state", column_text(st, 2));
	json_object_set_new(job, "reason", column_text(st, 3));
	json_object_set_new(job, "command", column_json(st, 4));
	json_object_set_new(job, "cwd", column_text(st, 5));
	json_object_set_new(job, "pid", live ? column_int(st, 6) : json_null());
	json_object_set_new(job, "exit_code", column_int(st, 7));
	json_object_set_new(job, "signal", column_int(st, 8));
	json_object_set_new(job, "created_at", column_time(st, 9));
	json_object_set_new(job, "started_at", column_time(st, 10));
	json_object_set_new(job, "ended_at", column_time(st, 11));
	json_object_set_new(job, "restarts", json_integer(sqlite3_column_int(st, 12)));
	json_object_set_new(job, "gpus", sqlite3_column_type(st, 13) == SQLITE_NULL
						 ? json_array() : column_json(st, 13));
	json_object_set_new(job, "queue", column_text(st, 14));
	json_object_set_new(job, "priority", json_integer(sqlite3_column_int(st, 15)));
	json_object_set_new(job, "progress", column_json(st, 16));
	json_object_set_new(job, "checkpoint", column_text(st, 17));
	json_object_set_new(job, "cpu_percent", json_null());
	json_object_set_new(job, "rss_bytes", json_null());
	if (sqlite3_column_type(st, 18) != SQLITE_NULL)
		json_object_set_new(job, "slurm_job_id", json_integer(sqlite3_column_int64(st, 18)));
	return job;
}

json_t *store_job_json(struct store *store, int64_t id)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT " JOB_COLUMNS ", spec FROM jobs WHERE id = ?");
	json_t *job = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		job = job_row_json(st);
		json_object_set_new(job, "spec", column_json(st, JOB_COLUMN_SPEC));
	}
	store_stmt_release(store, st);
	return job;
}

json_t *store_job_list(struct store *store, int all, int state)
{
	sqlite3_stmt *st;
	json_t *list = json_array();
	const char *sql =
		state >= 0 ? "SELECT " JOB_COLUMNS " FROM jobs WHERE state = ?1 ORDER BY id"
		: all      ? "SELECT " JOB_COLUMNS " FROM jobs ORDER BY id"
			   : "SELECT " JOB_COLUMNS " FROM jobs WHERE state IN " ACTIVE_STATES
			     " ORDER BY id";

	st = store_prepare(store, sql);
	if (!st)
		return list;
	if (state >= 0)
		sqlite3_bind_text(st, 1, job_state_name((enum job_state)state), -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(list, job_row_json(st));
	store_stmt_release(store, st);
	return list;
}

json_t *store_job_counts(struct store *store)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT state, n FROM job_counts WHERE n > 0 "
						"ORDER BY state");
	json_t *counts = json_object();

	if (!st)
		return counts;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int64(st, 1)));
	store_stmt_release(store, st);
	return counts;
}

int64_t store_job_count_finished(struct store *store)
{
	/*
	 * The test in a CASE, a scan of the few rows: in a WHERE, SQLite turns
	 * it into "IN (list)" and builds a temporary b-tree of the list each
	 * time (an ls each).
	 */
	sqlite3_stmt *st = store_prepare(store, "SELECT coalesce(sum(CASE WHEN " IS_FINAL("state")
						" THEN n END), 0) FROM job_counts");
	int64_t n = 0;

	if (!st)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	store_stmt_release(store, st);
	return n;
}

json_t *store_job_events(struct store *store, int64_t id)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT time, kind, detail FROM events "
						"WHERE job_id = ? ORDER BY id");
	json_t *events = json_array();

	if (!st)
		return events;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_array_append_new(events, json_pack("{s:o, s:o, s:o}", "time",
							column_time(st, 0), "kind",
							column_text(st, 1), "detail",
							column_text(st, 2)));
	}
	store_stmt_release(store, st);
	return events;
}

json_t *store_job_spec(struct store *store, int64_t id)
{
	return job_json_column(store, "SELECT spec FROM jobs WHERE id = ?", id);
}

int store_job_set_spec(struct store *store, int64_t id, const json_t *spec)
{
	return job_set_json_column(store,
				   "UPDATE jobs SET spec = ?1, command = " SPEC_COMMAND("?1") ", cwd = "
				   SPEC_CWD("?1") ", slurm_job_id = " SPEC_SLURM_JOB_ID("?1")
				   " WHERE id = ?2",
				   id, spec);
}

json_t *store_job_env(struct store *store, int64_t id)
{
	return job_json_column(store, "SELECT env FROM jobs WHERE id = ?", id);
}

enum job_state store_job_state(struct store *store, int64_t id)
{
	sqlite3_stmt *st = store_prepare(store, "SELECT state FROM jobs WHERE id = ?");
	int state = -1;

	if (!st)
		return JOB_LOST;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		state = job_state_parse((const char *)sqlite3_column_text(st, 0));
	store_stmt_release(store, st);
	return state < 0 ? JOB_LOST : (enum job_state)state;
}

/* Collect the ids a query returns into a -1-terminated array. */
static int64_t *store_query_ids(struct store *store, const char *sql, int64_t param, int bind,
				const char *text)
{
	sqlite3_stmt *st = store_prepare(store, sql);
	int64_t *ids = xmalloc(sizeof(*ids) * 16);
	size_t len = 0, alloc = 16;

	while (st) {
		if (bind)
			sqlite3_bind_int64(st, 1, param);
		if (text)
			sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (len + 1 >= alloc) {
				alloc *= 2;
				ids = xreallocarray(ids, alloc, sizeof(*ids));
			}
			ids[len++] = sqlite3_column_int64(st, 0);
		}
		store_stmt_release(store, st);
		break;
	}
	ids[len] = -1;
	return ids;
}

int64_t *store_job_ids_active(struct store *store)
{
	return store_query_ids(store,
			       "SELECT id FROM jobs WHERE state IN " ACTIVE_STATES " ORDER BY id",
			       0, 0, NULL);
}

int64_t *store_job_ids_in_state(struct store *store, enum job_state state)
{
	return store_query_ids(store, "SELECT id FROM jobs WHERE state = ? ORDER BY id", 0, 0,
			       job_state_name(state));
}

int64_t *store_job_ids_finished_before(struct store *store, int64_t before)
{
	return store_query_ids(store,
			       "SELECT id FROM jobs WHERE " IS_FINAL("state")
			       " AND coalesce(ended_at, created_at) <= ? ORDER BY id",
			       before, 1, NULL);
}

int64_t *store_job_ids_stopped_by(struct store *store, const char *cause)
{
	return store_query_ids(store,
			       "SELECT id FROM jobs WHERE stop_cause = ? AND " IS_FINAL("state")
			       " ORDER BY id",
			       0, 0, cause);
}
