/* Slurm commands as children of the daemon's loop; see slurm_call.h. */
#include "backend/slurm_call.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/slurm.h"
#include "lib/signals.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"

/* The full path of prog in the PATH of envp (default /usr/bin:/bin), or NULL. */
static char *find_program(const char *prog, char *const envp[])
{
	const char *path = "/usr/local/bin:/usr/bin:/bin";

	for (char *const *e = envp; *e; e++) {
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	}
	while (*path) {
		size_t len = strcspn(path, ":");
		char *full = xasprintf("%.*s/%s", (int)len, len ? path : ".", prog);

		if (access(full, X_OK) == 0)
			return full;
		free(full);
		path += len + (path[len] == ':');
	}
	return NULL;
}

static void call_unlink(struct daemon *d, struct slurm_call *call)
{
	struct slurm_call **pp = &slurm_of(d)->calls;

	while (*pp && *pp != call)
		pp = &(*pp)->next;
	if (*pp)
		*pp = call->next;
}

static void call_close_fd(struct daemon *d, int *fd, struct loop_watch **w)
{
	if (*fd < 0)
		return;
	loop_remove(d->loop, *w);
	close(*fd);
	*fd = -1;
	*w = NULL;
}

static void call_free(struct daemon *d, struct slurm_call *call)
{
	call_close_fd(d, &call->out_fd, &call->out_watch);
	call_close_fd(d, &call->err_fd, &call->err_watch);
	if (call->timer)
		loop_remove(d->loop, call->timer);
	strbuf_release(&call->out);
	strbuf_release(&call->err);
	free(call);
}

/* Both pipes at EOF and the child reaped: the call is over. */
static void call_maybe_done(struct daemon *d, struct slurm_call *call)
{
	if (call->out_fd >= 0 || call->err_fd >= 0 || !call->reaped)
		return;
	call_unlink(d, call);
	call->done(d, call, call->data);
	call_free(d, call);
}

static void call_read(struct slurm_call *call, int *fd, struct loop_watch **w, struct strbuf *buf)
{
	char chunk[16384];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n > 0) {
		strbuf_add(buf, chunk, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	call_close_fd(call->daemon, fd, w);
	call_maybe_done(call->daemon, call);
}

static void on_out(void *data, int fd, uint32_t events)
{
	struct slurm_call *call = data;

	(void)fd;
	(void)events;
	call_read(call, &call->out_fd, &call->out_watch, &call->out);
}

static void on_err(void *data, int fd, uint32_t events)
{
	struct slurm_call *call = data;

	(void)fd;
	(void)events;
	call_read(call, &call->err_fd, &call->err_watch, &call->err);
}

/* The command took too long: it is our own unreaped child, so kill() is safe. */
static void on_timeout(void *data, int fd, uint32_t events)
{
	struct slurm_call *call = data;

	(void)fd;
	(void)events;
	call->timer = NULL; /* one-shot timers free themselves */
	call->timed_out = 1;
	kill(call->pid, SIGKILL);
}

/* In the child: only async-signal-safe calls. */
static void call_exec(const char *prog, char *const argv[], char *const envp[], int in, int out,
		      int errfd)
{
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(127);
	signals_reset_for_exec();
	close_range(3, ~0U, 0);
	execve(prog, argv, envp);
	_exit(127);
}

int slurm_call_start(struct daemon *d, char *const argv[], char *const envp[], const char *input,
		     int64_t timeout_ms, slurm_call_fn done, void *data, struct err *err)
{
	char *prog = find_program(argv[0], envp);
	int in[2] = { -1, -1 }, out[2], errp[2];
	struct slurm_call *call;

	if (!prog)
		return err_set(err, "%s not found on the job's PATH: is Slurm installed here (the "
				    "slurm-client package, or 'module load slurm')?", argv[0]);
	if ((input ? pipe2(in, O_CLOEXEC) : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		free(prog);
		return err_errno(err, "pipe");
	}
	call = xcalloc(1, sizeof(*call));
	call->daemon = d;
	call->pid = fork();
	if (call->pid == 0)
		call_exec(prog, argv, envp, in[0], out[1], errp[1]);
	free(prog);
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	if (input && call->pid > 0) /* a script is far smaller than a pipe's buffer */
		write_all(in[1], input, strlen(input));
	if (in[1] >= 0)
		close(in[1]);
	if (call->pid < 0) {
		close(out[0]);
		close(errp[0]);
		free(call);
		return err_errno(err, "cannot run %s", argv[0]);
	}
	call->out_fd = out[0];
	call->err_fd = errp[0];
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	call->out_watch = loop_add_fd(d->loop, out[0], EPOLLIN, on_out, call);
	call->err_watch = loop_add_fd(d->loop, errp[0], EPOLLIN, on_err, call);
	call->timer = loop_add_timer(d->loop, timeout_ms, on_timeout, call);
	call->done = done;
	call->data = data;
	call->next = slurm_of(d)->calls;
	slurm_of(d)->calls = call;
	return 0;
}

int slurm_call_reaped(struct daemon *d, pid_t pid, int status)
{
	for (struct slurm_call *call = slurm_of(d)->calls; call; call = call->next) {
		if (call->pid != pid)
			continue;
		call->status = status;
		call->reaped = 1;
		call_maybe_done(d, call);
		return 1;
	}
	return 0;
}

/* What a Slurm command printed on stderr, its lines joined with "; ". */
static void join_lines(const char *text, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	while (*text && used + 1 < size) {
		size_t len = strcspn(text, "\n");
		if (len)
			used += (size_t)snprintf(buf + used, size - used, "%s%.*s", used ? "; " : "",
						 (int)len, text);
		text += len + (text[len] == '\n');
	}
}

int slurm_call_check(const struct slurm_call *call, const char *what, struct err *err)
{
	char text[768];

	if (call->timed_out)
		return err_set(err, "%s did not answer in time: is slurmctld reachable (scontrol ping)?",
			       what);
	if (WIFEXITED(call->status) && WEXITSTATUS(call->status) == 0)
		return 0;
	join_lines(strbuf_str(&call->err), text, sizeof(text));
	if (text[0])
		return err_set(err, "%s", text);
	return err_set(err, "%s failed (%s %d)", what,
		       WIFEXITED(call->status) ? "exit" : "signal",
		       WIFEXITED(call->status) ? WEXITSTATUS(call->status) : WTERMSIG(call->status));
}

void slurm_call_release(struct daemon *d)
{
	struct slurm *s = slurm_of(d);

	while (s->calls) {
		struct slurm_call *call = s->calls;
		s->calls = call->next;
		if (!call->reaped) {
			kill(call->pid, SIGKILL);
			waitpid(call->pid, NULL, 0);
		}
		call->done = NULL;
		call_free(d, call);
	}
}
