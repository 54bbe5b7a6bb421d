/*
 * Reasons a person can act on, beyond the exit status: why trainctl itself
 * stopped a job (time-limit, hung), whether a stopped job saved a checkpoint
 * on the way out, and for a failure, the error line from the end of its log,
 * a CUDA out-of-memory error, or an OOM kill by the kernel.
 */
#ifndef TRAINCTL_REASONS_H
#define TRAINCTL_REASONS_H

#include "daemon/daemon.h"

/* Refine the state and reason job_exit_classify() gave an ended attempt. */
void reasons_refine(struct daemon *d, int64_t id, const struct job_exit *ex,
		    enum job_state *state, char *reason, size_t size);

#endif
