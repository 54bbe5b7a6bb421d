/*
 * trainctl diagnose PID|JOB: what a process, or every process of a job, is
 * doing, and what to do about it. The facts and the findings come from
 * src/lib/diagnose.c; this file finds the processes (a job's tree through
 * the daemon; a plain PID needs no daemon) and renders the report: sections
 * for a person, with colour on a terminal, or --json with the same content.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/format.h"
#include "lib/diagnose.h"
#include "lib/nvml.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/xmalloc.h"

enum { OPT_JSON = 256, OPT_WINDOW, OPT_NO_COLOR, OPT_PID = 'p', OPT_JOB = 'j' };

#define WINDOW_MAX_MS (10 * 60 * 1000)

static const struct opt_spec diagnose_opts[] = {
	{ OPT_WINDOW, "window", OPT_VALUE, "DUR", "watch CPU, I/O and thread states this long (default 3s)" },
	{ OPT_JSON, "json", OPT_FLAG, NULL, "print the facts and findings as JSON" },
	{ OPT_NO_COLOR, "no-color", OPT_FLAG, NULL, "no colour, even on a terminal (also NO_COLOR=1)" },
	{ OPT_PID, "pid", OPT_FLAG, NULL, "the operand is a process id, even if a job has that id" },
	{ OPT_JOB, "job", OPT_FLAG, NULL, "the operand is a job (id or name)" },
	{ 0 },
};

/* ---- colour ----------------------------------------------------------------- */

static int use_color;

static const char *color(const char *code)
{
	return use_color ? code : "";
}

#define BOLD "\033[1m"
#define RED "\033[1;31m"
#define YELLOW "\033[33m"
#define CYAN "\033[36m"
#define GREEN "\033[32m"
#define RESET "\033[0m"

/* ---- finding the processes --------------------------------------------------- */

/* The job object from a running daemon (never started for this), or NULL with err. */
static json_t *ask_show(struct cmd_ctx *ctx, const char *job, struct err *err)
{
	json_t *req = proto_request("show");
	json_t *reply, *out;

	json_object_set_new(req, "jobs", json_pack("[s]", job));
	reply = client_call_running(&ctx->paths, req, err);
	out = reply ? json_incref(json_object_get(reply, "job")) : NULL;
	json_decref(reply);
	return out;
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
	}
	return 1;
}

/* The job's processes: its main pid first, then the rest of the shim's tree. */
static size_t job_pids(const json_t *job, pid_t **out)
{
	json_t *pid = json_object_get(job, "pid"), *shim = json_object_get(job, "shim_pid");
	pid_t main_pid = json_is_integer(pid) ? (pid_t)json_integer_value(pid) : 0;
	pid_t root = json_is_integer(shim) ? (pid_t)json_integer_value(shim) : main_pid;
	struct proc_list tree = { 0 };
	size_t n = 0;

	if (main_pid <= 0)
		return 0;
	proc_tree(root, &tree);
	*out = xcalloc(tree.len + 1, sizeof(**out));
	(*out)[n++] = main_pid;
	for (size_t i = 0; i < tree.len; i++) {
		if (tree.items[i].pid != main_pid)
			(*out)[n++] = tree.items[i].pid;
	}
	proc_list_release(&tree);
	return n;
}

/* For a plain PID: the job it runs under, from its TRAINCTL_JOB_ID, when it is one of ours. */
static json_t *job_of_pid(struct cmd_ctx *ctx, pid_t pid)
{
	char path[64], env[65536], id[32] = "";
	const char *home = NULL;
	FILE *f;
	size_t n;
	struct err ignored = { 0 };

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	n = fread(env, 1, sizeof(env) - 1, f);
	fclose(f);
	env[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
		if (strncmp(env + i, "TRAINCTL_JOB_ID=", 16) == 0)
			snprintf(id, sizeof(id), "%s", env + i + 16);
		else if (strncmp(env + i, "TRAINCTL_HOME=", 14) == 0)
			home = env + i + 14;
	}
	if (!id[0] || !home || strcmp(home, ctx->paths.home) != 0)
		return NULL;
	return ask_show(ctx, id, &ignored);
}

/* ---- the report ----------------------------------------------------------------- */

static void field(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void field(const char *label, const char *fmt, ...)
{
	va_list ap;

	printf("  %s%-11s%s ", color(BOLD), label, color(RESET));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void print_threads(const struct diag_proc *p)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "%ld:", p->st.num_threads);
	for (int i = 0; i < p->ngroups; i++)
		strbuf_addf(&sb, "%s %d %c%s%s", i ? "," : "", p->groups[i].count, p->groups[i].state,
			    p->groups[i].wchan[0] ? " in " : "", p->groups[i].wchan);
	field("Threads", "%s", sb.buf);
	strbuf_release(&sb);
}

static void print_window(const struct diag_report *r, const struct diag_proc *p)
{
	char label[48], rd[16] = "?", wr[16] = "?", rc[16] = "?", wc[16] = "?", dur[32];

	format_duration(r->window_ms, dur, sizeof(dur));
	snprintf(label, sizeof(label), "Last %s", dur);
	if (p->read_bytes >= 0) {
		format_size(p->read_bytes, rd, sizeof(rd));
		format_size(p->write_bytes, wr, sizeof(wr));
		format_size(p->rchar, rc, sizeof(rc));
		format_size(p->wchar, wc, sizeof(wc));
	}
	field(label, "CPU %.1f%%; read %s, wrote %s (storage %s / %s)", p->cpu_percent, rc, wc, rd, wr);
}

static void print_memory(const struct diag_proc *p)
{
	char rss[16] = "?", swap[16] = "?", lim[16], use[16];
	struct strbuf sb = STRBUF_INIT;

	if (p->status.rss >= 0)
		format_size(p->status.rss, rss, sizeof(rss));
	if (p->status.swap >= 0)
		format_size(p->status.swap, swap, sizeof(swap));
	strbuf_addf(&sb, "RSS %s, swap %s, OOM score %d", rss, swap, p->oom_score);
	if (p->cgroup_mem_limit > 0 && p->cgroup_mem_usage >= 0) {
		format_size(p->cgroup_mem_limit, lim, sizeof(lim));
		format_size(p->cgroup_mem_usage, use, sizeof(use));
		strbuf_addf(&sb, "; cgroup %s of %s", use, lim);
	} else {
		strbuf_addstr(&sb, "; no cgroup limit");
	}
	field("Memory", "%s", sb.buf);
	strbuf_release(&sb);
}

static void print_files(const struct diag_proc *p)
{
	struct strbuf sb = STRBUF_INIT;

	if (p->nfds < 0) {
		field("Files", "unreadable");
		return;
	}
	strbuf_addf(&sb, "%d open", p->nfds);
	if (p->fd_limit > 0)
		strbuf_addf(&sb, " (limit %lld)", (long long)p->fd_limit);
	strbuf_addf(&sb, ": %d socket%s, %d pipe%s", p->nsockets, p->nsockets == 1 ? "" : "s",
		    p->npipes, p->npipes == 1 ? "" : "s");
	for (int i = 0; i < p->nnotable; i++) {
		if (p->fds[i].kind == DIAG_FD_FILE)
			strbuf_addf(&sb, "; writing %s", p->fds[i].target);
		else if (p->fds[i].kind == DIAG_FD_GPU)
			strbuf_addf(&sb, "; GPU %s", p->fds[i].target);
	}
	field("Files", "%s", sb.buf);
	strbuf_release(&sb);
}

static void print_family(const struct diag_proc *p)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "%d", p->nchildren);
	if (p->nzombies) {
		strbuf_addf(&sb, ", %s%d zombie%s%s:", color(RED), p->nzombies, p->nzombies == 1 ? "" : "s",
			    color(RESET));
		for (int i = 0; i < p->nzombies; i++)
			strbuf_addf(&sb, " %d", (int)p->zombies[i]);
	}
	field("Children", "%s", sb.buf);
	strbuf_reset(&sb);
	strbuf_addf(&sb, "%d (%s), %c%s%s, %s SIGCHLD", (int)p->st.ppid, p->parent_comm,
		    p->parent_state ? p->parent_state : '?', p->parent_wchan[0] ? " in " : "",
		    p->parent_wchan, p->parent_sigchld < 0 ? "ignores" : p->parent_sigchld > 0 ? "catches" : "default");
	field("Parent", "%s", sb.buf);
	strbuf_release(&sb);
}

static void print_process(const struct diag_report *r, const struct diag_proc *p)
{
	char when[40], age[32], call[320];
	printf("%sProcess %d (%s)%s\n", color(BOLD), (int)p->st.pid, p->st.comm, color(RESET));
	field("Command", "%s", p->cmdline);
	format_local_time(p->start_ms, when, sizeof(when));
	format_duration(time_now_ms() - p->start_ms, age, sizeof(age));
	field("User", "%s, started %s (%s ago)", p->user, when, age);
	field("State", "%s%s%s", diag_state_meaning(p->st.state), p->wchan[0] ? " in " : "", p->wchan);
	diag_syscall_text(p, call, sizeof(call));
	if (call[0])
		field("Syscall", "%s", call);
	field("Stack", "%s", p->stack_readable ? (p->stack[0] ? p->stack : "-") :
						   "unreadable (/proc/PID/stack is for root only)");
	print_threads(p);
	print_window(r, p);
	print_memory(p);
	print_files(p);
	print_family(p);
	field("Scheduling", "nice %d, %s", p->st.nice, diag_policy_name(p->policy));
	if (p->gpu_mem >= 0) {
		char size[32];

		format_size(p->gpu_mem, size, sizeof(size));
		if (p->gpu_util >= 0)
			field("GPU", "%s of GPU memory, GPU %d%% busy", size, p->gpu_util);
		else
			field("GPU", "%s of GPU memory", size);
	} else {
		field("GPU", "not on a GPU (or no NVIDIA driver)");
	}
}

/* The other processes of a job, one line each. */
static void print_others(const struct diag_report *r)
{
	if (r->nprocs < 2)
		return;
	printf("\n%sOther processes of the job%s\n", color(BOLD), color(RESET));
	for (size_t i = 1; i < r->nprocs; i++) {
		const struct diag_proc *p = &r->procs[i];
		char rss[16] = "-";

		if (p->gone)
			continue;
		if (p->status.rss >= 0)
			format_size(p->status.rss, rss, sizeof(rss));
		printf("  %7d  %c %-18.18s %5.1f%% %6s  %s\n", (int)p->st.pid, p->st.state,
		       p->wchan[0] ? p->wchan : "-", p->cpu_percent, rss, p->cmdline);
	}
}

/* "2m10s ago" for an RFC 3339 field of the job, or NULL when it has none. */
static const char *age_of(const json_t *job, const char *key, char *buf, size_t size)
{
	int64_t t = parse_rfc3339_ms(json_string_value(json_object_get(job, key)) ?: "");
	char dur[32];

	if (t < 0)
		return NULL;
	format_duration(time_now_ms() - t, dur, sizeof(dur));
	snprintf(buf, size, "%s ago", dur);
	return buf;
}

static void print_job(const json_t *job)
{
	struct strbuf sb = STRBUF_INIT;
	const char *ckpt = json_string_value(json_object_get(job, "checkpoint"));
	char buf[64];
	const json_t *events = json_object_get(job, "events");
	size_t n = json_array_size(events);

	format_job_label(job, &sb);
	printf("%sJob %s%s\n", color(BOLD), sb.buf, color(RESET));
	strbuf_reset(&sb);
	format_job_state(job, &sb);
	field("State", "%s", sb.buf);
	strbuf_reset(&sb);
	format_progress(json_object_get(job, "progress"), 20, &sb);
	field("Progress", "%s", sb.buf);
	field("Last output", "%s", age_of(job, "last_output_at", buf, sizeof(buf)) ?: "-");
	field("Checkpoint", "%s", ckpt ? ckpt : "-");
	for (size_t i = n > 3 ? n - 3 : 0; i < n; i++) {
		const json_t *ev = json_array_get(events, i);
		const char *detail = json_string_value(json_object_get(ev, "detail"));
		format_job_time(ev, "time", buf, sizeof(buf));
		field(i == (n > 3 ? n - 3 : 0) ? "Events" : "", "%s  %s%s%s", buf,
		      json_string_value(json_object_get(ev, "kind")), detail ? " " : "", detail ? detail : "");
	}
	strbuf_release(&sb);
	printf("\n");
}

static void print_findings(const struct diag_report *r)
{
	static const char *const colors[] = { CYAN, YELLOW, RED };

	if (r->nfindings == 0) {
		printf("\n%sVerdict: no problem found%s\n", color(GREEN), color(RESET));
		return;
	}
	printf("\n%sVerdict: %zu finding%s, most severe first%s\n", color(BOLD), r->nfindings,
	       r->nfindings == 1 ? "" : "s", color(RESET));
	for (size_t i = 0; i < r->nfindings; i++) {
		const struct diag_finding *f = &r->findings[i];
		char label[16];
		int k;

		snprintf(label, sizeof(label), "%s", diag_severity_name(f->severity));
		for (k = 0; label[k]; k++)
			label[k] = (char)toupper((unsigned char)label[k]);
		printf("  %s%-9s%s %s\n", color(colors[f->severity]), label, color(RESET), f->title);
		printf("  %-9s evidence: %s\n", "", f->evidence);
		printf("  %-9s fix:      %s%s%s\n", "", color(BOLD), f->fix, color(RESET));
	}
}

/* Healthy: the few facts that show it. */
static void print_healthy(const struct diag_report *r)
{
	const struct diag_proc *p = &r->procs[0];
	char wrote[16] = "?";

	if (r->nfindings || r->nprocs == 0)
		return;

	if (p->wchar >= 0)
		format_size(p->wchar, wrote, sizeof(wrote));
	printf("  %s, %.1f%% CPU and %s written in the window", diag_state_meaning(p->st.state),
	       p->cpu_percent, wrote);
	if (r->job && json_is_string(json_object_get(r->job, "last_output_at"))) {
		char buf[64];
		printf(", last output %s", age_of(r->job, "last_output_at", buf, sizeof(buf)));
	}
	printf("\n");
}

static void print_report(const struct diag_report *r)
{
	if (r->job)
		print_job(r->job);
	if (r->nprocs > 0) {
		print_process(r, &r->procs[0]);
		print_others(r);
	}
	print_findings(r);
	print_healthy(r);
}

/* ---- the command ------------------------------------------------------------------ */

static int parse_window(struct cmd_ctx *ctx, int64_t *ms)
{
	const char *v = opt_value(ctx, OPT_WINDOW);

	*ms = 3000;
	if (!v)
		return 0;
	if (parse_duration_ms(v, ms, &ctx->err) < 0)
		return -1;
	if (*ms <= 0 || *ms > WINDOW_MAX_MS)
		return err_usage(&ctx->err, "--window must be longer than 0 and at most 10m, not '%s'", v);
	return 0;
}

/* Decide what the operand names and fill r->job and the pids to watch. */
static int resolve(struct cmd_ctx *ctx, struct diag_report *r, pid_t **pids, size_t *n)
{
	const char *arg = ctx->argv[0];
	struct err err = { 0 };
	int numeric = is_number(arg);

	if (opt_count(ctx, OPT_PID) && !numeric)
		return err_usage(&ctx->err, "--pid needs a process id (a number), not '%s'", arg);
	/* A job with that id wins over a pid, when a running daemon knows one. */
	if (!opt_count(ctx, OPT_PID))
		r->job = ask_show(ctx, arg, &err);
	if (!r->job && (!numeric || opt_count(ctx, OPT_JOB))) {
		return err_set(&ctx->err, "cannot diagnose job '%s': %s", arg, err.msg);
	}
	if (r->job) {
		snprintf(r->job_ref, sizeof(r->job_ref), "%lld",
			 (long long)json_integer_value(json_object_get(r->job, "id")));
		*n = job_pids(r->job, pids);
		return 0;
	}
	*pids = xmalloc(sizeof(**pids));
	(*pids)[0] = (pid_t)atoi(arg);
	*n = 1;
	if ((*pids)[0] <= 0)
		return err_usage(&ctx->err, "'%s' is not a process id", arg);
	r->job = job_of_pid(ctx, (*pids)[0]);
	if (r->job)
		snprintf(r->job_ref, sizeof(r->job_ref), "%lld",
			 (long long)json_integer_value(json_object_get(r->job, "id")));
	return 0;
}

/* A device's utilization by index, -1 when unknown. */
static int device_util(const struct gpu_snapshot *snap, unsigned index)
{
	for (size_t i = 0; i < snap->ngpus; i++) {
		if (snap->gpus[i].index == index)
			return snap->gpus[i].util_gpu;
	}
	return -1;
}

/*
 * Each process's GPU memory and utilization from NVML, when there is a
 * driver: its own SM utilization where NVML reports it, else that of the
 * GPU it is on (the busiest, if several).
 */
static void add_gpu_facts(struct diag_report *r)
{
	struct nvml *nvml = nvml_open(NULL);
	struct gpu_snapshot snap;

	if (!nvml)
		return;
	if (nvml_snapshot(nvml, &snap, NULL) == 0) {
		for (size_t i = 0; i < r->nprocs; i++) {
			struct diag_proc *p = &r->procs[i];

			for (size_t k = 0; k < snap.nprocs; k++) {
				const struct gpu_process *g = &snap.procs[k];
				int util = g->sm_util >= 0 ? g->sm_util : device_util(&snap, g->gpu);

				if (g->pid != p->st.pid)
					continue;
				p->gpu_mem = (p->gpu_mem < 0 ? 0 : p->gpu_mem) + (g->used_mem > 0 ? g->used_mem : 0);
				if (util > p->gpu_util)
					p->gpu_util = util;
			}
		}
		gpu_snapshot_release(&snap);
	}
	nvml_close(nvml);
}

static int diagnose_main(struct cmd_ctx *ctx)
{
	struct diag_report r = { 0 };
	pid_t *pids = NULL;
	size_t n = 0;
	int64_t window;
	int ret = -1;
	const char *no_color = getenv("NO_COLOR");

	if (parse_window(ctx, &window) < 0)
		return -1;
	if (opt_count(ctx, OPT_PID) && opt_count(ctx, OPT_JOB))
		return err_usage(&ctx->err, "diagnose: give --pid or --job, not both");
	if (resolve(ctx, &r, &pids, &n) < 0)
		goto out;
	if (n > 0 && diag_gather(&r, pids, n, window, &ctx->err) < 0)
		goto out;
	add_gpu_facts(&r);
	diag_judge(&r);
	use_color = isatty(STDOUT_FILENO) && !opt_count(ctx, OPT_NO_COLOR) && !(no_color && *no_color);
	if (opt_count(ctx, OPT_JSON)) {
		json_t *out = diag_report_json(&r);
		json_object_del(json_object_get(out, "job"), "spec");
		print_json(out);
		json_decref(out);
	} else {
		print_report(&r);
	}
	ret = 0;
out:
	free(pids);
	diag_report_release(&r);
	return ret;
}

const struct cmd_entry cmd_diagnose = {
	.name = "diagnose",
	.brief = "why is it stuck? what a process or job is doing, and what to do",
	.synopsis = "PID|JOB",
	.summary = "Watch a process (or every process of a job) for --window, then report what it\n"
		   "is doing: state, system call and the file it is on, kernel stack, threads, CPU\n"
		   "and I/O in the window, memory, open files, children and parent, scheduling;\n"
		   "and a verdict: findings ranked by severity, each with its evidence and the\n"
		   "command that fixes it. A number is a job id when the running daemon knows such\n"
		   "a job, else a process id (--pid and --job decide). Needs no daemon for a PID.",
	.opts = diagnose_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = diagnose_main,
};
