/* Unix socket helpers that cope with long paths; see sock.h. */
#include "lib/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/xmalloc.h"

/*
 * Fill addr for path. When path does not fit, open its directory with O_PATH
 * and address it as /proc/self/fd/N/name; *dirfd gets that fd (or -1) and
 * the caller closes it after bind/connect.
 */
static int sock_addr(const char *path, struct sockaddr_un *addr, int *dirfd, struct err *err)
{
	char *copy, *dir, *base;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	*dirfd = -1;
	if (strlen(path) < sizeof(addr->sun_path)) {
		strcpy(addr->sun_path, path);
		return 0;
	}
	copy = xstrdup(path);
	dir = dirname(copy);
	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0) {
		err_errno(err, "cannot open %s", dir);
		free(copy);
		return -1;
	}
	free(copy);
	copy = xstrdup(path);
	base = basename(copy);
	snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", *dirfd, base);
	free(copy);
	return 0;
}

int sock_listen(const char *path, struct err *err)
{
	struct sockaddr_un addr;
	int fd, dirfd;
	mode_t old;

	if (sock_addr(path, &addr, &dirfd, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err_errno(err, "socket");
		goto out;
	}
	unlink(addr.sun_path);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0) {
		err_errno(err, "cannot listen on %s", path);
		close(fd);
		fd = -1;
	}
	umask(old);
out:
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}

int sock_connect(const char *path, struct err *err)
{
	struct sockaddr_un addr;
	int fd, dirfd, saved;

	if (sock_addr(path, &addr, &dirfd, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		saved = errno;
		err_errno(err, "cannot connect to %s", path);
		close(fd);
		fd = -1;
		errno = saved;
	}
	saved = errno;
	if (dirfd >= 0)
		close(dirfd);
	errno = saved;
	return fd;
}

int sock_accept_own_user(int listen_fd, int *refused)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	uid_t uid = (uid_t)-1;

	*refused = -1;
	if (fd < 0)
		return -1;
	/* The socket is 0600 in a 0700 directory; the uid check is a second lock. */
	if (sock_peer_uid(fd, &uid) < 0 || uid != getuid()) {
		*refused = (int)uid;
		close(fd);
		return -1;
	}
	return fd;
}

int sock_peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	*uid = cred.uid;
	return 0;
}

int write_queued(int fd, struct strbuf *queue)
{
	while (queue->len > 0) {
		ssize_t n = write(fd, queue->buf, queue->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		strbuf_consume(queue, (size_t)n);
	}
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
