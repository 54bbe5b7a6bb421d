/*
 * The time index of a job's log, logs/<id>.idx beside logs/<id>.log: small
 * fixed-size binary records (generation, offset, time), appended by the shim
 * as output arrives, at most once a second and always right after a rotation,
 * so that `log --since 10m` and `log --timestamps` know when bytes were
 * written without scanning anything.
 *
 * `generation` counts the log's rotations: the current file is generation G
 * (that of the newest record), log.1 is G-1, log.2 is G-2, log.3 is G-3.
 * `offset` is a byte offset inside that generation's file. A record says: the
 * bytes from `offset` on were written at `time_ms` or later.
 */
#ifndef TRAINCTL_LOGINDEX_H
#define TRAINCTL_LOGINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct logindex_record {
	int64_t generation;
	int64_t offset;
	int64_t time_ms;
};

struct logindex_writer {
	int fd;
	int64_t last_generation;
	int64_t last_time_ms;
};

/* Open (create, append) the index at path; the writer starts fresh. */
int logindex_writer_open(struct logindex_writer *w, const char *path, struct err *err);
/*
 * Bytes at `offset` of generation `generation` are being written at now_ms:
 * append a record if a second has passed since the last one, or the
 * generation changed.
 */
void logindex_writer_note(struct logindex_writer *w, int64_t generation, int64_t offset,
			  int64_t now_ms);
void logindex_writer_close(struct logindex_writer *w);

/* Read every record of the index at path (caller frees *records; none is not an error). */
int logindex_read(const char *path, struct logindex_record **records, size_t *count,
		  struct err *err);
/*
 * Where the first byte written at or after time_ms is: sets *generation and
 * *offset and returns 0, or returns -1 when everything is older.
 */
int logindex_locate(const struct logindex_record *records, size_t count, int64_t time_ms,
		    int64_t *generation, int64_t *offset);
/* When the byte at (generation, offset) was written: the last record at or before it, or -1. */
int64_t logindex_time_of(const struct logindex_record *records, size_t count, int64_t generation,
			 int64_t offset);

#endif
