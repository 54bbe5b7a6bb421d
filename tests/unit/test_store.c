/* Unit tests for src/lib/store.c, each in its own temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/store.h"

struct fixture {
	char dir[64];
	char db[128];
	struct store *store;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/trainctl-test-store.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->db, sizeof(fx->db), "%s/trainctl.db", fx->dir);
	*state = fx;
	return 0;
}

/* Close the store if open, remove every file in the directory, then it. */
static int teardown(void **state)
{
	struct fixture *fx = *state;
	DIR *dir;
	struct dirent *de;

	store_close(fx->store);
	dir = opendir(fx->dir);
	if (dir) {
		while ((de = readdir(dir)) != NULL) {
			char path[512];

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", fx->dir, de->d_name);
			unlink(path);
		}
		closedir(dir);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static struct store *open_store(struct fixture *fx)
{
	struct err err = { 0 };

	fx->store = store_open(fx->db, &err);
	if (!fx->store)
		fail_msg("store_open(%s): %s", fx->db, err.msg);
	return fx->store;
}

static json_t *spec_argv(void)
{
	return json_pack("{s:[s, s, s, s], s:s}", "argv", "python", "train.py", "--lr", "0.1",
			 "cwd", "/work/exp1");
}

static int64_t insert(struct store *store, const char *name, enum job_state st)
{
	struct err err = { 0 };
	json_t *spec = spec_argv();
	int64_t id = -1;

	if (store_job_insert(store, name, spec, st, &id, &err) != 0)
		fail_msg("insert %s: %s", name ? name : "(null)", err.msg);
	json_decref(spec);
	return id;
}

/* An integer from a SQL query run directly on the database file. */
static int64_t sql_int(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -999;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sql_exec(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

static const char *str_field(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

static void assert_null_field(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!v)
		fail_msg("\"%s\" is missing (expected null)", key);
	if (!json_is_null(v))
		fail_msg("\"%s\" is not null", key);
}

static int64_t int_field(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(v);
}

/* ---- opening ---- */

static void test_open_creates_schema(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(access(fx->db, F_OK), -1);
	open_store(fx);
	assert_int_equal(access(fx->db, F_OK), 0);
	store_close(fx->store);
	fx->store = NULL;

	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
					 "AND name IN ('jobs', 'events')"), 2);
	/* WAL is a property of the file, so it persists */
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

static void test_open_missing_directory(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	char path[256];

	snprintf(path, sizeof(path), "%s/no/such/dir/trainctl.db", fx->dir);
	assert_null(store_open(path, &err));
	assert_non_null(strstr(err.msg, path));
}

static void test_reopen_keeps_rows(void **state)
{
	struct fixture *fx = *state;
	int64_t a, b, c;
	json_t *job;

	open_store(fx);
	a = insert(fx->store, "keep", JOB_QUEUED);
	b = insert(fx->store, "me", JOB_RUNNING);
	store_event_add(fx->store, a, "created", "by test");
	store_close(fx->store);
	fx->store = NULL;

	open_store(fx);
	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	job = store_job_json(fx->store, a);
	assert_non_null(job);
	assert_string_equal(str_field(job, "name"), "keep");
	assert_string_equal(str_field(job, "state"), "queued");
	json_decref(job);
	job = store_job_json(fx->store, b);
	assert_non_null(job);
	assert_string_equal(str_field(job, "name"), "me");
	json_decref(job);
	job = store_job_events(fx->store, a);
	assert_int_equal(json_array_size(job), 1);
	json_decref(job);
	/* ids keep counting up */
	c = insert(fx->store, "new", JOB_QUEUED);
	assert_int_equal(c, b + 1);
}

static void test_refuses_newer_schema(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	char pragma[64];

	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
	sql_exec(fx->db, "CREATE TABLE future (x INTEGER)");
	sql_exec(fx->db, pragma);

	assert_null(store_open(fx->db, &err));
	if (!strstr(err.msg, "newer"))
		fail_msg("no 'newer' in: %s", err.msg);
	assert_non_null(strstr(err.msg, fx->db));
	assert_int_equal(err.usage, 0);
	/* and it left the database alone */
	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION + 1);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE name = 'jobs'"), 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_refuses_garbage_file(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	unsigned char junk[8192];
	uint32_t x = 2463534242u;

	for (size_t i = 0; i < sizeof(junk); i++) { /* xorshift: not a SQLite header */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (unsigned char)x;
	}
	write_file(fx->db, junk, sizeof(junk));

	assert_null(store_open(fx->db, &err));
	if (!strstr(err.msg, fx->db))
		fail_msg("the message does not name the file: %s", err.msg);
	if (!strstr(err.msg, "not a"))
		fail_msg("the message does not say what is wrong: %s", err.msg);
}

static void test_refuses_small_text_file(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	const char text[] = "this is not a database, just some notes\n";

	write_file(fx->db, text, strlen(text));
	assert_null(store_open(fx->db, &err));
	if (!strstr(err.msg, fx->db))
		fail_msg("the message does not name the file: %s", err.msg);
}

/* ---- jobs ---- */

static void test_insert_and_resolve(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	int64_t a, b, c, id;
	char text[32];

	open_store(fx);
	a = insert(fx->store, "sim", JOB_QUEUED);
	b = insert(fx->store, "other", JOB_QUEUED);
	c = insert(fx->store, "sim", JOB_QUEUED);
	assert_true(a > 0);
	assert_int_equal(b, a + 1);
	assert_int_equal(c, a + 2);

	/* by id */
	snprintf(text, sizeof(text), "%lld", (long long)b);
	id = 0;
	assert_int_equal(store_job_resolve(fx->store, text, &id, &err), 0);
	assert_int_equal(id, b);
	snprintf(text, sizeof(text), "%lld", (long long)a);
	assert_int_equal(store_job_resolve(fx->store, text, &id, &err), 0);
	assert_int_equal(id, a);

	/* by name: the newest wins */
	assert_int_equal(store_job_resolve(fx->store, "sim", &id, &err), 0);
	assert_int_equal(id, c);
	assert_int_equal(store_job_resolve(fx->store, "other", &id, &err), 0);
	assert_int_equal(id, b);

	/* missing */
	err.usage = 1;
	assert_int_equal(store_job_resolve(fx->store, "999", &id, &err), -1);
	assert_non_null(strstr(err.msg, "999"));
	assert_int_equal(err.usage, 0);
	err.usage = 1;
	assert_int_equal(store_job_resolve(fx->store, "ghost", &id, &err), -1);
	assert_non_null(strstr(err.msg, "ghost"));
	assert_int_equal(err.usage, 0);
	/* an empty name is the caller's mistake */
	assert_int_equal(store_job_resolve(fx->store, "", &id, &err), -1);
	assert_int_equal(err.usage, 1);
}

static void test_resolve_after_delete(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	int64_t a, b, id;

	open_store(fx);
	a = insert(fx->store, "twice", JOB_SUCCEEDED);
	b = insert(fx->store, "twice", JOB_QUEUED);
	assert_int_equal(store_job_delete(fx->store, b, &err), 0);
	assert_int_equal(store_job_resolve(fx->store, "twice", &id, &err), 0);
	assert_int_equal(id, a);
}

static void test_active_by_name(void **state)
{
	struct fixture *fx = *state;
	struct job_exit ex;
	int64_t a, b, c;

	open_store(fx);
	memset(&ex, 0, sizeof(ex));
	a = insert(fx->store, "sim", JOB_RUNNING);
	b = insert(fx->store, "other", JOB_QUEUED);
	assert_int_equal(store_job_active_by_name(fx->store, "sim"), a);
	assert_int_equal(store_job_active_by_name(fx->store, "other"), b);
	assert_int_equal(store_job_active_by_name(fx->store, "ghost"), 0);

	assert_int_equal(store_job_set_ended(fx->store, a, JOB_SUCCEEDED, "exit 0", &ex), 0);
	assert_int_equal(store_job_active_by_name(fx->store, "sim"), 0);

	c = insert(fx->store, "sim", JOB_QUEUED);
	assert_int_equal(store_job_active_by_name(fx->store, "sim"), c);

	/* every non-final state counts as active, every final one does not */
	for (int st = 0; st < JOB_STATE_COUNT; st++) {
		assert_int_equal(store_job_set_state(fx->store, c, (enum job_state)st, NULL), 0);
		if (job_state_is_final((enum job_state)st))
			assert_int_equal(store_job_active_by_name(fx->store, "sim"), 0);
		else
			assert_int_equal(store_job_active_by_name(fx->store, "sim"), c);
	}
}

static void test_job_json_fresh(void **state)
{
	struct fixture *fx = *state;
	char before[40], after[40];
	const char *created;
	int64_t id;
	json_t *job, *cmd, *want;

	open_store(fx);
	format_rfc3339(time_now_ms(), before, sizeof(before));
	id = insert(fx->store, "sim", JOB_QUEUED);
	format_rfc3339(time_now_ms(), after, sizeof(after));

	job = store_job_json(fx->store, id);
	assert_non_null(job);
	assert_int_equal(int_field(job, "id"), id);
	assert_string_equal(str_field(job, "name"), "sim");
	assert_string_equal(str_field(job, "state"), "queued");
	assert_null_field(job, "reason");
	cmd = json_object_get(job, "command");
	want = json_pack("[s, s, s, s]", "python", "train.py", "--lr", "0.1");
	assert_true(json_equal(cmd, want));
	json_decref(want);
	assert_string_equal(str_field(job, "cwd"), "/work/exp1");
	assert_null_field(job, "pid");
	assert_null_field(job, "exit_code");
	assert_null_field(job, "signal");
	created = str_field(job, "created_at");
	assert_int_equal(strlen(created), 24);
	assert_int_equal(created[23], 'Z');
	assert_int_equal(created[10], 'T');
	assert_true(strcmp(created, before) >= 0);
	assert_true(strcmp(created, after) <= 0);
	assert_null_field(job, "started_at");
	assert_null_field(job, "ended_at");
	assert_int_equal(int_field(job, "restarts"), 0);
	assert_true(json_is_array(json_object_get(job, "gpus")));
	assert_int_equal(json_array_size(json_object_get(job, "gpus")), 0);
	assert_null_field(job, "progress");
	assert_null_field(job, "checkpoint");
	assert_null_field(job, "cpu_percent");
	assert_null_field(job, "rss_bytes");
	want = spec_argv();
	assert_true(json_equal(json_object_get(job, "spec"), want));
	json_decref(want);
	json_decref(job);

	assert_null(store_job_json(fx->store, id + 100));
}

static void test_job_json_lifecycle(void **state)
{
	struct fixture *fx = *state;
	struct job_exit ex;
	int64_t id;
	json_t *job;

	open_store(fx);
	id = insert(fx->store, "sim", JOB_QUEUED);

	assert_int_equal(store_job_set_state(fx->store, id, JOB_STARTING, NULL), 0);
	assert_int_equal(store_job_set_started(fx->store, id, 4242, 777001, 4241, 777000,
					       1764404149123LL), 0);
	assert_int_equal(store_job_set_state(fx->store, id, JOB_RUNNING, "started"), 0);
	job = store_job_json(fx->store, id);
	assert_string_equal(str_field(job, "state"), "running");
	assert_string_equal(str_field(job, "reason"), "started");
	assert_int_equal(int_field(job, "pid"), 4242);
	assert_string_equal(str_field(job, "started_at"), "2025-11-29T08:15:49.123Z");
	assert_null_field(job, "ended_at");
	assert_null_field(job, "exit_code");
	assert_int_equal(store_job_state(fx->store, id), JOB_RUNNING);
	json_decref(job);

	/* it fails with exit 3 */
	memset(&ex, 0, sizeof(ex));
	ex.exit_code = 3;
	ex.ended_at = 1764404209000LL;
	assert_int_equal(store_job_set_ended(fx->store, id, JOB_FAILED, "exit 3", &ex), 0);
	job = store_job_json(fx->store, id);
	assert_string_equal(str_field(job, "state"), "failed");
	assert_string_equal(str_field(job, "reason"), "exit 3");
	assert_null_field(job, "pid"); /* final: no pid any more */
	assert_int_equal(int_field(job, "exit_code"), 3);
	assert_null_field(job, "signal");
	assert_string_equal(str_field(job, "started_at"), "2025-11-29T08:15:49.123Z");
	assert_string_equal(str_field(job, "ended_at"), "2025-11-29T08:16:49.000Z");
	assert_int_equal(store_job_state(fx->store, id), JOB_FAILED);
	json_decref(job);

	/* a restart clears the end */
	assert_int_equal(store_job_set_state(fx->store, id, JOB_RUNNING, NULL), 0);
	assert_int_equal(store_job_set_started(fx->store, id, 5000, 1, 4999, 1, 1764404300000LL), 0);
	job = store_job_json(fx->store, id);
	assert_int_equal(int_field(job, "pid"), 5000);
	assert_null_field(job, "reason");
	assert_null_field(job, "exit_code");
	assert_null_field(job, "ended_at");
	json_decref(job);

	/* killed by a signal: signal set, exit_code null */
	memset(&ex, 0, sizeof(ex));
	ex.exit_code = -1;
	ex.signal = SIGKILL;
	ex.ended_at = 1764404400000LL;
	assert_int_equal(store_job_set_ended(fx->store, id, JOB_STOPPED, "SIGKILL (trainctl kill)",
					     &ex), 0);
	job = store_job_json(fx->store, id);
	assert_string_equal(str_field(job, "state"), "stopped");
	assert_null_field(job, "pid");
	assert_null_field(job, "exit_code");
	assert_int_equal(int_field(job, "signal"), 9);
	assert_string_equal(str_field(job, "ended_at"), "2025-11-29T08:20:00.000Z");
	json_decref(job);
}

static void test_job_json_ended_without_exit(void **state)
{
	struct fixture *fx = *state;
	char before[40], after[40];
	const char *ended;
	int64_t id;
	json_t *job;

	open_store(fx);
	id = insert(fx->store, NULL, JOB_QUEUED);
	format_rfc3339(time_now_ms(), before, sizeof(before));
	assert_int_equal(store_job_set_ended(fx->store, id, JOB_CANCELLED, "cancelled", NULL), 0);
	format_rfc3339(time_now_ms(), after, sizeof(after));
	job = store_job_json(fx->store, id);
	assert_null_field(job, "name");
	assert_string_equal(str_field(job, "state"), "cancelled");
	assert_null_field(job, "exit_code");
	assert_null_field(job, "signal");
	assert_null_field(job, "started_at");
	ended = str_field(job, "ended_at");
	assert_true(strcmp(ended, before) >= 0);
	assert_true(strcmp(ended, after) <= 0);
	json_decref(job);
}

static void test_job_json_sh_command_and_env(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	json_t *spec, *job, *want, *stored;
	char sql[256];
	int64_t id;

	open_store(fx);
	spec = json_pack("{s:s, s:s, s:{s:s}}", "sh", "python train.py | tee out", "cwd", "/w",
			 "env", "HF_TOKEN", "secret");
	assert_int_equal(store_job_insert(fx->store, "piped", spec, JOB_QUEUED, &id, &err), 0);
	job = store_job_json(fx->store, id);
	want = json_pack("[s, s, s]", "/bin/sh", "-c", "python train.py | tee out");
	assert_true(json_equal(json_object_get(job, "command"), want));
	/* the listed spec never carries the environment */
	assert_non_null(json_object_get(job, "spec"));
	assert_null(json_object_get(json_object_get(job, "spec"), "env"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(job, "spec"), "sh")),
			    "python train.py | tee out");
	json_decref(job);
	json_decref(want);

	/* the stored spec is the same, without its environment ... */
	stored = store_job_spec(fx->store, id);
	assert_non_null(stored);
	json_object_del(spec, "env");
	assert_true(json_equal(stored, spec));
	json_decref(stored);
	assert_null(store_job_spec(fx->store, id + 1));
	json_decref(spec);

	/* ... which is kept apart, in its own column */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM jobs WHERE id = %lld AND env = '{\"HF_TOKEN\":\"secret\"}' "
		 "AND spec NOT LIKE '%%secret%%'",
		 (long long)id);
	assert_int_equal(sql_int(fx->db, sql), 1);
	/* a spec without one stores NULL */
	id = insert(fx->store, "noenv", JOB_QUEUED);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM jobs WHERE id = %lld AND env IS NULL",
		 (long long)id);
	assert_int_equal(sql_int(fx->db, sql), 1);
}

static void test_job_json_progress_and_checkpoint(void **state)
{
	struct fixture *fx = *state;
	int64_t id;
	json_t *job;
	char sql[256];

	open_store(fx);
	id = insert(fx->store, "sim", JOB_RUNNING);
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET progress = '{\"step\":120,\"total\":1000}', "
		 "checkpoint = '/ckpt/step-120.pt', restarts = 2 WHERE id = %lld",
		 (long long)id);
	sql_exec(fx->db, sql);
	job = store_job_json(fx->store, id);
	assert_int_equal(int_field(json_object_get(job, "progress"), "step"), 120);
	assert_int_equal(int_field(json_object_get(job, "progress"), "total"), 1000);
	assert_string_equal(str_field(job, "checkpoint"), "/ckpt/step-120.pt");
	assert_int_equal(int_field(job, "restarts"), 2);
	json_decref(job);
}

/* The ids of a job list, as "1,2,3". */
static void list_ids(const json_t *list, char *out, size_t size)
{
	size_t i;
	json_t *job;

	out[0] = '\0';
	json_array_foreach(list, i, job) {
		size_t len = strlen(out);

		snprintf(out + len, size - len, "%s%lld", i ? "," : "",
			 (long long)json_integer_value(json_object_get(job, "id")));
	}
}

static void test_job_list(void **state)
{
	struct fixture *fx = *state;
	char got[256], want[256];
	int64_t q, r, s, f, p, t, l;
	json_t *list;

	open_store(fx);
	q = insert(fx->store, "q", JOB_QUEUED);
	r = insert(fx->store, "r", JOB_RUNNING);
	s = insert(fx->store, "s", JOB_SUCCEEDED);
	f = insert(fx->store, "f", JOB_FAILED);
	p = insert(fx->store, "p", JOB_PAUSED);
	t = insert(fx->store, "t", JOB_STOPPING);
	l = insert(fx->store, "l", JOB_LOST);

	list = store_job_list(fx->store, 0, -1);
	list_ids(list, got, sizeof(got));
	snprintf(want, sizeof(want), "%lld,%lld,%lld,%lld", (long long)q, (long long)r,
		 (long long)p, (long long)t);
	assert_string_equal(got, want);
	json_decref(list);

	list = store_job_list(fx->store, 1, -1);
	list_ids(list, got, sizeof(got));
	snprintf(want, sizeof(want), "%lld,%lld,%lld,%lld,%lld,%lld,%lld", (long long)q,
		 (long long)r, (long long)s, (long long)f, (long long)p, (long long)t, (long long)l);
	assert_string_equal(got, want);
	assert_string_equal(str_field(json_array_get(list, 2), "name"), "s");
	json_decref(list);

	/* a state filter, with or without all */
	list = store_job_list(fx->store, 0, JOB_FAILED);
	list_ids(list, got, sizeof(got));
	snprintf(want, sizeof(want), "%lld", (long long)f);
	assert_string_equal(got, want);
	json_decref(list);
	list = store_job_list(fx->store, 1, JOB_RUNNING);
	list_ids(list, got, sizeof(got));
	snprintf(want, sizeof(want), "%lld", (long long)r);
	assert_string_equal(got, want);
	json_decref(list);
	list = store_job_list(fx->store, 0, JOB_LOST);
	list_ids(list, got, sizeof(got));
	snprintf(want, sizeof(want), "%lld", (long long)l);
	assert_string_equal(got, want);
	json_decref(list);
	list = store_job_list(fx->store, 1, JOB_CANCELLED);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

static void test_job_list_empty_db(void **state)
{
	struct fixture *fx = *state;
	json_t *list;

	open_store(fx);
	list = store_job_list(fx->store, 1, -1);
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

static void test_job_counts(void **state)
{
	struct fixture *fx = *state;
	json_t *counts, *want;

	open_store(fx);
	insert(fx->store, "a", JOB_RUNNING);
	insert(fx->store, "b", JOB_RUNNING);
	insert(fx->store, "c", JOB_QUEUED);
	insert(fx->store, "d", JOB_FAILED);
	counts = store_job_counts(fx->store);
	want = json_pack("{s:i, s:i, s:i}", "running", 2, "queued", 1, "failed", 1);
	assert_true(json_equal(counts, want));
	json_decref(counts);
	json_decref(want);
}

/* The counts per state follow every insert, change of state and delete (triggers). */
static void test_job_counts_follow_changes(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	int64_t a, b, c;
	json_t *counts, *want;

	open_store(fx);
	assert_int_equal(store_job_count_finished(fx->store), 0);
	a = insert(fx->store, "a", JOB_RUNNING);
	b = insert(fx->store, "b", JOB_RUNNING);
	c = insert(fx->store, "c", JOB_QUEUED);
	assert_int_equal(store_job_count_finished(fx->store), 0);
	assert_int_equal(store_job_set_ended(fx->store, a, JOB_SUCCEEDED, "exit 0", NULL), 0);
	assert_int_equal(store_job_set_state(fx->store, b, JOB_STOPPING, NULL), 0);
	assert_int_equal(store_job_set_ended(fx->store, b, JOB_FAILED, "exit 3", NULL), 0);
	/* the same state again counts once */
	assert_int_equal(store_job_set_state(fx->store, b, JOB_FAILED, "exit 3"), 0);
	assert_int_equal(store_job_count_finished(fx->store), 2);
	counts = store_job_counts(fx->store);
	want = json_pack("{s:i, s:i, s:i}", "succeeded", 1, "failed", 1, "queued", 1);
	assert_true(json_equal(counts, want));
	json_decref(counts);
	json_decref(want);
	assert_int_equal(store_job_delete(fx->store, a, &err), 0);
	assert_int_equal(store_job_set_state(fx->store, c, JOB_CANCELLED, "removed"), 0);
	assert_int_equal(store_job_count_finished(fx->store), 2);
	counts = store_job_counts(fx->store);
	want = json_pack("{s:i, s:i}", "failed", 1, "cancelled", 1);
	assert_true(json_equal(counts, want));
	json_decref(counts);
	json_decref(want);
	/* and they agree with the rows */
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM (SELECT state, count(*) AS n FROM jobs "
					 "GROUP BY state EXCEPT SELECT state, n FROM job_counts)"), 0);
}

/* The listing columns are derived from the spec on insert and on every change of it. */
static void test_listing_columns_follow_spec(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	json_t *spec = json_pack("{s:s, s:s}", "sh", "make && ./run", "cwd", "/w");
	json_t *job;
	int64_t id;

	open_store(fx);
	assert_int_equal(store_job_insert(fx->store, "s", spec, JOB_QUEUED, &id, &err), 0);
	job = store_job_list(fx->store, 1, -1);
	assert_int_equal(json_array_size(job), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(job, 0),
									     "command"), 2)),
			    "make && ./run");
	assert_string_equal(str_field(json_array_get(job, 0), "cwd"), "/w");
	assert_null(json_object_get(json_array_get(job, 0), "slurm_job_id"));
	assert_null(json_object_get(json_array_get(job, 0), "spec")); /* listings carry no spec */
	json_decref(job);

	json_object_set_new(spec, "slurm_job_id", json_integer(4242));
	json_object_set_new(spec, "cwd", json_string("/elsewhere"));
	assert_int_equal(store_job_set_spec(fx->store, id, spec), 0);
	job = store_job_json(fx->store, id);
	assert_int_equal(int_field(job, "slurm_job_id"), 4242);
	assert_string_equal(str_field(job, "cwd"), "/elsewhere");
	assert_string_equal(str_field(json_object_get(job, "spec"), "sh"), "make && ./run");
	json_decref(job);
	json_decref(spec);
}

/*
 * A database of schema 5 (before the listing columns and the counts) gets
 * them filled from its rows: argv and --sh commands, cwd, Slurm ids, counts.
 */
static void test_migrates_listing_columns(void **state)
{
	struct fixture *fx = *state;
	json_t *list;

	open_store(fx);
	insert(fx->store, "argv", JOB_SUCCEEDED);
	store_close(fx->store);
	fx->store = NULL;
	sql_exec(fx->db, "DROP TRIGGER job_counts_insert; DROP TRIGGER job_counts_delete;"
			 "DROP TRIGGER job_counts_update; DROP TABLE job_counts;"
			 "ALTER TABLE jobs DROP COLUMN command; ALTER TABLE jobs DROP COLUMN cwd;"
			 "ALTER TABLE jobs DROP COLUMN slurm_job_id;"
			 "INSERT INTO jobs(name, state, spec, created_at) VALUES ('sh', 'running',"
			 "  '{\"sh\":\"a | b\",\"cwd\":\"/s\",\"slurm_job_id\":77}', 1);"
			 "INSERT INTO jobs(name, state, spec, created_at) VALUES ('bare', 'failed', '{}', 1);"
			 "PRAGMA user_version = 5;");

	open_store(fx);
	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	list = store_job_list(fx->store, 1, -1);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(list, 0),
									     "command"), 0)), "python");
	assert_string_equal(str_field(json_array_get(list, 0), "cwd"), "/work/exp1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(list, 1),
									     "command"), 2)), "a | b");
	assert_int_equal(int_field(json_array_get(list, 1), "slurm_job_id"), 77);
	assert_int_equal(json_array_size(json_object_get(json_array_get(list, 2), "command")), 0);
	assert_null_field(json_array_get(list, 2), "cwd");
	json_decref(list);
	assert_int_equal(store_job_count_finished(fx->store), 2);
	/* the triggers work on the migrated database */
	insert(fx->store, "new", JOB_CANCELLED);
	assert_int_equal(store_job_count_finished(fx->store), 3);
}

static void test_job_state_missing_is_lost(void **state)
{
	struct fixture *fx = *state;

	open_store(fx);
	assert_int_equal(store_job_state(fx->store, 12345), JOB_LOST);
}

/* ---- events ---- */

static void test_events_in_order(void **state)
{
	struct fixture *fx = *state;
	char before[40], after[40];
	int64_t id, other;
	json_t *events, *ev;

	open_store(fx);
	id = insert(fx->store, "sim", JOB_QUEUED);
	other = insert(fx->store, "other", JOB_QUEUED);
	format_rfc3339(time_now_ms(), before, sizeof(before));
	assert_int_equal(store_event_add(fx->store, id, "created", "queued by %s", "alice"), 0);
	assert_int_equal(store_event_add(fx->store, other, "created", "other job"), 0);
	assert_int_equal(store_event_add(fx->store, id, "started", "pid %d", 4242), 0);
	assert_int_equal(store_event_add(fx->store, id, "signal", "%s", "SIGUSR1"), 0);
	assert_int_equal(store_event_add(fx->store, id, "ended", "exit %d", 0), 0);
	format_rfc3339(time_now_ms(), after, sizeof(after));

	events = store_job_events(fx->store, id);
	assert_int_equal(json_array_size(events), 4);
	assert_string_equal(str_field(json_array_get(events, 0), "kind"), "created");
	assert_string_equal(str_field(json_array_get(events, 0), "detail"), "queued by alice");
	assert_string_equal(str_field(json_array_get(events, 1), "kind"), "started");
	assert_string_equal(str_field(json_array_get(events, 1), "detail"), "pid 4242");
	assert_string_equal(str_field(json_array_get(events, 2), "kind"), "signal");
	assert_string_equal(str_field(json_array_get(events, 2), "detail"), "SIGUSR1");
	assert_string_equal(str_field(json_array_get(events, 3), "kind"), "ended");
	assert_string_equal(str_field(json_array_get(events, 3), "detail"), "exit 0");
	for (size_t i = 0; i < 4; i++) {
		const char *t;

		ev = json_array_get(events, i);
		t = str_field(ev, "time");
		assert_int_equal(strlen(t), 24);
		assert_int_equal(t[23], 'Z');
		assert_true(strcmp(t, before) >= 0);
		assert_true(strcmp(t, after) <= 0);
	}
	json_decref(events);

	events = store_job_events(fx->store, other);
	assert_int_equal(json_array_size(events), 1);
	json_decref(events);
	events = store_job_events(fx->store, 9999);
	assert_true(json_is_array(events));
	assert_int_equal(json_array_size(events), 0);
	json_decref(events);
}

/* ---- delete ---- */

static void test_delete_cascades_events(void **state)
{
	struct fixture *fx = *state;
	struct err err = { 0 };
	int64_t id, other;
	char sql[128];
	json_t *events;

	open_store(fx);
	id = insert(fx->store, "doomed", JOB_SUCCEEDED);
	other = insert(fx->store, "kept", JOB_SUCCEEDED);
	store_event_add(fx->store, id, "created", "a");
	store_event_add(fx->store, id, "ended", "b");
	store_event_add(fx->store, other, "created", "c");

	assert_int_equal(store_job_delete(fx->store, id, &err), 0);
	assert_null(store_job_json(fx->store, id));
	{
		int64_t found = -5;

		assert_int_equal(store_job_resolve(fx->store, "doomed", &found, &err), -1);
	}
	events = store_job_events(fx->store, id);
	assert_int_equal(json_array_size(events), 0);
	json_decref(events);

	/* the rows are really gone, not just hidden */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE job_id = %lld", (long long)id);
	assert_int_equal(sql_int(fx->db, sql), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE job_id = %lld",
		 (long long)other);
	assert_int_equal(sql_int(fx->db, sql), 1);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM jobs"), 1);

	/* deleting what is not there is not an error */
	assert_int_equal(store_job_delete(fx->store, id, &err), 0);
}

/* ---- transactions ---- */

static void test_begin_commit(void **state)
{
	struct fixture *fx = *state;

	open_store(fx);
	assert_int_equal(store_begin(fx->store), 0);
	insert(fx->store, "a", JOB_QUEUED);
	insert(fx->store, "b", JOB_QUEUED);
	/* another connection does not see the open transaction */
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM jobs"), 0);
	assert_int_equal(store_commit(fx->store), 0);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM jobs"), 2);
	/* a commit without a transaction fails instead of pretending */
	assert_int_equal(store_commit(fx->store), -1);
}

/* ---- id lists ---- */

static void ids_string(int64_t *ids, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; ids[i] != -1; i++) {
		size_t len = strlen(out);

		snprintf(out + len, size - len, "%s%lld", i ? "," : "", (long long)ids[i]);
	}
	free(ids);
}

static void test_ids_active_and_finished_before(void **state)
{
	struct fixture *fx = *state;
	struct job_exit ex;
	char got[256], want[256];
	int64_t q, r, s, f, c, h, st, pa, sp;

	open_store(fx);
	memset(&ex, 0, sizeof(ex));
	ids_string(store_job_ids_active(fx->store), got, sizeof(got));
	assert_string_equal(got, "");

	q = insert(fx->store, "q", JOB_QUEUED);
	r = insert(fx->store, "r", JOB_RUNNING);
	s = insert(fx->store, "s", JOB_RUNNING);
	f = insert(fx->store, "f", JOB_RUNNING);
	c = insert(fx->store, "c", JOB_QUEUED);
	h = insert(fx->store, "h", JOB_HELD);
	st = insert(fx->store, "st", JOB_STARTING);
	pa = insert(fx->store, "pa", JOB_PAUSED);
	sp = insert(fx->store, "sp", JOB_STOPPING);
	ex.ended_at = 1000;
	assert_int_equal(store_job_set_ended(fx->store, s, JOB_SUCCEEDED, "exit 0", &ex), 0);
	ex.ended_at = 5000;
	ex.exit_code = 1;
	assert_int_equal(store_job_set_ended(fx->store, f, JOB_FAILED, "exit 1", &ex), 0);
	/* cancelled without an end time: its creation time counts */
	assert_int_equal(store_job_set_state(fx->store, c, JOB_CANCELLED, "cancelled"), 0);

	ids_string(store_job_ids_active(fx->store), got, sizeof(got));
	snprintf(want, sizeof(want), "%lld,%lld,%lld,%lld,%lld,%lld", (long long)q, (long long)r,
		 (long long)h, (long long)st, (long long)pa, (long long)sp);
	assert_string_equal(got, want);

	ids_string(store_job_ids_finished_before(fx->store, 999), got, sizeof(got));
	assert_string_equal(got, "");
	ids_string(store_job_ids_finished_before(fx->store, 1000), got, sizeof(got));
	snprintf(want, sizeof(want), "%lld", (long long)s);
	assert_string_equal(got, want);
	ids_string(store_job_ids_finished_before(fx->store, 5000), got, sizeof(got));
	snprintf(want, sizeof(want), "%lld,%lld", (long long)s, (long long)f);
	assert_string_equal(got, want);
	ids_string(store_job_ids_finished_before(fx->store, time_now_ms() + 1000), got,
		   sizeof(got));
	snprintf(want, sizeof(want), "%lld,%lld,%lld", (long long)s, (long long)f, (long long)c);
	assert_string_equal(got, want);
}

static void test_ids_many(void **state)
{
	struct fixture *fx = *state;
	int64_t first = 0, *ids;
	size_t n = 0;

	open_store(fx);
	for (int i = 0; i < 100; i++) {
		int64_t id = insert(fx->store, "many", JOB_QUEUED);

		if (i == 0)
			first = id;
	}
	ids = store_job_ids_active(fx->store);
	while (ids[n] != -1) {
		assert_int_equal(ids[n], first + (int64_t)n);
		n++;
	}
	assert_int_equal(n, 100);
	free(ids);
}

/* Samples older than the cut become one-minute min/mean/max rows; newer ones stay. */
static void test_samples_retention(void **state)
{
	struct fixture *fx = *state;
	struct store *store = open_store(fx);
	int64_t id, old = 1000LL * 60 * 60 * 24 * 100; /* a whole minute, long ago */
	struct sample s = { .threads = 4, .procs = 2, .read_bytes = -1, .write_bytes = -1,
			    .gpu_util = -1, .gpu_mem_bytes = -1, .pss_bytes = -1 };
	struct sample *got;
	double cpu;
	int64_t rss, pss;
	size_t n;
	json_t *spec = spec_argv();

	assert_int_equal(store_job_insert(store, "r", spec, JOB_RUNNING, &id, NULL), 0);
	json_decref(spec);
	for (int i = 0; i < 60; i++) { /* two minutes at 2 s */
		s.time_ms = old + i * 2000;
		s.cpu_percent = i < 30 ? 50 : 150;
		s.rss_bytes = 1000 + i;
		s.pss_bytes = i % 15 == 0 ? 800 + i : -1; /* PSS is read every 15th tick */
		assert_int_equal(store_sample_add(store, id, &s), 0);
	}
	s.time_ms = old + 10 * 60000;
	s.cpu_percent = 300;
	s.rss_bytes = 5000;
	s.pss_bytes = -1;
	assert_int_equal(store_sample_add(store, id, &s), 0);
	assert_int_equal(store_samples_compact(store, old + 5 * 60000), 0);
	assert_int_equal(store_samples_get(store, id, 0, &got, &n), 0);
	assert_int_equal(n, 3); /* two minutes, one recent sample */
	assert_int_equal(got[0].time_ms, old);
	assert_true(got[0].cpu_percent == 50);
	assert_int_equal(got[1].time_ms, old + 60000);
	assert_true(got[1].cpu_percent == 150);
	assert_int_equal(got[2].time_ms, old + 10 * 60000);
	assert_int_equal(got[2].rss_bytes, 5000);
	assert_int_equal(got[1].pss_bytes, 845); /* the minute keeps its highest PSS */
	assert_int_equal(got[2].pss_bytes, -1);
	free(got);
	assert_int_equal(store_job_peaks(store, id, &cpu, &rss, &pss), 0);
	assert_true(cpu == 300);
	assert_int_equal(rss, 5000);
	assert_int_equal(pss, 845);
	/* compacting again changes nothing */
	assert_int_equal(store_samples_compact(store, old + 5 * 60000), 0);
	assert_int_equal(store_samples_get(store, id, 0, &got, &n), 0);
	assert_int_equal(n, 3);
	free(got);
	/* since: only the minute and the sample at or after it */
	assert_int_equal(store_samples_get(store, id, old + 60000, &got, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].time_ms, old + 60000);
	free(got);
}

/* Machine totals: summarized over a window, and folded into minutes like the jobs' samples. */
static void test_machine_samples(void **state)
{
	struct fixture *fx = *state;
	struct store *store = open_store(fx);
	int64_t old = 1000LL * 60 * 60 * 24 * 100, avail, total;
	double load[3] = { 1, 1, 1 }, cpus[2] = { 0, 0 }, mean, max;
	struct machine_sample m = { .ncpus = 2, .cpus_percent = cpus, .mem_total = 8000,
				    .swap_total = 0, .swap_free = 0 };

	m.load[0] = load[0];
	for (int i = 0; i < 60; i++) { /* two minutes at 2 s */
		m.time_ms = old + i * 2000;
		m.cpu_percent = i < 30 ? 20 : 60;
		m.mem_available = 4000 - i;
		assert_int_equal(store_machine_sample_add(store, &m), 0);
	}
	assert_int_equal(store_machine_summary(store, old, old + 59999, &mean, &max, &avail, &total), 0);
	assert_true(mean == 20 && max == 20);
	assert_int_equal(avail, 4000 - 29);
	assert_int_equal(total, 8000);
	assert_int_equal(store_samples_compact(store, old + 5 * 60000), 0);
	assert_int_equal(store_machine_summary(store, old, old + 120000, &mean, &max, &avail, &total), 0);
	assert_true(mean == 40 && max == 60); /* two minute rows: 20 and 60 */
	assert_int_equal(avail, 4000 - 59);
	/* nothing sampled in a window: unknown */
	assert_int_equal(store_machine_summary(store, 0, 1000, &mean, &max, &avail, &total), 0);
	assert_true(mean == -1 && avail == -1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_schema),
		T(test_samples_retention),
		T(test_machine_samples),
		T(test_open_missing_directory),
		T(test_reopen_keeps_rows),
		T(test_refuses_newer_schema),
		T(test_refuses_garbage_file),
		T(test_refuses_small_text_file),
		T(test_insert_and_resolve),
		T(test_resolve_after_delete),
		T(test_active_by_name),
		T(test_job_json_fresh),
		T(test_job_json_lifecycle),
		T(test_job_json_ended_without_exit),
		T(test_job_json_sh_command_and_env),
		T(test_job_json_progress_and_checkpoint),
		T(test_job_list),
		T(test_job_list_empty_db),
		T(test_job_counts),
		T(test_job_counts_follow_changes),
		T(test_listing_columns_follow_spec),
		T(test_migrates_listing_columns),
		T(test_job_state_missing_is_lost),
		T(test_events_in_order),
		T(test_delete_cascades_events),
		T(test_begin_commit),
		T(test_ids_active_and_finished_before),
		T(test_ids_many),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
