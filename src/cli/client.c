/*
 * Connecting to the daemon; see client.h.
 *
 * Starting the daemon on demand is done under run/start.lock, so that two
 * commands racing to start it end up with one daemon, and the loser simply
 * connects. The daemon is double-forked into its own session and reports
 * readiness over a pipe: the CLI waits for that one message, never polls.
 */
#include "cli/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

/* In the grandchild: become the daemon, with the log as stdout/stderr. */
static void exec_daemon(const struct paths *paths, const char *exe, int ready_fd)
{
	char fdbuf[16];
	char *argv[] = { "trainctl", "daemon", "--foreground", "--ready-fd", fdbuf, NULL };
	int null = open("/dev/null", O_RDONLY);
	int log = open(paths->daemon_log, O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0 ||
	    dup2(ready_fd, 3) < 0)
		_exit(127);
	/* The daemon outlives us: it must hold none of our caller's descriptors. */
	fcntl(3, F_SETFD, 0);
	close_range(4, ~0U, 0);
	snprintf(fdbuf, sizeof(fdbuf), "3");
	execv(exe, argv);
	_exit(127);
}

/* Read the daemon's readiness message: "ok" or its start-up error. */
static int read_ready(const struct paths *paths, int fd, struct err *err)
{
	char buf[1024];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_errno(err, "cannot start the daemon");
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strcmp(buf, "ok") == 0)
		return 0;
	if (len == 0)
		return err_set(err, "the daemon failed to start (see %s)", paths->daemon_log);
	return err_set(err, "%s", buf);
}

int client_start_daemon(const struct paths *paths, struct err *err)
{
	char exe[4096];
	int ready[2], status;
	ssize_t n;
	pid_t pid;

	/* Exec our own file by its name, so the daemon shows up as trainctl in ps. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return err_errno(err, "cannot find our own executable");
	exe[n] = '\0';
	if (pipe2(ready, O_CLOEXEC) < 0)
		return err_errno(err, "pipe");
	pid = fork();
	if (pid == 0) {
		setsid();
		if (fork() == 0)
			exec_daemon(paths, exe, ready[1]);
		_exit(0);
	}
	close(ready[1]);
	if (pid < 0) {
		close(ready[0]);
		return err_errno(err, "fork");
	}
	waitpid(pid, &status, 0);
	status = read_ready(paths, ready[0], err);
	close(ready[0]);
	return status;
}

static int connect_retryable(int error)
{
	return error == ENOENT || error == ECONNREFUSED;
}

/* Under the start lock: connect if someone else started it meanwhile, else start it. */
static int client_autostart(const struct paths *paths, struct err *err)
{
	char *lock_path;
	int lock_fd, fd;

	if (paths_ensure(paths, err) < 0)
		return -1;
	lock_path = xasprintf("%s/start.lock", paths->run);
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock_path);
	if (lock_fd < 0)
		return err_errno(err, "cannot open the start lock in %s", paths->run);
	flock(lock_fd, LOCK_EX);
	fd = sock_connect(paths->daemon_sock, err);
	if (fd < 0 && connect_retryable(errno) && client_start_daemon(paths, err) == 0)
		fd = sock_connect(paths->daemon_sock, err);
	close(lock_fd);
	return fd;
}

int client_connect(const struct paths *paths, int autostart, struct err *err)
{
	uid_t uid = (uid_t)-1;
	int fd;

	if (paths_check(paths, err) < 0)
		return -1;
	fd = sock_connect(paths->daemon_sock, err);
	if (fd < 0 && connect_retryable(errno)) {
		if (!autostart)
			return err_set(err, "no daemon is running for %s", paths->home);
		fd = client_autostart(paths, err);
	}
	/* Whoever listens there must be us: never hand a job's spec to another user. */
	if (fd >= 0 && (sock_peer_uid(fd, &uid) < 0 || uid != getuid())) {
		close(fd);
		return err_set(err, "%s is served by uid %d, not by you: refusing to talk to it",
			       paths->daemon_sock, (int)uid);
	}
	if (fd >= 0 && err) /* what failed on the way no longer matters */
		memset(err, 0, sizeof(*err));
	return fd;
}

/* One request on a new connection, to a daemon started on demand when autostart is set. */
static json_t *client_request(const struct paths *paths, int autostart, json_t *req,
			      struct err *err)
{
	struct strbuf buf = STRBUF_INIT;
	json_t *reply = NULL;
	int fd = client_connect(paths, autostart, err);

	/* A daemon that turned us away (out of descriptors) left its reason to read. */
	if (fd >= 0 && (proto_send(fd, req, err) == 0 || errno == EPIPE || errno == ECONNRESET))
		reply = proto_recv_reply(fd, &buf, err);
	if (reply && proto_reply_check(reply, err) < 0) {
		json_decref(reply);
		reply = NULL;
	}
	if (fd >= 0)
		close(fd);
	strbuf_release(&buf);
	json_decref(req);
	return reply;
}

json_t *client_call(const struct paths *paths, json_t *req, struct err *err)
{
	return client_request(paths, 1, req, err);
}

json_t *client_call_running(const struct paths *paths, json_t *req, struct err *err)
{
	return client_request(paths, 0, req, err);
}
