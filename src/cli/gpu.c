/*
 * trainctl gpu, gpu ps and gpu kill: the NVIDIA GPUs, who is on them, and
 * getting rid of what holds one. Everything is read from NVML (lib/nvml)
 * at the moment of the command; no daemon is needed. When a daemon is
 * already running, its `ls` says which processes belong to trainctl jobs
 * (a process is a job's when the job's main process is the process or an
 * ancestor, or when it is in the job's session: the job called setsid, so
 * workers re-parented away from it are still found).
 *
 * One view serves every output: the snapshot and the jobs become JSON (the
 * --json output), and the tables for people are drawn from that JSON.
 *
 * gpu kill is the graceful kill ML people do by hand: SIGTERM, wait, SIGKILL.
 * Processes are signalled through pidfds opened (and checked against the
 * start time seen) before anything is sent, so a reused pid is never hit;
 * their exits are awaited by polling the pidfds, not by sleeping. A process
 * of a trainctl job is stopped the trainctl way instead (the daemon's stop,
 * which stops the whole tree and records it). Afterwards the GPUs involved
 * are read again and whatever still holds memory on them is reported.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/loop.h"
#include "lib/nvml.h"
#include "lib/parse.h"
#include "lib/proc.h"
#include "lib/proto.h"
#include "lib/signals.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

enum { OPT_JSON = 256, OPT_FORCE };

#define GPU_BAR_WIDTH 20
#define GPU_MIN_INTERVAL_MS 100
#define GPU_KILL_TIMEOUT_MS 10000
/* How long a SIGKILLed process may take to go (it may be in uninterruptible sleep). */
#define GPU_KILL_GONE_MS 5000

/* ---- the view: snapshot + jobs as JSON ---- */

/* The live jobs of a daemon (that is running, or that autostart may start); NULL if none. */
static json_t *gpu_jobs(struct cmd_ctx *ctx, int autostart, struct err *err)
{
	json_t *req = proto_request("ls"), *reply, *jobs;

	reply = autostart ? client_call(&ctx->paths, req, err)
			  : client_call_running(&ctx->paths, req, err);
	if (!reply)
		return NULL;
	jobs = json_incref(json_object_get(reply, "jobs"));
	json_decref(reply);
	return jobs;
}

static json_t *job_with_pid(json_t *jobs, pid_t pid)
{
	size_t i;
	json_t *job;

	json_array_foreach(jobs, i, job) {
		json_t *p = json_object_get(job, "pid");
		if (json_is_integer(p) && json_integer_value(p) == pid)
			return job;
	}
	return NULL;
}

/* The job whose process tree holds pid (borrowed from jobs), or NULL. */
static json_t *job_of_pid(json_t *jobs, pid_t pid)
{
	struct proc_stat st;
	json_t *job;

	if (!jobs || proc_read_stat(pid, &st) < 0)
		return NULL;
	if ((job = job_with_pid(jobs, st.session)))
		return job;
	for (int depth = 0; depth < 4096; depth++) {
		if ((job = job_with_pid(jobs, st.pid)))
			return job;
		if (st.ppid <= 1 || proc_read_stat(st.ppid, &st) < 0)
			break;
	}
	return NULL;
}

/* A JSON string of bytes that may not be UTF-8 (a command line): bad bytes become '?'. */
static json_t *json_string_lossy(const char *s)
{
	json_t *str = json_string(s);
	char *copy;

	if (str)
		return str;
	copy = xstrdup(s);
	for (char *p = copy; *p; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	str = json_string(copy);
	free(copy);
	return str;
}

static json_t *process_user(pid_t pid)
{
	int64_t uid = proc_read_uid(pid);
	struct passwd *pw;

	if (uid < 0)
		return json_null();
	pw = getpwuid((uid_t)uid);
	return pw ? json_string(pw->pw_name) : json_sprintf("%lld", (long long)uid);
}

/* The process's argv as a JSON array, or null when unreadable (gone, or not ours to see). */
static json_t *process_command(pid_t pid)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *argv = json_null();

	if (proc_read_cmdline(pid, &sb) == 0 && sb.len > 0) {
		json_decref(argv);
		argv = json_array();
		for (size_t at = 0; at < sb.len; at += strlen(sb.buf + at) + 1)
			json_array_append_new(argv, json_string_lossy(sb.buf + at));
	}
	strbuf_release(&sb);
	return argv;
}

static json_t *process_view(const struct gpu_process *p, json_t *jobs)
{
	json_t *obj = gpu_process_json(p);
	json_t *job = job_of_pid(jobs, p->pid);

	json_object_set_new(obj, "user", process_user(p->pid));
	json_object_set_new(obj, "command", process_command(p->pid));
	json_object_set_new(obj, "job", job ? json_pack("{s:O, s:O}", "id", json_object_get(job, "id"),
							"name", json_object_get(job, "name"))
					    : json_null());
	return obj;
}

/* Every GPU as JSON, each with the array of its processes. */
static json_t *gpu_view(const struct gpu_snapshot *s, json_t *jobs)
{
	json_t *devices = json_array();

	for (size_t i = 0; i < s->ngpus; i++) {
		json_t *dev = gpu_device_json(&s->gpus[i]);
		json_t *procs = json_array();

		for (size_t j = 0; j < s->nprocs; j++) {
			if (s->procs[j].gpu == s->gpus[i].index)
				json_array_append_new(procs, process_view(&s->procs[j], jobs));
		}
		json_object_set_new(dev, "processes", procs);
		json_array_append_new(devices, dev);
	}
	return devices;
}

/* Every process of a view, in GPU order. */
static json_t *view_processes(const json_t *devices)
{
	json_t *all = json_array(), *dev;
	size_t i;

	json_array_foreach(devices, i, dev)
		json_array_extend(all, json_object_get(dev, "processes"));
	return all;
}

/* Take a snapshot and build its view; jobs only from a daemon already running. */
static json_t *gpu_read_view(struct cmd_ctx *ctx, struct nvml *nvml)
{
	struct gpu_snapshot s;
	struct err ignored = { 0 };
	json_t *jobs, *view;

	if (nvml_snapshot(nvml, &s, &ctx->err) < 0)
		return NULL;
	jobs = gpu_jobs(ctx, 0, &ignored); /* best effort: without a daemon, no job names */
	view = gpu_view(&s, jobs);
	json_decref(jobs);
	gpu_snapshot_release(&s);
	return view;
}

/* ---- drawing the view ---- */

/* A size for people, or "-" when unknown (negative). */
static const char *text_size(int64_t bytes, char *buf, size_t size)
{
	if (bytes < 0)
		return "-";
	format_size(bytes, buf, size);
	return buf;
}

static const char *cell_size(const json_t *v, char *buf, size_t size)
{
	return text_size(json_is_integer(v) ? json_integer_value(v) : -1, buf, size);
}

static const char *cell_percent(const json_t *v, char *buf, size_t size)
{
	if (!json_is_integer(v))
		return "-";
	snprintf(buf, size, "%lld%%", (long long)json_integer_value(v));
	return buf;
}

/* "[#####...............] 10G / 40G", or what is known of it. */
static void cell_memory(const json_t *dev, struct strbuf *out)
{
	json_t *used = json_object_get(dev, "mem_used"), *total = json_object_get(dev, "mem_total");
	char a[16], b[16];

	if (json_is_integer(used) && json_is_integer(total) && json_integer_value(total) > 0) {
		int filled = (int)((double)json_integer_value(used) * GPU_BAR_WIDTH /
				   (double)json_integer_value(total) + 0.5);
		strbuf_addch(out, '[');
		for (int i = 0; i < GPU_BAR_WIDTH; i++)
			strbuf_addch(out, i < filled ? '#' : '.');
		strbuf_addstr(out, "] ");
	}
	strbuf_addf(out, "%s / %s", cell_size(used, a, sizeof(a)), cell_size(total, b, sizeof(b)));
}

static void cell_watts(const json_t *v, struct strbuf *out)
{
	if (json_is_number(v))
		strbuf_addf(out, "%.0fW", json_number_value(v));
	else
		strbuf_addch(out, '-');
}

static void print_devices(const json_t *devices, FILE *out)
{
	static const char *const header[] = { "GPU", "NAME", "UTIL", "MEMORY", "TEMP", "POWER" };
	struct table t;
	json_t *dev;
	size_t i;

	table_init(&t, 6, header);
	json_array_foreach(devices, i, dev) {
		struct strbuf mem = STRBUF_INIT, power = STRBUF_INIT;
		json_t *temp = json_object_get(dev, "temperature_c");
		char index[16], util[16], celsius[16];
		const char *row[6];

		snprintf(index, sizeof(index), "%lld", (long long)json_integer_value(json_object_get(dev, "index")));
		snprintf(celsius, sizeof(celsius), "%lldC", (long long)json_integer_value(temp));
		cell_memory(dev, &mem);
		cell_watts(json_object_get(dev, "power_w"), &power);
		strbuf_addstr(&power, " / ");
		cell_watts(json_object_get(dev, "power_limit_w"), &power);
		row[0] = index;
		row[1] = json_string_value(json_object_get(dev, "name"));
		row[2] = cell_percent(json_object_get(dev, "util_gpu"), util, sizeof(util));
		row[3] = mem.buf;
		row[4] = json_is_integer(temp) ? celsius : "-";
		row[5] = power.buf;
		table_add_row(&t, row);
		strbuf_release(&mem);
		strbuf_release(&power);
	}
	table_print(&t, out, 0);
	table_release(&t);
}

static void print_processes(const json_t *procs, FILE *out, int width)
{
	static const char *const header[] = { "GPU", "PID", "USER", "JOB", "GPU-MEM", "SM", "COMMAND" };
	struct table t;
	json_t *p;
	size_t i;

	if (json_array_size(procs) == 0) {
		fprintf(out, "No compute processes on the GPUs.\n");
		return;
	}
	table_init(&t, 7, header);
	json_array_foreach(procs, i, p) {
		struct strbuf job = STRBUF_INIT, command = STRBUF_INIT;
		char gpu[16], pid[16], mem[16], sm[16];
		const char *row[7];

		snprintf(gpu, sizeof(gpu), "%lld", (long long)json_integer_value(json_object_get(p, "gpu")));
		snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(json_object_get(p, "pid")));
		if (json_is_object(json_object_get(p, "job")))
			format_job_label(json_object_get(p, "job"), &job);
		format_command(json_object_get(p, "command"), &command);
		row[0] = gpu;
		row[1] = pid;
		row[2] = json_string_value(json_object_get(p, "user"));
		row[3] = job.len ? job.buf : NULL;
		row[4] = cell_size(json_object_get(p, "used_mem"), mem, sizeof(mem));
		row[5] = cell_percent(json_object_get(p, "sm_util"), sm, sizeof(sm));
		row[6] = command.len ? command.buf : NULL;
		table_add_row(&t, row);
		strbuf_release(&job);
		strbuf_release(&command);
	}
	table_print(&t, out, width);
	table_release(&t);
}

enum gpu_show { SHOW_GPUS, SHOW_PROCESSES };

/* One rendering of the view: JSON (indented, or one line per refresh), or tables. */
static void print_view(const json_t *devices, enum gpu_show what, int json, int json_line,
		       FILE *out, int width)
{
	json_t *procs = view_processes(devices);
	const json_t *value = what == SHOW_GPUS ? devices : procs;

	if (json) {
		json_dumpf(value, out, (json_line ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER |
					       JSON_REAL_PRECISION(10));
		fputc('\n', out);
	} else {
		if (what == SHOW_GPUS) {
			print_devices(devices, out);
			fputc('\n', out);
		}
		print_processes(procs, out, width);
	}
	json_decref(procs);
}

/* ---- gpu and gpu ps, once or refreshed in place ---- */

struct gpu_watch {
	struct cmd_ctx *ctx;
	struct nvml *nvml;
	struct loop *loop;
	enum gpu_show what;
	int64_t interval_ms;
	int json, tty, failed;
};

/*
 * One refresh. On a terminal the frame is drawn over the last one: cursor
 * home, each line cleared to its end, the rest of the screen cleared, all in
 * one write, so nothing scrolls or flickers. Elsewhere frames follow each
 * other (JSON: one line each).
 */
static void watch_draw(struct gpu_watch *w)
{
	json_t *view = gpu_read_view(w->ctx, w->nvml);
	struct strbuf frame = STRBUF_INIT;
	char *text = NULL, when[32], every[16];
	size_t len = 0;
	FILE *mem;

	if (!view) {
		w->failed = 1;
		loop_stop(w->loop);
		return;
	}
	mem = open_memstream(&text, &len);
	if (!w->json) {
		format_local_time(time_now_ms(), when, sizeof(when));
		format_duration(w->interval_ms, every, sizeof(every));
		fprintf(mem, "Every %s: trainctl gpu%s    %s\n\n", every,
			w->what == SHOW_PROCESSES ? " ps" : "", when);
	}
	print_view(view, w->what, w->json, 1, mem, terminal_width());
	fclose(mem);
	if (w->tty && !w->json) {
		strbuf_addstr(&frame, "\033[H");
		for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
			strbuf_add(&frame, line, (size_t)(nl - line));
			strbuf_addstr(&frame, "\033[K\n");
		}
		strbuf_addstr(&frame, "\033[J");
	} else {
		strbuf_add(&frame, text, len);
		if (!w->json)
			strbuf_addch(&frame, '\n');
	}
	fwrite(frame.buf, 1, frame.len, stdout);
	fflush(stdout);
	strbuf_release(&frame);
	free(text);
	json_decref(view);
}

static void watch_on_timer(void *data, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	watch_draw(data);
}

static void watch_on_signal(void *data, int sig)
{
	struct gpu_watch *w = data;

	(void)sig;
	loop_stop(w->loop);
}

/* Redraw every interval until SIGINT or SIGTERM (then exit 0) or a failed snapshot. */
static int gpu_watch(struct gpu_watch *w)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	w->tty = isatty(STDOUT_FILENO);
	w->loop = loop_new();
	if (w->tty && !w->json)
		fputs("\033[?25l\033[H\033[2J", stdout); /* hide the cursor, start on a clean screen */
	if (loop_add_signals(w->loop, sigs, (int)ARRAY_SIZE(sigs), watch_on_signal, w) < 0) {
		loop_free(w->loop);
		return err_errno(&w->ctx->err, "gpu: cannot watch signals");
	}
	loop_add_interval(w->loop, w->interval_ms, watch_on_timer, w);
	watch_draw(w);
	if (!w->failed)
		loop_run(w->loop);
	loop_free(w->loop);
	if (w->tty && !w->json)
		fputs("\033[?25h", stdout);
	fflush(stdout);
	return w->failed ? -1 : 0;
}

/* The options of gpu and gpu ps. */
static const struct opt_spec gpu_show_opts[] = {
	{ OPT_JSON, "json", OPT_FLAG, NULL, "print JSON (see trainctl(1), JSON OUTPUT)" },
	{ 'w', "watch", OPT_FLAG, NULL, "refresh in place every --interval until Ctrl-C" },
	{ 'i', "interval", OPT_VALUE, "DUR", "time between refreshes (default 1s; implies -w)" },
	{ 0 },
};

static int gpu_show_main(struct cmd_ctx *ctx, enum gpu_show what)
{
	struct gpu_watch w = { .ctx = ctx, .what = what, .json = opt_count(ctx, OPT_JSON) > 0,
			       .interval_ms = 1000 };
	const char *interval = opt_value(ctx, 'i');
	json_t *view;
	int ret = 0;

	if (interval && parse_duration_ms(interval, &w.interval_ms, &ctx->err) < 0)
		return -1;
	if (w.interval_ms < GPU_MIN_INTERVAL_MS)
		return err_usage(&ctx->err, "%s: --interval %s is too short (at least 100ms)",
				 ctx->cmd->name, interval);
	w.nvml = nvml_open(&ctx->err);
	if (!w.nvml)
		return -1;
	if (opt_count(ctx, 'w') || interval) {
		ret = gpu_watch(&w);
	} else if ((view = gpu_read_view(ctx, w.nvml))) {
		print_view(view, what, w.json, 0, stdout, terminal_width());
		json_decref(view);
	} else {
		ret = -1;
	}
	nvml_close(w.nvml);
	return ret;
}

static int gpu_ps_main(struct cmd_ctx *ctx)
{
	return gpu_show_main(ctx, SHOW_PROCESSES);
}

static const struct cmd_entry cmd_gpu_ps = {
	.name = "gpu ps",
	.brief = "every process on the GPUs",
	.synopsis = "",
	.summary = "List every compute process on the GPUs: GPU, pid, user, the trainctl job it\n"
		   "belongs to (when a daemon is running), GPU memory, SM utilization and\n"
		   "command line.",
	.opts = gpu_show_opts,
	.max_args = 0,
	.fn = gpu_ps_main,
};

/* ---- gpu kill ---- */

struct kill_target {
	pid_t pid;
	char comm[64];
	int pidfd;
	json_t *job; /* the job it belongs to (borrowed), or NULL */
	int gone;
};

static const struct opt_spec gpu_kill_opts[] = {
	{ 't', "timeout", OPT_VALUE, "DUR", "time to exit after SIGTERM before SIGKILL (default 10s)" },
	{ OPT_FORCE, "force", OPT_FLAG, NULL, "also kill processes that are not on a GPU" },
	{ 0 },
};

/* Pin the process with a pidfd, checked to be the one /proc showed us. */
static int target_open(struct kill_target *t, struct err *err)
{
	struct proc_stat st;

	if (proc_read_stat(t->pid, &st) < 0 || st.state == 'Z' || st.state == 'X')
		return err_set(err, "gpu kill: no process %d", (int)t->pid);
	snprintf(t->comm, sizeof(t->comm), "%s", st.comm);
	t->pidfd = pidfd_open_pid(t->pid);
	if (t->pidfd < 0)
		return err_errno(err, "gpu kill: cannot open process %d", (int)t->pid);
	/* The pidfd pins a process; make sure it is the one whose stat we read. */
	if (proc_start_time(t->pid) != st.start_time)
		return err_set(err, "gpu kill: process %d exited meanwhile", (int)t->pid);
	return 0;
}

/*
 * Check every PID before anything is signalled: each must be a live
 * process, and on a GPU unless --force. A typo in a list kills nothing.
 */
static int kill_targets_open(struct cmd_ctx *ctx, const struct gpu_snapshot *s, json_t *jobs,
			     struct kill_target *targets, unsigned char *gpus_used)
{
	for (int i = 0; i < ctx->argc; i++) {
		struct kill_target *t = &targets[i];
		int on_gpu = 0;

		if (target_open(t, &ctx->err) < 0)
			return -1;
		for (size_t j = 0; j < s->nprocs; j++) {
			if (s->procs[j].pid == t->pid) {
				gpus_used[s->procs[j].gpu] = 1;
				on_gpu = 1;
			}
		}
		if (!on_gpu && !opt_count(ctx, OPT_FORCE))
			return err_set(&ctx->err,
				       "gpu kill: process %d (%s) is not a GPU compute process "
				       "(use --force to kill it anyway)",
				       (int)t->pid, t->comm);
		t->job = job_of_pid(jobs, t->pid);
	}
	return 0;
}

/* Stop every job that a target belongs to, through the daemon, with the grace given. */
static int kill_stop_jobs(struct cmd_ctx *ctx, struct kill_target *targets, int n,
			  int64_t timeout_ms)
{
	json_t *ids = json_array(), *req, *reply;
	struct strbuf label = STRBUF_INIT;

	for (int i = 0; i < n; i++) {
		json_t *id = json_object_get(targets[i].job, "id");
		int seen = 0;

		if (!targets[i].job)
			continue;
		strbuf_reset(&label);
		format_job_label(targets[i].job, &label);
		printf("%d (%s) belongs to job %s: stopping the job\n", (int)targets[i].pid,
		       targets[i].comm, label.buf);
		for (size_t j = 0; j < json_array_size(ids); j++)
			seen |= json_equal(json_array_get(ids, j), id);
		if (!seen)
			json_array_append(ids, id);
	}
	strbuf_release(&label);
	if (json_array_size(ids) == 0) {
		json_decref(ids);
		return 0;
	}
	req = proto_request("stop");
	json_object_set_new(req, "jobs", ids);
	json_object_set_new(req, "timeout_ms", json_integer(timeout_ms));
	fflush(stdout);
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	print_job_results(json_object_get(reply, "results"));
	json_decref(reply);
	return 0;
}

/* Poll the pidfds of the targets not yet gone until all are or the deadline passes. */
static void kill_wait(struct kill_target *targets, int n, int64_t ms)
{
	int64_t deadline = time_monotonic_ms() + ms;
	struct pollfd *fds = xcalloc((size_t)n, sizeof(*fds));

	for (;;) {
		int64_t left = deadline - time_monotonic_ms();
		int waiting = 0;

		for (int i = 0; i < n; i++) {
			fds[i].fd = targets[i].job || targets[i].gone ? -1 : targets[i].pidfd;
			fds[i].events = POLLIN;
			fds[i].revents = 0;
			waiting += fds[i].fd >= 0;
		}
		if (!waiting || left <= 0)
			break;
		if (poll(fds, (nfds_t)n, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP)))
				targets[i].gone = 1;
		}
	}
	free(fds);
}

/* Send sig to every target not yet gone and not a job's. */
static void kill_signal(struct kill_target *targets, int n, int sig)
{
	for (int i = 0; i < n; i++) {
		if (!targets[i].job && !targets[i].gone && pidfd_send(targets[i].pidfd, sig) < 0 &&
		    errno == ESRCH)
			targets[i].gone = 1;
	}
}

/* SIGTERM, up to timeout_ms for them to exit, SIGKILL; report each. 0 when all are gone. */
static int kill_processes(struct kill_target *targets, int n, int64_t timeout_ms)
{
	char grace[16];
	int ret = 0;

	kill_signal(targets, n, SIGTERM);
	kill_wait(targets, n, timeout_ms);
	for (int i = 0; i < n; i++) {
		if (!targets[i].job && targets[i].gone)
			printf("%d (%s): exited after SIGTERM\n", (int)targets[i].pid, targets[i].comm);
	}
	format_duration(timeout_ms, grace, sizeof(grace));
	for (int i = 0; i < n; i++) {
		if (!targets[i].job && !targets[i].gone)
			printf("%d (%s): still running %s after SIGTERM: sending SIGKILL\n",
			       (int)targets[i].pid, targets[i].comm, grace);
	}
	fflush(stdout);
	kill_signal(targets, n, SIGKILL);
	kill_wait(targets, n, GPU_KILL_GONE_MS);
	for (int i = 0; i < n; i++) {
		struct proc_stat st;

		if (targets[i].job || targets[i].gone)
			continue;
		ret = -1;
		if (proc_read_stat(targets[i].pid, &st) == 0)
			fprintf(stderr, "trainctl: %d (%s) survived SIGKILL (state %c)\n",
				(int)targets[i].pid, targets[i].comm, st.state);
	}
	return ret;
}

/* Read the GPUs again and say what still holds memory on the ones the targets used. */
static int kill_report_leftovers(struct cmd_ctx *ctx, struct nvml *nvml,
				 const unsigned char *gpus_used, size_t ngpus)
{
	struct gpu_snapshot s;
	char used[16], total[16];

	if (nvml_snapshot(nvml, &s, &ctx->err) < 0)
		return -1;
	for (size_t g = 0; g < s.ngpus && g < ngpus; g++) {
		int held = 0;

		if (!gpus_used[g])
			continue;
		for (size_t i = 0; i < s.nprocs; i++) {
			struct proc_stat st;
			const struct gpu_process *p = &s.procs[i];

			if (p->gpu != g)
				continue;
			held = 1;
			printf("GPU %zu: still used by %d (%s), %s of memory\n", g, (int)p->pid,
			       proc_read_stat(p->pid, &st) == 0 ? st.comm : "not visible here",
			       text_size(p->used_mem, used, sizeof(used)));
		}
		if (!held) {
			printf("GPU %zu: no compute process left; %s of %s in use\n", g,
			       text_size(s.gpus[g].mem_used, used, sizeof(used)),
			       text_size(s.gpus[g].mem_total, total, sizeof(total)));
		}
	}
	gpu_snapshot_release(&s);
	return 0;
}

static int parse_pids(struct cmd_ctx *ctx, struct kill_target *targets)
{
	for (int i = 0; i < ctx->argc; i++) {
		int pid;

		if (parse_uint(ctx->argv[i], &pid) < 0 || pid <= 0)
			return err_usage(&ctx->err, "gpu kill: '%s' is not a process id (expected a number above 0)",
					 ctx->argv[i]);
		targets[i].pid = pid;
		targets[i].pidfd = -1;
	}
	return 0;
}

static int gpu_kill_main(struct cmd_ctx *ctx)
{
	struct kill_target *targets = xcalloc((size_t)ctx->argc, sizeof(*targets));
	const char *timeout = opt_value(ctx, 't');
	int64_t timeout_ms = GPU_KILL_TIMEOUT_MS;
	struct gpu_snapshot s = { 0 };
	unsigned char *gpus_used = NULL;
	struct nvml *nvml = NULL;
	json_t *jobs = NULL;
	int ret = -1;

	if (parse_pids(ctx, targets) < 0 ||
	    (timeout && parse_duration_ms(timeout, &timeout_ms, &ctx->err) < 0))
		goto out;
	nvml = nvml_open(&ctx->err);
	if (!nvml || nvml_snapshot(nvml, &s, &ctx->err) < 0)
		goto out;
	/* Jobs outlive their daemon: where trainctl has state, ask (and so start) one. */
	if (access(ctx->paths.db, F_OK) == 0 && !(jobs = gpu_jobs(ctx, 1, &ctx->err)))
		goto out;
	gpus_used = xcalloc(s.ngpus + 1, 1);
	if (kill_targets_open(ctx, &s, jobs, targets, gpus_used) < 0 ||
	    kill_stop_jobs(ctx, targets, ctx->argc, timeout_ms) < 0)
		goto out;
	ret = kill_processes(targets, ctx->argc, timeout_ms);
	if (kill_report_leftovers(ctx, nvml, gpus_used, s.ngpus) < 0)
		ret = -1;
	else if (ret < 0)
		err_set(&ctx->err, "gpu kill: some processes could not be killed");
out:
	for (int i = 0; i < ctx->argc; i++) {
		if (targets[i].pidfd >= 0)
			close(targets[i].pidfd);
	}
	free(targets);
	free(gpus_used);
	json_decref(jobs);
	gpu_snapshot_release(&s);
	nvml_close(nvml);
	return ret;
}

static const struct cmd_entry cmd_gpu_kill = {
	.name = "gpu kill",
	.brief = "stop the processes holding a GPU: SIGTERM, wait, SIGKILL",
	.synopsis = "PID...",
	.summary = "Stop GPU processes gracefully: SIGTERM, up to --timeout for them to exit, then\n"
		   "SIGKILL, through pidfds (a reused pid is never hit). A process of a trainctl\n"
		   "job stops that whole job the trainctl way (as 'trainctl stop JOB -t DUR'\n"
		   "would). A PID that is not a GPU compute process is refused unless --force.\n"
		   "Afterwards, reports what still holds memory on the GPUs those PIDs used.",
	.opts = gpu_kill_opts,
	.min_args = 1,
	.max_args = -1,
	.fn = gpu_kill_main,
};

/* ---- gpu: the command and its subcommands ---- */

/* Parse and run a subcommand with its own options, sharing the paths. */
static int gpu_run_sub(struct cmd_ctx *ctx, const struct cmd_entry *sub)
{
	struct cmd_ctx sub_ctx = { 0 };
	int ret = cmd_parse(sub, ctx->argc, ctx->argv, &sub_ctx);

	if (ret == 1) {
		cmd_print_help(sub, stdout);
		ret = 0;
	} else if (ret == 0) {
		sub_ctx.paths = ctx->paths;
		ret = sub->fn(&sub_ctx);
		memset(&sub_ctx.paths, 0, sizeof(sub_ctx.paths));
	}
	ctx->err = sub_ctx.err;
	cmd_ctx_release(&sub_ctx);
	return ret;
}

static int gpu_main(struct cmd_ctx *ctx)
{
	static const struct cmd_entry *const subs[] = { &cmd_gpu_ps, &cmd_gpu_kill };
	const char *sub = ctx->argc ? ctx->argv[0] : NULL;

	if (!sub)
		return gpu_show_main(ctx, SHOW_GPUS);
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		if (strcmp(subs[i]->name + strlen("gpu "), sub) != 0)
			continue;
		if (opt_count(ctx, OPT_JSON) || opt_count(ctx, 'w') || opt_value(ctx, 'i'))
			return err_usage(&ctx->err, "gpu: options go after the subcommand (trainctl gpu %s [options])",
					 sub);
		return gpu_run_sub(ctx, subs[i]);
	}
	return err_usage(&ctx->err, "gpu: unknown subcommand '%s' (expected ps or kill)", sub);
}

const struct cmd_entry cmd_gpu = {
	.name = "gpu",
	.brief = "GPUs and their processes; gpu ps, gpu kill",
	.synopsis = "[ps|kill PID...]",
	.summary = "Show every NVIDIA GPU (utilization, memory, temperature, power) and the\n"
		   "compute processes on it, with the trainctl job each belongs to when a daemon\n"
		   "is running. Needs the NVIDIA driver (libnvidia-ml.so.1); no daemon.",
	.opts = gpu_show_opts,
	.max_args = -1,
	.flags = CMD_STOP_AT_OPERAND,
	.fn = gpu_main,
	.details = "Subcommands (each has its own --help):\n"
		   "  gpu ps [--json] [-w]                every compute process on the GPUs\n"
		   "  gpu kill PID... [-t 10s] [--force]  SIGTERM, wait, SIGKILL; a job's process\n"
		   "                                      stops its job",
};
