/* /proc readers and parsers; see proc.h. */
#include "lib/proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/xmalloc.h"

int proc_parse_stat(const char *text, struct proc_stat *st)
{
	const char *open = strchr(text, '(');
	const char *close = strrchr(text, ')'); /* comm may contain ')' */
	unsigned long long f[22];
	size_t len;
	int n;

	if (!open || !close || close < open || sscanf(text, "%d", &st->pid) != 1)
		return -1;
	len = (size_t)(close - open - 1);
	if (len >= sizeof(st->comm))
		len = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, len);
	st->comm[len] = '\0';
	/* Fields from 3 (state) on; f[0] is field 4 (ppid). */
	n = sscanf(close + 1,
		   " %c %llu %llu %llu %*u %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d %llu %*d %llu %*u %llu",
		   &st->state, &f[0], &f[1], &f[2], &f[10], &f[11], (long long *)&f[12],
		   (long long *)&f[13], &f[16], &f[18], &f[20]);
	if (n != 11)
		return -1;
	st->cutime = f[12];
	st->cstime = f[13];
	st->ppid = (pid_t)f[0];
	st->pgrp = (pid_t)f[1];
	st->session = (pid_t)f[2];
	st->utime = f[10];
	st->stime = f[11];
	st->num_threads = (long)f[16];
	st->start_time = f[18];
	st->rss_pages = f[20];
	return 0;
}

/* Read a small /proc file into buf; returns the length or -1. */
static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int proc_read_stat(pid_t pid, struct proc_stat *st)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return proc_parse_stat(buf, st);
}

int proc_alive(pid_t pid, uint64_t start_time)
{
	struct proc_stat st;

	if (pid <= 0 || proc_read_stat(pid, &st) < 0)
		return 0;
	if (st.state == 'Z' || st.state == 'X')
		return 0;
	return start_time == 0 || st.start_time == start_time;
}

uint64_t proc_start_time(pid_t pid)
{
	struct proc_stat st;

	if (proc_read_stat(pid, &st) < 0)
		return 0;
	return st.start_time;
}

static void proc_list_push(struct proc_list *list, const struct proc_stat *st)
{
	if (list->len == list->alloc) {
		list->alloc = list->alloc ? list->alloc * 2 : 64;
		list->items = xreallocarray(list->items, list->alloc, sizeof(*list->items));
	}
	list->items[list->len++] = *st;
}

void proc_list_release(struct proc_list *list)
{
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* Read the stat of every process on the machine. */
static int proc_read_all(struct proc_list *all)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	struct proc_stat st;

	if (!dir)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (proc_read_stat(atoi(de->d_name), &st) == 0)
			proc_list_push(all, &st);
	}
	closedir(dir);
	return 0;
}

/* Is pid a descendant of root according to the parent links in all? */
static int is_descendant(const struct proc_list *all, pid_t pid, pid_t root)
{
	for (int depth = 0; depth < 4096 && pid > 1; depth++) {
		pid_t parent = 0;

		for (size_t i = 0; i < all->len; i++) {
			if (all->items[i].pid == pid) {
				parent = all->items[i].ppid;
				break;
			}
		}
		if (parent == root)
			return 1;
		pid = parent;
	}
	return 0;
}

int proc_descendants(pid_t root, struct proc_list *out)
{
	struct proc_list all = { 0 };

	if (proc_read_all(&all) < 0)
		return -1;
	for (size_t i = 0; i < all.len; i++) {
		const struct proc_stat *st = &all.items[i];
		if (st->state != 'Z' && st->state != 'X' && is_descendant(&all, st->pid, root))
			proc_list_push(out, st);
	}
	proc_list_release(&all);
	return 0;
}

int proc_session_members(pid_t sid, uint64_t min_start, struct proc_list *out)
{
	struct proc_list all = { 0 };

	if (proc_read_all(&all) < 0)
		return -1;
	for (size_t i = 0; i < all.len; i++) {
		const struct proc_stat *st = &all.items[i];
		if (st->state != 'Z' && st->state != 'X' && st->start_time >= min_start &&
		    (st->session == sid || st->pgrp == sid))
			proc_list_push(out, st);
	}
	proc_list_release(&all);
	return 0;
}

int proc_read_cmdline(pid_t pid, struct strbuf *out)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(out, buf, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

int64_t proc_read_uid(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) < 0 ? -1 : (int64_t)st.st_uid;
}

void proc_read_wchan(pid_t pid, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	if (read_small_file(path, buf, size) < 0 || strcmp(buf, "0") == 0)
		buf[0] = '\0';
}

int proc_read_stack(pid_t pid, int frames, char *buf, size_t size)
{
	char path[64], text[4096];
	char *line, *save = NULL;
	size_t used = 0;

	snprintf(path, sizeof(path), "/proc/%d/stack", (int)pid);
	buf[0] = '\0';
	if (read_small_file(path, text, sizeof(text)) <= 0)
		return -1;
	for (line = strtok_r(text, "\n", &save); line && frames-- > 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *name = strchr(line, ']'); /* "[<0>] do_sys_poll+0x..." */
		char *plus;

		name = name ? name + 2 : line;
		plus = strchr(name, '+');
		if (plus)
			*plus = '\0';
		used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%s",
					 used ? " < " : "", name);
	}
	return 0;
}

/* The boot time in epoch milliseconds, from the btime line of /proc/stat. */
static int64_t boot_time_ms(void)
{
	static int64_t cached;
	char buf[65536];
	const char *line;

	if (cached)
		return cached;
	if (read_small_file("/proc/stat", buf, sizeof(buf)) < 0)
		return 0;
	line = strstr(buf, "\nbtime ");
	if (line)
		cached = strtoll(line + 7, NULL, 10) * 1000;
	return cached;
}

int64_t proc_start_epoch_ms(uint64_t start_time)
{
	long hz = sysconf(_SC_CLK_TCK);

	return boot_time_ms() + (int64_t)(start_time * 1000 / (uint64_t)(hz > 0 ? hz : 100));
}
