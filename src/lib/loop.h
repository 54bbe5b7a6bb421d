/*
 * A tiny single-threaded event loop: epoll for descriptors, a timerfd per
 * timer, and signals delivered through a signalfd as ordinary events.
 * Callbacks run one at a time; a callback may add or remove watches.
 */
#ifndef TRAINCTL_LOOP_H
#define TRAINCTL_LOOP_H

#include <signal.h>
#include <stdint.h>

struct loop;
struct loop_watch;

typedef void (*loop_fd_fn)(void *data, int fd, uint32_t events);
typedef void (*loop_signal_fn)(void *data, int sig);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watch fd for events (EPOLLIN...). Returns a handle for loop_remove. */
struct loop_watch *loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
			       void *data);
/* Change the events watched. */
void loop_modify_fd(struct loop *loop, struct loop_watch *w, uint32_t events);
/* Stop watching (does not close fd). Safe from inside callbacks. */
void loop_remove(struct loop *loop, struct loop_watch *w);

/*
 * One-shot timer after ms milliseconds; fn gets fd == -1. The watch is freed
 * once it fires, so the callback must forget its handle.
 */
struct loop_watch *loop_add_timer(struct loop *loop, int64_t ms, loop_fd_fn fn, void *data);
/* Periodic timer every ms milliseconds. */
struct loop_watch *loop_add_interval(struct loop *loop, int64_t ms, loop_fd_fn fn, void *data);

/* Block these signals and deliver them to fn through a signalfd. */
int loop_add_signals(struct loop *loop, const int *sigs, int count, loop_signal_fn fn, void *data);

/* Run until loop_stop(); returns 0. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
