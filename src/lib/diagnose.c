/*
 * diagnose: facts about processes, gathered over a window, and the rules
 * that turn them into findings; see diagnose.h.
 *
 * Only what held for the whole window is trusted: a process is "stuck in D"
 * when every look found it in D, "deadlocked" when every look found all of
 * its threads waiting on futexes and it used no CPU. A single snapshot
 * cannot tell a stall from a blink.
 */
#include "lib/diagnose.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/cgroup.h"
#include "lib/parse.h"
#include "lib/xmalloc.h"

#define TICK_MS 200

/* ---- the window ------------------------------------------------------------ */

struct diag_watch {
	int dirfd;
	uint64_t cpu0;
	struct proc_io io0;
	int io0_ok;
};

static uint64_t cpu_ticks(const struct proc_stat *st)
{
	return st->utime + st->stime;
}

static int wchan_is_futex(const char *wchan)
{
	return strncmp(wchan, "futex", 5) == 0;
}

/* One look at every thread: their states into p->groups (replaced), and the tick counters. */
static void look_at_threads(int dirfd, struct diag_proc *p)
{
	int task = openat(dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = task >= 0 ? fdopendir(task) : NULL;
	struct dirent *de;
	int all_futex = 1, any = 0;

	if (!dir) {
		if (task >= 0)
			close(task);
		return;
	}
	p->ngroups = 0;
	while ((de = readdir(dir)) != NULL) {
		char path[300], text[1024], wchan[48] = "";
		struct proc_stat st;
		int g;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/stat", de->d_name);
		if (procinfo_read(task, path, text, sizeof(text)) < 0 || proc_parse_stat(text, &st) < 0)
			continue; /* the thread ended meanwhile */
		snprintf(path, sizeof(path), "%s/wchan", de->d_name);
		if (procinfo_read(task, path, wchan, sizeof(wchan)) < 0 || strcmp(wchan, "0") == 0)
			wchan[0] = '\0';
		any = 1;
		if (st.state != 'S' || !wchan_is_futex(wchan))
			all_futex = 0;
		for (g = 0; g < p->ngroups; g++) {
			if (p->groups[g].state == st.state && strcmp(p->groups[g].wchan, wchan) == 0)
				break;
		}
		if (g == p->ngroups && g < DIAG_MAX_GROUPS) {
			p->groups[g].state = st.state;
			snprintf(p->groups[g].wchan, sizeof(p->groups[g].wchan), "%s", wchan);
			p->groups[g].count = 0;
			p->ngroups++;
		}
		if (g < p->ngroups)
			p->groups[g].count++;
	}
	closedir(dir);
	if (any && all_futex)
		p->ticks_futex++;
}

/* One look at a process during the window; marks it gone when it has exited. */
static void look(struct diag_watch *w, struct diag_proc *p)
{
	char text[1024];

	if (p->gone)
		return;
	if (procinfo_read(w->dirfd, "stat", text, sizeof(text)) <= 0 ||
	    proc_parse_stat(text, &p->st) < 0) {
		p->gone = 1;
		return;
	}
	p->ticks++;
	if (p->st.state == 'R')
		p->ticks_running++;
	if (p->st.state == 'D')
		p->ticks_d++;
	if (p->st.state == 'T' || p->st.state == 't')
		p->ticks_stopped++;
	look_at_threads(w->dirfd, p);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0)
		;
}

static void window_start(struct diag_watch *w, struct diag_proc *p)
{
	char text[1024];

	look(w, p);
	w->cpu0 = cpu_ticks(&p->st);
	w->io0_ok = procinfo_read(w->dirfd, "io", text, sizeof(text)) > 0 &&
		    procinfo_parse_io(text, &w->io0) == 0;
}

static int64_t delta(int64_t a, int64_t b)
{
	return a >= 0 && b >= 0 ? b - a : -1;
}

static void window_end(struct diag_watch *w, struct diag_proc *p, int64_t window_ms)
{
	long hz = sysconf(_SC_CLK_TCK);
	char text[1024];
	struct proc_io io1;

	look(w, p);
	p->cpu_percent = p->gone || window_ms <= 0 ? 0 :
		(double)(cpu_ticks(&p->st) - w->cpu0) * 100000.0 / (double)(hz > 0 ? hz : 100) /
			(double)window_ms;
	p->read_bytes = p->write_bytes = p->rchar = p->wchar = -1;
	if (w->io0_ok && procinfo_read(w->dirfd, "io", text, sizeof(text)) > 0 &&
	    procinfo_parse_io(text, &io1) == 0) {
		p->read_bytes = delta(w->io0.read_bytes, io1.read_bytes);
		p->write_bytes = delta(w->io0.write_bytes, io1.write_bytes);
		p->rchar = delta(w->io0.rchar, io1.rchar);
		p->wchar = delta(w->io0.wchar, io1.wchar);
	}
}

/* ---- the facts at the end ------------------------------------------------- */

static void gather_cmdline(int dirfd, struct diag_proc *p)
{
	ssize_t n = procinfo_read(dirfd, "cmdline", p->cmdline, sizeof(p->cmdline));

	if (n <= 0) { /* a kernel thread or a zombie */
		snprintf(p->cmdline, sizeof(p->cmdline), "[%s]", p->st.comm);
		return;
	}
	for (ssize_t i = 0; i < n - 1; i++) {
		if (p->cmdline[i] == '\0')
			p->cmdline[i] = ' ';
	}
}

static void gather_user(struct diag_proc *p)
{
	struct passwd pw, *found = NULL;
	char buf[1024];

	if (getpwuid_r(p->status.uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		snprintf(p->user, sizeof(p->user), "%s", pw.pw_name);
	else
		snprintf(p->user, sizeof(p->user), "%u", (unsigned)p->status.uid);
}

/* What fd N of the process is: its link target and whether it is open for writing. */
static void describe_fd(int dirfd, int fd, struct diag_fd *out)
{
	char name[64], text[512];
	int flags = 0;

	out->fd = fd;
	snprintf(name, sizeof(name), "fd/%d", fd);
	if (procinfo_readlink(dirfd, name, out->target, sizeof(out->target)) < 0)
		snprintf(out->target, sizeof(out->target), "?");
	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	if (procinfo_read(dirfd, name, text, sizeof(text)) > 0)
		procinfo_parse_fdinfo_flags(text, &flags);
	out->writing = (flags & O_ACCMODE) != O_RDONLY;
	if (strncmp(out->target, "socket:", 7) == 0)
		out->kind = DIAG_FD_SOCKET;
	else if (strncmp(out->target, "pipe:", 5) == 0)
		out->kind = DIAG_FD_PIPE;
	else if (strncmp(out->target, "/dev/nvidia", 11) == 0)
		out->kind = DIAG_FD_GPU;
	else if (out->target[0] == '/' && strncmp(out->target, "/dev/", 5) != 0)
		out->kind = DIAG_FD_FILE;
	else
		out->kind = DIAG_FD_OTHER;
}

static int fd_is_notable(const struct diag_fd *f)
{
	return f->kind == DIAG_FD_GPU || f->kind == DIAG_FD_SOCKET ||
	       (f->kind == DIAG_FD_FILE && f->writing);
}

/* Count the open files and keep the notable ones; -1 when they may not be read. */
static int gather_fds(int dirfd, struct diag_proc *p)
{
	int fdd = openat(dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fdd >= 0 ? fdopendir(fdd) : NULL;
	struct dirent *de;
	char text[4096];
	int64_t hard;

	p->fd_limit = -1;
	if (procinfo_read(dirfd, "limits", text, sizeof(text)) > 0)
		procinfo_parse_nofile(text, &p->fd_limit, &hard);
	if (!dir) {
		if (fdd >= 0)
			close(fdd);
		p->nfds = -1;
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		struct diag_fd f;

		if (de->d_name[0] == '.')
			continue;
		p->nfds++;
		describe_fd(dirfd, atoi(de->d_name), &f);
		p->nsockets += f.kind == DIAG_FD_SOCKET;
		p->npipes += f.kind == DIAG_FD_PIPE;
		p->nwriting += f.kind == DIAG_FD_FILE && f.writing;
		if (fd_is_notable(&f) && p->nnotable < DIAG_MAX_FDS)
			p->fds[p->nnotable++] = f;
	}
	closedir(dir);
	return 0;
}

/* Which processes hold pipe `target` ("pipe:[123]") open for writing. */
static void find_pipe_writers(struct diag_proc *p, const struct proc_list *all)
{
	for (size_t i = 0; i < all->len; i++) {
		int dirfd = procinfo_open(all->items[i].pid);
		int fdd = dirfd >= 0 ? openat(dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		DIR *dir = fdd >= 0 ? fdopendir(fdd) : NULL;
		struct dirent *de;
		int holds = 0;

		while (dir && !holds && (de = readdir(dir)) != NULL) {
			struct diag_fd f;

			if (de->d_name[0] == '.')
				continue;
			describe_fd(dirfd, atoi(de->d_name), &f);
			holds = f.writing && strcmp(f.target, p->syscall_target) == 0;
		}
		if (dir)
			closedir(dir);
		else if (fdd >= 0)
			close(fdd);
		if (dirfd >= 0)
			close(dirfd);
		if (!holds)
			continue;
		if (all->items[i].pid == p->st.pid)
			p->pipe_self_writer = 1;
		else if (p->npipe_writers < (int)ARRAY_SIZE(p->pipe_writers)) {
			if (p->npipe_writers == 0)
				snprintf(p->pipe_writer_comm, sizeof(p->pipe_writer_comm), "%s",
					 all->items[i].comm);
			p->pipe_writers[p->npipe_writers++] = all->items[i].pid;
		}
	}
}

/* The system call it is in, and the file that call is on. */
static void gather_syscall(int dirfd, struct diag_proc *p)
{
	char text[512], name[32];
	int path_arg;

	p->syscall.state = SYSCALL_RUNNING;
	if (procinfo_read(dirfd, "syscall", text, sizeof(text)) <= 0 ||
	    procinfo_parse_syscall(text, &p->syscall) < 0 || p->syscall.state != SYSCALL_IN)
		return;
	if (procinfo_syscall_takes_fd(p->syscall.nr)) {
		snprintf(name, sizeof(name), "fd/%d", (int)p->syscall.args[0]);
		procinfo_readlink(dirfd, name, p->syscall_target, sizeof(p->syscall_target));
	} else if ((path_arg = procinfo_syscall_path_arg(p->syscall.nr)) >= 0) {
		procinfo_read_string(dirfd, p->syscall.args[path_arg], p->syscall_target,
				     sizeof(p->syscall_target));
	}
}

/* A small number from a cgroup file, -1 when unreadable or "max"/unlimited. */
static int64_t read_cgroup_number(const char *dir, const char *file)
{
	char path[600], text[64];
	int fd;
	ssize_t n;
	long long v;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	v = strtoll(text, NULL, 10);
	/* v1 spells "no limit" as a page-aligned number near 2^63; v2 as "max". */
	return strncmp(text, "max", 3) == 0 || v >= (1LL << 62) ? -1 : v;
}

static void gather_cgroup(int dirfd, struct diag_proc *p)
{
	char text[4096], rel[256], dir[600], state[32] = "";
	int fd;

	p->cgroup_mem_limit = p->cgroup_mem_usage = -1;
	if (procinfo_read(dirfd, "cgroup", text, sizeof(text)) <= 0)
		return;
	if (procinfo_parse_cgroup(text, "memory", rel, sizeof(rel)) == 0) {
		snprintf(dir, sizeof(dir), "%s/memory%s", CGROUP_ROOT, rel);
		p->cgroup_mem_limit = read_cgroup_number(dir, "memory.limit_in_bytes");
		p->cgroup_mem_usage = read_cgroup_number(dir, "memory.usage_in_bytes");
	} else if (procinfo_parse_cgroup(text, "", rel, sizeof(rel)) == 0) {
		snprintf(dir, sizeof(dir), "%s%s", CGROUP_ROOT, rel);
		p->cgroup_mem_limit = read_cgroup_number(dir, "memory.max");
		p->cgroup_mem_usage = read_cgroup_number(dir, "memory.current");
	}
	if (procinfo_parse_cgroup(text, "freezer", rel, sizeof(rel)) == 0) {
		snprintf(dir, sizeof(dir), "%s/freezer%s/freezer.state", CGROUP_ROOT, rel);
		fd = open(dir, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, state, sizeof(state) - 1);
			state[n > 0 ? n : 0] = '\0';
			close(fd);
		}
		if (strncmp(state, "FROZEN", 6) == 0 || strncmp(state, "FREEZING", 8) == 0)
			snprintf(p->cgroup_frozen, sizeof(p->cgroup_frozen), "%s", dir);
	}
}

static void gather_family(struct diag_proc *p, const struct proc_list *all)
{
	char text[4096];
	int dirfd;

	for (size_t i = 0; i < all->len; i++) {
		if (all->items[i].ppid != p->st.pid)
			continue;
		p->nchildren++;
		if (all->items[i].state == 'Z' && p->nzombies < DIAG_MAX_ZOMBIES)
			p->zombies[p->nzombies++] = all->items[i].pid;
	}
	p->parent_sigchld = 0;
	dirfd = p->st.ppid > 0 ? procinfo_open(p->st.ppid) : -1;
	if (dirfd < 0)
		return;
	if (procinfo_read(dirfd, "comm", p->parent_comm, sizeof(p->parent_comm)) > 0)
		p->parent_comm[strcspn(p->parent_comm, "\n")] = '\0';
	if (procinfo_read(dirfd, "stat", text, sizeof(text)) > 0) {
		struct proc_stat st;
		if (proc_parse_stat(text, &st) == 0)
			p->parent_state = st.state;
	}
	if (procinfo_read(dirfd, "wchan", p->parent_wchan, sizeof(p->parent_wchan)) < 0 ||
	    strcmp(p->parent_wchan, "0") == 0)
		p->parent_wchan[0] = '\0';
	if (procinfo_read(dirfd, "status", text, sizeof(text)) > 0) {
		struct proc_status ps;
		uint64_t bit = 1ULL << (SIGCHLD - 1);
		if (procinfo_parse_status(text, &ps) == 0)
			p->parent_sigchld = ps.sig_ignored & bit ? -1 : ps.sig_caught & bit ? 1 : 0;
	}
	close(dirfd);
}

/* Everything but the window, read once at its end. */
static void gather_rest(int dirfd, struct diag_proc *p, const struct proc_list *all)
{
	char text[4096];

	gather_cmdline(dirfd, p);
	if (procinfo_read(dirfd, "status", text, sizeof(text)) > 0)
		procinfo_parse_status(text, &p->status);
	gather_user(p);
	p->start_ms = proc_start_epoch_ms(p->st.start_time);
	if (procinfo_read(dirfd, "wchan", p->wchan, sizeof(p->wchan)) < 0 || strcmp(p->wchan, "0") == 0)
		p->wchan[0] = '\0';
	p->stack_readable = proc_read_stack(p->st.pid, 8, p->stack, sizeof(p->stack)) == 0;
	gather_syscall(dirfd, p);
	p->oom_score = procinfo_read(dirfd, "oom_score", text, sizeof(text)) > 0 ? atoi(text) : -1;
	gather_cgroup(dirfd, p);
	gather_fds(dirfd, p);
	gather_family(p, all);
	p->policy = sched_getscheduler(p->st.pid);
	if (p->syscall.state == SYSCALL_IN && procinfo_syscall_takes_fd(p->syscall.nr) &&
	    strncmp(p->syscall_target, "pipe:", 5) == 0)
		find_pipe_writers(p, all);
}

/* Can we see what matters about the first process? A clear error if not. */
static int check_inspectable(int dirfd, pid_t pid, struct err *err)
{
	char text[4096];
	struct proc_status st;
	int fdd = openat(dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fdd >= 0) {
		close(fdd);
		return 0;
	}
	if (procinfo_read(dirfd, "status", text, sizeof(text)) > 0 &&
	    procinfo_parse_status(text, &st) == 0) {
		struct diag_proc tmp = { .status = st };
		gather_user(&tmp);
		return err_set(err, "may not inspect process %d (it belongs to %s): its files, "
				    "system call and stack are readable only by its owner and root",
			       (int)pid, tmp.user);
	}
	return err_set(err, "no process with pid %d", (int)pid);
}

int diag_gather(struct diag_report *r, const pid_t *pids, size_t n, int64_t window_ms,
		struct err *err)
{
	struct diag_watch *w = xcalloc(n, sizeof(*w));
	struct proc_list all = { 0 };
	int64_t elapsed = 0;
	int ret = 0;

	r->window_ms = window_ms;
	r->procs = xcalloc(n, sizeof(*r->procs));
	r->nprocs = n;
	for (size_t i = 0; i < n; i++) {
		r->procs[i].st.pid = pids[i];
		r->procs[i].gpu_mem = -1;
		r->procs[i].gpu_util = -1;
		w[i].dirfd = procinfo_open(pids[i]);
		r->procs[i].gone = w[i].dirfd < 0;
	}
	if (w[0].dirfd < 0) {
		ret = err_set(err, "no process with pid %d", (int)pids[0]);
		goto out;
	}
	if (check_inspectable(w[0].dirfd, pids[0], err) < 0) {
		ret = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		window_start(&w[i], &r->procs[i]);
	while (elapsed < window_ms) {
		int64_t step = window_ms - elapsed < TICK_MS ? window_ms - elapsed : TICK_MS;

		sleep_ms(step);
		elapsed += step;
		for (size_t i = 0; i < n && elapsed < window_ms; i++)
			look(&w[i], &r->procs[i]);
	}
	proc_list_all(&all);
	for (size_t i = 0; i < n; i++) {
		window_end(&w[i], &r->procs[i], window_ms);
		if (!r->procs[i].gone)
			gather_rest(w[i].dirfd, &r->procs[i], &all);
	}
	if (r->procs[0].gone)
		ret = err_set(err, "process %d exited while it was being watched", (int)pids[0]);
out:
	for (size_t i = 0; i < n; i++) {
		if (w[i].dirfd >= 0)
			close(w[i].dirfd);
	}
	free(w);
	proc_list_release(&all);
	return ret;
}

/* ---- words ------------------------------------------------------------------- */

const char *diag_severity_name(enum diag_severity s)
{
	static const char *const names[] = { "info", "warning", "critical" };

	return names[s];
}

const char *diag_state_meaning(char state)
{
	switch (state) {
	case 'R': return "R (running)";
	case 'S': return "S (sleeping)";
	case 'D': return "D (uninterruptible, usually I/O)";
	case 'T': return "T (stopped by a signal)";
	case 't': return "t (stopped by a tracer)";
	case 'Z': return "Z (zombie: exited, not reaped)";
	case 'X': return "X (dead)";
	case 'I': return "I (idle kernel thread)";
	case 'P': return "P (parked)";
	default: return "? (unknown)";
	}
}

const char *diag_policy_name(int policy)
{
	static const char *const names[] = { "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH",
					     "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE" };

	return policy >= 0 && policy < (int)ARRAY_SIZE(names) ? names[policy] : "?";
}

void diag_syscall_text(const struct diag_proc *p, char *buf, size_t size)
{
	const char *name = procinfo_syscall_name(p->syscall.nr);
	char nr[32];

	buf[0] = '\0';
	if (p->syscall.state == SYSCALL_OUTSIDE) {
		snprintf(buf, size, "none (blocked outside a system call)");
		return;
	}
	if (p->syscall.state != SYSCALL_IN)
		return;
	snprintf(nr, sizeof(nr), "syscall %ld", p->syscall.nr);
	if (procinfo_syscall_takes_fd(p->syscall.nr))
		snprintf(buf, size, "%s(%d%s%s)", name, (int)p->syscall.args[0],
			 p->syscall_target[0] ? " → " : "", p->syscall_target);
	else if (p->syscall_target[0])
		snprintf(buf, size, "%s(\"%s\")", name ? name : nr, p->syscall_target);
	else
		snprintf(buf, size, "%s", name ? name : nr);
}

/* ---- rules ----------------------------------------------------------------- */

/* snprintf for finding texts, which are cut at their field's size on purpose. */
static void fill(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fill(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static struct diag_finding *finding_add(struct diag_report *r, enum diag_severity sev,
					const char *code, pid_t pid)
{
	struct diag_finding *f;

	r->findings = xreallocarray(r->findings, r->nfindings + 1, sizeof(*r->findings));
	f = &r->findings[r->nfindings++];
	memset(f, 0, sizeof(*f));
	f->severity = sev;
	f->code = code;
	f->pid = pid;
	return f;
}

/* Held for the whole window: every look saw it. */
static int held(const struct diag_proc *p, int ticks)
{
	return p->ticks > 0 && ticks == p->ticks;
}

static int in_report(const struct diag_report *r, pid_t pid)
{
	for (size_t i = 0; i < r->nprocs; i++) {
		if (r->procs[i].st.pid == pid)
			return 1;
	}
	return 0;
}

static const char *sigchld_words(int how)
{
	return how < 0 ? "ignores SIGCHLD" : how > 0 ? "catches SIGCHLD" : "leaves SIGCHLD at its default";
}

static void rule_zombie(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;
	char pids[128] = "";
	size_t used = 0;

	if (p->st.state == 'Z' && !in_report(r, p->st.ppid)) {
		f = finding_add(r, DIAG_CRITICAL, "zombie", p->st.pid);
		fill(f->title, sizeof(f->title), "zombie: %d exited and its parent %d (%s) has not reaped it",
			 (int)p->st.pid, (int)p->st.ppid, p->parent_comm);
		fill(f->evidence, sizeof(f->evidence), "state Z; parent %d (%s) is %c%s%s and %s",
			 (int)p->st.ppid, p->parent_comm, p->parent_state ? p->parent_state : '?',
			 p->parent_wchan[0] ? " in " : "", p->parent_wchan, sigchld_words(p->parent_sigchld));
		fill(f->fix, sizeof(f->fix), "the parent must wait() for it: kill -CHLD %d; if it still "
			 "does not, end the parent (kill %d) so that a reaper adopts it", (int)p->st.ppid, (int)p->st.ppid);
	}
	if (p->nzombies == 0)
		return;
	for (int i = 0; i < p->nzombies; i++)
		used += (size_t)snprintf(pids + used, used < sizeof(pids) ? sizeof(pids) - used : 0, "%s%d",
					 i ? " " : "", (int)p->zombies[i]);
	f = finding_add(r, DIAG_WARNING, "zombie", p->st.pid);
	fill(f->title, sizeof(f->title), "zombie children: %d (%s) does not reap %d exited child%s",
		 (int)p->st.pid, p->st.comm, p->nzombies, p->nzombies == 1 ? "" : "ren");
	fill(f->evidence, sizeof(f->evidence), "zombies %s; %d (%s) is %c%s%s and %s", pids,
		 (int)p->st.pid, p->st.comm, p->st.state, p->wchan[0] ? " in " : "", p->wchan,
		 sigchld_words(p->status.sig_ignored & (1ULL << (SIGCHLD - 1)) ? -1 :
			       p->status.sig_caught & (1ULL << (SIGCHLD - 1)) ? 1 : 0));
	fill(f->fix, sizeof(f->fix), "the program must wait() for its children (or set SIGCHLD to "
		 "SIG_IGN); kill -CHLD %d nudges a parent that reaps on SIGCHLD", (int)p->st.pid);
}

static void rule_stopped(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;

	if (!held(p, p->ticks_stopped))
		return;
	f = finding_add(r, DIAG_CRITICAL, "stopped", p->st.pid);
	if (p->st.state == 't') {
		fill(f->title, sizeof(f->title), "stopped by a tracer: %d (%s) is being debugged by %d",
			 (int)p->st.pid, p->st.comm, (int)p->status.tracer);
		fill(f->evidence, sizeof(f->evidence), "state t for the whole window; TracerPid %d",
			 (int)p->status.tracer);
		fill(f->fix, sizeof(f->fix), "continue or detach the debugger (process %d)",
			 (int)p->status.tracer);
		return;
	}
	fill(f->title, sizeof(f->title), "stopped by a signal: %d (%s) is not running at all",
		 (int)p->st.pid, p->st.comm);
	fill(f->evidence, sizeof(f->evidence),
		 "state T for the whole window (SIGSTOP, SIGTSTP/Ctrl-Z, or trainctl pause)");
	if (r->job)
		fill(f->fix, sizeof(f->fix), "trainctl resume %s", r->job_ref);
	else
		fill(f->fix, sizeof(f->fix), "kill -CONT %d", (int)p->st.pid);
}

static void rule_uninterruptible(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;
	char call[320];

	if (!held(p, p->ticks_d))
		return;
	diag_syscall_text(p, call, sizeof(call));
	if (p->cgroup_frozen[0]) {
		f = finding_add(r, DIAG_CRITICAL, "frozen", p->st.pid);
		fill(f->title, sizeof(f->title), "frozen: the cgroup freezer holds %d (%s)",
			 (int)p->st.pid, p->st.comm);
		fill(f->evidence, sizeof(f->evidence), "state D for the whole window; %s says FROZEN",
			 p->cgroup_frozen);
		fill(f->fix, sizeof(f->fix), "echo THAWED > %s", p->cgroup_frozen);
		return;
	}
	f = finding_add(r, DIAG_CRITICAL, "uninterruptible-io", p->st.pid);
	fill(f->title, sizeof(f->title), "stuck in uninterruptible I/O: %d (%s) waited in the kernel "
		 "for the whole window%s%s", (int)p->st.pid, p->st.comm,
		 p->syscall_target[0] ? " on " : "", p->syscall_target);
	fill(f->evidence, sizeof(f->evidence), "state D at every look; wchan %s; system call %s; stack %s",
		 p->wchan[0] ? p->wchan : "-", call[0] ? call : "-",
		 p->stack_readable ? p->stack : "(unreadable: root only)");
	fill(f->fix, sizeof(f->fix), "the storage (or NFS/FUSE server) behind %s is not answering: "
		 "check dmesg, findmnt -T %s and the device; signals cannot end it until the I/O completes",
		 p->syscall_target[0] ? p->syscall_target : "its files",
		 p->syscall_target[0] == '/' ? p->syscall_target : "DIR");
}

static void rule_busy(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;
	char rd[32];

	/* Runnable at every look: on a busy machine it may get far less than a whole CPU. */
	if (!held(p, p->ticks_running) || p->cpu_percent < 20 || p->wchar != 0)
		return;
	format_size(p->rchar, rd, sizeof(rd));
	f = finding_add(r, DIAG_WARNING, "busy-loop", p->st.pid);
	fill(f->title, sizeof(f->title), "busy-looping: %d (%s) used %.0f%% CPU and wrote nothing",
		 (int)p->st.pid, p->st.comm, p->cpu_percent);
	fill(f->evidence, sizeof(f->evidence), "runnable at every look, %.0f%% of a CPU over %.1fs; 0 bytes written, %s read "
		 "through system calls", p->cpu_percent, (double)r->window_ms / 1000, rd);
	fill(f->fix, sizeof(f->fix), "see where it spins: py-spy dump --pid %d (Python), or "
		 "gdb -p %d -batch -ex 'thread apply all bt'", (int)p->st.pid, (int)p->st.pid);
}

static void rule_deadlock(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;

	if (!held(p, p->ticks_futex) || p->st.num_threads < 2 || p->cpu_percent >= 1 ||
	    p->rchar > 0 || p->wchar > 0)
		return;
	f = finding_add(r, DIAG_CRITICAL, "deadlock", p->st.pid);
	fill(f->title, sizeof(f->title), "deadlocked: all %ld threads of %d (%s) wait on locks",
		 p->st.num_threads, (int)p->st.pid, p->st.comm);
	fill(f->evidence, sizeof(f->evidence), "every thread in futex waits at every look; no CPU and "
		 "no I/O for %.1fs", (double)r->window_ms / 1000);
	if (r->job)
		fill(f->fix, sizeof(f->fix), "see who holds which lock: gdb -p %d -batch -ex 'thread "
			 "apply all bt' (py-spy dump --pid %d for Python); then trainctl restart %s",
			 (int)p->st.pid, (int)p->st.pid, r->job_ref);
	else
		fill(f->fix, sizeof(f->fix), "see who holds which lock: gdb -p %d -batch -ex 'thread "
			 "apply all bt' (py-spy dump --pid %d for Python); then restart it",
			 (int)p->st.pid, (int)p->st.pid);
}

static int blocked_on_call(const struct diag_proc *p)
{
	return p->syscall.state == SYSCALL_IN && p->st.state == 'S' && p->cpu_percent < 1;
}

static void rule_fifo(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;
	int path_arg = procinfo_syscall_path_arg(p->syscall.nr);
	int writer;

	if (!blocked_on_call(p) || path_arg < 0 || strcmp(p->wchan, "wait_for_partner") != 0)
		return;
	writer = ((int)p->syscall.args[path_arg + 1] & O_ACCMODE) != O_RDONLY;
	f = finding_add(r, DIAG_WARNING, "fifo-no-peer", p->st.pid);
	fill(f->title, sizeof(f->title), "waiting for a %s: %d (%s) is opening FIFO %s, which no "
		 "process has open for %s", writer ? "reader" : "writer", (int)p->st.pid, p->st.comm,
		 p->syscall_target[0] ? p->syscall_target : "?", writer ? "reading" : "writing");
	fill(f->evidence, sizeof(f->evidence), "blocked in %s for the whole window; wchan %s",
		 procinfo_syscall_name(p->syscall.nr), p->wchan);
	fill(f->fix, sizeof(f->fix), "start the process that %s %s (or open it: %s %s)",
		 writer ? "reads" : "writes", p->syscall_target, writer ? "cat" : "exec 3>",
		 p->syscall_target);
}

static void rule_pipe(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;

	if (!blocked_on_call(p) || strncmp(p->syscall_target, "pipe:", 5) != 0 ||
	    (p->npipe_writers == 0 && !p->pipe_self_writer))
		return;
	if (p->npipe_writers == 0) {
		f = finding_add(r, DIAG_CRITICAL, "pipe-peer-gone", p->st.pid);
		fill(f->title, sizeof(f->title), "waiting on a pipe whose other end is gone: %d (%s) "
			 "holds the only write end of %s itself, so it will never see end-of-file",
			 (int)p->st.pid, p->st.comm, p->syscall_target);
		fill(f->evidence, sizeof(f->evidence), "blocked in %s on %s; no other process has it "
			 "open for writing", procinfo_syscall_name(p->syscall.nr), p->syscall_target);
		fill(f->fix, sizeof(f->fix), "a bug: the reader must close its copy of the write end "
			 "after fork(); end it with kill %d", (int)p->st.pid);
		return;
	}
	f = finding_add(r, DIAG_INFO, "pipe-wait", p->st.pid);
	fill(f->title, sizeof(f->title), "waiting for input: %d (%s) reads %s, written by %d (%s), "
		 "which sent nothing", (int)p->st.pid, p->st.comm, p->syscall_target,
		 (int)p->pipe_writers[0], p->pipe_writer_comm);
	fill(f->evidence, sizeof(f->evidence), "blocked in %s for the whole window; %d process%s "
		 "hold%s the write end", procinfo_syscall_name(p->syscall.nr), p->npipe_writers,
		 p->npipe_writers == 1 ? "" : "es", p->npipe_writers == 1 ? "s" : "");
	fill(f->fix, sizeof(f->fix), "see why the writer is silent: trainctl diagnose %d",
		 (int)p->pipe_writers[0]);
}

static void rule_memory(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;
	char use[32], lim[32];

	if (p->cgroup_mem_limit <= 0 || p->cgroup_mem_usage < p->cgroup_mem_limit / 10 * 9 ||
	    (p != &r->procs[0] && p->cgroup_mem_limit == r->procs[0].cgroup_mem_limit))
		return;
	format_size(p->cgroup_mem_usage, use, sizeof(use));
	format_size(p->cgroup_mem_limit, lim, sizeof(lim));
	f = finding_add(r, DIAG_WARNING, "memory-limit", p->st.pid);
	fill(f->title, sizeof(f->title), "near its memory limit: %s of %s", use, lim);
	fill(f->evidence, sizeof(f->evidence), "its cgroup uses %.0f%% of its limit; RSS of %d alone",
		 100.0 * (double)p->cgroup_mem_usage / (double)p->cgroup_mem_limit, (int)p->st.pid);
	format_size(p->cgroup_mem_limit * 2, lim, sizeof(lim));
	if (r->job)
		fill(f->fix, sizeof(f->fix), "raise it before the OOM killer acts: trainctl limit %s --mem %s",
			 r->job_ref, lim);
	else
		fill(f->fix, sizeof(f->fix), "raise the cgroup's memory limit (to %s, say) or use less memory",
			 lim);
}

static void rule_swap(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;
	char sw[32];

	if (p->status.swap < 1024 * 1024)
		return;
	format_size(p->status.swap, sw, sizeof(sw));
	f = finding_add(r, DIAG_WARNING, "swapping", p->st.pid);
	fill(f->title, sizeof(f->title), "swapping: %s of %d (%s) is in swap", sw, (int)p->st.pid,
		 p->st.comm);
	fill(f->evidence, sizeof(f->evidence), "VmSwap %s in /proc/%d/status", sw, (int)p->st.pid);
	fill(f->fix, sizeof(f->fix), "the machine is short of memory: free -h; stop other work "
		 "(trainctl ls) or lower the batch size");
}

static void rule_gpu_idle(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;
	char mem[32];

	if (p->gpu_mem <= 0 || p->gpu_util != 0)
		return;
	format_size(p->gpu_mem, mem, sizeof(mem));
	f = finding_add(r, DIAG_WARNING, "gpu-idle", p->st.pid);
	fill(f->title, sizeof(f->title), "GPU memory held but GPU idle: %d (%s) holds %s",
		 (int)p->st.pid, p->st.comm, mem);
	fill(f->evidence, sizeof(f->evidence), "%s of GPU memory, 0%% utilization", mem);
	fill(f->fix, sizeof(f->fix), "it waits on something else (data loading, a lock, I/O): see "
		 "the other findings; nvidia-smi shows the GPU");
}

static void rule_fds(struct diag_report *r, const struct diag_proc *p)
{
	struct diag_finding *f;

	if (p->fd_limit <= 0 || p->nfds < p->fd_limit / 10 * 9)
		return;
	f = finding_add(r, DIAG_WARNING, "too-many-files", p->st.pid);
	fill(f->title, sizeof(f->title), "too many open files: %d of its limit %lld", p->nfds,
		 (long long)p->fd_limit);
	fill(f->evidence, sizeof(f->evidence), "%d descriptors (%d sockets, %d pipes, %d files "
		 "written)", p->nfds, p->nsockets, p->npipes, p->nwriting);
	fill(f->fix, sizeof(f->fix), "look for a descriptor leak (ls -l /proc/%d/fd); raise the "
		 "limit: prlimit --pid %d --nofile=%lld", (int)p->st.pid, (int)p->st.pid,
		 (long long)p->fd_limit * 4);
}

typedef void (*diag_rule)(struct diag_report *r, const struct diag_proc *p);

static const diag_rule proc_rules[] = {
	rule_zombie, rule_stopped, rule_uninterruptible, rule_deadlock, rule_busy, rule_fifo,
	rule_pipe, rule_memory, rule_swap, rule_gpu_idle, rule_fds,
};

/* The detail of the job's latest event of this kind, or NULL. */
static const char *job_event(const json_t *job, const char *kind)
{
	const json_t *events = json_object_get(job, "events");
	const char *found = NULL;
	size_t i;
	json_t *ev;

	json_array_foreach(events, i, ev) {
		if (strcmp(json_string_value(json_object_get(ev, "kind")) ?: "", kind) == 0)
			found = json_string_value(json_object_get(ev, "detail"));
	}
	return found;
}

static void rule_job_hung(struct diag_report *r)
{
	const char *reason = json_string_value(json_object_get(r->job, "reason"));
	const char *state = json_string_value(json_object_get(r->job, "state"));
	const char *detail = job_event(r->job, "hung");
	struct diag_finding *f;

	if (!reason || strcmp(reason, "hung") != 0 || !state || strcmp(state, "running") != 0)
		return;
	f = finding_add(r, DIAG_CRITICAL, "hung", 0);
	fill(f->title, sizeof(f->title), "hung: job %s printed nothing, made no progress, wrote no "
		 "checkpoint and used no CPU for its hang timeout", r->job_ref);
	fill(f->evidence, sizeof(f->evidence), "%s", detail ? detail : "reason 'hung'");
	fill(f->fix, sizeof(f->fix), "trainctl restart %s (resumes from the latest checkpoint)",
		 r->job_ref);
}

static void rule_job_ended(struct diag_report *r)
{
	const char *state = json_string_value(json_object_get(r->job, "state"));
	const char *reason = json_string_value(json_object_get(r->job, "reason"));
	struct diag_finding *f;

	if (r->nprocs > 0)
		return;
	f = finding_add(r, DIAG_INFO, "not-running", 0);
	fill(f->title, sizeof(f->title), "job %s is %s%s%s%s: no process to look at", r->job_ref,
		 state ? state : "?", reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
	fill(f->evidence, sizeof(f->evidence), "the daemon reports no running process for it");
	fill(f->fix, sizeof(f->fix), "trainctl log %s -n 50; trainctl show %s", r->job_ref, r->job_ref);
}

static void sort_findings(struct diag_report *r)
{
	/* Insertion sort: stable, so findings of one severity keep the rules' order. */
	for (size_t i = 1; i < r->nfindings; i++) {
		struct diag_finding f = r->findings[i];
		size_t j = i;

		while (j > 0 && r->findings[j - 1].severity < f.severity) {
			r->findings[j] = r->findings[j - 1];
			j--;
		}
		r->findings[j] = f;
	}
}

void diag_judge(struct diag_report *r)
{
	if (r->job) {
		rule_job_hung(r);
		rule_job_ended(r);
	}
	for (size_t i = 0; i < r->nprocs; i++) {
		if (r->procs[i].gone)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(proc_rules); k++)
			proc_rules[k](r, &r->procs[i]);
	}
	sort_findings(r);
}

/* ---- JSON ------------------------------------------------------------------ */

/* An integer, or null when unknown (-1). */
static json_t *json_known(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static json_t *proc_json_syscall(const struct diag_proc *p)
{
	const char *name = procinfo_syscall_name(p->syscall.nr);
	json_t *o;

	if (p->syscall.state != SYSCALL_IN)
		return json_null();
	o = json_object();
	json_object_set_new(o, "nr", json_integer(p->syscall.nr));
	json_object_set_new(o, "name", name ? json_string(name) : json_null());
	json_object_set_new(o, "target", p->syscall_target[0] ? json_string(p->syscall_target) : json_null());
	return o;
}

static json_t *proc_json_files(const struct diag_proc *p)
{
	static const char *const kinds[] = { "file", "pipe", "socket", "gpu", "other" };
	json_t *o = json_object(), *notable = json_array();

	json_object_set_new(o, "open", json_known(p->nfds));
	json_object_set_new(o, "limit", json_known(p->fd_limit));
	json_object_set_new(o, "sockets", json_integer(p->nsockets));
	json_object_set_new(o, "pipes", json_integer(p->npipes));
	json_object_set_new(o, "writing", json_integer(p->nwriting));
	for (int i = 0; i < p->nnotable; i++)
		json_array_append_new(notable, json_pack("{s:i, s:s, s:s, s:b}", "fd", p->fds[i].fd,
							 "kind", kinds[p->fds[i].kind], "target",
							 p->fds[i].target, "writing", p->fds[i].writing));
	json_object_set_new(o, "notable", notable);
	return o;
}

static json_t *proc_json_family(const struct diag_proc *p)
{
	json_t *o = json_object(), *zombies = json_array(), *parent = json_object();

	for (int i = 0; i < p->nzombies; i++)
		json_array_append_new(zombies, json_integer(p->zombies[i]));
	json_object_set_new(o, "count", json_integer(p->nchildren));
	json_object_set_new(o, "zombies", zombies);
	json_object_set_new(parent, "pid", json_integer(p->st.ppid));
	json_object_set_new(parent, "comm", json_string(p->parent_comm));
	json_object_set_new(parent, "state", json_stringn(&p->parent_state, p->parent_state ? 1 : 0));
	json_object_set_new(parent, "wchan", json_string(p->parent_wchan));
	json_object_set_new(parent, "sigchld", json_string(p->parent_sigchld < 0 ? "ignored" :
							   p->parent_sigchld > 0 ? "caught" : "default"));
	json_object_set_new(o, "parent", parent);
	return o;
}

static json_t *proc_json_window(const struct diag_report *r, const struct diag_proc *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "seconds", json_real((double)r->window_ms / 1000));
	json_object_set_new(o, "cpu_percent", json_real(p->cpu_percent));
	json_object_set_new(o, "read_bytes", json_known(p->read_bytes));
	json_object_set_new(o, "write_bytes", json_known(p->write_bytes));
	json_object_set_new(o, "syscall_read_bytes", json_known(p->rchar));
	json_object_set_new(o, "syscall_write_bytes", json_known(p->wchar));
	json_object_set_new(o, "looks", json_integer(p->ticks));
	json_object_set_new(o, "looks_running", json_integer(p->ticks_running));
	json_object_set_new(o, "looks_uninterruptible", json_integer(p->ticks_d));
	json_object_set_new(o, "looks_stopped", json_integer(p->ticks_stopped));
	json_object_set_new(o, "looks_all_threads_in_futex", json_integer(p->ticks_futex));
	return o;
}

static json_t *proc_json(const struct diag_report *r, const struct diag_proc *p)
{
	json_t *o = json_object(), *threads = json_array(), *mem, *gpu;
	char when[40], state[2] = { p->st.state, '\0' };

	json_object_set_new(o, "pid", json_integer(p->st.pid));
	json_object_set_new(o, "ppid", json_integer(p->st.ppid));
	json_object_set_new(o, "comm", json_string(p->st.comm));
	json_object_set_new(o, "command", json_string(p->cmdline));
	json_object_set_new(o, "user", json_string(p->user));
	format_rfc3339(p->start_ms, when, sizeof(when));
	json_object_set_new(o, "started_at", json_string(when));
	json_object_set_new(o, "age_seconds", json_integer((time_now_ms() - p->start_ms) / 1000));
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "state_meaning", json_string(diag_state_meaning(p->st.state)));
	json_object_set_new(o, "wchan", json_string(p->wchan));
	json_object_set_new(o, "kernel_stack", p->stack_readable ? json_string(p->stack) : json_null());
	json_object_set_new(o, "syscall", proc_json_syscall(p));
	for (int i = 0; i < p->ngroups; i++)
		json_array_append_new(threads, json_pack("{s:s#, s:s, s:i}", "state", &p->groups[i].state,
							 (size_t)1, "wchan", p->groups[i].wchan,
							 "count", p->groups[i].count));
	json_object_set_new(o, "threads", json_pack("{s:I, s:o}", "count", (json_int_t)p->st.num_threads,
						     "states", threads));
	json_object_set_new(o, "window", proc_json_window(r, p));
	mem = json_pack("{s:o, s:o, s:o, s:o, s:o}", "rss_bytes", json_known(p->status.rss),
			"swap_bytes", json_known(p->status.swap), "oom_score", json_known(p->oom_score),
			"cgroup_limit_bytes", json_known(p->cgroup_mem_limit), "cgroup_usage_bytes",
			json_known(p->cgroup_mem_usage));
	json_object_set_new(o, "memory", mem);
	json_object_set_new(o, "frozen_by", p->cgroup_frozen[0] ? json_string(p->cgroup_frozen) : json_null());
	json_object_set_new(o, "files", proc_json_files(p));
	json_object_set_new(o, "children", proc_json_family(p));
	json_object_set_new(o, "sched", json_pack("{s:i, s:s}", "nice", p->st.nice, "policy",
						  diag_policy_name(p->policy)));
	gpu = json_pack("{s:o, s:o}", "memory_bytes", json_known(p->gpu_mem), "utilization_percent",
			json_known(p->gpu_util));
	json_object_set_new(o, "gpu", gpu);
	return o;
}

json_t *diag_report_json(const struct diag_report *r)
{
	json_t *o = json_object(), *procs = json_array(), *findings = json_array();

	json_object_set_new(o, "window_seconds", json_real((double)r->window_ms / 1000));
	json_object_set_new(o, "job", r->job ? json_incref(r->job) : json_null());
	for (size_t i = 0; i < r->nprocs; i++) {
		if (!r->procs[i].gone)
			json_array_append_new(procs, proc_json(r, &r->procs[i]));
	}
	json_object_set_new(o, "processes", procs);
	for (size_t i = 0; i < r->nfindings; i++) {
		const struct diag_finding *f = &r->findings[i];
		json_array_append_new(findings, json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "severity",
							  diag_severity_name(f->severity), "code", f->code,
							  "pid", f->pid ? json_integer(f->pid) : json_null(),
							  "title", f->title, "evidence", f->evidence, "fix", f->fix));
	}
	json_object_set_new(o, "findings", findings);
	json_object_set_new(o, "verdict", json_string(r->nfindings ? r->findings[0].title : "no problem found"));
	return o;
}

void diag_report_release(struct diag_report *r)
{
	free(r->procs);
	free(r->findings);
	json_decref(r->job);
	memset(r, 0, sizeof(*r));
}
