/* Restart policies, backoff and new attempts; see restart.h. */
#include "daemon/restart.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/supervise.h"
#include "lib/checkpoint.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/xmalloc.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)
#define LONG_RUN_MS (10 * 60 * 1000)

static int64_t backoff_ms(int fail_streak)
{
	int64_t ms = BACKOFF_FIRST_MS;

	for (int i = 1; i < fail_streak && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

char *restart_latest_checkpoint(struct daemon *d, int64_t id)
{
	json_t *spec = store_job_spec(d->store, id);
	const char *glob = json_string_value(json_object_get(spec, "checkpoint"));
	const char *cwd = json_string_value(json_object_get(spec, "cwd"));
	struct checkpoint_scanner *s = glob ? checkpoint_scanner_new(cwd, glob, NULL) : NULL;
	char *latest = NULL;

	/* Nothing of the job runs: two looks in a row see every file settled. */
	if (s) {
		checkpoint_scan(s);
		checkpoint_scan(s);
		if (checkpoint_latest(s))
			latest = xstrdup(checkpoint_latest(s));
	}
	checkpoint_scanner_free(s);
	json_decref(spec);
	return latest;
}

/* Keep a checkpoint the watchdog had not seen yet (written just before the end). */
static void note_checkpoint(struct daemon *d, int64_t id, const char *checkpoint)
{
	json_t *job = store_job_json(d->store, id);
	const char *known = json_string_value(json_object_get(job, "checkpoint"));

	if (checkpoint && (!known || strcmp(known, checkpoint) != 0)) {
		store_job_set_checkpoint(d->store, id, checkpoint);
		store_event_add(d->store, id, "checkpoint", "%s", checkpoint);
	}
	json_decref(job);
}

/* Should this ended attempt be followed by another, by the job's policy? */
static int policy_wants_restart(const json_t *spec, enum job_state state, const struct job_exit *ex,
				const struct job_restart *r)
{
	const char *policy = json_string_value(json_object_get(spec, "restart"));
	const char *on_hang = json_string_value(json_object_get(spec, "on_hang"));

	if (strcmp(r->stop_cause, "hung") == 0)
		return on_hang && strcmp(on_hang, "restart") == 0;
	/* Its supervisor vanished (a crash of the machine, most likely): resume it. */
	if (state == JOB_LOST && json_is_true(json_object_get(spec, "resume_on_boot")))
		return 1;
	if (r->stop_cause[0] || (ex && ex->stop_requested) || state == JOB_STOPPED)
		return 0; /* stopped or killed by the user, or by a limit: never restarted by itself */
	if (!policy || strcmp(policy, "no") == 0)
		return 0;
	if (strcmp(policy, "always") == 0)
		return 1;
	return state == JOB_FAILED || state == JOB_LOST;
}

/* Put the job in 'restarting' with the next attempt due after `delay` ms. */
static void schedule(struct daemon *d, int64_t id, struct job_restart *r, int64_t delay,
		     const char *why)
{
	char when[32], reason[320];

	r->restart_at = time_now_ms() + delay;
	format_duration(delay, when, sizeof(when));
	if (delay > 0)
		snprintf(reason, sizeof(reason), "%s; attempt %d in %s", why, r->attempt + 1, when);
	else
		snprintf(reason, sizeof(reason), "%s; attempt %d now", why, r->attempt + 1);
	store_job_set_state(d->store, id, JOB_RESTARTING, reason);
	store_event_add(d->store, id, "restarting", "%s", reason);
}

void restart_on_end(struct daemon *d, int64_t id, enum job_state state, const char *reason,
		    const struct job_exit *ex)
{
	json_t *spec = store_job_spec(d->store, id);
	int max = (int)json_integer_value(json_object_get(spec, "max_restarts"));
	char *checkpoint = restart_latest_checkpoint(d, id);
	struct job_restart r;
	char gave_up[400];

	store_job_restart_get(d->store, id, &r);
	store_attempt_add(d->store, id, r.attempt, ex ? ex->started_at : 0, state, reason, ex,
			  checkpoint);
	note_checkpoint(d, id, checkpoint);
	if (ex && ex->ended_at - ex->started_at > LONG_RUN_MS)
		r.fail_streak = 0;
	if (state == JOB_LOST && policy_wants_restart(spec, state, ex, &r))
		store_event_add(d->store, id, "interrupted",
				"its supervisor vanished (a crash or reboot?): resuming it");
	if (strcmp(r.stop_cause, "restart") == 0) {
		schedule(d, id, &r, 0, "restart requested");
	} else if (policy_wants_restart(spec, state, ex, &r) && r.auto_restarts < max) {
		r.fail_streak++;
		r.auto_restarts++;
		schedule(d, id, &r, backoff_ms(r.fail_streak), reason);
	} else if (policy_wants_restart(spec, state, ex, &r)) {
		snprintf(gave_up, sizeof(gave_up), "%s; gave up after %d restart%s", reason, max,
			 max == 1 ? "" : "s");
		supervise_end(d, id, state, gave_up, ex);
	} else {
		supervise_end(d, id, state, reason, ex);
	}
	store_job_restart_set(d->store, id, &r);
	free(checkpoint);
	json_decref(spec);
}

/* {checkpoint} in a resume argument becomes the path. */
static char *substitute_checkpoint(const char *arg, const char *checkpoint)
{
	const char *at = strstr(arg, "{checkpoint}");

	if (!at)
		return xstrdup(arg);
	return xasprintf("%.*s%s%s", (int)(at - arg), arg, checkpoint,
			 at + strlen("{checkpoint}"));
}

/* The argv (or sh) of the next attempt: the job's own, plus its resume args. */
static void add_resume_args(json_t *spec, const char *checkpoint)
{
	const char *resume = json_string_value(json_object_get(spec, "resume_args"));
	json_t *words = json_array(), *argv = json_object_get(spec, "argv");
	const char *sh = json_string_value(json_object_get(spec, "sh"));
	struct strbuf line = STRBUF_INIT;
	size_t i;
	json_t *w;

	if (!resume || !checkpoint || parse_shell_words(resume, words, NULL) < 0) {
		json_decref(words);
		return;
	}
	strbuf_addstr(&line, sh ? sh : "");
	json_array_foreach(words, i, w) {
		char *arg = substitute_checkpoint(json_string_value(w), checkpoint);
		if (sh) {
			strbuf_addch(&line, ' ');
			strbuf_add_shell_quoted(&line, arg);
		} else {
			json_array_append_new(argv, json_string(arg));
		}
		free(arg);
	}
	if (sh)
		json_object_set_new(spec, "sh", json_string(line.buf));
	strbuf_release(&line);
	json_decref(words);
}

static void forget_last_attempt(struct daemon *d, int64_t id)
{
	char *files[] = { paths_job_exit(&d->paths, id), paths_job_shim(&d->paths, id),
			  paths_job_status(&d->paths, id), NULL };

	for (char **f = files; *f; f++) {
		unlink(*f);
		free(*f);
	}
}

/* Start attempt r->attempt + 1 of the job. */
static void restart_start(struct daemon *d, int64_t id, struct job_restart *r)
{
	json_t *spec = store_job_spec(d->store, id);
	char *checkpoint = r->restart_fresh ? NULL : restart_latest_checkpoint(d, id);
	struct err err = { 0 };
	char when[40];

	r->attempt++;
	r->restart_at = 0;
	r->restart_fresh = 0;
	r->stop_cause[0] = '\0';
	store_job_restart_set(d->store, id, r);
	store_job_count_restart(d->store, id);
	json_object_set_new(spec, "env", store_job_env(d->store, id));
	add_resume_args(spec, checkpoint);
	format_local_time(time_now_ms(), when, sizeof(when));
	json_object_set_new(spec, "marker",
			    json_sprintf("\r\n--- trainctl: attempt %d started %s%s%s ---\r\n",
					 r->attempt, when, checkpoint ? ", resuming from " : "",
					 checkpoint ? checkpoint : ""));
	forget_last_attempt(d, id);
	store_job_set_state(d->store, id, JOB_STARTING, NULL);
	store_event_add(d->store, id, "restart", "attempt %d%s%s", r->attempt,
			checkpoint ? " from " : "", checkpoint ? checkpoint : "");
	if (supervise_start(d, id, spec, NULL, &err) < 0)
		supervise_end(d, id, JOB_FAILED, err.msg, NULL);
	crash_point("restart-forked");
	free(checkpoint);
	json_decref(spec);
}

int restart_from_queue(struct daemon *d, int64_t id, struct err *err)
{
	struct job_restart r;

	if (store_job_restart_get(d->store, id, &r) < 0)
		return err_set(err, "job %lld: no restart record", (long long)id);
	restart_start(d, id, &r);
	return 0;
}

/* Does the job wait for something in the queue (GPUs, a named queue) before it runs? */
static int uses_queue(struct daemon *d, int64_t id)
{
	json_t *spec = store_job_spec(d->store, id);
	int uses = json_object_get(spec, "gpus") || json_object_get(spec, "queue");

	json_decref(spec);
	return uses;
}

void restart_resume_on_boot(struct daemon *d)
{
	int64_t *ids = store_job_ids_stopped_by(d->store, "shutdown");

	for (int64_t *id = ids; *id >= 0; id++) {
		json_t *spec = store_job_spec(d->store, *id);
		struct job_restart r;

		if (json_is_true(json_object_get(spec, "resume_on_boot")) &&
		    store_job_restart_get(d->store, *id, &r) == 0) {
			store_event_add(d->store, *id, "interrupted",
					"stopped with the daemon; resumed when it started again");
			restart_start(d, *id, &r);
		}
		json_decref(spec);
	}
	free(ids);
}

void restart_tick(struct daemon *d)
{
	int64_t *ids = store_job_ids_in_state(d->store, JOB_RESTARTING);
	int64_t now = time_now_ms();

	for (int64_t *id = ids; *id >= 0; id++) {
		struct job_restart r;

		if (store_job_restart_get(d->store, *id, &r) < 0 || r.restart_at > now)
			continue;
		restart_start(d, *id, &r);
	}
	free(ids);
}

int restart_request(struct daemon *d, int64_t id, int fresh, struct err *err)
{
	enum job_state state = store_job_state(d->store, id);
	struct job_restart r;

	store_job_restart_get(d->store, id, &r);
	r.restart_fresh = fresh;
	/* A restart by hand is a new start: --max-restarts and the backoff count afresh. */
	r.auto_restarts = 0;
	r.fail_streak = 0;
	if (job_state_is_final(state) && uses_queue(d, id)) {
		/* Its GPUs or its queue's place may be someone else's now: queue up again. */
		store_job_restart_set(d->store, id, &r);
		store_job_set_state(d->store, id, JOB_QUEUED, "waiting to restart");
		store_event_add(d->store, id, "queued", "restart requested");
		d->sched_dirty = 1;
		return 0;
	}
	if (job_state_is_final(state) || state == JOB_RESTARTING) {
		restart_start(d, id, &r);
		return 0;
	}
	if (!supervise_is_active(d, id))
		return err_set(err, "job %lld is %s and cannot be restarted yet", (long long)id,
			       job_state_name(state));
	snprintf(r.stop_cause, sizeof(r.stop_cause), "restart");
	store_job_restart_set(d->store, id, &r);
	return supervise_stop(d, id, 0, -1, "restart", err);
}
