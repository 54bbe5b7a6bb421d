/*
 * trainctl log: print a job's output from its log files (the rotated ones
 * first): all of it, the last N lines with -n, what was written in the last
 * DUR with --since (and -n then counts within that), and with -f follow it
 * as it grows until the job has ended. --plain folds '\r'-redrawn lines and
 * strips escape sequences (lib/plain.h); --timestamps prefixes each line
 * with the local time it was written.
 *
 * Times come from the log's index (lib/logindex.h): records of (generation,
 * offset, time), where the current log is the newest record's generation G
 * and log.N is G-N. Reading follows every byte with its generation and
 * offset, so that the printer can look its time up.
 *
 * Following needs no daemon: it watches the log directory and the job's
 * exit record with inotify. When the log has rotated, the file that comes
 * after the one just finished is found by where that one is now (log.1 ->
 * log, log.2 -> log.1, ...), so that a reader that falls a rotation or two
 * behind still reads every file once, in order.
 */
#include "cli/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/job.h"
#include "lib/logindex.h"
#include "lib/parse.h"
#include "lib/plain.h"
#include "lib/proto.h"
#include "lib/sock.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define LOG_FILES 4 /* the log and its three rotations */

enum { OPT_SINCE = 256, OPT_PLAIN };

static const struct opt_spec log_opts[] = {
	{ 'f', "follow", OPT_FLAG, NULL, "keep printing new output until the job ends" },
	{ 'n', "lines", OPT_VALUE, "N", "only the last N lines (of what --since selects)" },
	{ OPT_SINCE, "since", OPT_VALUE, "DUR", "only what was written in the last DUR (10m, 2h)" },
	{ 't', "timestamps", OPT_FLAG, NULL, "prefix each line with the time it was written" },
	{ OPT_PLAIN, "plain", OPT_FLAG, NULL, "plain text: '\\r'-redrawn lines once, no escapes" },
	{ 0 },
};

struct log_args {
	long lines;       /* -1: all */
	int64_t since_ms; /* an epoch time, or -1: from the start */
	int plain;
	int timestamps;
};

/* ---- the printer: bytes with their place in the log, to stdout ---------------------------- */

/* Where a run of the bytes fed to the plain filter came from. */
struct log_segment {
	uint64_t stream; /* the filter's count of bytes fed at its start */
	int64_t generation;
	int64_t offset;
};

struct log_printer {
	const struct log_args *args;
	char *index_path;
	struct logindex_record *records;
	size_t count;
	off_t index_size; /* when the records were read; read again when it changes */
	struct strbuf out;
	int failed; /* stdout has gone away */
	/* --timestamps without --plain: a stamp is due before the next byte, or after '\r' */
	int line_start;
	int after_cr;
	int64_t stamp_ms; /* the time in `stamp` */
	char stamp[40];
	/* --plain */
	struct plain_filter filter;
	struct log_segment *segments;
	size_t nsegments;
	uint64_t fed;
};

static void printer_read_index(struct log_printer *p)
{
	struct stat st;

	if (stat(p->index_path, &st) < 0 || st.st_size == p->index_size)
		return;
	free(p->records);
	if (logindex_read(p->index_path, &p->records, &p->count, NULL) < 0)
		p->count = 0;
	p->index_size = st.st_size;
}

/* Only --since and --timestamps need to know when output was written. */
static int printer_uses_index(const struct log_printer *p)
{
	return p->args->timestamps || p->args->since_ms >= 0;
}

/* The generation of the current log: that of the newest record, or 0 without an index. */
static int64_t printer_newest_generation(struct log_printer *p)
{
	if (printer_uses_index(p))
		printer_read_index(p);
	return p->count ? p->records[p->count - 1].generation : 0;
}

static void printer_flush(struct log_printer *p)
{
	if (!p->failed && p->out.len && write_all(STDOUT_FILENO, p->out.buf, p->out.len) < 0)
		p->failed = 1;
	strbuf_reset(&p->out);
}

/* Add "2026-11-29 09:15:49 " for the byte at (generation, offset), when the index knows. */
static void printer_stamp(struct log_printer *p, int64_t generation, int64_t offset)
{
	int64_t t = logindex_time_of(p->records, p->count, generation, offset);

	if (t < 0 && p->count)
		t = p->records[0].time_ms; /* before the first record: its time */
	if (t < 0)
		return;
	if (t / 1000 != p->stamp_ms / 1000 || !p->stamp[0]) {
		format_local_time(t, p->stamp, sizeof(p->stamp) - 1);
		strcat(p->stamp, " ");
		p->stamp_ms = t;
	}
	strbuf_addstr(&p->out, p->stamp);
}

/* Raw bytes with a stamp at each line start, and at each '\r' redraw. */
static void printer_stamped(struct log_printer *p, int64_t generation, int64_t offset,
			    const char *data, size_t len)
{
	size_t from = 0;

	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (p->line_start || (p->after_cr && c != '\r' && c != '\n')) {
			strbuf_add(&p->out, data + from, i - from);
			printer_stamp(p, generation, offset + (int64_t)i);
			from = i;
		}
		p->line_start = c == '\n';
		p->after_cr = c == '\r';
	}
	strbuf_add(&p->out, data + from, len - from);
}

/* Where the plain filter's stream position `pos` is in the log; drops segments before it. */
static void printer_locate(struct log_printer *p, uint64_t pos, int64_t *generation,
			   int64_t *offset)
{
	size_t i = p->nsegments;

	while (i > 1 && p->segments[i - 1].stream > pos)
		i--;
	*generation = p->segments[i - 1].generation;
	*offset = p->segments[i - 1].offset + (int64_t)(pos - p->segments[i - 1].stream);
	memmove(p->segments, p->segments + i - 1, (p->nsegments - i + 1) * sizeof(*p->segments));
	p->nsegments -= i - 1;
}

static void printer_plain_line(void *data, const char *line, size_t len, uint64_t start)
{
	struct log_printer *p = data;
	int64_t generation, offset;

	if (p->args->timestamps) {
		printer_locate(p, start, &generation, &offset);
		printer_stamp(p, generation, offset);
	}
	strbuf_add(&p->out, line, len);
	strbuf_addch(&p->out, '\n');
}

/* Note where the bytes about to be fed to the filter come from, unless they continue a run. */
static void printer_add_segment(struct log_printer *p, int64_t generation, int64_t offset)
{
	struct log_segment *last = p->nsegments ? &p->segments[p->nsegments - 1] : NULL;

	if (last && last->generation == generation &&
	    last->offset + (int64_t)(p->fed - last->stream) == offset)
		return;
	p->segments = xreallocarray(p->segments, p->nsegments + 1, sizeof(*p->segments));
	p->segments[p->nsegments++] = (struct log_segment){ p->fed, generation, offset };
}

/* Print len bytes that sit at (generation, offset) in the log. */
static void printer_write(struct log_printer *p, int64_t generation, int64_t offset,
			  const char *data, size_t len)
{
	if (p->args->timestamps)
		printer_read_index(p); /* records come before the bytes they describe */
	if (p->args->plain) {
		if (p->args->timestamps)
			printer_add_segment(p, generation, offset);
		plain_filter_feed(&p->filter, data, len);
		p->fed += len;
	} else if (p->args->timestamps) {
		printer_stamped(p, generation, offset, data, len);
	} else {
		strbuf_add(&p->out, data, len);
	}
	printer_flush(p);
}

static void printer_init(struct log_printer *p, const struct log_args *args, char *index_path)
{
	memset(p, 0, sizeof(*p));
	p->args = args;
	p->index_path = index_path;
	p->index_size = -1;
	p->line_start = 1;
	strbuf_init(&p->out);
	plain_filter_init(&p->filter, printer_plain_line, p);
}

/* The output has ended: print what the plain filter still holds. */
static void printer_finish(struct log_printer *p)
{
	if (p->args->plain)
		plain_filter_finish(&p->filter);
	printer_flush(p);
}

static void printer_release(struct log_printer *p)
{
	plain_filter_release(&p->filter);
	strbuf_release(&p->out);
	free(p->records);
	free(p->segments);
	free(p->index_path);
}

/* ---- what is already there ------------------------------------------------------------------ */

/* A place in the log files: index into log.3, log.2, log.1, log, and an offset in it. */
struct log_pos {
	int file;
	off_t offset;
};

/* The log files oldest first: log.3, log.2, log.1, log. */
static char *log_file(const char *log, int index)
{
	int rotation = LOG_FILES - 1 - index;

	return rotation ? xasprintf("%s.%d", log, rotation) : xstrdup(log);
}

/* Where the last `want` lines of fd begin; *found gets how many lines it holds. */
static off_t tail_offset(int fd, long want, long *found)
{
	char buf[65536];
	off_t end = lseek(fd, 0, SEEK_END), pos = end;
	int first = 1;

	*found = 0;
	while (pos > 0) {
		size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		pos -= (off_t)n;
		if (pread(fd, buf, n, pos) != (ssize_t)n)
			return 0;
		for (size_t i = n; i-- > 0;) {
			/* A final newline ends the last line; it does not start one. */
			if (buf[i] != '\n' || (first && pos + (off_t)i == end - 1)) {
				continue;
			}
			if (++*found == want)
				return pos + (off_t)i + 1;
		}
		first = 0;
	}
	if (end > 0)
		++*found;
	return 0;
}

/* The end of the current log: nothing of what is there is printed. */
static struct log_pos pos_end(const int *fds)
{
	int last = LOG_FILES - 1;

	return (struct log_pos){ last, fds[last] >= 0 ? lseek(fds[last], 0, SEEK_END) : 0 };
}

/* Where the last `lines` lines begin. */
static struct log_pos tail_start(const int *fds, long lines)
{
	struct log_pos pos = { 0, 0 };
	long need = lines, found;

	if (lines == 0)
		return pos_end(fds);
	for (int i = LOG_FILES - 1; i >= 0; i--) {
		if (fds[i] < 0)
			continue;
		pos = (struct log_pos){ i, tail_offset(fds[i], need, &found) };
		if (found >= need)
			break;
		need -= found;
	}
	return pos;
}

/* Where the first byte written at or after since_ms is, in files of generation newest-3.. */
static struct log_pos since_start(const struct log_printer *p, const int *fds, int64_t newest,
				  int64_t since_ms)
{
	int64_t generation, offset, file;

	if (logindex_locate(p->records, p->count, since_ms, &generation, &offset) < 0)
		return pos_end(fds);
	file = generation - (newest - (LOG_FILES - 1));
	if (file < 0) /* in a file rotated away: all that is kept is newer */
		return (struct log_pos){ 0, 0 };
	if (file >= LOG_FILES)
		return pos_end(fds);
	return (struct log_pos){ (int)file, (off_t)offset };
}

static int pos_before(struct log_pos a, struct log_pos b)
{
	return a.file < b.file || (a.file == b.file && a.offset < b.offset);
}

/* Print fd from `from` to its end; returns the offset reached. */
static off_t print_fd(struct log_printer *p, int fd, int64_t generation, off_t from)
{
	char buf[65536];
	ssize_t n;

	lseek(fd, from, SEEK_SET);
	while (!p->failed && (n = read(fd, buf, sizeof(buf))) > 0) {
		printer_write(p, generation, from, buf, (size_t)n);
		from += n;
	}
	return from;
}

/* How following goes on: the file being read, its generation, and how far. */
struct log_follow {
	const char *log;
	int fd;
	int64_t generation;
	off_t offset;
};

/* Print what args select of the log and its rotations; the current log stays open in *fl. */
static void print_existing(struct log_printer *p, const struct log_args *args,
			   struct log_follow *fl)
{
	int64_t newest = printer_newest_generation(p);
	int fds[LOG_FILES];
	struct log_pos start = { 0, 0 }, tail;

	for (int i = 0; i < LOG_FILES; i++) {
		char *path = log_file(fl->log, i);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		free(path);
	}
	if (args->since_ms >= 0)
		start = since_start(p, fds, newest, args->since_ms);
	if (args->lines >= 0 && pos_before(start, tail = tail_start(fds, args->lines)))
		start = tail;
	fl->offset = 0;
	for (int i = start.file; i < LOG_FILES; i++) {
		if (fds[i] >= 0)
			fl->offset = print_fd(p, fds[i], newest - (LOG_FILES - 1 - i),
					      i == start.file ? start.offset : 0);
		if (i < LOG_FILES - 1 && fds[i] >= 0)
			close(fds[i]);
	}
	for (int i = 0; i < start.file; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	fl->fd = fds[LOG_FILES - 1];
	fl->generation = newest;
}

/* Keep the last max_bytes of raw, cut at a line start when there is one. */
static void tail_keep(struct strbuf *raw, size_t max_bytes)
{
	const char *nl;

	if (raw->len <= max_bytes)
		return;
	nl = memchr(raw->buf + raw->len - max_bytes, '\n', max_bytes);
	strbuf_consume(raw, nl ? (size_t)(nl + 1 - raw->buf) : raw->len - max_bytes);
}

/* Drop all but the last `lines` lines of text (each ended by '\n'). */
static void tail_lines(struct strbuf *text, long lines)
{
	size_t i = text->len;
	long seen = 0;

	while (i > 0) {
		if (text->buf[i - 1] == '\n' && i != text->len && ++seen == lines) {
			strbuf_consume(text, i);
			return;
		}
		i--;
	}
}

void log_tail_plain(const char *path, long lines, size_t max_bytes, struct strbuf *out)
{
	struct strbuf raw = STRBUF_INIT, text = STRBUF_INIT;
	int fds[LOG_FILES];
	struct log_pos start;
	char buf[65536];
	ssize_t n;

	for (int i = 0; i < LOG_FILES; i++) {
		char *file = log_file(path, i);
		fds[i] = open(file, O_RDONLY | O_CLOEXEC);
		free(file);
	}
	start = tail_start(fds, lines);
	for (int i = 0; i < LOG_FILES; i++) {
		if (fds[i] < 0)
			continue;
		if (i >= start.file && lseek(fds[i], i == start.file ? start.offset : 0, SEEK_SET) >= 0) {
			while ((n = read(fds[i], buf, sizeof(buf))) > 0) {
				strbuf_add(&raw, buf, (size_t)n);
				tail_keep(&raw, 2 * max_bytes);
			}
		}
		close(fds[i]);
	}
	tail_keep(&raw, max_bytes);
	plain_text(raw.buf ? raw.buf : "", raw.len, &text);
	tail_lines(&text, lines);
	strbuf_add(out, text.buf ? text.buf : "", text.len);
	strbuf_release(&raw);
	strbuf_release(&text);
}

/* ---- following ------------------------------------------------------------------------------ */

static int same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Which rotation (1..LOG_FILES-1) the file open as fd now is, or 0 when none is. */
static int follow_rotation_of(const struct log_follow *fl, int fd)
{
	for (int k = 1; k < LOG_FILES; k++) {
		char *path = xasprintf("%s.%d", fl->log, k);
		int same = same_file(fd, path);
		free(path);
		if (same)
			return k;
	}
	return 0;
}

/*
 * The file after the one just finished, which was rotated to log.k: log.(k-1)
 * (log for k = 1). While the shim rotates, that one may not be there yet, or
 * the finished file may move on; only when the finished one is still at
 * log.k after the open is the opened file the right one. Returns its fd and
 * generation, or -1 to try again at the next event.
 */
static int follow_open_next(struct log_follow *fl, struct log_printer *p, int64_t *generation)
{
	int k = follow_rotation_of(fl, fl->fd);
	char *path;
	int fd;

	if (k == 0) { /* rotated away while we were behind: go on with the oldest kept */
		path = log_file(fl->log, 0);
		*generation = printer_newest_generation(p) - (LOG_FILES - 1);
	} else {
		path = log_file(fl->log, LOG_FILES - k);
		*generation = fl->generation + 1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd >= 0 && k > 0 && follow_rotation_of(fl, fl->fd) != k) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Print what was appended, going on through the files that came after a rotation. */
static void follow_step(struct log_follow *fl, struct log_printer *p)
{
	int64_t generation;
	int fd;

	for (;;) {
		if (fl->fd >= 0)
			fl->offset = print_fd(p, fl->fd, fl->generation, fl->offset);
		if (p->failed || (fl->fd >= 0 && same_file(fl->fd, fl->log)))
			return;
		if (fl->fd < 0) {
			fd = open(fl->log, O_RDONLY | O_CLOEXEC);
			generation = fl->generation;
		} else {
			fd = follow_open_next(fl, p, &generation);
		}
		if (fd < 0)
			return;
		if (fl->fd >= 0)
			close(fl->fd);
		fl->fd = fd;
		fl->generation = generation;
		fl->offset = 0;
	}
}

static int follow(struct log_follow *fl, struct log_printer *p, const char *logs_dir,
		  const char *exit_path, const char *jobs_dir)
{
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	struct pollfd pfd = { .fd = in, .events = POLLIN };
	char ev[4096];

	if (in < 0)
		return -1;
	inotify_add_watch(in, logs_dir, IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO);
	inotify_add_watch(in, jobs_dir, IN_CREATE | IN_MOVED_TO);
	while (!p->failed) {
		follow_step(fl, p);
		if (access(exit_path, F_OK) == 0) {
			follow_step(fl, p); /* the record is written after the last output */
			break;
		}
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		while (read(in, ev, sizeof(ev)) > 0)
			;
	}
	close(in);
	return 0;
}

/* ---- the command ---------------------------------------------------------------------------- */

static int log_parse_args(struct cmd_ctx *ctx, struct log_args *args)
{
	const char *since = opt_value(ctx, OPT_SINCE);
	int64_t ago;
	int n;

	args->lines = -1;
	args->since_ms = -1;
	args->plain = opt_count(ctx, OPT_PLAIN) > 0;
	args->timestamps = opt_count(ctx, 't') > 0;
	if (opt_value(ctx, 'n')) {
		if (parse_uint(opt_value(ctx, 'n'), &n) < 0)
			return err_usage(&ctx->err,
					 "log: invalid -n '%s' (expected a number of lines)",
					 opt_value(ctx, 'n'));
		args->lines = n;
	}
	if (since) {
		if (parse_duration_ms(since, &ago, NULL) < 0)
			return err_usage(&ctx->err,
					 "log: invalid --since '%s' (expected a duration such as "
					 "30s, 10m, 2h, 1h30m)",
					 since);
		args->since_ms = time_now_ms() - ago;
	}
	return 0;
}

/* Follow a running job's log to its end; return once the daemon has recorded the end. */
static int log_follow_job(struct cmd_ctx *ctx, struct log_follow *fl, struct log_printer *p,
			  int64_t id)
{
	char *exit_path = paths_job_exit(&ctx->paths, id);
	json_t *req;
	int ret;

	ret = follow(fl, p, ctx->paths.logs, exit_path, ctx->paths.jobs);
	free(exit_path);
	if (p->failed)
		return ret;
	req = proto_request("wait");
	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	json_decref(client_call(&ctx->paths, req, &ctx->err));
	ctx->err.msg[0] = '\0';
	return ret;
}

static int log_main(struct cmd_ctx *ctx)
{
	struct log_args args;
	struct log_printer printer;
	struct log_follow fl = { .fd = -1 };
	json_t *req, *reply, *job;
	int64_t id;
	int ret = 0;

	if (log_parse_args(ctx, &args) < 0)
		return -1;
	req = proto_request("show");
	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	job = json_object_get(reply, "job");
	id = json_integer_value(json_object_get(job, "id"));
	fl.log = json_string_value(json_object_get(job, "log"));
	printer_init(&printer, &args, paths_job_index(&ctx->paths, id));
	print_existing(&printer, &args, &fl);
	if (opt_count(ctx, 'f') && !printer.failed &&
	    !job_state_is_final((enum job_state)job_state_parse(
		    json_string_value(json_object_get(job, "state")))))
		ret = log_follow_job(ctx, &fl, &printer, id);
	printer_finish(&printer);
	printer_release(&printer);
	if (fl.fd >= 0)
		close(fl.fd);
	json_decref(reply);
	return ret;
}

const struct cmd_entry cmd_log = {
	.name = "log",
	.brief = "a job's output; -f follows it until it ends",
	.synopsis = "JOB",
	.summary = "Print a job's output (all of it, the last N lines, or what was written\n"
		   "in the last DUR); with -f, keep printing as it grows until the job ends.",
	.details = "--since selects by the time output was written (to the second); -n then\n"
		   "counts lines within what --since selects. --plain prints a line redrawn\n"
		   "with '\\r' (a progress bar) once, in its last state, and strips escape\n"
		   "sequences; with -f it prints each line once it is finished.",
	.opts = log_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = log_main,
};
