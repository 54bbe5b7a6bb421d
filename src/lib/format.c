/* Text formatting of jobs for people; see format.h. */
#include "lib/format.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/xmalloc.h"

void format_job_label(const json_t *job, struct strbuf *out)
{
	const char *name = json_string_value(json_object_get(job, "name"));

	strbuf_addf(out, "%lld", (long long)json_integer_value(json_object_get(job, "id")));
	if (name)
		strbuf_addf(out, " (%s)", name);
}

void format_job_state(const json_t *job, struct strbuf *out)
{
	const char *state = json_string_value(json_object_get(job, "state"));
	const char *reason = json_string_value(json_object_get(job, "reason"));
	const char *log_error = json_string_value(json_object_get(json_object_get(job, "log_error"),
								  "error"));

	strbuf_addstr(out, state ? state : "?");
	if ((reason && *reason) || log_error) {
		strbuf_addstr(out, " (");
		format_text(reason ? reason : "", out);
		if (log_error)
			strbuf_addf(out, "%slog not written: %s", reason && *reason ? "; " : "",
				    log_error);
		strbuf_addch(out, ')');
	}
}

void format_job_elapsed(const json_t *job, char *buf, size_t size)
{
	int64_t start = parse_rfc3339_ms(json_string_value(json_object_get(job, "started_at")));
	int64_t end = parse_rfc3339_ms(json_string_value(json_object_get(job, "ended_at")));

	if (start < 0) {
		snprintf(buf, size, "-");
		return;
	}
	format_duration((end >= 0 ? end : time_now_ms()) - start, buf, size);
}

/* Does s need quoting to be read back by a shell as one word? */
static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "-_./=:,+@%^", *s))
			return 1;
	}
	return 0;
}

static int has_control_chars(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 1;
	}
	return 0;
}

/* Control characters as C escapes (\n, \t, \r, \xNN); also ' and \ when quoting. */
static void add_escaped(const char *s, int quoting, struct strbuf *out)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			strbuf_addstr(out, "\\n");
		else if (c == '\t')
			strbuf_addstr(out, "\\t");
		else if (c == '\r')
			strbuf_addstr(out, "\\r");
		else if (c < ' ' || c == 0x7f)
			strbuf_addf(out, "\\x%02x", c);
		else if (quoting && (c == '\'' || c == '\\'))
			strbuf_addf(out, "\\%c", c);
		else
			strbuf_addch(out, (char)c);
	}
}

/* $'...' quoting (bash, zsh, ksh): keeps an argument with newlines on one line. */
static void quote_ansi_c(const char *s, struct strbuf *out)
{
	strbuf_addstr(out, "$'");
	add_escaped(s, 1, out);
	strbuf_addch(out, '\'');
}

void format_text(const char *s, struct strbuf *out)
{
	add_escaped(s, 0, out);
}

void format_command(const json_t *argv, struct strbuf *out)
{
	size_t i;
	json_t *arg;

	json_array_foreach(argv, i, arg) {
		const char *s = json_string_value(arg);
		if (i)
			strbuf_addch(out, ' ');
		if (has_control_chars(s))
			quote_ansi_c(s, out);
		else if (needs_quotes(s))
			strbuf_add_shell_quoted(out, s);
		else
			strbuf_addstr(out, s);
	}
}

void format_job_time(const json_t *job, const char *key, char *buf, size_t size)
{
	int64_t ms = parse_rfc3339_ms(json_string_value(json_object_get(job, key)));

	if (ms < 0)
		snprintf(buf, size, "-");
	else
		format_local_time(ms, buf, size);
}

void print_job_results(const json_t *results)
{
	size_t i, k;
	json_t *job, *warning;

	json_array_foreach(results, i, job) {
		struct strbuf label = STRBUF_INIT, state = STRBUF_INIT;

		format_job_label(job, &label);
		format_job_state(job, &state);
		printf("%s: %s\n", label.buf, state.buf);
		json_array_foreach(json_object_get(job, "warnings"), k, warning)
			fprintf(stderr, "trainctl: warning: %s: %s\n", label.buf, json_string_value(warning));
		strbuf_release(&label);
		strbuf_release(&state);
	}
}

void print_json(const json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	fputc('\n', stdout);
}

int terminal_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}

void table_init(struct table *t, int columns, const char *const *header)
{
	t->columns = columns;
	t->rows = 0;
	t->cells = NULL;
	table_add_row(t, header);
}

void table_add_row(struct table *t, const char *const *cells)
{
	t->cells = xreallocarray(t->cells, (size_t)(t->rows + 1) * (size_t)t->columns,
				 sizeof(char *));
	for (int c = 0; c < t->columns; c++)
		t->cells[t->rows * t->columns + c] = xstrdup(cells[c] ? cells[c] : "-");
	t->rows++;
}

void table_print(const struct table *t, FILE *out, int width)
{
	int widths[16] = { 0 };
	int used = 0;

	ASSERT(t->columns <= 16);
	for (int i = 0; i < t->rows * t->columns; i++) {
		int len = (int)strlen(t->cells[i]);
		if (len > widths[i % t->columns])
			widths[i % t->columns] = len;
	}
	for (int c = 0; c < t->columns - 1; c++)
		used += widths[c] + 2;
	for (int r = 0; r < t->rows; r++) {
		char **row = t->cells + r * t->columns;
		const char *last = row[t->columns - 1];
		int room = width - used;

		for (int c = 0; c < t->columns - 1; c++)
			fprintf(out, "%-*s  ", widths[c], row[c]);
		if (width > 0 && room > 3 && (int)strlen(last) > room)
			fprintf(out, "%.*s...\n", room - 3, last);
		else
			fprintf(out, "%s\n", last);
	}
}

void table_release(struct table *t)
{
	for (int i = 0; i < t->rows * t->columns; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
}

/* "27" or "2.5": a count without useless decimals. */
static void format_count(double v, struct strbuf *out)
{
	if (v == (double)(long long)v)
		strbuf_addf(out, "%lld", (long long)v);
	else
		strbuf_addf(out, "%.1f", v);
}

void format_progress(const json_t *progress, int bar_width, struct strbuf *out)
{
	json_t *ratio = json_object_get(progress, "ratio");
	json_t *total = json_object_get(progress, "total");
	json_t *eta = json_object_get(progress, "eta_seconds");
	char when[32];

	if (!json_is_object(progress)) {
		strbuf_addstr(out, "-");
		return;
	}
	if (bar_width > 0 && json_is_number(ratio)) {
		int filled = (int)(json_number_value(ratio) * bar_width + 0.5);
		strbuf_addch(out, '[');
		for (int i = 0; i < bar_width; i++)
			strbuf_addch(out, i < filled ? '#' : '.');
		strbuf_addstr(out, "] ");
	}
	if (json_is_number(ratio))
		strbuf_addf(out, "%.0f%% ", json_number_value(ratio) * 100);
	format_count(json_number_value(json_object_get(progress, "current")), out);
	if (json_is_number(total)) {
		strbuf_addch(out, '/');
		format_count(json_number_value(total), out);
	}
	if (json_is_number(eta)) {
		format_duration((int64_t)(json_number_value(eta) * 1000), when, sizeof(when));
		strbuf_addf(out, " ETA %s", when);
	}
}

/* "0,2" (the job's GPUs), with its GPU memory and utilization when sampled: "0,2 3.1G 87%". */
void format_job_gpus(const json_t *job, struct strbuf *out)
{
	json_t *gpus = json_object_get(job, "gpus"), *mem = json_object_get(job, "gpu_mem_bytes");
	json_t *util = json_object_get(job, "gpu_util"), *g;
	char size[32];
	size_t i;

	json_array_foreach(gpus, i, g)
		strbuf_addf(out, "%s%lld", i ? "," : "", (long long)json_integer_value(g));
	if (json_is_integer(mem)) {
		format_size(json_integer_value(mem), size, sizeof(size));
		strbuf_addf(out, "%s%s", out->len ? " " : "", size);
	}
	if (json_is_number(util))
		strbuf_addf(out, " %.0f%%", json_number_value(util));
	if (!out->len)
		strbuf_addstr(out, "-");
}

static int any_gpus(const json_t *jobs)
{
	size_t i;
	json_t *job;

	json_array_foreach(jobs, i, job) {
		if (json_array_size(json_object_get(job, "gpus")) ||
		    json_is_integer(json_object_get(job, "gpu_mem_bytes")))
			return 1;
	}
	return 0;
}

static void add_ls_row(struct table *t, const json_t *job, int with_gpus)
{
	struct strbuf gpus = STRBUF_INIT;
	struct strbuf state = STRBUF_INIT, cmd = STRBUF_INIT, progress = STRBUF_INIT;
	json_t *pid = json_object_get(job, "pid");
	char id[24], pidbuf[16] = "-", elapsed[32], cpu[16] = "-", mem[16] = "-";
	json_t *cpu_value = json_object_get(job, "cpu_percent");
	json_t *rss = json_object_get(job, "rss_bytes");
	const char *cells[10];
	int k = 7;

	format_job_state(job, &state);
	format_progress(json_object_get(job, "progress"), 10, &progress);
	format_command(json_object_get(job, "command"), &cmd);
	format_job_elapsed(job, elapsed, sizeof(elapsed));
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(job, "id")));
	if (json_is_integer(pid))
		snprintf(pidbuf, sizeof(pidbuf), "%lld", (long long)json_integer_value(pid));
	cells[0] = id;
	cells[1] = json_string_value(json_object_get(job, "name"));
	cells[2] = state.buf;
	cells[3] = pidbuf;
	if (json_is_number(cpu_value))
		snprintf(cpu, sizeof(cpu), "%.0f%%", json_number_value(cpu_value));
	if (json_is_integer(rss))
		format_size(json_integer_value(rss), mem, sizeof(mem));
	cells[4] = elapsed;
	cells[5] = cpu;
	cells[6] = mem;
	if (with_gpus) {
		format_job_gpus(job, &gpus);
		cells[k++] = gpus.buf;
	}
	cells[k++] = progress.buf;
	cells[k] = cmd.buf;
	table_add_row(t, cells);
	strbuf_release(&gpus);
	strbuf_release(&state);
	strbuf_release(&cmd);
	strbuf_release(&progress);
}

void format_job_table(const json_t *jobs, FILE *out, int width)
{
	static const char *const header[] = { "ID",  "NAME", "STATE",    "PID",    "ELAPSED",
					      "CPU", "MEM",  "PROGRESS", "COMMAND" };
	static const char *const gpu_header[] = { "ID",  "NAME", "STATE", "PID",      "ELAPSED",
						  "CPU", "MEM",  "GPU",   "PROGRESS", "COMMAND" };
	int with_gpus = any_gpus(jobs);
	struct table t;
	size_t i;
	json_t *job;

	table_init(&t, with_gpus ? 10 : 9, with_gpus ? gpu_header : header);
	json_array_foreach(jobs, i, job)
		add_ls_row(&t, job, with_gpus);
	table_print(&t, out, width);
	table_release(&t);
}
