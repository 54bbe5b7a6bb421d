/*
 * The daemon process: start-up under a lock, the listening socket, client
 * connections and the event loop. What the requests do is in requests.c;
 * how jobs are supervised is in supervise.c.
 *
 * Start-up order matters: take run/daemon.lock (a second daemon on the same
 * home fails here with a clear error), open and migrate the database, listen,
 * re-adopt the shims of jobs that ran while no daemon was up, and only then
 * tell the CLI that started us that we are ready.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/metrics.h"
#include "daemon/notify.h"
#include "daemon/onexit.h"
#include "daemon/supervise.h"
#include "daemon/gpus.h"
#include "daemon/sampling.h"
#include "daemon/sched.h"
#include "daemon/watchdog.h"
#include "lib/cgroup.h"
#include "lib/parse.h"
#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/xmalloc.h"
#include "shim/shim.h"

/* Is stderr the journal? Decided once at start-up. */
static int log_to_journal;

static void daemon_vlog(int priority, const char *fmt, va_list ap)
{
	char when[32];

	if (log_to_journal) {
		fprintf(stderr, "<%d>", priority); /* the journal adds the time and our pid */
	} else {
		format_local_time(time_now_ms(), when, sizeof(when));
		fprintf(stderr, "%s trainctl[%d]: ", when, (int)getpid());
	}
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void daemon_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	daemon_vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void daemon_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	daemon_vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void crash_point(const char *name)
{
	static int hits;
	const char *want = getenv("TRAINCTL_CRASH_AT");
	size_t len = strlen(name);
	int nth = 1;

	if (!want || strncmp(want, name, len) != 0 || (want[len] && want[len] != '@'))
		return;
	if (want[len] == '@')
		nth = atoi(want + len + 1);
	if (++hits < nth)
		return;
	daemon_log("crash point '%s' reached: killing the daemon (TRAINCTL_CRASH_AT)", name);
	raise(SIGKILL);
}

static void client_close(struct client *c)
{
	struct daemon *d = c->daemon;
	struct client **pp;

	for (pp = &d->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	supervise_forget_client(d, c);
	loop_remove(d->loop, c->watch);
	close(c->fd);
	strbuf_release(&c->in);
	strbuf_release(&c->out);
	free(c);
}

/* Past this much unread output we stop taking requests from a client. */
#define CLIENT_OUT_MAX (1024 * 1024)
/* An output buffer larger than this is freed once it has been sent. */
#define CLIENT_OUT_KEEP (256 * 1024)
/* Allocations from this size up are mmapped, and unmapped when freed. */
#define DAEMON_MMAP_THRESHOLD (64 * 1024)

/* Handle the requests buffered for c, one at a time. */
static void client_process(struct client *c)
{
	struct err err = { 0 };
	json_t *req;

	while (!c->pending && c->out.len < CLIENT_OUT_MAX && proto_take_line(&c->in, &req, &err)) {
		if (!req) {
			client_reply(c, proto_reply_error(&err));
			continue;
		}
		request_dispatch(c->daemon, c, req);
		json_decref(req);
	}
}

/*
 * Write what the socket takes; watch for writability while output remains.
 * A large reply (ls -a of thousands of jobs) is given back to the system
 * once sent, so that the daemon's memory does not stay at its peak.
 */
static int client_flush(struct client *c)
{
	if (write_queued(c->fd, &c->out) < 0)
		return -1;
	if (c->out.len == 0 && c->out.alloc > CLIENT_OUT_KEEP) {
		strbuf_release(&c->out);
		malloc_trim(0);
	}
	loop_modify_fd(c->daemon->loop, c->watch,
		       EPOLLIN | EPOLLRDHUP | (c->out.len ? EPOLLOUT : 0));
	return 0;
}

void client_reply(struct client *c, json_t *reply)
{
	proto_encode_reply(reply, &c->out);
	json_decref(reply);
	c->pending = 0;
	client_flush(c); /* a write error shows up as EPOLLERR/EOF on the next read */
}

static void on_client(void *data, int fd, uint32_t events)
{
	struct client *c = data;
	char buf[65536];
	ssize_t n;

	if ((events & EPOLLOUT) && client_flush(c) < 0) {
		client_close(c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		client_process(c);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || c->in.len + (size_t)n > PROTO_MAX_LINE) {
		client_close(c);
		return;
	}
	strbuf_add(&c->in, buf, (size_t)n);
	client_process(c);
}

/*
 * Out of descriptors, a waiting connection cannot be accepted, and the
 * listening socket stays readable: the loop would spin. Spend the reserved
 * descriptor to take the connection, tell the client why, and close it.
 */
static void refuse_for_lack_of_fds(struct daemon *d)
{
	static const char msg[] = "{\"v\":1,\"ok\":false,\"error\":\"the daemon has run out of file "
				  "descriptors (see its open files limit, ulimit -n): try again "
				  "later\"}\n";
	int cfd;

	if (!d->fds_exhausted)
		daemon_log("out of file descriptors: refusing new clients until some close");
	d->fds_exhausted = 1;
	close(d->reserve_fd);
	cfd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd >= 0) {
		if (write(cfd, msg, sizeof(msg) - 1) < 0) {
			/* the client is gone already */
		}
		close(cfd);
	}
	d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_accept(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;
	struct client *c;
	int refused, cfd = sock_accept_own_user(fd, &refused);

	(void)events;
	if (cfd < 0) {
		if (refused >= 0)
			daemon_warn("refused a connection from uid %d", refused);
		else if ((errno == EMFILE || errno == ENFILE) && d->reserve_fd >= 0)
			refuse_for_lack_of_fds(d);
		return;
	}
	if (d->fds_exhausted) {
		daemon_log("file descriptors available again: serving new clients");
		d->fds_exhausted = 0;
	}
	c = xcalloc(1, sizeof(*c));
	c->daemon = d;
	c->fd = cfd;
	c->watch = loop_add_fd(d->loop, cfd, EPOLLIN | EPOLLRDHUP, on_client, c);
	c->next = d->clients;
	d->clients = c;
}

static void on_signal(void *data, int sig)
{
	struct daemon *d = data;

	if (sig == SIGCHLD) {
		supervise_reap(d);
		return;
	}
	if (sig == SIGTERM || sig == SIGINT) {
		daemon_log("received %s, exiting (jobs keep running)", signal_name(sig));
		loop_stop(d->loop);
	}
}

/*
 * Which cgroups jobs can get: TRAINCTL_CGROUP=none|v1|v2 decides, else what
 * the machine allows (root, or a delegated subtree).
 */
static void daemon_detect_cgroups(struct daemon *d)
{
	const char *want = getenv("TRAINCTL_CGROUP");
	struct err err = { 0 };
	enum cgroup_kind kind;

	if (want && (!strcmp(want, "none") || !strcmp(want, "v1") || !strcmp(want, "v2"))) {
		d->cgroup = !strcmp(want, "none") ? "none" : !strcmp(want, "v1") ? "v1" : "v2";
		snprintf(d->cgroup_why, sizeof(d->cgroup_why), "TRAINCTL_CGROUP=%s", want);
		return;
	}
	kind = cgroup_detect(CGROUP_ROOT, &err);
	d->cgroup = kind == CGROUP_V2 ? "v2" : kind == CGROUP_V1 ? "v1" : "none";
	memcpy(d->cgroup_why, err.msg, sizeof(d->cgroup_why));
	daemon_log("job cgroups: %s%s%s", cgroup_kind_name(kind), err.msg[0] ? " - " : "", err.msg);
}

/* Take the per-home lock; fails if another daemon holds it. */
static int daemon_lock(struct daemon *d, struct err *err)
{
	char buf[32];
	ssize_t n;

	d->lock_fd = open(d->paths.daemon_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0)
		return err_errno(err, "cannot open %s", d->paths.daemon_lock);
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(d->lock_fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		return err_set(err, "a daemon is already running for %s (pid %d)", d->paths.home,
			       atoi(buf));
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, buf, (size_t)n, 0) < 0)
		return err_errno(err, "cannot write %s", d->paths.daemon_lock);
	return 0;
}

/*
 * Find trainctl-shim once: beside our own executable (a build tree, or an
 * installation that keeps both in one directory), else in the libexec
 * directory compiled in. Without it the daemon still serves every request
 * but starting a job, which fails naming both places.
 */
static int daemon_find_shim(struct daemon *d, struct err *err)
{
	char exe[4096], *beside;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return err_errno(err, "cannot find our own executable");
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0'; /* the kernel gives an absolute path */
	beside = xasprintf("%s/" SHIM_EXE_NAME, exe);
	if (access(beside, X_OK) == 0) {
		d->shim_exe = beside;
	} else if (access(TRAINCTL_LIBEXECDIR "/" SHIM_EXE_NAME, X_OK) == 0) {
		d->shim_exe = xstrdup(TRAINCTL_LIBEXECDIR "/" SHIM_EXE_NAME);
		free(beside);
	} else {
		d->shim_error = xasprintf("cannot start jobs: " SHIM_EXE_NAME " was not found "
					  "(looked for %s and " TRAINCTL_LIBEXECDIR "/" SHIM_EXE_NAME
					  "; reinstall trainctl)", beside);
		daemon_log("%s", d->shim_error);
		free(beside);
	}
	return 0;
}

static int daemon_setup(struct daemon *d, struct err *err)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	const char *metrics;

	if (paths_init(&d->paths, err) < 0 || paths_ensure(&d->paths, err) < 0 ||
	    daemon_lock(d, err) < 0 || daemon_find_shim(d, err) < 0)
		return -1;
	d->store = store_open(d->paths.db, err);
	if (!d->store)
		return -1;
	d->listen_fd = sock_listen(d->paths.daemon_sock, err);
	if (d->listen_fd < 0)
		return -1;
	d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	d->loop = loop_new();
	loop_add_signals(d->loop, sigs, (int)ARRAY_SIZE(sigs), on_signal, d);
	loop_add_fd(d->loop, d->listen_fd, EPOLLIN, on_accept, d);
	d->started_at = time_now_ms();
	daemon_detect_cgroups(d);
	gpus_start(d);
	supervise_recover(d);
	watchdog_start(d);
	sampling_start(d, d->sample_interval_ms);
	d->sched_dirty = 1; /* jobs queued before a restart start as soon as they can */
	/* --metrics (passed on through the environment, like --interval) wins over the file. */
	metrics = getenv("TRAINCTL_METRICS");
	if (!metrics || !*metrics)
		metrics = d->config.metrics;
	if (metrics && metrics_start(d, metrics, err) < 0)
		return -1;
	return 0;
}

/*
 * Let go of everything; the lock goes before the client connections close,
 * so that a client that waits for its connection to close (daemon stop) can
 * start a new daemon at once.
 */
static void daemon_release(struct daemon *d)
{
	if (d->listen_fd >= 0) {
		unlink(d->paths.daemon_sock);
		close(d->listen_fd);
	}
	sampling_flush(d); /* the samples still in memory */
	store_close(d->store);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	metrics_release(d);
	if (d->reserve_fd >= 0)
		close(d->reserve_fd);
	supervise_release(d);
	watchdog_release(d);
	sampling_release(d);
	gpus_release(d);
	onexit_release(d);
	config_release(&d->config);
	while (d->clients) /* client_close unlinks the client before freeing it */
		client_close(d->clients); /* NOLINT(clang-analyzer-unix.Malloc) */
	loop_free(d->loop);
	free(d->shim_exe);
	free(d->shim_error);
	paths_release(&d->paths);
}

/* Tell whoever started us how start-up went: "ok", or the error. */
static void daemon_report_ready(int fd, const struct err *err)
{
	const char *msg = err ? err->msg : "ok";

	if (fd < 0)
		return;
	write_all(fd, msg, strlen(msg));
	close(fd);
}

/* Why start-up failed, as the CLI says it, or at error priority for the journal. */
static void daemon_log_failure(const struct err *err)
{
	if (log_to_journal)
		fprintf(stderr, "<%d>trainctl: %s\n", LOG_ERR, err->msg);
	else
		fprintf(stderr, "trainctl: %s\n", err->msg);
}

int daemon_run(int ready_fd, int64_t sample_interval_ms)
{
	struct daemon d = { .listen_fd = -1, .lock_fd = -1, .reserve_fd = -1,
			    .sample_interval_ms = sample_interval_ms, .gpu_free_mem = SCHED_GPU_FREE_MEM_DEFAULT };
	const char *interval = getenv("TRAINCTL_SAMPLE_INTERVAL");
	struct err err = { 0 };

	log_to_journal = notify_stderr_is_journal();
	config_init(&d.config);
	if (!sample_interval_ms && interval && parse_duration_ms(interval, &d.sample_interval_ms, NULL) < 0)
		d.sample_interval_ms = 0; /* a bad value: the default */
	if (config_load(&d.config, &err) < 0) {
		daemon_report_ready(ready_fd, &err);
		daemon_log_failure(&err);
		return 2; /* a bad configuration file is bad usage, as in the CLI */
	}
	if (!sample_interval_ms && !interval && d.config.interval_ms > 0)
		d.sample_interval_ms = d.config.interval_ms;
	if (d.config.gpu_free_mem >= 0)
		d.gpu_free_mem = d.config.gpu_free_mem;
	if (d.sample_interval_ms > 0 && d.sample_interval_ms < 100)
		d.sample_interval_ms = 100;

	signal(SIGPIPE, SIG_IGN);
	umask(077); /* the database and logs are private; jobs get their caller's umask back */
	/*
	 * Large short-lived buffers (a sampling pass's table of every process on
	 * the machine, a big reply) come from mmap and go back when freed: with
	 * glibc's adaptive threshold they would be carved from the heap after the
	 * first one, and stay resident in an idle daemon.
	 */
	mallopt(M_MMAP_THRESHOLD, DAEMON_MMAP_THRESHOLD);
	if (daemon_setup(&d, &err) < 0) {
		daemon_report_ready(ready_fd, &err);
		daemon_log_failure(&err);
		daemon_release(&d);
		return 1;
	}
	if (chdir("/") < 0) /* never keep a directory busy */
		daemon_log("cannot change directory to /: %s", strerror(errno));
	daemon_log("daemon started for %s", d.paths.home);
	daemon_report_ready(ready_fd, NULL);
	notify_start(&d);
	store_release_memory(d.store);
	malloc_trim(0); /* start-up's scratch (migrations, recovery) back to the system */
	loop_run(d.loop);
	daemon_log("daemon exiting");
	notify_release(&d);
	daemon_release(&d);
	return 0;
}
