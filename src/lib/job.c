/* Job states, exit records and their classification; see job.h. */
#include "lib/job.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"

static const char *const state_names[JOB_STATE_COUNT] = {
	[JOB_QUEUED] = "queued",     [JOB_HELD] = "held",       [JOB_STARTING] = "starting",
	[JOB_RUNNING] = "running",   [JOB_PAUSED] = "paused",   [JOB_STOPPING] = "stopping",
	[JOB_RESTARTING] = "restarting",
	[JOB_SUCCEEDED] = "succeeded", [JOB_FAILED] = "failed", [JOB_STOPPED] = "stopped",
	[JOB_CANCELLED] = "cancelled", [JOB_LOST] = "lost",
};

const char *job_state_name(enum job_state state)
{
	return (unsigned)state < JOB_STATE_COUNT ? state_names[state] : "unknown";
}

int job_state_parse(const char *name)
{
	for (int i = 0; i < JOB_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0)
			return i;
	}
	return -1;
}

int job_state_is_final(enum job_state state)
{
	return state >= JOB_SUCCEEDED;
}

const char *job_state_names(void)
{
	return "queued, held, starting, running, paused, stopping, restarting, succeeded, failed, "
	       "stopped, cancelled, lost";
}

/* The fields added after the first exit records; absent ones keep their defaults. */
static void job_exit_extra_to_json(const struct job_exit *ex, json_t *obj)
{
	json_object_set_new(obj, "oom_kills", json_integer(ex->oom_kills));
	json_object_set_new(obj, "limit", json_string(ex->limit));
}

json_t *job_exit_to_json(const struct job_exit *ex)
{
	json_t *obj = json_pack("{s:i, s:i, s:b, s:b, s:i, s:I, s:b, s:i, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "exit_code", ex->exit_code, "signal", ex->signal, "core_dumped",
			 ex->core_dumped, "stop_requested", ex->stop_requested, "stop_signal",
			 ex->stop_signal, "stop_timeout_ms", (json_int_t)ex->stop_timeout_ms,
			 "killed_after_grace", ex->killed_after_grace, "user_signal",
			 ex->user_signal, "started_at", (json_int_t)ex->started_at, "ended_at",
			 (json_int_t)ex->ended_at, "utime_ms", (json_int_t)ex->utime_ms,
			 "stime_ms", (json_int_t)ex->stime_ms, "maxrss_kb",
			 (json_int_t)ex->maxrss_kb, "note", ex->note);

	job_exit_extra_to_json(ex, obj);
	return obj;
}

static int64_t json_int_field(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

int job_exit_from_json(const json_t *obj, struct job_exit *ex)
{
	const char *note = json_string_value(json_object_get(obj, "note"));

	if (!json_is_object(obj) || !json_is_integer(json_object_get(obj, "exit_code")))
		return -1;
	memset(ex, 0, sizeof(*ex));
	ex->exit_code = (int)json_int_field(obj, "exit_code");
	ex->signal = (int)json_int_field(obj, "signal");
	ex->core_dumped = json_is_true(json_object_get(obj, "core_dumped"));
	ex->stop_requested = json_is_true(json_object_get(obj, "stop_requested"));
	ex->stop_signal = (int)json_int_field(obj, "stop_signal");
	ex->stop_timeout_ms = json_int_field(obj, "stop_timeout_ms");
	ex->killed_after_grace = json_is_true(json_object_get(obj, "killed_after_grace"));
	ex->user_signal = (int)json_int_field(obj, "user_signal");
	ex->started_at = json_int_field(obj, "started_at");
	ex->ended_at = json_int_field(obj, "ended_at");
	ex->utime_ms = json_int_field(obj, "utime_ms");
	ex->stime_ms = json_int_field(obj, "stime_ms");
	ex->maxrss_kb = json_int_field(obj, "maxrss_kb");
	snprintf(ex->note, sizeof(ex->note), "%s", note ? note : "");
	ex->oom_kills = json_is_integer(json_object_get(obj, "oom_kills"))
		? json_int_field(obj, "oom_kills") : -1;
	snprintf(ex->limit, sizeof(ex->limit), "%s",
		 json_string_value(json_object_get(obj, "limit")) ?: "");
	return 0;
}

/* "exit 3" or "SIGSEGV (core dumped)". */
static void describe_end(const struct job_exit *ex, char *buf, size_t size)
{
	if (ex->signal)
		snprintf(buf, size, "%s%s", signal_name(ex->signal),
			 ex->core_dumped ? " (core dumped)" : "");
	else
		snprintf(buf, size, "exit %d", ex->exit_code);
}

enum job_state job_exit_classify(const struct job_exit *ex, char *reason, size_t size)
{
	char end[64], grace[32];

	describe_end(ex, end, sizeof(end));
	if (ex->note[0]) {
		snprintf(reason, size, "%s (%s)", ex->note, end);
		return JOB_FAILED;
	}
	if (ex->stop_requested && ex->killed_after_grace && ex->stop_timeout_ms == 0) {
		snprintf(reason, size, "SIGKILL (no grace period)");
		return JOB_STOPPED;
	}
	if (ex->stop_requested && ex->killed_after_grace) {
		format_duration(ex->stop_timeout_ms, grace, sizeof(grace));
		snprintf(reason, size, "SIGKILL after %s grace (ignored %s)", grace,
			 signal_name(ex->stop_signal));
		return JOB_STOPPED;
	}
	if (ex->stop_requested) {
		snprintf(reason, size, "%s after %s", end, signal_name(ex->stop_signal));
		if (ex->signal == ex->stop_signal)
			snprintf(reason, size, "%s", end);
		return JOB_STOPPED;
	}
	if (ex->user_signal && ex->signal == ex->user_signal) {
		snprintf(reason, size, "%s (trainctl kill)", end);
		return JOB_STOPPED;
	}
	if (ex->signal) /* a signal nobody asked trainctl to send */
		snprintf(reason, size, "killed (%s)", end);
	else
		snprintf(reason, size, "%s", end);
	return ex->signal == 0 && ex->exit_code == 0 ? JOB_SUCCEEDED : JOB_FAILED;
}

int job_exit_status(const struct job_exit *ex)
{
	if (ex->signal)
		return 128 + ex->signal;
	return ex->exit_code >= 0 ? ex->exit_code : 1;
}

json_t *json_file_read(const char *path, struct err *err)
{
	json_error_t jerr;
	json_t *obj = json_load_file(path, 0, &jerr);

	if (!obj)
		err_set(err, "cannot read %s: %s", path, jerr.text);
	return obj;
}

/* fsync the directory holding path, so that a rename in it is durable. */
static void fsync_parent(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int json_file_write_atomic(const char *path, const json_t *obj, int durable, struct err *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	char *text = json_dumps(obj, JSON_COMPACT);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ret = -1;

	if (fd < 0) {
		err_errno(err, "cannot create %s", tmp);
		goto out;
	}
	if (write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 ||
	    (durable && fsync(fd) < 0)) {
		err_errno(err, "cannot write %s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		err_errno(err, "cannot rename %s", tmp);
		unlink(tmp);
		goto out;
	}
	if (durable)
		fsync_parent(path);
	ret = 0;
out:
	free(text);
	free(tmp);
	return ret;
}
