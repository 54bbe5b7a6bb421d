/*
 * The time index of a job's log; see logindex.h for the format. Records are
 * native structs of three int64_t (no padding), each appended with a single
 * write() on an O_APPEND descriptor, so a reader sees whole records except,
 * at worst, a torn last one, which it ignores.
 *
 * The writer is the shim and must never disturb the job's log: a failed
 * index write is dropped (the next note tries again), and a torn record left
 * by an earlier writer is cut off on open, so that later records stay
 * aligned.
 *
 * Times come from the wall clock. A record is written only when a second
 * has passed since the last one, so after the clock steps back the index
 * stays sorted by time and simply pauses until the clock catches up.
 */
#include "lib/logindex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xmalloc.h"

#define RECORD_SIZE ((off_t)sizeof(struct logindex_record))
#define NOTE_INTERVAL_MS 1000

/* Cut a torn trailing record, so that what we append lines up. */
static void writer_align(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && st.st_size % RECORD_SIZE != 0)
		(void)!ftruncate(fd, st.st_size - st.st_size % RECORD_SIZE);
}

int logindex_writer_open(struct logindex_writer *w, const char *path, struct err *err)
{
	w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	w->last_generation = -1; /* generations start at 0: the first note writes */
	w->last_time_ms = 0;
	if (w->fd < 0)
		return err_errno(err, "cannot open log index %s", path);
	writer_align(w->fd);
	return 0;
}

void logindex_writer_note(struct logindex_writer *w, int64_t generation, int64_t offset,
			  int64_t now_ms)
{
	struct logindex_record rec = { generation, offset, now_ms };
	ssize_t n;

	if (w->fd < 0)
		return;
	if (generation == w->last_generation && now_ms - w->last_time_ms < NOTE_INTERVAL_MS)
		return;
	n = write(w->fd, &rec, sizeof(rec));
	if (n == (ssize_t)sizeof(rec)) {
		w->last_generation = generation;
		w->last_time_ms = now_ms;
	} else if (n > 0) {
		writer_align(w->fd); /* a full disk tore it: drop it, retry next time */
	}
}

void logindex_writer_close(struct logindex_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* Read up to size bytes of fd into buf; returns how many, or -1. */
static ssize_t read_full(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int logindex_read(const char *path, struct logindex_record **records, size_t *count,
		  struct err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t want;
	ssize_t got;

	*records = NULL;
	*count = 0;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return err_errno(err, "cannot open log index %s", path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_errno(err, "cannot read log index %s", path);
	}
	want = (size_t)(st.st_size / RECORD_SIZE);
	*records = xreallocarray(NULL, want + 1, sizeof(**records));
	got = read_full(fd, (char *)*records, want * sizeof(**records));
	close(fd);
	if (got < 0) {
		free(*records);
		*records = NULL;
		return err_errno(err, "cannot read log index %s", path);
	}
	*count = (size_t)got / sizeof(**records); /* a torn last record does not count */
	return 0;
}

/*
 * The records after the last one older than time_ms are all at or after it
 * (the writer keeps times in order; scanning back also stays right if they
 * are not), so the first byte at or after time_ms is at the first of them.
 * Bytes between an older record and it were written before its time: we
 * cannot tell whether any were written after time_ms, so they are left out.
 */
int logindex_locate(const struct logindex_record *records, size_t count, int64_t time_ms,
		    int64_t *generation, int64_t *offset)
{
	size_t i = count;

	while (i > 0 && records[i - 1].time_ms >= time_ms)
		i--;
	if (i == count)
		return -1;
	*generation = records[i].generation;
	*offset = records[i].offset;
	return 0;
}

static int position_after(const struct logindex_record *r, int64_t generation, int64_t offset)
{
	return r->generation > generation || (r->generation == generation && r->offset > offset);
}

/* Binary search: records are in (generation, offset) order. */
int64_t logindex_time_of(const struct logindex_record *records, size_t count, int64_t generation,
			 int64_t offset)
{
	size_t lo = 0, hi = count; /* the first record after the position is in [lo, hi] */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (position_after(&records[mid], generation, offset))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo == 0 ? -1 : records[lo - 1].time_ms;
}
