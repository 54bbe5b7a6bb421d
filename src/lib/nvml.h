/*
 * NVIDIA GPUs through NVML, loaded at run time with dlopen: no build-time
 * dependency, and a clear error on machines without a driver. A snapshot
 * reads every device and its compute processes at one moment; the CLI's
 * `gpu` commands, the daemon and the metrics endpoint all work from it.
 * $TRAINCTL_NVML_LIB names another library (the tests' fake NVML).
 */
#ifndef TRAINCTL_NVML_H
#define TRAINCTL_NVML_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"

#define NVML_NO_DRIVER_MSG "no NVIDIA driver (libnvidia-ml.so.1) found"

struct gpu_device {
	unsigned index;
	char name[96];
	char uuid[96];
	char pci_bus_id[32];
	int64_t mem_total, mem_used;    /* bytes; -1 unknown */
	int util_gpu, util_mem;         /* percent; -1 not supported */
	int temperature_c;              /* -1 unknown */
	double power_w, power_limit_w;  /* watts; -1 unknown */
};

struct gpu_process {
	unsigned gpu;       /* device index */
	pid_t pid;
	int64_t used_mem;   /* bytes; -1 when NVML does not say */
	int sm_util;        /* percent, from per-process utilization samples; -1 unknown */
};

struct gpu_snapshot {
	struct gpu_device *gpus;
	size_t ngpus;
	struct gpu_process *procs;
	size_t nprocs;
};

struct nvml;
/* dlopen $TRAINCTL_NVML_LIB or "libnvidia-ml.so.1", resolve symbols, nvmlInit_v2.
 * NULL with err = NVML_NO_DRIVER_MSG (plus detail) when there is none. */
struct nvml *nvml_open(struct err *err);
/* Read every device and its compute processes now. */
int nvml_snapshot(struct nvml *n, struct gpu_snapshot *out, struct err *err);
void gpu_snapshot_release(struct gpu_snapshot *s);
void nvml_close(struct nvml *n);   /* nvmlShutdown + dlclose; NULL is fine */
/* JSON for one device / one process (field names = the struct's, bytes as integers,
 * unknown as null), used by `gpu --json`, the daemon and the metrics endpoint. */
json_t *gpu_device_json(const struct gpu_device *g);
json_t *gpu_process_json(const struct gpu_process *p);

#endif
