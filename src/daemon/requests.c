/*
 * The daemon's requests, one handler per operation, dispatched from a table.
 * A handler either answers at once (returns a reply), fails (returns NULL
 * with err filled), or leaves the client pending and answers later through
 * supervise.c (run, stop, wait).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/slurm.h"
#include "daemon/daemon.h"
#include "daemon/restart.h"
#include "daemon/sampling.h"
#include "daemon/sched.h"
#include "daemon/supervise.h"
#include "lib/format.h"
#include "lib/parse.h"
#include "lib/program.h"
#include "lib/proto.h"
#include "lib/version.h"
#include "lib/xmalloc.h"

#define NAME_MAX_LEN 64
#define DEFAULT_STOP_TIMEOUT_MS 30000
#define DEFAULT_LOG_MAX (100LL * 1024 * 1024)

typedef json_t *(*request_fn)(struct daemon *d, struct client *c, const json_t *req,
			      struct err *err);

static const char *req_string(const json_t *req, const char *key)
{
	return json_string_value(json_object_get(req, key));
}

static int64_t req_int(const json_t *req, const char *key, int64_t fallback)
{
	json_t *v = json_object_get(req, key);

	return json_is_integer(v) ? json_integer_value(v) : fallback;
}

/* Resolve the "jobs" array of a request to ids (-1 terminated); NULL with err. */
static int64_t *resolve_jobs(struct daemon *d, const json_t *req, struct err *err)
{
	json_t *jobs = json_object_get(req, "jobs");
	size_t n = json_array_size(jobs);
	int64_t *ids;

	if (n == 0) {
		err_usage(err, "no job given (expected a job id or name)");
		return NULL;
	}
	ids = xreallocarray(NULL, n + 1, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		json_t *job = json_array_get(jobs, i);
		char number[32];
		const char *text = json_string_value(job);

		if (json_is_integer(job)) { /* an id, as the CLI sends once it knows it */
			snprintf(number, sizeof(number), "%lld", (long long)json_integer_value(job));
			text = number;
		}
		if (store_job_resolve(d->store, text, &ids[i], err) < 0) {
			free(ids);
			return NULL;
		}
	}
	ids[n] = -1;
	return ids;
}

static json_t *request_hello(struct daemon *d, struct client *c, const json_t *req,
			     struct err *err)
{
	json_t *reply = proto_reply_ok(), *machine;
	char when[40];

	(void)c;
	(void)req;
	(void)err;
	format_rfc3339(d->started_at, when, sizeof(when));
	json_object_set_new(reply, "pid", json_integer(getpid()));
	json_object_set_new(reply, "version", json_string(TRAINCTL_VERSION));
	json_object_set_new(reply, "home", json_string(d->paths.home));
	json_object_set_new(reply, "started_at", json_string(when));
	json_object_set_new(reply, "uptime_ms", json_integer(time_now_ms() - d->started_at));
	json_object_set_new(reply, "jobs", store_job_counts(d->store));
	json_object_set_new(reply, "cgroups", json_string(d->cgroup));
	json_object_set_new(reply, "sample_interval_ms",
			    json_integer(d->sample_interval_ms ? d->sample_interval_ms : SAMPLING_DEFAULT_MS));
	if (d->cgroup_why[0])
		json_object_set_new(reply, "cgroups_note", json_string(d->cgroup_why));
	if ((machine = sampling_machine_json(d)) != NULL)
		json_object_set_new(reply, "machine", machine);
	return reply;
}

static int validate_name(const char *name, struct err *err)
{
	int n;

	if (!*name || strlen(name) > NAME_MAX_LEN)
		return err_usage(err, "invalid job name '%s' (expected 1-%d characters)", name,
				 NAME_MAX_LEN);
	if (parse_uint(name, &n) == 0)
		return err_usage(err, "invalid job name '%s': a name cannot be a number, "
				      "numbers are job ids", name);
	for (const char *p = name; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == '/')
			return err_usage(err, "invalid job name '%s' (no spaces, slashes or control "
					      "characters)", name);
	}
	return 0;
}

/* Check a run request's spec for what the shim cannot check itself. */
static int validate_spec(struct daemon *d, const json_t *spec, struct err *err)
{
	const char *name = req_string(spec, "name");
	const char *cwd = req_string(spec, "cwd");
	json_t *argv = json_object_get(spec, "argv");
	int64_t other;

	if (!req_string(spec, "sh") && json_array_size(argv) == 0)
		return err_usage(err, "no command given (expected: trainctl run [options] -- COMMAND [ARG...])");
	for (size_t i = 0; i < json_array_size(argv); i++) {
		if (!json_is_string(json_array_get(argv, i)))
			return err_usage(err, "malformed request: argv must hold strings");
	}
	if (!cwd || cwd[0] != '/')
		return err_usage(err, "malformed request: cwd must be an absolute path");
	if (access(cwd, X_OK) < 0)
		return err_errno(err, "cannot change directory to %s", cwd);
	if (name && validate_name(name, err) < 0)
		return -1;
	if (name && (other = store_job_active_by_name(d->store, name)) != 0)
		return err_set(err, "a job named '%s' is already active (id %lld): stop it or "
				    "choose another name", name, (long long)other);
	return 0;
}

/* --after JOB...: the jobs as ids, in place of what the user wrote. */
static int resolve_after(struct daemon *d, json_t *spec, struct err *err)
{
	json_t *after = json_object_get(spec, "after"), *req, *ids;
	int64_t *resolved;

	if (!after)
		return 0;
	if (!json_is_array(after) || !json_array_size(after))
		return err_usage(err, "malformed request: after must be a list of jobs");
	req = json_pack("{sO}", "jobs", after);
	resolved = resolve_jobs(d, req, err);
	json_decref(req);
	if (!resolved)
		return -1;
	ids = json_array();
	for (int64_t *id = resolved; *id >= 0; id++)
		json_array_append_new(ids, json_integer(*id));
	json_object_set_new(spec, "after", ids);
	free(resolved);
	return 0;
}

/* Does anything in the spec make the job wait in the queue? */
static int spec_waits(const json_t *spec)
{
	return json_object_get(spec, "after") || json_object_get(spec, "queue") ||
	       json_object_get(spec, "gpus") || json_is_true(json_object_get(spec, "hold"));
}

static json_t *queued_reply(struct daemon *d, int64_t id)
{
	json_t *reply = proto_reply_ok();
	char *reason = store_job_reason(d->store, id);

	json_object_set_new(reply, "id", json_integer(id));
	json_object_set_new(reply, "state", json_string(job_state_name(
		(enum job_state)store_job_state(d->store, id))));
	json_object_set_new(reply, "reason", reason ? json_string(reason) : json_null());
	free(reason);
	return reply;
}

/* The grace period and log size of a job that does not set them: ours. */
static void spec_add_defaults(struct daemon *d, json_t *spec)
{
	if (!json_is_integer(json_object_get(spec, "stop_timeout_ms")))
		json_object_set_new(spec, "stop_timeout_ms",
				    json_integer(d->config.stop_timeout_ms >= 0 ? d->config.stop_timeout_ms
										: DEFAULT_STOP_TIMEOUT_MS));
	if (!json_is_integer(json_object_get(spec, "log_max")))
		json_object_set_new(spec, "log_max",
				    json_integer(d->config.log_max >= 0 ? d->config.log_max
									: DEFAULT_LOG_MAX));
}

/* The PATH a job's command is looked up in: the job's own. */
static const char *spec_path_env(const json_t *spec)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(spec, "env"), i, v) {
		const char *e = json_string_value(v);
		if (e && strncmp(e, "PATH=", 5) == 0)
			return e + 5;
	}
	return NULL;
}

/*
 * A job that starts now: a command that cannot be found or executed fails
 * the request, as the shell would. (A job that waits is checked when it
 * starts: what it runs may be built by the jobs before it.)
 */
static int check_program(const json_t *spec, struct err *err)
{
	const char *argv0 = json_string_value(json_array_get(json_object_get(spec, "argv"), 0));
	char *program;

	if (!argv0 || slurm_spec_wanted(spec))
		return 0;
	program = program_find(argv0, spec_path_env(spec), req_string(spec, "cwd"), err);
	free(program);
	return program ? 0 : -1;
}

/*
 * trainctl run: the job is recorded, then started (or queued), and the
 * answer is its id, at once: what follows is the shim's and is recorded as
 * it reports. With "confirm" (run --attach), the answer waits for the job's
 * process to exist; for Slurm, for sbatch's answer.
 */
static json_t *request_run(struct daemon *d, struct client *c, const json_t *req,
			   struct err *err)
{
	json_t *spec = json_object_get(req, "spec");
	const char *name = req_string(spec, "name");
	/* sbatch's answer (its job id, or its error) is what `run --on slurm` reports. */
	struct client *waiting = json_is_true(json_object_get(req, "confirm")) ||
					 slurm_spec_wanted(spec) ? c : NULL;
	int state = JOB_STARTING;
	json_t *reply;
	int64_t id;
	int started;

	if (!json_is_object(spec)) {
		err_usage(err, "malformed request: run needs a \"spec\" object");
		return NULL;
	}
	spec_add_defaults(d, spec);
	if (validate_spec(d, spec, err) < 0 || resolve_after(d, spec, err) < 0)
		return NULL;
	/* A job for Slurm waits in Slurm's queue, not in ours. */
	if (!slurm_spec_wanted(spec) && spec_waits(spec) &&
	    (state = sched_check_spec(d, spec, err)) < 0)
		return NULL;
	if (state == JOB_STARTING && check_program(spec, err) < 0)
		return NULL;
	if (store_job_insert(d->store, name, spec, (enum job_state)state, &id, err) < 0)
		return NULL;
	store_event_add(d->store, id, "created", NULL);
	if (state == JOB_HELD)
		return queued_reply(d, id);
	store_commit_point(d->store);
	crash_point("run-inserted");
	/* Nothing to wait for: straight to the shim, without a pass over the queue. */
	started = state == JOB_STARTING ? (supervise_start(d, id, spec, waiting, err) < 0 ? -1 : 1)
					: sched_submit(d, id, waiting, err);
	if (started < 0) {
		store_job_delete(d->store, id, NULL);
		return NULL;
	}
	if (!started)
		return queued_reply(d, id);
	crash_point("run-forked");
	if (waiting)
		return NULL; /* answered when the shim reports */
	reply = proto_reply_ok();
	json_object_set_new(reply, "id", json_integer(id));
	return reply;
}

/* trainctl start: held jobs join the queue. */
static json_t *request_start(struct daemon *d, struct client *c, const json_t *req,
			     struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	json_t *reply, *jobs;

	(void)c;
	if (!ids)
		return NULL;
	for (int64_t *id = ids; *id >= 0; id++) {
		if (sched_release_held(d, *id, err) < 0) {
			free(ids);
			return NULL;
		}
	}
	sched_tick(d);
	reply = proto_reply_ok();
	jobs = json_array();
	for (int64_t *id = ids; *id >= 0; id++)
		json_array_append_new(jobs, queued_reply(d, *id));
	json_object_set_new(reply, "jobs", jobs);
	free(ids);
	return reply;
}

/* trainctl queue [Q] [--parallel N] [--pause|--resume]: change a queue, list them all. */
static json_t *request_queue(struct daemon *d, struct client *c, const json_t *req,
			     struct err *err)
{
	const char *queue = req_string(req, "queue");
	json_t *reply;

	(void)c;
	if (queue && (json_object_get(req, "parallel") || json_object_get(req, "pause") ||
		      json_object_get(req, "resume"))) {
		if (sched_queue_update(d, queue, req, err) < 0)
			return NULL;
		sched_tick(d);
	}
	reply = proto_reply_ok();
	json_object_set_new(reply, "queues", store_queues_json(d->store));
	return reply;
}

/* ls's table of jobs as text, the last column cut to width (0: not cut). */
static json_t *job_table_text(const json_t *jobs, int width)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	json_t *value;

	if (!out)
		fatal("out of memory");
	format_job_table(jobs, out, width);
	fclose(out);
	value = json_stringn_nocheck(text, len);
	free(text);
	return value;
}

/*
 * The jobs as objects, or with "table_width" as ls's table drawn here: the
 * table is a fraction of the objects' size, and goes raw to the client
 * (proto_encode_reply), which then prints it without parsing any JSON.
 */
static json_t *request_ls(struct daemon *d, struct client *c, const json_t *req, struct err *err)
{
	const char *state_name = req_string(req, "state");
	int all = json_is_true(json_object_get(req, "all"));
	json_t *width = json_object_get(req, "table_width");
	int state = -1;
	json_t *reply, *jobs, *job;
	size_t i;

	(void)c;
	if (state_name && (state = job_state_parse(state_name)) < 0) {
		err_usage(err, "unknown state '%s' (expected one of: %s)", state_name,
			  job_state_names());
		return NULL;
	}
	reply = proto_reply_ok();
	jobs = store_job_list(d->store, all, state);
	json_array_foreach(jobs, i, job) {
		supervise_add_progress(d, job);
		sampling_add_current(d, job);
	}
	if (json_is_integer(width)) {
		json_object_set_new(reply, "text", job_table_text(jobs, (int)json_integer_value(width)));
		json_decref(jobs);
	} else {
		json_object_set_new(reply, "jobs", jobs);
	}
	json_object_set_new(reply, "finished", json_integer(store_job_count_finished(d->store)));
	return reply;
}

static void add_peaks(struct daemon *d, json_t *job, int64_t id)
{
	double cpu;
	int64_t rss, pss;

	sampling_flush(d);
	if (store_job_peaks(d->store, id, &cpu, &rss, &pss) < 0)
		return;
	json_object_set_new(job, "peak_cpu_percent", cpu >= 0 ? json_real(cpu) : json_null());
	json_object_set_new(job, "peak_rss_bytes", json_integer(rss));
	json_object_set_new(job, "peak_pss_bytes", pss >= 0 ? json_integer(pss) : json_null());
}

/* What the machine did between two times (for the hints about a job's surroundings). */
static json_t *machine_during(struct daemon *d, int64_t from_ms, int64_t to_ms)
{
	struct machine_summary m = { .ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN) };
	double cpu_max;

	store_machine_summary(d->store, from_ms, to_ms, &m.cpu_mean, &cpu_max, &m.mem_available_min,
			      &m.mem_total);
	return machine_summary_json(&m);
}

static json_t *request_samples(struct daemon *d, struct client *c, const json_t *req,
			       struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	struct sample *samples;
	json_t *reply, *job;
	size_t n;

	(void)c;
	if (!ids)
		return NULL;
	sampling_flush(d);
	job = store_job_json(d->store, ids[0]);
	json_object_del(job, "spec");
	/* since_ms: only the recent samples (top's sparklines), not the whole run. */
	store_samples_get(d->store, ids[0], req_int(req, "since_ms", 0), &samples, &n);
	reply = proto_reply_ok();
	json_object_set_new(reply, "job", job);
	json_object_set_new(reply, "samples", samples_to_json(samples, n));
	if (n > 0)
		json_object_set_new(reply, "machine",
				    machine_during(d, samples[0].time_ms, samples[n - 1].time_ms));
	free(samples);
	free(ids);
	return reply;
}

/* The machine's latest totals (and its GPUs when there are any). */
static json_t *request_machine(struct daemon *d, struct client *c, const json_t *req,
			       struct err *err)
{
	json_t *machine = sampling_machine_json(d), *reply;

	(void)c;
	(void)req;
	if (!machine) {
		err_set(err, "no machine sample yet (the daemon samples every %lld ms)",
			(long long)(d->sample_interval_ms ? d->sample_interval_ms : SAMPLING_DEFAULT_MS));
		return NULL;
	}
	reply = proto_reply_ok();
	json_object_update(reply, machine);
	json_decref(machine);
	return reply;
}

static void add_spec(struct daemon *d, json_t *job, int64_t id)
{
	json_t *spec = store_job_spec(d->store, id);

	if (!spec)
		return;
	json_object_set_new(spec, "env", store_job_env(d->store, id));
	json_object_set_new(job, "spec", spec);
}

static json_t *request_show(struct daemon *d, struct client *c, const json_t *req,
			    struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	json_t *reply, *job;
	char *log;

	(void)c;
	if (!ids)
		return NULL;
	job = store_job_json(d->store, ids[0]);
	supervise_add_progress(d, job);
	sampling_add_current(d, job);
	add_peaks(d, job, ids[0]);
	if (supervise_shim_pid(d, ids[0]) > 0)
		json_object_set_new(job, "shim_pid", json_integer(supervise_shim_pid(d, ids[0])));
	json_object_set_new(job, "attempts", store_job_attempts(d->store, ids[0]));
	json_object_set_new(job, "events", store_job_events(d->store, ids[0]));
	log = paths_job_log(&d->paths, ids[0]);
	json_object_set_new(job, "log", json_string(log));
	free(log);
	if (json_is_true(json_object_get(req, "spec"))) /* for export: the spec, with its environment */
		add_spec(d, job, ids[0]);
	free(ids);
	reply = proto_reply_ok();
	json_object_set_new(reply, "job", job);
	return reply;
}

/* "cpu_limit=1.5 mem_limit=..." for an event; static storage. */
static const char *json_dumps_compact_text(const json_t *req, const char *const *keys)
{
	static char buf[256];
	size_t used = 0;

	buf[0] = '\0';
	for (const char *const *k = keys; *k; k++) {
		json_t *v = json_object_get(req, *k);
		char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

		if (text)
			used += (size_t)snprintf(buf + used, used < sizeof(buf) ? sizeof(buf) - used : 0,
						 "%s%s=%s", used ? " " : "", *k, text);
		free(text);
	}
	return buf;
}

/* The "name (id)" of a job for messages. */
static void job_label(struct daemon *d, int64_t id, char *buf, size_t size)
{
	json_t *job = store_job_json(d->store, id);
	const char *name = json_string_value(json_object_get(job, "name"));

	if (name)
		snprintf(buf, size, "job %lld (%s)", (long long)id, name);
	else
		snprintf(buf, size, "job %lld", (long long)id);
	json_decref(job);
}

/* Fail unless every job is still live (its shim is supervised). */
static int require_live(struct daemon *d, const int64_t *ids, struct err *err)
{
	char label[128];

	for (; *ids >= 0; ids++) {
		enum job_state state = store_job_state(d->store, *ids);
		if (!job_state_is_final(state) && supervise_is_active(d, *ids))
			continue;
		job_label(d, *ids, label, sizeof(label));
		return err_set(err, "%s is not running (%s)", label, job_state_name(state));
	}
	return 0;
}

/* Every job that has not finished, for --all. */
static int64_t *active_ids(struct daemon *d)
{
	return store_job_ids_active(d->store);
}

static json_t *request_stop(struct daemon *d, struct client *c, const json_t *req,
			    struct err *err)
{
	int all = json_is_true(json_object_get(req, "all"));
	int64_t *ids = all ? active_ids(d) : resolve_jobs(d, req, err);

	if (!ids)
		return NULL;
	for (int64_t *id = ids; *id >= 0; id++) {
		struct err ignored = { 0 };
		int state = store_job_state(d->store, *id);

		/* A job between attempts has nothing to signal: it just ends. */
		if (state == JOB_RESTARTING)
			supervise_cancel_restart(d, *id, NULL);
		/* Waiting in our queue: it never started. (One queued in Slurm is Slurm's to stop.) */
		else if ((state == JOB_QUEUED || state == JOB_HELD) && !slurm_owns(d, *id))
			supervise_end_unstarted(d, *id, JOB_CANCELLED, "removed from the queue");
		else
			supervise_stop(d, *id, (int)req_int(req, "signal", 0),
				       req_int(req, "timeout_ms", -1), NULL, &ignored);
	}
	supervise_wait(d, c, ids, "stop");
	free(ids);
	return NULL;
}

/* Send one shim request to every job, recording an event for each. */
static json_t *request_each_shim(struct daemon *d, const int64_t *ids, const char *op, int sig,
				 enum job_state new_state, const char *event, struct err *err)
{
	json_t *reply;

	if (require_live(d, ids, err) < 0)
		return NULL;
	for (; *ids >= 0; ids++) {
		json_t *shim_req = proto_request(op);

		if (sig)
			json_object_set_new(shim_req, "signal", json_integer(sig));
		reply = supervise_shim_request(d, *ids, shim_req, err);
		if (!reply)
			return NULL;
		json_decref(reply);
		if (sig)
			store_event_add(d->store, *ids, "signal", "%s sent by the user", signal_name(sig));
		if (new_state != JOB_STATE_COUNT &&
		    store_job_state(d->store, *ids) != JOB_STOPPING) {
			store_job_set_state(d->store, *ids, new_state, NULL);
			if (event)
				store_event_add(d->store, *ids, event, NULL);
		}
	}
	return proto_reply_ok();
}

/* The state a signal sent with `kill` puts a job in (JOB_STATE_COUNT: unchanged). */
static enum job_state kill_state(int sig)
{
	if (sig == SIGCONT)
		return JOB_RUNNING;
	if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
		return JOB_PAUSED;
	return JOB_STATE_COUNT;
}

static json_t *request_kill(struct daemon *d, struct client *c, const json_t *req,
			    struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	int sig = (int)req_int(req, "signal", SIGKILL);
	json_t *reply;

	if (!ids)
		return NULL;
	if (slurm_owns(d, ids[0]))
		reply = slurm_control(d, c, ids, "signal", sig, err);
	else
		reply = request_each_shim(d, ids, "signal", sig, kill_state(sig), NULL, err);
	free(ids);
	return reply;
}

static json_t *request_pause_resume(struct daemon *d, struct client *c, const json_t *req,
				    int pause, struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	json_t *reply;
	char label[128];

	if (!ids)
		return NULL;
	for (int64_t *id = ids; *id >= 0; id++) {
		if (store_job_state(d->store, *id) != JOB_STOPPING)
			continue;
		job_label(d, *id, label, sizeof(label));
		err_set(err, "%s is stopping: it can no longer be paused or resumed", label);
		free(ids);
		return NULL;
	}
	if (slurm_owns(d, ids[0]))
		reply = slurm_control(d, c, ids, pause ? "pause" : "resume", 0, err);
	else
		reply = request_each_shim(d, ids, pause ? "pause" : "resume", 0,
					  pause ? JOB_PAUSED : JOB_RUNNING, pause ? "paused" : "resumed",
					  err);
	free(ids);
	return reply;
}

static json_t *request_pause(struct daemon *d, struct client *c, const json_t *req,
			     struct err *err)
{
	return request_pause_resume(d, c, req, 1, err);
}

static json_t *request_resume(struct daemon *d, struct client *c, const json_t *req,
			      struct err *err)
{
	return request_pause_resume(d, c, req, 0, err);
}

static json_t *request_send(struct daemon *d, struct client *c, const json_t *req,
			    struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	const char *text = req_string(req, "text");
	json_t *shim_req, *reply = NULL;

	(void)c;
	if (!ids)
		return NULL;
	if (!text)
		err_usage(err, "malformed request: send needs a \"text\"");
	else if (require_live(d, ids, err) == 0) {
		shim_req = proto_request("send");
		json_object_set_new(shim_req, "text", json_string(text));
		reply = supervise_shim_request(d, ids[0], shim_req, err);
	}
	free(ids);
	if (!reply)
		return NULL;
	json_decref(reply);
	return proto_reply_ok();
}

/*
 * Change limits or the nice value of live jobs (the shim applies them) and
 * keep them in the spec, so that later attempts have them too.
 */
static json_t *request_tune(struct daemon *d, const json_t *req, const char *op,
			    const char *const *keys, struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	json_t *reply = NULL;

	if (!ids)
		return NULL;
	if (require_live(d, ids, err) < 0)
		goto out;
	for (int64_t *id = ids; *id >= 0; id++) {
		json_t *shim_req = proto_request(op), *spec = store_job_spec(d->store, *id);

		for (const char *const *k = keys; *k; k++) {
			json_t *v = json_object_get(req, *k);
			if (!v)
				continue;
			json_object_set(shim_req, *k, v);
			json_object_set(spec, *k, v);
		}
		reply = supervise_shim_request(d, *id, shim_req, err);
		if (reply) {
			store_job_set_spec(d->store, *id, spec);
			store_event_add(d->store, *id, op, "%s", json_dumps_compact_text(req, keys));
		}
		json_decref(spec);
		if (!reply)
			goto out;
		json_decref(reply);
	}
	reply = proto_reply_ok();
out:
	free(ids);
	return reply;
}

static json_t *request_limit(struct daemon *d, struct client *c, const json_t *req,
			     struct err *err)
{
	static const char *const keys[] = { "cpu_limit", "mem_limit", NULL };

	(void)c;
	return request_tune(d, req, "limit", keys, err);
}

static json_t *request_renice(struct daemon *d, struct client *c, const json_t *req,
			      struct err *err)
{
	static const char *const keys[] = { "nice", NULL };

	(void)c;
	return request_tune(d, req, "renice", keys, err);
}

static json_t *request_restart(struct daemon *d, struct client *c, const json_t *req,
			       struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	int fresh = json_is_true(json_object_get(req, "fresh"));
	json_t *reply = NULL;

	(void)c;
	if (!ids)
		return NULL;
	for (int64_t *id = ids; *id >= 0; id++) {
		if (restart_request(d, *id, fresh, err) < 0)
			goto out;
	}
	reply = proto_reply_ok();
	json_object_set_new(reply, "results", json_array());
	for (int64_t *id = ids; *id >= 0; id++)
		json_array_append_new(json_object_get(reply, "results"), supervise_result(d, *id));
out:
	free(ids);
	return reply;
}

static json_t *request_wait(struct daemon *d, struct client *c, const json_t *req,
			    struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);

	if (!ids)
		return NULL;
	supervise_wait(d, c, ids, "wait");
	free(ids);
	return NULL;
}

/* Forget a finished job: its row, its events, its log and its records. */
static void remove_job(struct daemon *d, int64_t id)
{
	char *log = paths_job_log(&d->paths, id);
	char *files[] = { paths_job_exit(&d->paths, id), paths_job_shim(&d->paths, id),
			  paths_job_status(&d->paths, id), paths_job_index(&d->paths, id), NULL };

	store_job_delete(d->store, id, NULL);
	unlink(log);
	for (int i = 1; i <= 3; i++) {
		char *rotated = xasprintf("%s.%d", log, i);
		unlink(rotated);
		free(rotated);
	}
	for (char **f = files; *f; f++) {
		unlink(*f);
		free(*f);
	}
	free(log);
}

static json_t *removed_reply(struct daemon *d, const int64_t *ids)
{
	json_t *reply = proto_reply_ok();
	json_t *removed = json_array();

	for (; *ids >= 0; ids++) {
		remove_job(d, *ids);
		json_array_append_new(removed, json_integer(*ids));
	}
	json_object_set_new(reply, "removed", removed);
	return reply;
}

static json_t *request_rm(struct daemon *d, struct client *c, const json_t *req, struct err *err)
{
	int64_t *ids = resolve_jobs(d, req, err);
	json_t *reply = NULL;
	char label[128];

	(void)c;
	if (!ids)
		return NULL;
	for (int64_t *id = ids; *id >= 0; id++) {
		enum job_state state = store_job_state(d->store, *id);
		if (!job_state_is_final(state)) {
			job_label(d, *id, label, sizeof(label));
			err_set(err, "%s is %s: stop it first ('trainctl stop %lld')", label,
				job_state_name(state), (long long)*id);
			goto out;
		}
	}
	reply = removed_reply(d, ids);
out:
	free(ids);
	return reply;
}

static json_t *request_prune(struct daemon *d, struct client *c, const json_t *req,
			     struct err *err)
{
	int64_t older = req_int(req, "older_than_ms", 0);
	int64_t *ids = store_job_ids_finished_before(d->store, time_now_ms() - older);
	json_t *reply = removed_reply(d, ids);

	(void)c;
	(void)err;
	free(ids);
	return reply;
}

/*
 * Stop the daemon; jobs keep running. With "checkpoint_jobs", every job is
 * first stopped gracefully (so it saves a checkpoint), and the daemon exits
 * once all have ended; jobs with --resume-on-boot resume at its next start.
 */
static json_t *request_shutdown(struct daemon *d, struct client *c, const json_t *req,
				struct err *err)
{
	int64_t *ids;

	(void)err;
	if (!json_is_true(json_object_get(req, "checkpoint_jobs"))) {
		daemon_log("stop requested by a client (jobs keep running)");
		loop_stop(d->loop);
		return proto_reply_ok();
	}
	daemon_log("stop requested by a client, stopping every job first");
	ids = active_ids(d);
	for (int64_t *id = ids; *id >= 0; id++) {
		struct err ignored = { 0 };

		if (store_job_state(d->store, *id) == JOB_RESTARTING)
			supervise_cancel_restart(d, *id, "shutdown");
		else
			supervise_stop(d, *id, 0, -1, "shutdown", &ignored);
	}
	supervise_wait(d, c, ids, "shutdown");
	free(ids);
	return NULL;
}

static const struct request_entry {
	const char *op;
	request_fn fn;
} request_table[] = {
	{ "hello", request_hello }, { "run", request_run },       { "ls", request_ls },
	{ "show", request_show },   { "stop", request_stop },     { "kill", request_kill },
	{ "pause", request_pause }, { "resume", request_resume }, { "wait", request_wait },
	{ "rm", request_rm },       { "prune", request_prune },   { "shutdown", request_shutdown },
	{ "send", request_send },   { "restart", request_restart }, { "limit", request_limit },
	{ "renice", request_renice }, { "samples", request_samples },
	{ "machine", request_machine }, { "start", request_start },
	{ "queue", request_queue },
};

static const struct request_entry *request_find(const char *op)
{
	for (size_t i = 0; op && i < ARRAY_SIZE(request_table); i++) {
		if (strcmp(op, request_table[i].op) == 0)
			return &request_table[i];
	}
	return NULL;
}

json_t *request_call(struct daemon *d, const json_t *req)
{
	const struct request_entry *entry = request_find(req_string(req, "op"));
	struct err err = { 0 };

	return entry ? entry->fn(d, NULL, req, &err) : NULL;
}

void request_dispatch(struct daemon *d, struct client *c, const json_t *req)
{
	const char *op = req_string(req, "op");
	const struct request_entry *entry = request_find(op);
	struct err err = { 0 };
	json_t *reply = NULL;

	if (entry) {
		store_begin(d->store);
		reply = entry->fn(d, c, req, &err);
		store_commit(d->store);
		if (reply)
			client_reply(c, reply);
		else if (!c->pending)
			client_reply(c, proto_reply_error(&err));
		return;
	}
	err_usage(&err, "unknown request '%s'", op ? op : "(none)");
	client_reply(c, proto_reply_error(&err));
}
