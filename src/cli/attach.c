/*
 * trainctl attach: become a job's terminal, like `tmux attach`. The terminal
 * goes to raw mode; the job's recent output is replayed, then its live
 * output follows; keystrokes go to the job, the window size follows every
 * SIGWINCH; the detach key (Ctrl-\ by default) leaves the job running. The
 * terminal is restored on detach, when the job ends, and on any error or
 * SIGTERM/SIGHUP.
 */
#include "cli/attach.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli/client.h"
#include "lib/format.h"
#include "lib/frame.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define DEFAULT_DETACH_KEY 0x1c /* Ctrl-\ */

struct session {
	int sock;
	int sigfd;
	int readonly;
	int detach_key;
	int raw;
	struct termios saved;
	struct strbuf in;
	int status;
	int ended;
	char label[128];
	char ending[512];
};

int attach_detach_key(struct cmd_ctx *ctx, const char *option)
{
	const char *text = option ? option : getenv("TRAINCTL_DETACH_KEY");
	int key = DEFAULT_DETACH_KEY;

	if (text && *text && parse_control_key(text, &key, &ctx->err) < 0)
		return -1;
	return key;
}

static void window_size(unsigned *rows, unsigned *cols)
{
	struct winsize ws = { 0 };

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		ws.ws_row = ws.ws_col = 0;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
}

static void session_raw(struct session *s)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s->saved) < 0)
		return;
	raw = s->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		s->raw = 1;
}

static void session_restore(struct session *s)
{
	if (s->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &s->saved);
	s->raw = 0;
}

static int session_send(struct session *s, enum frame_type type, const void *data, size_t len)
{
	struct strbuf frame = STRBUF_INIT;
	int ret;

	frame_append(&frame, type, data, len);
	ret = write_all(s->sock, frame.buf, frame.len);
	strbuf_release(&frame);
	return ret;
}

static void session_resize(struct session *s)
{
	unsigned rows, cols;
	char payload[4];

	window_size(&rows, &cols);
	if (s->readonly || rows == 0 || cols == 0)
		return;
	frame_resize_encode(rows, cols, payload);
	session_send(s, FRAME_RESIZE, payload, sizeof(payload));
}

/* Keystrokes: forward all before the detach key; 1 when it was pressed. */
static int session_on_keys(struct session *s)
{
	char buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	char *key;

	if (n <= 0)
		return n == 0 ? 1 : (errno == EINTR || errno == EAGAIN ? 0 : 1);
	key = memchr(buf, s->detach_key, (size_t)n);
	if (key)
		n = key - buf;
	if (n > 0 && !s->readonly)
		session_send(s, FRAME_INPUT, buf, (size_t)n);
	return key != NULL;
}

/* How the job ended, from the exit record in an EXIT frame. */
static void session_on_exit(struct session *s, const char *payload)
{
	json_t *obj = json_loads(payload, 0, NULL);
	struct job_exit ex;
	char reason[256];

	if (obj && job_exit_from_json(obj, &ex) == 0) {
		enum job_state state = job_exit_classify(&ex, reason, sizeof(reason));
		s->status = job_exit_status(&ex);
		s->ended = 1;
		snprintf(s->ending, sizeof(s->ending), "[%s ended: %s (%s)]", s->label,
			 job_state_name(state), reason);
	}
	json_decref(obj);
}

/* Show the frames received so far; -1 when the stream is not frames. */
static int session_process(struct session *s)
{
	char *payload;
	size_t len;
	int type, ret;

	while ((ret = frame_take(&s->in, &type, &payload, &len)) == 1) {
		if (type == FRAME_OUTPUT)
			write_all(STDOUT_FILENO, payload, len);
		else if (type == FRAME_EXIT)
			session_on_exit(s, payload);
		free(payload);
	}
	return ret;
}

/* Output and the end notice from the shim; returns 1 when the session is over. */
static int session_on_socket(struct session *s)
{
	char buf[65536];
	ssize_t n = read(s->sock, buf, sizeof(buf));

	if (n <= 0) {
		if (!s->ending[0])
			snprintf(s->ending, sizeof(s->ending), "[lost the connection to %s]", s->label);
		return 1;
	}
	strbuf_add(&s->in, buf, (size_t)n);
	return session_process(s) < 0;
}

/* Returns 1 when the session must end (a terminating signal). */
static int session_on_signal(struct session *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			session_resize(s);
			continue;
		}
		snprintf(s->ending, sizeof(s->ending), "[detached from %s: %s]", s->label,
			 signal_name((int)si.ssi_signo));
		return 1;
	}
	return 0;
}

static enum attach_end session_loop(struct session *s)
{
	struct pollfd fds[3] = {
		{ .fd = s->sock, .events = POLLIN },
		{ .fd = s->sigfd, .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	nfds_t nfds = isatty(STDIN_FILENO) ? 3 : 2;

	for (;;) {
		if (poll(fds, nfds, -1) < 0 && errno != EINTR)
			break;
		if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && session_on_socket(s))
			return s->ended ? ATTACH_JOB_ENDED : ATTACH_DETACHED;
		if ((fds[1].revents & POLLIN) && session_on_signal(s))
			break;
		if (nfds == 3 && (fds[2].revents & (POLLIN | POLLHUP)) && session_on_keys(s)) {
			snprintf(s->ending, sizeof(s->ending), "[detached from %s]", s->label);
			break;
		}
	}
	return ATTACH_DETACHED;
}

/* Connect to the job's shim and ask to attach; the reply says whether it can. */
static int session_open(struct cmd_ctx *ctx, struct session *s, int64_t id)
{
	char *path = paths_job_sock(&ctx->paths, id);
	json_t *req = proto_request("attach");
	struct strbuf buf = STRBUF_INIT;
	json_t *reply = NULL;
	unsigned rows, cols;

	window_size(&rows, &cols);
	json_object_set_new(req, "readonly", json_boolean(s->readonly));
	json_object_set_new(req, "rows", json_integer(rows));
	json_object_set_new(req, "cols", json_integer(cols));
	s->sock = sock_connect(path, &ctx->err);
	free(path);
	if (s->sock >= 0 && proto_send(s->sock, req, &ctx->err) == 0)
		reply = proto_recv(s->sock, &buf, &ctx->err);
	json_decref(req);
	if (reply && proto_reply_check(reply, &ctx->err) == 0)
		strbuf_add(&s->in, buf.buf ? buf.buf : "", buf.len); /* frames that came along */
	strbuf_release(&buf);
	if (!reply || ctx->err.msg[0]) {
		char why[sizeof(ctx->err.msg)];

		json_decref(reply);
		snprintf(why, sizeof(why), "%s", ctx->err.msg);
		return err_set(&ctx->err, "cannot attach to %s: %s", s->label, why);
	}
	json_decref(reply);
	return 0;
}

static int session_signals(struct session *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return s->sigfd;
}

/* A job that cannot be attached to gets a message saying what to do instead. */
static int attach_check(struct cmd_ctx *ctx, const json_t *job, const char *label)
{
	const char *state = json_string_value(json_object_get(job, "state"));
	json_t *spec = json_object_get(job, "spec");
	long long id = (long long)json_integer_value(json_object_get(job, "id"));

	if (state && job_state_is_final((enum job_state)job_state_parse(state)))
		return err_set(&ctx->err, "%s has ended (%s): see its output with 'trainctl log %lld'",
			       label, state, id);
	if (!strcmp(json_string_value(json_object_get(spec, "on")) ?: "", "slurm"))
		return err_set(&ctx->err, "%s runs on slurm: a batch job has no terminal to attach "
					  "to; follow its output with 'trainctl log -f %lld'", label, id);
	if (json_is_false(json_object_get(spec, "pty")))
		return err_set(&ctx->err, "%s has no terminal (it was started with --no-pty): follow "
					  "it with 'trainctl log -f %lld', write to it with "
					  "'trainctl send %lld TEXT'", label, id, id);
	return 0;
}

int attach_job(struct cmd_ctx *ctx, const json_t *job, int readonly, int detach_key, int *status)
{
	struct session s = { .sock = -1, .sigfd = -1, .readonly = readonly,
			     .detach_key = detach_key, .status = -1 };
	struct strbuf label = STRBUF_INIT;
	enum attach_end end = ATTACH_DETACHED;

	strbuf_addstr(&label, "job ");
	format_job_label(job, &label);
	snprintf(s.label, sizeof(s.label), "%s", label.buf);
	strbuf_release(&label);
	if (attach_check(ctx, job, s.label) < 0)
		return -1;
	if (!readonly && !isatty(STDIN_FILENO))
		return err_usage(&ctx->err, "attach needs a terminal on standard input (use -r to "
					    "watch without one)");
	if (session_open(ctx, &s, json_integer_value(json_object_get(job, "id"))) < 0)
		goto out;
	session_signals(&s);
	session_raw(&s);
	session_process(&s);
	end = session_loop(&s);
	session_restore(&s);
	fprintf(stderr, "\r\n%s\r\n", s.ending);
	*status = s.status < 0 ? 0 : s.status;
out:
	if (s.sock >= 0)
		close(s.sock);
	if (s.sigfd >= 0)
		close(s.sigfd);
	strbuf_release(&s.in);
	return ctx->err.msg[0] ? -1 : (int)end;
}

enum { OPT_DETACH_KEY = 256 };

static const struct opt_spec attach_opts[] = {
	{ 'r', "read-only", OPT_FLAG, NULL, "watch only: keystrokes and window size are not sent" },
	{ OPT_DETACH_KEY, "detach-key", OPT_VALUE, "KEY", "detach with KEY (default ctrl-\\, or $TRAINCTL_DETACH_KEY)" },
	{ 0 },
};

static int attach_main(struct cmd_ctx *ctx)
{
	json_t *req = proto_request("show");
	json_t *reply;
	int key = attach_detach_key(ctx, opt_value(ctx, OPT_DETACH_KEY));
	int status, ret;

	if (key < 0) {
		json_decref(req);
		return -1;
	}
	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	ret = attach_job(ctx, json_object_get(reply, "job"), opt_count(ctx, 'r'), key, &status);
	json_decref(reply);
	return ret < 0 ? -1 : 0;
}

const struct cmd_entry cmd_attach = {
	.name = "attach",
	.brief = "become a job's terminal; detach with ctrl-\\",
	.synopsis = "JOB",
	.summary = "Attach to a job's terminal, like tmux attach: its recent output is replayed,\n"
		   "then keystrokes go to the job and its output comes to you; the job follows\n"
		   "your window size. Detach with ctrl-\\ (the job keeps running).",
	.opts = attach_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = attach_main,
	.details = "Several terminals may attach at once; -r watches without typing. Jobs started\n"
		   "with --no-pty have no terminal: use 'log -f' and 'send' for them.",
};
