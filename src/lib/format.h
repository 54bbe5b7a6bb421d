/*
 * Turning job objects (the JSON of the interface) into text for people:
 * the state with its reason, elapsed time, the command line, a job label.
 */
#ifndef TRAINCTL_FORMAT_H
#define TRAINCTL_FORMAT_H

#include <jansson.h>
#include <stdio.h>

#include "lib/strbuf.h"

/* "3 (sim)" or "3". */
void format_job_label(const json_t *job, struct strbuf *out);
/* "running", "failed (exit 3)". */
void format_job_state(const json_t *job, struct strbuf *out);
/* Elapsed run time: started..ended, or started..now; "-" if never started. */
void format_job_elapsed(const json_t *job, char *buf, size_t size);
/*
 * Text from a job (a path, a reason, an event) as it may be printed to a
 * terminal: control characters escaped (\n, \x1b), so that none is obeyed.
 */
void format_text(const char *s, struct strbuf *out);
/* The command line, each argument shell-quoted where needed. */
void format_command(const json_t *argv, struct strbuf *out);
/*
 * A job's progress in a few columns: "[####......] 45% 27/60 ETA 1m10s", with
 * a bar of bar_width cells (0: no bar). "-" when there is none.
 */
void format_progress(const json_t *progress, int bar_width, struct strbuf *out);
/* A job's GPUs, with their memory and utilization when sampled: "0,2 3.1G 87%", or "-". */
void format_job_gpus(const json_t *job, struct strbuf *out);
/*
 * ls's table: id, name, state, pid, elapsed, CPU, memory, GPUs (only when a
 * job has some), progress and command, the last column cut to width (0: not cut).
 */
void format_job_table(const json_t *jobs, FILE *out, int width);
/* A local time for a stored RFC 3339 field, or "-". */
void format_job_time(const json_t *job, const char *key, char *buf, size_t size);

/*
 * A text table: columns sized to their widest cell, the last column cut to
 * the terminal's width with "...". Cells are copied.
 */
struct table {
	int columns;
	int rows;
	char **cells; /* rows x columns */
};

void table_init(struct table *t, int columns, const char *const *header);
void table_add_row(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *out, int width);
void table_release(struct table *t);

/* "3 (sim): stopped (exit 0 after SIGTERM)" for each job of a results array. */
void print_job_results(const json_t *results);
/* Print a JSON value the way --json does: indented, with a newline. */
void print_json(const json_t *value);
/* The width of the terminal on stdout, or 0 when it is not a terminal. */
int terminal_width(void);

#endif
