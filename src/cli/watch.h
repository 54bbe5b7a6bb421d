/*
 * Waiting for a job with one live status line on stderr (`run --wait`):
 * progress bar, percentage, count, rate, ETA and elapsed time, redrawn in
 * place while the job runs. Ctrl-C asks whether to stop the job or only to
 * stop waiting.
 */
#ifndef TRAINCTL_WATCH_H
#define TRAINCTL_WATCH_H

#include <stdint.h>

#include "cli/cmd.h"

/* Wait for job id to end; returns its exit status (or -1 with ctx->err). */
int watch_job(struct cmd_ctx *ctx, int64_t id);

#endif
