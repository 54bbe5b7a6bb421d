/* Unit tests for src/lib/job.c: states, exit classification, JSON files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/job.h"

/* ---- states ---- */

static const char *const all_names[JOB_STATE_COUNT] = {
	"queued", "held", "starting", "running", "paused", "stopping", "restarting",
	"succeeded", "failed", "stopped", "cancelled", "lost",
};

static void test_state_names(void **state)
{
	(void)state;
	assert_int_equal(JOB_STATE_COUNT, 12);
	for (int i = 0; i < JOB_STATE_COUNT; i++) {
		assert_string_equal(job_state_name((enum job_state)i), all_names[i]);
		assert_int_equal(job_state_parse(all_names[i]), i);
		assert_non_null(strstr(job_state_names(), all_names[i]));
	}
	assert_int_equal(job_state_parse("queued"), JOB_QUEUED);
	assert_int_equal(job_state_parse("running"), JOB_RUNNING);
	assert_int_equal(job_state_parse("lost"), JOB_LOST);
	assert_string_equal(job_state_name(JOB_STOPPED), "stopped");
}

static void test_state_parse_unknown(void **state)
{
	(void)state;
	assert_int_equal(job_state_parse(""), -1);
	assert_int_equal(job_state_parse("bogus"), -1);
	assert_int_equal(job_state_parse("RUNNING"), -1);
	assert_int_equal(job_state_parse("run"), -1);
	assert_int_equal(job_state_parse("running "), -1);
	assert_int_equal(job_state_parse("unknown"), -1);
	assert_string_equal(job_state_name(JOB_STATE_COUNT), "unknown");
	assert_string_equal(job_state_name((enum job_state)-1), "unknown");
}

static void test_state_is_final(void **state)
{
	(void)state;
	assert_false(job_state_is_final(JOB_QUEUED));
	assert_false(job_state_is_final(JOB_HELD));
	assert_false(job_state_is_final(JOB_STARTING));
	assert_false(job_state_is_final(JOB_RUNNING));
	assert_false(job_state_is_final(JOB_PAUSED));
	assert_false(job_state_is_final(JOB_STOPPING));
	assert_true(job_state_is_final(JOB_SUCCEEDED));
	assert_true(job_state_is_final(JOB_FAILED));
	assert_true(job_state_is_final(JOB_STOPPED));
	assert_true(job_state_is_final(JOB_CANCELLED));
	assert_true(job_state_is_final(JOB_LOST));
}

/* ---- exit classification ---- */

static struct job_exit exited(int code)
{
	struct job_exit ex;

	memset(&ex, 0, sizeof(ex));
	ex.exit_code = code;
	ex.stop_signal = SIGTERM;
	ex.stop_timeout_ms = 30000;
	return ex;
}

static struct job_exit signalled(int sig, int core)
{
	struct job_exit ex = exited(-1);

	ex.signal = sig;
	ex.core_dumped = core;
	return ex;
}

static enum job_state classify(const struct job_exit *ex, char *reason)
{
	memset(reason, 'X', 256);
	return job_exit_classify(ex, reason, 256);
}

static void test_classify_exit_0(void **state)
{
	struct job_exit ex = exited(0);
	char reason[256];

	(void)state;
	assert_int_equal(classify(&ex, reason), JOB_SUCCEEDED);
	assert_string_equal(reason, "exit 0");
}

static void test_classify_exit_3(void **state)
{
	struct job_exit ex = exited(3);
	char reason[256];

	(void)state;
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "exit 3");
}

static void test_classify_segv_core(void **state)
{
	struct job_exit ex = signalled(SIGSEGV, 1);
	char reason[256];

	(void)state;
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "killed (SIGSEGV (core dumped))");
}

static void test_classify_unrequested_kill(void **state)
{
	/* e.g. the OOM killer: nobody asked, so it failed */
	struct job_exit ex = signalled(SIGKILL, 0);
	char reason[256];

	(void)state;
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "killed (SIGKILL)");
}

static void test_classify_stop_then_exit_0(void **state)
{
	struct job_exit ex = exited(0);
	char reason[256];

	(void)state;
	ex.stop_requested = 1;
	assert_int_equal(classify(&ex, reason), JOB_STOPPED);
	assert_non_null(strstr(reason, "exit 0"));
	assert_non_null(strstr(reason, "SIGTERM"));
	assert_string_equal(reason, "exit 0 after SIGTERM");
}

static void test_classify_stop_then_exit_nonzero(void **state)
{
	struct job_exit ex = exited(143);
	char reason[256];

	(void)state;
	ex.stop_requested = 1;
	ex.stop_signal = SIGINT;
	assert_int_equal(classify(&ex, reason), JOB_STOPPED);
	assert_string_equal(reason, "exit 143 after SIGINT");
}

static void test_classify_stop_killed_after_grace(void **state)
{
	struct job_exit ex = signalled(SIGKILL, 0);
	char reason[256];

	(void)state;
	ex.stop_requested = 1;
	ex.killed_after_grace = 1;
	assert_int_equal(classify(&ex, reason), JOB_STOPPED);
	assert_int_equal(strncmp(reason, "SIGKILL after 30s grace", 23), 0);
	assert_string_equal(reason, "SIGKILL after 30s grace (ignored SIGTERM)");

	ex.stop_timeout_ms = 90000;
	ex.stop_signal = SIGINT;
	assert_int_equal(classify(&ex, reason), JOB_STOPPED);
	assert_string_equal(reason, "SIGKILL after 1m30s grace (ignored SIGINT)");
}

static void test_classify_stop_died_of_sigterm(void **state)
{
	struct job_exit ex = signalled(SIGTERM, 0);
	char reason[256];

	(void)state;
	ex.stop_requested = 1;
	assert_int_equal(classify(&ex, reason), JOB_STOPPED);
	assert_string_equal(reason, "SIGTERM");
}

static void test_classify_stop_died_of_other_signal(void **state)
{
	struct job_exit ex = signalled(SIGABRT, 1);
	char reason[256];

	(void)state;
	ex.stop_requested = 1;
	assert_int_equal(classify(&ex, reason), JOB_STOPPED);
	assert_string_equal(reason, "SIGABRT (core dumped) after SIGTERM");
}

static void test_classify_user_kill(void **state)
{
	struct job_exit ex = signalled(SIGKILL, 0);
	char reason[256];

	(void)state;
	ex.user_signal = SIGKILL;
	assert_int_equal(classify(&ex, reason), JOB_STOPPED);
	assert_non_null(strstr(reason, "SIGKILL"));
	assert_string_equal(reason, "SIGKILL (trainctl kill)");
}

static void test_classify_user_signal_but_exit_1(void **state)
{
	struct job_exit ex = exited(1);
	char reason[256];

	(void)state;
	ex.user_signal = SIGUSR1;
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "exit 1");

	/* a user signal, then a different fatal signal: still a failure */
	ex = signalled(SIGSEGV, 0);
	ex.user_signal = SIGUSR1;
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "killed (SIGSEGV)");

	/* a user signal, then a clean exit: a success */
	ex = exited(0);
	ex.user_signal = SIGUSR1;
	assert_int_equal(classify(&ex, reason), JOB_SUCCEEDED);
	assert_string_equal(reason, "exit 0");
}

static void test_classify_shim_note(void **state)
{
	struct job_exit ex = signalled(SIGKILL, 0);
	char reason[256];

	(void)state;
	/* the shim gave up on the job: that is a failure, whatever else happened */
	snprintf(ex.note, sizeof(ex.note), "the daemon vanished before the job was confirmed");
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "the daemon vanished before the job was confirmed (SIGKILL)");

	ex.stop_requested = 1;
	ex.user_signal = SIGKILL;
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "the daemon vanished before the job was confirmed (SIGKILL)");

	ex = exited(0);
	snprintf(ex.note, sizeof(ex.note), "lost the log");
	assert_int_equal(classify(&ex, reason), JOB_FAILED);
	assert_string_equal(reason, "lost the log (exit 0)");
}

static void test_classify_small_reason_buffer(void **state)
{
	struct job_exit ex = signalled(SIGSEGV, 1);
	char reason[8];

	(void)state;
	memset(reason, 'X', sizeof(reason));
	assert_int_equal(job_exit_classify(&ex, reason, sizeof(reason)), JOB_FAILED);
	assert_string_equal(reason, "killed ");
}

static void test_exit_status(void **state)
{
	struct job_exit ex;

	(void)state;
	ex = exited(3);
	assert_int_equal(job_exit_status(&ex), 3);
	ex = exited(0);
	assert_int_equal(job_exit_status(&ex), 0);
	ex = exited(255);
	assert_int_equal(job_exit_status(&ex), 255);
	ex = signalled(SIGKILL, 0);
	assert_int_equal(job_exit_status(&ex), 137);
	ex = signalled(SIGTERM, 0);
	assert_int_equal(job_exit_status(&ex), 143);
	ex = signalled(SIGSEGV, 1);
	assert_int_equal(job_exit_status(&ex), 139);
	ex = exited(-1); /* never ran */
	assert_int_equal(job_exit_status(&ex), 1);
}

/* ---- exit records as JSON ---- */

static struct job_exit sample_exit(void)
{
	struct job_exit ex;

	memset(&ex, 0, sizeof(ex));
	ex.exit_code = -1;
	ex.signal = 9;
	ex.core_dumped = 1;
	ex.stop_requested = 1;
	ex.stop_signal = 2;
	ex.stop_timeout_ms = 45000;
	ex.killed_after_grace = 1;
	ex.user_signal = 10;
	ex.started_at = 1764404149123LL;
	ex.ended_at = 1764407749456LL;
	ex.utime_ms = 123456789;
	ex.stime_ms = 2345;
	ex.maxrss_kb = 16777216;
	snprintf(ex.note, sizeof(ex.note), "gave up: \"quotes\" and \\ backslash");
	return ex;
}

static void assert_exit_equal(const struct job_exit *a, const struct job_exit *b)
{
	assert_int_equal(a->exit_code, b->exit_code);
	assert_int_equal(a->signal, b->signal);
	assert_int_equal(a->core_dumped, b->core_dumped);
	assert_int_equal(a->stop_requested, b->stop_requested);
	assert_int_equal(a->stop_signal, b->stop_signal);
	assert_int_equal(a->stop_timeout_ms, b->stop_timeout_ms);
	assert_int_equal(a->killed_after_grace, b->killed_after_grace);
	assert_int_equal(a->user_signal, b->user_signal);
	assert_int_equal(a->started_at, b->started_at);
	assert_int_equal(a->ended_at, b->ended_at);
	assert_int_equal(a->utime_ms, b->utime_ms);
	assert_int_equal(a->stime_ms, b->stime_ms);
	assert_int_equal(a->maxrss_kb, b->maxrss_kb);
	assert_string_equal(a->note, b->note);
}

static void test_exit_json_round_trip(void **state)
{
	struct job_exit ex = sample_exit(), back;
	json_t *obj;

	(void)state;
	obj = job_exit_to_json(&ex);
	assert_non_null(obj);
	assert_true(json_is_object(obj));
	assert_int_equal(json_integer_value(json_object_get(obj, "exit_code")), -1);
	assert_int_equal(json_integer_value(json_object_get(obj, "signal")), 9);
	assert_true(json_is_true(json_object_get(obj, "core_dumped")));
	assert_true(json_is_true(json_object_get(obj, "stop_requested")));
	assert_true(json_is_true(json_object_get(obj, "killed_after_grace")));
	assert_int_equal(json_integer_value(json_object_get(obj, "started_at")), 1764404149123LL);
	assert_string_equal(json_string_value(json_object_get(obj, "note")), ex.note);

	memset(&back, 0x5A, sizeof(back));
	assert_int_equal(job_exit_from_json(obj, &back), 0);
	assert_exit_equal(&ex, &back);
	json_decref(obj);

	/* a plain clean exit too (false booleans, empty note) */
	ex = exited(0);
	obj = job_exit_to_json(&ex);
	assert_true(json_is_false(json_object_get(obj, "core_dumped")));
	memset(&back, 0x5A, sizeof(back));
	assert_int_equal(job_exit_from_json(obj, &back), 0);
	assert_exit_equal(&ex, &back);
	json_decref(obj);
}

static void test_exit_from_json_rejects(void **state)
{
	struct job_exit back;
	json_t *obj;

	(void)state;
	obj = json_array();
	assert_int_equal(job_exit_from_json(obj, &back), -1);
	json_decref(obj);
	obj = json_pack("{s:i}", "signal", 9); /* no exit_code */
	assert_int_equal(job_exit_from_json(obj, &back), -1);
	json_decref(obj);
	obj = json_pack("{s:s}", "exit_code", "0");
	assert_int_equal(job_exit_from_json(obj, &back), -1);
	json_decref(obj);
	assert_int_equal(job_exit_from_json(NULL, &back), -1);

	/* a minimal record: missing fields are zero */
	obj = json_pack("{s:i}", "exit_code", 4);
	memset(&back, 0x5A, sizeof(back));
	assert_int_equal(job_exit_from_json(obj, &back), 0);
	assert_int_equal(back.exit_code, 4);
	assert_int_equal(back.signal, 0);
	assert_int_equal(back.stop_requested, 0);
	assert_int_equal(back.maxrss_kb, 0);
	assert_string_equal(back.note, "");
	json_decref(obj);
}

/* ---- JSON files ---- */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/trainctl-test-job.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* Remove the files in tmpdir (flat) and tmpdir itself. */
static int teardown_tmpdir(void **state)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *de;

	(void)state;
	if (dir) {
		while ((de = readdir(dir)) != NULL) {
			char path[512];

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
			unlink(path);
		}
		closedir(dir);
	}
	return rmdir(tmpdir);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The names in tmpdir, sorted and joined with ",". */
static void list_dir(char *out, size_t size)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *de;
	char names[16][256];
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL && n < 16) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(dir);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i)
			strncat(out, ",", size - strlen(out) - 1);
		strncat(out, names[i], size - strlen(out) - 1);
	}
}

static void test_json_file_round_trip(void **state)
{
	struct job_exit ex = sample_exit(), back;
	struct err err = { 0 };
	char path[256], names[1024], text[4096];
	json_t *obj, *read_back;
	ssize_t n;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/7.exit", tmpdir);
	obj = job_exit_to_json(&ex);
	assert_int_equal(json_file_write_atomic(path, obj, 1, &err), 0);
	read_back = json_file_read(path, &err);
	if (!read_back)
		fail_msg("read failed: %s", err.msg);
	assert_true(json_equal(obj, read_back));
	assert_int_equal(job_exit_from_json(read_back, &back), 0);
	assert_exit_equal(&ex, &back);
	json_decref(read_back);

	/* no temporary file left behind */
	list_dir(names, sizeof(names));
	assert_string_equal(names, "7.exit");

	/* one compact line ending in a newline, private to the user */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n > 2);
	text[n] = '\0';
	assert_int_equal(text[0], '{');
	assert_int_equal(text[n - 1], '\n');
	assert_null(memchr(text, '\n', (size_t)n - 1));
	{
		struct stat sb;

		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	json_decref(obj);
}

static void test_json_file_overwrite(void **state)
{
	struct err err = { 0 };
	char path[256], names[1024];
	json_t *a = json_pack("{s:i, s:[i, i]}", "a", 1, "b", 1, 2);
	json_t *b = json_pack("{s:s}", "c", "second");
	json_t *got;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	/* durable first, then a quick (non-fsynced) overwrite */
	assert_int_equal(json_file_write_atomic(path, a, 1, &err), 0);
	assert_int_equal(json_file_write_atomic(path, b, 0, &err), 0);
	got = json_file_read(path, &err);
	assert_non_null(got);
	assert_true(json_equal(got, b));
	json_decref(got);
	list_dir(names, sizeof(names));
	assert_string_equal(names, "state.json");
	json_decref(a);
	json_decref(b);
}

static void test_json_file_errors(void **state)
{
	struct err err = { 0 };
	char path[256], names[1024];
	json_t *obj = json_pack("{s:i}", "x", 1);
	FILE *f;

	(void)state;
	/* missing file */
	snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
	assert_null(json_file_read(path, &err));
	assert_non_null(strstr(err.msg, path));

	/* a directory that does not exist */
	snprintf(path, sizeof(path), "%s/nodir/x.json", tmpdir);
	err.msg[0] = '\0';
	assert_int_equal(json_file_write_atomic(path, obj, 0, &err), -1);
	assert_non_null(strstr(err.msg, "nodir/x.json"));

	/* not JSON */
	snprintf(path, sizeof(path), "%s/broken.json", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"exit_code\": 0,", f);
	fclose(f);
	err.msg[0] = '\0';
	assert_null(json_file_read(path, &err));
	assert_non_null(strstr(err.msg, path));
	list_dir(names, sizeof(names));
	assert_string_equal(names, "broken.json");
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_state_parse_unknown),
		cmocka_unit_test(test_state_is_final),
		cmocka_unit_test(test_classify_exit_0),
		cmocka_unit_test(test_classify_exit_3),
		cmocka_unit_test(test_classify_segv_core),
		cmocka_unit_test(test_classify_unrequested_kill),
		cmocka_unit_test(test_classify_stop_then_exit_0),
		cmocka_unit_test(test_classify_stop_then_exit_nonzero),
		cmocka_unit_test(test_classify_stop_killed_after_grace),
		cmocka_unit_test(test_classify_stop_died_of_sigterm),
		cmocka_unit_test(test_classify_stop_died_of_other_signal),
		cmocka_unit_test(test_classify_user_kill),
		cmocka_unit_test(test_classify_user_signal_but_exit_1),
		cmocka_unit_test(test_classify_shim_note),
		cmocka_unit_test(test_classify_small_reason_buffer),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_exit_json_round_trip),
		cmocka_unit_test(test_exit_from_json_rejects),
		cmocka_unit_test_setup_teardown(test_json_file_round_trip, setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_json_file_overwrite, setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_json_file_errors, setup_tmpdir, teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
