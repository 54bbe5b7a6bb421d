/* Priority and resource limits of a job; see limits.h. */
#include "shim/limits.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/proc.h"
#include "lib/signals.h"
#include "lib/xmalloc.h"
#include "shim/shim_state.h"

#define DUTY_PERIOD_MS 100
#define MEM_CHECK_MS 1000

static int limits_make_cgroup(struct shim *shim, enum cgroup_kind kind, struct err *err)
{
	char *name = cgroup_job_name(shim->paths.home, shim->id);
	int ret = cgroup_job_create(&shim->cgroup, kind, CGROUP_ROOT, name, err);

	free(name);
	if (ret == 0 && shim->cpu_limit > 0)
		ret = cgroup_job_set_cpu(&shim->cgroup, shim->cpu_limit, err);
	if (ret == 0 && shim->mem_limit > 0)
		ret = cgroup_job_set_memory(&shim->cgroup, shim->mem_limit, err);
	return ret;
}

int limits_setup(struct shim *shim, struct err *err)
{
	const char *kind = json_string_value(json_object_get(shim->spec, "cgroup"));
	json_t *nice = json_object_get(shim->spec, "nice");
	struct err why = { 0 };

	shim->cgroup.kind = CGROUP_NONE;
	shim->cpu_limit = json_number_value(json_object_get(shim->spec, "cpu_limit"));
	shim->mem_limit = json_integer_value(json_object_get(shim->spec, "mem_limit"));
	shim->set_nice = json_is_integer(nice);
	shim->nice = (int)json_integer_value(nice);
	if (kind && (strcmp(kind, "v2") == 0 || strcmp(kind, "v1") == 0) &&
	    limits_make_cgroup(shim, kind[1] == '2' ? CGROUP_V2 : CGROUP_V1, &why) < 0) {
		/* Without the cgroup the limits still hold, by the fallbacks. */
		fprintf(stderr, "trainctl-shim %lld: no cgroup, using fallbacks: %s\n",
			(long long)shim->id, why.msg);
		cgroup_job_remove(&shim->cgroup);
		cgroup_job_release(&shim->cgroup);
		shim->cgroup.kind = CGROUP_NONE;
	}
	(void)err;
	return 0;
}

void limits_child(const struct shim *shim)
{
	if (shim->cgroup.kind != CGROUP_NONE)
		cgroup_job_add(&shim->cgroup, 0);
	if (shim->set_nice)
		setpriority(PRIO_PROCESS, 0, shim->nice);
}

/* Fallback CPU limit: run for duty x period, stop for the rest, every period. */
static void limits_duty_tick(void *data, int fd, uint32_t events)
{
	struct shim *shim = data;
	int64_t next;

	(void)fd;
	(void)events;
	shim->duty_timer = NULL;
	if (shim->reaped || shim->exit.stop_requested || shim->duty >= 1) {
		if (shim->duty_stopped)
			shim_signal_tree(shim, SIGCONT);
		shim->duty_stopped = 0;
		return;
	}
	if (shim->paused) { /* the user's pause wins; keep time until it ends */
		shim->duty_stopped = 0;
		shim->duty_timer = loop_add_timer(shim->loop, DUTY_PERIOD_MS, limits_duty_tick, shim);
		return;
	}
	shim->duty_stopped = !shim->duty_stopped;
	shim_signal_tree(shim, shim->duty_stopped ? SIGSTOP : SIGCONT);
	next = (int64_t)(DUTY_PERIOD_MS * (shim->duty_stopped ? 1 - shim->duty : shim->duty));
	shim->duty_timer = loop_add_timer(shim->loop, next > 0 ? next : 1, limits_duty_tick, shim);
}

/* The resident memory of the whole tree, in bytes. */
static int64_t tree_rss(struct shim *shim)
{
	struct proc_list list = { 0 };
	int64_t pages = 0;

	proc_descendants(getpid(), &list);
	for (size_t i = 0; i < list.len; i++)
		pages += (int64_t)list.items[i].rss_pages;
	proc_list_release(&list);
	(void)shim;
	return pages * sysconf(_SC_PAGESIZE);
}

/* Fallback memory limit: stop the job gracefully once its tree uses more. */
static void limits_mem_tick(void *data, int fd, uint32_t events)
{
	struct shim *shim = data;

	(void)fd;
	(void)events;
	if (shim->reaped || shim->exit.stop_requested || shim->mem_limit <= 0 ||
	    tree_rss(shim) <= shim->mem_limit)
		return;
	snprintf(shim->exit.limit, sizeof(shim->exit.limit), "memory-limit");
	shim_stop(shim, shim->stop_signal, shim->stop_timeout_ms);
}

/* Start or stop the fallback timers to match the limits now in force. */
static void limits_arm(struct shim *shim)
{
	int fallback = shim->cgroup.kind == CGROUP_NONE;

	shim->duty = shim->cpu_limit > 0 && shim->cpu_limit < 1 ? shim->cpu_limit : 1;
	if (fallback && shim->duty < 1 && !shim->duty_timer)
		shim->duty_timer = loop_add_timer(shim->loop, DUTY_PERIOD_MS, limits_duty_tick, shim);
	if (fallback && shim->mem_limit > 0 && !shim->mem_timer)
		shim->mem_timer = loop_add_interval(shim->loop, MEM_CHECK_MS, limits_mem_tick, shim);
}

void limits_started(struct shim *shim)
{
	limits_arm(shim);
}

int limits_update(struct shim *shim, double cpus, int64_t mem, struct err *err)
{
	/* The kernel may refuse (a memory limit below what is in use): record only what took. */
	if (cpus >= 0 && shim->cgroup.kind != CGROUP_NONE &&
	    cgroup_job_set_cpu(&shim->cgroup, cpus, err) < 0)
		return -1;
	if (cpus >= 0)
		shim->cpu_limit = cpus;
	if (mem >= 0 && shim->cgroup.kind != CGROUP_NONE &&
	    cgroup_job_set_memory(&shim->cgroup, mem, err) < 0)
		return -1;
	if (mem >= 0)
		shim->mem_limit = mem;
	limits_arm(shim);
	return 0;
}

int limits_renice(struct shim *shim, int nice, struct err *err)
{
	struct proc_list list = { 0 };
	int failed = 0;

	proc_descendants(getpid(), &list);
	for (size_t i = 0; i < list.len; i++) {
		/* The start time check guards against a pid reused since the scan. */
		if (proc_start_time(list.items[i].pid) == list.items[i].start_time &&
		    setpriority(PRIO_PROCESS, (id_t)list.items[i].pid, nice) < 0)
			failed = errno;
	}
	proc_list_release(&list);
	shim->nice = nice;
	shim->set_nice = 1;
	if (failed) {
		errno = failed;
		return err_errno(err, "cannot set nice %d", nice);
	}
	return 0;
}

void limits_kill(struct shim *shim)
{
	if (shim->cgroup.kind != CGROUP_NONE)
		cgroup_job_kill(&shim->cgroup);
}

void limits_finish(struct shim *shim)
{
	if (shim->cgroup.kind == CGROUP_NONE)
		return;
	shim->exit.oom_kills = cgroup_job_oom_kills(&shim->cgroup);
	cgroup_job_kill(&shim->cgroup);
	cgroup_job_remove(&shim->cgroup);
}

json_t *limits_json(const struct shim *shim)
{
	const char *mechanism = shim->cgroup.kind == CGROUP_V2 ? "cgroup v2"
				: shim->cgroup.kind == CGROUP_V1 ? "cgroup v1"
				: shim->cpu_limit >= 1
					? "signals and an RSS watchdog (no cgroup; CPU limits of one CPU or more are not enforced)"
					: "signals and an RSS watchdog (no cgroup)";

	return json_pack("{s:o, s:o, s:o, s:s}", "nice",
			 shim->set_nice ? json_integer(shim->nice) : json_null(), "cpu_limit",
			 shim->cpu_limit > 0 ? json_real(shim->cpu_limit) : json_null(), "mem_limit",
			 shim->mem_limit > 0 ? json_integer(shim->mem_limit) : json_null(),
			 "mechanism", mechanism);
}

void limits_release(struct shim *shim)
{
	cgroup_job_release(&shim->cgroup);
}
