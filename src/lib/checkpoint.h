/*
 * Finding a job's latest complete checkpoint from its --checkpoint GLOB
 * (relative to the job's cwd). Files are ordered by the last number in
 * their name, compared as numbers ("epoch_10" after "epoch_9"), then by
 * name, then by mtime. Directories never count. A file is complete when its name does not look partial (".tmp",
 * ".part", ".partial", ".incomplete", "~", a leading '.') and its size and
 * mtime did not change since the previous scan, so a file still being
 * written is never taken for the latest checkpoint.
 *
 * The scanner keeps what it saw last time; call checkpoint_scan() on every
 * tick of the daemon's timer. While the latest is being written again in
 * place, it stays the latest (with its previous mtime) until complete again;
 * a restart looks with a scanner of its own, so it never takes such a file.
 */
#ifndef TRAINCTL_CHECKPOINT_H
#define TRAINCTL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct checkpoint_scanner;

/* glob is relative to cwd unless absolute. NULL with a usage error when glob is empty. */
struct checkpoint_scanner *checkpoint_scanner_new(const char *cwd, const char *glob,
						  struct err *err);
void checkpoint_scanner_free(struct checkpoint_scanner *s);

/*
 * Look at the files again. Returns 1 when a new latest complete checkpoint
 * appeared since the last call (then checkpoint_latest() names it), else 0.
 */
int checkpoint_scan(struct checkpoint_scanner *s);
/* The absolute path of the latest complete checkpoint, or NULL. */
const char *checkpoint_latest(const struct checkpoint_scanner *s);
/* Its mtime in epoch milliseconds (0 when none). */
int64_t checkpoint_latest_mtime_ms(const struct checkpoint_scanner *s);

/*
 * Compare two file names the way checkpoints are ordered: by the last number
 * in each name (as numbers), then by the names. Exposed for tests.
 */
int checkpoint_name_compare(const char *a, const char *b);
/* Does the name look like a file still being written? Exposed for tests. */
int checkpoint_name_is_partial(const char *name);

#endif
