/* On-exit commands; see onexit.h. */
#include "daemon/onexit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/supervise.h"
#include "lib/parse.h"
#include "lib/signals.h"
#include "lib/xmalloc.h"

#define ONEXIT_DEFAULT_TIMEOUT_MS 60000

/* A running on-exit command. */
struct onexit {
	struct daemon *daemon;
	int64_t id;
	pid_t pid;
	int64_t started_ms;
	int timed_out;
	struct loop_watch *timer;
	struct onexit *next;
};

/* argv/envp built before fork, so that the child only calls async-signal-safe functions. */
struct onexit_exec {
	char *argv[4];
	char **envp;
	size_t nenv;
	const char *cwd;
};

static void env_add(struct onexit_exec *x, char *entry)
{
	x->envp = xreallocarray(x->envp, x->nenv + 2, sizeof(char *));
	x->envp[x->nenv++] = entry;
	x->envp[x->nenv] = NULL;
}

/* The job's environment without TRAINCTL_JOB_*, then the job's facts. */
static void build_env(struct daemon *d, int64_t id, const json_t *result, struct onexit_exec *x)
{
	json_t *env = store_job_env(d->store, id), *v;
	const char *name = json_string_value(json_object_get(result, "name"));
	const char *reason = json_string_value(json_object_get(result, "reason"));
	int64_t started = parse_rfc3339_ms(json_string_value(json_object_get(result, "started_at")));
	int64_t ended = parse_rfc3339_ms(json_string_value(json_object_get(result, "ended_at")));
	size_t i;

	json_array_foreach(env, i, v) {
		const char *e = json_string_value(v);
		if (e && strncmp(e, "TRAINCTL_JOB_", 13) != 0)
			env_add(x, xstrdup(e));
	}
	json_decref(env);
	env_add(x, xasprintf("TRAINCTL_JOB_ID=%lld", (long long)id));
	env_add(x, xasprintf("TRAINCTL_JOB_NAME=%s", name ? name : ""));
	env_add(x, xasprintf("TRAINCTL_JOB_STATE=%s",
			     json_string_value(json_object_get(result, "state"))));
	env_add(x, xasprintf("TRAINCTL_JOB_REASON=%s", reason ? reason : ""));
	env_add(x, xasprintf("TRAINCTL_JOB_EXIT_CODE=%lld",
			     (long long)json_integer_value(json_object_get(result, "status"))));
	env_add(x, xasprintf("TRAINCTL_JOB_DURATION_S=%.3f",
			     started > 0 && ended >= started ? (ended - started) / 1000.0 : 0.0));
}

static void exec_release(struct onexit_exec *x)
{
	for (size_t i = 0; i < x->nenv; i++)
		free(x->envp[i]);
	free(x->envp);
}

/* In the forked child: only async-signal-safe calls. */
static void onexit_child(const struct onexit_exec *x)
{
	static const char msg[] = "trainctl: on-exit: cannot change to the job's directory\n";
	int null = open("/dev/null", O_RDONLY);

	setsid(); /* its own process group, so the time limit kills all of it */
	if (null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
		_exit(127);
	signals_reset_for_exec();
	close_range(3, ~0U, 0);
	if (chdir(x->cwd) < 0) {
		write(2, msg, sizeof(msg) - 1);
		_exit(126);
	}
	execve("/bin/sh", x->argv, x->envp);
	_exit(127);
}

static void on_timeout(void *data, int fd, uint32_t events)
{
	struct onexit *o = data;

	(void)fd;
	(void)events;
	o->timer = NULL;
	o->timed_out = 1;
	kill(-o->pid, SIGKILL); /* still our unreaped child: the pid cannot have been reused */
}

static void onexit_start(struct daemon *d, int64_t id, const char *cmd, const json_t *result)
{
	json_t *spec = store_job_spec(d->store, id);
	const char *cwd = json_string_value(json_object_get(spec, "cwd"));
	int64_t limit = d->config.on_exit_timeout_ms > 0 ? d->config.on_exit_timeout_ms
							 : ONEXIT_DEFAULT_TIMEOUT_MS;
	struct onexit_exec x = { .argv = { "sh", "-c", (char *)cmd, NULL }, .cwd = cwd ? cwd : "/" };
	struct onexit *o;
	pid_t pid;

	build_env(d, id, result, &x);
	pid = fork();
	if (pid == 0)
		onexit_child(&x);
	if (pid < 0)
		store_event_add(d->store, id, "on-exit", "failed: cannot start '%s': %s", cmd,
				strerror(errno));
	exec_release(&x);
	json_decref(spec);
	if (pid < 0)
		return;
	daemon_log("job %lld: on-exit command started (pid %d): %s", (long long)id, (int)pid, cmd);
	o = xcalloc(1, sizeof(*o));
	o->daemon = d;
	o->id = id;
	o->pid = pid;
	o->started_ms = time_monotonic_ms();
	o->timer = loop_add_timer(d->loop, limit, on_timeout, o);
	o->next = d->onexits;
	d->onexits = o;
}

void onexit_job_ended(struct daemon *d, int64_t id)
{
	json_t *spec = store_job_spec(d->store, id);
	const char *own = json_string_value(json_object_get(spec, "on_exit"));
	json_t *result;

	if (!own && !d->config.on_exit) {
		json_decref(spec);
		return;
	}
	result = supervise_result(d, id);
	if (own)
		onexit_start(d, id, own, result);
	if (d->config.on_exit)
		onexit_start(d, id, d->config.on_exit, result);
	json_decref(result);
	json_decref(spec);
}

void onexit_reaped(struct daemon *d, pid_t pid, int status)
{
	struct onexit **pp, *o;
	char how[64], took[32];

	for (pp = &d->onexits; *pp && (*pp)->pid != pid; pp = &(*pp)->next)
		;
	if (!(o = *pp))
		return;
	*pp = o->next;
	if (o->timer)
		loop_remove(d->loop, o->timer);
	format_duration(time_monotonic_ms() - o->started_ms, took, sizeof(took));
	if (o->timed_out)
		snprintf(how, sizeof(how), "killed after the %s time limit", took);
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by %s after %s", signal_name(WTERMSIG(status)), took);
	else
		snprintf(how, sizeof(how), "exit %d after %s", WEXITSTATUS(status), took);
	daemon_log("job %lld: on-exit command (pid %d) %s", (long long)o->id, (int)pid, how);
	store_begin(d->store);
	store_event_add(d->store, o->id, "on-exit", "%s%s", WIFEXITED(status) && !o->timed_out &&
			WEXITSTATUS(status) == 0 ? "" : "failed: ", how);
	store_commit(d->store);
	free(o);
}

void onexit_release(struct daemon *d)
{
	while (d->onexits) {
		struct onexit *o = d->onexits;
		d->onexits = o->next;
		if (o->timer)
			loop_remove(d->loop, o->timer);
		free(o);
	}
}
