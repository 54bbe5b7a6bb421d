/*
 * A job's log file with size-based rotation: when writing would take
 * logs/<id>.log past its limit, .2 becomes .3, .1 becomes .2, the log
 * becomes .1, and a new log starts. Only `keep` old files are kept.
 *
 * Beside logs/<id>.log it keeps the time index logs/<id>.idx (see
 * lib/logindex.h): before each piece is written it notes the generation (the
 * rotations so far), the piece's offset in the current file and the time.
 *
 * A write that fails (the disk is full, a quota) never stops the job: the
 * output waits in memory (up to LOGFILE_PENDING_MAX; what comes beyond it is
 * counted as lost) and is written when logfile_retry finds room again, with
 * a line saying how much was lost, if anything was.
 */
#ifndef TRAINCTL_LOGFILE_H
#define TRAINCTL_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/logindex.h"
#include "lib/strbuf.h"

#define LOGFILE_PENDING_MAX (16 * 1024 * 1024)

struct logfile {
	char *path;
	int fd;
	int64_t size;
	int64_t max; /* 0: never rotate */
	int keep;
	int64_t generation; /* rotations so far, continued from an existing index */
	struct logindex_writer index; /* fd -1 when the index could not be opened */
	struct strbuf pending;        /* output not written yet: the last write failed */
	int error;                    /* errno of the failed write, 0 while writing works */
	int64_t error_since_ms;
	int64_t lost;                 /* bytes dropped beyond LOGFILE_PENDING_MAX, not yet noted */
	int64_t lost_total;
	size_t written; /* how much of the last failed write went out */
};

/* Open (append) the log and its index; only a log that cannot be opened fails. */
int logfile_open(struct logfile *log, const char *path, int64_t max, int keep, struct err *err);
/*
 * Append data, rotating first when the limit would be passed. Returns -1 if
 * it could not be written now (log->error says why; it waits in memory).
 */
int logfile_write(struct logfile *log, const void *data, size_t len);
/* Try again to write what waits; 0 once nothing waits. */
int logfile_retry(struct logfile *log);
/* Close the log and its index. */
void logfile_close(struct logfile *log);

#endif
