/*
 * The daemon's view of the GPUs. NVML is opened once at start-up when there
 * is a driver (nothing else changes when there is none); a snapshot is taken
 * at every sampling tick, and afresh by the scheduler when it places jobs.
 * A GPU process belongs to the trainctl job whose shim is its ancestor.
 */
#ifndef TRAINCTL_DAEMON_GPUS_H
#define TRAINCTL_DAEMON_GPUS_H

#include <jansson.h>

#include "daemon/daemon.h"
#include "lib/nvml.h"

void gpus_start(struct daemon *d);
void gpus_release(struct daemon *d);
/* 0 when NVML is loaded; -1 with err saying why not ("no NVIDIA driver ..."). */
int gpus_check(struct daemon *d, struct err *err);
/* A new snapshot, kept as the latest; NULL without NVML or when it fails. */
const struct gpu_snapshot *gpus_refresh(struct daemon *d);
/* The latest snapshot (NULL before the first, or without NVML). */
const struct gpu_snapshot *gpus_latest(struct daemon *d);
/* The live job whose shim is an ancestor of pid, or 0 for a process of no job. */
int64_t gpus_process_job(struct daemon *d, pid_t pid);
/* The latest devices as a JSON array (NULL without NVML). */
json_t *gpus_devices_json(struct daemon *d);
/*
 * A job's GPU memory (sum over its processes) and utilization (its processes'
 * SM utilization when NVML reports it, else the mean of the devices they
 * use), from the latest snapshot; -1 when unknown.
 */
void gpus_job_usage(struct daemon *d, int64_t id, int64_t *mem_bytes, double *util);

#endif
