/* Failure reasons from the evidence a job leaves; see reasons.h. */
#include "daemon/reasons.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/restart.h"
#include "lib/failure.h"
#include "lib/xmalloc.h"

#define LOG_TAIL (64 * 1024)
#define COARSE_CLOCK_MS 20

/* The last LOG_TAIL bytes of the job's current log (caller frees), or NULL. */
static char *log_tail(struct daemon *d, int64_t id, size_t *len)
{
	char *path = paths_job_log(&d->paths, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	off_t size;
	ssize_t n;

	free(path);
	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0) {
		off_t from = size > LOG_TAIL ? size - LOG_TAIL : 0;
		buf = xmalloc(LOG_TAIL + 1);
		n = pread(fd, buf, (size_t)(size - from), from);
		*len = n > 0 ? (size_t)n : 0;
		buf[*len] = '\0';
	}
	close(fd);
	return buf;
}

/* Did the kernel log an OOM kill of pid? Reads /dev/kmsg where it is readable. */
static int kernel_oom_killed(pid_t pid)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char record[8192];
	ssize_t n;
	int found = 0;

	if (fd < 0 || pid <= 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((n = read(fd, record, sizeof(record) - 1)) != 0) {
		if (n < 0 && errno == EPIPE)
			continue; /* records were overwritten while we read */
		if (n < 0)
			break;
		record[n] = '\0';
		if (failure_kmsg_oom_pid(record) == pid)
			found = 1;
	}
	close(fd);
	return found;
}

static pid_t job_main_pid(struct daemon *d, int64_t id)
{
	json_t *job = store_job_json(d->store, id);
	pid_t pid = (pid_t)json_integer_value(json_object_get(job, "pid"));

	json_decref(job);
	return pid;
}

/* A failure: the kernel's OOM killer, a CUDA OOM, or the error line from the log. */
static void refine_failure(struct daemon *d, int64_t id, const struct job_exit *ex,
			   char *reason, size_t size)
{
	char line[200], end[128];
	size_t len = 0;
	char *tail;

	snprintf(end, sizeof(end), "%s", reason);
	if (ex->signal == SIGKILL && kernel_oom_killed(job_main_pid(d, id))) {
		snprintf(reason, size, "oom-killed");
		return;
	}
	tail = log_tail(d, id, &len);
	if (tail && failure_is_cuda_oom(tail, len)) {
		snprintf(reason, size, "cuda-oom (%s)", end);
	} else if (tail && !ex->signal && failure_last_error_line(tail, len, line, sizeof(line)) == 0) {
		snprintf(reason, size, "%s: %s", end, line);
	}
	free(tail);
}

void reasons_refine(struct daemon *d, int64_t id, const struct job_exit *ex,
		    enum job_state *state, char *reason, size_t size)
{
	struct job_restart r;
	char end[256];
	char *latest;
	int64_t stopped_at;
	struct stat st;

	store_job_restart_get(d->store, id, &r);
	snprintf(end, sizeof(end), "%s", reason);
	if (ex->limit[0]) {
		*state = JOB_FAILED;
		snprintf(reason, size, "%s (%s)", ex->limit, end);
		return;
	}
	if (ex->oom_kills > 0) {
		*state = JOB_FAILED;
		if (ex->signal == SIGKILL)
			snprintf(reason, size, "oom-killed");
		else /* a worker was killed and the main process failed after it */
			snprintf(reason, size, "oom-killed (then %s)", end);
		return;
	}
	if (strcmp(r.stop_cause, "shutdown") == 0) {
		snprintf(reason, size, "daemon shutdown (%s)", end);
	} else if (strcmp(r.stop_cause, "time-limit") == 0) {
		*state = JOB_STOPPED;
		snprintf(reason, size, "time-limit (%s)", end);
	} else if (strcmp(r.stop_cause, "hung") == 0) {
		*state = JOB_FAILED;
		snprintf(reason, size, "hung (%s)", end);
	} else if (*state == JOB_FAILED) {
		refine_failure(d, id, ex, reason, size);
	}
	if (*state != JOB_STOPPED || !ex->stop_requested)
		return;
	/*
	 * A checkpoint written after the stop request was saved on the way out.
	 * File times come from the kernel's coarse clock, a tick behind: allow it.
	 */
	latest = restart_latest_checkpoint(d, id);
	stopped_at = store_event_last_time(d->store, id, "stop");
	if (latest && stopped_at > 0 && stat(latest, &st) == 0 &&
	    (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 >=
		    stopped_at - COARSE_CLOCK_MS) {
		size_t used = strlen(reason);
		snprintf(reason + used, size - used, ", checkpoint saved");
	}
	free(latest);
}
