/*
 * The configuration file: $TRAINCTL_CONFIG, else
 * $XDG_CONFIG_HOME/trainctl/config (default ~/.config/trainctl/config).
 * Lines are `key = value`; blank lines and lines whose first non-blank
 * character is '#' are ignored (a '#' later in a line belongs to the value,
 * so that an on-exit command may contain one). Keys without a dot are the
 * daemon's defaults, read once at its start-up; `run.OPTION = VALUE` lines
 * are defaults for `trainctl run`, checked against run's options by the CLI.
 * Command-line options always win. A missing file is no error; a bad line is
 * a usage error naming the file and line.
 */
#ifndef TRAINCTL_CONFIG_H
#define TRAINCTL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* One `run.OPTION = VALUE` line: OPTION without "run.", and where it was. */
struct config_run_default {
	char *option;
	char *value;
	int line;
};

struct config {
	char *path;              /* the file that was read; NULL when there was none */
	int64_t interval_ms;     /* interval: how often jobs are sampled; -1 unset */
	int64_t retention_ms;    /* retention: full-resolution samples kept this long; -1 unset */
	char *metrics;           /* metrics: ADDR:PORT of the Prometheus endpoint; NULL unset */
	int64_t gpu_free_mem;    /* gpu-free-mem: free GPU memory for a GPU to count as free; -1 */
	int64_t stop_timeout_ms; /* stop-timeout: grace of jobs that do not set one; -1 unset */
	int64_t log_max;         /* log-max: log rotation size of jobs that do not set one; -1 */
	char *on_exit;           /* on-exit: shell command run when any job ends; NULL unset */
	int64_t on_exit_timeout_ms; /* on-exit-timeout: on-exit commands are killed after; -1 */
	struct config_run_default *run;
	size_t nrun;
};

/* An empty configuration (everything unset). */
void config_init(struct config *cfg);
void config_release(struct config *cfg);

/* The path of the configuration file (caller frees). */
char *config_path(void);

/*
 * Read the configuration file into cfg (initialised by this call). A missing
 * file leaves everything unset; an unreadable one or a bad line fails.
 */
int config_load(struct config *cfg, struct err *err);

/* Parse the text of a configuration file; path only names it in errors. */
int config_parse(struct config *cfg, const char *path, const char *text, struct err *err);

/* A boolean value: true/false, yes/no, on/off, 1/0. Returns 0/1, or -1. */
int config_parse_bool(const char *value);

/*
 * Check an address to listen on: "HOST:PORT", "[IPV6]:PORT" or ":PORT" (every
 * interface), with a numeric host. The host (without brackets; "" for every
 * interface) goes to host (size bytes), the port to *port.
 */
int config_parse_listen(const char *text, char *host, size_t size, int *port, struct err *err);

#endif
