/*
 * Per-job cgroups: CPU and memory limits, OOM-kill counts, and killing a
 * whole job (every process in its cgroup, however it escaped its parent).
 *
 * cgroup v2 (cpu.max, memory.max, memory.events, cgroup.kill) is used where
 * trainctl may create cgroups with those controllers enabled; cgroup v1
 * (cpu/cpu.cfs_quota_us, memory/memory.limit_in_bytes,
 * memory/memory.oom_control) where only v1 controllers are mounted and
 * writable. Every function takes the cgroup filesystem's root (normally
 * /sys/fs/cgroup) so that tests can point it at a fake directory tree.
 */
#ifndef TRAINCTL_CGROUP_H
#define TRAINCTL_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

enum cgroup_kind { CGROUP_NONE, CGROUP_V2, CGROUP_V1 };

struct cgroup_job {
	enum cgroup_kind kind;
	char *v2;     /* v2: the job's directory */
	char *cpu;    /* v1: the job's directory in the cpu hierarchy */
	char *memory; /* v1: ... in the memory hierarchy */
	char *cpuacct; /* v1: ... in a cpuacct hierarchy mounted apart from cpu; NULL if none */
};

/*
 * Open descriptors on the files that give a job's totals, read again with
 * pread every sampling tick (a fraction of the cost of an open): the CPU
 * time (v2 cpu.stat usage_usec, v1 cpuacct.usage), the memory charged
 * (v2 memory.current, v1 memory.usage_in_bytes) and memory.stat. The job's
 * resident memory is anon + file_mapped (v2) or total_rss +
 * total_mapped_file (v1) of memory.stat: each page counted once, page cache
 * left out. memory.stat is long and costly to generate, so a full read
 * learns how much of the charge is page cache, and the reads in between
 * take the charge less that much. The cgroup's directory stays open too, for
 * its lists of processes and threads (cgroup_meter_members).
 */
struct cgroup_meter {
	enum cgroup_kind kind;
	int cpu_fd;
	int usage_fd;
	int stat_fd;
	int dir_fd; /* the directory whose cgroup.procs lists the job (O_PATH) */
	int64_t cache_bytes; /* charge - resident memory at the last full read; -1 before one */
};
/*
 * What this machine lets us use under root: CGROUP_V2 when root is a cgroup2
 * mount whose cgroup.controllers lists cpu and memory and we can create a
 * child and enable them for it; CGROUP_V1 when root/cpu and root/memory are
 * writable v1 hierarchies; else CGROUP_NONE, with err saying why (for show).
 */
enum cgroup_kind cgroup_detect(const char *root, struct err *err);
const char *cgroup_kind_name(enum cgroup_kind kind);

/*
 * Create the job's cgroup, named `name` (e.g. "trainctl/<home-hash>/job-12"),
 * of the given kind. For v2 the parent directories get +cpu +memory in their
 * cgroup.subtree_control.
 */
int cgroup_job_create(struct cgroup_job *cg, enum cgroup_kind kind, const char *root,
		      const char *name, struct err *err);
/* Fill cg with the paths of an existing job cgroup without creating anything (for readers). */
int cgroup_job_locate(struct cgroup_job *cg, enum cgroup_kind kind, const char *root,
		      const char *name);
/* The cgroup name of job id of the state directory home: "trainctl/<hash of home>/job-<id>". */
char *cgroup_job_name(const char *home, int64_t id);
/* Move a process into the job's cgroup (0: the caller itself; async-signal-safe for v2/v1). */
int cgroup_job_add(const struct cgroup_job *cg, pid_t pid);
/* CPU limit in CPUs (1.5 = 150% = one and a half cores); 0 removes the limit. */
int cgroup_job_set_cpu(const struct cgroup_job *cg, double cpus, struct err *err);
/* Memory limit in bytes; 0 removes the limit. */
int cgroup_job_set_memory(const struct cgroup_job *cg, int64_t bytes, struct err *err);
/* How many processes of the job the kernel OOM-killed so far (-1 if unknown). */
int64_t cgroup_job_oom_kills(const struct cgroup_job *cg);
/* Current memory usage in bytes (-1 if unknown). */
int64_t cgroup_job_memory_usage(const struct cgroup_job *cg);
/* Open the meter of a job's cgroup; -1 when its files are not there (then read /proc). */
int cgroup_meter_open(struct cgroup_meter *m, const struct cgroup_job *cg);
/*
 * Cumulative CPU time in nanoseconds and resident memory in bytes; full:
 * read memory.stat (always done on the first read). -1 on error.
 */
int cgroup_meter_read(struct cgroup_meter *m, int full, uint64_t *cpu_ns, int64_t *mem_bytes);
/*
 * How many processes (cgroup.procs) and threads (v1 tasks, v2 cgroup.threads)
 * the job has now; with pids, also its pids, -1 terminated (caller frees).
 * Both files are opened afresh: a v1 cgroup.procs kept open answers from a
 * list the kernel caches for a second after each read. -1 on error.
 */
int cgroup_meter_members(const struct cgroup_meter *m, int *procs, int *threads, pid_t **pids);
void cgroup_meter_close(struct cgroup_meter *m);
/* The pure halves, for tests: parse cpu.stat/cpuacct.usage and memory.stat text. */
int cgroup_parse_cpu(enum cgroup_kind kind, const char *text, uint64_t *cpu_ns);
int cgroup_parse_memory(enum cgroup_kind kind, const char *text, int64_t *mem_bytes);
/* The pids in the job's cgroup, -1 terminated (caller frees); NULL on error. */
pid_t *cgroup_job_pids(const struct cgroup_job *cg);
/* SIGKILL every process in the cgroup (cgroup.kill on v2). Returns how many were signalled, or -1. */
int cgroup_job_kill(const struct cgroup_job *cg);
/* Remove the (empty) cgroup directories. */
int cgroup_job_remove(const struct cgroup_job *cg);
void cgroup_job_release(struct cgroup_job *cg);

#endif
