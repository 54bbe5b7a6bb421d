/*
 * The shim's socket (run/job-<id>.sock): control requests from the daemon
 * (stop, signal, pause, resume, send, status) as JSON lines, and attached
 * terminals. A client that sends {"op":"attach"} gets a JSON reply, the
 * recent output as a first frame, then the live output as frames; it sends
 * keystrokes and window sizes as frames (ignored from read-only clients).
 *
 * Output to clients is queued and written as their sockets take it: a slow
 * or stopped terminal never blocks the job, and one that falls too far
 * behind is disconnected rather than allowed to grow the shim.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/frame.h"
#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"
#include "shim/limits.h"
#include "shim/shim_state.h"

/* Past this much unread output an attached client is dropped. */
#define CLIENT_OUT_MAX (4 * 1024 * 1024)

struct shim_client {
	struct shim *shim;
	int fd;
	struct loop_watch *watch;
	struct strbuf in;
	struct strbuf out;
	int attached;
	int readonly;
	struct shim_client *next;
};

static void client_close(struct shim_client *c)
{
	struct shim_client **pp;

	for (pp = &c->shim->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	loop_remove(c->shim->loop, c->watch);
	close(c->fd);
	strbuf_release(&c->in);
	strbuf_release(&c->out);
	free(c);
}

/* Write what the socket takes; watch for writability while output remains. */
static int client_flush(struct shim_client *c)
{
	if (write_queued(c->fd, &c->out) < 0)
		return -1;
	loop_modify_fd(c->shim->loop, c->watch, EPOLLIN | (c->out.len ? EPOLLOUT : 0));
	return 0;
}

static void client_send_json(struct shim_client *c, json_t *msg)
{
	char *line = proto_encode(msg);

	strbuf_addstr(&c->out, line);
	free(line);
	json_decref(msg);
}

static json_t *status_json(struct shim *shim)
{
	json_t *reply = proto_reply_ok();

	json_object_set_new(reply, "pid", json_integer(shim->pid));
	json_object_set_new(reply, "paused", json_boolean(shim->paused));
	json_object_set_new(reply, "stopping", json_boolean(shim->exit.stop_requested));
	json_object_set_new(reply, "pty", json_boolean(shim->use_pty));
	return reply;
}

/* Start streaming to c: the recent output first, from a line start when it was cut. */
static json_t *client_attach(struct shim_client *c, const json_t *req, struct err *err)
{
	struct shim *shim = c->shim;
	const char *recent = strbuf_str(&shim->recent);
	size_t len = shim->recent.len;
	const char *nl = shim->recent_truncated ? memchr(recent, '\n', len) : NULL;
	unsigned rows = (unsigned)json_integer_value(json_object_get(req, "rows"));
	unsigned cols = (unsigned)json_integer_value(json_object_get(req, "cols"));

	if (!shim->use_pty) {
		err_set(err, "the job has no terminal (it was started with --no-pty)");
		return NULL;
	}
	c->attached = 1;
	c->readonly = json_is_true(json_object_get(req, "readonly"));
	client_send_json(c, status_json(shim));
	if (nl) {
		len -= (size_t)(nl + 1 - recent);
		recent = nl + 1;
	}
	frame_append(&c->out, FRAME_OUTPUT, recent, len);
	if (!c->readonly && rows > 0 && cols > 0)
		shim_resize(shim, rows, cols);
	return NULL;
}

/* Write TEXT and a line end to the job's stdin (Enter is \r on a terminal). */
static json_t *client_send_text(struct shim *shim, const json_t *req, struct err *err)
{
	const char *text = json_string_value(json_object_get(req, "text"));
	struct strbuf sb = STRBUF_INIT;
	int ret;

	if (!text) {
		err_usage(err, "send needs a \"text\"");
		return NULL;
	}
	strbuf_addstr(&sb, text);
	strbuf_addch(&sb, shim->use_pty ? '\r' : '\n');
	ret = shim_input(shim, sb.buf, sb.len);
	strbuf_release(&sb);
	if (ret < 0) {
		err_set(err, "the job is not reading its input (too much is waiting already)");
		return NULL;
	}
	return status_json(shim);
}

/* Carry out one control request; NULL with err filled when it fails. */
static json_t *client_request(struct shim_client *c, const json_t *req, struct err *err)
{
	struct shim *shim = c->shim;
	const char *op = json_string_value(json_object_get(req, "op"));
	int sig = (int)json_integer_value(json_object_get(req, "signal"));
	json_t *t = json_object_get(req, "timeout_ms");

	if (!op)
		op = "";
	if (strcmp(op, "attach") == 0)
		return client_attach(c, req, err);
	if (strcmp(op, "send") == 0)
		return client_send_text(shim, req, err);
	if (strcmp(op, "limit") == 0) {
		json_t *cpu = json_object_get(req, "cpu_limit"), *mem = json_object_get(req, "mem_limit");
		if (limits_update(shim, json_is_number(cpu) ? json_number_value(cpu) : -1,
				  json_is_integer(mem) ? json_integer_value(mem) : -1, err) < 0)
			return NULL;
		shim_status_changed(shim);
		return status_json(shim);
	}
	if (strcmp(op, "renice") == 0) {
		if (limits_renice(shim, (int)json_integer_value(json_object_get(req, "nice")), err) < 0)
			return NULL;
		shim_status_changed(shim);
		return status_json(shim);
	}
	if (strcmp(op, "stop") == 0) {
		shim_stop(shim, sig ? sig : shim->stop_signal,
			  json_is_integer(t) && json_integer_value(t) >= 0 ? json_integer_value(t)
									 : shim->stop_timeout_ms);
	} else if (strcmp(op, "signal") == 0 && sig > 0 && sig < NSIG) {
		shim->exit.user_signal = sig;
		shim_signal_tree(shim, sig);
		if (sig == SIGCONT)
			shim->paused = 0;
	} else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
		shim->paused = op[0] == 'p';
		shim_signal_tree(shim, shim->paused ? SIGSTOP : SIGCONT);
	} else if (strcmp(op, "status") != 0) {
		err_usage(err, "unknown shim request '%s'", op);
		return NULL;
	}
	return status_json(shim);
}

static void client_on_line(struct shim_client *c, json_t *req, struct err *err)
{
	json_t *reply = NULL;

	if (req)
		reply = client_request(c, req, err);
	if (reply)
		client_send_json(c, reply);
	else if (!c->attached || err->msg[0])
		client_send_json(c, proto_reply_error(err));
	json_decref(req);
}

/* Keystrokes and window sizes from an attached terminal. */
static int client_on_frames(struct shim_client *c)
{
	char *payload;
	size_t len;
	int type, ret;

	while ((ret = frame_take(&c->in, &type, &payload, &len)) == 1) {
		unsigned rows, cols;

		if (!c->readonly && type == FRAME_INPUT) {
			shim_input(c->shim, payload, len);
		} else if (!c->readonly && type == FRAME_RESIZE && len == 4) {
			frame_resize_decode(payload, &rows, &cols);
			shim_resize(c->shim, rows, cols);
		}
		free(payload);
	}
	return ret;
}

static void client_on_event(void *data, int fd, uint32_t events)
{
	struct shim_client *c = data;
	struct err err = { 0 };
	char buf[65536];
	json_t *req;
	ssize_t n;

	if (((events & EPOLLOUT) && client_flush(c) < 0) || (events & EPOLLERR)) {
		client_close(c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP)))
		return;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || c->in.len + (size_t)n > FRAME_MAX_PAYLOAD + FRAME_HEADER_SIZE) {
		client_close(c);
		return;
	}
	strbuf_add(&c->in, buf, (size_t)n);
	while (!c->attached && proto_take_line(&c->in, &req, &err)) {
		client_on_line(c, req, &err);
		memset(&err, 0, sizeof(err));
	}
	if (c->attached && client_on_frames(c) < 0) {
		client_close(c);
		return;
	}
	if (client_flush(c) < 0)
		client_close(c);
}

static void clients_on_accept(void *data, int fd, uint32_t events)
{
	struct shim *shim = data;
	struct shim_client *c;
	int refused, cfd = sock_accept_own_user(fd, &refused);

	(void)events;
	if (cfd < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->shim = shim;
	c->fd = cfd;
	c->watch = loop_add_fd(shim->loop, cfd, EPOLLIN, client_on_event, c);
	c->next = shim->clients;
	shim->clients = c;
}

void clients_listen(struct shim *shim)
{
	loop_add_fd(shim->loop, shim->listen_fd, EPOLLIN, clients_on_accept, shim);
}

void clients_output(struct shim *shim, const char *data, size_t len)
{
	struct shim_client *c = shim->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (!c->attached)
			continue;
		frame_append(&c->out, FRAME_OUTPUT, data, len);
		if (c->out.len > CLIENT_OUT_MAX || client_flush(c) < 0)
			client_close(c);
	}
}

void clients_exit(struct shim *shim, const json_t *exit_record)
{
	char *text = json_dumps(exit_record, JSON_COMPACT);
	struct timeval tv = { .tv_sec = 1 };

	for (struct shim_client *c = shim->clients; c; c = c->next) {
		if (!c->attached)
			continue;
		frame_append(&c->out, FRAME_EXIT, text, strlen(text));
		/* The shim is about to exit: hand over the rest, waiting a moment at most. */
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
		write_all(c->fd, c->out.buf, c->out.len);
		strbuf_reset(&c->out);
	}
	free(text);
}

void clients_release(struct shim *shim)
{
	while (shim->clients) /* client_close unlinks the client before freeing it */
		client_close(shim->clients); /* NOLINT(clang-analyzer-unix.Malloc) */
}
