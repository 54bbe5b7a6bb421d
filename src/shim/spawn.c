/* Fork and exec the job with its terminal; see spawn.h. */
#include "shim/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/program.h"
#include "lib/signals.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

enum spawn_stage { STAGE_EXEC = 1, STAGE_TTY = 2, STAGE_CWD = 3 };

struct spawn_failure {
	int stage;
	int error;
};

static const char *env_lookup(char *const *envp, const char *key)
{
	size_t len = strlen(key);

	for (; envp && *envp; envp++) {
		if (strncmp(*envp, key, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	}
	return NULL;
}

/* In the child: report what failed and die. Async-signal-safe. */
static void child_fail(int fd, int stage)
{
	struct spawn_failure f = { stage, errno };

	if (write(fd, &f, sizeof(f)) < 0)
		_exit(126);
	_exit(127);
}

/* In the child: become a session leader with the given stdio, then exec. */
static void child_exec(const struct spawn_request *req, const char *program, int in, int out,
		       int tty, int report)
{
	setsid();
	if (tty >= 0 && ioctl(tty, TIOCSCTTY, 0) < 0)
		child_fail(report, STAGE_TTY);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		child_fail(report, STAGE_TTY);
	if (req->cwd && chdir(req->cwd) < 0)
		child_fail(report, STAGE_CWD);
	umask((mode_t)req->umask);
	if (req->child_hook)
		req->child_hook(req->hook_data);
	signals_reset_for_exec();
	/* Everything but stdio goes at exec; the report pipe is already close-on-exec. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(program, req->argv, req->envp);
	child_fail(report, STAGE_EXEC);
}

static void describe_failure(const struct spawn_request *req, const struct spawn_failure *f,
			     struct err *err)
{
	errno = f->error;
	if (f->stage == STAGE_CWD)
		err_errno(err, "cannot change directory to %s", req->cwd);
	else if (f->stage == STAGE_TTY)
		err_errno(err, "cannot set up the job's terminal");
	else
		err_errno(err, "%s", req->argv[0]);
}

/* Make the job's stdio: a PTY pair, or a stdin pipe and an output pipe. */
static int spawn_make_stdio(const struct spawn_request *req, int fds[4], struct err *err)
{
	struct winsize ws = { .ws_row = req->rows, .ws_col = req->cols };
	int in[2], out[2];

	if (req->use_pty) {
		if (openpty(&fds[0], &fds[1], NULL, NULL, &ws) < 0)
			return err_errno(err, "cannot open a pseudo-terminal");
		fds[2] = fds[1];
		fds[3] = fds[1];
		return 0;
	}
	if (pipe2(in, O_CLOEXEC) < 0)
		return err_errno(err, "pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return err_errno(err, "pipe");
	}
	fds[0] = out[0]; /* parent reads output */
	fds[1] = in[1];  /* parent writes input */
	fds[2] = in[0];  /* child's stdin */
	fds[3] = out[1]; /* child's stdout/stderr */
	return 0;
}

static void spawn_close_child_ends(const struct spawn_request *req, int fds[4])
{
	close(fds[2]);
	if (!req->use_pty)
		close(fds[3]);
}

int spawn_job(const struct spawn_request *req, struct spawned *out, struct err *err)
{
	struct spawn_failure f;
	char *program = program_find(req->argv[0], env_lookup(req->envp, "PATH"), req->cwd, err);
	int fds[4] = { -1, -1, -1, -1 }, report[2];
	ssize_t n;
	pid_t pid;

	if (!program)
		return -1;
	if (spawn_make_stdio(req, fds, err) < 0) {
		free(program);
		return -1;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		free(program);
		spawn_close_child_ends(req, fds);
		close(fds[0]);
		if (!req->use_pty)
			close(fds[1]);
		return err_errno(err, "pipe");
	}
	pid = fork();
	if (pid == 0)
		child_exec(req, program, fds[2], fds[3], req->use_pty ? fds[1] : -1, report[1]);
	free(program);
	close(report[1]);
	spawn_close_child_ends(req, fds);
	if (pid < 0) {
		close(report[0]);
		return err_errno(err, "fork");
	}
	do
		n = read(report[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(report[0]);
	out->pid = pid;
	out->output_fd = fds[0];
	out->input_fd = req->use_pty ? dup(fds[0]) : fds[1];
	fcntl(out->output_fd, F_SETFD, FD_CLOEXEC);
	fcntl(out->input_fd, F_SETFD, FD_CLOEXEC);
	if (n == (ssize_t)sizeof(f)) {
		describe_failure(req, &f, err);
		return -1; /* the caller reaps pid and closes the fds */
	}
	return 0;
}
