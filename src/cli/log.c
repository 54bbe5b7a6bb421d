/*
 * trainctl log: print a job's output from its log files (the rotated ones
 * first), the last N lines with -n, and with -f follow it as it grows until
 * the job has ended. Following needs no daemon: it watches the log and the
 * job's exit record with inotify, and reopens the log when it rotates.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"

#define LOG_FILES 4 /* the log and its three rotations */

static const struct opt_spec log_opts[] = {
	{ 'f', "follow", OPT_FLAG, NULL, "keep printing new output until the job ends" },
	{ 'n', "lines", OPT_VALUE, "N", "only the last N lines" },
	{ 0 },
};

/* The log files oldest first: log.3, log.2, log.1, log. */
static char *log_file(const char *log, int index)
{
	int rotation = LOG_FILES - 1 - index;

	return rotation ? xasprintf("%s.%d", log, rotation) : xstrdup(log);
}

/* Where the last `want` lines of fd begin; *found gets how many lines it holds. */
static off_t tail_offset(int fd, long want, long *found)
{
	char buf[65536];
	off_t end = lseek(fd, 0, SEEK_END), pos = end;
	int first = 1;

	*found = 0;
	while (pos > 0) {
		size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		pos -= (off_t)n;
		if (pread(fd, buf, n, pos) != (ssize_t)n)
			return 0;
		for (size_t i = n; i-- > 0;) {
			/* A final newline ends the last line; it does not start one. */
			if (buf[i] != '\n' || (first && pos + (off_t)i == end - 1)) {
				continue;
			}
			if (++*found == want)
				return pos + (off_t)i + 1;
		}
		first = 0;
	}
	if (end > 0)
		++*found;
	return 0;
}

static int copy_fd(int fd, off_t from)
{
	char buf[65536];
	ssize_t n;

	lseek(fd, from, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
			return -1;
	}
	return 0;
}

/* Print the tail (or all) of the log and its rotations; leaves the current log open in *cur. */
static int print_existing(const char *log, long lines, int *cur)
{
	int fds[LOG_FILES];
	off_t starts[LOG_FILES] = { 0 };
	int first = 0;
	long need = lines;

	for (int i = 0; i < LOG_FILES; i++) {
		char *path = log_file(log, i);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		free(path);
	}
	for (int i = LOG_FILES - 1; lines >= 0 && i >= 0; i--) {
		long found;
		if (fds[i] < 0)
			continue;
		first = i;
		starts[i] = tail_offset(fds[i], need, &found);
		if (found >= need)
			break;
		need -= found;
	}
	for (int i = first; i < LOG_FILES; i++) {
		if (fds[i] >= 0 && lines != 0)
			copy_fd(fds[i], starts[i]);
		if (i < LOG_FILES - 1 && fds[i] >= 0)
			close(fds[i]);
	}
	for (int i = 0; i < first; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	*cur = fds[LOG_FILES - 1];
	if (*cur >= 0)
		lseek(*cur, 0, SEEK_END);
	return 0;
}

static int same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Print what was appended; when the log was rotated, finish the old file and reopen. */
static void follow_step(const char *log, int *fd)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		while (*fd >= 0 && (n = read(*fd, buf, sizeof(buf))) > 0)
			write_all(STDOUT_FILENO, buf, (size_t)n);
		if (*fd >= 0 && same_file(*fd, log))
			return;
		if (*fd >= 0)
			close(*fd);
		*fd = open(log, O_RDONLY | O_CLOEXEC);
		if (*fd < 0)
			return;
	}
}

static int follow(const char *log, const char *logs_dir, const char *exit_path,
		  const char *jobs_dir, int fd)
{
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	struct pollfd pfd = { .fd = in, .events = POLLIN };
	char ev[4096];

	if (in < 0)
		return -1;
	inotify_add_watch(in, logs_dir, IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO);
	inotify_add_watch(in, jobs_dir, IN_CREATE | IN_MOVED_TO);
	for (;;) {
		follow_step(log, &fd);
		if (access(exit_path, F_OK) == 0) {
			follow_step(log, &fd); /* the record is written after the last output */
			break;
		}
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		while (read(in, ev, sizeof(ev)) > 0)
			;
	}
	if (fd >= 0)
		close(fd);
	close(in);
	return 0;
}

static int log_main(struct cmd_ctx *ctx)
{
	json_t *req, *reply, *job;
	const char *log;
	long lines = -1;
	int n, fd = -1, ret = 0;

	if (opt_value(ctx, 'n')) {
		if (parse_uint(opt_value(ctx, 'n'), &n) < 0)
			return err_usage(&ctx->err, "log: invalid -n '%s' (expected a number of lines)",
					 opt_value(ctx, 'n'));
		lines = n;
	}
	req = proto_request("show");
	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	job = json_object_get(reply, "job");
	log = json_string_value(json_object_get(job, "log"));
	print_existing(log, lines, &fd);
	if (opt_count(ctx, 'f') &&
	    !job_state_is_final((enum job_state)job_state_parse(
		    json_string_value(json_object_get(job, "state"))))) {
		char *exit_path = paths_job_exit(&ctx->paths,
						 json_integer_value(json_object_get(job, "id")));
		ret = follow(log, ctx->paths.logs, exit_path, ctx->paths.jobs, fd);
		fd = -1;
		free(exit_path);
		/* The output has ended; return once the daemon has recorded the end too. */
		req = proto_request("wait");
		json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
		json_decref(client_call(&ctx->paths, req, &ctx->err));
		ctx->err.msg[0] = '\0';
	}
	if (fd >= 0)
		close(fd);
	json_decref(reply);
	return ret;
}

const struct cmd_entry cmd_log = {
	.name = "log",
	.brief = "a job's output; -f follows it until it ends",
	.synopsis = "JOB",
	.summary = "Print a job's output (all of it, or the last N lines); with -f, keep\n"
		   "printing as it grows until the job ends.",
	.opts = log_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = log_main,
};
