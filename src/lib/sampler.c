/* Sampling process trees; see sampler.h. */
#include "lib/sampler.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/proc.h"
#include "lib/xmalloc.h"

enum cpu_source { SOURCE_NONE, SOURCE_PROC, SOURCE_CGROUP };

/* What the previous ticks saw of one root. */
struct sampler_root {
	pid_t root;
	enum cpu_source source;
	uint64_t cpu_ns;
	int64_t time_ms;
	int procs, threads; /* of the last pass, carried on ticks without one */
	int64_t mem;        /* the last tick's memory */
	int seen;
};

/* An open /proc/PID/stat, read again next tick; marked when this tick saw the pid. */
struct stat_file {
	pid_t pid;
	int fd;
	int marked;
};

struct sampler {
	struct sampler_root *roots;
	size_t len, alloc;
	struct stat_file *files;
	size_t nfiles, files_alloc, max_files;
	long hz;
	long page;
};

struct sampler *sampler_new(void)
{
	struct sampler *s = xcalloc(1, sizeof(*s));
	struct rlimit lim;

	s->hz = sysconf(_SC_CLK_TCK);
	s->page = sysconf(_SC_PAGESIZE);
	/* Keep at most a quarter of the descriptors we may open for /proc files. */
	s->max_files = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
		? lim.rlim_cur / 4 : 256;
	return s;
}

static void close_files(struct sampler *s, int keep_marked)
{
	size_t k = 0;

	for (size_t i = 0; i < s->nfiles; i++) {
		if (keep_marked && s->files[i].marked) {
			s->files[i].marked = 0;
			s->files[k++] = s->files[i];
		} else {
			close(s->files[i].fd);
		}
	}
	s->nfiles = k;
}

void sampler_free(struct sampler *s)
{
	if (!s)
		return;
	close_files(s, 0);
	free(s->files);
	free(s->roots);
	free(s);
}

static struct sampler_root *sampler_root(struct sampler *s, pid_t root)
{
	for (size_t i = 0; i < s->len; i++) {
		if (s->roots[i].root == root)
			return &s->roots[i];
	}
	if (s->len == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 16;
		s->roots = xreallocarray(s->roots, s->alloc, sizeof(*s->roots));
	}
	s->roots[s->len] = (struct sampler_root){ .root = root };
	return &s->roots[s->len++];
}

/* Drop the roots that were not asked for this tick. */
static void sampler_forget_unseen(struct sampler *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->len; i++) {
		if (s->roots[i].seen)
			s->roots[k++] = s->roots[i];
	}
	s->len = k;
	for (size_t i = 0; i < s->len; i++)
		s->roots[i].seen = 0;
}

/* ---- the /proc pass ---- */

/*
 * The open stat file of pid, by binary search (files are kept sorted by
 * pid: /proc lists pids in ascending order, and new ones are merged in).
 */
static struct stat_file *stat_file_find(struct sampler *s, pid_t pid)
{
	size_t lo = 0, hi = s->nfiles;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->files[mid].pid == pid)
			return &s->files[mid];
		if (s->files[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int stat_file_cmp(const void *a, const void *b)
{
	const struct stat_file *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/*
 * Read one process's stat, through a descriptor kept from the last tick when
 * there is one. A kept descriptor names the process, not the pid: once that
 * process is gone it reads ESRCH, even if its pid was reused, so it never
 * reports a stranger.
 */
static int read_stat(struct sampler *s, pid_t pid, struct stat_file **added, size_t *nadded,
		     size_t *added_alloc, struct proc_stat *st)
{
	struct stat_file *f = stat_file_find(s, pid);
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	if (f) {
		n = pread(f->fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			f->marked = 1;
			buf[n] = '\0';
			return proc_parse_stat(buf, st);
		}
		/* The process behind the descriptor is gone; the pid is someone new. */
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0 || s->nfiles + *nadded >= s->max_files) {
		close(fd);
	} else if (f) {
		close(f->fd);
		f->fd = fd;
		f->marked = 1;
	} else {
		if (*nadded == *added_alloc) {
			*added_alloc = *added_alloc ? 2 * *added_alloc : 64;
			*added = xreallocarray(*added, *added_alloc, sizeof(**added));
		}
		(*added)[(*nadded)++] = (struct stat_file){ pid, fd, 1 };
	}
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return proc_parse_stat(buf, st);
}

/* Keep the files of the pids seen this tick, add the new ones, keep them sorted. */
static void stat_files_sweep(struct sampler *s, struct stat_file *added, size_t nadded)
{
	close_files(s, 1);
	if (s->nfiles + nadded > s->files_alloc) {
		s->files_alloc = s->nfiles + nadded + 64;
		s->files = xreallocarray(s->files, s->files_alloc, sizeof(*s->files));
	}
	for (size_t i = 0; i < nadded; i++) {
		added[i].marked = 0;
		s->files[s->nfiles++] = added[i];
	}
	if (nadded)
		qsort(s->files, s->nfiles, sizeof(*s->files), stat_file_cmp);
}

/* Read every process's stat in one directory pass. */
static void read_all(struct sampler *s, struct proc_list *all)
{
	DIR *dir = opendir("/proc");
	struct stat_file *added = NULL;
	size_t nadded = 0, added_alloc = 0;
	struct dirent *de;
	struct proc_stat st;

	while (dir && (de = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (read_stat(s, atoi(de->d_name), &added, &nadded, &added_alloc, &st) == 0) {
			if (all->len == all->alloc) {
				all->alloc = all->alloc ? 2 * all->alloc : 256;
				all->items = xreallocarray(all->items, all->alloc, sizeof(*all->items));
			}
			all->items[all->len++] = st;
		}
	}
	if (dir)
		closedir(dir);
	stat_files_sweep(s, added, nadded);
	free(added);
}

/* pid -> index in the table of this tick: open addressing, rebuilt every tick. */
struct pid_index {
	long *slots; /* index + 1, 0 when empty */
	size_t mask;
	const struct proc_list *all;
};

static void pid_index_build(struct pid_index *ix, const struct proc_list *all)
{
	size_t size = 64;

	while (size < 2 * all->len)
		size *= 2;
	ix->slots = xcalloc(size, sizeof(*ix->slots));
	ix->mask = size - 1;
	ix->all = all;
	for (size_t i = 0; i < all->len; i++) {
		size_t h = (size_t)all->items[i].pid * 2654435761u & ix->mask;
		while (ix->slots[h])
			h = (h + 1) & ix->mask;
		ix->slots[h] = (long)i + 1;
	}
}

static long pid_index_find(const struct pid_index *ix, pid_t pid)
{
	size_t h = (size_t)pid * 2654435761u & ix->mask;

	for (; ix->slots[h]; h = (h + 1) & ix->mask) {
		if (ix->all->items[ix->slots[h] - 1].pid == pid)
			return ix->slots[h] - 1;
	}
	return -1;
}

/*
 * Which job (index into jobs) each process belongs to, following parent
 * links; memo[i] caches the answer (-2 unknown, -1 none), so the table is
 * walked about once in all.
 */
static long owner(const struct pid_index *ix, long *memo, size_t i,
		  const struct sampler_job *jobs, size_t n)
{
	pid_t parent = ix->all->items[i].ppid;
	long k, r = -1;

	if (memo[i] != -2)
		return memo[i];
	memo[i] = -1; /* guards against a parent loop while we look */
	for (size_t j = 0; j < n; j++) {
		if (jobs[j].root == parent)
			r = (long)j;
	}
	if (r < 0 && parent > 1 && (k = pid_index_find(ix, parent)) >= 0)
		r = owner(ix, memo, (size_t)k, jobs, n);
	memo[i] = r;
	return r;
}

/* A small /proc/PID/<file>, NUL-terminated in buf; -1 when gone or not ours to read. */
static int read_small(pid_t pid, const char *file, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The number after "key" in text (a /proc "Key: value" file), or -1. */
static int64_t field_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* Add pid's cumulative read/write bytes (/proc/PID/io) to out. */
static void add_io(pid_t pid, struct sample *out)
{
	char buf[1024];
	int64_t rd, wr;

	if (read_small(pid, "io", buf, sizeof(buf)) < 0)
		return; /* a process gone, or not ours to read, counts as nothing */
	rd = field_after(buf, "\nread_bytes: ");
	wr = field_after(buf, "\nwrite_bytes: ");
	out->read_bytes += rd > 0 ? rd : 0;
	out->write_bytes += wr > 0 ? wr : 0;
}

/* Add pid's proportional set size (/proc/PID/smaps_rollup, in kB) to out. */
static void add_pss(pid_t pid, struct sample *out)
{
	char buf[2048];
	int64_t kb;

	if (read_small(pid, "smaps_rollup", buf, sizeof(buf)) == 0 &&
	    (kb = field_after(buf, "\nPss:")) >= 0)
		out->pss_bytes += kb * 1024;
}

/* Add what this tick asks of pid's slow files (io, smaps_rollup) to out. */
static void add_slow_files(pid_t pid, unsigned parts, struct sample *out)
{
	if (parts & SAMPLE_IO)
		add_io(pid, out);
	if (parts & SAMPLE_PSS)
		add_pss(pid, out);
}

static void sample_init(struct sample *out, int64_t now_ms, unsigned parts)
{
	memset(out, 0, sizeof(*out));
	out->time_ms = now_ms;
	out->read_bytes = parts & SAMPLE_IO ? 0 : -1;
	out->write_bytes = parts & SAMPLE_IO ? 0 : -1;
	out->pss_bytes = parts & SAMPLE_PSS ? 0 : -1;
	out->gpu_util = -1;
	out->gpu_mem_bytes = -1;
	out->cpu_seconds = -1;
}

/*
 * The /proc pass: sum each tree's processes into out and its CPU ticks into
 * ticks. Returns how many processes were read.
 */
static size_t proc_pass(struct sampler *s, const struct sampler_job *jobs, size_t n,
			unsigned parts, uint64_t *ticks, struct sample *out)
{
	struct proc_list all = { 0 };
	struct pid_index ix;
	long *memo;
	size_t count;

	read_all(s, &all);
	count = all.len;
	pid_index_build(&ix, &all);
	memo = xcalloc(all.len ? all.len : 1, sizeof(*memo));
	for (size_t i = 0; i < all.len; i++)
		memo[i] = -2;
	for (size_t r = 0; r < n; r++) {
		long k = pid_index_find(&ix, jobs[r].root);
		if (k >= 0) /* what the root reaped (the job's main process, orphans) */
			ticks[r] = all.items[k].cutime + /* NOLINT(clang-analyzer-core.NullDereference): k indexes all */
				   all.items[k].cstime;
	}
	for (size_t i = 0; i < all.len; i++) {
		const struct proc_stat *st = &all.items[i];
		long r = st->state == 'Z' ? -1 : owner(&ix, memo, i, jobs, n);

		if (r < 0)
			continue;
		ticks[r] += st->utime + st->stime + st->cutime + st->cstime;
		out[r].rss_bytes += (int64_t)st->rss_pages * s->page;
		out[r].threads += (int)st->num_threads;
		out[r].procs++;
		add_slow_files(st->pid, parts, &out[r]);
	}
	proc_list_release(&all);
	free(ix.slots);
	free(memo);
	return count;
}

/*
 * The pass when every job has a meter: each cgroup lists its processes and
 * threads, so /proc is not walked at all, and only the jobs' own processes
 * are visited, for the files a cgroup does not sum (io, smaps_rollup).
 * Returns how many processes the cgroups listed.
 */
static size_t cgroup_pass(struct sampler *s, const struct sampler_job *jobs, size_t n,
			  unsigned parts, struct sample *out)
{
	size_t count = 0;

	close_files(s, 0); /* the /proc pass keeps them; it does not run while every job has a meter */
	for (size_t r = 0; r < n; r++) {
		pid_t *pids = NULL;

		if (cgroup_meter_members(jobs[r].meter, &out[r].procs, &out[r].threads,
					 parts & (SAMPLE_IO | SAMPLE_PSS) ? &pids : NULL) < 0)
			continue; /* the cgroup is gone: procs 0, nothing kept */
		count += (size_t)out[r].procs;
		for (size_t i = 0; pids && pids[i] > 0; i++)
			add_slow_files(pids[i], parts, &out[r]);
		free(pids);
	}
	return count;
}

/* CPU use between the root's last tick and now, from cumulative nanoseconds. */
static double cpu_percent(struct sampler_root *prev, enum cpu_source source, uint64_t cpu_ns,
			  int64_t now_ms)
{
	int64_t dt = now_ms - prev->time_ms;
	double pct = prev->source == source && prev->time_ms && dt > 0 && cpu_ns >= prev->cpu_ns
		? (double)(cpu_ns - prev->cpu_ns) / 1e4 / (double)dt
		: -1;

	prev->source = source;
	prev->cpu_ns = cpu_ns;
	prev->time_ms = now_ms;
	return pct;
}

/* Is the job's main process there, with its memory (not exiting)? Unknown counts as yes. */
static int main_alive(struct sampler *s, pid_t main)
{
	struct stat_file *f;
	char buf[1024];
	struct proc_stat st;
	ssize_t n;

	if (main <= 0)
		return 1;
	if ((f = stat_file_find(s, main)) != NULL) {
		if ((n = pread(f->fd, buf, sizeof(buf) - 1, 0)) <= 0)
			return 0;
		buf[n] = '\0';
	} else if (read_small(main, "stat", buf, sizeof(buf)) < 0) { /* not seen by a pass yet */
		return 0;
	}
	return proc_parse_stat(buf, &st) == 0 && st.state != 'Z' && st.state != 'X' &&
	       st.rss_pages > 0;
}

/* Does any job need the /proc pass for its CPU and memory this tick? */
static int any_without_meter(const struct sampler_job *jobs, size_t n)
{
	for (size_t r = 0; r < n; r++) {
		if (!jobs[r].meter)
			return 1;
	}
	return 0;
}

size_t sampler_sample(struct sampler *s, const struct sampler_job *jobs, size_t n,
		      unsigned parts, int64_t now_ms, struct sample *out)
{
	uint64_t *ticks = xcalloc(n ? n : 1, sizeof(*ticks));
	int by_proc = any_without_meter(jobs, n);
	int pass = by_proc || (parts & (SAMPLE_PROCS | SAMPLE_IO | SAMPLE_PSS));
	size_t count = 0;

	for (size_t r = 0; r < n; r++)
		sample_init(&out[r], now_ms, parts);
	if (by_proc)
		count = proc_pass(s, jobs, n, parts, ticks, out);
	else if (pass)
		count = cgroup_pass(s, jobs, n, parts, out);
	for (size_t r = 0; r < n; r++) {
		struct sampler_root *prev = sampler_root(s, jobs[r].root);
		uint64_t cpu_ns = ticks[r] * (1000000000 / (uint64_t)s->hz);
		int64_t mem;

		if (jobs[r].meter && cgroup_meter_read(jobs[r].meter, (parts & SAMPLE_PROCS) != 0, &cpu_ns, &mem) == 0) {
			out[r].rss_bytes = mem;
			out[r].cpu_percent = cpu_percent(prev, SOURCE_CGROUP, cpu_ns, now_ms);
			/* Memory going down may be the main process tearing down: look. */
			if (!pass && mem < prev->mem && !main_alive(s, jobs[r].main)) {
				out[r].procs = 0; /* tearing down: nothing worth keeping */
				prev->seen = 1;
				continue;
			}
			prev->mem = mem;
		} else if (by_proc) {
			out[r].cpu_percent = cpu_percent(prev, SOURCE_PROC, cpu_ns, now_ms);
		} else {
			/* The meter failed and there was no /proc pass: nothing known this tick. */
			out[r].cpu_percent = -1;
			prev->source = SOURCE_NONE;
			cpu_ns = 0;
		}
		out[r].cpu_seconds = prev->source == SOURCE_NONE ? -1 : (double)cpu_ns / 1e9;
		if (pass) {
			prev->procs = out[r].procs;
			prev->threads = out[r].threads;
		} else {
			out[r].procs = prev->procs;
			out[r].threads = prev->threads;
		}
		prev->seen = 1;
	}
	sampler_forget_unseen(s);
	free(ticks);
	return count;
}
