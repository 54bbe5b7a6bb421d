/*
 * Reading /proc. I/O (proc_read_*) is kept apart from pure parsing
 * (proc_parse_*), so captured files unit-test the parsers. A process is
 * named by (pid, start time): the start time (field 22 of stat, in clock
 * ticks since boot) tells a process from a later one that reused its pid.
 */
#ifndef TRAINCTL_PROC_H
#define TRAINCTL_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/strbuf.h"

struct proc_stat {
	pid_t pid;
	char comm[64];
	char state; /* R S D T t Z X I ... */
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
	uint64_t utime; /* clock ticks */
	uint64_t stime;
	uint64_t cutime; /* of children it reaped */
	uint64_t cstime;
	long num_threads;
	uint64_t start_time; /* clock ticks since boot */
	uint64_t rss_pages;
};

/* Parse the text of /proc/PID/stat (comm may hold spaces and parentheses). */
int proc_parse_stat(const char *text, struct proc_stat *st);
/* Read and parse /proc/PID/stat; -1 if the process is gone. */
int proc_read_stat(pid_t pid, struct proc_stat *st);

/* 1 if pid is alive (not a zombie) and started at start_time, else 0. */
int proc_alive(pid_t pid, uint64_t start_time);
/* The start time of pid, or 0 when it is gone. */
uint64_t proc_start_time(pid_t pid);

struct proc_list {
	struct proc_stat *items;
	size_t len;
	size_t alloc;
};

/*
 * Every live (non-zombie) descendant of root, found from one pass over /proc
 * by following parent links. Caller releases with proc_list_release().
 */
int proc_descendants(pid_t root, struct proc_list *out);
void proc_list_release(struct proc_list *list);
/*
 * Every live process of session sid (or of process group sid) that started
 * no earlier than min_start: what is left of a job whose supervisor died,
 * after its processes were re-parented away from it.
 */
int proc_session_members(pid_t sid, uint64_t min_start, struct proc_list *out);

/*
 * pid's arguments (/proc/PID/cmdline: NUL-terminated strings, as they lie)
 * appended to out; -1 when unreadable. Kernel threads have none.
 */
int proc_read_cmdline(pid_t pid, struct strbuf *out);
/* The user id that owns pid, or -1 when it is gone. */
int64_t proc_read_uid(pid_t pid);

/* The kernel function pid sleeps in (/proc/PID/wchan), or "" when running or unreadable. */
void proc_read_wchan(pid_t pid, char *buf, size_t size);
/*
 * The first `frames` function names of pid's kernel stack (/proc/PID/stack,
 * root only), joined with " < ". Returns -1 when unreadable.
 */
int proc_read_stack(pid_t pid, int frames, char *buf, size_t size);

/* Milliseconds since the epoch at which a process with this start time began. */
int64_t proc_start_epoch_ms(uint64_t start_time);

#endif
