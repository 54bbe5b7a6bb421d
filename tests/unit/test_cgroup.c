/*
 * Unit tests for src/lib/cgroup.c, in two layers. Most run against a fake
 * cgroup tree of plain files in a mkdtemp directory (cgroup.controllers,
 * cgroup.subtree_control, cpu.max, memory.events, ...), which shows exactly
 * what the module reads and writes for v2 and v1. The "real" tests then use
 * the kernel's own cgroups on this machine (skipped unless we are root and
 * the hierarchies are writable): a v1 job cgroup with a forked child in it,
 * limits read back from the kernel, an OOM kill, cgroup.kill on cgroup2.
 * Real cgroups are created under the test's own cgroup in each hierarchy,
 * so its processes stay inside whatever limits the test itself runs under,
 * and every one is removed in the teardown, also when an assertion fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cgroup.h"
#include "lib/xmalloc.h"

/* snprintf into a char array, failing the test if it does not fit. */
#define FORMAT(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* ---- helpers for the fake tree ---- */

struct fake {
	char root[64];
	struct cgroup_job cg;
	pid_t child;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup_fake(void **state)
{
	struct fake *f = xcalloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/test_cgroup.XXXXXX");
	if (!mkdtemp(f->root)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static void reap_child(pid_t *child)
{
	if (*child > 0) {
		kill(*child, SIGKILL);
		waitpid(*child, NULL, 0);
	}
	*child = 0;
}

static int teardown_fake(void **state)
{
	struct fake *f = *state;

	reap_child(&f->child);
	cgroup_job_release(&f->cg);
	nftw(f->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Create (or replace) root/rel with text; parents must exist. */
static void put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	FORMAT(path, "%s/%s", root, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void make_dir(const char *root, const char *rel)
{
	char path[PATH_MAX];

	FORMAT(path, "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* The text of a file ("" when empty), or NULL when it cannot be read. Static storage. */
static const char *slurp(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static const char *slurp_at(const char *dir, const char *file)
{
	char path[PATH_MAX];

	FORMAT(path, "%s/%s", dir, file);
	return slurp(path);
}

static int exists_at(const char *dir, const char *file)
{
	char path[PATH_MAX];

	FORMAT(path, "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

static int64_t number_at(const char *dir, const char *file)
{
	const char *text = slurp_at(dir, file);

	assert_non_null(text);
	return strtoll(text, NULL, 10);
}

/* Point cg at root/job as a job of the given kind (v1: root/cpu/job and root/memory/job). */
static void fake_job(struct fake *f, enum cgroup_kind kind)
{
	if (kind == CGROUP_V2) {
		make_dir(f->root, "job");
		f->cg.v2 = xasprintf("%s/job", f->root);
	} else {
		make_dir(f->root, "cpu");
		make_dir(f->root, "memory");
		make_dir(f->root, "cpu/job");
		make_dir(f->root, "memory/job");
		f->cg.cpu = xasprintf("%s/cpu/job", f->root);
		f->cg.memory = xasprintf("%s/memory/job", f->root);
	}
	f->cg.kind = kind;
}

/* A child that only waits to be killed. */
static pid_t fork_sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

/* ---- detection on fake trees ---- */

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(cgroup_kind_name(CGROUP_V2), "v2");
	assert_string_equal(cgroup_kind_name(CGROUP_V1), "v1");
	assert_string_equal(cgroup_kind_name(CGROUP_NONE), "none");
}

static void test_detect_v2(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	put(f->root, "cgroup.controllers", "cpu io memory pids\n");
	put(f->root, "cgroup.subtree_control", "");
	assert_int_equal(cgroup_detect(f->root, &err), CGROUP_V2);
	/* the probe enabled cpu and memory for root's children, one at a time ... */
	assert_string_equal(slurp_at(f->root, "cgroup.subtree_control"), "+cpu\n+memory\n");
	/* ... and left no directory behind */
	assert_false(exists_at(f->root, "trainctl"));
}

static void test_detect_v2_keeps_existing_trainctl(void **state)
{
	struct fake *f = *state;

	put(f->root, "cgroup.controllers", "cpu memory\n");
	make_dir(f->root, "trainctl");
	make_dir(f->root, "trainctl/job-1");
	assert_int_equal(cgroup_detect(f->root, NULL), CGROUP_V2);
	assert_true(exists_at(f->root, "trainctl/job-1"));
	assert_false(exists_at(f->root, "trainctl/probe-1"));
}

static void test_detect_v2_without_memory_is_none(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	put(f->root, "cgroup.controllers", "cpu io pids\n");
	assert_int_equal(cgroup_detect(f->root, &err), CGROUP_NONE);
	assert_non_null(strstr(err.msg, "cgroup.controllers has no cpu and memory"));
	assert_non_null(strstr(err.msg, "\"cpu io pids\""));
	assert_non_null(strstr(err.msg, "v1: no cgroup v1 cpu hierarchy"));
}

static void test_detect_v1(void **state)
{
	struct fake *f = *state;

	make_dir(f->root, "cpu");
	make_dir(f->root, "memory");
	assert_int_equal(cgroup_detect(f->root, NULL), CGROUP_V1);
}

/* Debian: cpu and cpuacct share a mount at cpu,cpuacct, and cpu is a symlink to it. */
static void test_detect_v1_cpu_cpuacct(void **state)
{
	struct fake *f = *state;
	char link[PATH_MAX];

	make_dir(f->root, "cpu,cpuacct");
	make_dir(f->root, "memory");
	FORMAT(link, "%s/cpu", f->root);
	assert_int_equal(symlink("cpu,cpuacct", link), 0);
	assert_int_equal(cgroup_detect(f->root, NULL), CGROUP_V1);
	/* and without the symlink */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(cgroup_detect(f->root, NULL), CGROUP_V1);
}

static void test_detect_v1_needs_memory(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	make_dir(f->root, "cpu");
	assert_int_equal(cgroup_detect(f->root, &err), CGROUP_NONE);
	assert_non_null(strstr(err.msg, "no cgroup v1 memory hierarchy"));
}

static void test_detect_none_on_empty_dir(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	assert_int_equal(cgroup_detect(f->root, &err), CGROUP_NONE);
	assert_non_null(strstr(err.msg, "no usable cgroups under"));
	assert_non_null(strstr(err.msg, "cgroup.controllers"));
	assert_non_null(strstr(err.msg, "v1:"));
}

/* ---- creating ---- */

static void test_create_v2_enables_each_parent(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };
	char want[PATH_MAX];

	/* a kernel would make these files in every directory; the fake has them where checked */
	put(f->root, "cgroup.subtree_control", "");
	make_dir(f->root, "trainctl");
	put(f->root, "trainctl/cgroup.subtree_control", "");
	make_dir(f->root, "trainctl/home");
	put(f->root, "trainctl/home/cgroup.subtree_control", "");

	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V2, f->root, "trainctl/home/job-12", &err),
			 0);
	assert_int_equal(f->cg.kind, CGROUP_V2);
	FORMAT(want, "%s/trainctl/home/job-12", f->root);
	assert_string_equal(f->cg.v2, want);
	assert_null(f->cg.cpu);
	assert_null(f->cg.memory);
	assert_string_equal(slurp_at(f->root, "cgroup.subtree_control"), "+cpu\n+memory\n");
	assert_string_equal(slurp_at(f->root, "trainctl/cgroup.subtree_control"), "+cpu\n+memory\n");
	assert_string_equal(slurp_at(f->root, "trainctl/home/cgroup.subtree_control"),
			    "+cpu\n+memory\n");
	/* the leaf holds processes, so it gets no controllers for children */
	assert_false(exists_at(f->cg.v2, "cgroup.subtree_control"));

	/* creating it again is fine (a daemon re-adopting its jobs) */
	cgroup_job_release(&f->cg);
	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V2, f->root, "trainctl/home/job-12", &err),
			 0);
}

static void test_create_v2_makes_missing_parents(void **state)
{
	struct fake *f = *state;

	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V2, f->root, "a/b/c", NULL), 0);
	assert_true(exists_at(f->root, "a/b/c"));
}

static void test_create_v1_both_hierarchies(void **state)
{
	struct fake *f = *state;
	char link[PATH_MAX], real[PATH_MAX], want[PATH_MAX];
	struct err err = { 0 };

	make_dir(f->root, "cpu,cpuacct");
	make_dir(f->root, "memory");
	FORMAT(link, "%s/cpu", f->root);
	assert_int_equal(symlink("cpu,cpuacct", link), 0);
	assert_non_null(realpath(f->root, real));

	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V1, f->root, "trainctl/job-2", &err), 0);
	assert_int_equal(f->cg.kind, CGROUP_V1);
	assert_null(f->cg.v2);
	/* the cpu path is the real directory, not the symlink */
	FORMAT(want, "%s/cpu,cpuacct/trainctl/job-2", real);
	assert_string_equal(f->cg.cpu, want);
	FORMAT(want, "%s/memory/trainctl/job-2", real);
	assert_string_equal(f->cg.memory, want);
	assert_true(exists_at(f->root, "cpu,cpuacct/trainctl/job-2"));
	assert_true(exists_at(f->root, "memory/trainctl/job-2"));
}

static void test_create_v1_without_hierarchies_fails(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	make_dir(f->root, "cpu");
	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V1, f->root, "job", &err), -1);
	assert_non_null(strstr(err.msg, "memory"));
	assert_int_equal(f->cg.kind, CGROUP_NONE);
	assert_null(f->cg.cpu);
	assert_null(f->cg.memory);
}

static void test_create_rejects_bad_names(void **state)
{
	struct fake *f = *state;
	static const char *const bad[] = { "", "/abs", "a/../b", "..", "a//b", "a/", "./a" };
	struct err err = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V2, f->root, bad[i], &err), -1);
		assert_non_null(strstr(err.msg, "bad cgroup name"));
		assert_null(f->cg.v2);
	}
	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_NONE, f->root, "job", &err), -1);
}

/* ---- limits ---- */

static void test_set_cpu_v2(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	fake_job(f, CGROUP_V2);
	put(f->cg.v2, "cpu.max", "max 100000\n");
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 1.5, &err), 0);
	assert_string_equal(slurp_at(f->cg.v2, "cpu.max"), "150000 100000");
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 4, &err), 0);
	assert_string_equal(slurp_at(f->cg.v2, "cpu.max"), "400000 100000");
	/* below the kernel's 1ms minimum: the minimum */
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 0.001, &err), 0);
	assert_string_equal(slurp_at(f->cg.v2, "cpu.max"), "1000 100000");
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 0, &err), 0);
	assert_string_equal(slurp_at(f->cg.v2, "cpu.max"), "max 100000");

	assert_int_equal(cgroup_job_set_cpu(&f->cg, -1, &err), -1);
	assert_non_null(strstr(err.msg, "bad CPU limit"));
}

static void test_set_cpu_needs_the_file(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	fake_job(f, CGROUP_V2);
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 1, &err), -1);
	assert_non_null(strstr(err.msg, "writing \"100000 100000\" to "));
	assert_non_null(strstr(err.msg, "/job/cpu.max: No such file or directory"));
}

static void test_set_cpu_v1(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	fake_job(f, CGROUP_V1);
	put(f->cg.cpu, "cpu.cfs_period_us", "250000\n");
	put(f->cg.cpu, "cpu.cfs_quota_us", "-1\n");
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 0.5, &err), 0);
	assert_string_equal(slurp_at(f->cg.cpu, "cpu.cfs_period_us"), "100000");
	assert_string_equal(slurp_at(f->cg.cpu, "cpu.cfs_quota_us"), "50000");
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 0, &err), 0);
	assert_string_equal(slurp_at(f->cg.cpu, "cpu.cfs_quota_us"), "-1");
	/* nothing went to the memory hierarchy */
	assert_false(exists_at(f->cg.memory, "cpu.cfs_quota_us"));
}

static void test_set_memory_v2(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	fake_job(f, CGROUP_V2);
	put(f->cg.v2, "memory.max", "max\n");
	put(f->cg.v2, "memory.swap.max", "max\n");
	assert_int_equal(cgroup_job_set_memory(&f->cg, 8LL << 30, &err), 0);
	assert_string_equal(slurp_at(f->cg.v2, "memory.max"), "8589934592");
	assert_string_equal(slurp_at(f->cg.v2, "memory.swap.max"), "0");
	assert_int_equal(cgroup_job_set_memory(&f->cg, 0, &err), 0);
	assert_string_equal(slurp_at(f->cg.v2, "memory.max"), "max");
	assert_string_equal(slurp_at(f->cg.v2, "memory.swap.max"), "max");

	assert_int_equal(cgroup_job_set_memory(&f->cg, -5, &err), -1);
	assert_non_null(strstr(err.msg, "bad memory limit"));
}

static void test_set_memory_v2_without_swap(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V2);
	put(f->cg.v2, "memory.max", "max\n");
	assert_int_equal(cgroup_job_set_memory(&f->cg, 1048576, NULL), 0);
	assert_string_equal(slurp_at(f->cg.v2, "memory.max"), "1048576");
	assert_false(exists_at(f->cg.v2, "memory.swap.max"));
}

static void test_set_memory_v1(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };

	fake_job(f, CGROUP_V1);
	put(f->cg.memory, "memory.limit_in_bytes", "9223372036854771712\n");
	put(f->cg.memory, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
	assert_int_equal(cgroup_job_set_memory(&f->cg, 64 << 20, &err), 0);
	assert_string_equal(slurp_at(f->cg.memory, "memory.limit_in_bytes"), "67108864");
	assert_string_equal(slurp_at(f->cg.memory, "memory.memsw.limit_in_bytes"), "67108864");
	assert_int_equal(cgroup_job_set_memory(&f->cg, 128 << 20, &err), 0);
	assert_string_equal(slurp_at(f->cg.memory, "memory.limit_in_bytes"), "134217728");
	assert_string_equal(slurp_at(f->cg.memory, "memory.memsw.limit_in_bytes"), "134217728");
	assert_int_equal(cgroup_job_set_memory(&f->cg, 0, &err), 0);
	assert_string_equal(slurp_at(f->cg.memory, "memory.limit_in_bytes"), "-1");
	assert_string_equal(slurp_at(f->cg.memory, "memory.memsw.limit_in_bytes"), "-1");
}

static void test_set_memory_v1_without_memsw(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V1);
	put(f->cg.memory, "memory.limit_in_bytes", "9223372036854771712\n");
	assert_int_equal(cgroup_job_set_memory(&f->cg, 4096, NULL), 0);
	assert_string_equal(slurp_at(f->cg.memory, "memory.limit_in_bytes"), "4096");
	assert_false(exists_at(f->cg.memory, "memory.memsw.limit_in_bytes"));
}

static void test_no_cgroup(void **state)
{
	struct cgroup_job none = { 0 };
	struct err err = { 0 };

	(void)state;
	assert_int_equal(cgroup_job_set_cpu(&none, 1, &err), -1);
	assert_non_null(strstr(err.msg, "no cgroup"));
	assert_int_equal(cgroup_job_set_memory(&none, 1, &err), -1);
	assert_int_equal(cgroup_job_add(&none, 0), -1);
	assert_int_equal(cgroup_job_oom_kills(&none), -1);
	assert_int_equal(cgroup_job_memory_usage(&none), -1);
	assert_null(cgroup_job_pids(&none));
	assert_int_equal(cgroup_job_kill(&none), -1);
	assert_int_equal(cgroup_job_remove(&none), -1);
	cgroup_job_release(&none);
	cgroup_job_release(&none);
}

/* ---- reading ---- */

static void test_oom_kills_v2(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V2);
	assert_int_equal(cgroup_job_oom_kills(&f->cg), -1);
	put(f->cg.v2, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
	assert_int_equal(cgroup_job_oom_kills(&f->cg), 1);
	put(f->cg.v2, "memory.events",
	    "low 0\nhigh 0\nmax 120\noom 9\noom_kill 7\noom_group_kill 0\n");
	assert_int_equal(cgroup_job_oom_kills(&f->cg), 7);
	put(f->cg.v2, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
	assert_int_equal(cgroup_job_oom_kills(&f->cg), -1);
}

static void test_oom_kills_v1(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V1);
	put(f->cg.memory, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	assert_int_equal(cgroup_job_oom_kills(&f->cg), 2);
	/* kernels before 4.13 have no oom_kill line: unknown, not 0 (nor oom_kill_disable's) */
	put(f->cg.memory, "memory.oom_control", "oom_kill_disable 1\nunder_oom 0\n");
	assert_int_equal(cgroup_job_oom_kills(&f->cg), -1);
}

static void test_memory_usage(void **state)
{
	struct fake *f = *state;
	struct cgroup_job v1 = { 0 };

	fake_job(f, CGROUP_V2);
	assert_int_equal(cgroup_job_memory_usage(&f->cg), -1);
	put(f->cg.v2, "memory.current", "123456789\n");
	assert_int_equal(cgroup_job_memory_usage(&f->cg), 123456789);
	put(f->cg.v2, "memory.current", "garbage\n");
	assert_int_equal(cgroup_job_memory_usage(&f->cg), -1);

	v1.kind = CGROUP_V1;
	v1.cpu = f->cg.v2;
	v1.memory = f->cg.v2;
	put(f->cg.v2, "memory.usage_in_bytes", "4096\n");
	assert_int_equal(cgroup_job_memory_usage(&v1), 4096);
}

static void test_parse_cpu_and_memory(void **state)
{
	uint64_t ns;
	int64_t mem;

	(void)state;
	assert_int_equal(cgroup_parse_cpu(CGROUP_V2, "usage_usec 1500\nuser_usec 1000\n", &ns), 0);
	assert_int_equal(ns, 1500000);
	assert_int_equal(cgroup_parse_cpu(CGROUP_V1, "123456789\n", &ns), 0);
	assert_int_equal(ns, 123456789);
	assert_int_equal(cgroup_parse_cpu(CGROUP_V2, "user_usec 1000\n", &ns), -1);
	assert_int_equal(cgroup_parse_memory(CGROUP_V2, "anon 4096\nanon_thp 0\nfile 99999\n"
					     "file_mapped 1024\n", &mem), 0);
	assert_int_equal(mem, 5120); /* page cache (file) left out */
	assert_int_equal(cgroup_parse_memory(CGROUP_V1, "cache 5\nrss 1\nmapped_file 2\n"
					     "total_cache 50\ntotal_rss 100\ntotal_rss_huge 7\n"
					     "total_mapped_file 20\n", &mem), 0);
	assert_int_equal(mem, 120);
	assert_int_equal(cgroup_parse_memory(CGROUP_V1, "rss 1\n", &mem), -1);
}

/* A meter on fake files: reads them again on every call, and needs both. */
static void test_meter(void **state)
{
	struct fake *f = *state;
	struct cgroup_meter m;
	uint64_t ns;
	int64_t mem;

	fake_job(f, CGROUP_V2);
	put(f->cg.v2, "cpu.stat", "usage_usec 10\n");
	put(f->cg.v2, "memory.current", "1101\n");
	assert_int_equal(cgroup_meter_open(&m, &f->cg), -1); /* no memory.stat */
	put(f->cg.v2, "memory.stat", "anon 100\nfile_mapped 1\n");
	assert_int_equal(cgroup_meter_open(&m, &f->cg), 0);
	/* the first read is a full one: 1000 of the 1101 charged are page cache */
	assert_int_equal(cgroup_meter_read(&m, 0, &ns, &mem), 0);
	assert_int_equal(ns, 10000);
	assert_int_equal(mem, 101);
	/* in between, the charge less the cache learnt */
	put(f->cg.v2, "memory.current", "1601\n");
	put(f->cg.v2, "memory.stat", "anon 9999\nfile_mapped 1\n");
	assert_int_equal(cgroup_meter_read(&m, 0, &ns, &mem), 0);
	assert_int_equal(mem, 601);
	/* a full read learns again */
	assert_int_equal(cgroup_meter_read(&m, 1, &ns, &mem), 0);
	assert_int_equal(mem, 10000);
	put(f->cg.v2, "memory.current", "5000\n");
	put(f->cg.v2, "memory.stat", "anon 1000\nfile_mapped 1\n");
	assert_int_equal(cgroup_meter_read(&m, 1, &ns, &mem), 0);
	assert_int_equal(mem, 1001);
	put(f->cg.v2, "memory.current", "100\n"); /* the cache went: never below zero */
	assert_int_equal(cgroup_meter_read(&m, 0, &ns, &mem), 0);
	assert_int_equal(mem, 0);
	cgroup_meter_close(&m);

	cgroup_job_release(&f->cg);
	fake_job(f, CGROUP_V1);
	put(f->cg.cpu, "cpuacct.usage", "777\n"); /* co-mounted cpu,cpuacct */
	put(f->cg.memory, "memory.usage_in_bytes", "11\n");
	put(f->cg.memory, "memory.stat", "total_rss 5\ntotal_mapped_file 6\n");
	assert_int_equal(cgroup_meter_open(&m, &f->cg), 0);
	assert_int_equal(cgroup_meter_read(&m, 1, &ns, &mem), 0);
	assert_int_equal(ns, 777);
	assert_int_equal(mem, 11);
	cgroup_meter_close(&m);
}

/* The members: processes from cgroup.procs, threads from v2 cgroup.threads or v1 tasks. */
static void test_meter_members(void **state)
{
	struct fake *f = *state;
	struct cgroup_meter m;
	int procs = -1, threads = -1;
	pid_t *pids = NULL;

	fake_job(f, CGROUP_V2);
	put(f->cg.v2, "cpu.stat", "usage_usec 10\n");
	put(f->cg.v2, "memory.current", "1\n");
	put(f->cg.v2, "memory.stat", "anon 1\nfile_mapped 0\n");
	assert_int_equal(cgroup_meter_open(&m, &f->cg), 0);
	assert_int_equal(cgroup_meter_members(&m, &procs, &threads, NULL), -1); /* no lists */
	put(f->cg.v2, "cgroup.procs", "12\n30\n");
	put(f->cg.v2, "cgroup.threads", "12\n13\n14\n30\n");
	assert_int_equal(cgroup_meter_members(&m, &procs, &threads, &pids), 0);
	assert_int_equal(procs, 2);
	assert_int_equal(threads, 4);
	assert_int_equal(pids[0], 12);
	assert_int_equal(pids[1], 30);
	assert_int_equal(pids[2], -1);
	free(pids);
	/* read afresh each time */
	put(f->cg.v2, "cgroup.procs", "");
	put(f->cg.v2, "cgroup.threads", "");
	assert_int_equal(cgroup_meter_members(&m, &procs, &threads, NULL), 0);
	assert_int_equal(procs, 0);
	assert_int_equal(threads, 0);
	cgroup_meter_close(&m);
	assert_int_equal(m.dir_fd, -1);

	cgroup_job_release(&f->cg);
	fake_job(f, CGROUP_V1);
	put(f->cg.cpu, "cpuacct.usage", "777\n");
	put(f->cg.memory, "memory.usage_in_bytes", "11\n");
	put(f->cg.memory, "memory.stat", "total_rss 5\ntotal_mapped_file 6\n");
	put(f->cg.memory, "cgroup.procs", "7\n");
	put(f->cg.memory, "tasks", "7\n8\n");
	assert_int_equal(cgroup_meter_open(&m, &f->cg), 0);
	assert_int_equal(cgroup_meter_members(&m, &procs, &threads, NULL), 0);
	assert_int_equal(procs, 1);
	assert_int_equal(threads, 2);
	cgroup_meter_close(&m);
}

static void test_pids(void **state)
{
	struct fake *f = *state;
	pid_t *pids;

	fake_job(f, CGROUP_V2);
	assert_null(cgroup_job_pids(&f->cg));
	put(f->cg.v2, "cgroup.procs", "12\n345\n6789\n");
	pids = cgroup_job_pids(&f->cg);
	assert_non_null(pids);
	assert_int_equal(pids[0], 12);
	assert_int_equal(pids[1], 345);
	assert_int_equal(pids[2], 6789);
	assert_int_equal(pids[3], -1);
	free(pids);

	put(f->cg.v2, "cgroup.procs", "");
	pids = cgroup_job_pids(&f->cg);
	assert_non_null(pids);
	assert_int_equal(pids[0], -1);
	free(pids);
}

static void test_pids_many(void **state)
{
	struct fake *f = *state;
	char text[8192] = "";
	size_t len = 0;
	pid_t *pids;

	fake_job(f, CGROUP_V1);
	for (int i = 1; i <= 1000; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%d\n", 1000 + i);
	put(f->cg.memory, "cgroup.procs", text);
	put(f->cg.cpu, "cgroup.procs", "1\n");
	pids = cgroup_job_pids(&f->cg); /* v1: the memory hierarchy's list */
	assert_non_null(pids);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(pids[i], 1001 + i);
	assert_int_equal(pids[1000], -1);
	free(pids);
}

/* ---- adding, killing, removing ---- */

static void test_add_v2(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V2);
	errno = 0;
	assert_int_equal(cgroup_job_add(&f->cg, 4242), -1); /* no cgroup.procs */
	assert_int_equal(errno, ENOENT);
	put(f->cg.v2, "cgroup.procs", "");
	assert_int_equal(cgroup_job_add(&f->cg, 4242), 0);
	assert_string_equal(slurp_at(f->cg.v2, "cgroup.procs"), "4242\n");
	assert_int_equal(cgroup_job_add(&f->cg, 0), 0);
	assert_string_equal(slurp_at(f->cg.v2, "cgroup.procs"), "0\n");
	assert_int_equal(cgroup_job_add(&f->cg, 2147483647), 0);
	assert_string_equal(slurp_at(f->cg.v2, "cgroup.procs"), "2147483647\n");
}

static void test_add_v1_writes_both(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V1);
	put(f->cg.cpu, "cgroup.procs", "");
	put(f->cg.memory, "cgroup.procs", "");
	assert_int_equal(cgroup_job_add(&f->cg, 31337), 0);
	assert_string_equal(slurp_at(f->cg.cpu, "cgroup.procs"), "31337\n");
	assert_string_equal(slurp_at(f->cg.memory, "cgroup.procs"), "31337\n");
}

static void test_add_path_too_long(void **state)
{
	struct fake *f = *state;
	char *dir = xcalloc(PATH_MAX, 1);
	struct cgroup_job cg = { .kind = CGROUP_V2, .v2 = dir };

	(void)f;
	memset(dir, 'a', PATH_MAX - 4);
	assert_int_equal(cgroup_job_add(&cg, 1), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	free(dir);
}

static void test_kill_v2_uses_cgroup_kill(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V2);
	assert_int_equal(cgroup_job_kill(&f->cg), -1); /* no cgroup.procs */
	/* pids no one signals: with cgroup.kill the kernel does the killing */
	put(f->cg.v2, "cgroup.procs", "999999991\n999999992\n");
	put(f->cg.v2, "cgroup.kill", "");
	assert_int_equal(cgroup_job_kill(&f->cg), 2);
	assert_string_equal(slurp_at(f->cg.v2, "cgroup.kill"), "1");
}

static void expect_killed(pid_t *child)
{
	int status;

	assert_int_equal(waitpid(*child, &status, 0), *child);
	*child = 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void kill_listed(struct fake *f, const char *dir)
{
	char text[32];

	f->child = fork_sleeper();
	FORMAT(text, "%d\n", (int)f->child);
	put(dir, "cgroup.procs", text);
	/* the fake list never empties: every round signals the same pid, counted once */
	assert_int_equal(cgroup_job_kill(&f->cg), 1);
	expect_killed(&f->child);
}

static void test_kill_v2_without_cgroup_kill(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V2);
	kill_listed(f, f->cg.v2);
}

static void test_kill_v1(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V1);
	kill_listed(f, f->cg.memory);
}

static void test_kill_empty(void **state)
{
	struct fake *f = *state;

	fake_job(f, CGROUP_V1);
	put(f->cg.memory, "cgroup.procs", "");
	assert_int_equal(cgroup_job_kill(&f->cg), 0);
}

static void test_remove(void **state)
{
	struct fake *f = *state;
	char path[PATH_MAX];

	fake_job(f, CGROUP_V1);
	put(f->cg.memory, "leftover", "");
	errno = 0;
	assert_int_equal(cgroup_job_remove(&f->cg), -1); /* a plain dir says ENOTEMPTY, a cgroup EBUSY */
	assert_int_equal(errno, ENOTEMPTY);
	assert_false(exists_at(f->root, "cpu/job")); /* the other one still went */
	FORMAT(path, "%s/leftover", f->cg.memory);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cgroup_job_remove(&f->cg), 0);
	assert_false(exists_at(f->root, "memory/job"));
	/* already gone counts as removed */
	assert_int_equal(cgroup_job_remove(&f->cg), 0);
}

/* ---- the real cgroups of this machine ---- */

/* Is controller one of the comma-separated names in list? ("" matches the v2 line's empty list.) */
static int list_has(char *list, const char *controller)
{
	if (!*controller)
		return !*list;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
		if (strcmp(tok, controller) == 0)
			return 1;
	return 0;
}

/* This process's cgroup path in a v1 hierarchy ("memory"), or in v2 for ""; "/" when unknown. */
static void self_cgroup(const char *controller, char *out, size_t size)
{
	FILE *fp = fopen("/proc/self/cgroup", "r");
	char line[4096], *list, *path;

	snprintf(out, size, "/");
	while (fp && fgets(line, sizeof(line), fp)) {
		list = strchr(line, ':');
		path = list ? strchr(list + 1, ':') : NULL;
		if (!path)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (list_has(list + 1, controller)) {
			snprintf(out, size, "%s", path);
			break;
		}
	}
	if (fp)
		fclose(fp);
}

/* The directory of our own cgroup in the v1 hierarchy mounted at /sys/fs/cgroup/<controller>. */
static void self_v1_dir(const char *controller, char *out, size_t size)
{
	char rel[PATH_MAX];
	const char *tail;

	self_cgroup(controller, rel, sizeof(rel));
	tail = strcmp(rel, "/") ? rel : "";
	assert_true((size_t)snprintf(out, size, "%s/%s%s", CGROUP_ROOT, controller, tail) < size);
}

static int v1_usable(void)
{
	char cpu[PATH_MAX], memory[PATH_MAX];

	if (geteuid() != 0)
		return 0;
	self_v1_dir("cpu", cpu, sizeof(cpu));
	self_v1_dir("memory", memory, sizeof(memory));
	return access(memory, W_OK) == 0 && exists_at(memory, "memory.limit_in_bytes") &&
	       access(cpu, W_OK) == 0 && exists_at(cpu, "cpu.cfs_quota_us");
}

/*
 * A private root whose cpu and memory are symlinks to our own cgroups in the
 * machine's v1 hierarchies, so the job lands below them.
 */
static void real_v1_root(struct fake *f)
{
	static const char *const names[] = { "cpu", "memory", "cpuacct" };
	char target[PATH_MAX], link[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(names[i], "cpuacct") == 0 && access(CGROUP_ROOT "/cpuacct/cpuacct.usage", F_OK))
			continue; /* not mounted apart from cpu here */
		self_v1_dir(names[i], target, sizeof(target));
		FORMAT(link, "%s/%s", f->root, names[i]);
		assert_int_equal(symlink(target, link), 0);
	}
}

/* Tear down a real job: kill, reap, remove; quietly, as teardown runs after failures too. */
static int teardown_real(void **state)
{
	struct fake *f = *state;

	reap_child(&f->child);
	if (f->cg.kind != CGROUP_NONE) {
		cgroup_job_kill(&f->cg);
		for (int i = 0; i < 50 && cgroup_job_remove(&f->cg) < 0; i++)
			usleep(20000);
	}
	return teardown_fake(state);
}

/* Fork a child that moves itself into cg (before anything else) and then waits. */
static pid_t fork_member(const struct cgroup_job *cg, int hog)
{
	int fds[2];
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		c = cgroup_job_add(cg, 0) == 0 ? 'K' : 'E';
		if (write(fds[1], &c, 1) != 1 || c != 'K')
			_exit(3);
		alarm(30);
		for (size_t mb = 0; hog && mb < 4096; mb += 4) {
			char *p = malloc(4 << 20);
			if (p)
				memset(p, 1, 4 << 20);
		}
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(c, 'K');
	return pid;
}

static int pids_contain(const struct cgroup_job *cg, pid_t pid)
{
	pid_t *pids = cgroup_job_pids(cg);
	int found = 0;

	assert_non_null(pids);
	for (size_t i = 0; pids[i] != -1; i++)
		found |= pids[i] == pid;
	free(pids);
	return found;
}

static void test_real_detect_machine(void **state)
{
	struct err err = { 0 };

	(void)state;
	if (!v1_usable() || access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0)
		skip();
	/* this machine's layout: v1 controllers, no cgroup2 at the root */
	assert_int_equal(cgroup_detect(CGROUP_ROOT, &err), CGROUP_V1);
}

static void test_real_v1_job(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };
	char name[64], cpu[PATH_MAX], memory[PATH_MAX], line[PATH_MAX];
	const char *text;
	pid_t *pids;

	if (!v1_usable())
		skip();
	real_v1_root(f);
	assert_int_equal(cgroup_detect(f->root, &err), CGROUP_V1);
	FORMAT(name, "trainctl-test-%d", (int)getpid());
	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V1, f->root, name, &err), 0);
	FORMAT(cpu, "%s", f->cg.cpu);
	FORMAT(memory, "%s", f->cg.memory);
	assert_true(access(cpu, F_OK) == 0 && access(memory, F_OK) == 0);

	f->child = fork_member(&f->cg, 0);
	assert_true(pids_contain(&f->cg, f->child));
	FORMAT(line, "/proc/%d/cgroup", (int)f->child);
	text = slurp(line);
	assert_non_null(text);
	assert_non_null(strstr(text, name));

	assert_int_equal(cgroup_job_set_memory(&f->cg, 64 << 20, &err), 0);
	assert_int_equal(number_at(memory, "memory.limit_in_bytes"), 64 << 20);
	if (exists_at(memory, "memory.memsw.limit_in_bytes"))
		assert_int_equal(number_at(memory, "memory.memsw.limit_in_bytes"), 64 << 20);
	/* raising and removing need the other order of the two writes */
	assert_int_equal(cgroup_job_set_memory(&f->cg, 128 << 20, &err), 0);
	assert_int_equal(number_at(memory, "memory.limit_in_bytes"), 128 << 20);
	assert_int_equal(cgroup_job_set_memory(&f->cg, 0, &err), 0);
	assert_true(number_at(memory, "memory.limit_in_bytes") > (1LL << 62));
	assert_int_equal(cgroup_job_set_memory(&f->cg, 64 << 20, &err), 0);

	assert_int_equal(cgroup_job_set_cpu(&f->cg, 0.5, &err), 0);
	assert_int_equal(number_at(cpu, "cpu.cfs_quota_us"), 50000);
	assert_int_equal(number_at(cpu, "cpu.cfs_period_us"), 100000);
	assert_int_equal(cgroup_job_set_cpu(&f->cg, 0, &err), 0);
	assert_int_equal(number_at(cpu, "cpu.cfs_quota_us"), -1);

	assert_true(cgroup_job_memory_usage(&f->cg) >= 0);
	assert_int_equal(cgroup_job_oom_kills(&f->cg), 0);

	/* a cgroup with a process in it cannot go */
	assert_int_equal(cgroup_job_remove(&f->cg), -1);
	assert_int_equal(errno, EBUSY);

	assert_int_equal(cgroup_job_kill(&f->cg), 1);
	expect_killed(&f->child);
	pids = cgroup_job_pids(&f->cg);
	assert_non_null(pids);
	assert_int_equal(pids[0], -1);
	free(pids);
	assert_int_equal(cgroup_job_remove(&f->cg), 0);
	assert_int_equal(access(cpu, F_OK), -1);
	assert_int_equal(access(memory, F_OK), -1);
	cgroup_job_release(&f->cg);
}

/* The meter of a real v1 job: its CPU time from cpuacct, its memory from memory.stat. */
static void test_real_v1_meter(void **state)
{
	struct fake *f = *state;
	struct cgroup_meter m;
	char name[64];
	uint64_t cpu_ns = 0;
	int64_t mem = -1;
	int procs = -1, threads = -1;
	pid_t *pids = NULL, second;

	if (!v1_usable())
		skip();
	real_v1_root(f);
	FORMAT(name, "trainctl-test-meter-%d", (int)getpid());
	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V1, f->root, name, NULL), 0);
	f->child = fork_member(&f->cg, 0);
	assert_int_equal(cgroup_meter_open(&m, &f->cg), 0);
	assert_int_equal(cgroup_meter_read(&m, 1, &cpu_ns, &mem), 0);
	assert_true(cpu_ns > 0); /* the child ran, in the job's cpuacct group */
	assert_true(mem >= 0);
	assert_int_equal(cgroup_meter_members(&m, &procs, &threads, &pids), 0);
	assert_int_equal(procs, 1);
	assert_int_equal(threads, 1);
	assert_int_equal(pids[0], f->child);
	assert_int_equal(pids[1], -1);
	free(pids);
	/* a second member at once: the kernel's list of a second ago is not what we read */
	second = fork_member(&f->cg, 0);
	assert_int_equal(cgroup_meter_members(&m, &procs, &threads, NULL), 0);
	kill(second, SIGKILL);
	waitpid(second, NULL, 0);
	assert_int_equal(procs, 2);
	assert_int_equal(threads, 2);
	cgroup_meter_close(&m);
}

static void test_real_v1_oom_kill(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };
	char name[64];
	int status;

	if (!v1_usable())
		skip();
	real_v1_root(f);
	FORMAT(name, "trainctl-test-%d-oom", (int)getpid());
	assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V1, f->root, name, &err), 0);
	/* without memsw the job could swap instead of being killed */
	if (!exists_at(f->cg.memory, "memory.memsw.limit_in_bytes"))
		skip();
	assert_int_equal(cgroup_job_set_memory(&f->cg, 32 << 20, &err), 0);
	f->child = fork_member(&f->cg, 1);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	f->child = 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_true(cgroup_job_oom_kills(&f->cg) >= 1);
	assert_int_equal(cgroup_job_remove(&f->cg), 0);
	cgroup_job_release(&f->cg);
}

/* Our own directory in the machine's cgroup2 hierarchy, if there is one we may write. */
static int self_v2_dir(char *out, size_t size)
{
	static const char *const mounts[] = { CGROUP_ROOT, CGROUP_ROOT "/unified" };
	char rel[PATH_MAX];
	struct statfs sf;

	if (geteuid() != 0)
		return -1;
	self_cgroup("", rel, sizeof(rel));
	for (size_t i = 0; i < ARRAY_SIZE(mounts); i++) {
		if (statfs(mounts[i], &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
			continue;
		if ((size_t)snprintf(out, size, "%s%s", mounts[i], strcmp(rel, "/") ? rel : "") >= size)
			return -1;
		return exists_at(out, "cgroup.procs") ? 0 : -1;
	}
	return -1;
}

/*
 * cgroup2 without cpu and memory (this machine's "unified" mount): detection
 * and creation refuse it with a reason, and add, pids, kill and remove work
 * on a job directory made by hand.
 */
static void test_real_v2_without_controllers(void **state)
{
	struct fake *f = *state;
	struct err err = { 0 };
	char base[PATH_MAX], name[64];
	const char *controllers;

	if (self_v2_dir(base, sizeof(base)) < 0)
		skip();
	controllers = slurp_at(base, "cgroup.controllers");
	FORMAT(name, "trainctl-test-%d", (int)getpid());
	if (controllers && !(strstr(controllers, "cpu") && strstr(controllers, "memory"))) {
		assert_int_equal(cgroup_detect(base, &err), CGROUP_NONE);
		assert_non_null(strstr(err.msg, "cgroup.controllers has no cpu and memory"));
		assert_int_equal(cgroup_job_create(&f->cg, CGROUP_V2, base, name, &err), -1);
		assert_non_null(strstr(err.msg, "cannot enable the cpu controller"));
		assert_false(exists_at(base, name));
	}

	f->cg.v2 = xasprintf("%s/%s", base, name);
	assert_int_equal(mkdir(f->cg.v2, 0755), 0);
	f->cg.kind = CGROUP_V2;
	f->child = fork_member(&f->cg, 0);
	assert_true(pids_contain(&f->cg, f->child));
	assert_int_equal(cgroup_job_remove(&f->cg), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(cgroup_job_kill(&f->cg), 1);
	expect_killed(&f->child);
	assert_int_equal(cgroup_job_remove(&f->cg), 0);
	assert_false(exists_at(base, name));
	cgroup_job_release(&f->cg);
}

#define FAKE(t) cmocka_unit_test_setup_teardown(t, setup_fake, teardown_fake)
#define REAL(t) cmocka_unit_test_setup_teardown(t, setup_fake, teardown_real)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		FAKE(test_detect_v2),
		FAKE(test_detect_v2_keeps_existing_trainctl),
		FAKE(test_detect_v2_without_memory_is_none),
		FAKE(test_detect_v1),
		FAKE(test_detect_v1_cpu_cpuacct),
		FAKE(test_detect_v1_needs_memory),
		FAKE(test_detect_none_on_empty_dir),
		FAKE(test_create_v2_enables_each_parent),
		FAKE(test_create_v2_makes_missing_parents),
		FAKE(test_create_v1_both_hierarchies),
		FAKE(test_create_v1_without_hierarchies_fails),
		FAKE(test_create_rejects_bad_names),
		FAKE(test_set_cpu_v2),
		FAKE(test_set_cpu_needs_the_file),
		FAKE(test_set_cpu_v1),
		FAKE(test_set_memory_v2),
		FAKE(test_set_memory_v2_without_swap),
		FAKE(test_set_memory_v1),
		FAKE(test_set_memory_v1_without_memsw),
		cmocka_unit_test(test_no_cgroup),
		FAKE(test_oom_kills_v2),
		FAKE(test_oom_kills_v1),
		FAKE(test_memory_usage),
		FAKE(test_pids),
		cmocka_unit_test(test_parse_cpu_and_memory),
		FAKE(test_meter),
		FAKE(test_meter_members),
		FAKE(test_pids_many),
		FAKE(test_add_v2),
		FAKE(test_add_v1_writes_both),
		FAKE(test_add_path_too_long),
		FAKE(test_kill_v2_uses_cgroup_kill),
		FAKE(test_kill_v2_without_cgroup_kill),
		FAKE(test_kill_v1),
		FAKE(test_kill_empty),
		FAKE(test_remove),
		cmocka_unit_test(test_real_detect_machine),
		REAL(test_real_v1_job),
		REAL(test_real_v1_meter),
		REAL(test_real_v1_oom_kill),
		REAL(test_real_v2_without_controllers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
