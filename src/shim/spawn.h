/*
 * Starting the job: its terminal (a PTY, or pipes with --no-pty), its own
 * session and process group, and exec from argv. Everything the child needs
 * is built before fork; the child makes only async-signal-safe calls, and an
 * exec failure comes back over a close-on-exec pipe, so a command that cannot
 * run is a start that failed, with the reason, not a job that exits 127.
 */
#ifndef TRAINCTL_SPAWN_H
#define TRAINCTL_SPAWN_H

#include <sys/types.h>

#include "lib/err.h"

struct spawn_request {
	char **argv;     /* NULL-terminated */
	char **envp;     /* NULL-terminated */
	const char *cwd;
	int use_pty;
	int umask; /* the caller's, restored for the job */
	unsigned short rows, cols;
	/* Called in the child just before exec; must be async-signal-safe. */
	void (*child_hook)(const void *data);
	const void *hook_data;
};

struct spawned {
	pid_t pid;
	int output_fd; /* PTY master, or the read end of the stdout+stderr pipe */
	int input_fd;  /* PTY master (dup), or the write end of the stdin pipe */
};

/* Start the job; on failure err says why, in the user's terms. */
int spawn_job(const struct spawn_request *req, struct spawned *out, struct err *err);

#endif
