/*
 * NVML by dlopen; see nvml.h.
 *
 * The functions we use are resolved from one table of {name, offset} into a
 * vtable whose pointer types come from our own declarations (nvml_api.h), so
 * a signature is written once and the fake NVML of the tests is compiled
 * against the same one. NVML_ERROR_NOT_SUPPORTED is how a driver says a card
 * lacks a sensor (consumer cards report no power draw, for instance): such a
 * field becomes -1, "unknown", and the snapshot goes on. Any other error is
 * a real failure of the device and fails the snapshot with NVML's own words.
 */
#include "lib/nvml.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "lib/nvml_api.h"
#include "lib/parse.h"
#include "lib/xmalloc.h"

#define NVML_DEFAULT_LIB "libnvidia-ml.so.1"
/* How far back per-process utilization samples count, in microseconds. */
#define PROCESS_SAMPLE_WINDOW_US 2000000ULL
/* Retries when the process list grows between sizing it and reading it. */
#define PROCESS_LIST_TRIES 5

struct nvml_api {
	__typeof__(nvmlInit_v2) *init;
	__typeof__(nvmlShutdown) *shutdown;
	__typeof__(nvmlErrorString) *error_string;
	__typeof__(nvmlDeviceGetCount_v2) *device_count;
	__typeof__(nvmlDeviceGetHandleByIndex_v2) *device_handle;
	__typeof__(nvmlDeviceGetName) *device_name;
	__typeof__(nvmlDeviceGetUUID) *device_uuid;
	__typeof__(nvmlDeviceGetPciInfo_v3) *device_pci;
	__typeof__(nvmlDeviceGetMemoryInfo) *device_memory;
	__typeof__(nvmlDeviceGetUtilizationRates) *device_utilization;
	__typeof__(nvmlDeviceGetTemperature) *device_temperature;
	__typeof__(nvmlDeviceGetPowerUsage) *device_power;
	__typeof__(nvmlDeviceGetEnforcedPowerLimit) *device_power_limit;
	__typeof__(nvmlDeviceGetComputeRunningProcesses_v3) *device_processes;
	__typeof__(nvmlDeviceGetProcessUtilization) *process_utilization; /* may be NULL */
};

static const struct nvml_symbol {
	const char *name;
	size_t offset;
	int optional; /* missing: the feature is unknown, not an error */
} nvml_symbols[] = {
#define SYMBOL(field, name, optional) { name, offsetof(struct nvml_api, field), optional }
	SYMBOL(init, "nvmlInit_v2", 0),
	SYMBOL(shutdown, "nvmlShutdown", 0),
	SYMBOL(error_string, "nvmlErrorString", 0),
	SYMBOL(device_count, "nvmlDeviceGetCount_v2", 0),
	SYMBOL(device_handle, "nvmlDeviceGetHandleByIndex_v2", 0),
	SYMBOL(device_name, "nvmlDeviceGetName", 0),
	SYMBOL(device_uuid, "nvmlDeviceGetUUID", 0),
	SYMBOL(device_pci, "nvmlDeviceGetPciInfo_v3", 0),
	SYMBOL(device_memory, "nvmlDeviceGetMemoryInfo", 0),
	SYMBOL(device_utilization, "nvmlDeviceGetUtilizationRates", 0),
	SYMBOL(device_temperature, "nvmlDeviceGetTemperature", 0),
	SYMBOL(device_power, "nvmlDeviceGetPowerUsage", 0),
	SYMBOL(device_power_limit, "nvmlDeviceGetEnforcedPowerLimit", 0),
	SYMBOL(device_processes, "nvmlDeviceGetComputeRunningProcesses_v3", 0),
	SYMBOL(process_utilization, "nvmlDeviceGetProcessUtilization", 1),
#undef SYMBOL
};

struct nvml {
	void *lib;
	struct nvml_api api;
};

/* Fill the vtable from the table; -1 naming the first required symbol missing. */
static int nvml_resolve(struct nvml *n, const char *lib_name, struct err *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(nvml_symbols); i++) {
		const struct nvml_symbol *s = &nvml_symbols[i];
		void *sym = dlsym(n->lib, s->name);

		if (!sym && !s->optional)
			return err_set(err, "%s has no %s (is the NVIDIA driver older than R470?)",
				       lib_name, s->name);
		memcpy((char *)&n->api + s->offset, &sym, sizeof(sym));
	}
	return 0;
}

struct nvml *nvml_open(struct err *err)
{
	const char *override = getenv("TRAINCTL_NVML_LIB");
	const char *lib_name = override && *override ? override : NVML_DEFAULT_LIB;
	struct nvml *n = xcalloc(1, sizeof(*n));
	nvmlReturn_t rc;

	n->lib = dlopen(lib_name, RTLD_NOW | RTLD_LOCAL);
	if (!n->lib) {
		if (lib_name == override)
			err_set(err, NVML_NO_DRIVER_MSG " (TRAINCTL_NVML_LIB: %s)", dlerror());
		else
			err_set(err, NVML_NO_DRIVER_MSG);
		free(n);
		return NULL;
	}
	if (nvml_resolve(n, lib_name, err) < 0)
		goto fail;
	rc = n->api.init();
	if (rc == NVML_ERROR_DRIVER_NOT_LOADED) {
		err_set(err, NVML_NO_DRIVER_MSG " (%s is installed but the kernel driver is not loaded)",
			lib_name);
		goto fail;
	}
	if (rc != NVML_SUCCESS) {
		err_set(err, "cannot initialise NVML: %s", n->api.error_string(rc));
		goto fail;
	}
	return n;
fail:
	dlclose(n->lib);
	free(n);
	return NULL;
}

void nvml_close(struct nvml *n)
{
	if (!n)
		return;
	n->api.shutdown();
	dlclose(n->lib);
	free(n);
}

/*
 * The outcome of one device query: 1 read, 0 not supported by this device
 * (the field stays unknown), -1 an error, with err naming the GPU and call.
 */
static int nvml_field(struct nvml *n, nvmlReturn_t rc, unsigned index, const char *call,
		      struct err *err)
{
	if (rc == NVML_SUCCESS)
		return 1;
	if (rc == NVML_ERROR_NOT_SUPPORTED)
		return 0;
	return err_set(err, "GPU %u: %s: %s", index, call, n->api.error_string(rc));
}

static void device_init(struct gpu_device *g, unsigned index)
{
	memset(g, 0, sizeof(*g));
	g->index = index;
	g->mem_total = g->mem_used = -1;
	g->util_gpu = g->util_mem = -1;
	g->temperature_c = -1;
	g->power_w = g->power_limit_w = -1;
}

/* The identity of a device: name, UUID and PCI bus id ("" when not supported). */
static int device_read_identity(struct nvml *n, nvmlDevice_t dev, struct gpu_device *g,
				struct err *err)
{
	nvmlPciInfo_t pci;

	if (nvml_field(n, n->api.device_name(dev, g->name, sizeof(g->name)), g->index,
		       "nvmlDeviceGetName", err) < 0 ||
	    nvml_field(n, n->api.device_uuid(dev, g->uuid, sizeof(g->uuid)), g->index,
		       "nvmlDeviceGetUUID", err) < 0)
		return -1;
	switch (nvml_field(n, n->api.device_pci(dev, &pci), g->index, "nvmlDeviceGetPciInfo_v3", err)) {
	case 1:
		snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "%.*s", (int)sizeof(pci.busId) - 1,
			 pci.busId);
		break;
	case -1:
		return -1;
	}
	g->name[sizeof(g->name) - 1] = g->uuid[sizeof(g->uuid) - 1] = '\0';
	return 0;
}

/* Memory, utilization, temperature and power; unsupported ones stay -1. */
static int device_read_sensors(struct nvml *n, nvmlDevice_t dev, struct gpu_device *g,
			       struct err *err)
{
	nvmlMemory_t mem;
	nvmlUtilization_t util;
	unsigned value;
	int r;

	if ((r = nvml_field(n, n->api.device_memory(dev, &mem), g->index, "nvmlDeviceGetMemoryInfo",
			    err)) < 0)
		return -1;
	if (r) {
		g->mem_total = (int64_t)mem.total;
		g->mem_used = (int64_t)mem.used;
	}
	if ((r = nvml_field(n, n->api.device_utilization(dev, &util), g->index,
			    "nvmlDeviceGetUtilizationRates", err)) < 0)
		return -1;
	if (r) {
		g->util_gpu = (int)util.gpu;
		g->util_mem = (int)util.memory;
	}
	if ((r = nvml_field(n, n->api.device_temperature(dev, NVML_TEMPERATURE_GPU, &value),
			    g->index, "nvmlDeviceGetTemperature", err)) < 0)
		return -1;
	if (r)
		g->temperature_c = (int)value;
	if ((r = nvml_field(n, n->api.device_power(dev, &value), g->index, "nvmlDeviceGetPowerUsage",
			    err)) < 0)
		return -1;
	if (r)
		g->power_w = value / 1000.0;
	if ((r = nvml_field(n, n->api.device_power_limit(dev, &value), g->index,
			    "nvmlDeviceGetEnforcedPowerLimit", err)) < 0)
		return -1;
	if (r)
		g->power_limit_w = value / 1000.0;
	return 0;
}

static void snapshot_add_process(struct gpu_snapshot *s, size_t *alloc, unsigned gpu,
				 const nvmlProcessInfo_t *info)
{
	struct gpu_process *p;

	if (s->nprocs == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		s->procs = xreallocarray(s->procs, *alloc, sizeof(*s->procs));
	}
	p = &s->procs[s->nprocs++];
	p->gpu = gpu;
	p->pid = (pid_t)info->pid;
	p->used_mem = info->usedGpuMemory == NVML_VALUE_NOT_AVAILABLE ? -1
								      : (int64_t)info->usedGpuMemory;
	p->sm_util = -1;
}

/*
 * The device's compute processes. The list can grow between the call that
 * sizes it and the one that reads it (NVML_ERROR_INSUFFICIENT_SIZE), so
 * read again with room to spare, a few times.
 */
static int device_read_processes(struct nvml *n, nvmlDevice_t dev, unsigned index,
				 struct gpu_snapshot *s, size_t *alloc, struct err *err)
{
	unsigned room = 16, count = 0;
	nvmlProcessInfo_t *infos = NULL;
	nvmlReturn_t rc = NVML_ERROR_INSUFFICIENT_SIZE;
	int ret;

	for (int tries = 0; tries < PROCESS_LIST_TRIES && rc == NVML_ERROR_INSUFFICIENT_SIZE; tries++) {
		infos = xreallocarray(infos, room, sizeof(*infos));
		count = room;
		rc = n->api.device_processes(dev, &count, infos);
		if (rc == NVML_ERROR_INSUFFICIENT_SIZE)
			room = count + 8;
	}
	ret = nvml_field(n, rc, index, "nvmlDeviceGetComputeRunningProcesses_v3", err);
	for (unsigned i = 0; ret == 1 && i < count; i++)
		snapshot_add_process(s, alloc, index, &infos[i]);
	free(infos);
	return ret < 0 ? -1 : 0;
}

/*
 * SM utilization of the device's processes from its recent samples (the
 * newest per pid). Best effort: where the driver has none to give, the
 * processes' sm_util stays unknown; a process without a recent sample did
 * not use the SMs (NVML returns only processes that did).
 */
static void device_read_process_utilization(struct nvml *n, nvmlDevice_t dev,
					    struct gpu_process *procs, size_t nprocs)
{
	unsigned long long since = (unsigned long long)time_now_ms() * 1000 - PROCESS_SAMPLE_WINDOW_US;
	nvmlProcessUtilizationSample_t *samples = NULL;
	unsigned count = 0;
	nvmlReturn_t rc;

	if (!n->api.process_utilization || nprocs == 0)
		return;
	rc = n->api.process_utilization(dev, NULL, &count, since);
	if (rc == NVML_ERROR_INSUFFICIENT_SIZE && count > 0) {
		count += 8;
		samples = xcalloc(count, sizeof(*samples));
		rc = n->api.process_utilization(dev, samples, &count, since);
	}
	if (rc != NVML_SUCCESS && rc != NVML_ERROR_NOT_FOUND)
		goto out;
	for (size_t i = 0; i < nprocs; i++) {
		unsigned long long newest = 0;

		procs[i].sm_util = 0;
		for (unsigned j = 0; samples && rc == NVML_SUCCESS && j < count; j++) {
			if ((pid_t)samples[j].pid == procs[i].pid && samples[j].timeStamp >= newest) {
				newest = samples[j].timeStamp;
				procs[i].sm_util = (int)samples[j].smUtil;
			}
		}
	}
out:
	free(samples);
}

int nvml_snapshot(struct nvml *n, struct gpu_snapshot *out, struct err *err)
{
	unsigned count;
	size_t alloc = 0;
	nvmlReturn_t rc;

	memset(out, 0, sizeof(*out));
	rc = n->api.device_count(&count);
	if (rc != NVML_SUCCESS)
		return err_set(err, "nvmlDeviceGetCount_v2: %s", n->api.error_string(rc));
	out->gpus = xcalloc(count ? count : 1, sizeof(*out->gpus));
	for (unsigned i = 0; i < count; i++) {
		struct gpu_device *g = &out->gpus[i];
		size_t first = out->nprocs;
		nvmlDevice_t dev;

		device_init(g, i);
		out->ngpus++;
		rc = n->api.device_handle(i, &dev);
		if (rc != NVML_SUCCESS) {
			err_set(err, "GPU %u: nvmlDeviceGetHandleByIndex_v2: %s", i,
				n->api.error_string(rc));
			goto fail;
		}
		if (device_read_identity(n, dev, g, err) < 0 || device_read_sensors(n, dev, g, err) < 0 ||
		    device_read_processes(n, dev, i, out, &alloc, err) < 0)
			goto fail;
		device_read_process_utilization(n, dev, out->procs + first, out->nprocs - first);
	}
	return 0;
fail:
	gpu_snapshot_release(out);
	return -1;
}

void gpu_snapshot_release(struct gpu_snapshot *s)
{
	free(s->gpus);
	free(s->procs);
	memset(s, 0, sizeof(*s));
}

/* An integer, or null when unknown (negative). */
static json_t *json_known_int(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *json_known_real(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

json_t *gpu_device_json(const struct gpu_device *g)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "index", json_integer(g->index));
	json_object_set_new(obj, "name", json_string(g->name));
	json_object_set_new(obj, "uuid", json_string(g->uuid));
	json_object_set_new(obj, "pci_bus_id", json_string(g->pci_bus_id));
	json_object_set_new(obj, "mem_total", json_known_int(g->mem_total));
	json_object_set_new(obj, "mem_used", json_known_int(g->mem_used));
	json_object_set_new(obj, "util_gpu", json_known_int(g->util_gpu));
	json_object_set_new(obj, "util_mem", json_known_int(g->util_mem));
	json_object_set_new(obj, "temperature_c", json_known_int(g->temperature_c));
	json_object_set_new(obj, "power_w", json_known_real(g->power_w));
	json_object_set_new(obj, "power_limit_w", json_known_real(g->power_limit_w));
	return obj;
}

json_t *gpu_process_json(const struct gpu_process *p)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "gpu", json_integer(p->gpu));
	json_object_set_new(obj, "pid", json_integer(p->pid));
	json_object_set_new(obj, "used_mem", json_known_int(p->used_mem));
	json_object_set_new(obj, "sm_util", json_known_int(p->sm_util));
	return obj;
}
