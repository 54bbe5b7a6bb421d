/*
 * trainctl top: a live full-screen view of the jobs, the GPUs and the
 * machine, with the actions on a job at a keystroke.
 *
 * top.c is the program: the event loop (poll on the terminal, a signalfd,
 * the daemon connection, the connections of actions in flight and a
 * diagnose child), the data (one persistent connection to the daemon, which
 * gets `ls`, `machine` and the selected job's `samples` once per refresh),
 * and the keys. top_draw.c turns that state into the screen. Everything on
 * screen comes from the daemon, except the selected job's log tail, which is
 * read from its log file as `trainctl log` does.
 */
#ifndef TRAINCTL_TOP_H
#define TRAINCTL_TOP_H

#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli/cmd.h"
#include "lib/strbuf.h"

#define TOP_MESSAGE_MS 6000 /* how long a message stays on the status line */

/* The jobs table's columns, in the order shown. */
enum top_column {
	COL_ID,
	COL_NAME,
	COL_STATE,
	COL_PROGRESS,
	COL_CPU,
	COL_MEM,
	COL_GPU,
	COL_ELAPSED,
	COL_RESTARTS,
	COL_COUNT
};

enum top_view {
	VIEW_MAIN,   /* header, jobs table, detail pane */
	VIEW_DETAIL, /* the selected job on the whole body */
	VIEW_TEXT,   /* a scrollable text: a log or a diagnose report */
	VIEW_HELP,
};

enum top_prompt { PROMPT_NONE, PROMPT_CONFIRM, PROMPT_FILTER, PROMPT_SEARCH };

/* A scrollable text: a job's log, or the report of `trainctl diagnose`. */
struct top_text {
	char title[160];
	struct strbuf body;   /* lines ended by '\n' */
	size_t *lines;        /* where each line starts in body */
	size_t nlines;
	size_t first;         /* the first line shown */
	int at_end;           /* keep the last line in view as lines come */
	char search[128];
	int64_t job_id;
	char *log_path;       /* a log view: the file, and its size and mtime when read */
	off_t log_size;
	int64_t log_mtime_ns;
	pid_t child;          /* a diagnose view: the running command, or 0 */
	int pipe_fd;
	int waiting;          /* it has printed nothing yet: the body is a placeholder */
};

/* A request on a connection of its own (stop, kill, pause, resume, restart). */
struct top_action {
	int fd;
	struct strbuf in;
	char op[16];
	char label[128]; /* "3 (sim)" */
};

struct top {
	struct cmd_ctx *ctx;
	int64_t delay_ms;
	int color;
	int utf8;
	int sigfd;
	int quit;
	/* the daemon connection: requests go out once per refresh, replies come in order */
	int fd;
	struct strbuf in;
	int expect[4]; /* what each reply due answers: enum top_reply */
	int nexpect;
	int64_t sent_ms;
	int64_t lost_ms;      /* when the connection went away, or 0 */
	int64_t autostart_ms; /* the last try to start a daemon */
	int64_t next_tick_ms;
	/* the latest replies */
	json_t *jobs;    /* the `ls` reply's array */
	json_t *machine; /* the `machine` reply */
	char machine_error[1024];
	json_t *samples; /* the selected job's recent samples */
	int64_t samples_id;
	int64_t samples_ms; /* when they were asked for */
	/* the table */
	json_t **rows; /* borrowed from jobs: filtered and sorted */
	int nrows;
	int sel;
	int scroll;
	int64_t sel_id;
	int follow;
	enum top_column sort;
	int reverse;
	int hide_finished;
	char filter[128];
	int show_gpu; /* some GPU data exists: the GPU column and sparkline are shown */
	/* what is on screen */
	enum top_view view;
	enum top_view back; /* where the text and help views return to */
	enum top_prompt prompt;
	struct strbuf input;
	char confirm_op[16];
	int64_t confirm_id;
	char confirm_text[200];
	char message[256];
	int64_t message_ms;
	int message_error;
	struct top_action *actions;
	size_t nactions;
	struct top_text text;
	/* the selected job's log tail */
	struct strbuf tail;
	int64_t tail_id;
	off_t tail_size;
	int64_t tail_mtime_ns;
	/* the layout of the last frame, for the mouse */
	int table_y;   /* the table header's line */
	int table_h;   /* lines of rows shown */
	int col_x[COL_COUNT];
	int col_w[COL_COUNT];
};

/* top_draw.c */
void top_colors_init(struct top *t);
void top_draw(struct top *t);
/* How many job rows the main view shows at the current size. */
int top_table_height(const struct top *t);

/* Helpers shared by top.c and top_draw.c. */
json_t *top_selected(const struct top *t);
int64_t top_job_id(const json_t *job);
int64_t top_job_elapsed_ms(const json_t *job);

#endif
