/* The daemon's periodic watch over its jobs; see watchdog.h. */
#include "daemon/watchdog.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/restart.h"
#include "daemon/sched.h"
#include "daemon/sampling.h"
#include "daemon/supervise.h"
#include "lib/checkpoint.h"
#include "lib/parse.h"
#include "lib/proc.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

/* A job using less than this share of one CPU is idle, for hang detection. */
#define IDLE_CPU_SHARE 0.05

#define STATUS_EVERY_MS 5000 /* how often the status of a job without hang detection is read */

/* What is watched for one running job. */
struct watched {
	int64_t id;
	struct checkpoint_scanner *checkpoints; /* NULL without --checkpoint */
	int64_t time_limit_ms;
	int64_t started_ms;
	int limit_hit;
	int64_t hang_timeout_ms;
	char on_hang[16];
	int64_t active_ms; /* the last time the job showed any sign of life */
	int hung;
	int log_failing; /* the shim reports that the log cannot be written */
	json_t *status;   /* the shim's status file, read again only when it changed */
	struct timespec status_mtime;
	int status_whole; /* status holds the whole file, not only the log's state */
	int64_t status_checked_ms;
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
	w->hang_timeout_ms = json_integer_value(json_object_get(spec, "hang_timeout_ms"));
	snprintf(w->on_hang, sizeof(w->on_hang), "%s",
		 json_string_value(json_object_get(spec, "on_hang")) ?: "none");
	w->active_ms = w->started_ms > 0 ? w->started_ms : time_now_ms();
	w->next = d->watched;
	d->watched = w;
	json_decref(job);
	return w;
}

static void watched_free(struct watched *w)
{
	checkpoint_scanner_free(w->checkpoints);
	json_decref(w->status);
	free(w);
}

/*
 * Read a job's status file. Parsing is most of what a read costs, and a job
 * without hang detection is watched only for a log that cannot be written:
 * unless the whole is wanted, a file that says "log_error":null (the shim
 * writes compact JSON, and no other object in it has that key) is not
 * parsed, and stands as an empty object (*whole_read then 0). NULL when it
 * cannot be read.
 */
static json_t *status_read(const char *path, int whole, int *whole_read)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*whole_read = 1;
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n == (ssize_t)sizeof(buf) - 1) /* longer than any status we write: the slow way */
		return json_file_read(path, NULL);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if (!whole && strstr(buf, "\"log_error\":null")) {
		*whole_read = 0;
		return json_object();
	}
	return json_loadb(buf, (size_t)n, 0, NULL);
}

/*
 * Read the job's status file again if it changed since it was last read
 * (one stat), or if the whole is wanted and only the log's state was taken.
 */
static void watched_refresh(struct daemon *d, struct watched *w, int whole)
{
	char *path = paths_job_status(&d->paths, w->id);
	struct stat st;

	w->status_checked_ms = time_now_ms();
	if (stat(path, &st) == 0 &&
	    (!w->status || (whole && !w->status_whole) ||
	     st.st_mtim.tv_sec != w->status_mtime.tv_sec ||
	     st.st_mtim.tv_nsec != w->status_mtime.tv_nsec)) {
		json_decref(w->status);
		w->status = status_read(path, whole, &w->status_whole);
		w->status_mtime = st.st_mtim;
	}
	free(path);
}

/*
 * The job's status (output, progress, whether the log is written), from the
 * file its shim rewrites when any of it changes: a stat a second per job,
 * and a read only after a change.
 */
static const json_t *watched_status(struct daemon *d, struct watched *w)
{
	/*
	 * Hang detection needs the latest output time every tick; for the rest
	 * (a log that cannot be written) every few seconds is soon enough, and a
	 * chatty job rewrites the file every second.
	 */
	if (!w->status || w->hang_timeout_ms > 0 ||
	    time_now_ms() - w->status_checked_ms >= STATUS_EVERY_MS)
		watched_refresh(d, w, w->hang_timeout_ms > 0);
	return w->status;
}

const json_t *watchdog_job_status(struct daemon *d, int64_t id)
{
	struct watched *w = watched_find(d, id);

	if (!w)
		return NULL;
	watched_refresh(d, w, 1);
	return w->status;
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

	json_t *job;
	int known;

	if (!w->checkpoints || !checkpoint_scan(w->checkpoints))
		return;
	latest = checkpoint_latest(w->checkpoints);
	/* A new attempt's scanner starts afresh: the checkpoint it resumed from is not news. */
	job = store_job_json(d->store, w->id);
	known = json_is_string(json_object_get(job, "checkpoint")) &&
		strcmp(json_string_value(json_object_get(job, "checkpoint")), latest) == 0;
	json_decref(job);
	if (known)
		return;
	store_job_set_checkpoint(d->store, w->id, latest);
	store_event_add(d->store, w->id, "checkpoint", "%s", latest);
	w->active_ms = time_now_ms();
	crash_point("checkpoint-noted");
}

/* Say in the daemon's log when a job's log stops being written, and when it resumes. */
static void watch_log(struct daemon *d, struct watched *w, const json_t *log_error)
{
	int failing = json_is_object(log_error);

	if (failing == w->log_failing)
		return;
	w->log_failing = failing;
	if (failing) {
		daemon_log("job %lld: its log cannot be written (%s); output waits in the shim's memory",
			   (long long)w->id, json_string_value(json_object_get(log_error, "error")));
		store_event_add(d->store, w->id, "log-error", "%s",
				json_string_value(json_object_get(log_error, "error")));
	} else {
		daemon_log("job %lld: its log is written again", (long long)w->id);
		store_event_add(d->store, w->id, "log-resumed", NULL);
	}
}

/* Output, progress (from the shim's status file) and CPU use all count as life. */
static void watch_activity(struct daemon *d, struct watched *w, const json_t *status)
{
	int64_t now = time_now_ms();
	int64_t output = json_integer_value(json_object_get(status, "last_output_ms"));
	int64_t progress = json_integer_value(json_object_get(status, "progress_changed_ms"));

	if (output > w->active_ms)
		w->active_ms = output;
	if (progress > w->active_ms)
		w->active_ms = progress;
	/* The sampler already measures the tree's CPU: no second pass over /proc here. */
	if (sampling_current_cpu(d, w->id) > IDLE_CPU_SHARE * 100)
		w->active_ms = now;
}

/* What each process of a hung job is doing, for the events: state, wchan, kernel stack. */
static void describe_hang(struct daemon *d, struct watched *w, struct strbuf *out)
{
	struct proc_list list = { 0 };
	char wchan[64], stack[256];

	proc_descendants(supervise_shim_pid(d, w->id), &list);
	for (size_t i = 0; i < list.len && i < 8; i++) {
		const struct proc_stat *st = &list.items[i];

		proc_read_wchan(st->pid, wchan, sizeof(wchan));
		strbuf_addf(out, "%s%d %s %c%s%s", i ? "; " : "", (int)st->pid, st->comm, st->state,
			    wchan[0] ? " in " : "", wchan);
		if (proc_read_stack(st->pid, 3, stack, sizeof(stack)) == 0 && stack[0])
			strbuf_addf(out, " [%s]", stack);
	}
	if (list.len > 8)
		strbuf_addf(out, "; and %zu more", list.len - 8);
	proc_list_release(&list);
}

static void watch_hang(struct daemon *d, struct watched *w, enum job_state state,
		       const json_t *status)
{
	struct strbuf why = STRBUF_INIT;
	struct err err = { 0 };
	char idle[32];

	if (w->hang_timeout_ms <= 0 || state != JOB_RUNNING)
		return;
	watch_activity(d, w, status);
	if (time_now_ms() - w->active_ms < w->hang_timeout_ms) {
		if (w->hung) {
			w->hung = 0;
			store_job_set_state(d->store, w->id, JOB_RUNNING, NULL);
			store_event_add(d->store, w->id, "unhung", "the job shows signs of life again");
		}
		return;
	}
	if (w->hung)
		return;
	w->hung = 1;
	format_duration(time_now_ms() - w->active_ms, idle, sizeof(idle));
	strbuf_addf(&why, "no output, progress, checkpoint or CPU for %s: ", idle);
	describe_hang(d, w, &why);
	store_job_set_state(d->store, w->id, JOB_RUNNING, "hung");
	store_event_add(d->store, w->id, "hung", "%s", why.buf);
	daemon_log("job %lld hung (on-hang %s)", (long long)w->id, w->on_hang);
	if (strcmp(w->on_hang, "kill") == 0 || strcmp(w->on_hang, "restart") == 0)
		supervise_stop(d, w->id, 0, -1, "hung", &err);
	strbuf_release(&why);
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

/* Watch one live job: checkpoints, time limit, log errors, hangs. */
static void watch_job(struct daemon *d, int64_t id, enum job_state state)
{
	struct watched *w = watched_find(d, id);
	const json_t *status;

	if (!w)
		w = watched_add(d, id);
	status = watched_status(d, w);
	watch_checkpoints(d, w);
	watch_time_limit(d, w, state);
	watch_log(d, w, json_object_get(status, "log_error"));
	watch_hang(d, w, state, status);
}

static void watchdog_tick(void *data, int fd, uint32_t events)
{
	static const enum job_state live[] = { JOB_RUNNING, JOB_PAUSED, JOB_STOPPING };
	struct daemon *d = data;

	(void)fd;
	(void)events;
	store_begin(d->store);
	for (size_t k = 0; k < ARRAY_SIZE(live); k++) {
		int64_t *ids = store_job_ids_in_state(d->store, live[k]);

		for (int64_t *id = ids; *id >= 0; id++)
			watch_job(d, *id, live[k]);
		free(ids);
	}
	restart_tick(d);
	sched_tick(d);
	store_commit(d->store);
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
