/*
 * The sbatch script of a job spec: the same job, described for Slurm. The
 * daemon submits it with `sbatch --parsable` for `run --on slurm`, and
 * `export --format slurm` prints it. Pure: no I/O, unit-tested.
 *
 * What the spec says becomes #SBATCH directives (name, directory, log,
 * partition, account, nodes, tasks per node, GPUs, CPUs, memory, time limit
 * and the stop signal before it); the command runs with exec, so that the
 * signals Slurm sends reach the job itself, or under srun with the
 * environment a distributed launcher needs when the job spans nodes or tasks.
 */
#ifndef TRAINCTL_SLURM_SCRIPT_H
#define TRAINCTL_SLURM_SCRIPT_H

#include <jansson.h>

#include "lib/err.h"
#include "lib/strbuf.h"

/*
 * Append the script for spec to out. Spec keys used: argv or sh, cwd, name,
 * log (the output file; without it Slurm's slurm-%j.out), marker (a line
 * printed first, for restart attempts), partition, account, nodes,
 * ntasks_per_node, gpus (a count, or an array of indices whose size is the
 * count), cpu_limit, mem_limit, time_limit_ms, stop_signal, stop_timeout_ms.
 * -1 with err for a value that cannot go into a script.
 */
int slurm_script_build(const json_t *spec, struct strbuf *out, struct err *err);

#endif
