/* Waiting for a job with a live status line; see watch.h. */
#include "cli/watch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/client.h"
#include "lib/format.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/strbuf.h"

#define REDRAW_MS 500
#define EXIT_INTERRUPTED 130

struct watch {
	struct cmd_ctx *ctx;
	int64_t id;
	int tty;
	int sock;
	int sigfd;
	struct strbuf buf;
	int drawn;
};

static json_t *jobs_of(int64_t id)
{
	return json_pack("[I]", (json_int_t)id);
}

/* Open a connection whose answer comes when the job has ended. */
static int watch_send_wait(struct watch *w)
{
	json_t *req = proto_request("wait");
	int ret;

	json_object_set_new(req, "jobs", jobs_of(w->id));
	strbuf_reset(&w->buf);
	w->sock = client_connect(&w->ctx->paths, 1, &w->ctx->err);
	ret = w->sock < 0 ? -1 : proto_send(w->sock, req, &w->ctx->err);
	json_decref(req);
	return ret;
}

static void watch_clear(struct watch *w)
{
	if (w->drawn)
		fputs("\r\033[K", stderr);
	w->drawn = 0;
}

/* Redraw the status line from the job's current state and progress. */
static void watch_draw(struct watch *w)
{
	json_t *req = proto_request("show");
	json_t *reply, *job;
	struct strbuf line = STRBUF_INIT;
	struct err err = { 0 };
	char elapsed[32];
	json_t *rate;

	json_object_set_new(req, "jobs", jobs_of(w->id));
	reply = client_call(&w->ctx->paths, req, &err);
	if (!reply)
		return;
	job = json_object_get(reply, "job");
	format_job_label(job, &line);
	strbuf_addch(&line, ' ');
	format_progress(json_object_get(job, "progress"), 20, &line);
	rate = json_object_get(json_object_get(job, "progress"), "rate");
	if (json_is_number(rate))
		strbuf_addf(&line, " %.3g %s/s", json_number_value(rate),
			    json_string_value(json_object_get(json_object_get(job, "progress"), "unit")));
	format_job_elapsed(job, elapsed, sizeof(elapsed));
	strbuf_addf(&line, " (%s, %s)", json_string_value(json_object_get(job, "state")), elapsed);
	fprintf(stderr, "\r\033[K%s", line.buf);
	w->drawn = 1;
	strbuf_release(&line);
	json_decref(reply);
}

/* Ctrl-C: ask whether to stop the job. Returns 1 to stop waiting now. */
static int watch_interrupted(struct watch *w)
{
	char answer[16] = "";
	FILE *tty = fopen("/dev/tty", "r");
	json_t *req, *reply;

	watch_clear(w);
	fprintf(stderr, "Stop job %lld? [y/N] ", (long long)w->id);
	if (tty && fgets(answer, sizeof(answer), tty) && (answer[0] == 'y' || answer[0] == 'Y')) {
		fclose(tty);
		req = proto_request("stop");
		json_object_set_new(req, "jobs", jobs_of(w->id));
		reply = client_call(&w->ctx->paths, req, &w->ctx->err);
		json_decref(reply);
		return reply ? 0 : 1; /* keep waiting: the wait answers once it has stopped */
	}
	if (tty)
		fclose(tty);
	fprintf(stderr, "job %lld keeps running ('trainctl wait %lld' waits again)\n",
		(long long)w->id, (long long)w->id);
	return 1;
}

/* The wait's answer: the job's status, or -1 while it has not come. */
static int watch_on_reply(struct watch *w, int *status)
{
	json_t *reply = proto_recv(w->sock, &w->buf, &w->ctx->err);

	if (!reply)
		return -1;
	if (proto_reply_check(reply, &w->ctx->err) == 0)
		*status = (int)json_integer_value(
			json_object_get(json_array_get(json_object_get(reply, "results"), 0), "status"));
	json_decref(reply);
	return 0;
}

static int watch_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int watch_loop(struct watch *w)
{
	struct pollfd fds[2] = { { .fd = w->sock, .events = POLLIN }, { .fd = w->sigfd, .events = POLLIN } };
	struct signalfd_siginfo si;
	int status = -1;

	for (;;) {
		int n = poll(fds, 2, w->tty ? REDRAW_MS : -1);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n == 0) {
			watch_draw(w);
			continue;
		}
		if ((fds[1].revents & POLLIN) && read(w->sigfd, &si, sizeof(si)) > 0 &&
		    watch_interrupted(w))
			return EXIT_INTERRUPTED;
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (watch_on_reply(w, &status) == 0)
			return w->ctx->err.msg[0] ? -1 : status;
		if (!w->ctx->err.disconnected)
			return -1;
		/* The daemon went away; the job did not. Wait on the next daemon. */
		close(w->sock);
		memset(&w->ctx->err, 0, sizeof(w->ctx->err));
		if (watch_send_wait(w) < 0)
			return -1;
		fds[0].fd = w->sock;
	}
}

int watch_job(struct cmd_ctx *ctx, int64_t id)
{
	struct watch w = { .ctx = ctx, .id = id, .tty = isatty(STDERR_FILENO), .sock = -1 };
	int status = -1;

	w.sigfd = watch_signals();
	if (watch_send_wait(&w) == 0) {
		if (w.tty)
			watch_draw(&w);
		status = watch_loop(&w);
	}
	watch_clear(&w);
	if (w.sock >= 0)
		close(w.sock);
	if (w.sigfd >= 0)
		close(w.sigfd);
	strbuf_release(&w.buf);
	return status;
}
