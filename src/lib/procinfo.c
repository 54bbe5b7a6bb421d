/* More /proc readers and parsers, for diagnose; see procinfo.h. */
#include "lib/procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xmalloc.h"

/* The value after "Key:" on a line of text, or NULL. */
static const char *field_after(const char *text, const char *key)
{
	size_t len = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, len) == 0 && line[len] == ':')
			return line + len + 1;
	}
	return NULL;
}

/* A "Vm...:   1234 kB" value in bytes, -1 when absent. */
static int64_t kb_field(const char *text, const char *key)
{
	const char *v = field_after(text, key);

	return v ? strtoll(v, NULL, 10) * 1024 : -1;
}

int procinfo_parse_status(const char *text, struct proc_status *out)
{
	const char *uid = field_after(text, "Uid");
	const char *v;

	if (!uid)
		return -1;
	out->uid = (uid_t)strtoul(uid, NULL, 10);
	v = field_after(text, "TracerPid");
	out->tracer = v ? (pid_t)strtol(v, NULL, 10) : 0;
	out->rss = kb_field(text, "VmRSS");
	out->swap = kb_field(text, "VmSwap");
	v = field_after(text, "Threads");
	out->threads = v ? strtol(v, NULL, 10) : 1;
	v = field_after(text, "SigIgn");
	out->sig_ignored = v ? strtoull(v, NULL, 16) : 0;
	v = field_after(text, "SigCgt");
	out->sig_caught = v ? strtoull(v, NULL, 16) : 0;
	return 0;
}

int procinfo_parse_syscall(const char *text, struct proc_syscall *out)
{
	char *end;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, "running", 7) == 0) {
		out->state = SYSCALL_RUNNING;
		return 0;
	}
	errno = 0;
	out->nr = strtol(text, &end, 10);
	if (end == text || errno)
		return -1;
	if (out->nr < 0) {
		out->state = SYSCALL_OUTSIDE;
		return 0;
	}
	out->state = SYSCALL_IN;
	for (int i = 0; i < 6; i++) {
		const char *p = end;
		out->args[i] = strtoull(p, &end, 16);
		if (end == p)
			return -1;
	}
	return 0;
}

enum { SC_FD = 1 << 0, SC_PATH0 = 1 << 1, SC_PATH1 = 1 << 2 };

struct syscall_entry {
	long nr;
	const char *name;
	unsigned flags;
};

/* The calls a stuck process is usually found in, by this architecture's numbers. */
static const struct syscall_entry syscalls[] = {
#if defined(__x86_64__)
	{ 0, "read", SC_FD },          { 1, "write", SC_FD },        { 2, "open", SC_PATH0 },
	{ 3, "close", SC_FD },         { 7, "poll", 0 },             { 8, "lseek", SC_FD },
	{ 16, "ioctl", SC_FD },        { 17, "pread64", SC_FD },     { 18, "pwrite64", SC_FD },
	{ 19, "readv", SC_FD },        { 20, "writev", SC_FD },      { 23, "select", 0 },
	{ 24, "sched_yield", 0 },      { 26, "msync", 0 },           { 34, "pause", 0 },
	{ 35, "nanosleep", 0 },        { 40, "sendfile", SC_FD },    { 42, "connect", SC_FD },
	{ 43, "accept", SC_FD },       { 44, "sendto", SC_FD },      { 45, "recvfrom", SC_FD },
	{ 46, "sendmsg", SC_FD },      { 47, "recvmsg", SC_FD },     { 61, "wait4", 0 },
	{ 65, "semop", 0 },            { 70, "msgrcv", 0 },          { 72, "fcntl", SC_FD },
	{ 73, "flock", SC_FD },        { 74, "fsync", SC_FD },       { 75, "fdatasync", SC_FD },
	{ 128, "rt_sigtimedwait", 0 }, { 130, "rt_sigsuspend", 0 },  { 162, "sync", 0 },
	{ 202, "futex", 0 },           { 208, "io_getevents", 0 },   { 230, "clock_nanosleep", 0 },
	{ 232, "epoll_wait", SC_FD },  { 247, "waitid", 0 },         { 257, "openat", SC_PATH1 },
	{ 270, "pselect6", 0 },        { 271, "ppoll", 0 },          { 275, "splice", SC_FD },
	{ 281, "epoll_pwait", SC_FD }, { 288, "accept4", SC_FD },    { 295, "preadv", SC_FD },
	{ 296, "pwritev", SC_FD },     { 299, "recvmmsg", SC_FD },   { 306, "syncfs", SC_FD },
	{ 307, "sendmmsg", SC_FD },    { 326, "copy_file_range", SC_FD },
	{ 426, "io_uring_enter", SC_FD }, { 441, "epoll_pwait2", SC_FD }, { 449, "futex_waitv", 0 },
#elif defined(__aarch64__)
	{ 4, "io_getevents", 0 },      { 22, "epoll_pwait", SC_FD }, { 25, "fcntl", SC_FD },
	{ 29, "ioctl", SC_FD },        { 32, "flock", SC_FD },       { 56, "openat", SC_PATH1 },
	{ 57, "close", SC_FD },        { 62, "lseek", SC_FD },       { 63, "read", SC_FD },
	{ 64, "write", SC_FD },        { 65, "readv", SC_FD },       { 66, "writev", SC_FD },
	{ 67, "pread64", SC_FD },      { 68, "pwrite64", SC_FD },    { 71, "sendfile", SC_FD },
	{ 72, "pselect6", 0 },         { 73, "ppoll", 0 },           { 76, "splice", SC_FD },
	{ 81, "sync", 0 },             { 82, "fsync", SC_FD },       { 83, "fdatasync", SC_FD },
	{ 95, "waitid", 0 },           { 98, "futex", 0 },           { 101, "nanosleep", 0 },
	{ 115, "clock_nanosleep", 0 }, { 124, "sched_yield", 0 },    { 133, "rt_sigsuspend", 0 },
	{ 137, "rt_sigtimedwait", 0 }, { 202, "accept", SC_FD },     { 203, "connect", SC_FD },
	{ 206, "sendto", SC_FD },      { 207, "recvfrom", SC_FD },   { 211, "sendmsg", SC_FD },
	{ 212, "recvmsg", SC_FD },     { 227, "msync", 0 },          { 242, "accept4", SC_FD },
	{ 243, "recvmmsg", SC_FD },    { 260, "wait4", 0 },          { 269, "sendmmsg", SC_FD },
	{ 285, "copy_file_range", SC_FD }, { 426, "io_uring_enter", SC_FD },
	{ 441, "epoll_pwait2", SC_FD }, { 449, "futex_waitv", 0 },
#endif
	{ -1, NULL, 0 },
};

static const struct syscall_entry *syscall_find(long nr)
{
	for (const struct syscall_entry *e = syscalls; e->name; e++) {
		if (e->nr == nr)
			return e;
	}
	return NULL;
}

const char *procinfo_syscall_name(long nr)
{
	const struct syscall_entry *e = syscall_find(nr);

	return e ? e->name : NULL;
}

int procinfo_syscall_takes_fd(long nr)
{
	const struct syscall_entry *e = syscall_find(nr);

	return e && (e->flags & SC_FD);
}

int procinfo_syscall_path_arg(long nr)
{
	const struct syscall_entry *e = syscall_find(nr);

	if (!e)
		return -1;
	return e->flags & SC_PATH0 ? 0 : e->flags & SC_PATH1 ? 1 : -1;
}

/* "key: N" of /proc/PID/io, -1 when absent. */
static int64_t io_field(const char *text, const char *key)
{
	const char *v = field_after(text, key);

	return v ? strtoll(v, NULL, 10) : -1;
}

int procinfo_parse_io(const char *text, struct proc_io *out)
{
	out->rchar = io_field(text, "rchar");
	out->wchar = io_field(text, "wchar");
	out->read_bytes = io_field(text, "read_bytes");
	out->write_bytes = io_field(text, "write_bytes");
	return out->rchar < 0 && out->wchar < 0 ? -1 : 0;
}

int procinfo_parse_nofile(const char *text, int64_t *soft, int64_t *hard)
{
	const char *line = strstr(text, "Max open files");
	char s[32], h[32];

	if (!line || sscanf(line + strlen("Max open files"), " %31s %31s", s, h) != 2)
		return -1;
	*soft = strcmp(s, "unlimited") == 0 ? -1 : strtoll(s, NULL, 10);
	*hard = strcmp(h, "unlimited") == 0 ? -1 : strtoll(h, NULL, 10);
	return 0;
}

int procinfo_parse_fdinfo_flags(const char *text, int *flags)
{
	const char *v = field_after(text, "flags");

	if (!v)
		return -1;
	*flags = (int)strtol(v, NULL, 8);
	return 0;
}

/* Is controller one of the comma-separated names in list (up to end)? */
static int controller_listed(const char *list, const char *end, const char *controller)
{
	size_t len = strlen(controller);

	while (list < end) {
		const char *comma = memchr(list, ',', (size_t)(end - list));
		const char *stop = comma ? comma : end;

		if ((size_t)(stop - list) == len && strncmp(list, controller, len) == 0)
			return 1;
		list = stop + 1;
	}
	return 0;
}

int procinfo_parse_cgroup(const char *text, const char *controller, char *path, size_t size)
{
	for (const char *line = text; line && *line;) {
		const char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		const char *eol = strchr(line, '\n');
		size_t len;

		if (!c1 || !c2 || (eol && c2 > eol))
			return -1;
		if (!eol)
			eol = line + strlen(line);
		if ((controller[0] == '\0' && c2 == c1 + 1 && strncmp(line, "0:", 2) == 0) ||
		    (controller[0] && controller_listed(c1 + 1, c2, controller))) {
			len = (size_t)(eol - c2 - 1);
			if (len >= size)
				len = size - 1;
			memcpy(path, c2 + 1, len);
			path[len] = '\0';
			return 0;
		}
		line = *eol ? eol + 1 : NULL;
	}
	return -1;
}

int procinfo_open(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

ssize_t procinfo_read(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	size_t used = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) > 0)
		used += (size_t)n;
	close(fd);
	buf[used] = '\0';
	return n < 0 ? -1 : (ssize_t)used;
}

ssize_t procinfo_readlink(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t n = readlinkat(dirfd, name, buf, size - 1);

	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int procinfo_read_string(int dirfd, uint64_t addr, char *buf, size_t size)
{
	int fd = openat(dirfd, "mem", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, size - 1, (off_t)addr);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return memchr(buf, '\0', (size_t)n) ? 0 : -1;
}
