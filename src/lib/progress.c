/*
 * Progress from a job's output; see progress.h for the formats.
 *
 * The stream is cut into lines at '\n' and '\r'. Each completed line is read
 * once; the unterminated tail is also read at the end of every feed, because
 * tqdm draws "\r<bar>" and the terminator only comes with the next redraw. A
 * tail is read only when it looks finished (it does not end inside a number
 * and has no '[' left open), so a read() that splits "450/1000" into
 * "450/10" and "00" never reports a total of 10; and a tail that was read is
 * not read again when its terminator arrives. A line is kept to
 * LINE_MAX_BYTES (the rest is dropped), so a job that never prints a newline
 * cannot grow our memory.
 *
 * Each line, with its escape sequences stripped, goes to the user's regex if
 * there is one, else to the built-in formats in rank order. A rank-2 format
 * counts epochs, a rank-1 format (a tqdm bar) counts steps inside one; once an
 * epoch format has matched, bars are ignored for the parser's life.
 *
 * Counts are kept in base units: "1.2k" is 1200 and "12.3MB" is 12300000
 * with the unit "B". The rate and the ETA come from the line when it gives
 * them (tqdm); otherwise the rate is the progress since the first sample of
 * the run over the time since then, re-estimated whenever the count moves.
 */
#include "lib/progress.h"

#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ansi.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define LINE_MAX_BYTES 4096
#define MAX_GROUPS 10

/* What one line says; rate and eta are -1 unless the line gives them. */
struct reading {
	double current;
	double total;
	double rate;
	double eta;
	char unit[16];
	const char *format;
	int rank;
};

/* A decimal count with its SI prefix applied, and what follows it. */
struct quantity {
	double value;
	char unit[16];
};

typedef int (*format_read_fn)(const char *line, const regmatch_t *m, double total,
			      struct reading *r);

struct format {
	const char *name;
	int rank;
	int cflags;
	const char *pattern;
	format_read_fn read;
};

static void unit_set(char *unit, const char *s, size_t len)
{
	if (len > 15)
		len = 15;
	memcpy(unit, s, len);
	unit[len] = '\0';
}

static double si_factor(char c)
{
	switch (c) {
	case 'k': return 1e3;
	case 'M': return 1e6;
	case 'G': return 1e9;
	case 'T': return 1e12;
	case 'P': return 1e15;
	default: return 0;
	}
}

/* Read "450", "1.2k", "12.3MB" or "44.1it": a decimal, an SI prefix, a unit. */
static int quantity_parse(const char *s, size_t len, struct quantity *q)
{
	char digits[32], *end;
	size_t n = 0;

	while (n < len && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.'))
		n++;
	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	q->value = strtod(digits, &end);
	if (end == digits)
		return -1;
	if (n < len && si_factor(s[n]) > 0)
		q->value *= si_factor(s[n++]);
	unit_set(q->unit, s + n, len - n);
	return 0;
}

/* Seconds in "mm:ss" or "h:mm:ss"; -1 for "?" or anything else. */
static double clock_parse(const char *s, size_t len)
{
	double seconds = 0, field = 0;
	int fields = 1;

	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			field = field * 10 + (s[i] - '0');
		} else if (s[i] == ':') {
			seconds = (seconds + field) * 60;
			field = 0;
			fields++;
		} else {
			return -1;
		}
	}
	if (fields < 2 || fields > 3)
		return -1;
	return seconds + field;
}

/* Read a tqdm rate: "44.1it/s", "12.3MB/s", "2.50s/it" (seconds per unit), "?it/s". */
static void rate_parse(const char *s, size_t len, struct reading *r)
{
	const char *slash = memchr(s, '/', len);
	const char *per;
	size_t per_len;
	struct quantity q;

	if (!slash)
		return;
	per = slash + 1;
	per_len = len - (size_t)(per - s);
	if (s[0] == '?') {
		unit_set(r->unit, s + 1, (size_t)(slash - s - 1));
		return;
	}
	if (quantity_parse(s, (size_t)(slash - s), &q) < 0 || q.value <= 0)
		return;
	if (per_len == 1 && per[0] == 's') {
		r->rate = q.value;
		unit_set(r->unit, q.unit, strlen(q.unit));
	} else if (strcmp(q.unit, "s") == 0) {
		r->rate = 1 / q.value;
		unit_set(r->unit, per, per_len);
	}
}

/* Point s at group i of a match; 0 when the group took no part. */
static int group_get(const char *line, const regmatch_t *m, int i, const char **s, size_t *len)
{
	if (m[i].rm_so < 0)
		return 0;
	*s = line + m[i].rm_so;
	*len = (size_t)(m[i].rm_eo - m[i].rm_so);
	return 1;
}

static int group_quantity(const char *line, const regmatch_t *m, int i, struct quantity *q)
{
	const char *s;
	size_t len;

	if (!group_get(line, m, i, &s, &len))
		return -1;
	return quantity_parse(s, len, q);
}

static double group_clock(const char *line, const regmatch_t *m, int i)
{
	const char *s;
	size_t len;

	return group_get(line, m, i, &s, &len) ? clock_parse(s, len) : -1;
}

/* "Epoch 3/10", "epoch: [3/10]", "epoch 3 of 10": groups 2 and 4. */
static int epoch_read(const char *line, const regmatch_t *m, double total, struct reading *r)
{
	struct quantity current, of;

	(void)total;
	if (group_quantity(line, m, 2, &current) < 0 || group_quantity(line, m, 4, &of) < 0)
		return -1;
	r->current = current.value;
	r->total = of.value;
	return 0;
}

/* "{'loss': 0.41, ..., 'epoch': 1.5}": group 1; the total only from the caller. */
static int hf_read(const char *line, const regmatch_t *m, double total, struct reading *r)
{
	r->current = strtod(line + m[1].rm_so, NULL);
	r->total = total;
	return 0;
}

/* "Epoch 3: 45%|...| 450/1000 [...]": epoch 3 plus 450/1000 of the next (epochs count from 0). */
static int lightning_read(const char *line, const regmatch_t *m, double total, struct reading *r)
{
	struct quantity epoch, done, of, percent;
	double fraction = 0;

	if (group_quantity(line, m, 2, &epoch) < 0)
		return -1;
	if (group_quantity(line, m, 6, &done) == 0 && group_quantity(line, m, 7, &of) == 0 &&
	    of.value > 0)
		fraction = done.value / of.value;
	else if (group_quantity(line, m, 4, &percent) == 0)
		fraction = percent.value / 100;
	r->current = epoch.value + fraction;
	r->total = total;
	return 0;
}

/* "450/1000 [00:10<00:12, 44.1it/s]" or "450it [00:10, 44.1it/s]", after any bar. */
static int tqdm_read(const char *line, const regmatch_t *m, double total, struct reading *r)
{
	struct quantity current, of;
	const char *rate;
	size_t rate_len;

	if (group_quantity(line, m, 2, &current) < 0)
		return -1;
	r->current = current.value;
	r->total = group_quantity(line, m, 4, &of) == 0 ? of.value : total;
	if (current.unit[0])
		unit_set(r->unit, current.unit, strlen(current.unit)); /* "12.3MB" */
	r->eta = group_clock(line, m, 7);
	if (group_get(line, m, 8, &rate, &rate_len))
		rate_parse(rate, rate_len, r);
	return 0;
}

/*
 * The built-in formats, tried in this order; a match whose rank is below the
 * best rank seen so far is not tried. All are POSIX EREs.
 */
static const struct format formats[] = {
	{ "lightning", 2, REG_ICASE,
	  "(^|[^A-Za-z0-9_])epoch +([0-9]+) *:"
	  "( *([0-9]+)%\\|[^|]*\\|( *([0-9.]+[A-Za-z]*)/([0-9.]+[A-Za-z]*))?"
	  "| *:? *[0-9.]+[A-Za-z]* *\\[[0-9]+:)",
	  lightning_read },
	{ "epoch", 2, REG_ICASE,
	  "(^|[^A-Za-z0-9_])epoch *:? *\\[? *([0-9]+) *(/|of) *([0-9]+)", epoch_read },
	{ "hf", 2, 0,
	  "\\{[^}]*['\"]epoch['\"] *: *([0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?)", hf_read },
	{ "tqdm", 1, 0,
	  "(^|[^0-9.A-Za-z])([0-9.]+[A-Za-z]*)(/([0-9.]+[A-Za-z]*))? *"
	  "\\[([0-9]+:[0-9:]+)(<([0-9:]+|\\?))?, *((\\?|[0-9.]+)[A-Za-z]*/[A-Za-z]+)",
	  tqdm_read },
};

struct progress_parser {
	regex_t user;
	int user_groups; /* 0 when there is no user regex */
	regex_t builtin[ARRAY_SIZE(formats)];
	int builtin_compiled; /* at the first line read: compiled, they take ~70 kB */
	double total; /* --progress-total, or 0 */
	int rank;     /* the best rank matched so far */
	struct strbuf line; /* the line being received, at most LINE_MAX_BYTES */
	int line_read;      /* it was read and nothing came since */
	struct strbuf text; /* scratch: a line without its escape sequences */
	double first_current; /* the first sample of the run, for a computed rate */
	int64_t first_ms;
	struct progress progress;
};

static int user_compile(struct progress_parser *p, const char *regex, struct err *err)
{
	char why[256];
	int rc = regcomp(&p->user, regex, REG_EXTENDED);

	if (rc != 0) {
		regerror(rc, &p->user, why, sizeof(why));
		return err_usage(err,
				 "invalid --progress-regex '%s': %s (expected a POSIX extended "
				 "regex with one group for the current value, or two for current "
				 "and total)",
				 regex, why);
	}
	if (p->user.re_nsub == 0) {
		regfree(&p->user);
		return err_usage(err,
				 "--progress-regex '%s' has no group (expected one group for the "
				 "current value, or two for current and total, e.g. "
				 "'step ([0-9]+)/([0-9]+)')",
				 regex);
	}
	p->user_groups = (int)p->user.re_nsub;
	return 0;
}

/*
 * The built-in formats are compiled when the first line comes, not with the
 * parser: every running job's shim has one, and a job that prints nothing
 * (or only through its own files) should not pay for the compiled patterns.
 */
static void builtin_compile(struct progress_parser *p)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		ASSERT(regcomp(&p->builtin[i], formats[i].pattern,
			       REG_EXTENDED | formats[i].cflags) == 0);
	p->builtin_compiled = 1;
}

static void progress_clear(struct progress *pr)
{
	memset(pr, 0, sizeof(*pr));
	pr->ratio = -1;
	pr->eta_seconds = -1;
}

struct progress_parser *progress_parser_new(const char *regex, double total, struct err *err)
{
	struct progress_parser *p = xcalloc(1, sizeof(*p));

	p->total = total > 0 ? total : 0;
	progress_clear(&p->progress);
	if (regex && user_compile(p, regex, err) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

void progress_parser_free(struct progress_parser *p)
{
	if (!p)
		return;
	if (p->user_groups)
		regfree(&p->user);
	for (size_t i = 0; p->builtin_compiled && i < ARRAY_SIZE(formats); i++)
		regfree(&p->builtin[i]);
	strbuf_release(&p->line);
	strbuf_release(&p->text);
	free(p);
}

const struct progress *progress_parser_get(const struct progress_parser *p)
{
	return &p->progress;
}

static void reading_init(struct reading *r, const char *format, int rank)
{
	memset(r, 0, sizeof(*r));
	r->rate = -1;
	r->eta = -1;
	r->format = format;
	r->rank = rank;
	strcpy(r->unit, rank == 2 ? "epoch" : "it");
}

/* Group 1 is the current value, group 2 (if any) the total. */
static int user_read(struct progress_parser *p, const char *text, struct reading *r)
{
	regmatch_t m[MAX_GROUPS];
	struct quantity current, of;

	if (regexec(&p->user, text, MAX_GROUPS, m, 0) != 0)
		return 0;
	reading_init(r, "regex", 0);
	if (group_quantity(text, m, 1, &current) < 0)
		return 0;
	r->current = current.value;
	r->total = p->total;
	if (p->user_groups >= 2 && group_quantity(text, m, 2, &of) == 0)
		r->total = of.value;
	return 1;
}

/* The first built-in format, of a rank still allowed, that reads the line. */
static int builtin_read(struct progress_parser *p, const char *text, struct reading *r)
{
	regmatch_t m[MAX_GROUPS];

	if (!p->builtin_compiled)
		builtin_compile(p);
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		if (formats[i].rank < p->rank ||
		    regexec(&p->builtin[i], text, MAX_GROUPS, m, 0) != 0)
			continue;
		reading_init(r, formats[i].name, formats[i].rank);
		if (formats[i].read(text, m, p->total, r) == 0)
			return 1;
	}
	return 0;
}

/* Start a new first sample when the run starts over: a new unit, or the count went back. */
static void sample_track(struct progress_parser *p, const struct progress *next, int64_t now_ms)
{
	const struct progress *old = &p->progress;

	if (!old->valid || strcmp(old->unit, next->unit) != 0 || next->current < p->first_current) {
		p->first_current = next->current;
		p->first_ms = now_ms;
	}
}

/* Units per second since the first sample, once a second and some progress have passed. */
static double rate_from_time(const struct progress_parser *p, const struct progress *next,
			     int64_t now_ms)
{
	const struct progress *old = &p->progress;
	double seconds = (double)(now_ms - p->first_ms) / 1000;

	if (old->valid && strcmp(old->unit, next->unit) == 0 && old->current == next->current)
		return old->rate; /* no new progress: keep the estimate made when it last moved */
	if (seconds < 1 || next->current <= p->first_current)
		return 0;
	return (next->current - p->first_current) / seconds;
}

static double eta_from_rate(const struct progress *pr)
{
	if (pr->total <= 0 || pr->rate <= 0)
		return -1;
	return pr->current < pr->total ? (pr->total - pr->current) / pr->rate : 0;
}

static int progress_equal(const struct progress *a, const struct progress *b)
{
	return a->valid == b->valid && a->current == b->current && a->total == b->total &&
	       a->rate == b->rate && a->eta_seconds == b->eta_seconds &&
	       strcmp(a->unit, b->unit) == 0 && strcmp(a->format, b->format) == 0;
}

/* Make a reading the progress; 1 when that changed it. */
static int progress_apply(struct progress_parser *p, const struct reading *r, int64_t now_ms)
{
	struct progress next;

	if (r->rank > p->rank)
		p->rank = r->rank;
	progress_clear(&next);
	next.valid = 1;
	next.current = r->current;
	next.total = r->total > 0 ? r->total : 0;
	if (next.total > 0)
		next.ratio = next.current >= next.total ? 1 : next.current / next.total;
	snprintf(next.unit, sizeof(next.unit), "%s", r->unit);
	snprintf(next.format, sizeof(next.format), "%s", r->format);
	sample_track(p, &next, now_ms);
	next.rate = r->rate > 0 ? r->rate : rate_from_time(p, &next, now_ms);
	next.eta_seconds = r->eta >= 0 ? r->eta : eta_from_rate(&next);
	if (progress_equal(&p->progress, &next))
		return 0;
	next.updated_ms = now_ms;
	p->progress = next;
	return 1;
}

/* Read one clean, NUL-terminated line. */
static int text_apply(struct progress_parser *p, const char *text, int64_t now_ms)
{
	struct reading r;
	int found;

	if (!strpbrk(text, "0123456789"))
		return 0;
	/*
	 * Every built-in format holds "epoch" or a '[': a line with neither is
	 * not tried, which keeps a job that prints fast from paying a regex
	 * search per line.
	 */
	if (!p->user_groups && !strchr(text, '[') && !strcasestr(text, "epoch"))
		return 0;
	found = p->user_groups ? user_read(p, text, &r) : builtin_read(p, text, &r);
	return found ? progress_apply(p, &r, now_ms) : 0;
}

/* Copy a line into p->text without escape sequences (and NULs, which would end it). */
static const char *text_clean(struct progress_parser *p, const char *s, size_t len)
{
	strbuf_reset(&p->text);
	strbuf_add(&p->text, s, len);
	p->text.len = ansi_strip(p->text.buf, len);
	p->text.buf[p->text.len] = '\0';
	for (size_t i = 0; i < p->text.len; i++) {
		if (p->text.buf[i] == '\0')
			p->text.buf[i] = ' ';
	}
	return p->text.buf;
}

/* Whether an unterminated line may still be growing inside what we would read. */
static int text_unfinished(const char *s, size_t len)
{
	const char *open, *close;

	if (len > 0 && ((s[len - 1] >= '0' && s[len - 1] <= '9') || s[len - 1] == '.'))
		return 1;
	open = memrchr(s, '[', len); /* a tqdm rate cut as "2.50s/i" would read as unit "i" */
	close = memrchr(s, ']', len);
	return open && (!close || close < open);
}

int progress_parse_line(struct progress_parser *p, const char *line, int64_t now_ms)
{
	return text_apply(p, text_clean(p, line, strlen(line)), now_ms);
}

static void line_append(struct progress_parser *p, const char *data, size_t len)
{
	size_t room = LINE_MAX_BYTES - p->line.len;

	if (len > room)
		len = room; /* drop the rest of an overlong line */
	if (len == 0)
		return;
	strbuf_add(&p->line, data, len);
	p->line_read = 0;
}

typedef unsigned char bytes16 __attribute__((vector_size(16)));

/* Whether lane k of a vector comparison's result is set. */
static int lane_set(bytes16 v, int k)
{
	return v[k] != 0;
}

/*
 * Where "poch" in any case (epoch, Epoch, EPOCH) first is in s, len when
 * nowhere: sixteen positions per step with portable vector operations (the
 * output of every job goes through here; memmem would look at each 'p').
 */
static size_t find_poch(const char *s, size_t len)
{
	size_t i = 0;

	for (; i + 19 <= len; i += 16) {
		bytes16 a, b, c, d, hit;
		uint64_t half[2];

		memcpy(&a, s + i, 16);
		memcpy(&b, s + i + 1, 16);
		memcpy(&c, s + i + 2, 16);
		memcpy(&d, s + i + 3, 16);
		hit = (bytes16)((a | 0x20) == 'p') & (bytes16)((b | 0x20) == 'o') &
		      (bytes16)((c | 0x20) == 'c') & (bytes16)((d | 0x20) == 'h');
		memcpy(half, &hit, sizeof(half));
		if (!(half[0] | half[1]))
			continue;
		for (int k = 0; k < 16; k++) {
			if (lane_set(hit, k))
				return i + (size_t)k;
		}
	}
	for (; i + 4 <= len; i++) {
		if ((s[i] | 0x20) == 'p' && (s[i + 1] | 0x20) == 'o' && (s[i + 2] | 0x20) == 'c' &&
		    (s[i + 3] | 0x20) == 'h')
			return i;
	}
	return len;
}

/*
 * Could the raw line match a built-in format? They all need a '[' (a bar, or
 * a colour escape around one) or "epoch": a job printing fast has most of
 * its lines skipped here, before they are copied and cleaned.
 */
static int raw_may_match(const struct progress_parser *p, const char *s, size_t len)
{
	return p->user_groups || memchr(s, '[', len) || find_poch(s, len) < len;
}

/* A terminator came: read the line unless it was read as a tail, then start anew. */
static int line_finish(struct progress_parser *p, int64_t now_ms)
{
	int changed = 0;

	if (p->line.len > 0 && !p->line_read && raw_may_match(p, p->line.buf, p->line.len))
		changed = text_apply(p, text_clean(p, p->line.buf, p->line.len), now_ms);
	strbuf_reset(&p->line);
	p->line_read = 0;
	return changed;
}

/* Read the unterminated tail if it looks finished (a tqdm bar waiting for its next redraw). */
static int line_read_tail(struct progress_parser *p, int64_t now_ms)
{
	const char *text;

	if (p->line.len == 0 || p->line_read || !raw_may_match(p, p->line.buf, p->line.len))
		return 0;
	text = text_clean(p, p->line.buf, p->line.len);
	if (text_unfinished(text, p->text.len))
		return 0;
	p->line_read = 1;
	return text_apply(p, text, now_ms);
}

/* Bytes before the first '\n' or '\r' (len when there is none), with vectorized searches. */
static size_t line_length(const char *s, size_t len)
{
	const char *nl = memchr(s, '\n', len);
	size_t n = nl ? (size_t)(nl - s) : len;
	const char *cr = memchr(s, '\r', n);

	return cr ? (size_t)(cr - s) : n;
}

/* Where the first built-in format's mark ('[', "poch" in any case) is; len when none. */
static size_t first_mark(const char *s, size_t len)
{
	const char *bracket = memchr(s, '[', len);

	/* Only before the bracket: a mark anywhere in its line will do. */
	return find_poch(s, bracket ? (size_t)(bracket - s) : len);
}

/* Just past the last '\n' or '\r' of s[0, end); 0 when there is none. */
static size_t past_last_terminator(const char *s, size_t end)
{
	const char *nl = memrchr(s, '\n', end), *cr = memrchr(s, '\r', end);
	size_t a = nl ? (size_t)(nl - s) + 1 : 0, b = cr ? (size_t)(cr - s) + 1 : 0;

	return a > b ? a : b;
}

int progress_parser_feed(struct progress_parser *p, const char *data, size_t len, int64_t now_ms)
{
	size_t i = 0, mark = 0;
	int changed = 0;

	while (i < len) {
		size_t n;

		/*
		 * At the start of a line, whole lines before the next mark cannot
		 * match a built-in format: pass over them in one step (a job
		 * printing fast prints mostly such lines).
		 */
		if (p->line.len == 0 && !p->user_groups && i >= mark) {
			mark = i + first_mark(data + i, len - i);
			i += past_last_terminator(data + i, mark - i);
			p->line_read = 0;
			if (i == len)
				break;
		}
		n = line_length(data + i, len - i);

		line_append(p, data + i, n);
		i += n;
		if (i == len)
			break;
		changed |= line_finish(p, now_ms);
		i++;
	}
	changed |= line_read_tail(p, now_ms);
	return changed;
}
