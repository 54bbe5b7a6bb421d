/*
 * trainctl export JOB --format FORMAT: one job as a file for another system.
 * Each format is a writer from the job object (as `show` returns it, with
 * "spec" holding its settings and environment) to text; export.c keeps the
 * table of formats.
 */
#ifndef TRAINCTL_EXPORT_H
#define TRAINCTL_EXPORT_H

#include <jansson.h>

#include "lib/err.h"
#include "lib/strbuf.h"

typedef int (*export_fn)(const json_t *job, struct strbuf *out, struct err *err);

/* A systemd service unit that runs the job (systemd.c). */
int export_systemd(const json_t *job, struct strbuf *out, struct err *err);

/*
 * The sbatch script `run --on slurm` would submit (lib/slurm_script), with
 * its output to the job's log. It runs in the environment it is submitted
 * from, as sbatch does.
 */
int export_slurm(const json_t *job, struct strbuf *out, struct err *err);

#endif
