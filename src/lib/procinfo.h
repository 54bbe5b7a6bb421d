/*
 * More of /proc, for `diagnose`: status, the current system call (with the
 * common numbers named), I/O counters, the open-files limit, fd flags, the
 * cgroup of a controller. Pure procinfo_parse_* functions take the text of
 * a file, so captured files unit-test them; procinfo_read_* do the I/O
 * relative to an open /proc/PID directory (procinfo_open), so that every
 * file read belongs to the same process even if its pid is reused.
 */
#ifndef TRAINCTL_PROCINFO_H
#define TRAINCTL_PROCINFO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What /proc/PID/status says that stat does not. Sizes in bytes, -1 unknown. */
struct proc_status {
	uid_t uid;           /* real uid */
	pid_t tracer;        /* TracerPid, 0 when not traced */
	int64_t rss;         /* VmRSS */
	int64_t swap;        /* VmSwap */
	long threads;
	uint64_t sig_ignored; /* SigIgn: bit N-1 for signal N */
	uint64_t sig_caught;  /* SigCgt */
};

int procinfo_parse_status(const char *text, struct proc_status *out);

enum proc_syscall_state {
	SYSCALL_RUNNING,  /* on a CPU: no system call to report */
	SYSCALL_OUTSIDE,  /* blocked, but not in a system call (a page fault, a stop) */
	SYSCALL_IN,       /* blocked in system call nr */
};

struct proc_syscall {
	enum proc_syscall_state state;
	long nr;
	uint64_t args[6];
};

/* Parse /proc/PID/syscall: "running", "-1 SP PC", or "NR ARG1 .. ARG6 SP PC". */
int procinfo_parse_syscall(const char *text, struct proc_syscall *out);
/* The name of system call nr on this architecture, or NULL when not in our table. */
const char *procinfo_syscall_name(long nr);
/* 1 when the call's first argument is a file descriptor (read, write, recvmsg, ...). */
int procinfo_syscall_takes_fd(long nr);
/* 1 when the call opens a path given as its second (openat) or first (open) argument. */
int procinfo_syscall_path_arg(long nr);

/* /proc/PID/io; -1 in every field the text lacks. */
struct proc_io {
	int64_t rchar, wchar;          /* bytes read and written by system calls */
	int64_t read_bytes, write_bytes; /* bytes that went to or came from storage */
};

int procinfo_parse_io(const char *text, struct proc_io *out);
/* The soft and hard "Max open files" of /proc/PID/limits (-1: unlimited). */
int procinfo_parse_nofile(const char *text, int64_t *soft, int64_t *hard);
/* The open flags (O_ACCMODE and the rest) of /proc/PID/fdinfo/N. */
int procinfo_parse_fdinfo_flags(const char *text, int *flags);
/*
 * The cgroup path of controller ("memory", "freezer"; "" for the v2
 * unified hierarchy) in /proc/PID/cgroup. -1 when it is not there.
 */
int procinfo_parse_cgroup(const char *text, const char *controller, char *path, size_t size);

/* Open /proc/PID as a directory; -1 (errno set) when there is no such process. */
int procinfo_open(pid_t pid);
/* Read the whole of file name (relative to dirfd) into buf, NUL-terminated; length or -1. */
ssize_t procinfo_read(int dirfd, const char *name, char *buf, size_t size);
/* readlink relative to dirfd, NUL-terminated; length or -1. */
ssize_t procinfo_readlink(int dirfd, const char *name, char *buf, size_t size);
/* A NUL-terminated string of the process's memory at addr (/proc/PID/mem); -1 when unreadable. */
int procinfo_read_string(int dirfd, uint64_t addr, char *buf, size_t size);

#endif
