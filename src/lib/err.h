/*
 * Errors travel up as a message: functions that can fail take a
 * `struct err *`, fill it with err_set() and return -1 (or NULL). Only the
 * CLI's main prints it; the daemon sends it back to the client.
 */
#ifndef TRAINCTL_ERR_H
#define TRAINCTL_ERR_H

struct err {
	char msg[1024];
	int usage;        /* 1 when the error is the caller's bad input (exit 2) */
	int disconnected; /* 1 when the peer went away before answering */
};

/* Fill err (if not NULL) and return -1. */
int err_set(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like err_set, and marks the error as bad usage. */
int err_usage(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* err_set with ": strerror(errno)" appended. */
int err_errno(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
