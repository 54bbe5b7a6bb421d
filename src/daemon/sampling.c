/* The daemon's resource sampler; see sampling.h. */
#include "daemon/sampling.h"

#include <stdlib.h>

#include "daemon/supervise.h"
#include "lib/parse.h"
#include "lib/sampler.h"
#include "lib/xmalloc.h"

#define IO_EVERY 5                        /* ticks between reads of /proc/PID/io */
#define FULL_RESOLUTION_MS (24 * 3600 * 1000LL)
#define COMPACT_EVERY_MS (3600 * 1000LL)

struct latest {
	int64_t id;
	struct sample sample;
};

struct sampling {
	struct sampler *sampler;
	struct latest *latest;
	size_t len;
	unsigned ticks;
	int64_t compacted_ms;
};

static struct sampling *state(struct daemon *d)
{
	return d->sampling;
}

/* The live jobs with a shim: ids and the shims' pids. */
static size_t live_jobs(struct daemon *d, int64_t **ids, pid_t **roots)
{
	int64_t *active = store_job_ids_active(d->store);
	size_t n = 0, cap = 0;

	while (active[cap] >= 0)
		cap++;
	*ids = xcalloc(cap + 1, sizeof(**ids));
	*roots = xcalloc(cap + 1, sizeof(**roots));
	for (size_t i = 0; i < cap; i++) {
		pid_t shim = supervise_shim_pid(d, active[i]);
		if (shim > 0) {
			(*ids)[n] = active[i];
			(*roots)[n++] = shim;
		}
	}
	free(active);
	return n;
}

static void sampling_tick(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;
	struct sampling *s = state(d);
	int64_t *ids, now = time_now_ms();
	pid_t *roots;
	size_t n = live_jobs(d, &ids, &roots);
	struct sample *out = xcalloc(n ? n : 1, sizeof(*out));

	(void)fd;
	(void)events;
	sampler_sample(s->sampler, roots, n, s->ticks++ % IO_EVERY == 0, now, out);
	store_begin(d->store);
	for (size_t i = 0; i < n; i++) {
		/* No process, or no memory at all: the tree is on its way out. */
		if (out[i].cpu_percent >= 0 && out[i].procs > 0 && out[i].rss_bytes > 0)
			store_sample_add(d->store, ids[i], &out[i]);
	}
	if (now - s->compacted_ms > COMPACT_EVERY_MS) {
		store_samples_compact(d->store, now - (d->config.retention_ms >= 0
							? d->config.retention_ms : FULL_RESOLUTION_MS));
		s->compacted_ms = now;
	}
	store_commit(d->store);
	free(s->latest);
	s->latest = xcalloc(n ? n : 1, sizeof(*s->latest));
	for (size_t i = 0; i < n; i++)
		s->latest[i] = (struct latest){ ids[i], out[i] };
	s->len = n;
	free(out);
	free(ids);
	free(roots);
}

void sampling_start(struct daemon *d, int64_t interval_ms)
{
	struct sampling *s = xcalloc(1, sizeof(*s));

	s->sampler = sampler_new();
	s->compacted_ms = 0;
	d->sampling = s;
	loop_add_interval(d->loop, interval_ms > 0 ? interval_ms : SAMPLING_DEFAULT_MS,
			  sampling_tick, d);
}

void sampling_release(struct daemon *d)
{
	struct sampling *s = state(d);

	if (!s)
		return;
	sampler_free(s->sampler);
	free(s->latest);
	free(s);
	d->sampling = NULL;
}

/* The latest sample of a job, when it has a CPU figure yet; NULL otherwise. */
static const struct sample *latest_sample(struct daemon *d, int64_t id)
{
	struct sampling *s = state(d);

	for (size_t i = 0; s && i < s->len; i++) {
		if (s->latest[i].id == id && s->latest[i].sample.cpu_percent >= 0)
			return &s->latest[i].sample;
	}
	return NULL;
}

double sampling_current_cpu(struct daemon *d, int64_t id)
{
	const struct sample *sample = latest_sample(d, id);

	return sample ? sample->cpu_percent : -1;
}

void sampling_add_current(struct daemon *d, json_t *job)
{
	const struct sample *sample;

	if (!json_is_integer(json_object_get(job, "pid")))
		return;
	sample = latest_sample(d, json_integer_value(json_object_get(job, "id")));
	if (!sample)
		return;
	json_object_set_new(job, "cpu_percent", json_real(sample->cpu_percent));
	json_object_set_new(job, "rss_bytes", json_integer(sample->rss_bytes));
}
