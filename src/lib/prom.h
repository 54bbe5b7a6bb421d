/*
 * The Prometheus text exposition format (version 0.0.4) for trainctl's
 * metrics, rendered from the daemon's own replies: the job objects of `ls`
 * (every job) and the `machine` reply (its "gpus", when there are any). Pure:
 * no I/O, so the format is unit-tested directly.
 */
#ifndef TRAINCTL_PROM_H
#define TRAINCTL_PROM_H

#include <jansson.h>
#include <stdint.h>

#include "lib/strbuf.h"

/* A label value escaped as the format wants: backslash, double quote, newline. */
void prom_escape_label(struct strbuf *out, const char *value);

/*
 * Every metric: jobs by state and queue, per live job (labels id, name,
 * queue), per GPU (labels gpu, uuid, name), the daemon's uptime and version.
 * machine may be NULL. now_ms is the wall clock, for seconds since output.
 */
void prom_render(struct strbuf *out, const json_t *jobs, const json_t *machine,
		 double uptime_s, const char *version, int64_t now_ms);

#endif
