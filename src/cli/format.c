/* Text formatting of jobs for people; see format.h. */
#include "cli/format.h"

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
