/* Text formatting of jobs for people; see format.h. */
#include "cli/format.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/parse.h"

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

	strbuf_addstr(out, state ? state : "?");
	if (reason && *reason)
		strbuf_addf(out, " (%s)", reason);
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

void format_command(const json_t *argv, struct strbuf *out)
{
	size_t i;
	json_t *arg;

	json_array_foreach(argv, i, arg) {
		const char *s = json_string_value(arg);
		if (i)
			strbuf_addch(out, ' ');
		if (!needs_quotes(s)) {
			strbuf_addstr(out, s);
			continue;
		}
		strbuf_addch(out, '\'');
		for (; *s; s++) {
			if (*s == '\'')
				strbuf_addstr(out, "'\\''");
			else
				strbuf_addch(out, *s);
		}
		strbuf_addch(out, '\'');
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

void print_json(const json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

int terminal_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}
