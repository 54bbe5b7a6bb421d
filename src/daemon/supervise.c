/*
 * The daemon's side of supervision; see supervise.h.
 *
 * How the daemon knows a shim has ended: a pidfd becomes readable when the
 * process exits, whether or not we are its parent, and it can never refer to
 * another process that reused the pid. The shim writes jobs/<id>.exit before
 * it exits, so by the time the pidfd fires the record is there; no record
 * means the shim itself died, and the job is 'lost'.
 */
#include "daemon/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cgroup.h"
#include "lib/parse.h"
#include "lib/proc.h"
#include "lib/proto.h"
#include "lib/signals.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"
#include "daemon/gpus.h"
#include "backend/slurm.h"
#include "backend/slurm_call.h"
#include "daemon/reasons.h"
#include "daemon/onexit.h"
#include "daemon/restart.h"
#include "daemon/sched.h"
#include "daemon/watchdog.h"
#include "shim/shim.h"

/* How long a request to a starting job waits for its shim's start report. */
#define START_REPORT_WAIT_MS 5000

/* A job whose shim is (or may be) alive. */
struct active {
	struct daemon *daemon;
	int64_t id;
	pid_t shim_pid;
	int own_child;
	int pidfd;
	struct loop_watch *pidfd_watch;
	int unattended; /* no client waits for the start: a failure ends the job */
	int report_fd;
	struct loop_watch *report_watch;
	struct strbuf report;
	struct client *run_client;
	struct active *next;
};

/* Problems left behind by the job's last attempt (GPU memory still held), as "warnings". */
static void add_warnings(struct daemon *d, int64_t id, json_t *job)
{
	json_t *events = store_job_events(d->store, id), *warnings = json_array(), *e;
	const char *since = json_string_value(json_object_get(job, "started_at"));
	size_t i;

	json_array_foreach(events, i, e) {
		const char *time = json_string_value(json_object_get(e, "time"));
		if (!strcmp(json_string_value(json_object_get(e, "kind")), "gpu-memory-held") &&
		    (!since || (time && strcmp(time, since) >= 0)))
			json_array_append(warnings, json_object_get(e, "detail"));
	}
	if (json_array_size(warnings))
		json_object_set_new(job, "warnings", warnings);
	else
		json_decref(warnings);
	json_decref(events);
}

/* A client waiting for jobs to end (wait, stop). */
struct waiter {
	struct client *client;
	int64_t *ids;
	char *op;
	struct waiter *next;
};

static struct active *active_find(struct daemon *d, int64_t id)
{
	for (struct active *a = d->active; a; a = a->next) {
		if (a->id == id)
			return a;
	}
	return NULL;
}

pid_t supervise_shim_pid(struct daemon *d, int64_t id)
{
	struct active *a = active_find(d, id);

	return a ? a->shim_pid : 0;
}

int64_t supervise_job_of_shim(struct daemon *d, pid_t pid)
{
	for (struct active *a = d->active; a; a = a->next) {
		if (a->shim_pid == pid)
			return a->id;
	}
	return 0;
}

int supervise_is_active(struct daemon *d, int64_t id)
{
	return active_find(d, id) != NULL || slurm_owns(d, id);
}

static void active_close_report(struct active *a)
{
	if (a->report_fd < 0)
		return;
	loop_remove(a->daemon->loop, a->report_watch);
	close(a->report_fd);
	a->report_fd = -1;
	a->report_watch = NULL;
}

static void active_free(struct daemon *d, struct active *a)
{
	struct active **pp;

	for (pp = &d->active; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	active_close_report(a);
	loop_remove(d->loop, a->pidfd_watch);
	close(a->pidfd);
	strbuf_release(&a->report);
	free(a);
}

void supervise_transition(struct daemon *d, int64_t id, enum job_state state, const char *reason)
{
	store_job_set_state(d->store, id, state, reason);
	store_event_add(d->store, id, job_state_name(state), "%s", reason ? reason : "");
}

void supervise_end(struct daemon *d, int64_t id, enum job_state state, const char *reason,
		   const struct job_exit *ex)
{
	store_job_set_ended(d->store, id, state, reason, ex);
	if (ex)
		store_event_add(d->store, id, job_state_name(state),
				"%s; cpu %.1fs user %.1fs sys, peak rss %lldK", reason,
				ex->utime_ms / 1000.0, ex->stime_ms / 1000.0, (long long)ex->maxrss_kb);
	else
		store_event_add(d->store, id, job_state_name(state), "%s", reason);
	onexit_job_ended(d, id);
}

json_t *supervise_result(struct daemon *d, int64_t id)
{
	json_t *job = store_job_json(d->store, id);
	json_t *code, *sig;
	int status = 0;

	if (!job)
		return json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "removed");
	code = json_object_get(job, "exit_code");
	sig = json_object_get(job, "signal");
	if (json_is_integer(sig))
		status = 128 + (int)json_integer_value(sig);
	else if (json_is_integer(code))
		status = (int)json_integer_value(code);
	/* A failure never reads as success, even when the process itself exited 0. */
	if (status == 0 && (!strcmp(json_string_value(json_object_get(job, "state")), "lost") ||
			    !strcmp(json_string_value(json_object_get(job, "state")), "cancelled") ||
			    !strcmp(json_string_value(json_object_get(job, "state")), "failed")))
		status = 1;
	json_object_set_new(job, "status", json_integer(status));
	json_object_del(job, "spec");
	add_warnings(d, id, job);
	return job;
}

/* Is every job of a -1 terminated list in a final state? */
static int all_final(struct daemon *d, const int64_t *ids)
{
	for (; *ids >= 0; ids++) {
		if (!job_state_is_final(store_job_state(d->store, *ids)))
			return 0;
	}
	return 1;
}

static void waiter_answer(struct daemon *d, struct waiter *w)
{
	json_t *reply = proto_reply_ok();
	json_t *results = json_array();

	for (const int64_t *id = w->ids; *id >= 0; id++)
		json_array_append_new(results, supervise_result(d, *id));
	json_object_set_new(reply, "results", results);
	client_reply(w->client, reply);
	if (strcmp(w->op, "shutdown") == 0)
		loop_stop(d->loop); /* every job has stopped: now the daemon goes */
}

static void waiter_free(struct waiter *w)
{
	free(w->ids);
	free(w->op);
	free(w);
}

/* Answer every waiter whose jobs have all ended. */
static void waiters_check(struct daemon *d)
{
	struct waiter **pp = &d->waiters;

	while (*pp) {
		struct waiter *w = *pp;
		if (all_final(d, w->ids)) {
			*pp = w->next;
			waiter_answer(d, w);
			waiter_free(w);
		} else {
			pp = &w->next;
		}
	}
}

void supervise_notify(struct daemon *d)
{
	waiters_check(d);
}

void supervise_wait(struct daemon *d, struct client *c, const int64_t *ids, const char *op)
{
	struct waiter *w = xcalloc(1, sizeof(*w));
	size_t n = 0;

	while (ids[n] >= 0)
		n++;
	w->ids = xreallocarray(NULL, n + 1, sizeof(*ids));
	memcpy(w->ids, ids, (n + 1) * sizeof(*ids));
	w->client = c;
	w->op = xstrdup(op);
	w->next = d->waiters;
	d->waiters = w;
	c->pending = 1;
	waiters_check(d);
}

void supervise_forget_client(struct daemon *d, struct client *c)
{
	struct waiter **pp = &d->waiters;

	while (*pp) {
		struct waiter *w = *pp;
		if (w->client == c) {
			*pp = w->next;
			waiter_free(w);
		} else {
			pp = &w->next;
		}
	}
	for (struct active *a = d->active; a; a = a->next) {
		if (a->run_client == c)
			a->run_client = NULL;
	}
	slurm_forget_client(d, c);
}

/*
 * Kill what is left of a job whose shim died. Its processes have been
 * re-parented away, so they are found by the job's session (the job called
 * setsid, so its session id is its pid), not by parentage. SIGSTOP first so
 * that none can fork or leave while we look; start times guard against
 * strangers with a reused id.
 */
static void kill_orphaned_job(struct daemon *d, int64_t id, pid_t pid, uint64_t pid_start)
{
	struct cgroup_job cg = { 0 };
	char *name;

	if (pid > 0 && pid_start != 0) {
		signal_session(pid, pid_start, SIGSTOP);
		for (int round = 0; round < 16; round++) {
			if (signal_session(pid, pid_start, SIGKILL) == 0)
				break;
		}
	}
	/* With a cgroup, whatever escaped the session goes too. */
	if (strcmp(d->cgroup, "none") == 0)
		return;
	name = cgroup_job_name(d->paths.home, id);
	if (cgroup_job_create(&cg, d->cgroup[1] == '2' ? CGROUP_V2 : CGROUP_V1, CGROUP_ROOT, name,
			      NULL) == 0) {
		cgroup_job_kill(&cg);
		cgroup_job_remove(&cg);
	}
	cgroup_job_release(&cg);
	free(name);
}

void supervise_add_progress(struct daemon *d, json_t *job)
{
	int64_t id = json_integer_value(json_object_get(job, "id"));
	const char *state = json_string_value(json_object_get(job, "state"));
	char *path, when[40];
	json_t *status, *progress;
	int64_t output;

	if (!state || job_state_is_final((enum job_state)job_state_parse(state)))
		return;
	/* The watchdog's copy, read again only when the file changed (a stat, not a read). */
	status = json_incref((json_t *)watchdog_job_status(d, id));
	if (!status) {
		path = paths_job_status(&d->paths, id);
		status = json_file_read(path, NULL);
		free(path);
	}
	progress = json_object_get(status, "progress");
	if (json_is_object(progress))
		json_object_set(job, "progress", progress);
	if (json_is_object(json_object_get(status, "limits")))
		json_object_set(job, "limits", json_object_get(status, "limits"));
	output = json_integer_value(json_object_get(status, "last_output_ms"));
	if (output > 0) {
		format_rfc3339(output, when, sizeof(when));
		json_object_set_new(job, "last_output_at", json_string(when));
	}
	if (json_is_object(json_object_get(status, "log_error")))
		json_object_set(job, "log_error", json_object_get(status, "log_error"));
	json_decref(status);
}

/* Keep the last progress with the job once it has ended. */
static void store_final_progress(struct daemon *d, int64_t id)
{
	char *path = paths_job_status(&d->paths, id);
	json_t *status = json_file_read(path, NULL);
	json_t *progress = json_object_get(status, "progress");

	if (json_is_object(progress))
		store_job_set_progress(d->store, id, progress);
	json_decref(status);
	free(path);
}

/* A shim that died without cleaning up leaves its socket behind. */
static void unlink_job_socket(struct daemon *d, int64_t id)
{
	char *sock = paths_job_sock(&d->paths, id);

	unlink(sock);
	free(sock);
}

/* Settle a job whose shim is gone, from its exit record (or as lost). */
static void supervise_settle(struct daemon *d, int64_t id)
{
	char *path = paths_job_exit(&d->paths, id);
	json_t *obj = json_file_read(path, NULL);
	struct job_exit ex;
	char reason[320];
	enum job_state state;

	store_final_progress(d, id);
	if (obj && job_exit_from_json(obj, &ex) == 0) {
		state = job_exit_classify(&ex, reason, sizeof(reason));
		reasons_refine(d, id, &ex, &state, reason, sizeof(reason));
		restart_on_end(d, id, state, reason, &ex);
	} else {
		char *shim_path = paths_job_shim(&d->paths, id);
		json_t *shim = json_file_read(shim_path, NULL);
		pid_t pid = (pid_t)json_integer_value(json_object_get(shim, "pid"));
		uint64_t start = (uint64_t)json_integer_value(json_object_get(shim, "pid_start"));

		kill_orphaned_job(d, id, pid, start);
		json_decref(shim);
		free(shim_path);
		unlink_job_socket(d, id);
		store_event_add(d->store, id, "lost", "the job's shim ended without recording an exit status");
		restart_on_end(d, id, JOB_LOST, "supervisor-lost", NULL);
	}
	daemon_log("job %lld ended: %s", (long long)id, job_state_name(store_job_state(d->store, id)));
	json_decref(obj);
	free(path);
}

/*
 * The job could not start. For `run`, the request fails and the job is
 * forgotten; for a later attempt, the job ends failed with the reason.
 */
static void supervise_start_failed(struct daemon *d, struct active *a, const char *msg)
{
	struct err err = { 0 };
	char *log;

	if (a->unattended) {
		supervise_end(d, a->id, JOB_FAILED, msg, NULL);
		return;
	}
	log = paths_job_log(&d->paths, a->id);
	err_set(&err, "%s", msg);
	if (a->run_client)
		client_reply(a->run_client, proto_reply_error(&err));
	a->run_client = NULL;
	store_job_delete(d->store, a->id, NULL);
	unlink(log);
	free(log);
}

static void supervise_started(struct daemon *d, struct active *a, const json_t *msg)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(msg, "pid"));
	json_t *reply = proto_reply_ok();

	/* Answer first: the CLI is waiting, and the records below change nothing it prints. */
	json_object_set_new(reply, "id", json_integer(a->id));
	json_object_set_new(reply, "pid", json_integer(pid));
	if (a->run_client)
		client_reply(a->run_client, reply);
	else
		json_decref(reply);
	a->run_client = NULL;
	crash_point("run-answered");
	store_job_set_started(d->store, a->id, pid,
			      (uint64_t)json_integer_value(json_object_get(msg, "pid_start")),
			      a->shim_pid, proc_start_time(a->shim_pid),
			      json_integer_value(json_object_get(msg, "started_at")));
	store_job_set_state(d->store, a->id, JOB_RUNNING, NULL);
	store_event_add(d->store, a->id, "started", "pid %d", (int)pid);
}

static void on_shim_report(void *data, int fd, uint32_t events)
{
	struct active *a = data;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	json_t *msg = NULL;
	const char *event;

	(void)events;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		strbuf_add(&a->report, buf, (size_t)n);
		if (!proto_take_line(&a->report, &msg, NULL))
			return;
	}
	active_close_report(a);
	event = json_string_value(json_object_get(msg, "event"));
	store_begin(a->daemon->store);
	if (event && strcmp(event, "started") == 0)
		supervise_started(a->daemon, a, msg);
	else if (event && strcmp(event, "failed") == 0)
		supervise_start_failed(a->daemon, a,
				       json_string_value(json_object_get(msg, "error")));
	store_commit(a->daemon->store);
	json_decref(msg);
}

static void on_shim_exit(void *data, int fd, uint32_t events)
{
	struct active *a = data;
	struct daemon *d = a->daemon;
	enum job_state state;
	json_t *gpu_pids;

	(void)fd;
	(void)events;
	if (a->own_child)
		waitpid(a->shim_pid, NULL, WNOHANG);
	/* The start-up report may still sit in the pipe: hear it before judging. */
	if (a->report_fd >= 0)
		on_shim_report(a, a->report_fd, 0);
	active_close_report(a);
	state = store_job_state(d->store, a->id);
	gpu_pids = gpus_job_pids(d, a->id);
	store_begin(d->store);
	if (state == JOB_STARTING && (a->run_client || a->unattended))
		supervise_start_failed(d, a, "the job's shim exited during start-up (see daemon.log)");
	else if (!job_state_is_final(state))
		supervise_settle(d, a->id);
	gpus_check_released(d, a->id, gpu_pids);
	store_commit(d->store);
	json_decref(gpu_pids);
	crash_point("job-settled");
	watchdog_forget(d, a->id);
	active_free(d, a);
	waiters_check(d);
	/* Its GPUs, its place in a queue, a dependency: another job may start now. */
	d->sched_dirty = 1;
	store_begin(d->store);
	sched_tick(d);
	store_commit(d->store);
}

static struct active *active_new(struct daemon *d, int64_t id, pid_t shim_pid, int pidfd)
{
	struct active *a = xcalloc(1, sizeof(*a));

	a->daemon = d;
	a->id = id;
	a->shim_pid = shim_pid;
	a->pidfd = pidfd;
	a->report_fd = -1;
	a->pidfd_watch = loop_add_fd(d->loop, pidfd, EPOLLIN, on_shim_exit, a);
	a->next = d->active;
	d->active = a;
	return a;
}

/*
 * Start the shim: spec on its stdin, the report pipe as SHIM_REPORT_FD,
 * /dev/null as stdout, its own session, default signal dispositions and an
 * empty mask, nothing else open. posix_spawn does it without copying the
 * daemon's page tables (a fork would, and then copy every page the daemon
 * writes before the exec).
 */
static pid_t spawn_shim(struct daemon *d, char *const argv[], int spec_fd, int report_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	pid_t pid = -1;
	int rc;

	sigfillset(&all);
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, spec_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, report_fd, SHIM_REPORT_FD);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, SHIM_REPORT_FD + 1);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
					POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
	rc = posix_spawn(&pid, d->shim_exe, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

/* Replace (or add) KEY=value in an environment array. */
static void env_set(json_t *env, const char *key, const char *value)
{
	size_t i, len = strlen(key);
	json_t *v;

	json_array_foreach(env, i, v) {
		const char *e = json_string_value(v);
		if (e && strncmp(e, key, len) == 0 && e[len] == '=') {
			json_array_remove(env, i);
			break;
		}
	}
	json_array_append_new(env, json_sprintf("%s=%s", key, value));
}

/* A job on GPUs sees only those: CUDA_VISIBLE_DEVICES, numbered as nvidia-smi does. */
static void add_gpu_env(struct daemon *d, int64_t id, json_t *spec)
{
	json_t *gpus = store_job_gpus(d->store, id), *env = json_object_get(spec, "env"), *g;
	struct strbuf list = STRBUF_INIT;
	size_t i;

	if (json_array_size(gpus) && json_is_array(env)) {
		json_array_foreach(gpus, i, g)
			strbuf_addf(&list, "%s%lld", i ? "," : "", (long long)json_integer_value(g));
		env_set(env, "CUDA_VISIBLE_DEVICES", list.buf);
		env_set(env, "CUDA_DEVICE_ORDER", "PCI_BUS_ID");
	}
	strbuf_release(&list);
	json_decref(gpus);
}

int supervise_start(struct daemon *d, int64_t id, const json_t *spec, struct client *c,
		    struct err *err)
{
	char idbuf[32];
	char *argv[] = { SHIM_EXE_NAME, "--id", idbuf, NULL };
	json_t *full = json_copy((json_t *)spec);
	char *text;
	int spec_pipe[2], report_pipe[2], pidfd;
	struct active *a;
	pid_t pid;

	if (slurm_spec_wanted(spec)) {
		json_decref(full);
		return slurm_start(d, id, spec, c, err);
	}
	if (!d->shim_exe) {
		json_decref(full);
		return err_set(err, "%s", d->shim_error);
	}
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	json_object_set_new(full, "cgroup", json_string(d->cgroup));
	/* A start nobody waits for (most of them): the shim keeps the job if we vanish. */
	if (!c)
		json_object_set_new(full, "unattended", json_true());
	add_gpu_env(d, id, full);
	text = json_dumps(full, JSON_COMPACT);
	json_decref(full);
	if (pipe2(spec_pipe, O_CLOEXEC) < 0 || pipe2(report_pipe, O_CLOEXEC) < 0) {
		free(text);
		return err_errno(err, "pipe");
	}
	/*
	 * What the caller recorded (the job, its state, its GPUs) is made durable
	 * before the shim exists: a crash cannot leave a process the database
	 * does not know, nor make the next daemon start an attempt again.
	 */
	store_commit_point(d->store);
	pid = spawn_shim(d, argv, spec_pipe[0], report_pipe[1]);
	close(spec_pipe[0]);
	close(report_pipe[1]);
	if (pid < 0 || (pidfd = pidfd_open_pid(pid)) < 0) {
		err_errno(err, "cannot start the job's shim");
		close(spec_pipe[1]);
		close(report_pipe[0]);
		free(text);
		return -1;
	}
	/* The shim reads the whole spec before anything else, so this cannot block for long. */
	write_all(spec_pipe[1], text, strlen(text));
	close(spec_pipe[1]);
	free(text);
	a = active_new(d, id, pid, pidfd);
	a->own_child = 1;
	a->run_client = c;
	a->unattended = c == NULL;
	a->report_fd = report_pipe[0];
	fcntl(a->report_fd, F_SETFL, O_NONBLOCK);
	a->report_watch = loop_add_fd(d->loop, a->report_fd, EPOLLIN, on_shim_report, a);
	if (c)
		c->pending = 1;
	return 0;
}

void supervise_release(struct daemon *d)
{
	slurm_release(d);
	while (d->active)
		active_free(d, d->active);
	while (d->waiters) {
		struct waiter *w = d->waiters;
		d->waiters = w->next;
		waiter_free(w);
	}
}

void supervise_reap(struct daemon *d)
{
	pid_t pid;
	int status;

	/* Shims are watched through pidfds; on-exit commands and Slurm commands want their status. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		onexit_reaped(d, pid, status);
		slurm_call_reaped(d, pid, status);
	}
}

/* Adopt a live shim found at start-up; 0 if it is not (or no longer) alive. */
static int supervise_adopt(struct daemon *d, int64_t id)
{
	char *path = paths_job_shim(&d->paths, id);
	json_t *shim = json_file_read(path, NULL);
	pid_t pid = (pid_t)json_integer_value(json_object_get(shim, "shim_pid"));
	uint64_t start = (uint64_t)json_integer_value(json_object_get(shim, "shim_start"));
	int pidfd = pid > 0 ? pidfd_open_pid(pid) : -1;

	free(path);
	/* Checked after the pidfd pins the process, so a reused pid cannot slip in. */
	if (pidfd >= 0 && !proc_alive(pid, start)) {
		close(pidfd);
		pidfd = -1;
	}
	if (pidfd < 0) {
		json_decref(shim);
		return 0;
	}
	active_new(d, id, pid, pidfd);
	/* The daemon died before it heard the start: the shim's record has what it missed. */
	if (store_job_state(d->store, id) == JOB_STARTING) {
		pid_t job_pid = (pid_t)json_integer_value(json_object_get(shim, "pid"));

		store_job_set_started(d->store, id, job_pid,
				      (uint64_t)json_integer_value(json_object_get(shim, "pid_start")),
				      pid, start,
				      json_integer_value(json_object_get(shim, "started_at")));
		store_event_add(d->store, id, "started", "pid %d", (int)job_pid);
		supervise_transition(d, id, JOB_RUNNING, NULL);
	}
	json_decref(shim);
	store_event_add(d->store, id, "adopted", "shim pid %d re-adopted by a restarted daemon",
			(int)pid);
	daemon_log("adopted job %lld (shim pid %d)", (long long)id, (int)pid);
	return 1;
}

void supervise_recover(struct daemon *d)
{
	int64_t *ids = store_job_ids_active(d->store);

	for (int64_t *id = ids; *id >= 0; id++) {
		int state = store_job_state(d->store, *id);
		char *exit_path;
		int ended;

		/*
		 * Between attempts, and before the first, there is no shim: the watchdog
		 * starts the next attempt when due, the queue starts waiting jobs.
		 */
		if (slurm_adopt(d, *id) || state == JOB_RESTARTING || state == JOB_QUEUED ||
		    state == JOB_HELD)
			continue;
		exit_path = paths_job_exit(&d->paths, *id);
		ended = access(exit_path, F_OK) == 0;
		free(exit_path);
		if (ended || !supervise_adopt(d, *id))
			supervise_settle(d, *id);
	}
	free(ids);
	restart_resume_on_boot(d);
}

/*
 * A job whose shim has not reported its start yet has no socket to talk to:
 * hear the report first (it comes within milliseconds of the fork), so that
 * a stop or a signal right after `run` reaches the job, and one to a job
 * that failed to start is refused as for any job that is not running.
 */
static void await_start_report(struct daemon *d, int64_t id)
{
	struct active *a = active_find(d, id);
	int64_t deadline = time_now_ms() + START_REPORT_WAIT_MS;

	while (a && a->report_fd >= 0) {
		struct pollfd p = { .fd = a->report_fd, .events = POLLIN };
		int64_t left = deadline - time_now_ms();

		if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR))
			return;
		on_shim_report(a, a->report_fd, 0);
	}
}

json_t *supervise_shim_request(struct daemon *d, int64_t id, json_t *req, struct err *err)
{
	char *path = paths_job_sock(&d->paths, id);
	struct timeval tv = { .tv_sec = 5 };
	struct strbuf buf = STRBUF_INIT;
	json_t *reply = NULL;
	int fd = -1;

	if (slurm_owns(d, id)) {
		err_set(err, "job %lld runs on slurm: '%s' needs a job of this machine", (long long)id,
			json_string_value(json_object_get(req, "op")));
		goto out;
	}
	await_start_report(d, id);
	fd = sock_connect(path, err);
	free(path);
	path = NULL;
	if (fd < 0)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (proto_send(fd, req, err) == 0)
		reply = proto_recv(fd, &buf, err);
	if (reply && proto_reply_check(reply, err) < 0) {
		json_decref(reply);
		reply = NULL;
	}
	close(fd);
out:
	free(path);
	strbuf_release(&buf);
	json_decref(req);
	return reply;
}

int supervise_stop(struct daemon *d, int64_t id, int sig, int64_t timeout_ms, const char *cause,
		   struct err *err)
{
	json_t *spec = store_job_spec(d->store, id);
	json_t *req = proto_request("stop");
	struct job_restart r;
	char grace[32];

	if (!sig)
		sig = (int)json_integer_value(json_object_get(spec, "stop_signal"));
	if (timeout_ms < 0)
		timeout_ms = json_integer_value(json_object_get(spec, "stop_timeout_ms"));
	json_decref(spec);
	await_start_report(d, id);
	if (job_state_is_final(store_job_state(d->store, id)) || !supervise_is_active(d, id)) {
		json_decref(req);
		return err_set(err, "job %lld is not running", (long long)id);
	}
	if (cause && strcmp(cause, "restart") != 0 && store_job_restart_get(d->store, id, &r) == 0) {
		snprintf(r.stop_cause, sizeof(r.stop_cause), "%s", cause);
		store_job_restart_set(d->store, id, &r);
	}
	format_duration(timeout_ms, grace, sizeof(grace));
	json_object_set_new(req, "signal", json_integer(sig ? sig : SIGTERM));
	json_object_set_new(req, "timeout_ms", json_integer(timeout_ms));
	store_event_add(d->store, id, "stop", "%s, then SIGKILL after %s%s%s",
			signal_name(sig ? sig : SIGTERM), grace, cause ? ": " : "", cause ? cause : "");
	store_job_set_state(d->store, id, JOB_STOPPING, NULL);
	if (slurm_owns(d, id)) {
		json_decref(req);
		return slurm_stop(d, id, sig ? sig : SIGTERM, timeout_ms, err);
	}
	json_decref(supervise_shim_request(d, id, req, err));
	crash_point("stop-sent");
	return err->msg[0] ? -1 : 0;
}

void supervise_end_unstarted(struct daemon *d, int64_t id, enum job_state state, const char *reason)
{
	supervise_end(d, id, state, reason, NULL);
	d->sched_dirty = 1;
	waiters_check(d);
}

void supervise_cancel_restart(struct daemon *d, int64_t id, const char *cause)
{
	struct job_restart r;

	store_job_restart_get(d->store, id, &r);
	r.restart_at = 0;
	snprintf(r.stop_cause, sizeof(r.stop_cause), "%s", cause ? cause : "");
	store_job_restart_set(d->store, id, &r);
	supervise_end(d, id, JOB_STOPPED, "stopped while waiting to restart", NULL);
	waiters_check(d);
}
