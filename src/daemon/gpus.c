/* The daemon's view of the GPUs; see gpus.h. */
#include "daemon/gpus.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/supervise.h"
#include "lib/proc.h"
#include "lib/xmalloc.h"

#define ANCESTRY_MAX 64 /* parent links followed at most, looking for a shim */

struct daemon_gpus {
	struct nvml *nvml;
	char why[1024];
	struct gpu_snapshot latest;
	int have_latest;
	int64_t *owners; /* owners[i]: the job of latest.procs[i], 0 for none */
};

static struct daemon_gpus *state(struct daemon *d)
{
	return d->gpus;
}

void gpus_start(struct daemon *d)
{
	struct daemon_gpus *g = xcalloc(1, sizeof(*g));
	struct err err = { 0 };

	g->nvml = nvml_open(&err);
	if (!g->nvml)
		snprintf(g->why, sizeof(g->why), "%s", err.msg);
	else
		daemon_log("NVML loaded: GPUs are sampled and can be allocated to jobs");
	d->gpus = g;
}

void gpus_release(struct daemon *d)
{
	struct daemon_gpus *g = state(d);

	if (!g)
		return;
	gpu_snapshot_release(&g->latest);
	nvml_close(g->nvml);
	free(g->owners);
	free(g);
	d->gpus = NULL;
}

int gpus_check(struct daemon *d, struct err *err)
{
	struct daemon_gpus *g = state(d);

	if (g && g->nvml)
		return 0;
	return err_set(err, "%s", g && g->why[0] ? g->why : NVML_NO_DRIVER_MSG);
}

int64_t gpus_process_job(struct daemon *d, pid_t pid)
{
	struct proc_stat st;

	for (int depth = 0; pid > 1 && depth < ANCESTRY_MAX; depth++) {
		int64_t id = supervise_job_of_shim(d, pid);

		if (id > 0)
			return id;
		if (proc_read_stat(pid, &st) < 0)
			return 0;
		pid = st.ppid;
	}
	return 0;
}

const struct gpu_snapshot *gpus_refresh(struct daemon *d)
{
	struct daemon_gpus *g = state(d);
	struct gpu_snapshot snap;

	if (!g || !g->nvml || nvml_snapshot(g->nvml, &snap, NULL) < 0)
		return NULL;
	gpu_snapshot_release(&g->latest);
	g->latest = snap;
	g->have_latest = 1;
	free(g->owners);
	g->owners = xcalloc(snap.nprocs ? snap.nprocs : 1, sizeof(*g->owners));
	for (size_t i = 0; i < snap.nprocs; i++)
		g->owners[i] = gpus_process_job(d, snap.procs[i].pid);
	return &g->latest;
}

const struct gpu_snapshot *gpus_latest(struct daemon *d)
{
	struct daemon_gpus *g = state(d);

	return g && g->have_latest ? &g->latest : NULL;
}

json_t *gpus_devices_json(struct daemon *d)
{
	const struct gpu_snapshot *snap = gpus_latest(d);
	json_t *list;

	if (!snap)
		return NULL;
	list = json_array();
	for (size_t i = 0; i < snap->ngpus; i++)
		json_array_append_new(list, gpu_device_json(&snap->gpus[i]));
	return list;
}

static const struct gpu_device *device_of(const struct gpu_snapshot *snap, unsigned index)
{
	for (size_t i = 0; i < snap->ngpus; i++) {
		if (snap->gpus[i].index == index)
			return &snap->gpus[i];
	}
	return NULL;
}

void gpus_job_usage(struct daemon *d, int64_t id, int64_t *mem_bytes, double *util)
{
	struct daemon_gpus *g = state(d);
	const struct gpu_snapshot *snap = gpus_latest(d);
	double sm = 0, dev = 0;
	int nsm = 0, ndev = 0, any = 0;

	*mem_bytes = -1;
	*util = -1;
	if (!snap)
		return;
	for (size_t i = 0; i < snap->nprocs; i++) {
		const struct gpu_process *p = &snap->procs[i];
		const struct gpu_device *dv = device_of(snap, p->gpu);

		if (g->owners[i] != id)
			continue;
		any = 1;
		if (p->used_mem >= 0)
			*mem_bytes = (*mem_bytes < 0 ? 0 : *mem_bytes) + p->used_mem;
		if (p->sm_util >= 0) {
			sm += p->sm_util;
			nsm++;
		} else if (dv && dv->util_gpu >= 0) {
			dev += dv->util_gpu;
			ndev++;
		}
	}
	if (any && nsm)
		*util = sm / nsm;
	else if (any && ndev)
		*util = dev / ndev;
}
