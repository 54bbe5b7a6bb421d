/*
 * The Prometheus endpoint: `daemon --metrics ADDR:PORT` (or `metrics =` in
 * the configuration file) serves GET /metrics from the daemon's own epoll
 * loop with libmicrohttpd — its epoll descriptor is one more watch in our
 * loop, MHD_run runs when it is ready or when MHD's timeout (a loop timer)
 * expires; no thread. The text is rendered (lib/prom.c) from the replies of
 * the `ls` and `machine` requests, the same objects clients get.
 *
 * libmicrohttpd is loaded with dlopen when metrics are asked for: linked in,
 * it and GnuTLS would be loaded by every command and every shim (about 4 ms
 * per exec measured here), for a feature only the daemon uses.
 */
#ifndef TRAINCTL_METRICS_H
#define TRAINCTL_METRICS_H

#include "daemon/daemon.h"

/* Listen on addr ("HOST:PORT") and serve /metrics; -1 with err. */
int metrics_start(struct daemon *d, const char *addr, struct err *err);
void metrics_release(struct daemon *d);

#endif
