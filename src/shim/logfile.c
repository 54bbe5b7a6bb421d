/*
 * Append-only job log with rotation, and its time index; see logfile.h.
 * The index is a help for reading the log, never a reason to lose output:
 * when it cannot be opened the log is written without it.
 */
#include "shim/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"

static int logfile_reopen(struct logfile *log, struct err *err)
{
	struct stat st;

	log->fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log->fd < 0)
		return err_errno(err, "cannot open log %s", log->path);
	log->size = fstat(log->fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

/* logs/<id>.log -> logs/<id>.idx (newly allocated). */
static char *logfile_index_path(const char *path)
{
	size_t len = strlen(path);

	if (len > 4 && strcmp(path + len - 4, ".log") == 0)
		return xasprintf("%.*s.idx", (int)(len - 4), path);
	return xasprintf("%s.idx", path);
}

/* A restarted job appends to its log: continue the generations of its index. */
static int64_t logfile_last_generation(const char *index_path)
{
	struct logindex_record *records;
	size_t count;
	int64_t generation = 0;

	if (logindex_read(index_path, &records, &count, NULL) == 0 && count > 0)
		generation = records[count - 1].generation;
	free(records);
	return generation;
}

int logfile_open(struct logfile *log, const char *path, int64_t max, int keep, struct err *err)
{
	char *index_path = logfile_index_path(path);

	memset(log, 0, sizeof(*log));
	log->path = xstrdup(path);
	log->max = max;
	log->keep = keep;
	log->generation = logfile_last_generation(index_path);
	if (logindex_writer_open(&log->index, index_path, NULL) < 0)
		log->index.fd = -1;
	free(index_path);
	return logfile_reopen(log, err);
}

/* Shift log -> log.1 -> log.2 ... dropping the oldest beyond keep. */
static void logfile_rotate(struct logfile *log)
{
	for (int i = log->keep; i >= 1; i--) {
		char *to = xasprintf("%s.%d", log->path, i);
		char *from = i == 1 ? xstrdup(log->path) : xasprintf("%s.%d", log->path, i - 1);
		rename(from, to);
		free(from);
		free(to);
	}
	if (log->keep == 0)
		unlink(log->path);
	close(log->fd);
	log->generation++;
	if (logfile_reopen(log, NULL) < 0)
		log->fd = -1;
}

/* How much of data fits before the limit: up to its last newline when it has one. */
static size_t logfile_room(const struct logfile *log, const char *data, size_t len)
{
	size_t room = log->max > log->size ? (size_t)(log->max - log->size) : 0;

	if (log->max <= 0 || len <= room)
		return len;
	for (size_t i = room; i > 0; i--) {
		if (data[i - 1] == '\n')
			return i;
	}
	/* No line end fits: a fresh file takes what fits, a used one rotates first. */
	return log->size == 0 ? (room ? room : len) : 0;
}

/*
 * Write n bytes at data; on failure *n says how many went out (the file
 * keeps them, so they are not written again) and errno why.
 */
static int logfile_write_some(struct logfile *log, const char *data, size_t *n)
{
	size_t done = 0;

	while (done < *n) {
		ssize_t w = write(log->fd, data + done, *n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int saved = w < 0 ? errno : ENOSPC;
			log->size += (int64_t)done;
			*n = done;
			errno = saved;
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

/* Write data now, rotating on the way; -1 with errno when the file takes no more. */
static int logfile_write_now(struct logfile *log, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		size_t n = logfile_room(log, p, len);

		if (n == 0) {
			logfile_rotate(log);
			continue;
		}
		if (log->fd < 0 && logfile_reopen(log, NULL) < 0) {
			log->written = (size_t)(p - (const char *)data);
			return -1;
		}
		logindex_writer_note(&log->index, log->generation, log->size, time_now_ms());
		if (logfile_write_some(log, p, &n) < 0) {
			log->written = (size_t)(p - (const char *)data) + n;
			return -1;
		}
		log->size += (int64_t)n;
		p += n;
		len -= n;
		if (len > 0)
			logfile_rotate(log);
	}
	return 0;
}

/* Keep what could not be written, within the bound; count the rest as lost. */
static void logfile_hold(struct logfile *log, const char *data, size_t len)
{
	size_t room = log->pending.len < LOGFILE_PENDING_MAX
		? LOGFILE_PENDING_MAX - log->pending.len : 0;
	size_t keep = len < room ? len : room;

	strbuf_add(&log->pending, data, keep);
	log->lost += (int64_t)(len - keep);
	log->lost_total += (int64_t)(len - keep);
}

/* Write the pending output, then the note of what was lost; -1 while the file takes no more. */
static int logfile_flush_pending(struct logfile *log)
{
	char note[160];

	if (log->pending.len > 0) {
		log->written = 0;
		if (logfile_write_now(log, log->pending.buf, log->pending.len) < 0) {
			strbuf_consume(&log->pending, log->written);
			return -1;
		}
		strbuf_reset(&log->pending);
	}
	if (log->lost > 0) {
		snprintf(note, sizeof(note),
			 "\r\n--- trainctl: %lld bytes of output lost: the log could not be written ---\r\n",
			 (long long)log->lost);
		log->written = 0;
		if (logfile_write_now(log, note, strlen(note)) < 0)
			return -1; /* a cut note is written again whole: harmless */
		log->lost = 0;
	}
	return 0;
}

int logfile_write(struct logfile *log, const void *data, size_t len)
{
	if (log->error && logfile_retry(log) < 0) {
		logfile_hold(log, data, len);
		return -1;
	}
	log->written = 0;
	if (logfile_write_now(log, data, len) < 0) {
		log->error = errno;
		log->error_since_ms = time_now_ms();
		logfile_hold(log, (const char *)data + log->written, len - log->written);
		return -1;
	}
	return 0;
}

int logfile_retry(struct logfile *log)
{
	if (!log->error)
		return 0;
	if (logfile_flush_pending(log) < 0) {
		log->error = errno;
		return -1;
	}
	log->error = 0;
	log->error_since_ms = 0;
	return 0;
}

void logfile_close(struct logfile *log)
{
	if (log->fd >= 0)
		close(log->fd);
	logindex_writer_close(&log->index);
	strbuf_release(&log->pending);
	free(log->path);
	log->path = NULL;
	log->fd = -1;
}
