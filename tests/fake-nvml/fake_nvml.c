/*
 * A fake NVML for the tests: built as libnvidia-ml.so.1, it exports the NVML
 * functions trainctl uses (with NVML's signatures and return codes, from
 * src/lib/nvml_api.h) and answers them from a text file, so that trainctl's
 * real NVML code runs on machines without a GPU. Select it with
 * TRAINCTL_NVML_LIB=<build>/tests/fake-nvml/libnvidia-ml.so.1 and name the
 * file with TRAINCTL_FAKE_NVML. The file is read again by nvmlInit_v2 and by
 * every nvmlDeviceGetCount_v2 (the call that starts a snapshot), so a test
 * can change it while trainctl runs.
 *
 * The file, one item per line; '#' starts a comment, blank lines are skipped:
 *
 *   gpu 0 name="NVIDIA A100-SXM4-40GB" uuid=GPU-5f1c... bus=00000000:07:00.0
 *         mem_total=40G mem_used=1G util=35 mem_util=10 temp=54 power=210
 *         power_limit=400 unsupported=power,temp
 *   proc gpu=0 pid=1234 mem=20G sm=40
 *   init error=driver_not_loaded
 *
 * (a gpu is one line; it is folded here to fit). GPUs are numbered 0, 1, ...
 * in order. Every gpu key is optional: name "NVIDIA Fake GPU", uuid
 * GPU-00000000-0000-0000-0000-0000000000NN, bus 00000000:NN:00.0 (NN the
 * index in hex), mem_total 16G, mem_used 0, util 0, mem_util 0, temp 30,
 * power 50, power_limit 300. Sizes take K, M, G, T (powers of 1024) and
 * fractions ("1.5G"); power is in watts.
 *
 *   unsupported=LIST   these calls return NVML_ERROR_NOT_SUPPORTED, as on
 *                      consumer cards: name, uuid, pci, mem, util (both
 *                      rates), temp, power, power_limit, procs, proc_util
 *   error=gpu_is_lost  every query of the device fails with that error
 *                      (also: no_permission, unknown)
 *
 * A proc line puts a compute process on a GPU: mem is its used memory
 * (mem=unknown reports NVML_VALUE_NOT_AVAILABLE; default 0), sm its SM
 * utilization, reported through nvmlDeviceGetProcessUtilization when above
 * 0. Like the real driver, which forgets a process once it has exited, the
 * fake leaves out a proc whose pid is not a live process (absent from /proc,
 * or a zombie): tests list real processes.
 *
 * "init error=NAME" makes nvmlInit_v2 fail with that error
 * (driver_not_loaded, no_permission, unknown). Without TRAINCTL_FAKE_NVML,
 * nvmlInit_v2 says NVML_ERROR_DRIVER_NOT_LOADED. A file that cannot be read
 * or parsed makes nvmlInit_v2 and nvmlDeviceGetCount_v2 fail with
 * NVML_ERROR_UNKNOWN, after a message on stderr naming the file and line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "lib/nvml_api.h"

#define FAKE_MAX_GPUS 64
#define FAKE_MAX_PROCS 1024
#define FAKE_NAME_SIZE 96

enum fake_call {
	CALL_NAME = 1 << 0,
	CALL_UUID = 1 << 1,
	CALL_PCI = 1 << 2,
	CALL_MEM = 1 << 3,
	CALL_UTIL = 1 << 4,
	CALL_TEMP = 1 << 5,
	CALL_POWER = 1 << 6,
	CALL_POWER_LIMIT = 1 << 7,
	CALL_PROCS = 1 << 8,
	CALL_PROC_UTIL = 1 << 9,
};

static const struct {
	const char *name;
	unsigned call;
} call_names[] = {
	{ "name", CALL_NAME },	 { "uuid", CALL_UUID },	    { "pci", CALL_PCI },
	{ "mem", CALL_MEM },	 { "util", CALL_UTIL },	    { "temp", CALL_TEMP },
	{ "power", CALL_POWER }, { "power_limit", CALL_POWER_LIMIT }, { "procs", CALL_PROCS },
	{ "proc_util", CALL_PROC_UTIL },
};

static const struct {
	const char *name;
	nvmlReturn_t code;
} error_names[] = {
	{ "driver_not_loaded", NVML_ERROR_DRIVER_NOT_LOADED },
	{ "no_permission", NVML_ERROR_NO_PERMISSION },
	{ "gpu_is_lost", NVML_ERROR_GPU_IS_LOST },
	{ "unknown", NVML_ERROR_UNKNOWN },
};

struct nvmlDevice_st {
	char name[FAKE_NAME_SIZE];
	char uuid[FAKE_NAME_SIZE];
	char bus[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
	unsigned long long mem_total, mem_used;
	unsigned util, mem_util, temp, power_mw, power_limit_mw;
	unsigned unsupported; /* enum fake_call bits */
	nvmlReturn_t error;   /* of every query, or NVML_SUCCESS */
};

struct fake_proc {
	unsigned gpu;
	unsigned pid;
	unsigned long long mem;
	unsigned sm;
};

static struct nvmlDevice_st gpus[FAKE_MAX_GPUS];
static unsigned ngpus;
static struct fake_proc procs[FAKE_MAX_PROCS];
static unsigned nprocs;
static nvmlReturn_t init_error;
static int init_count;

/* ---- the file ---- */

struct parse_state {
	const char *path;
	int line;
};

static nvmlReturn_t parse_fail(const struct parse_state *ps, const char *what, const char *text)
{
	fprintf(stderr, "fake-nvml: %s:%d: %s '%s'\n", ps->path, ps->line, what, text);
	return NVML_ERROR_UNKNOWN;
}

/* A size: "40G", "1.5G", "512M", "1024" (bytes). */
static int parse_size(const char *s, unsigned long long *out)
{
	static const char units[] = "KMGT";
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return -1;
	if (*end) {
		const char *u = strchr(units, toupper((unsigned char)*end));
		if (!u || !*u || (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB")))
			return -1;
		for (long i = 0; i <= u - units; i++)
			v *= 1024;
	}
	*out = (unsigned long long)(v + 0.5);
	return 0;
}

static int parse_unsigned(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (end == s || *end || errno || v > 0xffffffffUL || *s == '-')
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Watts (fractions allowed) into milliwatts. */
static int parse_watts(const char *s, unsigned *mw)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || v < 0 || v > 4e6)
		return -1;
	*mw = (unsigned)(v * 1000 + 0.5);
	return 0;
}

static int parse_calls(char *list, unsigned *calls)
{
	for (char *word = strtok(list, ","); word; word = strtok(NULL, ",")) {
		size_t i;
		for (i = 0; i < sizeof(call_names) / sizeof(call_names[0]); i++) {
			if (strcmp(word, call_names[i].name) == 0)
				break;
		}
		if (i == sizeof(call_names) / sizeof(call_names[0]))
			return -1;
		*calls |= call_names[i].call;
	}
	return 0;
}

static int parse_error(const char *s, nvmlReturn_t *out)
{
	for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
		if (strcmp(s, error_names[i].name) == 0) {
			*out = error_names[i].code;
			return 0;
		}
	}
	return -1;
}

/*
 * The next key=value of a line (a value may be "double quoted"); cuts the
 * line in place. 0 at the end of the line, -1 for a word without '='.
 */
static int next_pair(char **cursor, char **key, char **value)
{
	char *p = *cursor;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return 0;
	*key = p;
	while (*p && *p != '=' && !isspace((unsigned char)*p))
		p++;
	if (*p != '=') {
		*cursor = p;
		return -1;
	}
	*p++ = '\0';
	if (*p == '"') {
		*value = ++p;
		while (*p && *p != '"')
			p++;
	} else {
		*value = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
	}
	if (*p)
		*p++ = '\0';
	*cursor = p;
	return 1;
}

static void gpu_defaults(struct nvmlDevice_st *g, unsigned index)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "NVIDIA Fake GPU");
	snprintf(g->uuid, sizeof(g->uuid), "GPU-00000000-0000-0000-0000-0000000000%02x", index);
	snprintf(g->bus, sizeof(g->bus), "00000000:%02x:00.0", index);
	g->mem_total = 16ULL << 30;
	g->temp = 30;
	g->power_mw = 50000;
	g->power_limit_mw = 300000;
}

static int gpu_set(struct nvmlDevice_st *g, const char *key, char *value)
{
	if (!strcmp(key, "name"))
		return snprintf(g->name, sizeof(g->name), "%s", value) < (int)sizeof(g->name) ? 0 : -1;
	if (!strcmp(key, "uuid"))
		return snprintf(g->uuid, sizeof(g->uuid), "%s", value) < (int)sizeof(g->uuid) ? 0 : -1;
	if (!strcmp(key, "bus"))
		return snprintf(g->bus, sizeof(g->bus), "%s", value) < (int)sizeof(g->bus) ? 0 : -1;
	if (!strcmp(key, "mem_total"))
		return parse_size(value, &g->mem_total);
	if (!strcmp(key, "mem_used"))
		return parse_size(value, &g->mem_used);
	if (!strcmp(key, "util"))
		return parse_unsigned(value, &g->util);
	if (!strcmp(key, "mem_util"))
		return parse_unsigned(value, &g->mem_util);
	if (!strcmp(key, "temp"))
		return parse_unsigned(value, &g->temp);
	if (!strcmp(key, "power"))
		return parse_watts(value, &g->power_mw);
	if (!strcmp(key, "power_limit"))
		return parse_watts(value, &g->power_limit_mw);
	if (!strcmp(key, "unsupported"))
		return parse_calls(value, &g->unsupported);
	if (!strcmp(key, "error"))
		return parse_error(value, &g->error);
	return -1;
}

static int proc_set(struct fake_proc *p, const char *key, const char *value)
{
	if (!strcmp(key, "gpu"))
		return parse_unsigned(value, &p->gpu);
	if (!strcmp(key, "pid"))
		return parse_unsigned(value, &p->pid);
	if (!strcmp(key, "sm"))
		return parse_unsigned(value, &p->sm);
	if (!strcmp(key, "mem") && !strcmp(value, "unknown")) {
		p->mem = NVML_VALUE_NOT_AVAILABLE;
		return 0;
	}
	if (!strcmp(key, "mem"))
		return parse_size(value, &p->mem);
	return -1;
}

/* The pairs of one line, given to set(); the first bad one is reported. */
static nvmlReturn_t parse_pairs(const struct parse_state *ps, char *rest, void *item,
				int (*set)(void *item, const char *key, char *value))
{
	char *key, *value;
	int r;

	while ((r = next_pair(&rest, &key, &value)) != 0) {
		if (r < 0)
			return parse_fail(ps, "expected key=value at", key);
		if (set(item, key, value) < 0)
			return parse_fail(ps, "bad setting", key);
	}
	return NVML_SUCCESS;
}

static int gpu_set_any(void *item, const char *key, char *value)
{
	return gpu_set(item, key, value);
}

static int proc_set_any(void *item, const char *key, char *value)
{
	return proc_set(item, key, value);
}

static int init_set_any(void *item, const char *key, char *value)
{
	return strcmp(key, "error") ? -1 : parse_error(value, item);
}

static nvmlReturn_t parse_gpu(const struct parse_state *ps, char *rest)
{
	char *index = strtok_r(rest, " \t", &rest);
	unsigned n;

	if (!index || parse_unsigned(index, &n) < 0 || n != ngpus)
		return parse_fail(ps, "expected the next GPU index, got", index ? index : "");
	if (ngpus == FAKE_MAX_GPUS)
		return parse_fail(ps, "too many GPUs at", index);
	gpu_defaults(&gpus[ngpus], ngpus);
	ngpus++;
	return parse_pairs(ps, rest, &gpus[ngpus - 1], gpu_set_any);
}

static nvmlReturn_t parse_proc(const struct parse_state *ps, char *rest)
{
	struct fake_proc *p = &procs[nprocs];
	nvmlReturn_t rc;

	if (nprocs == FAKE_MAX_PROCS)
		return parse_fail(ps, "too many processes at", rest);
	memset(p, 0, sizeof(*p));
	rc = parse_pairs(ps, rest, p, proc_set_any);
	if (rc != NVML_SUCCESS)
		return rc;
	if (p->pid == 0)
		return parse_fail(ps, "proc without a pid:", rest);
	nprocs++;
	return NVML_SUCCESS;
}

static nvmlReturn_t parse_line(const struct parse_state *ps, char *line)
{
	char *rest, *kind;

	line[strcspn(line, "#\n")] = '\0';
	kind = strtok_r(line, " \t", &rest);
	if (!kind)
		return NVML_SUCCESS;
	if (!strcmp(kind, "gpu"))
		return parse_gpu(ps, rest);
	if (!strcmp(kind, "proc"))
		return parse_proc(ps, rest);
	if (!strcmp(kind, "init"))
		return parse_pairs(ps, rest, &init_error, init_set_any);
	return parse_fail(ps, "unknown line kind", kind);
}

/* Read the whole file again; processes on GPUs it does not describe are an error. */
static nvmlReturn_t fake_load(void)
{
	struct parse_state ps = { getenv("TRAINCTL_FAKE_NVML"), 0 };
	nvmlReturn_t rc = NVML_SUCCESS;
	char line[4096];
	FILE *f;

	ngpus = nprocs = 0;
	init_error = NVML_SUCCESS;
	if (!ps.path || !*ps.path)
		return NVML_ERROR_DRIVER_NOT_LOADED;
	f = fopen(ps.path, "re");
	if (!f) {
		fprintf(stderr, "fake-nvml: cannot read %s: %s\n", ps.path, strerror(errno));
		return NVML_ERROR_UNKNOWN;
	}
	while (rc == NVML_SUCCESS && fgets(line, sizeof(line), f)) {
		ps.line++;
		rc = parse_line(&ps, line);
	}
	fclose(f);
	for (unsigned i = 0; rc == NVML_SUCCESS && i < nprocs; i++) {
		if (procs[i].gpu >= ngpus) {
			fprintf(stderr, "fake-nvml: %s: proc pid=%u is on GPU %u, which the file does not describe\n",
				ps.path, procs[i].pid, procs[i].gpu);
			rc = NVML_ERROR_UNKNOWN;
		}
	}
	return rc;
}

/* ---- the NVML functions ---- */

/* Is pid a live process (present, and not a zombie)? */
static int pid_alive(unsigned pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* The device behind a handle, or NULL when it is not one of ours. */
static struct nvmlDevice_st *device_of(nvmlDevice_t device)
{
	if (device < gpus || device >= gpus + ngpus)
		return NULL;
	return device;
}

/* The common checks of a device query: initialised, a valid device, the call supported. */
static nvmlReturn_t device_query(nvmlDevice_t device, unsigned call, const void *out)
{
	struct nvmlDevice_st *g = device_of(device);

	if (init_count == 0)
		return NVML_ERROR_UNINITIALIZED;
	if (!g || !out)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (g->error != NVML_SUCCESS)
		return g->error;
	if (g->unsupported & call)
		return NVML_ERROR_NOT_SUPPORTED;
	return NVML_SUCCESS;
}

static nvmlReturn_t copy_string(char *dest, unsigned length, const char *src)
{
	if (strlen(src) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dest, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void)
{
	nvmlReturn_t rc = fake_load();

	if (rc == NVML_SUCCESS && init_error != NVML_SUCCESS)
		rc = init_error;
	if (rc == NVML_SUCCESS)
		init_count++;
	return rc;
}

nvmlReturn_t nvmlShutdown(void)
{
	if (init_count == 0)
		return NVML_ERROR_UNINITIALIZED;
	init_count--;
	return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_UNINITIALIZED:
		return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT:
		return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED:
		return "Not Supported";
	case NVML_ERROR_NO_PERMISSION:
		return "Insufficient Permissions";
	case NVML_ERROR_NOT_FOUND:
		return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE:
		return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "Driver Not Loaded";
	case NVML_ERROR_GPU_IS_LOST:
		return "GPU is lost";
	default:
		return "Unknown Error";
	}
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
	nvmlReturn_t rc;

	if (init_count == 0)
		return NVML_ERROR_UNINITIALIZED;
	if (!deviceCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = fake_load();
	if (rc == NVML_SUCCESS)
		*deviceCount = ngpus;
	return rc;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	if (init_count == 0)
		return NVML_ERROR_UNINITIALIZED;
	if (!device || index >= ngpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = &gpus[index];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	nvmlReturn_t rc = device_query(device, CALL_NAME, name);

	return rc != NVML_SUCCESS ? rc : copy_string(name, length, device->name);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	nvmlReturn_t rc = device_query(device, CALL_UUID, uuid);

	return rc != NVML_SUCCESS ? rc : copy_string(uuid, length, device->uuid);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	nvmlReturn_t rc = device_query(device, CALL_PCI, pci);
	unsigned domain = 0, bus = 0, dev = 0;

	if (rc != NVML_SUCCESS)
		return rc;
	memset(pci, 0, sizeof(*pci));
	sscanf(device->bus, "%x:%x:%x", &domain, &bus, &dev);
	pci->domain = domain;
	pci->bus = bus;
	pci->device = dev;
	pci->pciDeviceId = 0x20b010de;
	snprintf(pci->busId, sizeof(pci->busId), "%s", device->bus);
	snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04x:%02x:%02x.0", domain & 0xffff,
		 bus & 0xff, dev & 0xff);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	nvmlReturn_t rc = device_query(device, CALL_MEM, memory);

	if (rc != NVML_SUCCESS)
		return rc;
	memory->total = device->mem_total;
	memory->used = device->mem_used;
	memory->free = device->mem_total > device->mem_used ? device->mem_total - device->mem_used : 0;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
	nvmlReturn_t rc = device_query(device, CALL_UTIL, utilization);

	if (rc != NVML_SUCCESS)
		return rc;
	utilization->gpu = device->util;
	utilization->memory = device->mem_util;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensorType, unsigned int *temp)
{
	nvmlReturn_t rc = device_query(device, CALL_TEMP, temp);

	if (rc != NVML_SUCCESS)
		return rc;
	if (sensorType != NVML_TEMPERATURE_GPU)
		return NVML_ERROR_INVALID_ARGUMENT;
	*temp = device->temp;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
	nvmlReturn_t rc = device_query(device, CALL_POWER, power);

	if (rc == NVML_SUCCESS)
		*power = device->power_mw;
	return rc;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
	nvmlReturn_t rc = device_query(device, CALL_POWER_LIMIT, limit);

	if (rc == NVML_SUCCESS)
		*limit = device->power_limit_mw;
	return rc;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
						     nvmlProcessInfo_t *infos)
{
	nvmlReturn_t rc = device_query(device, CALL_PROCS, infoCount);
	unsigned index, n = 0;

	if (rc != NVML_SUCCESS)
		return rc;
	index = (unsigned)(device - gpus);
	for (unsigned i = 0; i < nprocs; i++) {
		if (procs[i].gpu != index || !pid_alive(procs[i].pid))
			continue;
		if (infos && n < *infoCount) {
			memset(&infos[n], 0, sizeof(infos[n]));
			infos[n].pid = procs[i].pid;
			infos[n].usedGpuMemory = procs[i].mem;
			infos[n].gpuInstanceId = infos[n].computeInstanceId = 0xffffffffU;
		}
		n++;
	}
	rc = n > *infoCount || (n > 0 && !infos) ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
	*infoCount = n;
	return rc;
}

nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
					     nvmlProcessUtilizationSample_t *utilization,
					     unsigned int *processSamplesCount,
					     unsigned long long lastSeenTimeStamp)
{
	nvmlReturn_t rc = device_query(device, CALL_PROC_UTIL, processSamplesCount);
	unsigned index, n = 0;
	struct timeval now;
	unsigned long long stamp;

	if (rc != NVML_SUCCESS)
		return rc;
	index = (unsigned)(device - gpus);
	gettimeofday(&now, NULL);
	stamp = (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_usec;
	if (stamp <= lastSeenTimeStamp)
		return NVML_ERROR_NOT_FOUND;
	for (unsigned i = 0; i < nprocs; i++) {
		if (procs[i].gpu != index || procs[i].sm == 0 || !pid_alive(procs[i].pid))
			continue;
		if (utilization && n < *processSamplesCount) {
			memset(&utilization[n], 0, sizeof(utilization[n]));
			utilization[n].pid = procs[i].pid;
			utilization[n].timeStamp = stamp;
			utilization[n].smUtil = procs[i].sm;
		}
		n++;
	}
	if (n == 0)
		return NVML_ERROR_NOT_FOUND;
	rc = !utilization || n > *processSamplesCount ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
	*processSamplesCount = n;
	return rc;
}
