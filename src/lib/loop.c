/*
 * The epoll loop; see loop.h. Removed watches are only marked dead during a
 * dispatch round and freed after it (or by loop_free), so a callback can remove any watch
 * (its own included) without the loop touching freed memory.
 */
#include "lib/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/xmalloc.h"

enum watch_kind { WATCH_FD, WATCH_TIMER, WATCH_SIGNAL };

struct loop_watch {
	enum watch_kind kind;
	int fd;
	int dead;
	int oneshot;
	loop_fd_fn fn;
	loop_signal_fn signal_fn;
	void *data;
	struct loop_watch *next;
};

struct loop {
	int epfd;
	int stopping;
	struct loop_watch *watches; /* every watch, live or dead */
};

struct loop *loop_new(void)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	return loop;
}

static void loop_free_dead(struct loop *loop)
{
	struct loop_watch **pp = &loop->watches;

	while (*pp) {
		struct loop_watch *w = *pp;
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	for (struct loop_watch *w = loop->watches; w; w = w->next)
		loop_remove(loop, w);
	loop_free_dead(loop);
	close(loop->epfd);
	free(loop);
}

static struct loop_watch *loop_watch_add(struct loop *loop, enum watch_kind kind, int fd,
					 uint32_t events, void *data)
{
	struct loop_watch *w = xcalloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->kind = kind;
	w->fd = fd;
	w->data = data;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		fatal("epoll_ctl add fd %d: %s", fd, strerror(errno));
	w->next = loop->watches;
	loop->watches = w;
	return w;
}

struct loop_watch *loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
			       void *data)
{
	struct loop_watch *w = loop_watch_add(loop, WATCH_FD, fd, events, data);

	w->fn = fn;
	return w;
}

void loop_modify_fd(struct loop *loop, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_remove(struct loop *loop, struct loop_watch *w)
{
	if (!w || w->dead)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (w->kind != WATCH_FD)
		close(w->fd);
	w->dead = 1;
}

static struct loop_watch *loop_timer(struct loop *loop, int64_t ms, int periodic, loop_fd_fn fn,
				     void *data)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = { 0 };
	struct loop_watch *w;

	if (fd < 0)
		fatal("timerfd_create: %s", strerror(errno));
	if (ms <= 0)
		ms = 1;
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000;
	if (periodic)
		its.it_interval = its.it_value;
	timerfd_settime(fd, 0, &its, NULL);
	w = loop_watch_add(loop, WATCH_TIMER, fd, EPOLLIN, data);
	w->fn = fn;
	w->oneshot = !periodic;
	return w;
}

struct loop_watch *loop_add_timer(struct loop *loop, int64_t ms, loop_fd_fn fn, void *data)
{
	return loop_timer(loop, ms, 0, fn, data);
}

struct loop_watch *loop_add_interval(struct loop *loop, int64_t ms, loop_fd_fn fn, void *data)
{
	return loop_timer(loop, ms, 1, fn, data);
}

int loop_add_signals(struct loop *loop, const int *sigs, int count, loop_signal_fn fn, void *data)
{
	sigset_t set;
	struct loop_watch *w;
	int fd;

	sigemptyset(&set);
	for (int i = 0; i < count; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -1;
	w = loop_watch_add(loop, WATCH_SIGNAL, fd, EPOLLIN, data);
	w->signal_fn = fn;
	return 0;
}

static void loop_dispatch(struct loop *loop, struct loop_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;
	uint64_t ticks;

	if (w->dead)
		return;
	switch (w->kind) {
	case WATCH_FD:
		w->fn(w->data, w->fd, events);
		break;
	case WATCH_TIMER:
		if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
			break;
		if (w->oneshot)
			loop_remove(loop, w);
		w->fn(w->data, -1, events);
		break;
	case WATCH_SIGNAL:
		while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			w->signal_fn(w->data, (int)si.ssi_signo);
		break;
	}
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[64];

	while (!loop->stopping) {
		int n = epoll_wait(loop->epfd, events, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			loop_dispatch(loop, events[i].data.ptr, events[i].events);
		loop_free_dead(loop);
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	loop->stopping = 1;
}
