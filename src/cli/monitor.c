/*
 * trainctl monitor and trainctl analyze: resource use of any processes, no
 * daemon needed. monitor samples processes every interval and writes one CSV
 * row per process per tick; analyze reads such a CSV back and prints the
 * statistics and hints of lib/stats.c per process and for the whole.
 *
 * A tick is one pass over /proc: every process's stat is read (the parent
 * links are needed to find the trees below --pid and --job), then cmdline
 * and io only for the processes selected (cmdline for all of them with
 * --match). A process is known across ticks by (pid, start time), so a
 * reused pid never inherits another process's CPU time; and a process once
 * in a tree stays in it when its parent exits and it is re-parented away, as
 * data-loader workers are when the trainer dies. CPU use is the change of
 * utime+stime between two ticks, so a process's first row has none.
 *
 * The loop is lib/loop: a timerfd for the ticks and a signalfd for SIGINT
 * and SIGTERM, so a signal ends the run between two ticks, never inside one:
 * the last row written is a whole row, flushed, and the exit status is 0.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
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
#include "lib/stats.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define MONITOR_HEADER                                                                    \
	"timestamp,pid,ppid,command,state,cpu_percent,rss_bytes,threads,read_bytes,"       \
	"write_bytes,gpu_mem_bytes,gpu_util"
#define MONITOR_FIELDS 12
#define MIN_INTERVAL_MS 10

enum { OPT_ALL = 256, OPT_JSON };

/* ---- monitor: the process table of one tick ---- */

struct proc_entry {
	struct proc_stat st;
	char *command; /* cmdline with NULs as spaces, or [comm]; NULL until read */
	int in_tree;   /* below a --pid or --job root */
	int selected;
};

struct snapshot {
	struct proc_entry *items; /* sorted by pid */
	size_t len, alloc;
};

/* What a selected process leaves for the next tick. */
struct tracked {
	pid_t pid;
	uint64_t start_time;
	uint64_t cpu_ticks; /* utime + stime */
	int64_t mono_ms;
	int in_tree;
};

struct root {
	pid_t pid;
	uint64_t start_time;
};

struct monitor {
	struct root *roots;
	size_t nroots;
	regex_t regex;
	int have_regex, all;
	int64_t interval_ms, duration_ms;
	const char *out_path;
	FILE *out;
	struct tracked *prev; /* sorted by pid */
	size_t nprev;
	long ticks, hz, page_size;
	struct loop *loop;
	int failed;
	struct err *err;
	struct nvml *nvml;        /* NULL without an NVIDIA driver: the GPU columns stay empty */
	struct gpu_snapshot gpus; /* this tick's */
};

static const struct opt_spec monitor_opts[] = {
	{ 'p', "pid", OPT_VALUE, "PID", "a process and its descendants (repeatable)" },
	{ 'j', "job", OPT_VALUE, "JOB", "a job's process tree (repeatable; asks the daemon)" },
	{ 'm', "match", OPT_VALUE, "REGEX", "processes whose command line matches REGEX (an ERE)" },
	{ OPT_ALL, "all", OPT_FLAG, NULL, "every process" },
	{ 'i', "interval", OPT_VALUE, "DUR", "time between ticks (default 1s)" },
	{ 'd', "duration", OPT_VALUE, "DUR", "stop after DUR (default: at SIGINT or SIGTERM)" },
	{ 'o', "output", OPT_VALUE, "FILE", "write the CSV to FILE (default: standard output)" },
	{ 0 },
};

static int compare_entries(const void *a, const void *b)
{
	const struct proc_entry *x = a, *y = b;

	return (x->st.pid > y->st.pid) - (x->st.pid < y->st.pid);
}

static void snapshot_push(struct snapshot *s, const struct proc_stat *st)
{
	if (s->len == s->alloc) {
		s->alloc = s->alloc ? s->alloc * 2 : 256;
		s->items = xreallocarray(s->items, s->alloc, sizeof(*s->items));
	}
	memset(&s->items[s->len], 0, sizeof(s->items[0]));
	s->items[s->len++].st = *st;
}

static void snapshot_release(struct snapshot *s)
{
	for (size_t i = 0; i < s->len; i++)
		free(s->items[i].command);
	free(s->items);
	memset(s, 0, sizeof(*s));
}

/* The one pass over /proc: every live process's stat, sorted by pid. */
static int snapshot_read(struct snapshot *s, struct err *err)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	struct proc_stat st;

	if (!dir)
		return err_errno(err, "monitor: cannot read /proc");
	while ((de = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		/* A process may exit between readdir and here: then it is simply absent. */
		if (proc_read_stat(atoi(de->d_name), &st) < 0 || st.state == 'Z' || st.state == 'X')
			continue;
		snapshot_push(s, &st);
	}
	closedir(dir);
	if (s->len > 1)
		qsort(s->items, s->len, sizeof(*s->items), compare_entries);
	return 0;
}

static struct proc_entry *snapshot_find(const struct snapshot *s, pid_t pid)
{
	struct proc_entry key = { .st.pid = pid };

	return bsearch(&key, s->items, s->len, sizeof(*s->items), compare_entries);
}

/* Read a whole /proc/PID/<name> into sb; -1 when it cannot be opened or read. */
static int read_proc_file(pid_t pid, const char *name, struct strbuf *sb)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(sb, buf, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* The command line with NULs (and control characters) as spaces, or "[comm]". */
static const char *entry_command(struct proc_entry *e)
{
	struct strbuf sb = STRBUF_INIT;

	if (e->command)
		return e->command;
	read_proc_file(e->st.pid, "cmdline", &sb);
	while (sb.len > 0 && sb.buf[sb.len - 1] == '\0')
		sb.len--;
	for (size_t i = 0; i < sb.len; i++) {
		if ((unsigned char)sb.buf[i] < 0x20 || sb.buf[i] == 0x7f)
			sb.buf[i] = ' ';
	}
	if (sb.len == 0)
		strbuf_addf(&sb, "[%s]", e->st.comm);
	else
		sb.buf[sb.len] = '\0';
	e->command = strbuf_detach(&sb);
	return e->command;
}

/* read_bytes and write_bytes of /proc/PID/io; -1 each when unreadable. */
static void read_io(pid_t pid, int64_t *read_bytes, int64_t *write_bytes)
{
	struct strbuf sb = STRBUF_INIT;
	const char *r, *w;

	*read_bytes = *write_bytes = -1;
	if (read_proc_file(pid, "io", &sb) == 0 && sb.len > 0) {
		r = strstr(sb.buf, "\nread_bytes: ");
		w = strstr(sb.buf, "\nwrite_bytes: ");
		if (r)
			*read_bytes = strtoll(r + 13, NULL, 10);
		if (w)
			*write_bytes = strtoll(w + 14, NULL, 10);
	}
	strbuf_release(&sb);
}

/* What the previous tick knew of this process (same pid and start time), or NULL. */
static const struct tracked *monitor_prev(const struct monitor *m, const struct proc_stat *st)
{
	size_t lo = 0, hi = m->nprev;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->prev[mid].pid < st->pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->nprev && m->prev[lo].pid == st->pid && m->prev[lo].start_time == st->start_time)
		return &m->prev[lo];
	return NULL;
}

static int is_root(const struct monitor *m, const struct proc_stat *st)
{
	for (size_t i = 0; i < m->nroots; i++) {
		if (m->roots[i].pid == st->pid && m->roots[i].start_time == st->start_time)
			return 1;
	}
	return 0;
}

/*
 * Mark the trees: the roots, the processes that were in a tree last tick
 * (still there after a re-parenting), and everything below them. Repeated
 * passes until nothing changes: as many as the trees are deep.
 */
static void monitor_mark_trees(const struct monitor *m, struct snapshot *s)
{
	int changed = 1;

	for (size_t i = 0; i < s->len; i++) {
		const struct tracked *t = monitor_prev(m, &s->items[i].st);
		s->items[i].in_tree = is_root(m, &s->items[i].st) || (t && t->in_tree);
	}
	while (changed) {
		changed = 0;
		for (size_t i = 0; i < s->len; i++) {
			struct proc_entry *e = &s->items[i], *parent;
			if (e->in_tree || e->st.ppid == e->st.pid)
				continue;
			parent = snapshot_find(s, e->st.ppid);
			if (parent && parent->in_tree)
				changed = e->in_tree = 1;
		}
	}
}

/* Select the processes to write: the trees, --all, and --match (never ourselves). */
static size_t monitor_select(const struct monitor *m, struct snapshot *s)
{
	pid_t self = getpid();
	size_t count = 0;

	monitor_mark_trees(m, s);
	for (size_t i = 0; i < s->len; i++) {
		struct proc_entry *e = &s->items[i];
		e->selected = e->in_tree || m->all ||
			      (m->have_regex && e->st.pid != self &&
			       regexec(&m->regex, entry_command(e), 0, NULL, 0) == 0);
		count += e->selected;
	}
	return count;
}

/* Add the command as one CSV field: always quoted, inner quotes doubled. */
static void csv_add_quoted(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '"');
	for (; *s; s++) {
		if (*s == '"')
			strbuf_addch(sb, '"');
		strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, '"');
}

static void csv_add_counter(struct strbuf *sb, int64_t v)
{
	if (v >= 0)
		strbuf_addf(sb, ",%lld", (long long)v);
	else
		strbuf_addch(sb, ',');
}

/*
 * ",gpu_mem,gpu_util" of a process from this tick's GPU snapshot (summed over
 * the GPUs it is on); empty when it uses no GPU or there is no driver.
 */
static void monitor_add_gpu(const struct monitor *m, pid_t pid, struct strbuf *sb)
{
	int64_t mem = -1;
	double util = -1;

	for (size_t i = 0; i < m->gpus.nprocs; i++) {
		const struct gpu_process *p = &m->gpus.procs[i];
		if (p->pid != pid)
			continue;
		mem = (mem < 0 ? 0 : mem) + (p->used_mem > 0 ? p->used_mem : 0);
		if (p->sm_util >= 0)
			util = (util < 0 ? 0 : util) + p->sm_util;
	}
	csv_add_counter(sb, mem);
	if (util >= 0)
		strbuf_addf(sb, ",%.1f", util);
	else
		strbuf_addch(sb, ',');
}

/* One row: timestamp,pid,ppid,command,state,cpu,rss,threads,read,write,gpu_mem,gpu_util. */
static void monitor_add_row(struct monitor *m, struct proc_entry *e, const char *stamp,
			    int64_t mono_ms, struct strbuf *sb)
{
	const struct tracked *t = monitor_prev(m, &e->st);
	uint64_t ticks = e->st.utime + e->st.stime;
	uint64_t rss = e->st.rss_pages * (uint64_t)m->page_size;
	int64_t rd, wr;

	strbuf_addf(sb, "%s,%d,%d,", stamp, (int)e->st.pid, (int)e->st.ppid);
	csv_add_quoted(sb, entry_command(e));
	strbuf_addf(sb, ",%c,", e->st.state);
	if (t && mono_ms > t->mono_ms && ticks >= t->cpu_ticks)
		strbuf_addf(sb, "%.1f",
			    (double)(ticks - t->cpu_ticks) * 100000.0 / (double)m->hz /
				    (double)(mono_ms - t->mono_ms));
	strbuf_addf(sb, ",%llu,%ld", (unsigned long long)rss, e->st.num_threads);
	read_io(e->st.pid, &rd, &wr);
	csv_add_counter(sb, rd);
	csv_add_counter(sb, wr);
	monitor_add_gpu(m, e->st.pid, sb);
	strbuf_addch(sb, '\n');
}

/* Keep what the next tick needs of the selected processes. */
static void monitor_remember(struct monitor *m, const struct snapshot *s, int64_t mono_ms)
{
	size_t n = 0;

	m->prev = xreallocarray(m->prev, s->len ? s->len : 1, sizeof(*m->prev));
	for (size_t i = 0; i < s->len; i++) {
		const struct proc_entry *e = &s->items[i];
		if (!e->selected)
			continue;
		m->prev[n++] = (struct tracked){ e->st.pid, e->st.start_time,
						 e->st.utime + e->st.stime, mono_ms, e->in_tree };
	}
	m->nprev = n;
}

/* Flush the tick; a write error ends the run (quietly for a closed pipe, as `| head`). */
static int monitor_flush(struct monitor *m)
{
	if (fflush(m->out) == 0 && !ferror(m->out))
		return 0;
	if (errno != EPIPE) {
		err_errno(m->err, "monitor: cannot write %s",
			  m->out_path ? m->out_path : "the output");
		m->failed = 1;
	}
	return -1;
}

/* Is the run over after this tick? --duration reached, or every tree gone. */
static int monitor_done(const struct monitor *m, size_t selected)
{
	if (m->duration_ms > 0 && m->ticks * m->interval_ms >= m->duration_ms)
		return 1;
	return selected == 0 && !m->have_regex && !m->all;
}

static void monitor_tick(struct monitor *m)
{
	struct snapshot s = { 0 };
	struct strbuf rows = STRBUF_INIT;
	int64_t mono_ms = time_monotonic_ms();
	char stamp[64];
	size_t selected;

	format_rfc3339(time_now_ms(), stamp, sizeof(stamp));
	if (snapshot_read(&s, m->err) < 0) {
		m->failed = 1;
		loop_stop(m->loop);
		return;
	}
	selected = monitor_select(m, &s);
	gpu_snapshot_release(&m->gpus);
	if (m->nvml && nvml_snapshot(m->nvml, &m->gpus, NULL) < 0)
		memset(&m->gpus, 0, sizeof(m->gpus));
	for (size_t i = 0; i < s.len; i++) {
		if (s.items[i].selected)
			monitor_add_row(m, &s.items[i], stamp, mono_ms, &rows);
	}
	fputs(strbuf_str(&rows), m->out);
	monitor_remember(m, &s, mono_ms);
	m->ticks++;
	if (monitor_flush(m) < 0 || monitor_done(m, selected))
		loop_stop(m->loop);
	strbuf_release(&rows);
	snapshot_release(&s);
}

static void monitor_on_timer(void *data, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	monitor_tick(data);
}

/* SIGINT or SIGTERM: the tick in progress (if any) has finished; stop. */
static void monitor_on_signal(void *data, int sig)
{
	struct monitor *m = data;

	(void)sig;
	loop_stop(m->loop);
}

/* ---- monitor: options ---- */

static int add_root(struct monitor *m, pid_t pid, const char *what, struct err *err)
{
	struct proc_stat st;

	if (proc_read_stat(pid, &st) < 0 || st.state == 'Z' || st.state == 'X')
		return err_set(err, "monitor: %s: no such process", what);
	m->roots = xreallocarray(m->roots, m->nroots + 1, sizeof(*m->roots));
	m->roots[m->nroots++] = (struct root){ pid, st.start_time };
	return 0;
}

static int add_pid_roots(struct cmd_ctx *ctx, struct monitor *m)
{
	char *const *pids = opt_values(ctx, 'p');

	for (size_t i = 0; pids[i]; i++) {
		int pid;
		if (parse_uint(pids[i], &pid) < 0 || pid <= 0)
			return err_usage(&ctx->err, "monitor: --pid '%s' is not a process id",
					 pids[i]);
	}
	for (size_t i = 0; pids[i]; i++) {
		char what[64];
		int pid;

		parse_uint(pids[i], &pid);
		snprintf(what, sizeof(what), "pid %d", pid);
		if (add_root(m, pid, what, &ctx->err) < 0)
			return -1;
	}
	return 0;
}

/* The job's main pid, from the daemon's "show". */
static int add_job_root(struct cmd_ctx *ctx, struct monitor *m, const char *job)
{
	json_t *req = proto_request("show"), *reply, *j;
	const char *state;
	char what[128];
	int ret;

	json_object_set_new(req, "jobs", json_pack("[s]", job));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	j = json_object_get(reply, "job");
	state = json_string_value(json_object_get(j, "state"));
	if (!json_is_integer(json_object_get(j, "pid"))) {
		ret = err_set(&ctx->err, "monitor: job %s is not running (%s)", job,
			      state ? state : "no process");
	} else {
		snprintf(what, sizeof(what), "job %s (pid %lld)", job,
			 (long long)json_integer_value(json_object_get(j, "pid")));
		ret = add_root(m, (pid_t)json_integer_value(json_object_get(j, "pid")), what,
			       &ctx->err);
	}
	json_decref(reply);
	return ret;
}

/* A copy of err's message, to put inside a new one; static storage. */
static const char *err_text(const struct err *err)
{
	static char buf[sizeof(err->msg)];

	snprintf(buf, sizeof(buf), "%s", err->msg);
	return buf;
}

static int parse_times(struct cmd_ctx *ctx, struct monitor *m)
{
	const char *interval = opt_value(ctx, 'i'), *duration = opt_value(ctx, 'd');

	m->interval_ms = 1000;
	if (interval && parse_duration_ms(interval, &m->interval_ms, &ctx->err) < 0)
		return err_usage(&ctx->err, "monitor: --interval: %s", err_text(&ctx->err));
	if (m->interval_ms < MIN_INTERVAL_MS)
		return err_usage(&ctx->err, "monitor: --interval %s is too short (at least 10ms)",
				 interval);
	if (duration && parse_duration_ms(duration, &m->duration_ms, &ctx->err) < 0)
		return err_usage(&ctx->err, "monitor: --duration: %s", err_text(&ctx->err));
	if (duration && m->duration_ms <= 0)
		return err_usage(&ctx->err, "monitor: --duration must be more than 0");
	return 0;
}

static int compile_match(struct cmd_ctx *ctx, struct monitor *m)
{
	const char *re = opt_value(ctx, 'm');
	char msg[256];
	int rc;

	if (!re)
		return 0;
	rc = regcomp(&m->regex, re, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &m->regex, msg, sizeof(msg));
		return err_usage(&ctx->err, "monitor: --match '%s': %s", re, msg);
	}
	m->have_regex = 1;
	return 0;
}

/* Check every option (usage errors first), then find the roots, then open the output. */
static int monitor_setup(struct cmd_ctx *ctx, struct monitor *m)
{
	char *const *jobs = opt_values(ctx, 'j');

	m->err = &ctx->err;
	m->all = opt_count(ctx, OPT_ALL) > 0;
	if (!opt_count(ctx, 'p') && !jobs[0] && !opt_value(ctx, 'm') && !m->all)
		return err_usage(&ctx->err, "monitor: give --pid, --job, --match or --all "
					    "(see 'trainctl monitor --help')");
	if (parse_times(ctx, m) < 0 || compile_match(ctx, m) < 0 || add_pid_roots(ctx, m) < 0)
		return -1;
	for (size_t i = 0; jobs[i]; i++) {
		if (add_job_root(ctx, m, jobs[i]) < 0)
			return -1;
	}
	m->out_path = opt_value(ctx, 'o');
	m->out = m->out_path ? fopen(m->out_path, "we") : stdout;
	if (!m->out)
		return err_errno(&ctx->err, "monitor: cannot create %s", m->out_path);
	m->hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	m->page_size = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
	return 0;
}

static void monitor_release(struct monitor *m)
{
	gpu_snapshot_release(&m->gpus);
	nvml_close(m->nvml);
	if (m->out && m->out != stdout)
		fclose(m->out);
	if (m->have_regex)
		regfree(&m->regex);
	loop_free(m->loop);
	free(m->roots);
	free(m->prev);
}

static int monitor_main(struct cmd_ctx *ctx)
{
	static const int sigs[] = { SIGINT, SIGTERM };
	struct monitor m = { 0 };
	int ret = -1;

	if (monitor_setup(ctx, &m) < 0)
		goto out;
	m.nvml = nvml_open(NULL); /* GPU columns when there is a driver; none is no error */
	m.loop = loop_new();
	/* Signals first: one that arrives during the first tick waits for its end. */
	if (loop_add_signals(m.loop, sigs, (int)ARRAY_SIZE(sigs), monitor_on_signal, &m) < 0) {
		err_errno(&ctx->err, "monitor: cannot watch signals");
		goto out;
	}
	fprintf(m.out, "%s\n", MONITOR_HEADER);
	if (monitor_flush(&m) == 0) {
		loop_add_interval(m.loop, m.interval_ms, monitor_on_timer, &m);
		monitor_tick(&m);
		loop_run(m.loop);
	}
	ret = m.failed ? -1 : 0;
out:
	monitor_release(&m);
	return ret;
}

const struct cmd_entry cmd_monitor = {
	.name = "monitor",
	.brief = "sample processes' CPU, memory and I/O to a CSV",
	.synopsis = "",
	.summary = "Sample processes every --interval and write one CSV row per process per tick:\n"
		   "  " MONITOR_HEADER "\n"
		   "Select the processes with --pid (a process and its descendants), --job (a\n"
		   "job's tree), --match (command lines matching a POSIX extended regex) or\n"
		   "--all; processes that start or exit during the run come and go. Runs until\n"
		   "--duration, SIGINT or SIGTERM, or until every --pid/--job tree has exited.",
	.details = "cpu_percent is of one CPU (250 = two and a half cores), from the CPU time\n"
		   "used since the previous tick, so a process's first row has none; read_bytes\n"
		   "and write_bytes are cumulative (empty where /proc/PID/io is not readable).\n"
		   "The command is the command line (or [comm] when it is empty), always quoted;\n"
		   "--match is tried on it. Feed the CSV to 'trainctl analyze'.",
	.opts = monitor_opts,
	.max_args = 0,
	.fn = monitor_main,
};

/* ---- analyze: reading the CSV ---- */

struct mon_row {
	int64_t time_ms;
	pid_t pid;
	size_t proc;   /* index into the processes, once grouped */
	char *command;
	struct sample s; /* cpu_percent -1 on a process's first tick */
};

struct mon_proc {
	pid_t pid;
	const char *command; /* the latest, as a process may exec */
	struct sample *samples;
	size_t n;
};

struct mon_data {
	const char *path;
	struct mon_row *rows;
	size_t nrows, alloc;
	struct mon_proc *procs;
	size_t nprocs;
};

/*
 * Split one CSV line in place: fields unquoted ("" read as "). Returns the
 * number of fields (more than max are counted, not stored), or -1 for text
 * after a closing quote. A quote still open at the end of the line ends
 * there: the line was cut, and its field count says so.
 */
static int csv_split(char *line, char **fields, int max)
{
	char *r = line, *w = line;
	int n = 0;

	for (;;) {
		char *start = w;
		if (*r == '"') {
			for (r++; *r && (*r != '"' || r[1] == '"'); r++) {
				*w++ = *r;
				r += *r == '"';
			}
			r += *r == '"';
			if (*r != ',' && *r != '\0')
				return -1;
		} else {
			while (*r && *r != ',')
				*w++ = *r++;
		}
		if (n < max)
			fields[n] = start;
		n++;
		if (*r == '\0')
			break;
		r++;
		*w++ = '\0';
	}
	*w = '\0';
	return n;
}

/* A non-negative integer field; empty reads as -1 when allowed. */
static int field_int(const char *text, int allow_empty, int64_t *out)
{
	char *end;

	if (!*text && allow_empty) {
		*out = -1;
		return 0;
	}
	errno = 0;
	*out = strtoll(text, &end, 10);
	return *text && !*end && !errno && *out >= 0 && isdigit((unsigned char)*text) ? 0 : -1;
}

static int field_real(const char *text, double *out)
{
	char *end;

	if (!*text) {
		*out = -1;
		return 0;
	}
	errno = 0;
	*out = strtod(text, &end);
	return !*end && !errno && *out >= 0 && isdigit((unsigned char)*text) ? 0 : -1;
}

/* Parse fields 5..11 (cpu_percent to gpu_util) into s; returns the bad field's index, or 0. */
static int row_numbers(char **f, struct sample *s)
{
	int64_t threads;

	if (field_real(f[5], &s->cpu_percent) < 0)
		return 5;
	if (field_int(f[6], 0, &s->rss_bytes) < 0)
		return 6;
	if (field_int(f[7], 0, &threads) < 0 || threads > 1000000000)
		return 7;
	s->threads = (int)threads;
	s->procs = 1;
	s->pss_bytes = -1; /* monitor does not record PSS */
	s->cpu_seconds = -1;
	if (field_int(f[8], 1, &s->read_bytes) < 0)
		return 8;
	if (field_int(f[9], 1, &s->write_bytes) < 0)
		return 9;
	if (field_int(f[10], 1, &s->gpu_mem_bytes) < 0)
		return 10;
	return field_real(f[11], &s->gpu_util) < 0 ? 11 : 0;
}

/* Parse one data line into a row; errors name the file and line. */
static int row_parse(const struct mon_data *d, long lineno, char *line, struct mon_row *row,
		     struct err *err)
{
	char *f[MONITOR_FIELDS];
	static const char *const names[MONITOR_FIELDS] = {
		"timestamp", "pid", "ppid", "command", "state", "cpu_percent", "rss_bytes",
		"threads", "read_bytes", "write_bytes", "gpu_mem_bytes", "gpu_util",
	};
	int n = csv_split(line, f, MONITOR_FIELDS);
	int64_t pid;
	int bad;

	if (n < 0)
		return err_set(err, "%s:%ld: text after a closing quote", d->path, lineno);
	if (n != MONITOR_FIELDS)
		return err_set(err, "%s:%ld: expected %d fields, got %d", d->path, lineno,
			       MONITOR_FIELDS, n);
	row->time_ms = parse_rfc3339_ms(f[0]);
	if (row->time_ms < 0)
		return err_set(err, "%s:%ld: bad timestamp '%s'", d->path, lineno, f[0]);
	if (field_int(f[1], 0, &pid) < 0 || pid == 0 || pid > 0x7fffffff)
		return err_set(err, "%s:%ld: bad pid '%s'", d->path, lineno, f[1]);
	bad = row_numbers(f, &row->s);
	if (bad)
		return err_set(err, "%s:%ld: bad %s '%s'", d->path, lineno, names[bad], f[bad]);
	row->pid = (pid_t)pid;
	row->s.time_ms = row->time_ms;
	row->command = xstrdup(f[3]);
	return 0;
}

static void strip_line_end(char *line)
{
	size_t len = strlen(line);

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
}

static int data_add_line(struct mon_data *d, long lineno, char *line, struct err *err)
{
	struct mon_row row = { 0 };

	if (row_parse(d, lineno, line, &row, err) < 0)
		return -1;
	if (d->nrows == d->alloc) {
		d->alloc = d->alloc ? d->alloc * 2 : 256;
		d->rows = xreallocarray(d->rows, d->alloc, sizeof(*d->rows));
	}
	d->rows[d->nrows++] = row;
	return 0;
}

/* Read the header and every row of the file. */
static int data_read(struct mon_data *d, FILE *f, struct err *err)
{
	char *line = NULL;
	size_t size = 0;
	long lineno = 1;
	int ret = 0;

	if (getline(&line, &size, f) < 0) {
		ret = err_set(err, "%s: empty file (expected a CSV written by trainctl monitor)",
			      d->path);
		goto out;
	}
	strip_line_end(line);
	if (strcmp(line, MONITOR_HEADER) != 0) {
		ret = err_set(err, "%s:1: expected the header timestamp,pid,ppid,... written by "
				   "trainctl monitor",
			      d->path);
		goto out;
	}
	while (ret == 0 && getline(&line, &size, f) >= 0) {
		lineno++;
		strip_line_end(line);
		if (*line)
			ret = data_add_line(d, lineno, line, err);
	}
	if (ret == 0 && ferror(f))
		ret = err_errno(err, "%s", d->path);
	if (ret == 0 && d->nrows == 0)
		ret = err_set(err, "%s: no samples (only the header)", d->path);
out:
	free(line);
	return ret;
}

static void data_release(struct mon_data *d)
{
	for (size_t i = 0; i < d->nrows; i++)
		free(d->rows[i].command);
	for (size_t i = 0; i < d->nprocs; i++)
		free(d->procs[i].samples);
	free(d->rows);
	free(d->procs);
}

/* ---- analyze: the series ---- */

static int compare_pid_time(const void *a, const void *b)
{
	const struct mon_row *x = a, *y = b;

	if (x->pid != y->pid)
		return (x->pid > y->pid) - (x->pid < y->pid);
	return (x->time_ms > y->time_ms) - (x->time_ms < y->time_ms);
}

static int compare_time_pid(const void *a, const void *b)
{
	const struct mon_row *x = a, *y = b;

	if (x->time_ms != y->time_ms)
		return (x->time_ms > y->time_ms) - (x->time_ms < y->time_ms);
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The series of one process from its rows [from, to). */
static void proc_init(struct mon_proc *p, struct mon_row *rows, size_t from, size_t to,
		      size_t index)
{
	p->pid = rows[from].pid;
	p->command = rows[to - 1].command;
	p->samples = xreallocarray(NULL, to - from, sizeof(*p->samples));
	for (size_t i = from; i < to; i++) {
		rows[i].proc = index;
		p->samples[p->n++] = rows[i].s;
	}
}

/*
 * Group the rows by pid into one series per process (CPU use unknown on its
 * first tick, which stats leave out of the CPU figures only).
 */
static void data_group(struct mon_data *d)
{
	size_t from = 0;

	if (d->nrows > 1)
		qsort(d->rows, d->nrows, sizeof(*d->rows), compare_pid_time);
	d->procs = xcalloc(d->nrows, sizeof(*d->procs));
	while (from < d->nrows) {
		size_t to = from;
		while (to < d->nrows && d->rows[to].pid == d->rows[from].pid)
			to++;
		proc_init(&d->procs[d->nprocs], d->rows, from, to, d->nprocs);
		d->nprocs++;
		from = to;
	}
}

/* A process's first and latest known values of the cumulative counters (-1: none yet). */
struct counters {
	int64_t first_read, last_read, first_write, last_write;
};

static void counter_update(int64_t *first, int64_t *last, int64_t v)
{
	if (v < 0)
		return;
	if (*first < 0)
		*first = v;
	*last = v;
}

/* What every process has read and written so far, the exited ones included; -1 unknown. */
static void counters_sum(const struct counters *c, size_t n, struct sample *s)
{
	s->read_bytes = s->write_bytes = -1;
	for (size_t i = 0; i < n; i++) {
		if (c[i].first_read >= 0)
			s->read_bytes = (s->read_bytes < 0 ? 0 : s->read_bytes) + c[i].last_read -
					c[i].first_read;
		if (c[i].first_write >= 0)
			s->write_bytes = (s->write_bytes < 0 ? 0 : s->write_bytes) +
					 c[i].last_write - c[i].first_write;
	}
}

static void add_known(double *sum, double v)
{
	if (v >= 0)
		*sum = (*sum < 0 ? 0 : *sum) + v;
}

/* Sum the rows [from, to) of one timestamp into one sample. */
static void overall_sample(const struct mon_data *d, size_t from, size_t to, struct counters *c,
			   struct sample *s)
{
	double cpu = -1, gpu = -1, gpu_mem = -1;

	*s = (struct sample){ .time_ms = d->rows[from].time_ms, .pss_bytes = -1, .cpu_seconds = -1 };
	for (size_t i = from; i < to; i++) {
		const struct mon_row *r = &d->rows[i];
		struct counters *pc = &c[r->proc];

		add_known(&cpu, r->s.cpu_percent);
		add_known(&gpu, r->s.gpu_util);
		add_known(&gpu_mem, (double)r->s.gpu_mem_bytes);
		s->rss_bytes += r->s.rss_bytes;
		s->threads += r->s.threads;
		s->procs++;
		counter_update(&pc->first_read, &pc->last_read, r->s.read_bytes);
		counter_update(&pc->first_write, &pc->last_write, r->s.write_bytes);
	}
	s->cpu_percent = cpu;
	s->gpu_util = gpu;
	s->gpu_mem_bytes = gpu_mem < 0 ? -1 : (int64_t)gpu_mem;
	counters_sum(c, d->nprocs, s);
}

/*
 * The whole as one series: per timestamp, the sum over the processes. The
 * I/O counters are summed as what each process did since it was first seen,
 * kept after it exits, so that an exiting process does not make the total
 * fall. Returns the samples (caller frees) and their number in *n.
 */
static struct sample *data_overall(struct mon_data *d, size_t *n)
{
	struct sample *out = xcalloc(d->nrows, sizeof(*out));
	struct counters *c = xcalloc(d->nprocs, sizeof(*c));
	size_t from = 0;

	for (size_t i = 0; i < d->nprocs; i++)
		c[i] = (struct counters){ -1, -1, -1, -1 };
	if (d->nrows > 1)
		qsort(d->rows, d->nrows, sizeof(*d->rows), compare_time_pid);
	*n = 0;
	while (from < d->nrows) {
		size_t to = from;
		while (to < d->nrows && d->rows[to].time_ms == d->rows[from].time_ms)
			to++;
		overall_sample(d, from, to, c, &out[(*n)++]);
		from = to;
	}
	free(c);
	return out;
}

/* ---- analyze: printing ---- */

static const struct opt_spec analyze_opts[] = {
	{ OPT_JSON, "json", OPT_FLAG, NULL, "print the statistics and hints as JSON" },
	{ 0 },
};

/* A series' summary and hints, for either printing. */
struct report {
	struct series_summary sum;
	json_t *hints;
};

static void report_make(const struct sample *s, size_t n, struct report *r)
{
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);

	stats_summarize(s, n, &r->sum);
	r->hints = json_array();
	stats_hints(s, n, &r->sum, ncpus > 0 ? (int)ncpus : 1, r->hints);
}

/* Add the summary's fields and "hints" to obj (which keeps its own fields first). */
static json_t *report_json(const struct report *r, json_t *obj)
{
	json_t *sum = stats_summary_json(&r->sum);

	json_object_update(obj, sum);
	json_object_set(obj, "hints", r->hints);
	json_decref(sum);
	return obj;
}

static const char *size_text(double bytes, char *buf, size_t size)
{
	format_size((int64_t)(bytes < 0 ? -bytes : bytes), buf, size);
	return buf;
}

enum unit { UNIT_PERCENT, UNIT_BYTES, UNIT_COUNT };

static void print_metric_line(const char *label, const struct metric_summary *m, enum unit unit,
			      const char *extra)
{
	char v[4][32];
	const double x[4] = { m->mean, m->p95, m->max, m->min };

	if (m->count == 0)
		return;
	for (int i = 0; i < 4; i++) {
		if (unit == UNIT_BYTES)
			size_text(x[i], v[i], sizeof(v[i]));
		else
			snprintf(v[i], sizeof(v[i]), "%.1f%s", x[i],
				 unit == UNIT_PERCENT ? "%" : "");
	}
	printf("  %-8s mean %s  p95 %s  max %s  min %s%s\n", label, v[0], v[1], v[2], v[3], extra);
}

static void print_counter(const char *label, int64_t total)
{
	char buf[32];

	if (total < 0)
		printf("%s unknown", label);
	else
		printf("%s %s", label, size_text((double)total, buf, sizeof(buf)));
}

static void print_report(const struct report *r)
{
	char extra[64], size[32];
	size_t i;
	json_t *hint;

	snprintf(extra, sizeof(extra), "  (%.1f CPU-seconds)", r->sum.cpu_seconds);
	if (r->sum.cpu.count == 0)
		printf("  %-8s unknown (CPU use needs two ticks)\n", "cpu");
	print_metric_line("cpu", &r->sum.cpu, UNIT_PERCENT, extra);
	snprintf(extra, sizeof(extra), "  (%s%s/hour)", r->sum.rss_slope_per_hour < 0 ? "-" : "+",
		 size_text(r->sum.rss_slope_per_hour, size, sizeof(size)));
	print_metric_line("rss", &r->sum.rss, UNIT_BYTES, extra);
	print_metric_line("threads", &r->sum.threads, UNIT_COUNT, "");
	print_metric_line("gpu", &r->sum.gpu_util, UNIT_PERCENT, "");
	print_metric_line("gpu mem", &r->sum.gpu_mem, UNIT_BYTES, "");
	printf("  %-8s ", "io");
	print_counter("read", r->sum.read_total);
	print_counter(", written", r->sum.write_total);
	printf("\n");
	json_array_foreach(r->hints, i, hint)
		printf("  hint: %s\n", json_string_value(hint));
}

static void print_header(const char *what, const struct series_summary *sum)
{
	char dur[32];

	format_duration(sum->end_ms - sum->start_ms, dur, sizeof(dur));
	printf("%s: %zu sample%s over %s\n", what, sum->samples, sum->samples == 1 ? "" : "s", dur);
}

/* Print (or build the JSON of) the whole and each process. */
static void analyze_report(const struct mon_data *d, const struct sample *all, size_t nall,
			   int as_json)
{
	json_t *top = json_object(), *procs = json_array();
	struct report r;
	char what[64];

	report_make(all, nall, &r);
	snprintf(what, sizeof(what), "overall (%zu process%s)", d->nprocs,
		 d->nprocs == 1 ? "" : "es");
	if (!as_json) {
		print_header(what, &r.sum);
		print_report(&r);
	}
	json_object_set_new(top, "overall", report_json(&r, json_object()));
	json_decref(r.hints);
	for (size_t i = 0; i < d->nprocs; i++) {
		const struct mon_proc *p = &d->procs[i];

		report_make(p->samples, p->n, &r);
		if (!as_json) {
			snprintf(what, sizeof(what), "\npid %d", (int)p->pid);
			print_header(what, &r.sum);
			printf("  command  %s\n", p->command);
			print_report(&r);
		}
		json_array_append_new(procs, report_json(&r, json_pack("{siss}", "pid", (int)p->pid,
									"command", p->command)));
		json_decref(r.hints);
	}
	json_object_set_new(top, "processes", procs);
	if (as_json)
		print_json(top);
	json_decref(top);
}

static int analyze_main(struct cmd_ctx *ctx)
{
	struct mon_data d = { .path = ctx->argv[0] };
	struct sample *all = NULL;
	size_t nall = 0;
	FILE *f = fopen(d.path, "re");
	int ret = -1;

	if (!f)
		return err_errno(&ctx->err, "analyze: cannot open %s", d.path);
	if (data_read(&d, f, &ctx->err) < 0)
		goto out;
	data_group(&d);
	all = data_overall(&d, &nall);
	analyze_report(&d, all, nall, opt_count(ctx, OPT_JSON) > 0);
	ret = 0;
out:
	fclose(f);
	free(all);
	data_release(&d);
	return ret;
}

const struct cmd_entry cmd_analyze = {
	.name = "analyze",
	.brief = "statistics and hints from a CSV written by monitor",
	.synopsis = "FILE.csv",
	.summary = "Read a CSV written by 'trainctl monitor' and print, for the processes\n"
		   "together (their sum at each tick) and for each process, the min, mean, p95\n"
		   "and max of CPU use, RSS and threads, the CPU time, the I/O, the RSS trend,\n"
		   "and hints: CPU-bound on one core, mostly idle, memory growing steadily, GPU\n"
		   "idle, I/O-heavy.",
	.details = "A process's first row has no CPU use (that needs two ticks): the CPU figures\n"
		   "leave it out. The CPU count in the hints is this machine's.",
	.opts = analyze_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = analyze_main,
};
