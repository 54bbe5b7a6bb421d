/*
 * Per-job cgroups; see cgroup.h. A job's limits, OOM count and "kill
 * everything" all come from its cgroup, because a training job's processes
 * (dataloader workers, torchrun ranks, a shell's grandchildren) do not stay
 * in one process group or session, but they cannot leave their cgroup.
 *
 * Everything here is plain file I/O on the cgroup filesystem under a root we
 * are given, so the unit tests run it against a fake tree of ordinary files.
 * That is why a file only the kernel makes (cgroup.subtree_control in a new
 * directory, memory.swap.max, memory.memsw.limit_in_bytes) is written when it
 * is there and skipped when it is not, while the files a limit depends on
 * (cpu.max, memory.max, ...) must exist. cgroup_job_add runs in a forked
 * child before exec, so it uses only open/write/close on precomputed paths.
 */
#include "lib/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define CPU_PERIOD_US 100000
#define CPU_MIN_QUOTA_US 1000 /* the kernel refuses quotas under 1ms */
#define KILL_ROUNDS 20
#define KILL_PAUSE_NS (10 * 1000 * 1000)

const char *cgroup_kind_name(enum cgroup_kind kind)
{
	switch (kind) {
	case CGROUP_V2:
		return "v2";
	case CGROUP_V1:
		return "v1";
	case CGROUP_NONE:
		break;
	}
	return "none";
}

/* ---- small file helpers ---- */

static char *path_join(const char *dir, const char *file)
{
	return xasprintf("%s/%s", dir, file);
}

static int file_exists(const char *dir, const char *file)
{
	char *path = path_join(dir, file);
	int ok = access(path, F_OK) == 0;

	free(path);
	return ok;
}

static int is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Read the open file fd whole into sb (replacing its text), then close it; -1 with errno if not. */
static int fd_read_all(int fd, struct strbuf *sb)
{
	char buf[4096];
	ssize_t n;

	if (fd < 0)
		return -1;
	strbuf_reset(sb);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(sb, buf, (size_t)n);
	if (n < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/* Read dir/file whole into sb (replacing its text); -1 with errno if it cannot. */
static int file_read(const char *dir, const char *file, struct strbuf *sb)
{
	char *path = path_join(dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	free(path);
	return fd_read_all(fd, sb);
}

/*
 * Write len bytes of text to path in one write(2), with the given open
 * flags; -1 with errno if it fails. Async-signal-safe (open, write, close).
 */
static int path_write_exact(const char *path, const char *text, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags);
	ssize_t n;
	int saved;

	if (fd < 0)
		return -1;
	n = write(fd, text, len);
	saved = errno;
	close(fd);
	if (n == (ssize_t)len)
		return 0;
	errno = n < 0 ? saved : EIO;
	return -1;
}

/* Write value to dir/file with the given open flags; -1 with errno if it fails. */
static int file_write_raw(const char *dir, const char *file, const char *value, int flags)
{
	char *path = path_join(dir, file);
	int ret = path_write_exact(path, value, strlen(value), flags);
	int saved = errno;

	free(path);
	errno = saved;
	return ret;
}

/* Replace the value of dir/file; the error names the file and the value. */
static int file_write(const char *dir, const char *file, const char *value, struct err *err)
{
	if (file_write_raw(dir, file, value, O_TRUNC) == 0)
		return 0;
	return err_errno(err, "writing \"%s\" to %s/%s", value, dir, file);
}

/* Like file_write, for a file the kernel may not offer (skipped when absent). */
static int file_write_optional(const char *dir, const char *file, const char *value,
			       struct err *err)
{
	if (!file_exists(dir, file))
		return 0;
	return file_write(dir, file, value, err);
}

/* ---- pure parsers ---- */

/* Does the whitespace-separated list text contain word? */
static int has_word(const char *text, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = text; *p;) {
		size_t n;

		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		if (n == len && strncmp(p, word, len) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* The number after "key " on a line of a flat-keyed file; -1 when absent. */
static int64_t parse_keyed(const char *text, const char *key)
{
	size_t len = strlen(key);

	for (const char *line = text; *line; line = strchrnul(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, key, len) == 0 && line[len] == ' ')
			return strtoll(line + len + 1, NULL, 10);
	}
	return -1;
}

/* A number alone in a file ("123\n"); -1 when it is not one. */
static int64_t parse_number(const char *text)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (end == text || errno || v < 0)
		return -1;
	return v;
}

/* cgroup.procs text (one pid a line) into a -1 terminated array. */
static pid_t *parse_pids(const char *text)
{
	size_t len = 0, alloc = 8;
	pid_t *pids = xreallocarray(NULL, alloc, sizeof(*pids));
	char *end;

	for (const char *p = text; *p; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p) {
			end = (char *)p + 1;
			continue;
		}
		if (v <= 0)
			continue;
		if (len + 1 == alloc) {
			alloc *= 2;
			pids = xreallocarray(pids, alloc, sizeof(*pids));
		}
		pids[len++] = (pid_t)v;
	}
	pids[len] = -1;
	return pids;
}

static int64_t read_keyed(const char *dir, const char *file, const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	int64_t v = -1;

	if (dir && file_read(dir, file, &sb) == 0)
		v = parse_keyed(strbuf_str(&sb), key);
	strbuf_release(&sb);
	return v;
}

static int64_t read_number(const char *dir, const char *file)
{
	struct strbuf sb = STRBUF_INIT;
	int64_t v = -1;

	if (dir && file_read(dir, file, &sb) == 0)
		v = parse_number(strbuf_str(&sb));
	strbuf_release(&sb);
	return v;
}

/* ---- creating directories ---- */

/* A relative path of plain names: no "", ".", ".." parts, not absolute. */
static int name_valid(const char *name)
{
	const char *p = name;

	if (!*name || *name == '/')
		return 0;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += n;
		if (*p == '/' && *++p == '\0')
			return 0;
	}
	return 1;
}

/* Is controller listed in dir/cgroup.subtree_control? */
static int v2_subtree_has(const char *dir, const char *controller)
{
	struct strbuf sb = STRBUF_INIT;
	int yes = file_read(dir, "cgroup.subtree_control", &sb) == 0 &&
		  has_word(strbuf_str(&sb), controller);

	strbuf_release(&sb);
	return yes;
}

/*
 * Turn controller on for dir's children. The kernel's write fails with
 * EBUSY or ENOENT when it cannot (processes in dir; controller not offered to
 * dir); what counts is whether it ends up listed, which is also how "already
 * on" looks. No cgroup.subtree_control at all means dir is not a kernel
 * cgroup (a fake tree): nothing to enable.
 */
static int v2_enable_one(const char *dir, const char *controller, struct err *err)
{
	char *value;
	int ret = 0, saved;

	if (!file_exists(dir, "cgroup.subtree_control"))
		return 0;
	value = xasprintf("+%s\n", controller);
	if (file_write_raw(dir, "cgroup.subtree_control", value, O_APPEND) < 0) {
		saved = errno;
		if (v2_subtree_has(dir, controller))
			ret = 0;
		else if (saved == ENOENT)
			ret = err_set(err, "cannot enable the %s controller in %s: "
					   "its cgroup.controllers does not list it",
				      controller, dir);
		else if (saved == EBUSY)
			ret = err_set(err, "cannot enable the %s controller in %s: "
					   "it holds processes itself",
				      controller, dir);
		else
			ret = err_set(err, "cannot enable the %s controller in %s: %s", controller,
				      dir, strerror(saved));
	}
	free(value);
	return ret;
}

static int v2_enable(const char *dir, struct err *err)
{
	if (v2_enable_one(dir, "cpu", err) < 0)
		return -1;
	return v2_enable_one(dir, "memory", err);
}

/*
 * mkdir -p base/name. For v2, each parent first gets +cpu +memory in its
 * cgroup.subtree_control (the new leaf does not: a cgroup with controllers
 * enabled for its children may not hold processes itself).
 */
static int mkdir_tree(const char *base, const char *name, int v2, struct err *err)
{
	struct strbuf dir = STRBUF_INIT;
	const char *p = name;
	int ret = -1;

	strbuf_addstr(&dir, base);
	while (*p) {
		size_t n = strcspn(p, "/");

		if (v2 && v2_enable(dir.buf, err) < 0)
			goto out;
		strbuf_addch(&dir, '/');
		strbuf_add(&dir, p, n);
		if (mkdir(dir.buf, 0755) < 0 && errno != EEXIST) {
			err_errno(err, "creating cgroup %s", dir.buf);
			goto out;
		}
		p += n;
		p += *p == '/';
	}
	ret = 0;
out:
	strbuf_release(&dir);
	return ret;
}

/*
 * The real directory (symlinks resolved) of the first of root/names[i] that
 * is a directory; caller frees. Several names because the cpu hierarchy may be
 * mounted at cpu,cpuacct, with cpu a symlink to it (Debian) or missing.
 */
static char *v1_hierarchy(const char *root, const char *const *names, struct err *err)
{
	for (size_t i = 0; names[i]; i++) {
		char *path = path_join(root, names[i]);
		char *real = is_directory(path) ? realpath(path, NULL) : NULL;

		free(path);
		if (real)
			return real;
	}
	err_set(err, "no cgroup v1 %s hierarchy at %s/%s", names[0], root, names[0]);
	return NULL;
}

static char *v1_cpu_dir(const char *root, struct err *err)
{
	static const char *const names[] = { "cpu", "cpu,cpuacct", "cpuacct,cpu", NULL };

	return v1_hierarchy(root, names, err);
}

static char *v1_memory_dir(const char *root, struct err *err)
{
	static const char *const names[] = { "memory", NULL };

	return v1_hierarchy(root, names, err);
}

/*
 * The cpuacct hierarchy when it is mounted apart from cpu (as here: cpu and
 * cpuacct each on their own); NULL when it is co-mounted with cpu (Debian's
 * cpu,cpuacct: the cpu directory then has cpuacct.usage itself) or absent.
 */
static char *v1_cpuacct_dir(const char *root, const char *cpu)
{
	static const char *const names[] = { "cpuacct", NULL };
	char *dir = v1_hierarchy(root, names, NULL);

	if (dir && strcmp(dir, cpu) == 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* ---- detection ---- */

/* Does root/cgroup.controllers list cpu and memory? */
static int v2_has_controllers(const char *root, struct err *err)
{
	struct strbuf sb = STRBUF_INIT;
	int ret = 0;

	if (file_read(root, "cgroup.controllers", &sb) < 0) {
		ret = err_errno(err, "cannot read %s/cgroup.controllers", root);
	} else if (!has_word(strbuf_str(&sb), "cpu") || !has_word(strbuf_str(&sb), "memory")) {
		ret = err_set(err, "%s/cgroup.controllers has no cpu and memory (\"%.*s\")", root,
			      (int)strcspn(strbuf_str(&sb), "\n"), strbuf_str(&sb));
	}
	strbuf_release(&sb);
	return ret;
}

/* Did the probe cgroup really get cpu and memory? (Checked when the kernel made the file.) */
static int v2_probe_check(const char *dir, struct err *err)
{
	struct strbuf sb = STRBUF_INIT;
	int ret = 0;

	if (file_read(dir, "cgroup.controllers", &sb) == 0 &&
	    (!has_word(strbuf_str(&sb), "cpu") || !has_word(strbuf_str(&sb), "memory")))
		ret = err_set(err, "a cgroup created at %s does not get cpu and memory", dir);
	strbuf_release(&sb);
	return ret;
}

/* Can we create root/trainctl/probe-PID with cpu and memory? Leaves nothing new behind. */
static int v2_detect(const char *root, struct err *err)
{
	struct cgroup_job probe = { 0 };
	char *top, *name;
	int made_top, ret;

	if (v2_has_controllers(root, err) < 0)
		return -1;
	top = path_join(root, "trainctl");
	name = xasprintf("trainctl/probe-%d", (int)getpid());
	made_top = mkdir(top, 0755) == 0;
	ret = cgroup_job_create(&probe, CGROUP_V2, root, name, err);
	if (ret == 0) {
		ret = v2_probe_check(probe.v2, err);
		cgroup_job_remove(&probe);
		cgroup_job_release(&probe);
	}
	if (made_top)
		rmdir(top);
	free(top);
	free(name);
	return ret;
}

/* Can we mkdir (and rmdir) a probe directory in dir? */
static int v1_probe(const char *dir, struct err *err)
{
	char *probe = xasprintf("%s/trainctl-probe-%d", dir, (int)getpid());
	int ret = 0;

	if (mkdir(probe, 0755) < 0 && errno != EEXIST)
		ret = err_errno(err, "cannot create a cgroup in %s", dir);
	else
		rmdir(probe);
	free(probe);
	return ret;
}

static int v1_detect(const char *root, struct err *err)
{
	char *cpu = v1_cpu_dir(root, err);
	char *memory = cpu ? v1_memory_dir(root, err) : NULL;
	int ret = -1;

	if (cpu && memory && v1_probe(cpu, err) == 0 && v1_probe(memory, err) == 0)
		ret = 0;
	free(cpu);
	free(memory);
	return ret;
}

enum cgroup_kind cgroup_detect(const char *root, struct err *err)
{
	struct err v2 = { 0 }, v1 = { 0 };

	if (v2_detect(root, &v2) == 0)
		return CGROUP_V2;
	if (v1_detect(root, &v1) == 0)
		return CGROUP_V1;
	err_set(err, "no usable cgroups under %s (v2: %.480s; v1: %.480s)", root, v2.msg, v1.msg);
	return CGROUP_NONE;
}

/* ---- creating and removing a job's cgroup ---- */

static int v2_create(struct cgroup_job *cg, const char *root, const char *name,
		     struct err *err)
{
	if (mkdir_tree(root, name, 1, err) < 0)
		return -1;
	cg->v2 = path_join(root, name);
	return 0;
}

/*
 * The job's directories in the v1 hierarchies; with create, made too. A
 * separate cpuacct hierarchy is optional: without it (or when it cannot be
 * made) the job's CPU time is read from /proc instead of its cgroup.
 */
static int v1_paths(struct cgroup_job *cg, const char *root, const char *name, int create,
		    struct err *err)
{
	char *cpu = v1_cpu_dir(root, err);
	char *memory = cpu ? v1_memory_dir(root, err) : NULL;
	char *cpuacct = cpu ? v1_cpuacct_dir(root, cpu) : NULL;
	int ret = -1;

	if (!cpu || !memory)
		goto out;
	if (create && (mkdir_tree(cpu, name, 0, err) < 0 || mkdir_tree(memory, name, 0, err) < 0))
		goto out;
	cg->cpu = path_join(cpu, name);
	cg->memory = path_join(memory, name);
	if (cpuacct && (!create || mkdir_tree(cpuacct, name, 0, NULL) == 0))
		cg->cpuacct = path_join(cpuacct, name);
	ret = 0;
out:
	free(cpu);
	free(memory);
	free(cpuacct);
	return ret;
}

/* Fill cg with the job's paths, making the directories when create is set. */
static int job_paths(struct cgroup_job *cg, enum cgroup_kind kind, const char *root,
		     const char *name, int create, struct err *err)
{
	int ret;

	memset(cg, 0, sizeof(*cg));
	if (!name_valid(name))
		return err_set(err, "bad cgroup name \"%s\" (want a relative path like trainctl/job-1)",
			       name);
	if (kind == CGROUP_V2)
		ret = create ? v2_create(cg, root, name, err) : (cg->v2 = path_join(root, name), 0);
	else if (kind == CGROUP_V1)
		ret = v1_paths(cg, root, name, create, err);
	else
		ret = err_set(err, "no usable cgroups to create %s in", name);
	if (ret < 0) {
		cgroup_job_release(cg);
		return -1;
	}
	cg->kind = kind;
	return 0;
}

int cgroup_job_create(struct cgroup_job *cg, enum cgroup_kind kind, const char *root,
		      const char *name, struct err *err)
{
	return job_paths(cg, kind, root, name, 1, err);
}

int cgroup_job_locate(struct cgroup_job *cg, enum cgroup_kind kind, const char *root,
		      const char *name)
{
	return job_paths(cg, kind, root, name, 0, NULL);
}

/* rmdir, where already gone counts as done. */
static int remove_dir(const char *dir)
{
	if (!dir || rmdir(dir) == 0 || errno == ENOENT)
		return 0;
	return -1;
}

/* Remove the now empty per-home and "trainctl" directories above a job's cgroup. */
static void remove_empty_parents(const char *dir)
{
	char *copy = xstrdup(dir);

	for (int level = 0; level < 2; level++) {
		char *slash = strrchr(copy, '/');
		if (!slash || slash == copy)
			break;
		*slash = '\0';
		if (rmdir(copy) < 0) /* not empty: another job of the home, or another home */
			break;
	}
	free(copy);
}

int cgroup_job_remove(const struct cgroup_job *cg)
{
	const char *dirs[] = { cg->v2, cg->cpu, cg->memory, cg->cpuacct };
	int ret = 0, saved = 0;

	if (cg->kind == CGROUP_NONE) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (remove_dir(dirs[i]) < 0 && ret == 0) {
			saved = errno;
			ret = -1;
		} else if (dirs[i]) {
			remove_empty_parents(dirs[i]);
		}
	}
	if (ret < 0)
		errno = saved;
	return ret;
}

void cgroup_job_release(struct cgroup_job *cg)
{
	free(cg->v2);
	free(cg->cpu);
	free(cg->memory);
	free(cg->cpuacct);
	memset(cg, 0, sizeof(*cg));
}

/* ---- adding a process (async-signal-safe) ---- */

/* Decimal digits of pid and a newline into buf (at least 16 bytes); returns the length. */
static size_t format_pid(char *buf, pid_t pid)
{
	char tmp[16];
	size_t n = 0, len = 0;
	unsigned long v = pid > 0 ? (unsigned long)pid : 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		buf[len++] = tmp[--n];
	buf[len++] = '\n';
	return len;
}

/* dir + "/cgroup.procs" into path without library calls; -1 if it does not fit. */
static int procs_path(char *path, size_t size, const char *dir)
{
	static const char file[] = "/cgroup.procs";
	size_t len = 0;

	for (; dir[len]; len++) {
		if (len + sizeof(file) >= size)
			return -1;
		path[len] = dir[len];
	}
	for (size_t i = 0; i < sizeof(file); i++)
		path[len + i] = file[i];
	return 0;
}

static int procs_write(const char *dir, const char *text, size_t len)
{
	char path[PATH_MAX];

	if (procs_path(path, sizeof(path), dir) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return path_write_exact(path, text, len, O_TRUNC);
}

int cgroup_job_add(const struct cgroup_job *cg, pid_t pid)
{
	char text[16];
	size_t len = format_pid(text, pid);

	if (cg->kind == CGROUP_V2)
		return procs_write(cg->v2, text, len);
	if (cg->kind == CGROUP_V1) {
		if (procs_write(cg->cpu, text, len) < 0 || procs_write(cg->memory, text, len) < 0)
			return -1;
		/* Optional: without it the job's CPU time comes from /proc. */
		if (cg->cpuacct)
			(void)procs_write(cg->cpuacct, text, len);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

/* ---- limits ---- */

static int no_cgroup(struct err *err)
{
	return err_set(err, "the job has no cgroup");
}

int cgroup_job_set_cpu(const struct cgroup_job *cg, double cpus, struct err *err)
{
	char *quota;
	int64_t us;
	int ret;

	if (!(cpus >= 0) || cpus > 1e6)
		return err_usage(err, "bad CPU limit %g (want a number of CPUs, 0 for none)", cpus);
	us = (int64_t)llround(cpus * CPU_PERIOD_US);
	if (cpus > 0 && us < CPU_MIN_QUOTA_US)
		us = CPU_MIN_QUOTA_US;
	if (cg->kind == CGROUP_V2) {
		quota = cpus > 0 ? xasprintf("%" PRId64 " %d", us, CPU_PERIOD_US)
				 : xasprintf("max %d", CPU_PERIOD_US);
		ret = file_write(cg->v2, "cpu.max", quota, err);
	} else if (cg->kind == CGROUP_V1) {
		quota = cpus > 0 ? xasprintf("%" PRId64, us) : xstrdup("-1");
		ret = file_write(cg->cpu, "cpu.cfs_period_us", "100000", err);
		if (ret == 0)
			ret = file_write(cg->cpu, "cpu.cfs_quota_us", quota, err);
	} else {
		return no_cgroup(err);
	}
	free(quota);
	return ret;
}

static int v2_set_memory(const struct cgroup_job *cg, int64_t bytes, struct err *err)
{
	char *limit = bytes ? xasprintf("%" PRId64, bytes) : xstrdup("max");
	/* Without swap.max = 0 the kernel swaps the job out instead of holding it to the limit. */
	int ret = file_write(cg->v2, "memory.max", limit, err);

	if (ret == 0)
		ret = file_write_optional(cg->v2, "memory.swap.max", bytes ? "0" : "max", err);
	free(limit);
	return ret;
}

/*
 * v1 keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every
 * step: raising a limit sets memsw first, lowering sets memory first. memsw
 * (memory plus swap) equal to the limit is what makes the limit hold.
 */
static int v1_set_memory(const struct cgroup_job *cg, int64_t bytes, struct err *err)
{
	char *limit = bytes ? xasprintf("%" PRId64, bytes) : xstrdup("-1");
	int64_t current = read_number(cg->memory, "memory.limit_in_bytes");
	int raising = bytes == 0 || current < 0 || bytes >= current;
	int ret;

	if (raising) {
		ret = file_write_optional(cg->memory, "memory.memsw.limit_in_bytes", limit, err);
		if (ret == 0)
			ret = file_write(cg->memory, "memory.limit_in_bytes", limit, err);
	} else {
		ret = file_write(cg->memory, "memory.limit_in_bytes", limit, err);
		if (ret == 0)
			ret = file_write_optional(cg->memory, "memory.memsw.limit_in_bytes", limit,
						  err);
	}
	free(limit);
	return ret;
}

int cgroup_job_set_memory(const struct cgroup_job *cg, int64_t bytes, struct err *err)
{
	if (bytes < 0)
		return err_usage(err, "bad memory limit %" PRId64 " (want bytes, 0 for none)", bytes);
	if (cg->kind == CGROUP_V2)
		return v2_set_memory(cg, bytes, err);
	if (cg->kind == CGROUP_V1)
		return v1_set_memory(cg, bytes, err);
	return no_cgroup(err);
}

/* ---- reading ---- */

int64_t cgroup_job_oom_kills(const struct cgroup_job *cg)
{
	if (cg->kind == CGROUP_V2)
		return read_keyed(cg->v2, "memory.events", "oom_kill");
	if (cg->kind == CGROUP_V1)
		return read_keyed(cg->memory, "memory.oom_control", "oom_kill");
	return -1;
}

int64_t cgroup_job_memory_usage(const struct cgroup_job *cg)
{
	if (cg->kind == CGROUP_V2)
		return read_number(cg->v2, "memory.current");
	if (cg->kind == CGROUP_V1)
		return read_number(cg->memory, "memory.usage_in_bytes");
	return -1;
}

/* The directory whose cgroup.procs lists the job. */
static const char *procs_dir(const struct cgroup_job *cg)
{
	if (cg->kind == CGROUP_V2)
		return cg->v2;
	if (cg->kind == CGROUP_V1)
		return cg->memory;
	return NULL;
}

/* ---- the meter: a job's totals, one pread per file per tick ---- */

int cgroup_parse_cpu(enum cgroup_kind kind, const char *text, uint64_t *cpu_ns)
{
	int64_t v = kind == CGROUP_V2 ? parse_keyed(text, "usage_usec") : parse_number(text);

	if (v < 0)
		return -1;
	*cpu_ns = kind == CGROUP_V2 ? (uint64_t)v * 1000 : (uint64_t)v;
	return 0;
}

int cgroup_parse_memory(enum cgroup_kind kind, const char *text, int64_t *mem_bytes)
{
	int64_t anon = parse_keyed(text, kind == CGROUP_V2 ? "anon" : "total_rss");
	int64_t mapped = parse_keyed(text, kind == CGROUP_V2 ? "file_mapped" : "total_mapped_file");

	if (anon < 0 || mapped < 0)
		return -1;
	*mem_bytes = anon + mapped;
	return 0;
}

static int open_in(const char *dir, const char *file)
{
	char *path;
	int fd;

	if (!dir)
		return -1;
	path = path_join(dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	return fd;
}

int cgroup_meter_open(struct cgroup_meter *m, const struct cgroup_job *cg)
{
	const char *dir = procs_dir(cg);

	*m = (struct cgroup_meter){ .kind = cg->kind, .cpu_fd = -1, .usage_fd = -1, .stat_fd = -1,
				    .dir_fd = -1, .cache_bytes = -1 };
	if (dir)
		m->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cg->kind == CGROUP_V2) {
		m->cpu_fd = open_in(cg->v2, "cpu.stat");
		m->usage_fd = open_in(cg->v2, "memory.current");
		m->stat_fd = open_in(cg->v2, "memory.stat");
	} else if (cg->kind == CGROUP_V1) {
		/* cpuacct.usage lives in the cpu directory when the two are co-mounted. */
		m->cpu_fd = open_in(cg->cpuacct ? cg->cpuacct : cg->cpu, "cpuacct.usage");
		m->usage_fd = open_in(cg->memory, "memory.usage_in_bytes");
		m->stat_fd = open_in(cg->memory, "memory.stat");
	}
	if (m->cpu_fd < 0 || m->usage_fd < 0 || m->stat_fd < 0 || m->dir_fd < 0) {
		cgroup_meter_close(m);
		return -1;
	}
	return 0;
}

/* Read the whole of a small file again from its start into buf. */
static int pread_text(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int cgroup_meter_read(struct cgroup_meter *m, int full, uint64_t *cpu_ns, int64_t *mem_bytes)
{
	char buf[8192];
	int64_t usage;

	if (m->cpu_fd < 0 || pread_text(m->cpu_fd, buf, sizeof(buf)) < 0 ||
	    cgroup_parse_cpu(m->kind, buf, cpu_ns) < 0)
		return -1;
	if (pread_text(m->usage_fd, buf, sizeof(buf)) < 0 || (usage = parse_number(buf)) < 0)
		return -1;
	if (full || m->cache_bytes < 0) {
		if (pread_text(m->stat_fd, buf, sizeof(buf)) < 0 ||
		    cgroup_parse_memory(m->kind, buf, mem_bytes) < 0)
			return -1;
		m->cache_bytes = usage > *mem_bytes ? usage - *mem_bytes : 0;
		return 0;
	}
	*mem_bytes = usage > m->cache_bytes ? usage - m->cache_bytes : 0;
	return 0;
}

/* The number of lines of a list file (one pid or tid a line). */
static int count_lines(const char *text)
{
	int n = 0;

	for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	return n;
}

int cgroup_meter_members(const struct cgroup_meter *m, int *procs, int *threads, pid_t **pids)
{
	struct strbuf list = STRBUF_INIT, tasks = STRBUF_INIT;
	const char *threads_file = m->kind == CGROUP_V2 ? "cgroup.threads" : "tasks";
	int rc = -1;

	if (m->dir_fd < 0 ||
	    fd_read_all(openat(m->dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC), &list) < 0 ||
	    fd_read_all(openat(m->dir_fd, threads_file, O_RDONLY | O_CLOEXEC), &tasks) < 0)
		goto out;
	*procs = count_lines(strbuf_str(&list));
	*threads = count_lines(strbuf_str(&tasks));
	if (pids)
		*pids = parse_pids(strbuf_str(&list));
	rc = 0;
out:
	strbuf_release(&list);
	strbuf_release(&tasks);
	return rc;
}

void cgroup_meter_close(struct cgroup_meter *m)
{
	int *fds[] = { &m->cpu_fd, &m->usage_fd, &m->stat_fd, &m->dir_fd };

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

pid_t *cgroup_job_pids(const struct cgroup_job *cg)
{
	const char *dir = procs_dir(cg);
	struct strbuf sb = STRBUF_INIT;
	pid_t *pids = NULL;

	if (dir && file_read(dir, "cgroup.procs", &sb) == 0)
		pids = parse_pids(strbuf_str(&sb));
	strbuf_release(&sb);
	return pids;
}

/* ---- killing ---- */

static size_t pids_count(const pid_t *pids)
{
	size_t n = 0;

	while (pids[n] != -1)
		n++;
	return n;
}

static int pids_contain(const pid_t *pids, size_t len, pid_t pid)
{
	for (size_t i = 0; i < len; i++)
		if (pids[i] == pid)
			return 1;
	return 0;
}

/*
 * SIGKILL what cgroup.procs lists until it lists nothing (a process may fork
 * while we read), for a few rounds. Returns how many distinct pids were
 * signalled, or -1 when cgroup.procs cannot be read at all.
 */
static int kill_listed(const struct cgroup_job *cg)
{
	const struct timespec pause = { 0, KILL_PAUSE_NS };
	pid_t *seen = NULL, *pids;
	size_t nseen = 0;
	int round;

	for (round = 0; round < KILL_ROUNDS; round++) {
		pids = cgroup_job_pids(cg);
		if (!pids) {
			free(seen);
			return round ? (int)nseen : -1;
		}
		if (pids[0] == -1) {
			free(pids);
			break;
		}
		for (size_t i = 0; pids[i] != -1; i++) {
			if (kill(pids[i], SIGKILL) < 0 || pids_contain(seen, nseen, pids[i]))
				continue;
			seen = xreallocarray(seen, nseen + 1, sizeof(*seen));
			seen[nseen++] = pids[i];
		}
		free(pids);
		nanosleep(&pause, NULL);
	}
	free(seen);
	return (int)nseen;
}

int cgroup_job_kill(const struct cgroup_job *cg)
{
	pid_t *pids;
	int count;

	if (cg->kind != CGROUP_V2 || !file_exists(cg->v2, "cgroup.kill"))
		return cg->kind == CGROUP_NONE ? -1 : kill_listed(cg);
	/* cgroup.kill (Linux 5.14) kills everything at once, forks included. */
	pids = cgroup_job_pids(cg);
	if (!pids)
		return -1;
	count = (int)pids_count(pids);
	free(pids);
	if (file_write_raw(cg->v2, "cgroup.kill", "1", O_TRUNC) < 0)
		return kill_listed(cg);
	return count;
}

char *cgroup_job_name(const char *home, int64_t id)
{
	unsigned long h = 2166136261u; /* FNV-1a: each state directory gets its own subtree */

	for (; *home; home++)
		h = ((h ^ (unsigned char)*home) * 16777619u) & 0xffffffffu;
	return xasprintf("trainctl/%08lx/job-%lld", h, (long long)id);
}
