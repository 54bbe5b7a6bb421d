/*
 * The --plain filter; see plain.h. The only state between chunks is the
 * current line's latest redraw (raw, escapes still in) and whether a '\r'
 * came last, so a line is stripped only once it is whole and a sequence cut
 * by a chunk boundary is never mistaken for text.
 */
#include "lib/plain.h"

#include <string.h>

#include "lib/ansi.h"

void plain_filter_init(struct plain_filter *f, plain_line_fn *emit, void *data)
{
	strbuf_init(&f->line);
	f->fed = 0;
	f->start = 0;
	f->after_cr = 0;
	f->continued = 0;
	f->emit = emit;
	f->data = data;
}

void plain_filter_release(struct plain_filter *f)
{
	strbuf_release(&f->line);
}

/* Strip the line's escapes, hand it over, and start the next one at `next`. */
static void plain_emit(struct plain_filter *f, uint64_t next)
{
	size_t len = f->line.len ? ansi_strip(f->line.buf, f->line.len) : 0;

	f->emit(f->data, strbuf_str(&f->line), len, f->start);
	strbuf_reset(&f->line);
	f->start = next;
}

/* A '\n': the line ends (unless it is the empty rest of a line handed over in pieces). */
static void plain_end_line(struct plain_filter *f, uint64_t next)
{
	f->after_cr = 0;
	if (f->continued && f->line.len == 0)
		f->start = next;
	else
		plain_emit(f, next);
	f->continued = 0;
}

/* Length of the run of text at buf, up to the next '\r' or '\n'. */
static size_t text_run(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && buf[i] != '\r' && buf[i] != '\n')
		i++;
	return i;
}

/* Text at position pos: a '\r' before it starts a redraw, which drops what was drawn. */
static void plain_add_text(struct plain_filter *f, const char *text, size_t len, uint64_t pos)
{
	if (f->after_cr) {
		strbuf_reset(&f->line);
		f->start = pos;
		f->after_cr = 0;
		f->continued = 0;
	}
	strbuf_add(&f->line, text, len);
	if (f->line.len >= PLAIN_LINE_MAX) {
		plain_emit(f, pos + len);
		f->continued = 1;
	}
}

void plain_filter_feed(struct plain_filter *f, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t pos = f->fed + i;
		size_t n = text_run(buf + i, len - i);

		if (n > 0) {
			plain_add_text(f, buf + i, n, pos);
			i += n;
		} else if (buf[i++] == '\r') {
			f->after_cr = 1;
		} else {
			plain_end_line(f, pos + 1);
		}
	}
	f->fed += len;
}

void plain_filter_finish(struct plain_filter *f)
{
	size_t len;

	f->after_cr = 0;
	f->continued = 0;
	if (f->line.len == 0)
		return;
	len = ansi_strip(f->line.buf, f->line.len);
	if (len > 0)
		f->emit(f->data, f->line.buf, len, f->start);
	strbuf_reset(&f->line);
	f->start = f->fed;
}

static void append_line(void *data, const char *line, size_t len, uint64_t start)
{
	struct strbuf *out = data;

	(void)start;
	strbuf_add(out, line, len);
	strbuf_addch(out, '\n');
}

void plain_text(const char *buf, size_t len, struct strbuf *out)
{
	struct plain_filter f;

	plain_filter_init(&f, append_line, out);
	plain_filter_feed(&f, buf, len);
	plain_filter_finish(&f);
	plain_filter_release(&f);
}
