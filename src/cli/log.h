/*
 * Reading a job's log for other commands (`top`'s detail pane and log view):
 * the same files, rotations and plain-text folding as `trainctl log --plain`.
 */
#ifndef TRAINCTL_LOG_H
#define TRAINCTL_LOG_H

#include <stddef.h>

#include "lib/strbuf.h"

/*
 * Append to out the plain text (lib/plain.h: '\r' redraws folded, escapes
 * stripped) of the last `lines` lines of the log at path and its rotations,
 * reading no more than max_bytes of their end. Nothing when there is no log.
 */
void log_tail_plain(const char *path, long lines, size_t max_bytes, struct strbuf *out);

#endif
