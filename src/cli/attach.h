/*
 * Being a job's terminal: the client side of a shim's attach stream, shared
 * by `trainctl attach` and `trainctl run --attach`.
 */
#ifndef TRAINCTL_ATTACH_H
#define TRAINCTL_ATTACH_H

#include <jansson.h>

#include "cli/cmd.h"

enum attach_end { ATTACH_DETACHED, ATTACH_JOB_ENDED };

/*
 * Attach to job (its JSON object, as `show` returns it) until the user
 * detaches or the job ends. *status gets the job's exit status when it ended.
 * Returns the way it ended, or -1 with ctx->err filled.
 */
int attach_job(struct cmd_ctx *ctx, const json_t *job, int readonly, int detach_key, int *status);
/* The detach key from --detach-key, else $TRAINCTL_DETACH_KEY, else Ctrl-\. -1 on bad input. */
int attach_detach_key(struct cmd_ctx *ctx, const char *option);

#endif
