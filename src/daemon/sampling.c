/* The daemon's resource sampler; see sampling.h. */
#include "daemon/sampling.h"

#include <stdlib.h>

#include "daemon/gpus.h"
#include "daemon/supervise.h"
#include "lib/cgroup.h"
#include "lib/machine.h"
#include "lib/parse.h"
#include "lib/sampler.h"
#include "lib/xmalloc.h"

#define PROCS_EVERY 10 /* ticks between visits of every process (counts, memory.stat) */
#define IO_EVERY 30    /* ticks between reads of /proc/PID/io */
#define PSS_EVERY 60   /* ticks between reads of /proc/PID/smaps_rollup (it walks page tables) */
#define METER_EAGER_TRIES 5 /* ticks a new job's cgroup is looked for at every tick */
#define FLUSH_EVERY_MS 10000 /* samples wait in memory at most this long before the database */
#define FULL_RESOLUTION_MS (24 * 3600 * 1000LL)
#define COMPACT_EVERY_MS (3600 * 1000LL)

/* One live job: its cgroup meter (when it has a cgroup) and its latest sample. */
struct tracked {
	int64_t id;
	pid_t root;
	pid_t main; /* the job's main process, once the shim reported it */
	struct cgroup_meter meter;
	int has_meter;
	int meter_tries; /* ticks its cgroup was looked for (the shim makes it as it starts) */
	struct sample latest;
	int64_t pss_bytes; /* PSS is read every PSS_EVERY ticks: the latest known */
	int seen;
};

/* A job's sample waiting to be stored. */
struct pending {
	int64_t id;
	struct sample sample;
};

struct sampling {
	struct sampler *sampler;
	/*
	 * Samples are written in batches: 100 jobs sampled every second write
	 * the same few pages of the samples table again and again, and a write
	 * a second each is most of what sampling costs. A crash loses at most
	 * FLUSH_EVERY_MS of them; a request that reads samples flushes first.
	 */
	struct pending *pending;
	size_t npending, pending_alloc;
	struct machine_sample *machine_pending;
	size_t nmachine_pending, machine_pending_alloc;
	int64_t flushed_ms;
	struct machine *machine;
	struct machine_sample machine_latest;
	int machine_ok;
	struct tracked *jobs;
	size_t len, alloc;
	unsigned ticks;
	int64_t compacted_ms;
};

static struct sampling *state(struct daemon *d)
{
	return d->sampling;
}

static struct tracked *tracked_find(struct sampling *s, int64_t id)
{
	for (size_t i = 0; i < s->len; i++) {
		if (s->jobs[i].id == id)
			return &s->jobs[i];
	}
	return NULL;
}

/* The job's cgroup meter, opened once its cgroup exists (the shim makes it). */
static void tracked_open_meter(struct daemon *d, struct tracked *t)
{
	struct cgroup_job cg;
	char *name;

	if (t->has_meter || d->cgroup[0] == 'n')
		return;
	name = cgroup_job_name(d->paths.home, t->id);
	if (cgroup_job_locate(&cg, d->cgroup[1] == '2' ? CGROUP_V2 : CGROUP_V1, CGROUP_ROOT, name) == 0) {
		t->has_meter = cgroup_meter_open(&t->meter, &cg) == 0;
		cgroup_job_release(&cg);
	}
	free(name);
}

static struct tracked *tracked_add(struct sampling *s, int64_t id, pid_t root)
{
	struct tracked *t = tracked_find(s, id);

	if (t && t->root != root) { /* a new attempt: a new tree */
		if (t->has_meter)
			cgroup_meter_close(&t->meter);
		t->has_meter = 0;
		t->meter_tries = 0;
		t->root = root;
		t->main = 0;
	}
	if (t)
		return t;
	if (s->len == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 16;
		s->jobs = xreallocarray(s->jobs, s->alloc, sizeof(*s->jobs));
	}
	t = &s->jobs[s->len++];
	*t = (struct tracked){ .id = id, .root = root, .pss_bytes = -1 };
	t->latest.cpu_percent = -1;
	return t;
}

/* Forget the jobs that are no longer live, closing their meters. */
static void tracked_sweep(struct sampling *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->len; i++) {
		if (s->jobs[i].seen) {
			s->jobs[i].seen = 0;
			s->jobs[k++] = s->jobs[i];
		} else if (s->jobs[i].has_meter) {
			cgroup_meter_close(&s->jobs[i].meter);
		}
	}
	s->len = k;
}

static pid_t tracked_main_pid(struct daemon *d, int64_t id)
{
	json_t *job = store_job_json(d->store, id);
	pid_t pid = (pid_t)json_integer_value(json_object_get(job, "pid"));

	json_decref(job);
	return pid;
}

/* Mark every live job with a shim as tracked (seen). */
static void tracked_refresh(struct daemon *d, struct sampling *s, unsigned parts)
{
	int64_t *active = store_job_ids_active(d->store);

	for (size_t i = 0; active[i] >= 0; i++) {
		pid_t shim = supervise_shim_pid(d, active[i]);
		struct tracked *t;

		if (shim <= 0)
			continue;
		t = tracked_add(s, active[i], shim);
		t->seen = 1;
		if (!t->main)
			t->main = tracked_main_pid(d, t->id);
		/* Every tick at first, then on the pass ticks: a job may have no cgroup at all. */
		if (t->meter_tries++ < METER_EAGER_TRIES || (parts & SAMPLE_PROCS))
			tracked_open_meter(d, t);
	}
	free(active);
	tracked_sweep(s);
}

/* Which parts of the trees to read on this tick. */
static unsigned tick_parts(unsigned tick)
{
	unsigned parts = 0;

	if (tick % PROCS_EVERY == 0)
		parts |= SAMPLE_PROCS;
	if (tick % IO_EVERY == 0)
		parts |= SAMPLE_IO;
	if (tick % PSS_EVERY == 0)
		parts |= SAMPLE_PSS;
	return parts;
}

static void pending_add(struct sampling *s, int64_t id, const struct sample *sample)
{
	if (s->npending == s->pending_alloc) {
		s->pending_alloc = s->pending_alloc ? 2 * s->pending_alloc : 128;
		s->pending = xreallocarray(s->pending, s->pending_alloc, sizeof(*s->pending));
	}
	s->pending[s->npending++] = (struct pending){ id, *sample };
}

static void machine_pending_add(struct sampling *s, const struct machine_sample *m)
{
	if (s->nmachine_pending == s->machine_pending_alloc) {
		s->machine_pending_alloc = s->machine_pending_alloc ? 2 * s->machine_pending_alloc : 16;
		s->machine_pending = xreallocarray(s->machine_pending, s->machine_pending_alloc,
						   sizeof(*s->machine_pending));
	}
	s->machine_pending[s->nmachine_pending] = *m;
	s->machine_pending[s->nmachine_pending++].cpus_percent = NULL; /* not stored */
}

/* Write the waiting samples, in the caller's transaction (or one of their own). */
static void pending_flush(struct daemon *d, struct sampling *s)
{
	for (size_t i = 0; i < s->npending; i++)
		store_sample_add(d->store, s->pending[i].id, &s->pending[i].sample);
	for (size_t i = 0; i < s->nmachine_pending; i++)
		store_machine_sample_add(d->store, &s->machine_pending[i]);
	s->npending = 0;
	s->nmachine_pending = 0;
	s->flushed_ms = time_now_ms();
}

void sampling_flush(struct daemon *d)
{
	struct sampling *s = state(d);

	if (!s || (!s->npending && !s->nmachine_pending))
		return;
	store_begin(d->store);
	pending_flush(d, s);
	store_commit(d->store);
}

static void sample_jobs(struct daemon *d, struct sampling *s, unsigned parts, int64_t now)
{
	struct sampler_job *jobs = xcalloc(s->len ? s->len : 1, sizeof(*jobs));
	struct sample *out = xcalloc(s->len ? s->len : 1, sizeof(*out));

	for (size_t i = 0; i < s->len; i++)
		jobs[i] = (struct sampler_job){ s->jobs[i].root, s->jobs[i].main,
						s->jobs[i].has_meter ? &s->jobs[i].meter : NULL };
	sampler_sample(s->sampler, jobs, s->len, parts, now, out);
	if (s->len && gpus_refresh(d))
		for (size_t i = 0; i < s->len; i++)
			gpus_job_usage(d, s->jobs[i].id, &out[i].gpu_mem_bytes, &out[i].gpu_util);
	for (size_t i = 0; i < s->len; i++) {
		struct tracked *t = &s->jobs[i];

		if (out[i].pss_bytes >= 0)
			t->pss_bytes = out[i].pss_bytes;
		t->latest = out[i];
		/* No process, or no memory at all: the tree is on its way out. */
		if (out[i].cpu_percent >= 0 && out[i].procs > 0 && out[i].rss_bytes > 0)
			pending_add(s, t->id, &out[i]);
	}
	free(jobs);
	free(out);
}

static void sampling_tick(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;
	struct sampling *s = state(d);
	unsigned parts = tick_parts(s->ticks++);
	int64_t now = time_now_ms();

	(void)fd;
	(void)events;
	tracked_refresh(d, s, parts);
	if (!s->len)
		gpus_refresh(d); /* the machine's GPUs, for `machine` and the metrics */
	sample_jobs(d, s, parts, now);
	s->machine_ok = machine_read(s->machine, now, &s->machine_latest) == 0;
	if (s->machine_ok && s->machine_latest.cpu_percent >= 0)
		machine_pending_add(s, &s->machine_latest);
	if (now - s->flushed_ms < FLUSH_EVERY_MS && now - s->compacted_ms <= COMPACT_EVERY_MS)
		return;
	store_begin(d->store);
	pending_flush(d, s);
	if (now - s->compacted_ms > COMPACT_EVERY_MS) {
		store_samples_compact(d->store, now - (d->config.retention_ms >= 0
							? d->config.retention_ms : FULL_RESOLUTION_MS));
		s->compacted_ms = now;
	}
	store_commit(d->store);
}

void sampling_start(struct daemon *d, int64_t interval_ms)
{
	struct sampling *s = xcalloc(1, sizeof(*s));

	s->sampler = sampler_new();
	s->machine = machine_new();
	/* A first read, so that the machine's totals are there at once (CPU from the first tick). */
	s->machine_ok = machine_read(s->machine, time_now_ms(), &s->machine_latest) == 0;
	d->sampling = s;
	loop_add_interval(d->loop, interval_ms > 0 ? interval_ms : SAMPLING_DEFAULT_MS,
			  sampling_tick, d);
}

void sampling_release(struct daemon *d)
{
	struct sampling *s = state(d);

	if (!s)
		return;
	for (size_t i = 0; i < s->len; i++) {
		if (s->jobs[i].has_meter)
			cgroup_meter_close(&s->jobs[i].meter);
	}
	free(s->pending);
	free(s->machine_pending);
	sampler_free(s->sampler);
	machine_free(s->machine);
	free(s->jobs);
	free(s);
	d->sampling = NULL;
}

/* A live job's tracking, when it has a CPU figure yet; NULL otherwise. */
static const struct tracked *latest(struct daemon *d, int64_t id)
{
	struct sampling *s = state(d);
	const struct tracked *t = s ? tracked_find(s, id) : NULL;

	return t && t->latest.cpu_percent >= 0 ? t : NULL;
}

double sampling_current_cpu(struct daemon *d, int64_t id)
{
	const struct tracked *t = latest(d, id);

	return t ? t->latest.cpu_percent : -1;
}

void sampling_add_current(struct daemon *d, json_t *job)
{
	const struct tracked *t;

	if (!json_is_integer(json_object_get(job, "pid")))
		return;
	t = latest(d, json_integer_value(json_object_get(job, "id")));
	if (!t)
		return;
	json_object_set_new(job, "cpu_percent", json_real(t->latest.cpu_percent));
	json_object_set_new(job, "rss_bytes", json_integer(t->latest.rss_bytes));
	if (t->pss_bytes >= 0)
		json_object_set_new(job, "pss_bytes", json_integer(t->pss_bytes));
	if (t->latest.cpu_seconds >= 0)
		json_object_set_new(job, "cpu_seconds", json_real(t->latest.cpu_seconds));
	if (t->latest.gpu_mem_bytes >= 0)
		json_object_set_new(job, "gpu_mem_bytes", json_integer(t->latest.gpu_mem_bytes));
	if (t->latest.gpu_util >= 0)
		json_object_set_new(job, "gpu_util", json_real(t->latest.gpu_util));
}

json_t *sampling_machine_json(struct daemon *d)
{
	struct sampling *s = state(d);
	json_t *machine, *gpus;

	if (!s || !s->machine_ok)
		return NULL;
	machine = machine_sample_json(&s->machine_latest);
	if ((gpus = gpus_devices_json(d)) != NULL)
		json_object_set_new(machine, "gpus", gpus);
	return machine;
}
