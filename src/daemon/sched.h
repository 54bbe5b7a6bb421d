/*
 * The queue: which waiting job starts when. A job waits (state queued, its
 * reason saying for what) until every job of --after has succeeded, its named
 * queue has room and is not paused, and the GPUs it asks for are free; then
 * it starts with CUDA_VISIBLE_DEVICES naming them. Jobs are considered
 * highest --priority first, oldest first within a priority; a job waiting
 * for GPUs keeps later jobs from taking GPUs before it (no starvation of
 * large requests), while jobs without GPUs pass it. A failed dependency
 * cancels the job. `--hold` keeps a job (state held) until `trainctl start`.
 *
 * A GPU is free when no trainctl job holds it and other processes use less
 * than the daemon's gpu-free-mem of its memory. With --gpu-mem SIZE, jobs
 * share GPUs: one takes a GPU held by no exclusive job while the memory
 * declared by its trainctl jobs, plus what other processes use, plus SIZE
 * fits the GPU's total.
 */
#ifndef TRAINCTL_SCHED_H
#define TRAINCTL_SCHED_H

#include <jansson.h>

#include "daemon/daemon.h"

#define SCHED_GPU_FREE_MEM_DEFAULT (1LL << 30)

/*
 * Check the queue-related fields of a new job's spec (resolving --after
 * names to ids in place). Returns the state it enters: JOB_QUEUED, or
 * JOB_HELD for --hold; -1 with err on bad input.
 */
int sched_check_spec(struct daemon *d, json_t *spec, struct err *err);
/*
 * A new job, already recorded as queued: start it now when it can (the
 * reply then comes when its shim reports: returns 1), or leave it waiting
 * (returns 0; the caller replies). -1 with err when it cannot start at all.
 */
int sched_submit(struct daemon *d, int64_t id, struct client *c, struct err *err);
/* Start what can start; update what the others wait for. On every tick. */
void sched_tick(struct daemon *d);
/* `trainctl start`: a held job joins the queue. */
int sched_release_held(struct daemon *d, int64_t id, struct err *err);
/* `queue Q [--parallel N] [--pause|--resume]`; the queues as JSON. */
int sched_queue_update(struct daemon *d, const char *queue, const json_t *req, struct err *err);

#endif
