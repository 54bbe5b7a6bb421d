/*
 * Unix stream sockets for the control channels. A socket path may be longer
 * than sun_path's 108 bytes (a deep $TRAINCTL_HOME): then we bind and
 * connect through /proc/self/fd/N/NAME, where N is an O_PATH descriptor of
 * the socket's directory, which always fits.
 */
#ifndef TRAINCTL_SOCK_H
#define TRAINCTL_SOCK_H

#include <sys/types.h>

#include "lib/err.h"
#include "lib/strbuf.h"

/* Listen on path (mode 0600), replacing a stale socket file. Returns the fd. */
int sock_listen(const char *path, struct err *err);
/* Connect to path. Returns the fd, or -1 with errno set (ENOENT, ECONNREFUSED...). */
int sock_connect(const char *path, struct err *err);
/*
 * Accept a connection (non-blocking, close-on-exec) from a process of our own
 * user; others are closed at once, with their uid in *refused (else -1).
 * Returns the fd, or -1.
 */
int sock_accept_own_user(int listen_fd, int *refused);
/* The peer's uid via SO_PEERCRED, or -1. */
int sock_peer_uid(int fd, uid_t *uid);

/*
 * Write as much of queue as the non-blocking fd takes now, dropping what was
 * written; what is left waits for the next try. -1 on a write error.
 */
int write_queued(int fd, struct strbuf *queue);

/* Write all of buf, retrying on EINTR/short writes (blocking fds). */
int write_all(int fd, const void *buf, size_t len);

#endif
