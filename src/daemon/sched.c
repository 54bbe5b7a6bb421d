/* The queue; see sched.h. */
#include "daemon/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/gpus.h"
#include "daemon/restart.h"
#include "backend/slurm.h"
#include "daemon/supervise.h"
#include "lib/parse.h"
#include "lib/xmalloc.h"

#define GPU_RECHECK_MS 2000 /* how often jobs waiting for GPUs look again */
#define QUEUE_NAME_MAX 64

/* What one GPU can still take, during one pass. */
struct gpu_slot {
	unsigned index;
	int64_t total;
	int64_t used;     /* all the memory in use on it */
	int64_t foreign;  /* memory used by processes of no trainctl job */
	int64_t declared; /* --gpu-mem of the trainctl jobs sharing it */
	int holders;      /* trainctl jobs on it */
	int exclusive;    /* one of them holds it whole */
};

struct gpu_table {
	struct gpu_slot *slots;
	size_t len;
	int loaded;
	int64_t blocked_by; /* a job waiting for GPUs: later ones do not overtake it */
};

/* ---- checking a new job ---- */

static int check_gpus(struct daemon *d, const json_t *gpus, const json_t *mem, struct err *err)
{
	const struct gpu_snapshot *snap;
	struct err why = { 0 };
	size_t i;
	json_t *v;

	if (!gpus)
		return mem ? err_usage(err, "--gpu-mem needs --gpus") : 0;
	if (gpus_check(d, &why) < 0)
		return err_set(err, "--gpus needs NVIDIA GPUs: %s", why.msg);
	if (!(snap = gpus_refresh(d)))
		return err_set(err, "--gpus: cannot read the GPUs through NVML");
	if (json_is_integer(gpus) && (json_integer_value(gpus) < 1 ||
				      (size_t)json_integer_value(gpus) > snap->ngpus))
		return err_usage(err, "--gpus %lld: this machine has %zu GPU%s",
				 (long long)json_integer_value(gpus), snap->ngpus,
				 snap->ngpus == 1 ? "" : "s");
	json_array_foreach(gpus, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (size_t)json_integer_value(v) >= snap->ngpus)
			return err_usage(err, "--gpus: there is no GPU %lld (this machine has GPUs 0-%zu)",
					 (long long)json_integer_value(v), snap->ngpus - 1);
	}
	if (!json_is_integer(gpus) && !json_array_size(gpus))
		return err_usage(err, "malformed request: gpus must be a count or a list of indices");
	if (mem && (!json_is_integer(mem) || json_integer_value(mem) <= 0))
		return err_usage(err, "malformed request: gpu_mem must be a positive number of bytes");
	for (i = 0; mem && i < snap->ngpus; i++) {
		if (snap->gpus[i].mem_total >= 0 && json_integer_value(mem) > snap->gpus[i].mem_total)
			return err_usage(err, "--gpu-mem is more than GPU %u has (%lld bytes)",
					 snap->gpus[i].index, (long long)snap->gpus[i].mem_total);
	}
	return 0;
}

static int check_queue_name(const char *queue, struct err *err)
{
	size_t len = strlen(queue);

	if (len == 0 || len > QUEUE_NAME_MAX || strspn(queue, "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
		return err_usage(err, "invalid queue name '%s' (expected 1-%d letters, digits, '.', "
				      "'_' or '-')", queue, QUEUE_NAME_MAX);
	return 0;
}

int sched_check_spec(struct daemon *d, json_t *spec, struct err *err)
{
	json_t *queue = json_object_get(spec, "queue");
	json_t *priority = json_object_get(spec, "priority");

	if (queue && (!json_is_string(queue) || check_queue_name(json_string_value(queue), err) < 0))
		return err->msg[0] ? -1 : err_usage(err, "malformed request: queue must be a string");
	if (priority && !json_is_integer(priority))
		return err_usage(err, "malformed request: priority must be an integer");
	if (check_gpus(d, json_object_get(spec, "gpus"), json_object_get(spec, "gpu_mem"), err) < 0)
		return -1;
	return json_is_true(json_object_get(spec, "hold")) ? JOB_HELD : JOB_QUEUED;
}

/* ---- the GPUs, as one pass sees them ---- */

static struct gpu_slot *slot_of(struct gpu_table *t, unsigned index)
{
	for (size_t i = 0; i < t->len; i++) {
		if (t->slots[i].index == index)
			return &t->slots[i];
	}
	return NULL;
}

/* Fill the table from a fresh snapshot and the jobs that hold GPUs. */
static void gpu_table_load(struct daemon *d, struct gpu_table *t)
{
	const struct gpu_snapshot *snap = gpus_refresh(d);
	json_t *holders, *h;
	size_t i, k;

	t->loaded = 1;
	if (!snap)
		return;
	t->slots = xcalloc(snap->ngpus ? snap->ngpus : 1, sizeof(*t->slots));
	t->len = snap->ngpus;
	for (i = 0; i < snap->ngpus; i++) {
		t->slots[i].index = snap->gpus[i].index;
		t->slots[i].total = snap->gpus[i].mem_total;
		t->slots[i].used = snap->gpus[i].mem_used > 0 ? snap->gpus[i].mem_used : 0;
	}
	for (i = 0; i < snap->nprocs; i++) {
		struct gpu_slot *s = slot_of(t, snap->procs[i].gpu);

		if (!s || gpus_process_job(d, snap->procs[i].pid) > 0)
			continue;
		/* A process of unknown size counts as all the memory in use on its GPU. */
		s->foreign += snap->procs[i].used_mem >= 0 ? snap->procs[i].used_mem : s->used;
	}
	holders = store_gpu_holders(d->store);
	json_array_foreach(holders, i, h) {
		json_t *mem = json_object_get(h, "gpu_mem"), *g;

		json_array_foreach(json_object_get(h, "gpus"), k, g) {
			struct gpu_slot *s = slot_of(t, (unsigned)json_integer_value(g));
			if (!s)
				continue;
			s->holders++;
			if (json_is_integer(mem))
				s->declared += json_integer_value(mem);
			else
				s->exclusive = 1;
		}
	}
	json_decref(holders);
}

/* Can this GPU take a job that declares mem bytes (-1: the whole GPU)? */
static int slot_fits(const struct daemon *d, const struct gpu_slot *s, int64_t mem)
{
	if (s->exclusive)
		return 0;
	if (mem < 0)
		return s->holders == 0 && s->foreign < d->gpu_free_mem;
	return s->total < 0 || s->declared + s->foreign + mem <= s->total;
}

static void slot_take(struct gpu_slot *s, int64_t mem)
{
	s->holders++;
	if (mem < 0)
		s->exclusive = 1;
	else
		s->declared += mem;
}

/*
 * The GPUs for a job: the ones it names, or the first N that fit (sharing
 * jobs go where others already share, to keep whole GPUs free). NULL when
 * they are not free now.
 */
static json_t *gpu_pick(struct daemon *d, struct gpu_table *t, const json_t *want, int64_t mem)
{
	json_t *picked = json_array(), *v;
	size_t i, n = json_is_integer(want) ? (size_t)json_integer_value(want) : json_array_size(want);

	json_array_foreach(json_is_array(want) ? want : NULL, i, v) {
		struct gpu_slot *s = slot_of(t, (unsigned)json_integer_value(v));
		if (s && slot_fits(d, s, mem))
			json_array_append_new(picked, json_integer(s->index));
	}
	for (int pass = mem >= 0 ? 0 : 1; json_is_integer(want) && pass < 2; pass++) {
		for (i = 0; i < t->len && json_array_size(picked) < n; i++) {
			struct gpu_slot *s = &t->slots[i];
			/* first pass: GPUs already shared; second: any that fits */
			if ((pass == 0 && !s->holders) || !slot_fits(d, s, mem))
				continue;
			if (pass == 1 && s->holders && mem >= 0)
				continue; /* taken in the first pass already, or not sharable */
			json_array_append_new(picked, json_integer(s->index));
		}
	}
	if (json_array_size(picked) < n) {
		json_decref(picked);
		return NULL;
	}
	json_array_foreach(picked, i, v)
		slot_take(slot_of(t, (unsigned)json_integer_value(v)), mem);
	return picked;
}

static void describe_gpus(const json_t *want, char *buf, size_t size)
{
	size_t i, used;
	json_t *v;

	if (json_is_integer(want)) {
		snprintf(buf, size, "%lld GPU%s", (long long)json_integer_value(want),
			 json_integer_value(want) == 1 ? "" : "s");
		return;
	}
	used = (size_t)snprintf(buf, size, "GPU%s ", json_array_size(want) == 1 ? "" : "s");
	json_array_foreach(want, i, v) {
		if (used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "",
						 (long long)json_integer_value(v));
	}
}

/* ---- one pass ---- */

enum verdict { START, WAIT, CANCEL };

/* Have the jobs it comes --after succeeded? Any that failed cancels it, whatever the others do. */
static enum verdict check_after(struct daemon *d, const json_t *spec, char *why, size_t size)
{
	enum verdict v = START;
	size_t i;
	json_t *dep;

	json_array_foreach(json_object_get(spec, "after"), i, dep) {
		int64_t id = json_integer_value(dep);
		int state = store_job_state(d->store, id);

		if (state < 0) {
			snprintf(why, size, "dependency %lld no longer exists", (long long)id);
			return CANCEL;
		}
		if (job_state_is_final((enum job_state)state) && state != JOB_SUCCEEDED) {
			snprintf(why, size, "dependency %lld %s", (long long)id,
				 state == JOB_FAILED ? "failed" : job_state_name((enum job_state)state));
			return CANCEL;
		}
		if (state != JOB_SUCCEEDED && v == START) {
			snprintf(why, size, "waiting for job %lld", (long long)id);
			v = WAIT;
		}
	}
	return v;
}

static enum verdict check_queue(struct daemon *d, const json_t *spec, char *why, size_t size)
{
	const char *queue = json_string_value(json_object_get(spec, "queue"));
	int parallel, paused, running;

	if (!queue)
		return START;
	store_queue_get(d->store, queue, &parallel, &paused);
	if (paused) {
		snprintf(why, size, "queue '%s' paused", queue);
		return WAIT;
	}
	running = store_queue_running(d->store, queue);
	if (parallel > 0 && running >= parallel) {
		snprintf(why, size, "queue '%s' full (%d running)", queue, running);
		return WAIT;
	}
	return START;
}

/*
 * Named queues found full or paused during one pass, so that the jobs behind
 * them are passed over without reading their settings (a thousand jobs may
 * wait in one queue).
 */
struct queue_verdict {
	char name[72];
	char why[320];
};

struct queue_verdicts {
	struct queue_verdict *items;
	size_t len, alloc;
};

static const char *queue_known_waiting(const struct queue_verdicts *q, const char *name)
{
	for (size_t i = 0; *name && i < q->len; i++) {
		if (!strcmp(q->items[i].name, name))
			return q->items[i].why;
	}
	return NULL;
}

static void queue_note_waiting(struct queue_verdicts *q, const char *name, const char *why)
{
	if (!*name || queue_known_waiting(q, name))
		return;
	if (q->len == q->alloc) {
		q->alloc = q->alloc ? 2 * q->alloc : 8;
		q->items = xreallocarray(q->items, q->alloc, sizeof(*q->items));
	}
	snprintf(q->items[q->len].name, sizeof(q->items[q->len].name), "%s", name);
	snprintf(q->items[q->len++].why, sizeof(q->items[0].why), "%s", why);
}

static void queue_forget(struct queue_verdicts *q, const char *name)
{
	for (size_t i = 0; *name && i < q->len; i++) {
		if (!strcmp(q->items[i].name, name)) {
			q->items[i] = q->items[--q->len];
			return;
		}
	}
}

/* Has the job run before (a restart waiting in the queue)? */
static int started_before(struct daemon *d, int64_t id)
{
	json_t *job = store_job_json(d->store, id);
	int before = json_is_string(json_object_get(job, "started_at"));

	json_decref(job);
	return before;
}

/* Start a queued job on the GPUs picked for it (NULL: none). */
static int sched_start(struct daemon *d, int64_t id, const json_t *gpus, struct client *c,
		       struct err *err)
{
	json_t *spec;
	int ret;

	store_job_set_gpus(d->store, id, gpus);
	if (started_before(d, id))
		return restart_from_queue(d, id, err);
	spec = store_job_spec(d->store, id);
	json_object_set_new(spec, "env", store_job_env(d->store, id));
	store_job_set_state(d->store, id, JOB_STARTING, NULL);
	ret = supervise_start(d, id, spec, c, err);
	json_decref(spec);
	return ret;
}

/* Where a queued job stands: start it (on *picked GPUs), let it wait, or cancel it (why). */
static enum verdict sched_consider(struct daemon *d, int64_t id, const json_t *spec,
				   struct gpu_table *gpus, json_t **picked, char *why, size_t size)
{
	json_t *want = json_object_get(spec, "gpus"), *mem = json_object_get(spec, "gpu_mem");
	enum verdict v = check_after(d, spec, why, size);
	char what[128];
	size_t len;

	if (v == START)
		v = check_queue(d, spec, why, size);
	if (v != START || !want)
		return v;
	if (!gpus->loaded)
		gpu_table_load(d, gpus);
	if (!gpus->blocked_by &&
	    (*picked = gpu_pick(d, gpus, want, mem ? json_integer_value(mem) : -1)) != NULL)
		return START;
	describe_gpus(want, what, sizeof(what));
	len = (size_t)snprintf(why, size, "waiting for %s", what);
	if (gpus->blocked_by && len < size)
		snprintf(why + len, size - len, " (after job %lld)", (long long)gpus->blocked_by);
	else
		gpus->blocked_by = id;
	return WAIT;
}

/*
 * Consider every queued job in order. The job `mine` (if any) was just
 * submitted by client c: returns 1 if it started, 0 if it waits, -1 if it
 * could not start (err).
 */
static int sched_pass(struct daemon *d, int64_t mine, struct client *c, struct err *err)
{
	struct store_queued *queued;
	size_t n = store_jobs_queued(d->store, &queued);
	struct gpu_table gpus = { 0 };
	struct queue_verdicts known = { 0 };
	int result = 0;

	d->sched_dirty = 0;
	for (size_t k = 0; k < n; k++) {
		int64_t id = queued[k].id;
		json_t *spec, *picked = NULL;
		char why[320];
		struct err start_err = { 0 };
		const char *full;

		if (slurm_owns(d, id)) /* queued in Slurm, submitted already */
			continue;
		/* Behind a full or paused queue, and no dependency to watch: nothing to read. */
		if (!queued[k].has_after && (full = queue_known_waiting(&known, queued[k].queue))) {
			store_job_set_waiting(d->store, id, full);
			continue;
		}
		spec = store_job_spec(d->store, id);
		switch (sched_consider(d, id, spec, &gpus, &picked, why, sizeof(why))) {
		case CANCEL:
			supervise_end_unstarted(d, id, JOB_CANCELLED, why);
			break;
		case WAIT:
			store_job_set_waiting(d->store, id, why);
			if (!strncmp(why, "queue '", 7))
				queue_note_waiting(&known, queued[k].queue, why);
			break;
		case START:
			queue_forget(&known, queued[k].queue); /* one more running: count again */
			if (sched_start(d, id, picked, id == mine ? c : NULL, &start_err) == 0) {
				result = id == mine ? 1 : result;
			} else if (id == mine) {
				*err = start_err;
				result = -1;
			} else {
				supervise_end_unstarted(d, id, JOB_FAILED, start_err.msg);
			}
			break;
		}
		json_decref(picked);
		json_decref(spec);
	}
	d->sched_waiting_gpus = gpus.blocked_by != 0;
	d->sched_gpu_checked_ms = time_now_ms();
	free(gpus.slots);
	free(known.items);
	free(queued);
	return result;
}

int sched_submit(struct daemon *d, int64_t id, struct client *c, struct err *err)
{
	return sched_pass(d, id, c, err);
}

void sched_tick(struct daemon *d)
{
	struct err err = { 0 };

	if (d->sched_dirty ||
	    (d->sched_waiting_gpus && time_now_ms() - d->sched_gpu_checked_ms >= GPU_RECHECK_MS))
		sched_pass(d, 0, NULL, &err);
}

int sched_release_held(struct daemon *d, int64_t id, struct err *err)
{
	int state = store_job_state(d->store, id);

	if (state != JOB_HELD)
		return err_set(err, "job %lld is %s, not held (only a job run with --hold waits for "
				    "start)", (long long)id, job_state_name((enum job_state)state));
	store_job_set_state(d->store, id, JOB_QUEUED, NULL);
	store_event_add(d->store, id, "released", "trainctl start");
	d->sched_dirty = 1;
	return 0;
}

int sched_queue_update(struct daemon *d, const char *queue, const json_t *req, struct err *err)
{
	json_t *parallel = json_object_get(req, "parallel");
	int now_parallel, now_paused;

	if (check_queue_name(queue, err) < 0)
		return -1;
	if (parallel && (!json_is_integer(parallel) || json_integer_value(parallel) < 0 ||
			 json_integer_value(parallel) > 1000000))
		return err_usage(err, "--parallel: expected a number of jobs, 0 for no limit");
	store_queue_get(d->store, queue, &now_parallel, &now_paused);
	if (parallel)
		now_parallel = (int)json_integer_value(parallel);
	if (json_is_true(json_object_get(req, "pause")))
		now_paused = 1;
	if (json_is_true(json_object_get(req, "resume")))
		now_paused = 0;
	if (store_queue_set(d->store, queue, now_parallel, now_paused) < 0)
		return err_set(err, "cannot record queue '%s' in the database", queue);
	d->sched_dirty = 1;
	return 0;
}
