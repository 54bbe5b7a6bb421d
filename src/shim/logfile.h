/*
 * A job's log file with size-based rotation: when writing would take
 * logs/<id>.log past its limit, .2 becomes .3, .1 becomes .2, the log
 * becomes .1, and a new log starts. Only `keep` old files are kept.
 *
 * Beside logs/<id>.log it keeps the time index logs/<id>.idx (see
 * lib/logindex.h): before each piece is written it notes the generation (the
 * rotations so far), the piece's offset in the current file and the time.
 */
#ifndef TRAINCTL_LOGFILE_H
#define TRAINCTL_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/logindex.h"

struct logfile {
	char *path;
	int fd;
	int64_t size;
	int64_t max; /* 0: never rotate */
	int keep;
	int64_t generation; /* rotations so far, continued from an existing index */
	struct logindex_writer index; /* fd -1 when the index could not be opened */
};

/* Open (append) the log and its index; only a log that cannot be opened fails. */
int logfile_open(struct logfile *log, const char *path, int64_t max, int keep, struct err *err);
/* Append data, rotating first when the limit would be passed. */
int logfile_write(struct logfile *log, const void *data, size_t len);
/* Close the log and its index. */
void logfile_close(struct logfile *log);

#endif
