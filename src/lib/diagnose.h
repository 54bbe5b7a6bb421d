/*
 * What a process (or every process of a job) is doing, and what is wrong
 * with it. diag_gather() watches the processes for a window (CPU, I/O, the
 * state of every thread, a few times a second), then reads everything else
 * once at the end: command line, memory, open files, the current system
 * call and the file it is on, children, parent, scheduling. diag_judge()
 * turns those facts into findings, ranked by severity, each with its
 * evidence and the command that fixes it: a table of small rules, one per
 * kind of trouble. The report is rendered by src/cli/diagnose.c; the JSON
 * (diag_report_json) carries the same facts and findings.
 */
#ifndef TRAINCTL_DIAGNOSE_H
#define TRAINCTL_DIAGNOSE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"
#include "lib/proc.h"
#include "lib/procinfo.h"

enum diag_severity { DIAG_INFO, DIAG_WARNING, DIAG_CRITICAL };

/* Threads in the same state and wait channel: "13 S in futex_do_wait". */
struct diag_thread_group {
	char state;
	char wchan[48];
	int count;
};

enum diag_fd_kind { DIAG_FD_FILE, DIAG_FD_PIPE, DIAG_FD_SOCKET, DIAG_FD_GPU, DIAG_FD_OTHER };

struct diag_fd {
	int fd;
	enum diag_fd_kind kind;
	int writing; /* opened for writing */
	char target[256];
};

#define DIAG_MAX_GROUPS 8
#define DIAG_MAX_FDS 12
#define DIAG_MAX_ZOMBIES 8

struct diag_proc {
	struct proc_stat st; /* at the end of the window */
	int gone;            /* exited during the window */
	char cmdline[512];
	char user[32];
	struct proc_status status;
	int64_t start_ms;
	char wchan[64];
	char stack[512];
	int stack_readable;
	struct proc_syscall syscall;
	char syscall_target[256]; /* the file of its fd, or the path it opens */
	/* The window. */
	double cpu_percent;
	int64_t read_bytes, write_bytes; /* storage; -1 unknown */
	int64_t rchar, wchar;            /* through system calls; -1 unknown */
	int ticks, ticks_running, ticks_d, ticks_stopped, ticks_futex;
	struct diag_thread_group groups[DIAG_MAX_GROUPS];
	int ngroups;
	/* Memory; bytes, -1 unknown. */
	int oom_score;
	int64_t cgroup_mem_limit, cgroup_mem_usage;
	char cgroup_frozen[600]; /* the freezer control file when its cgroup is frozen */
	/* Files. */
	int nfds; /* -1 unreadable */
	int64_t fd_limit;
	int nsockets, npipes, nwriting;
	struct diag_fd fds[DIAG_MAX_FDS]; /* the notable ones */
	int nnotable;
	/* Children and parent. */
	int nchildren;
	pid_t zombies[DIAG_MAX_ZOMBIES];
	int nzombies;
	char parent_comm[64];
	char parent_state;
	char parent_wchan[64];
	int parent_sigchld; /* 1 caught, 0 default, -1 ignored (the kernel reaps) */
	/* Scheduling. */
	int policy;
	/* A blocked read on a pipe: who holds its write end. */
	pid_t pipe_writers[8];
	int npipe_writers;
	int pipe_self_writer;
	char pipe_writer_comm[64]; /* of the first writer */
	/* GPU, filled in when GPU data is available; -1 unknown. */
	int64_t gpu_mem;
	int gpu_util;
};

struct diag_finding {
	enum diag_severity severity;
	const char *code; /* "zombie", "stopped", ... */
	pid_t pid;        /* 0 for the job as a whole */
	char title[256];
	char evidence[768];
	char fix[256];
};

struct diag_report {
	int64_t window_ms;
	struct diag_proc *procs;
	size_t nprocs;
	json_t *job; /* the daemon's job object, or NULL for a plain PID (owned) */
	char job_ref[64]; /* how commands name the job: its id */
	struct diag_finding *findings;
	size_t nfindings;
};

/*
 * Watch pids[0..n) for window_ms and gather their facts into r (which the
 * caller zeroes and releases). Fails when pids[0] does not exist or may not
 * be inspected; the others may come and go.
 */
int diag_gather(struct diag_report *r, const pid_t *pids, size_t n, int64_t window_ms,
		struct err *err);
/* Apply every rule; findings sorted by severity, most severe first. */
void diag_judge(struct diag_report *r);
json_t *diag_report_json(const struct diag_report *r);
void diag_report_release(struct diag_report *r);

const char *diag_severity_name(enum diag_severity s);
/* "S (sleeping)" for 'S'. */
const char *diag_state_meaning(char state);
/* "SCHED_OTHER" for 0 (sched_getscheduler's value); "?" when unknown. */
const char *diag_policy_name(int policy);
/* The process's system call as "read(3 pipe:[123])"; "" when running. */
void diag_syscall_text(const struct diag_proc *p, char *buf, size_t size);

#endif
