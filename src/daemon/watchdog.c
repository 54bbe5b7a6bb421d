/* The daemon's periodic watch over its jobs; see watchdog.h. */
#include "daemon/watchdog.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/restart.h"
#include "daemon/supervise.h"
#include "lib/checkpoint.h"
#include "lib/parse.h"
#include "lib/xmalloc.h"

/* What is watched for one running job. */
struct watched {
	int64_t id;
	struct checkpoint_scanner *checkpoints; /* NULL without --checkpoint */
	int64_t time_limit_ms;
	int64_t started_ms;
	int limit_hit;
	struct watched *next;
};

static struct watched *watched_find(struct daemon *d, int64_t id)
{
	for (struct watched *w = d->watched; w; w = w->next) {
		if (w->id == id)
			return w;
	}
	return NULL;
}

static struct watched *watched_add(struct daemon *d, int64_t id)
{
	json_t *job = store_job_json(d->store, id);
	json_t *spec = json_object_get(job, "spec");
	const char *glob = json_string_value(json_object_get(spec, "checkpoint"));
	struct watched *w = xcalloc(1, sizeof(*w));

	w->id = id;
	if (glob)
		w->checkpoints = checkpoint_scanner_new(
			json_string_value(json_object_get(spec, "cwd")), glob, NULL);
	w->time_limit_ms = json_integer_value(json_object_get(spec, "time_limit_ms"));
	w->started_ms = parse_rfc3339_ms(json_string_value(json_object_get(job, "started_at")));
	w->next = d->watched;
	d->watched = w;
	json_decref(job);
	return w;
}

static void watched_free(struct watched *w)
{
	checkpoint_scanner_free(w->checkpoints);
	free(w);
}

void watchdog_forget(struct daemon *d, int64_t id)
{
	struct watched **pp = &d->watched;

	while (*pp) {
		struct watched *w = *pp;
		if (w->id == id) {
			*pp = w->next;
			watched_free(w);
		} else {
			pp = &w->next;
		}
	}
}

/* A new complete checkpoint: keep it with the job and say so in its events. */
static void watch_checkpoints(struct daemon *d, struct watched *w)
{
	const char *latest;

	if (!w->checkpoints || !checkpoint_scan(w->checkpoints))
		return;
	latest = checkpoint_latest(w->checkpoints);
	store_job_set_checkpoint(d->store, w->id, latest);
	store_event_add(d->store, w->id, "checkpoint", "%s", latest);
}

static void watch_time_limit(struct daemon *d, struct watched *w, enum job_state state)
{
	struct err err = { 0 };

	if (w->limit_hit || w->time_limit_ms <= 0 || w->started_ms <= 0 ||
	    time_now_ms() - w->started_ms < w->time_limit_ms ||
	    (state != JOB_RUNNING && state != JOB_PAUSED))
		return;
	w->limit_hit = 1;
	supervise_stop(d, w->id, 0, -1, "time-limit", &err);
}

static void watchdog_tick(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;
	int64_t *ids = store_job_ids_active(d->store);

	(void)fd;
	(void)events;
	store_begin(d->store);
	for (int64_t *id = ids; *id >= 0; id++) {
		enum job_state state = store_job_state(d->store, *id);
		struct watched *w;

		if (state != JOB_RUNNING && state != JOB_PAUSED && state != JOB_STOPPING)
			continue;
		w = watched_find(d, *id);
		if (!w)
			w = watched_add(d, *id);
		watch_checkpoints(d, w);
		watch_time_limit(d, w, state);
	}
	restart_tick(d);
	store_commit(d->store);
	free(ids);
}

void watchdog_start(struct daemon *d)
{
	loop_add_interval(d->loop, WATCHDOG_INTERVAL_MS, watchdog_tick, d);
	watchdog_tick(d, -1, 0);
}

void watchdog_release(struct daemon *d)
{
	while (d->watched) {
		struct watched *w = d->watched;
		d->watched = w->next;
		watched_free(w);
	}
}
