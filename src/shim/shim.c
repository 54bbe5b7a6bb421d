/*
 * The per-job shim; see shim.h for its place in the design.
 *
 * The job ends in three steps. (1) Its main process exits: we record the
 * wait status. (2) Descendants it left behind (workers, double-forked
 * helpers, which reparent to us as subreaper) get the stop signal and, after
 * the grace period, SIGKILL. (3) Once no descendant is left and the terminal
 * has drained, the exit record is written and the shim exits. A stop request
 * runs the same machinery earlier: SIGCONT if paused, the stop signal to the
 * process group, and SIGKILL to every descendant when the grace runs out.
 */
#include "shim/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/job.h"
#include "lib/loop.h"
#include "lib/parse.h"
#include "lib/paths.h"
#include "lib/proc.h"
#include "lib/proto.h"
#include "lib/signals.h"
#include "lib/sock.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"
#include "lib/progress.h"
#include "shim/limits.h"
#include "shim/logfile.h"
#include "shim/shim_state.h"
#include "shim/spawn.h"

/* How much recent output is kept for replay on attach. */
#define RECENT_MAX (64 * 1024)
/* How much unread input may wait for the job. */
#define INPUT_MAX (1024 * 1024)

/* Signal the job's process group (while its leader is unreaped) and every descendant. */
void shim_signal_tree(struct shim *shim, int sig)
{
	if (!shim->reaped)
		kill(-shim->pid, sig);
	signal_descendants(getpid(), sig);
}

static void shim_grace_expired(void *data, int fd, uint32_t events)
{
	struct shim *shim = data;

	(void)fd;
	(void)events;
	shim->grace_timer = NULL;
	/* Only the main process ignoring the stop signal makes this a kill. */
	shim->exit.killed_after_grace = shim->exit.stop_requested && !shim->reaped;
	shim_signal_tree(shim, SIGKILL);
	limits_kill(shim);
}

/* Arm the grace timer; a later stop with its own grace re-arms it from now. */
static void shim_start_grace(struct shim *shim, int rearm)
{
	if (shim->grace_timer && !rearm)
		return;
	loop_remove(shim->loop, shim->grace_timer);
	shim->grace_timer = loop_add_timer(shim->loop, shim->stop_timeout_ms, shim_grace_expired,
					   shim);
}

/* A graceful stop: SIGCONT a paused tree first, then the stop signal, then the grace timer. */
void shim_stop(struct shim *shim, int sig, int64_t timeout_ms)
{
	shim->stop_signal = sig;
	shim->stop_timeout_ms = timeout_ms;
	shim->exit.stop_requested = 1;
	shim->exit.stop_signal = sig;
	shim->exit.stop_timeout_ms = timeout_ms;
	if (shim->paused) {
		shim_signal_tree(shim, SIGCONT);
		shim->paused = 0;
	}
	if (!shim->reaped)
		kill(-shim->pid, sig);
	else
		signal_descendants(getpid(), sig);
	shim_start_grace(shim, 1);
}

/*
 * Whether anything of the job's tree is left. The shim is the subreaper:
 * every live descendant has a chain of live parents up to one of its
 * children, so having no child (waitid says ECHILD) means having no
 * descendant, without a pass over /proc.
 */
static int shim_has_descendants(void)
{
	siginfo_t info = { 0 };

	return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static void shim_write_exit(struct shim *shim)
{
	char *path = paths_job_exit(&shim->paths, shim->id);
	json_t *obj;
	struct err err = { 0 };

	shim->exit.ended_at = time_now_ms();
	obj = job_exit_to_json(&shim->exit);
	if (json_file_write_atomic(path, obj, 1, &err) < 0)
		fprintf(stderr, "trainctl-shim %lld: %s\n", (long long)shim->id, err.msg);
	clients_exit(shim, obj);
	json_decref(obj);
	free(path);
}

/* The progress object of the interface, or null before any progress was seen. */
static json_t *shim_progress_json(struct shim *shim)
{
	const struct progress *p = progress_parser_get(shim->progress);
	char when[40];

	if (!p->valid)
		return json_null();
	format_rfc3339(p->updated_ms, when, sizeof(when));
	return json_pack("{s:f, s:o, s:o, s:o, s:o, s:s, s:s, s:s}", "current", p->current,
			 "total", p->total > 0 ? json_real(p->total) : json_null(),
			 "ratio", p->ratio >= 0 ? json_real(p->ratio) : json_null(),
			 "rate", p->rate > 0 ? json_real(p->rate) : json_null(),
			 "eta_seconds", p->eta_seconds >= 0 ? json_real(p->eta_seconds) : json_null(),
			 "unit", p->unit, "format", p->format, "updated_at", when);
}

/* Why the log cannot be written now, or null while it can. */
static json_t *shim_log_error_json(struct shim *shim)
{
	char since[40];

	if (!shim->log.error)
		return json_null();
	format_rfc3339(shim->log.error_since_ms, since, sizeof(since));
	return json_pack("{s:s, s:s, s:I, s:I}", "error", strerror(shim->log.error), "since", since,
			 "pending_bytes", (json_int_t)shim->log.pending.len, "lost_bytes",
			 (json_int_t)shim->log.lost_total);
}

/*
 * Write jobs/<id>.status: the progress, and when the job last printed
 * something. The daemon reads it for ls and show, and to tell a hung job.
 */
static void shim_write_progress(struct shim *shim)
{
	char *path = paths_job_status(&shim->paths, shim->id);
	json_t *obj = json_pack("{s:o, s:I, s:I, s:o, s:o}", "progress", shim_progress_json(shim),
				"last_output_ms", (json_int_t)shim->last_output_ms,
				"progress_changed_ms", (json_int_t)shim->progress_changed_ms,
				"limits", limits_json(shim), "log_error", shim_log_error_json(shim));

	json_file_write_atomic(path, obj, 0, NULL);
	json_decref(obj);
	free(path);
	shim->progress_dirty = 0;
	shim->progress_written_ms = time_monotonic_ms();
}

static void shim_progress_due(void *data, int fd, uint32_t events)
{
	struct shim *shim = data;

	(void)fd;
	(void)events;
	shim->progress_timer = NULL;
	if (shim->progress_dirty)
		shim_write_progress(shim);
}

/* Progress is written at most once a second; a change in between is written when the second is up. */
static void shim_note_progress(struct shim *shim)
{
	int64_t since = time_monotonic_ms() - shim->progress_written_ms;

	shim->progress_dirty = 1;
	if (since >= 1000)
		shim_write_progress(shim);
	else if (!shim->progress_timer)
		shim->progress_timer = loop_add_timer(shim->loop, 1000 - since, shim_progress_due,
						      shim);
}

void shim_status_changed(struct shim *shim)
{
	shim_note_progress(shim);
}

static void shim_log_retry(void *data, int fd, uint32_t events);

/*
 * The log takes no more (the disk is full): the status file says so at
 * once, and writing is tried again every second until it works.
 */
static void shim_log_check(struct shim *shim)
{
	int failing = shim->log.error != 0;

	if (failing != shim->log_failing) {
		shim->log_failing = failing;
		shim_write_progress(shim);
	}
	if (failing && !shim->log_retry_timer)
		shim->log_retry_timer = loop_add_timer(shim->loop, 1000, shim_log_retry, shim);
}

static void shim_log_retry(void *data, int fd, uint32_t events)
{
	struct shim *shim = data;

	(void)fd;
	(void)events;
	shim->log_retry_timer = NULL;
	logfile_retry(&shim->log);
	shim_log_check(shim);
}

/* Finish when the job has ended, nothing of its tree is left, and its output is drained. */
static void shim_maybe_finish(struct shim *shim)
{
	if (!shim->reaped)
		return;
	if (shim_has_descendants()) {
		if (!shim->cleanup_started) {
			shim->cleanup_started = 1;
			signal_descendants(getpid(), shim->stop_signal);
			shim_start_grace(shim, 0);
		}
		return;
	}
	if (shim->output_watch)
		return;
	if (logfile_retry(&shim->log) < 0)
		snprintf(shim->exit.note, sizeof(shim->exit.note),
			 "%lld bytes of output not logged: %s",
			 (long long)(shim->log.pending.len + shim->log.lost_total),
			 strerror(shim->log.error));
	if (shim->progress_dirty)
		shim_write_progress(shim);
	limits_finish(shim);
	shim_write_exit(shim);
	loop_stop(shim->loop);
}

static void shim_record_status(struct shim *shim, int status, const struct rusage *ru)
{
	shim->reaped = 1;
	if (WIFSIGNALED(status)) {
		shim->exit.exit_code = -1;
		shim->exit.signal = WTERMSIG(status);
		shim->exit.core_dumped = WCOREDUMP(status) ? 1 : 0;
	} else {
		shim->exit.exit_code = WEXITSTATUS(status);
		shim->exit.signal = 0;
	}
	shim->exit.utime_ms = ru->ru_utime.tv_sec * 1000 + ru->ru_utime.tv_usec / 1000;
	shim->exit.stime_ms = ru->ru_stime.tv_sec * 1000 + ru->ru_stime.tv_usec / 1000;
	shim->exit.maxrss_kb = ru->ru_maxrss;
}

static void shim_reap(struct shim *shim)
{
	struct rusage ru;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		if (pid == shim->pid)
			shim_record_status(shim, status, &ru);
	}
	shim_maybe_finish(shim);
}

static void shim_output_closed(struct shim *shim)
{
	loop_remove(shim->loop, shim->output_watch);
	shim->output_watch = NULL;
	close(shim->output_fd);
	shim->output_fd = -1;
	shim_maybe_finish(shim);
}

/* Keep the last output for replay to terminals that attach later. */
static void shim_remember(struct shim *shim, const char *data, size_t len)
{
	strbuf_add(&shim->recent, data, len);
	if (shim->recent.len > 2 * RECENT_MAX) {
		strbuf_consume(&shim->recent, shim->recent.len - RECENT_MAX);
		shim->recent_truncated = 1;
	}
}

/* Every byte of output goes to the log, the replay buffer, attached terminals and the progress parser. */
static void shim_on_bytes(struct shim *shim, const char *data, size_t len)
{
	int64_t now = time_now_ms();

	logfile_write(&shim->log, data, len);
	shim_log_check(shim);
	shim_remember(shim, data, len);
	clients_output(shim, data, len);
	shim->last_output_ms = now;
	if (progress_parser_feed(shim->progress, data, len, now))
		shim->progress_changed_ms = now;
	shim_note_progress(shim);
}

static void shim_input_flush(struct shim *shim);

static void shim_on_input_ready(void *data, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	shim_input_flush(data);
}

/* Hand queued input to the job as fast as it takes it; never block. */
static void shim_input_flush(struct shim *shim)
{
	if (shim->input_fd >= 0 && write_queued(shim->input_fd, &shim->input) < 0)
		strbuf_reset(&shim->input); /* the job closed its input */
	if (shim->input.len > 0 && !shim->input_watch)
		shim->input_watch = loop_add_fd(shim->loop, shim->input_fd, EPOLLOUT,
						shim_on_input_ready, shim);
	else if (shim->input.len == 0 && shim->input_watch) {
		loop_remove(shim->loop, shim->input_watch);
		shim->input_watch = NULL;
	}
}

int shim_input(struct shim *shim, const char *data, size_t len)
{
	if (shim->input.len + len > INPUT_MAX || shim->input_fd < 0)
		return -1;
	strbuf_add(&shim->input, data, len);
	shim_input_flush(shim);
	return 0;
}

void shim_resize(struct shim *shim, unsigned rows, unsigned cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	if (shim->use_pty && shim->output_fd >= 0 && rows > 0 && cols > 0)
		ioctl(shim->output_fd, TIOCSWINSZ, &ws);
}

static void shim_on_output(void *data, int fd, uint32_t events)
{
	struct shim *shim = data;
	char buf[65536];
	ssize_t n;

	(void)events;
	for (int i = 0; i < 16; i++) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			shim_on_bytes(shim, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EOF, or EIO from a PTY master once every slave is closed. */
		shim_output_closed(shim);
		return;
	}
}

static void shim_on_signal(void *data, int sig)
{
	struct shim *shim = data;

	if (sig == SIGCHLD)
		shim_reap(shim);
	else if ((sig == SIGTERM || sig == SIGINT) && !shim->exit.stop_requested)
		shim_stop(shim, shim->stop_signal, shim->stop_timeout_ms);
}

/* The strings of a JSON array as a NULL-terminated vector, borrowed from it: free only the vector. */
static char **strv_borrow_json(const json_t *array)
{
	size_t n = json_array_size(array), k = 0;
	char **v = xcalloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(array, i));
		if (s)
			v[k++] = (char *)s;
	}
	return v;
}

/*
 * The job's argv (a new reference) and, in the spec, its environment with
 * TRAINCTL_JOB_ID and TRAINCTL_JOB_NAME added. The spawn request borrows
 * the strings of both, so the environment is in memory once, and leaves it
 * with the spec's "env" after the spawn.
 */
static json_t *shim_spawn_request(struct shim *shim, struct spawn_request *req)
{
	const char *sh = json_string_value(json_object_get(shim->spec, "sh"));
	const char *name = json_string_value(json_object_get(shim->spec, "name"));
	json_t *argv = sh ? json_pack("[s, s, s]", "/bin/sh", "-c", sh)
			  : json_incref(json_object_get(shim->spec, "argv"));
	json_t *env = json_object_get(shim->spec, "env");

	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(shim->spec, "env", env);
	}
	json_array_append_new(env, json_sprintf("TRAINCTL_JOB_ID=%lld", (long long)shim->id));
	if (name)
		json_array_append_new(env, json_sprintf("TRAINCTL_JOB_NAME=%s", name));
	memset(req, 0, sizeof(*req));
	req->argv = strv_borrow_json(argv);
	req->envp = strv_borrow_json(env);
	req->cwd = json_string_value(json_object_get(shim->spec, "cwd"));
	req->use_pty = shim->use_pty;
	req->umask = json_is_integer(json_object_get(shim->spec, "umask"))
		? (int)json_integer_value(json_object_get(shim->spec, "umask")) : 022;
	req->rows = 24;
	req->cols = 80;
	return argv;
}

/* Tell the daemon how start-up went; a daemon that is gone means nobody knows of the job. */
static int shim_report(const json_t *msg)
{
	int ret = proto_send(SHIM_REPORT_FD, msg, NULL);

	close(SHIM_REPORT_FD);
	return ret;
}

static int shim_write_pidfile(struct shim *shim, struct err *err)
{
	char *path = paths_job_shim(&shim->paths, shim->id);
	json_t *obj = json_pack("{s:i, s:I, s:i, s:I, s:I}", "shim_pid", (int)getpid(),
				"shim_start", (json_int_t)proc_start_time(getpid()), "pid",
				(int)shim->pid, "pid_start", (json_int_t)shim->pid_start,
				"started_at", (json_int_t)shim->exit.started_at);
	int ret = json_file_write_atomic(path, obj, 0, err);

	json_decref(obj);
	free(path);
	return ret;
}

/* Jansson reads the spec from fd 0 through its own small buffer: no stdio buffer is left behind. */
static size_t shim_spec_chunk(void *buffer, size_t len, void *data)
{
	ssize_t n;

	(void)data;
	do
		n = read(0, buffer, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? (size_t)-1 : (size_t)n;
}

static int shim_read_spec(struct shim *shim, struct err *err)
{
	json_error_t jerr;

	shim->spec = json_load_callback(shim_spec_chunk, NULL, 0, &jerr);
	if (!json_is_object(shim->spec))
		return err_set(err, "bad job spec on stdin: %s", jerr.text);
	shim->stop_signal = (int)json_integer_value(json_object_get(shim->spec, "stop_signal"));
	shim->stop_timeout_ms = json_is_integer(json_object_get(shim->spec, "stop_timeout_ms"))
		? json_integer_value(json_object_get(shim->spec, "stop_timeout_ms")) : 30000;
	if (shim->stop_signal <= 0)
		shim->stop_signal = SIGTERM;
	if (shim->stop_timeout_ms < 0)
		shim->stop_timeout_ms = 30000;
	shim->use_pty = !json_is_false(json_object_get(shim->spec, "pty"));
	shim->progress = progress_parser_new(
		json_string_value(json_object_get(shim->spec, "progress_regex")),
		json_number_value(json_object_get(shim->spec, "progress_total")), err);
	return shim->progress ? 0 : -1;
}

static void shim_child_hook(const void *data)
{
	limits_child(data);
}

/* Open the log and the control socket, then start the job. */
static int shim_setup(struct shim *shim, struct err *err)
{
	char *log_path = paths_job_log(&shim->paths, shim->id);
	int64_t log_max = json_integer_value(json_object_get(shim->spec, "log_max"));
	const char *marker;
	struct spawn_request req;
	struct spawned sp;
	json_t *argv;
	int ret;

	ret = logfile_open(&shim->log, log_path, log_max, LOG_KEEP, err);
	free(log_path);
	if (ret < 0)
		return -1;
	/* A restarted job's log says where each attempt begins. */
	marker = json_string_value(json_object_get(shim->spec, "marker"));
	if (marker)
		logfile_write(&shim->log, marker, strlen(marker));
	shim->sock_path = paths_job_sock(&shim->paths, shim->id);
	shim->listen_fd = sock_listen(shim->sock_path, err);
	if (shim->listen_fd < 0)
		return -1;
	if (limits_setup(shim, err) < 0)
		return -1;
	argv = shim_spawn_request(shim, &req);
	req.child_hook = shim_child_hook;
	req.hook_data = shim;
	ret = spawn_job(&req, &sp, err);
	free(req.argv);
	free(req.envp);
	json_decref(argv);
	json_object_del(shim->spec, "env"); /* the job has it; nothing here needs it again */
	shim->pid = sp.pid;
	shim->output_fd = sp.output_fd;
	shim->input_fd = sp.input_fd;
	if (ret < 0)
		return -1;
	shim->pid_start = proc_start_time(sp.pid);
	shim->exit.started_at = time_now_ms();
	return 0;
}

static void shim_watch(struct shim *shim)
{
	fcntl(shim->output_fd, F_SETFL, fcntl(shim->output_fd, F_GETFL) | O_NONBLOCK);
	shim->output_watch = loop_add_fd(shim->loop, shim->output_fd, EPOLLIN, shim_on_output,
					 shim);
	fcntl(shim->input_fd, F_SETFL, fcntl(shim->input_fd, F_GETFL) | O_NONBLOCK);
	clients_listen(shim);
}

static void shim_release(struct shim *shim)
{
	clients_release(shim);
	limits_release(shim);
	progress_parser_free(shim->progress);
	strbuf_release(&shim->input);
	strbuf_release(&shim->recent);
	if (shim->sock_path)
		unlink(shim->sock_path);
	free(shim->sock_path);
	if (shim->log.path)
		logfile_close(&shim->log);
	json_decref(shim->spec);
	loop_free(shim->loop);
	paths_release(&shim->paths);
}

/* Start-up failed: tell the daemon why, and leave nothing behind. */
static int shim_fail(struct shim *shim, const struct err *err)
{
	json_t *msg = proto_event("failed");

	json_object_set_new(msg, "error", json_string(err->msg));
	shim_report(msg);
	json_decref(msg);
	if (shim->pid > 0)
		waitpid(shim->pid, NULL, 0);
	shim_release(shim);
	return 1;
}

/*
 * Report the start. A start nobody waits for (unattended: a run answered at
 * once, a restart, a queued job) is recorded and known to its user, and the
 * next daemon adopts it if this one is gone; but if the daemon is gone while
 * a `run --attach` waited for this report, nobody was told of the job: end it.
 */
static void shim_report_started(struct shim *shim)
{
	json_t *msg = proto_event("started");

	json_object_set_new(msg, "pid", json_integer(shim->pid));
	json_object_set_new(msg, "pid_start", json_integer((json_int_t)shim->pid_start));
	json_object_set_new(msg, "started_at", json_integer(shim->exit.started_at));

	if (shim_report(msg) < 0 && !json_is_true(json_object_get(shim->spec, "unattended"))) {
		snprintf(shim->exit.note, sizeof(shim->exit.note),
			 "the daemon vanished before the job was confirmed");
		shim_signal_tree(shim, SIGKILL);
	}
	json_decref(msg);
}

int shim_run(int64_t id)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	struct shim shim = { .output_fd = -1, .input_fd = -1, .listen_fd = -1,
			     .exit = { .oom_kills = -1 } };
	struct err err = { 0 };

	shim.id = id;
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	shim.loop = loop_new();
	loop_add_signals(shim.loop, sigs, (int)ARRAY_SIZE(sigs), shim_on_signal, &shim);
	if (paths_init(&shim.paths, &err) < 0 || shim_read_spec(&shim, &err) < 0 ||
	    shim_setup(&shim, &err) < 0)
		return shim_fail(&shim, &err);
	if (!freopen("/dev/null", "r", stdin))
		close(0);
	if (shim_write_pidfile(&shim, &err) < 0)
		fprintf(stderr, "trainctl-shim %lld: %s\n", (long long)shim.id, err.msg);
	shim_report_started(&shim);
	limits_started(&shim);
	shim_note_progress(&shim); /* the status file says which limits are in force */
	shim_watch(&shim);
	shim_reap(&shim);
	/* One shim per running job: hand start-up's scratch back, keep only what the job needs. */
	malloc_trim(0);
	loop_run(shim.loop);
	shim_release(&shim);
	return 0;
}
