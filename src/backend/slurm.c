/* The daemon's Slurm backend; see slurm.h. */
#include "backend/slurm.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/slurm_call.h"
#include "daemon/reasons.h"
#include "daemon/restart.h"
#include "daemon/supervise.h"
#include "daemon/watchdog.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/slurm_script.h"
#include "lib/slurm_state.h"
#include "lib/xmalloc.h"

/* A live Slurm job. */
struct slurm_job {
	struct daemon *daemon;
	int64_t id;
	int64_t slurm_id;
	char **envp; /* the job's environment: Slurm commands for it run with its PATH and SLURM_CONF */
	char *conf;  /* its SLURM_CONF, "" for the default: one squeue per configuration */
	int started;
	int asking; /* scontrol show job in flight: squeue no longer lists it */
	int stop_requested;
	int stop_signal;
	int64_t stop_timeout_ms;
	int killed_after_grace;
	int user_signal;
	struct loop_watch *grace;
	struct slurm_job *next;
};

/* A submission in flight. */
struct submit {
	int64_t id;
	struct client *client; /* the run request's, NULL for a later attempt or once it left */
	int first;             /* the job's first attempt: a failure leaves no job behind */
};

/* kill, pause or resume of some jobs, answered when Slurm has answered for each. */
struct control {
	struct client *client;
	int remaining;
	char op[16];
	int sig;
	int64_t *ids;
	struct err err;
};

struct slurm *slurm_of(struct daemon *d)
{
	if (!d->slurm)
		d->slurm = xcalloc(1, sizeof(*d->slurm));
	return d->slurm;
}

int slurm_spec_wanted(const json_t *spec)
{
	const char *on = json_string_value(json_object_get(spec, "on"));

	return on && strcmp(on, "slurm") == 0;
}

static struct slurm_job *job_find(struct daemon *d, int64_t id)
{
	for (struct slurm_job *j = d->slurm ? d->slurm->jobs : NULL; j; j = j->next) {
		if (j->id == id)
			return j;
	}
	return NULL;
}

int slurm_owns(struct daemon *d, int64_t id)
{
	return job_find(d, id) != NULL;
}

/* A NULL-terminated environment from the spec's "env" array (caller frees it all). */
static char **env_from_json(const json_t *env)
{
	char **envp = xreallocarray(NULL, json_array_size(env) + 1, sizeof(*envp));
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(env, i, v) {
		if (json_is_string(v))
			envp[n++] = xstrdup(json_string_value(v));
	}
	envp[n] = NULL;
	return envp;
}

static void env_free(char **envp)
{
	for (char **e = envp; e && *e; e++)
		free(*e);
	free(envp);
}

static const char *env_get(char *const *envp, const char *key)
{
	size_t len = strlen(key);

	for (; *envp; envp++) {
		if (strncmp(*envp, key, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	}
	return NULL;
}

static void on_poll(void *data, int fd, uint32_t events);

static struct slurm_job *job_track(struct daemon *d, int64_t id, int64_t slurm_id)
{
	struct slurm *s = slurm_of(d);
	json_t *env = store_job_env(d->store, id);
	struct slurm_job *j = xcalloc(1, sizeof(*j));

	j->daemon = d;
	j->id = id;
	j->slurm_id = slurm_id;
	j->envp = env_from_json(env);
	j->conf = xstrdup(env_get(j->envp, "SLURM_CONF") ?: "");
	j->next = s->jobs;
	s->jobs = j;
	json_decref(env);
	if (!s->poll)
		s->poll = loop_add_interval(d->loop, SLURM_POLL_MS, on_poll, d);
	return j;
}

static void job_untrack(struct daemon *d, struct slurm_job *j)
{
	struct slurm_job **pp = &d->slurm->jobs;

	while (*pp && *pp != j)
		pp = &(*pp)->next;
	if (*pp)
		*pp = j->next;
	if (j->grace)
		loop_remove(d->loop, j->grace);
	env_free(j->envp);
	free(j->conf);
	free(j);
}

/* Run a Slurm command for job j about its Slurm job: argv ends with the Slurm id. */
static int job_call(struct slurm_job *j, const char *const *args, slurm_call_fn done, void *data,
		    struct err *err)
{
	char idbuf[32];
	char *argv[8];
	size_t n = 0;

	for (; n < ARRAY_SIZE(argv) - 2 && args[n]; n++)
		argv[n] = (char *)args[n];
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)j->slurm_id);
	argv[n++] = idbuf;
	argv[n] = NULL;
	return slurm_call_start(j->daemon, argv, j->envp, NULL, SLURM_CALL_TIMEOUT_MS, done, data,
				err);
}

/* ---- submission ---------------------------------------------------------- */

/* The log exists from the submission on, so `log` works while the job waits. */
static void create_log(struct daemon *d, int64_t id)
{
	char *log = paths_job_log(&d->paths, id);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd >= 0)
		close(fd);
	free(log);
}

static void submit_failed(struct daemon *d, struct submit *sub, const char *msg)
{
	struct err err = { 0 };
	char *log;

	if (store_job_state(d->store, sub->id) != JOB_STARTING)
		return;
	daemon_log("job %lld: submission to slurm failed: %s", (long long)sub->id, msg);
	if (!sub->first) {
		store_job_set_ended(d->store, sub->id, JOB_FAILED, msg, NULL);
		store_event_add(d->store, sub->id, "failed", "submission to slurm failed: %s", msg);
		supervise_notify(d);
		return;
	}
	/* The first submission: nothing of the job is left, as for a command that cannot run. */
	err_set(&err, "%s", msg);
	if (sub->client)
		client_reply(sub->client, proto_reply_error(&err));
	log = paths_job_log(&d->paths, sub->id);
	store_job_delete(d->store, sub->id, NULL);
	unlink(log);
	free(log);
}

static void submitted(struct daemon *d, struct submit *sub, int64_t slurm_id)
{
	json_t *spec = store_job_spec(d->store, sub->id);
	json_t *reply = proto_reply_ok();
	char reason[64];

	json_object_set_new(spec, "slurm_job_id", json_integer(slurm_id));
	store_job_set_spec(d->store, sub->id, spec);
	json_decref(spec);
	job_track(d, sub->id, slurm_id);
	snprintf(reason, sizeof(reason), "slurm %lld, submitted", (long long)slurm_id);
	store_job_set_state(d->store, sub->id, JOB_QUEUED, reason);
	store_event_add(d->store, sub->id, "submitted", "slurm job %lld", (long long)slurm_id);
	json_object_set_new(reply, "id", json_integer(sub->id));
	json_object_set_new(reply, "slurm_job_id", json_integer(slurm_id));
	if (sub->client)
		client_reply(sub->client, reply);
	else
		json_decref(reply);
}

static void on_submitted(struct daemon *d, struct slurm_call *call, void *data)
{
	struct submit *sub = data;
	struct err err = { 0 };
	char *end;
	long long slurm_id = strtoll(strbuf_str(&call->out), &end, 10);

	store_begin(d->store);
	if (slurm_call_check(call, "sbatch", &err) < 0)
		submit_failed(d, sub, err.msg);
	else if (slurm_id <= 0 || (*end && *end != ';' && *end != '\n'))
		submit_failed(d, sub, "sbatch --parsable printed no job id");
	else
		submitted(d, sub, slurm_id);
	store_commit(d->store);
	free(sub);
}

int slurm_start(struct daemon *d, int64_t id, const json_t *spec, struct client *c,
		struct err *err)
{
	char *const argv[] = { "sbatch", "--parsable", NULL };
	json_t *full = json_copy((json_t *)spec);
	struct strbuf script = STRBUF_INIT;
	char **envp = env_from_json(json_object_get(spec, "env"));
	char *log = paths_job_log(&d->paths, id);
	struct submit *sub = xcalloc(1, sizeof(*sub));
	int ret;

	json_object_set_new(full, "log", json_string(log));
	sub->id = id;
	sub->client = c;
	sub->first = c != NULL;
	ret = slurm_script_build(full, &script, err);
	if (ret == 0)
		ret = slurm_call_start(d, argv, envp, script.buf, SLURM_CALL_TIMEOUT_MS, on_submitted,
				       sub, err);
	if (ret == 0) {
		create_log(d, id);
		if (c)
			c->pending = 1;
	} else {
		free(sub);
	}
	strbuf_release(&script);
	env_free(envp);
	json_decref(full);
	free(log);
	return ret;
}

/* ---- tracking ------------------------------------------------------------ */

/* jobs/<id>.exit, as a shim writes it: `log -f` and `wait` clients look for it. */
static void write_exit_record(struct daemon *d, int64_t id, const struct job_exit *ex)
{
	char *path = paths_job_exit(&d->paths, id);
	json_t *obj = job_exit_to_json(ex);
	struct err err = { 0 };

	if (json_file_write_atomic(path, obj, 0, &err) < 0)
		daemon_log("job %lld: %s", (long long)id, err.msg);
	json_decref(obj);
	free(path);
}

/* The job has ended in Slurm: classify it like a local job and let the restart policy decide. */
static void job_ended(struct daemon *d, struct slurm_job *j, const struct slurm_job_info *info)
{
	json_t *job = store_job_json(d->store, j->id);
	json_t *spec = json_object_get(job, "spec");
	struct job_exit ex = { 0 };
	enum job_state state;
	char reason[320];
	int64_t id = j->id;

	if (!j->started && info->start_ms) { /* it ran between two polls */
		store_job_set_started(d->store, id, 0, 0, 0, 0, info->start_ms);
		store_event_add(d->store, id, "started", "slurm %lld on %s", (long long)j->slurm_id,
				info->nodes[0] ? info->nodes : "its node");
	}
	ex.oom_kills = -1;
	ex.stop_requested = j->stop_requested || store_job_state(d->store, j->id) == JOB_STOPPING;
	ex.stop_signal = j->stop_signal ? j->stop_signal
					: (int)json_integer_value(json_object_get(spec, "stop_signal"));
	ex.stop_timeout_ms = j->stop_timeout_ms;
	ex.killed_after_grace = j->killed_after_grace;
	ex.user_signal = j->user_signal;
	json_decref(job);
	ex.started_at = info->start_ms;
	ex.ended_at = time_now_ms();
	if (slurm_final_state(info, &ex, &state, reason, sizeof(reason)))
		reasons_refine(d, j->id, &ex, &state, reason, sizeof(reason));
	write_exit_record(d, id, &ex);
	store_event_add(d->store, j->id, "slurm", "slurm job %lld ended %s", (long long)j->slurm_id,
			info->state);
	watchdog_forget(d, j->id);
	job_untrack(d, j);
	restart_on_end(d, id, state, reason, &ex);
	daemon_log("job %lld ended: %s", (long long)id, job_state_name(store_job_state(d->store, id)));
}

/* What Slurm says about a live job now. */
static void job_update(struct daemon *d, struct slurm_job *j, const struct slurm_job_info *info)
{
	enum job_state state = store_job_state(d->store, j->id);
	json_t *job = store_job_json(d->store, j->id);
	const char *known = json_string_value(json_object_get(job, "reason"));
	char reason[256];
	int changed;

	slurm_live_reason(info, reason, sizeof(reason));
	changed = !known || strcmp(known, reason) != 0;
	json_decref(job);
	switch (slurm_state_phase(info->state)) {
	case SLURM_PENDING:
		if (state == JOB_QUEUED && changed) {
			store_job_set_state(d->store, j->id, JOB_QUEUED, reason);
			store_event_add(d->store, j->id, "pending", "%s", reason);
		}
		break;
	case SLURM_RUNNING:
		if (!j->started) {
			j->started = 1;
			store_job_set_started(d->store, j->id, 0, 0, 0, 0,
					      info->start_ms ? info->start_ms : time_now_ms());
			store_event_add(d->store, j->id, "started", "%s", reason);
		}
		if ((state == JOB_QUEUED || state == JOB_STARTING || state == JOB_RUNNING) && changed)
			store_job_set_state(d->store, j->id, JOB_RUNNING, reason);
		break;
	case SLURM_SUSPENDED:
		if (state == JOB_RUNNING)
			supervise_transition(d, j->id, JOB_PAUSED, reason);
		break;
	case SLURM_ENDED:
		job_ended(d, j, info);
		break;
	}
}

static void on_scontrol(struct daemon *d, struct slurm_call *call, void *data)
{
	int64_t id = (int64_t)(intptr_t)data;
	struct slurm_job *j = job_find(d, id);
	struct slurm_job_info info;
	struct err err = { 0 };

	if (!j)
		return;
	j->asking = 0;
	store_begin(d->store);
	if (slurm_call_check(call, "scontrol show job", &err) == 0 &&
	    slurm_parse_scontrol_line(strbuf_str(&call->out), &info, &err) == 0) {
		job_update(d, j, &info);
	} else if (!call->timed_out && strstr(err.msg, "Invalid job id")) {
		/* Slurm has forgotten the job (a purged record, or a restarted cluster). */
		store_event_add(d->store, id, "lost", "slurm no longer knows job %lld",
				(long long)j->slurm_id);
		job_untrack(d, j);
		watchdog_forget(d, id);
		restart_on_end(d, id, JOB_LOST, "slurm-lost (its record is gone from slurm)", NULL);
	}
	store_commit(d->store);
	supervise_notify(d);
}

/* Log the poll's error once, not on every tick. */
static void poll_error(struct daemon *d, const char *msg)
{
	struct slurm *s = slurm_of(d);

	if (strcmp(s->last_error, msg) == 0)
		return;
	snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
	daemon_log("slurm: %s", msg);
}

static void on_squeue(struct daemon *d, struct slurm_call *call, void *data)
{
	char *conf = data;
	struct slurm_job_info *infos = NULL;
	struct err err = { 0 };
	struct slurm_job *j, *next;
	size_t n = 0;

	d->slurm->polls_in_flight--;
	if (slurm_call_check(call, "squeue", &err) < 0 ||
	    slurm_parse_squeue_json(strbuf_str(&call->out), &infos, &n, &err) < 0) {
		poll_error(d, err.msg);
		free(conf);
		return;
	}
	d->slurm->last_error[0] = '\0';
	store_begin(d->store);
	for (j = d->slurm->jobs; j; j = next) {
		size_t i = 0;
		next = j->next;
		if (strcmp(j->conf, conf) != 0)
			continue;
		while (i < n && infos[i].slurm_id != j->slurm_id)
			i++;
		if (i < n)
			job_update(d, j, &infos[i]);
		else if (!j->asking) {
			const char *args[] = { "scontrol", "show", "job", "-o", NULL };
			/* the job's id, not the job: it may be gone when the call ends */
			j->asking = job_call(j, args, on_scontrol,
					     (void *)(intptr_t)j->id, NULL) == 0; /* NOLINT(performance-no-int-to-ptr) */
		}
	}
	store_commit(d->store);
	supervise_notify(d);
	free(infos);
	free(conf);
}

/* The poll tick: one squeue per Slurm configuration of the live jobs. */
static void on_poll(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;
	struct slurm *s = d->slurm;
	char *const argv[] = { "squeue", "--json", NULL };

	(void)fd;
	(void)events;
	if (!s->jobs) {
		loop_remove(d->loop, s->poll);
		s->poll = NULL;
		return;
	}
	if (s->polls_in_flight)
		return;
	for (struct slurm_job *j = s->jobs; j; j = j->next) {
		struct slurm_job *first = s->jobs;
		struct err err = { 0 };

		while (strcmp(first->conf, j->conf) != 0)
			first = first->next;
		if (first != j)
			continue; /* that configuration is asked already */
		if (slurm_call_start(d, argv, j->envp, NULL, SLURM_CALL_TIMEOUT_MS, on_squeue,
				     xstrdup(j->conf), &err) == 0)
			s->polls_in_flight++;
		else
			poll_error(d, err.msg);
	}
}

int slurm_adopt(struct daemon *d, int64_t id)
{
	json_t *spec = store_job_spec(d->store, id);
	int64_t slurm_id = json_integer_value(json_object_get(spec, "slurm_job_id"));
	enum job_state state = store_job_state(d->store, id);
	struct slurm_job *j;

	json_decref(spec);
	/* Not in Slurm now: between attempts, or a submission the daemon never heard back from. */
	if (slurm_id <= 0 || (state != JOB_QUEUED && state != JOB_RUNNING && state != JOB_PAUSED &&
			      state != JOB_STOPPING))
		return 0;
	j = job_track(d, id, slurm_id);
	j->started = state == JOB_RUNNING || state == JOB_PAUSED || state == JOB_STOPPING;
	j->stop_requested = state == JOB_STOPPING;
	store_event_add(d->store, id, "adopted", "slurm job %lld followed by a restarted daemon",
			(long long)slurm_id);
	return 1;
}

/* ---- control ------------------------------------------------------------- */

/* A stop's or grace's scancel: its failure is recorded with the job. */
static void on_cancel(struct daemon *d, struct slurm_call *call, void *data)
{
	int64_t id = (int64_t)(intptr_t)data;
	struct err err = { 0 };

	if (slurm_call_check(call, "scancel", &err) == 0 || !job_find(d, id))
		return;
	store_begin(d->store);
	store_event_add(d->store, id, "error", "scancel: %s", err.msg);
	store_commit(d->store);
}

/* The grace period is over: cancel the job (Slurm sends SIGTERM, then SIGKILL after KillWait). */
static void on_grace(void *data, int fd, uint32_t events)
{
	struct slurm_job *j = data;
	const char *args[] = { "scancel", NULL };

	(void)fd;
	(void)events;
	j->grace = NULL;
	j->killed_after_grace = 1;
	job_call(j, args, on_cancel, (void *)(intptr_t)j->id, NULL); /* NOLINT(performance-no-int-to-ptr): an id */
}

/*
 * Has the job begun running? The last poll may not have seen it yet (squeue
 * is slow on a busy controller), but a job that wrote to its log has.
 */
static int job_began(struct daemon *d, const struct slurm_job *j)
{
	char *log = paths_job_log(&d->paths, j->id);
	struct stat st;
	int began = j->started || (stat(log, &st) == 0 && st.st_size > 0);

	free(log);
	return began;
}

int slurm_stop(struct daemon *d, int64_t id, int sig, int64_t timeout_ms, struct err *err)
{
	struct slurm_job *j = job_find(d, id);
	char sigopt[32];
	const char *signal_args[] = { "scancel", sigopt, "--full", NULL };
	const char *cancel_args[] = { "scancel", NULL };

	if (!j)
		return err_set(err, "job %lld is not a live slurm job", (long long)id);
	j->stop_requested = 1;
	j->stop_signal = sig;
	j->stop_timeout_ms = timeout_ms;
	if (!j->started && job_began(d, j))
		j->started = 1;
	/* Waiting in the queue, or no grace: nothing to save, cancel it now. */
	if (!j->started || timeout_ms <= 0) {
		j->killed_after_grace = j->started;
		return job_call(j, cancel_args, on_cancel,
				(void *)(intptr_t)id, err); /* NOLINT(performance-no-int-to-ptr): an id */
	}
	/* --full: without it the signal reaches job steps only, and a batch script has none. */
	snprintf(sigopt, sizeof(sigopt), "--signal=%d", sig);
	if (job_call(j, signal_args, on_cancel,
		     (void *)(intptr_t)id, err) < 0) /* NOLINT(performance-no-int-to-ptr): an id */
		return -1;
	if (!j->grace)
		j->grace = loop_add_timer(d->loop, timeout_ms, on_grace, j);
	return 0;
}

static void control_answer(struct daemon *d, struct control *ctl)
{
	store_begin(d->store);
	for (int64_t *id = ctl->ids; !ctl->err.msg[0] && *id >= 0; id++) {
		if (strcmp(ctl->op, "signal") == 0)
			store_event_add(d->store, *id, "signal", "%s sent by the user",
					signal_name(ctl->sig));
		else if (store_job_state(d->store, *id) != JOB_STOPPING)
			supervise_transition(d, *id, strcmp(ctl->op, "pause") == 0 ? JOB_PAUSED
										   : JOB_RUNNING,
					     strcmp(ctl->op, "pause") == 0 ? "suspended in slurm" : NULL);
	}
	store_commit(d->store);
	if (ctl->client)
		client_reply(ctl->client, ctl->err.msg[0] ? proto_reply_error(&ctl->err)
							  : proto_reply_ok());
	free(ctl->ids);
	free(ctl);
}

static void on_control(struct daemon *d, struct slurm_call *call, void *data)
{
	struct control *ctl = data;
	struct err err = { 0 };

	if (slurm_call_check(call, strcmp(ctl->op, "signal") ? "scontrol" : "scancel", &err) < 0 &&
	    !ctl->err.msg[0])
		err_set(&ctl->err, "slurm refused to %s the job: %s",
			strcmp(ctl->op, "signal") == 0 ? "signal" : ctl->op, err.msg);
	if (--ctl->remaining == 0)
		control_answer(d, ctl);
}

json_t *slurm_control(struct daemon *d, struct client *c, const int64_t *ids, const char *op,
		      int sig, struct err *err)
{
	struct control *ctl = xcalloc(1, sizeof(*ctl));
	char sigopt[32];
	const char *signal_args[] = { "scancel", sigopt, "--full", NULL };
	const char *pause_args[] = { "scontrol", "suspend", NULL };
	const char *resume_args[] = { "scontrol", "resume", NULL };
	const char *const *args = strcmp(op, "signal") == 0 ? signal_args
				  : strcmp(op, "pause") == 0 ? pause_args : resume_args;
	size_t n = 0;

	while (ids[n] >= 0) {
		struct slurm_job *j = job_find(d, ids[n]);
		if (!j || !j->started) {
			free(ctl);
			return j ? (err_set(err, "job %lld is waiting in the slurm queue: cancel it "
						 "with 'trainctl stop %lld'", (long long)ids[n],
					    (long long)ids[n]), NULL)
				 : (err_set(err, "job %lld is not a live slurm job: give slurm jobs "
						 "and local jobs in separate commands",
					    (long long)ids[n]), NULL);
		}
		n++;
	}
	snprintf(sigopt, sizeof(sigopt), "--signal=%d", sig);
	ctl->client = c;
	ctl->sig = sig;
	snprintf(ctl->op, sizeof(ctl->op), "%s", op);
	ctl->ids = xreallocarray(NULL, n + 1, sizeof(*ids));
	memcpy(ctl->ids, ids, (n + 1) * sizeof(*ids));
	ctl->remaining = (int)n;
	for (size_t i = 0; i < n; i++) {
		struct slurm_job *j = job_find(d, ids[i]);
		if (strcmp(op, "signal") == 0)
			j->user_signal = sig;
		if (job_call(j, args, on_control, ctl, &ctl->err) < 0)
			ctl->remaining--;
	}
	if (ctl->remaining == 0) { /* not one could be started: answer now */
		ctl->client = NULL;
		err_set(err, "%s", ctl->err.msg);
		free(ctl->ids);
		free(ctl);
		return NULL;
	}
	c->pending = 1;
	return NULL;
}

void slurm_forget_client(struct daemon *d, struct client *c)
{
	for (struct slurm_call *call = d->slurm ? d->slurm->calls : NULL; call; call = call->next) {
		if (call->done == on_submitted && ((struct submit *)call->data)->client == c)
			((struct submit *)call->data)->client = NULL;
		if (call->done == on_control && ((struct control *)call->data)->client == c)
			((struct control *)call->data)->client = NULL;
	}
}

void slurm_release(struct daemon *d)
{
	struct slurm *s = d->slurm;

	if (!s)
		return;
	for (struct slurm_call *call = s->calls; call; call = call->next) {
		if (call->done == on_submitted || call->done == on_squeue)
			free(call->data);
	}
	slurm_call_release(d);
	while (s->jobs) /* job_untrack unlinks the job before freeing it */
		job_untrack(d, s->jobs); /* NOLINT(clang-analyzer-unix.Malloc) */
	if (s->poll)
		loop_remove(d->loop, s->poll);
	free(s);
	d->slurm = NULL;
}
