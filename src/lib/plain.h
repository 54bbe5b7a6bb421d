/*
 * Job output as plain text, for `trainctl log --plain`: a streaming filter
 * that folds carriage-return redraws and strips ANSI escape sequences.
 *
 * A terminal shows a line redrawn with '\r' (a tqdm bar updated a hundred
 * times) once, in its last state; the filter prints it the same way. A '\r'
 * starts a redraw only when something other than '\n' or '\r' follows it, so
 * "\r\n" (the PTY's line end) is a plain line end, a trailing '\r' erases
 * nothing, and a redrawn line that ends with '\n' prints its last redraw.
 * Escape sequences are stripped from each finished line (lib/ansi.h), so a
 * chunk may end anywhere: inside a sequence, or between '\r' and '\n'.
 *
 * Lifecycle: plain_filter_init, plain_filter_feed as chunks arrive,
 * plain_filter_finish at the end of the output (it hands over an unfinished
 * line), plain_filter_release. Each line goes to a callback as it is
 * finished, with where its shown text began, for `--timestamps`.
 */
#ifndef TRAINCTL_PLAIN_H
#define TRAINCTL_PLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"

/*
 * One finished line: its text (no line end, no escapes; not NUL-terminated
 * and only valid during the call), and where that text began, counted in
 * bytes fed to the filter (a redrawn line begins after its last '\r').
 */
typedef void plain_line_fn(void *data, const char *line, size_t len, uint64_t start);

/* A line that grows past this without '\r' or '\n' is handed over in pieces. */
#define PLAIN_LINE_MAX (1u << 20)

struct plain_filter {
	struct strbuf line; /* the line's latest state so far, escapes still in */
	uint64_t fed;       /* bytes fed so far */
	uint64_t start;     /* where the latest state began */
	int after_cr;       /* the last byte was '\r': a redraw, unless '\n' follows */
	int continued;      /* a piece of this line was handed over (PLAIN_LINE_MAX) */
	plain_line_fn *emit;
	void *data;
};

void plain_filter_init(struct plain_filter *f, plain_line_fn *emit, void *data);
void plain_filter_feed(struct plain_filter *f, const char *buf, size_t len);
/* The output has ended: hand over the unfinished line if it shows any text. */
void plain_filter_finish(struct plain_filter *f);
void plain_filter_release(struct plain_filter *f);

/*
 * Convenience for one buffer: append the plain text of buf (lines ended
 * with '\n', including an unfinished last one) to out.
 */
void plain_text(const char *buf, size_t len, struct strbuf *out);

#endif
