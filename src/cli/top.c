/*
 * trainctl top; see top.h for how the pieces fit.
 *
 * The loop never blocks on anything but poll: requests to the daemon are
 * written (they are small) and their replies read as they come, so a daemon
 * that is slow, restarting or gone leaves the screen and the keys alive. A
 * refresh sends `ls`, `machine` and `samples` at once and waits for their
 * three replies before the next; when the connection drops, top shows
 * "reconnecting" and tries again each refresh, starting a daemon itself (as
 * every command does) only when none came back for a while, and at most once
 * every few seconds. Actions (stop, kill, pause, resume, restart) go on
 * connections of their own, because `stop` is answered only when the job has
 * ended: top stays live meanwhile and reports the result when it comes.
 */
#include "cli/top.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/attach.h"
#include "cli/client.h"
#include "lib/format.h"
#include "cli/log.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"

enum top_reply { REPLY_LS, REPLY_MACHINE, REPLY_SAMPLES };

#define TOP_SAMPLES_WINDOW_MS (5 * 60 * 1000) /* the sparklines' span */
#define TOP_SAMPLES_EVERY_MS 5000 /* a 5-minute sparkline moves little in a second */
#define TOP_AUTOSTART_AFTER_MS 2000           /* gone this long: start a daemon */
#define TOP_AUTOSTART_EVERY_MS 5000
#define TOP_TAIL_LINES 200
#define TOP_TAIL_BYTES (256 * 1024)
#define TOP_LOG_LINES 20000
#define TOP_LOG_BYTES (8 * 1024 * 1024)

enum { OPT_NO_COLOR = 256 };

static const struct opt_spec top_opts[] = {
	{ 'd', "delay", OPT_VALUE, "DUR", "refresh every DUR (default 1s; 2 means 2s, 500ms)" },
	{ OPT_NO_COLOR, "no-color", OPT_FLAG, NULL, "no colours (also when NO_COLOR is set)" },
	{ 0 },
};

/* ---- helpers shared with the drawing ---------------------------------------------------------- */

int64_t top_job_id(const json_t *job)
{
	return json_integer_value(json_object_get(job, "id"));
}

int64_t top_job_elapsed_ms(const json_t *job)
{
	int64_t start = parse_rfc3339_ms(json_string_value(json_object_get(job, "started_at")));
	int64_t end = parse_rfc3339_ms(json_string_value(json_object_get(job, "ended_at")));

	if (start < 0)
		return -1;
	return (end >= 0 ? end : time_now_ms()) - start;
}

json_t *top_selected(const struct top *t)
{
	return t->sel >= 0 && t->sel < t->nrows ? t->rows[t->sel] : NULL;
}

static const char *job_state(const json_t *job)
{
	const char *state = json_string_value(json_object_get(job, "state"));

	return state ? state : "";
}

static int job_is_final(const json_t *job)
{
	return job_state_is_final((enum job_state)job_state_parse(job_state(job)));
}

static void top_message(struct top *t, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void top_message(struct top *t, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->message, sizeof(t->message), fmt, ap);
	va_end(ap);
	t->message_ms = time_now_ms();
	t->message_error = error;
}

static void job_label(const json_t *job, char *buf, size_t size)
{
	struct strbuf label = STRBUF_INIT;

	format_job_label(job, &label);
	snprintf(buf, size, "%s", label.buf);
	strbuf_release(&label);
}

/* ---- the table: filter, sort, selection ------------------------------------------------------- */

static int job_matches(const struct top *t, const json_t *job)
{
	struct strbuf cmd = STRBUF_INIT;
	const char *name = json_string_value(json_object_get(job, "name"));
	char id[24];
	int match;

	if (t->hide_finished && job_is_final(job))
		return 0;
	if (!t->filter[0])
		return 1;
	snprintf(id, sizeof(id), "%lld", (long long)top_job_id(job));
	format_command(json_object_get(job, "command"), &cmd);
	match = !strcmp(id, t->filter) || (name && strcasestr(name, t->filter)) ||
		strcasestr(cmd.buf ? cmd.buf : "", t->filter);
	strbuf_release(&cmd);
	return match;
}

static double job_number(const json_t *job, const char *key)
{
	json_t *v = json_object_get(job, key);

	return json_is_number(v) ? json_number_value(v) : -1;
}

static int compare_numbers(double a, double b)
{
	return (a > b) - (a < b);
}

static int compare_strings(const char *a, const char *b)
{
	return strcasecmp(a ? a : "", b ? b : "");
}

/* The order of two jobs by one column; ties go by id. */
static int compare_jobs(const void *pa, const void *pb, void *data)
{
	const struct top *t = data;
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = 0;

	switch (t->sort) {
	case COL_ID:
		break;
	case COL_NAME:
		c = compare_strings(json_string_value(json_object_get(a, "name")),
				    json_string_value(json_object_get(b, "name")));
		break;
	case COL_STATE:
		c = compare_strings(job_state(a), job_state(b));
		break;
	case COL_PROGRESS:
		c = compare_numbers(job_number(json_object_get(a, "progress"), "ratio"),
				    job_number(json_object_get(b, "progress"), "ratio"));
		break;
	case COL_CPU:
		c = compare_numbers(job_number(a, "cpu_percent"), job_number(b, "cpu_percent"));
		break;
	case COL_MEM:
		c = compare_numbers(job_number(a, "rss_bytes"), job_number(b, "rss_bytes"));
		break;
	case COL_GPU:
		c = compare_numbers(job_number(a, "gpu_mem_bytes"), job_number(b, "gpu_mem_bytes"));
		break;
	case COL_ELAPSED:
		c = compare_numbers((double)top_job_elapsed_ms(a), (double)top_job_elapsed_ms(b));
		break;
	case COL_RESTARTS:
		c = compare_numbers(job_number(a, "restarts"), job_number(b, "restarts"));
		break;
	case COL_COUNT:
		break;
	}
	if (c == 0)
		c = compare_numbers((double)top_job_id(a), (double)top_job_id(b));
	return t->reverse ? -c : c;
}

/* Keep the selection in view. */
static void top_scroll_to_selection(struct top *t)
{
	int h = top_table_height(t);

	if (t->sel >= t->nrows)
		t->sel = t->nrows - 1;
	if (t->sel < 0)
		t->sel = t->nrows ? 0 : -1;
	if (t->sel >= 0 && t->sel < t->scroll)
		t->scroll = t->sel;
	if (h > 0 && t->sel >= t->scroll + h)
		t->scroll = t->sel - h + 1;
	if (t->scroll > t->nrows - h)
		t->scroll = t->nrows - h;
	if (t->scroll < 0)
		t->scroll = 0;
	t->sel_id = t->sel >= 0 ? top_job_id(t->rows[t->sel]) : 0;
}

/*
 * The rows from the latest `ls`: filtered and sorted. The selection stays on
 * its line, as in htop, or on its job when following one.
 */
static void top_rows_build(struct top *t)
{
	size_t i;
	json_t *job;

	t->nrows = 0;
	/* rows holds pointers to the job objects: sizeof(json_t *) is meant */
	t->rows = xreallocarray(t->rows, json_array_size(t->jobs) + 1,
				sizeof(*t->rows)); /* NOLINT(bugprone-sizeof-expression) */
	t->show_gpu = t->machine && json_array_size(json_object_get(t->machine, "gpus")) > 0;
	json_array_foreach(t->jobs, i, job) {
		if (json_is_number(json_object_get(job, "gpu_mem_bytes")))
			t->show_gpu = 1;
		if (job_matches(t, job))
			t->rows[t->nrows++] = job;
	}
	qsort_r(t->rows, (size_t)t->nrows, sizeof(*t->rows), /* NOLINT(bugprone-sizeof-expression) */
		compare_jobs, t);
	if (t->follow && t->sel_id) {
		int found = -1;
		for (int r = 0; r < t->nrows; r++) {
			if (top_job_id(t->rows[r]) == t->sel_id)
				found = r;
		}
		if (found < 0) {
			t->follow = 0;
			top_message(t, 0, "job %lld is no longer listed: not following it",
				    (long long)t->sel_id);
		} else {
			t->sel = found;
		}
	}
	top_scroll_to_selection(t);
}

static void top_select(struct top *t, int row)
{
	t->sel = row;
	top_scroll_to_selection(t);
}

/* ---- the daemon connection ------------------------------------------------------------------- */

static void top_disconnect(struct top *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->nexpect = 0;
	strbuf_reset(&t->in);
	if (!t->lost_ms)
		t->lost_ms = time_now_ms();
}

static int top_send(struct top *t, json_t *req, enum top_reply kind)
{
	int ret = proto_send(t->fd, req, NULL);

	json_decref(req);
	if (ret < 0)
		return -1;
	t->expect[t->nexpect++] = kind;
	return 0;
}

/* Connect when there is no connection: a daemon is started only after a while without one. */
static void top_reconnect(struct top *t)
{
	int64_t now = time_now_ms();
	int autostart = now - t->lost_ms >= TOP_AUTOSTART_AFTER_MS &&
			now - t->autostart_ms >= TOP_AUTOSTART_EVERY_MS;
	struct err err = { 0 };

	if (autostart)
		t->autostart_ms = now;
	t->fd = client_connect(&t->ctx->paths, autostart, &err);
	if (t->fd < 0)
		return;
	fcntl(t->fd, F_SETFD, FD_CLOEXEC);
	t->lost_ms = 0;
}

/* One refresh's requests: the jobs, the machine, the selected job's recent samples. */
static void top_request(struct top *t)
{
	json_t *sel = top_selected(t);
	json_t *req;

	if (t->fd < 0)
		top_reconnect(t);
	if (t->fd < 0 || t->nexpect > 0)
		return;
	req = proto_request("ls");
	json_object_set_new(req, "all", json_true());
	if (top_send(t, req, REPLY_LS) < 0 || top_send(t, proto_request("machine"), REPLY_MACHINE) < 0)
		goto lost;
	/* The sparklines: afresh for a newly selected job, else every few seconds. */
	if (sel && (top_job_id(sel) != t->samples_id ||
		    time_now_ms() - t->samples_ms >= TOP_SAMPLES_EVERY_MS)) {
		req = proto_request("samples");
		json_object_set_new(req, "jobs", json_pack("[I]", (json_int_t)top_job_id(sel)));
		json_object_set_new(req, "since_ms",
				    json_integer(time_now_ms() - TOP_SAMPLES_WINDOW_MS));
		if (top_send(t, req, REPLY_SAMPLES) < 0)
			goto lost;
		t->samples_id = top_job_id(sel);
		t->samples_ms = time_now_ms();
	}
	t->sent_ms = time_now_ms();
	return;
lost:
	top_disconnect(t);
}

static void top_on_reply(struct top *t, enum top_reply kind, json_t *reply)
{
	struct err err = { 0 };
	int ok = proto_reply_check(reply, &err) == 0;

	switch (kind) {
	case REPLY_LS:
		if (!ok)
			break;
		json_decref(t->jobs);
		t->jobs = json_incref(json_object_get(reply, "jobs"));
		break;
	case REPLY_MACHINE:
		json_decref(t->machine);
		t->machine = ok ? json_incref(reply) : NULL;
		snprintf(t->machine_error, sizeof(t->machine_error), "%s", ok ? "" : err.msg);
		break;
	case REPLY_SAMPLES:
		json_decref(t->samples);
		t->samples = ok ? json_incref(json_object_get(reply, "samples")) : NULL;
		break;
	}
	if (!ok && kind == REPLY_LS)
		top_message(t, 1, "%s", err.msg);
	json_decref(reply);
}

static void top_on_socket(struct top *t)
{
	char buf[65536];
	ssize_t n = read(t->fd, buf, sizeof(buf));
	json_t *reply;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		top_disconnect(t);
		return;
	}
	strbuf_add(&t->in, buf, (size_t)n);
	while (t->nexpect > 0 && proto_take_line(&t->in, &reply, NULL) == 1) {
		enum top_reply kind = (enum top_reply)t->expect[0];

		memmove(t->expect, t->expect + 1, (size_t)--t->nexpect * sizeof(*t->expect));
		if (!reply) {
			top_disconnect(t);
			return;
		}
		top_on_reply(t, kind, reply);
		top_rows_build(t); /* the rows point into the jobs array just replaced */
	}
}

/* ---- actions on a job ------------------------------------------------------------------------- */

static void action_release(struct top_action *a)
{
	if (a->fd >= 0)
		close(a->fd);
	strbuf_release(&a->in);
}

/* Send op for the job on a connection of its own; the reply is read by the loop. */
static void top_action_start(struct top *t, const char *op, int64_t id)
{
	json_t *req = proto_request(op);
	struct top_action a = { .fd = -1 };
	struct err err = { 0 };
	json_t *job = NULL;

	for (int r = 0; r < t->nrows; r++) {
		if (top_job_id(t->rows[r]) == id)
			job = t->rows[r];
	}
	snprintf(a.op, sizeof(a.op), "%s", op);
	if (job)
		job_label(job, a.label, sizeof(a.label));
	else
		snprintf(a.label, sizeof(a.label), "%lld", (long long)id);
	json_object_set_new(req, "jobs", json_pack("[I]", (json_int_t)id));
	a.fd = client_connect(&t->ctx->paths, 0, &err);
	if (a.fd < 0 || proto_send(a.fd, req, &err) < 0) {
		json_decref(req);
		action_release(&a);
		top_message(t, 1, "%s %s: %s", op, a.label, err.msg);
		return;
	}
	json_decref(req);
	fcntl(a.fd, F_SETFD, FD_CLOEXEC);
	t->actions = xreallocarray(t->actions, t->nactions + 1, sizeof(*t->actions));
	t->actions[t->nactions++] = a;
	top_message(t, 0, "%s %s ...", op, a.label);
}

/* What an action without results did, for the message. */
static const char *action_done(const char *op)
{
	static const char *const done[][2] = {
		{ "pause", "paused" }, { "resume", "resumed" }, { "kill", "SIGKILL sent to its tree" },
		{ "restart", "restarting" }, { "stop", "stopped" },
	};

	for (size_t i = 0; i < sizeof(done) / sizeof(*done); i++) {
		if (!strcmp(op, done[i][0]))
			return done[i][1];
	}
	return "done";
}

/* What an answered action did: "3 (sim): stopped (exit 0 after SIGTERM)". */
static void action_report(struct top *t, const struct top_action *a, json_t *reply)
{
	struct err err = { 0 };
	json_t *results = json_object_get(reply, "results");
	struct strbuf state = STRBUF_INIT;

	if (proto_reply_check(reply, &err) < 0) {
		top_message(t, 1, "%s %s: %s", a->op, a->label, err.msg);
		return;
	}
	if (json_array_size(results) > 0) {
		format_job_state(json_array_get(results, 0), &state);
		top_message(t, 0, "%s: %s", a->label, state.buf);
	} else {
		top_message(t, 0, "%s: %s", a->label, action_done(a->op));
	}
	strbuf_release(&state);
}

/* Read an action's reply; 1 when it is over. */
static int action_on_socket(struct top *t, struct top_action *a)
{
	char buf[4096];
	ssize_t n = read(a->fd, buf, sizeof(buf));
	json_t *reply = NULL;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		top_message(t, 1, "%s %s: the daemon went away before answering", a->op, a->label);
		return 1;
	}
	strbuf_add(&a->in, buf, (size_t)n);
	if (proto_take_line(&a->in, &reply, NULL) == 0)
		return 0;
	if (reply)
		action_report(t, a, reply);
	json_decref(reply);
	t->next_tick_ms = 0; /* show what it changed at once */
	return 1;
}

/* The actions polled (the first npolled: a key may have added one since) that answered. */
static void top_actions_poll(struct top *t, const struct pollfd *fds, size_t npolled)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->nactions; i++) {
		if (i < npolled && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    action_on_socket(t, &t->actions[i])) {
			action_release(&t->actions[i]);
			continue;
		}
		t->actions[kept++] = t->actions[i];
	}
	t->nactions = kept;
}

/* ---- the log tail, the log view and the diagnose view ----------------------------------------- */

/* Has the file changed since (*size, *mtime_ns)? Updates them. */
static int file_changed(const char *path, off_t *size, int64_t *mtime_ns)
{
	struct stat st;
	int64_t mtime;

	if (stat(path, &st) < 0)
		st.st_size = -1, st.st_mtim.tv_sec = 0, st.st_mtim.tv_nsec = 0;
	mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (st.st_size == *size && mtime == *mtime_ns)
		return 0;
	*size = st.st_size;
	*mtime_ns = mtime;
	return 1;
}

/* The selected job's last log lines, read again when its log has changed. */
static void top_tail_update(struct top *t)
{
	json_t *sel = top_selected(t);
	char *path;

	if (!sel) {
		strbuf_reset(&t->tail);
		t->tail_id = 0;
		return;
	}
	if (top_job_id(sel) != t->tail_id) {
		t->tail_id = top_job_id(sel);
		t->tail_size = -2;
	}
	path = paths_job_log(&t->ctx->paths, t->tail_id);
	if (file_changed(path, &t->tail_size, &t->tail_mtime_ns)) {
		strbuf_reset(&t->tail);
		log_tail_plain(path, TOP_TAIL_LINES, TOP_TAIL_BYTES, &t->tail);
	}
	free(path);
}

/* Index the lines of the text's body. */
static void text_index(struct top_text *x)
{
	size_t start = 0;

	x->nlines = 0;
	for (size_t i = 0; i <= x->body.len; i++) {
		if (i < x->body.len && x->body.buf[i] != '\n')
			continue;
		if (i == x->body.len && i == start)
			break;
		x->lines = xreallocarray(x->lines, x->nlines + 1, sizeof(*x->lines));
		x->lines[x->nlines++] = start;
		start = i + 1;
	}
	if (x->at_end)
		x->first = x->nlines;
}

static void text_close(struct top_text *x)
{
	int status;

	if (x->child > 0) {
		kill(x->child, SIGTERM);
		waitpid(x->child, &status, 0);
	}
	if (x->pipe_fd >= 0)
		close(x->pipe_fd);
	strbuf_release(&x->body);
	free(x->lines);
	free(x->log_path);
	memset(x, 0, sizeof(*x));
	x->pipe_fd = -1;
}

static void text_reload_log(struct top_text *x)
{
	if (!file_changed(x->log_path, &x->log_size, &x->log_mtime_ns))
		return;
	strbuf_reset(&x->body);
	log_tail_plain(x->log_path, TOP_LOG_LINES, TOP_LOG_BYTES, &x->body);
	if (!x->body.len)
		strbuf_addstr(&x->body, "(no output yet)\n");
	text_index(x);
}

static void top_open_log(struct top *t, const json_t *job)
{
	struct top_text *x = &t->text;
	char label[128];

	text_close(x);
	job_label(job, label, sizeof(label));
	snprintf(x->title, sizeof(x->title), "log of job %s", label);
	x->job_id = top_job_id(job);
	x->log_path = paths_job_log(&t->ctx->paths, x->job_id);
	x->log_size = -2;
	x->at_end = 1;
	text_reload_log(x);
	t->back = t->view == VIEW_TEXT ? VIEW_MAIN : t->view;
	t->view = VIEW_TEXT;
}

/* In the child: `trainctl diagnose ID` with its output into the pipe. */
static void diagnose_exec(const char *exe, char *const *argv, char *const *envp, int out)
{
	sigset_t none;
	int null = open("/dev/null", O_RDONLY);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	execve(exe, argv, envp);
	_exit(127);
}

/* The environment with NO_COLOR=1 (built before fork; the strings are environ's). */
static char **env_no_color(void)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **envp;

	while (environ[n])
		n++;
	envp = xreallocarray(NULL, n + 2, sizeof(*envp));
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "NO_COLOR=", 9))
			envp[k++] = environ[i];
	}
	envp[k++] = "NO_COLOR=1";
	envp[k] = NULL;
	return envp;
}

static void top_open_diagnose(struct top *t, const json_t *job)
{
	struct top_text *x = &t->text;
	char id[24], label[128];
	char *argv[] = { "trainctl", "diagnose", id, NULL };
	char **envp = env_no_color();
	int pipefd[2];

	text_close(x);
	job_label(job, label, sizeof(label));
	snprintf(id, sizeof(id), "%lld", (long long)top_job_id(job));
	snprintf(x->title, sizeof(x->title), "trainctl diagnose %s", label);
	x->job_id = top_job_id(job);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free(envp);
		top_message(t, 1, "diagnose: pipe: %s", strerror(errno));
		return;
	}
	x->child = fork();
	if (x->child == 0)
		diagnose_exec("/proc/self/exe", argv, envp, pipefd[1]);
	free(envp);
	close(pipefd[1]);
	if (x->child < 0) {
		close(pipefd[0]);
		x->child = 0;
		top_message(t, 1, "diagnose: fork: %s", strerror(errno));
		return;
	}
	x->pipe_fd = pipefd[0];
	fcntl(x->pipe_fd, F_SETFL, O_NONBLOCK);
	strbuf_addf(&x->body, "running trainctl diagnose %s ...\n", id);
	x->waiting = 1;
	text_index(x);
	t->back = t->view == VIEW_TEXT ? VIEW_MAIN : t->view;
	t->view = VIEW_TEXT;
}

/* Output of the diagnose command; at its end, how it exited. */
static void text_on_pipe(struct top_text *x)
{
	char buf[65536];
	ssize_t n = read(x->pipe_fd, buf, sizeof(buf));
	int status;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (x->waiting)
		strbuf_reset(&x->body);
	x->waiting = 0;
	if (n > 0) {
		strbuf_add(&x->body, buf, (size_t)n);
		text_index(x);
		return;
	}
	close(x->pipe_fd);
	x->pipe_fd = -1;
	waitpid(x->child, &status, 0);
	x->child = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		strbuf_addf(&x->body, "\n[diagnose exited with status %d]\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		strbuf_addf(&x->body, "\n[diagnose killed by %s]\n", signal_name(WTERMSIG(status)));
	text_index(x);
}

/* ---- attach ----------------------------------------------------------------------------------- */

/*
 * Make curses take the terminal's current size. The terminal has reflowed
 * what it showed, so the next frame is drawn whole, once.
 */
static void top_resize(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
		resize_term(ws.ws_row, ws.ws_col);
	clearok(curscr, TRUE);
}

/* Leave the screen, be the job's terminal until detach, then come back. */
static void top_attach(struct top *t, const json_t *job)
{
	struct cmd_ctx *ctx = t->ctx;
	int key = attach_detach_key(ctx, NULL);
	int status, end;
	char label[128];

	job_label(job, label, sizeof(label));
	memset(&ctx->err, 0, sizeof(ctx->err));
	if (key < 0) {
		top_message(t, 1, "%s", ctx->err.msg);
		return;
	}
	def_prog_mode();
	endwin();
	end = attach_job(ctx, job, 0, key, &status);
	reset_prog_mode();
	top_resize();
	if (end < 0)
		top_message(t, 1, "%s", ctx->err.msg);
	else if (end == ATTACH_JOB_ENDED)
		top_message(t, 0, "job %s ended (status %d)", label, status);
	else
		top_message(t, 0, "detached from job %s", label);
	memset(&ctx->err, 0, sizeof(ctx->err));
	t->next_tick_ms = 0;
}

/* ---- keys ------------------------------------------------------------------------------------- */

#define KEY_ESC 27
#define KEY_CTRL_L 12

static void top_confirm(struct top *t, const char *op, const json_t *job, const char *question)
{
	char label[128];

	job_label(job, label, sizeof(label));
	snprintf(t->confirm_op, sizeof(t->confirm_op), "%s", op);
	t->confirm_id = top_job_id(job);
	snprintf(t->confirm_text, sizeof(t->confirm_text), "%s job %s? [y/N]", question, label);
	t->prompt = PROMPT_CONFIRM;
}

static void top_prompt_start(struct top *t, enum top_prompt prompt, const char *text)
{
	t->prompt = prompt;
	strbuf_reset(&t->input);
	strbuf_addstr(&t->input, text);
}

/* Find the next (dir 1) or previous (dir -1) line of the text with the search term. */
static void text_search(struct top *t, size_t from, int dir)
{
	struct top_text *x = &t->text;
	size_t n = x->nlines;

	if (!x->search[0] || n == 0)
		return;
	for (size_t k = 0; k < n; k++) {
		size_t i = (from + n + (size_t)dir * k) % n;
		size_t end = i + 1 < n ? x->lines[i + 1] - 1 : x->body.len;
		char *line = xstrndup(x->body.buf + x->lines[i], end - x->lines[i]);
		int hit = strcasestr(line, x->search) != NULL;

		free(line);
		if (hit) {
			x->first = i;
			x->at_end = 0;
			return;
		}
	}
	top_message(t, 1, "not found: %s", x->search);
}

/* Remove the last (UTF-8) character of the input. */
static void input_backspace(struct strbuf *in)
{
	while (in->len > 0) {
		unsigned char c = (unsigned char)in->buf[--in->len];
		if ((c & 0xc0) != 0x80)
			break;
	}
	in->buf[in->len] = '\0';
}

/* The text the prompt holds now takes effect (a filter or a search, as typed). */
static void prompt_apply(struct top *t)
{
	const char *text = strbuf_str(&t->input);

	if (t->prompt == PROMPT_FILTER) {
		snprintf(t->filter, sizeof(t->filter), "%s", text);
		top_rows_build(t);
	} else if (t->prompt == PROMPT_SEARCH) {
		snprintf(t->text.search, sizeof(t->text.search), "%s", text);
		text_search(t, t->text.first, 1);
	}
}

static void prompt_key(struct top *t, int ch)
{
	if (t->prompt == PROMPT_CONFIRM) {
		t->prompt = PROMPT_NONE;
		if (ch == 'y' || ch == 'Y')
			top_action_start(t, t->confirm_op, t->confirm_id);
		else
			top_message(t, 0, "cancelled");
		return;
	}
	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		t->prompt = PROMPT_NONE;
	} else if (ch == KEY_ESC) {
		strbuf_reset(&t->input);
		prompt_apply(t);
		t->prompt = PROMPT_NONE;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		input_backspace(&t->input);
		prompt_apply(t);
	} else if (ch >= ' ' && ch < 256 && t->input.len < 100) {
		strbuf_addch(&t->input, (char)ch);
		prompt_apply(t);
	}
}

static void text_key(struct top *t, int ch)
{
	struct top_text *x = &t->text;
	size_t page = LINES > 3 ? (size_t)LINES - 2 : 1;
	size_t last = x->nlines > page ? x->nlines - page : 0;

	if (x->first > last)
		x->first = last;
	x->at_end = 0;
	switch (ch) {
	case KEY_UP: case 'k': x->first = x->first ? x->first - 1 : 0; break;
	case KEY_DOWN: case 'j': x->first++; break;
	case KEY_PPAGE: case 'b': x->first = x->first > page ? x->first - page : 0; break;
	case KEY_NPAGE: case ' ': x->first += page; break;
	case KEY_HOME: case 'g': x->first = 0; break;
	case KEY_END: case 'G': x->first = last; break;
	case '/': top_prompt_start(t, PROMPT_SEARCH, ""); break;
	case 'n': text_search(t, x->first + 1, 1); break;
	case 'N': text_search(t, x->first + x->nlines - 1, -1); break;
	case 'q': case KEY_ESC: case KEY_LEFT: case 'h':
		text_close(x);
		t->view = t->back;
		return;
	}
	if (x->first >= last) {
		x->first = last;
		x->at_end = 1;
	}
}

static void sort_step(struct top *t, int step)
{
	t->sort = (enum top_column)((t->sort + COL_COUNT + step) % COL_COUNT);
	if (t->sort == COL_GPU && !t->show_gpu)
		t->sort = (enum top_column)((t->sort + COL_COUNT + step) % COL_COUNT);
	top_rows_build(t);
}

/* A click: on the table's header it sorts by that column, on a row it selects it. */
static void mouse_key(struct top *t)
{
	MEVENT ev;

	if (getmouse(&ev) != OK)
		return;
	if (ev.bstate & BUTTON4_PRESSED) {
		top_select(t, t->sel - 3);
	} else if (ev.bstate & BUTTON5_PRESSED) {
		top_select(t, t->sel + 3);
	} else if ((ev.bstate & BUTTON1_PRESSED) && ev.y == t->table_y && t->table_h > 0) {
		for (int c = 0; c < COL_COUNT; c++) {
			if (t->col_w[c] > 0 && ev.x >= t->col_x[c] && ev.x < t->col_x[c] + t->col_w[c]) {
				t->reverse = t->sort == (enum top_column)c ? !t->reverse : t->reverse;
				t->sort = (enum top_column)c;
			}
		}
		top_rows_build(t);
	} else if ((ev.bstate & BUTTON1_PRESSED) && ev.y > t->table_y &&
		   ev.y <= t->table_y + t->table_h && t->scroll + ev.y - t->table_y - 1 < t->nrows) {
		top_select(t, t->scroll + ev.y - t->table_y - 1);
	}
}

/* Keys that act on the selected job. Returns 1 when ch was one of them. */
static int job_key(struct top *t, int ch, json_t *job)
{
	switch (ch) {
	case 's': top_confirm(t, "stop", job, "Stop (gracefully)"); return 1;
	case 'K': top_confirm(t, "kill", job, "Kill (SIGKILL)"); return 1;
	case 'r': top_confirm(t, "restart", job, "Restart"); return 1;
	case 'p':
		top_action_start(t, strcmp(job_state(job), "paused") ? "pause" : "resume",
				 top_job_id(job));
		return 1;
	case 'a': top_attach(t, job); return 1;
	case 'l': top_open_log(t, job); return 1;
	case 'd': top_open_diagnose(t, job); return 1;
	case 'F':
		t->follow = !t->follow;
		t->sel_id = top_job_id(job);
		top_message(t, 0, t->follow ? "following job %lld" : "not following job %lld",
			    (long long)t->sel_id);
		return 1;
	}
	return 0;
}

static void main_key(struct top *t, int ch)
{
	json_t *job = top_selected(t);
	int page = top_table_height(t) > 1 ? top_table_height(t) - 1 : 1;

	if (job && job_key(t, ch, job))
		return;
	switch (ch) {
	case KEY_UP: case 'k': top_select(t, t->sel - 1); break;
	case KEY_DOWN: case 'j': top_select(t, t->sel + 1); break;
	case KEY_PPAGE: top_select(t, t->sel - page); break;
	case KEY_NPAGE: top_select(t, t->sel + page); break;
	case KEY_HOME: case 'g': top_select(t, 0); break;
	case KEY_END: case 'G': top_select(t, t->nrows - 1); break;
	case '\n': case '\r': case KEY_ENTER:
		t->view = t->view == VIEW_DETAIL ? VIEW_MAIN : VIEW_DETAIL;
		break;
	case '<': sort_step(t, -1); break;
	case '>': sort_step(t, 1); break;
	case 'I': t->reverse = !t->reverse; top_rows_build(t); break;
	case 'H': t->hide_finished = !t->hide_finished; top_rows_build(t); break;
	case '/': top_prompt_start(t, PROMPT_FILTER, t->filter); break;
	case KEY_ESC:
		if (t->view == VIEW_DETAIL)
			t->view = VIEW_MAIN;
		else if (t->filter[0])
			t->filter[0] = '\0', top_rows_build(t);
		break;
	case '?': case 'h': case KEY_F(1):
		t->back = t->view;
		t->view = VIEW_HELP;
		break;
	case 'q': case KEY_F(10):
		if (t->view == VIEW_DETAIL)
			t->view = VIEW_MAIN;
		else
			t->quit = 1;
		break;
	case KEY_MOUSE: mouse_key(t); break;
	case 's': case 'K': case 'r': case 'p': case 'a': case 'l': case 'd': case 'F':
		top_message(t, 1, "no job selected");
		break;
	}
}

static void top_on_key(struct top *t, int ch)
{
	if (ch == KEY_CTRL_L) {
		clearok(curscr, TRUE);
	} else if (ch == KEY_RESIZE) {
		top_scroll_to_selection(t);
	} else if (t->prompt != PROMPT_NONE) {
		prompt_key(t, ch);
	} else if (t->view == VIEW_HELP) {
		t->view = t->back;
	} else if (t->view == VIEW_TEXT) {
		text_key(t, ch);
	} else {
		main_key(t, ch);
	}
}

/* ---- the loop --------------------------------------------------------------------------------- */

static void top_on_signal(struct top *t)
{
	struct signalfd_siginfo si;

	while (read(t->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			top_resize();
			top_scroll_to_selection(t);
		} else {
			t->quit = 1;
		}
	}
}

static void top_tick(struct top *t)
{
	top_request(t);
	if (t->view == VIEW_TEXT && t->text.log_path)
		text_reload_log(&t->text);
	t->next_tick_ms = time_now_ms() + t->delay_ms;
}

enum { FD_KEYS, FD_SIGNALS, FD_DAEMON, FD_DIAGNOSE, FD_ACTIONS };

static void top_loop(struct top *t)
{
	struct pollfd *fds = NULL;
	int dirty = 1;

	while (!t->quit) {
		size_t npolled;
		int64_t wait;
		int ch;

		if (time_now_ms() >= t->next_tick_ms) {
			top_tick(t);
			dirty = 1;
		}
		if (dirty) { /* not between the replies of one refresh */
			top_tail_update(t);
			top_draw(t);
		}
		fds = xreallocarray(fds, FD_ACTIONS + t->nactions, sizeof(*fds));
		fds[FD_KEYS] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		fds[FD_SIGNALS] = (struct pollfd){ .fd = t->sigfd, .events = POLLIN };
		fds[FD_DAEMON] = (struct pollfd){ .fd = t->fd, .events = POLLIN };
		fds[FD_DIAGNOSE] = (struct pollfd){ .fd = t->text.pipe_fd, .events = POLLIN };
		for (size_t i = 0; i < t->nactions; i++)
			fds[FD_ACTIONS + i] = (struct pollfd){ .fd = t->actions[i].fd, .events = POLLIN };
		wait = t->next_tick_ms - time_now_ms();
		npolled = t->nactions;
		if (poll(fds, FD_ACTIONS + npolled, wait < 0 ? 0 : (int)wait) < 0 && errno != EINTR)
			break;
		if (fds[FD_SIGNALS].revents & POLLIN)
			top_on_signal(t);
		if (fds[FD_KEYS].revents & POLLIN) {
			while (!t->quit && (ch = getch()) != ERR)
				top_on_key(t, ch);
		}
		if (t->fd >= 0 && (fds[FD_DAEMON].revents & (POLLIN | POLLHUP | POLLERR)))
			top_on_socket(t);
		if (t->text.pipe_fd >= 0 && (fds[FD_DIAGNOSE].revents & (POLLIN | POLLHUP | POLLERR)))
			text_on_pipe(&t->text);
		top_actions_poll(t, fds + FD_ACTIONS, npolled);
		/* redraw, unless all that came is part of a refresh's replies */
		dirty = t->nexpect == 0 || fds[FD_DAEMON].revents == 0;
	}
	free(fds);
}

/* ---- the command ------------------------------------------------------------------------------ */

/* -d: seconds ("2", "0.5") or a duration ("500ms", "2s"); 100 ms to 1 hour. */
static int top_parse_delay(struct cmd_ctx *ctx, int64_t *ms)
{
	const char *text = opt_value(ctx, 'd');
	char *end;
	double seconds;

	*ms = 1000;
	if (!text)
		return 0;
	seconds = strtod(text, &end);
	if (end != text && !*end)
		*ms = (int64_t)(seconds * 1000);
	else if (parse_duration_ms(text, ms, NULL) < 0)
		*ms = -1;
	if (*ms < 100 || *ms > 3600 * 1000)
		return err_usage(&ctx->err, "top: invalid --delay '%s' (expected seconds such as 1 "
					    "or 0.5, or a duration such as 500ms or 2s; 100ms to 1h)",
				 text);
	return 0;
}

/* Start curses on the terminal; the signals top handles come through a signalfd. */
static int top_screen_init(struct top *t, sigset_t *saved)
{
	const char *term = getenv("TERM");
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, saved);
	t->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	setlocale(LC_ALL, "");
	t->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	if (!newterm(NULL, stdout, stdin))
		return err_set(&t->ctx->err, "top: cannot drive a terminal of type '%s' (check TERM)",
			       term ? term : "");
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	mouseinterval(0);
	mousemask(BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
	top_colors_init(t);
	return 0;
}

static void top_release(struct top *t)
{
	text_close(&t->text);
	for (size_t i = 0; i < t->nactions; i++)
		action_release(&t->actions[i]);
	free(t->actions);
	if (t->fd >= 0)
		close(t->fd);
	if (t->sigfd >= 0)
		close(t->sigfd);
	json_decref(t->jobs);
	json_decref(t->machine);
	json_decref(t->samples);
	free(t->rows);
	strbuf_release(&t->in);
	strbuf_release(&t->input);
	strbuf_release(&t->tail);
}

static int top_main(struct cmd_ctx *ctx)
{
	struct top t = { .ctx = ctx, .fd = -1, .sigfd = -1, .sel = -1 };
	const char *no_color;
	sigset_t saved;
	int ret;

	t.text.pipe_fd = -1;
	no_color = getenv("NO_COLOR");
	t.color = !opt_count(ctx, OPT_NO_COLOR) && !(no_color && *no_color);
	if (top_parse_delay(ctx, &t.delay_ms) < 0)
		return -1;
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return err_set(&ctx->err, "top needs a terminal (use 'trainctl ls --json' in scripts)");
	t.fd = client_connect(&ctx->paths, 1, &ctx->err);
	if (t.fd < 0)
		return -1;
	fcntl(t.fd, F_SETFD, FD_CLOEXEC);
	ret = top_screen_init(&t, &saved);
	if (ret == 0) {
		top_loop(&t);
		endwin();
	}
	top_release(&t);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return ret;
}

const struct cmd_entry cmd_top = {
	.name = "top",
	.synopsis = "",
	.brief = "live full-screen view of jobs, GPUs and the machine",
	.summary = "A live view of the machine (CPUs, memory, swap, load, GPUs) and the jobs\n"
		   "(state, progress, CPU, memory, GPU, elapsed time, restarts), with the\n"
		   "selected job's resource sparklines and last log lines. Keys act on the\n"
		   "selected job: s stop, K kill, p pause/resume, r restart, a attach, l log,\n"
		   "d diagnose; / filters, < > sort, F follows a job, ? lists every key.",
	.details = "Everything comes from the daemon, once per refresh; when the daemon restarts,\n"
		   "top says so and reconnects. Colours follow the terminal's palette; NO_COLOR\n"
		   "or --no-color turns them off.",
	.opts = top_opts,
	.fn = top_main,
};
