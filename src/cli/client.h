/*
 * The CLI's side of the control channel: connect to the daemon, starting it
 * on demand (like tmux starts its server), send one request, read the reply.
 */
#ifndef TRAINCTL_CLIENT_H
#define TRAINCTL_CLIENT_H

#include <jansson.h>

#include "lib/err.h"
#include "lib/paths.h"

/* Connect to the daemon of paths->home; start it first when autostart is set. */
int client_connect(const struct paths *paths, int autostart, struct err *err);
/*
 * One request on a new connection (steals req). Returns the reply when it
 * says ok, else NULL with err filled from it.
 */
json_t *client_call(const struct paths *paths, json_t *req, struct err *err);
/* Like client_call, but only to a daemon already running (never starts one). */
json_t *client_call_running(const struct paths *paths, json_t *req, struct err *err);
/* Start a daemon in the background and wait until it is ready. */
int client_start_daemon(const struct paths *paths, struct err *err);

#endif
