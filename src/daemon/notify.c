/* sd_notify, our own; see notify.h. */
#include "daemon/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define STATUS_CHECK_MS 1000

struct notify {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
	struct loop_watch *status_timer;
	struct loop_watch *watchdog_timer;
	char *last_status;
};

static void notify_send(struct notify *n, const char *msg)
{
	if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&n->addr, n->addrlen) < 0)
		daemon_warn("cannot notify systemd (%s): %s", msg, strerror(errno));
}

/* "STATUS=3 running, 1 queued, 12 finished" from the job counts. */
static char *status_text(struct daemon *d)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *counts = store_job_counts(d->store), *value;
	json_int_t finished = 0;
	const char *key;

	strbuf_addstr(&sb, "STATUS=");
	json_object_foreach(counts, key, value) {
		if (job_state_is_final((enum job_state)job_state_parse(key)))
			finished += json_integer_value(value);
		else
			strbuf_addf(&sb, "%lld %s, ", (long long)json_integer_value(value), key);
	}
	json_decref(counts);
	strbuf_addf(&sb, "%lld finished", (long long)finished);
	return strbuf_detach(&sb);
}

static void on_status_timer(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;
	char *text = status_text(d);

	(void)fd;
	(void)events;
	if (d->notify->last_status && !strcmp(text, d->notify->last_status)) {
		free(text);
		return;
	}
	notify_send(d->notify, text);
	free(d->notify->last_status);
	d->notify->last_status = text;
}

static void on_watchdog_timer(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;

	(void)fd;
	(void)events;
	notify_send(d->notify, "WATCHDOG=1");
}

/* $NOTIFY_SOCKET as an address: a path, or '@' for the abstract namespace. */
static int notify_address(const char *name, struct notify *n)
{
	size_t len = strlen(name);

	if (len < 2 || len >= sizeof(n->addr.sun_path) || (name[0] != '/' && name[0] != '@'))
		return -1;
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, name, len);
	if (name[0] == '@')
		n->addr.sun_path[0] = '\0';
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
	return 0;
}

/* Half of $WATCHDOG_USEC in ms when the watchdog is ours to feed, else 0. */
static int64_t watchdog_interval_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long us = usec ? atoll(usec) : 0;

	if (us <= 0 || (pid && atoi(pid) != (int)getpid()))
		return 0;
	return us / 2000 > 0 ? us / 2000 : 1;
}

void notify_start(struct daemon *d)
{
	const char *name = getenv("NOTIFY_SOCKET");
	int64_t watchdog_ms = watchdog_interval_ms();
	struct notify *n;

	/* Nothing we start (shims, on-exit commands) may talk to systemd in our name. */
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (!name)
		return;
	n = xcalloc(1, sizeof(*n));
	if (notify_address(name, n) < 0 ||
	    (n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		daemon_warn("ignoring NOTIFY_SOCKET=%s: not a usable socket address", name);
		free(n);
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	unsetenv("NOTIFY_SOCKET");
	d->notify = n;
	notify_send(n, "READY=1");
	on_status_timer(d, -1, 0);
	n->status_timer = loop_add_interval(d->loop, STATUS_CHECK_MS, on_status_timer, d);
	if (watchdog_ms > 0) {
		notify_send(n, "WATCHDOG=1");
		n->watchdog_timer = loop_add_interval(d->loop, watchdog_ms, on_watchdog_timer, d);
	}
}

void notify_release(struct daemon *d)
{
	struct notify *n = d->notify;

	if (!n)
		return;
	notify_send(n, "STOPPING=1");
	if (n->status_timer)
		loop_remove(d->loop, n->status_timer);
	if (n->watchdog_timer)
		loop_remove(d->loop, n->watchdog_timer);
	close(n->fd);
	free(n->last_status);
	free(n);
	d->notify = NULL;
}

int notify_stderr_is_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
