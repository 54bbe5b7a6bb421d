/* Sampling process trees in one pass over /proc; see sampler.h. */
#include "lib/sampler.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/proc.h"
#include "lib/xmalloc.h"

/* What the previous tick saw of one root. */
struct sampler_root {
	pid_t root;
	uint64_t ticks;
	int64_t time_ms;
	int seen;
};

struct sampler {
	struct sampler_root *roots;
	size_t len, alloc;
	long hz;
	long page;
};

struct sampler *sampler_new(void)
{
	struct sampler *s = xcalloc(1, sizeof(*s));

	s->hz = sysconf(_SC_CLK_TCK);
	s->page = sysconf(_SC_PAGESIZE);
	return s;
}

void sampler_free(struct sampler *s)
{
	if (!s)
		return;
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

/* Read every process's stat in one directory pass. */
static void read_all(struct proc_list *all)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	struct proc_stat st;

	while (dir && (de = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (proc_read_stat(atoi(de->d_name), &st) == 0) {
			if (all->len == all->alloc) {
				all->alloc = all->alloc ? 2 * all->alloc : 256;
				all->items = xreallocarray(all->items, all->alloc, sizeof(*all->items));
			}
			all->items[all->len++] = st;
		}
	}
	if (dir)
		closedir(dir);
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
 * Which root (index into roots) each process belongs to, following parent
 * links; memo[i] caches the answer (-2 unknown, -1 none), so the table is
 * walked about once in all.
 */
static long owner(const struct pid_index *ix, long *memo, size_t i, const pid_t *roots, size_t n)
{
	pid_t parent = ix->all->items[i].ppid;
	long k, r = -1;

	if (memo[i] != -2)
		return memo[i];
	memo[i] = -1; /* guards against a parent loop while we look */
	for (size_t j = 0; j < n; j++) {
		if (roots[j] == parent)
			r = (long)j;
	}
	if (r < 0 && parent > 1 && (k = pid_index_find(ix, parent)) >= 0)
		r = owner(ix, memo, (size_t)k, roots, n);
	memo[i] = r;
	return r;
}

/* Cumulative read_bytes and write_bytes of pid from /proc/PID/io. */
static int read_io(pid_t pid, int64_t *rd, int64_t *wr)
{
	char path[64], buf[1024], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nread_bytes: ");
	*rd += p ? strtoll(p + 13, NULL, 10) : 0;
	p = strstr(buf, "\nwrite_bytes: ");
	*wr += p ? strtoll(p + 14, NULL, 10) : 0;
	return 0;
}

static void sample_init(struct sample *out, int64_t now_ms, int with_io)
{
	memset(out, 0, sizeof(*out));
	out->time_ms = now_ms;
	out->read_bytes = with_io ? 0 : -1;
	out->write_bytes = with_io ? 0 : -1;
	out->gpu_util = -1;
	out->gpu_mem_bytes = -1;
}

int sampler_sample(struct sampler *s, const pid_t *roots, size_t n, int with_io, int64_t now_ms,
		   struct sample *out)
{
	struct proc_list all = { 0 };
	uint64_t *ticks = xcalloc(n ? n : 1, sizeof(*ticks));
	struct pid_index ix;
	long *memo;

	read_all(&all);
	pid_index_build(&ix, &all);
	memo = xcalloc(all.len ? all.len : 1, sizeof(*memo));
	for (size_t i = 0; i < all.len; i++)
		memo[i] = -2;
	for (size_t r = 0; r < n; r++) {
		long k = pid_index_find(&ix, roots[r]);
		sample_init(&out[r], now_ms, with_io);
		if (k >= 0) /* what the root reaped (the job's main process, orphans) */
			ticks[r] = all.items[k].cutime + all.items[k].cstime;
	}
	for (size_t i = 0; i < all.len; i++) {
		const struct proc_stat *st = &all.items[i];
		long r = st->state == 'Z' ? -1 : owner(&ix, memo, i, roots, n);

		if (r < 0)
			continue;
		ticks[r] += st->utime + st->stime + st->cutime + st->cstime;
		out[r].rss_bytes += (int64_t)st->rss_pages * s->page;
		out[r].threads += (int)st->num_threads;
		out[r].procs++;
		if (with_io) /* a process gone, or not ours to read, counts as nothing */
			(void)read_io(st->pid, &out[r].read_bytes, &out[r].write_bytes);
	}
	for (size_t r = 0; r < n; r++) {
		struct sampler_root *prev = sampler_root(s, roots[r]);
		int64_t dt = now_ms - prev->time_ms;

		out[r].cpu_percent = prev->time_ms && dt > 0 && ticks[r] >= prev->ticks
			? (double)(ticks[r] - prev->ticks) * 100000.0 / (double)s->hz / (double)dt
			: -1;
		prev->ticks = ticks[r];
		prev->time_ms = now_ms;
		prev->seen = 1;
	}
	sampler_forget_unseen(s);
	proc_list_release(&all);
	free(ix.slots);
	free(memo);
	free(ticks);
	return 0;
}
