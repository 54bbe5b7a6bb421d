/*
 * Rendering charts of time series for `trainctl plot`; see chart.h.
 *
 * The terminal chart draws each series on a raster of dots, joining
 * consecutive samples with straight lines (Bresenham), then turns the raster
 * into characters: a braille character holds 2x4 dots, so an 8-row panel
 * has 32 levels of resolution; in ASCII one cell is one dot. The SVG puts
 * the same series in a polyline, after a min/max decimation that keeps
 * spikes visible however many samples a long job has.
 */
#include "lib/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/parse.h"
#include "lib/xmalloc.h"

void chart_init(struct chart *c, const char *title)
{
	memset(c, 0, sizeof(*c));
	c->title = xstrdup(title ? title : "");
}

void chart_release(struct chart *c)
{
	for (size_t i = 0; i < c->panel_count; i++) {
		free(c->panels[i]->name);
		free(c->panels[i]->points);
		free(c->panels[i]);
	}
	free(c->panels);
	free(c->title);
	memset(c, 0, sizeof(*c));
}

struct chart_panel *chart_add_panel(struct chart *c, const char *name, enum chart_unit unit)
{
	struct chart_panel *p = xcalloc(1, sizeof(*p));

	p->name = xstrdup(name);
	p->unit = unit;
	/* an array of pointers: sizeof a pointer is meant */
	c->panels = xreallocarray(c->panels, c->panel_count + 1,
				  sizeof(*c->panels)); /* NOLINT(bugprone-sizeof-expression) */
	c->panels[c->panel_count++] = p;
	return p;
}

void chart_panel_add(struct chart_panel *p, int64_t t_ms, double v)
{
	if (p->count == p->alloc) {
		p->alloc = p->alloc ? p->alloc * 2 : 64;
		p->points = xreallocarray(p->points, p->alloc, sizeof(*p->points));
	}
	p->points[p->count].t_ms = t_ms;
	p->points[p->count].v = v;
	p->count++;
}

/* ---- ranges and labels ---------------------------------------------------- */

/* The time span of every point of the chart; 0 when there is none. */
static int chart_time_range(const struct chart *c, int64_t *t0, int64_t *t1)
{
	int found = 0;

	for (size_t i = 0; i < c->panel_count; i++) {
		const struct chart_panel *p = c->panels[i];
		if (!p->count)
			continue;
		if (!found || p->points[0].t_ms < *t0)
			*t0 = p->points[0].t_ms;
		if (!found || p->points[p->count - 1].t_ms > *t1)
			*t1 = p->points[p->count - 1].t_ms;
		found = 1;
	}
	return found;
}

/* The value axis: from zero (or the lowest value if negative) to the highest. */
static void panel_value_range(const struct chart_panel *p, double *lo, double *hi)
{
	*lo = 0;
	*hi = 0;
	for (size_t i = 0; i < p->count; i++) {
		if (p->points[i].v < *lo)
			*lo = p->points[i].v;
		if (p->points[i].v > *hi)
			*hi = p->points[i].v;
	}
	if (*hi <= *lo)
		*hi = *lo + 1;
}

static double panel_max(const struct chart_panel *p)
{
	double max = p->points[0].v;

	for (size_t i = 1; i < p->count; i++)
		max = p->points[i].v > max ? p->points[i].v : max;
	return max;
}

void chart_format_value(enum chart_unit unit, double v, char *buf, size_t size)
{
	int whole = v == floor(v);

	switch (unit) {
	case CHART_PERCENT:
		snprintf(buf, size, !whole && fabs(v) < 10 ? "%.1f%%" : "%.0f%%", v);
		break;
	case CHART_BYTES:
		format_size((int64_t)llround(v), buf, size);
		break;
	case CHART_RATE: {
		char size_text[32];
		format_size((int64_t)llround(v), size_text, sizeof(size_text));
		snprintf(buf, size, "%s/s", size_text);
		break;
	}
	case CHART_COUNT:
		snprintf(buf, size, whole ? "%.0f" : "%.1f", v);
		break;
	}
}

void chart_format_elapsed(int64_t ms, char *buf, size_t size)
{
	long long s = (long long)(ms / 1000);

	if (ms <= 0)
		snprintf(buf, size, "0s");
	else if (ms < 1000)
		snprintf(buf, size, "%lldms", (long long)ms);
	else if (s < 60 && ms % 1000)
		snprintf(buf, size, "%.1fs", (double)ms / 1000);
	else if (s < 60)
		snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		snprintf(buf, size, s % 60 ? "%lldm%02llds" : "%lldm", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, s % 3600 / 60 ? "%lldh%02lldm" : "%lldh", s / 3600,
			 s % 3600 / 60);
	else
		snprintf(buf, size, s % 86400 / 3600 ? "%lldd%02lldh" : "%lldd", s / 86400,
			 s % 86400 / 3600);
}

/* "from 2026-11-29 09:15:49 to 2026-11-29 09:18:49 (3m12s)", for the SVG's header. */
static void describe_time_range(int64_t t0, int64_t t1, struct strbuf *out)
{
	char from[64], to[64], span[32];

	format_local_time(t0, from, sizeof(from));
	format_local_time(t1, to, sizeof(to));
	chart_format_elapsed(t1 - t0, span, sizeof(span));
	strbuf_addf(out, "from %s to %s (%s)", from, to, span);
}

/* "3m12s from 2026-11-29 09:15:49", short enough for a terminal's header line. */
static void describe_time_span(int64_t t0, int64_t t1, struct strbuf *out)
{
	char from[64], span[32];

	format_local_time(t0, from, sizeof(from));
	chart_format_elapsed(t1 - t0, span, sizeof(span));
	strbuf_addf(out, "%s from %s", span, from);
}

static const int64_t tick_steps[] = {
	100,	 200,	  500,	   1000,    2000,     5000,	10000,	   15000,
	30000,	 60000,	  120000,  300000,  600000,   900000,	1800000,   3600000,
	7200000, 10800000, 21600000, 43200000, 86400000, 172800000, 604800000,
};

/* The spacing of time ticks: a round step that gives at most max_ticks ticks. */
static int64_t tick_step(int64_t range, int max_ticks)
{
	int64_t step = tick_steps[ARRAY_SIZE(tick_steps) - 1];

	for (size_t i = 0; i < ARRAY_SIZE(tick_steps); i++) {
		if (range / tick_steps[i] + 1 <= max_ticks)
			return tick_steps[i];
	}
	while (range / step + 1 > max_ticks)
		step *= 2;
	return step;
}

/* ---- the raster ------------------------------------------------------------- */

struct raster {
	int w, h;	     /* in dots */
	unsigned char *dots; /* w x h, row 0 at the top: 0 empty, 1 line, 2 sample */
};

enum { DOT_LINE = 1, DOT_SAMPLE = 2 };

/* Map frac (0..1) onto n positions. */
static int scale(double frac, int n)
{
	long v = lround(frac * (n - 1));

	return v < 0 ? 0 : v > n - 1 ? n - 1 : (int)v;
}

static void raster_mark(struct raster *r, int x, int y, unsigned char mark)
{
	unsigned char *dot = &r->dots[(size_t)y * (size_t)r->w + (size_t)x];

	if (*dot < mark)
		*dot = mark;
}

/* Bresenham's line from (x0, y0) to (x1, y1), both inside the raster. */
static void raster_line(struct raster *r, int x0, int y0, int x1, int y1)
{
	int dx = abs(x1 - x0), dy = -abs(y1 - y0);
	int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
	int e = dx + dy;

	for (;;) {
		int e2 = 2 * e;
		raster_mark(r, x0, y0, DOT_LINE);
		if (x0 == x1 && y0 == y1)
			break;
		if (e2 >= dy) {
			e += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			e += dx;
			y0 += sy;
		}
	}
}

/* Where a point falls on the raster (row 0 at the top). */
static void raster_place(const struct raster *r, const struct chart_point *pt, double lo,
			 double hi, int64_t t0, int64_t t1, int *x, int *y)
{
	*x = scale(t1 > t0 ? (double)(pt->t_ms - t0) / (double)(t1 - t0) : 0, r->w);
	*y = r->h - 1 - scale(hi > lo ? (pt->v - lo) / (hi - lo) : 0, r->h);
}

/* Draw the series: lines between consecutive samples, the samples on top. */
static void raster_draw(struct raster *r, const struct chart_panel *p, double lo, double hi,
			int64_t t0, int64_t t1)
{
	int px = 0, py = 0, x, y, have_previous = 0;

	for (size_t i = 0; i < p->count; i++) {
		if (!isfinite(p->points[i].v))
			continue;
		raster_place(r, &p->points[i], lo, hi, t0, t1, &x, &y);
		if (have_previous)
			raster_line(r, px, py, x, y);
		px = x;
		py = y;
		have_previous = 1;
	}
	for (size_t i = 0; i < p->count; i++) {
		if (!isfinite(p->points[i].v))
			continue;
		raster_place(r, &p->points[i], lo, hi, t0, t1, &x, &y);
		raster_mark(r, x, y, DOT_SAMPLE);
	}
}

/* The dots of one braille cell (U+2800 + bits): dots 1-3 and 7 on the left, 4-6 and 8 right. */
static const unsigned char braille_bit[4][2] = {
	{ 0x01, 0x08 },
	{ 0x02, 0x10 },
	{ 0x04, 0x20 },
	{ 0x40, 0x80 },
};

static void braille_cell(const struct raster *r, int col, int row, struct strbuf *out)
{
	unsigned bits = 0;

	for (int dy = 0; dy < 4; dy++) {
		for (int dx = 0; dx < 2; dx++) {
			if (r->dots[(size_t)(row * 4 + dy) * (size_t)r->w + (size_t)(col * 2 + dx)])
				bits |= braille_bit[dy][dx];
		}
	}
	if (!bits) {
		strbuf_addch(out, ' ');
		return;
	}
	strbuf_addch(out, (char)0xe2);
	strbuf_addch(out, (char)(0xa0 | (bits >> 6)));
	strbuf_addch(out, (char)(0x80 | (bits & 0x3f)));
}

static void ascii_cell(const struct raster *r, int col, int row, struct strbuf *out)
{
	static const char marks[] = " .*";

	strbuf_addch(out, marks[r->dots[(size_t)row * (size_t)r->w + (size_t)col]]);
}

void chart_draw_area(const struct chart_panel *p, double lo, double hi, int64_t t0, int64_t t1,
		     int cols, int rows, int ascii, struct strbuf *out)
{
	struct raster r;

	r.w = ascii ? cols : cols * 2;
	r.h = ascii ? rows : rows * 4;
	r.dots = xcalloc((size_t)r.w, (size_t)r.h);
	raster_draw(&r, p, lo, hi, t0, t1);
	for (int row = 0; row < rows; row++) {
		for (int col = 0; col < cols; col++) {
			if (ascii)
				ascii_cell(&r, col, row, out);
			else
				braille_cell(&r, col, row, out);
		}
		strbuf_addch(out, '\n');
	}
	free(r.dots);
}

/* ---- the terminal chart ------------------------------------------------------ */

/* The axis pieces in each mode. */
struct axis_glyphs {
	const char *label_tick, *side, *corner, *bottom, *bottom_tick;
};

static const struct axis_glyphs unicode_axis = { "┤", "│", "└", "─", "┬" };
static const struct axis_glyphs ascii_axis = { "+", "|", "+", "-", "+" };

/* Text for people, made safe for a terminal: no control characters, ASCII only if asked. */
static void add_terminal_text(struct strbuf *out, const char *text, int ascii)
{
	for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
		int bad = *s < 0x20 || *s == 0x7f || (ascii && *s >= 0x80);
		strbuf_addch(out, bad ? '?' : (char)*s);
	}
}

static void text_panel_title(const struct chart_panel *p, int ascii, struct strbuf *out)
{
	char last[32], max[32];

	chart_format_value(p->unit, p->points[p->count - 1].v, last, sizeof(last));
	chart_format_value(p->unit, panel_max(p), max, sizeof(max));
	add_terminal_text(out, p->name, ascii);
	strbuf_addf(out, "  last %s  max %s\n", last, max);
}

/* Instead of a chart: a panel with fewer than two samples. */
static void text_panel_message(const struct chart_panel *p, int ascii, struct strbuf *out)
{
	char value[32];

	add_terminal_text(out, p->name, ascii);
	if (!p->count) {
		strbuf_addstr(out, ": no samples\n");
		return;
	}
	chart_format_value(p->unit, p->points[0].v, value, sizeof(value));
	strbuf_addf(out, ": %s (one sample so far; a chart needs two)\n", value);
}

/* The plot area's rows behind the value axis, labelled at the top and bottom. */
static void text_rows(const struct strbuf *area, const char *top, const char *bottom, int gutter,
		      const struct axis_glyphs *g, struct strbuf *out)
{
	const char *line = area->buf;
	int rows = 0;

	for (const char *s = line; *s; s++)
		rows += *s == '\n';
	for (int row = 0; row < rows; row++) {
		const char *end = strchr(line, '\n');
		const char *label = row == 0 ? top : row == rows - 1 ? bottom : "";
		strbuf_addf(out, "%*s %s", gutter, label, *label ? g->label_tick : g->side);
		strbuf_add(out, line, (size_t)(end - line + 1));
		line = end + 1;
	}
}

/* The column of the time axis at elapsed ms, matching where raster_draw puts samples. */
static int time_column(int64_t elapsed, int64_t range, int cols, int ascii)
{
	int x = scale(range > 0 ? (double)elapsed / (double)range : 0, ascii ? cols : cols * 2);

	return ascii ? x : x / 2;
}

/* Put label into line (cols wide) at col, unless it would overlap the previous one. */
static void place_label(char *line, int cols, int col, const char *label, int *next_free)
{
	int len = (int)strlen(label);

	if (col + len > cols)
		col = cols - len;
	if (col < *next_free || col < 0)
		return;
	memcpy(line + col, label, (size_t)len);
	*next_free = col + len + 1;
}

/* The time axis: a line with tick marks, and the elapsed time under the ticks. */
static void text_time_axis(int64_t range, int cols, int gutter, int ascii, struct strbuf *out)
{
	const struct axis_glyphs *g = ascii ? &ascii_axis : &unicode_axis;
	int64_t step = range > 0 ? tick_step(range, cols / 10 > 2 ? cols / 10 : 2) : 1;
	char *labels = xmalloc((size_t)cols + 1);
	unsigned char *ticks = xcalloc((size_t)cols, 1);
	int next_free = 0, end = cols;

	memset(labels, ' ', (size_t)cols);
	for (int64_t e = 0; e <= range; e += step) {
		char label[32];
		int col = time_column(e, range, cols, ascii);
		ticks[col] = 1;
		chart_format_elapsed(e, label, sizeof(label));
		place_label(labels, cols, col, label, &next_free);
	}
	strbuf_addf(out, "%*s %s", gutter, "", g->corner);
	for (int col = 0; col < cols; col++)
		strbuf_addstr(out, ticks[col] ? g->bottom_tick : g->bottom);
	while (end > 0 && labels[end - 1] == ' ')
		end--;
	strbuf_addf(out, "\n%*s  %.*s\n", gutter, "", end, labels);
	free(labels);
	free(ticks);
}

/* The value axis's labels: its top and its bottom. */
static void text_value_labels(const struct chart_panel *p, char *top, char *bottom, size_t size)
{
	double lo, hi;

	panel_value_range(p, &lo, &hi);
	chart_format_value(p->unit, hi, top, size);
	chart_format_value(p->unit, lo, bottom, size);
}

/* The widest value label of every panel: one gutter for all keeps the time axes aligned. */
static int text_gutter(const struct chart *c)
{
	int gutter = 0;

	for (size_t i = 0; i < c->panel_count; i++) {
		char top[32], bottom[32];
		if (c->panels[i]->count < 2)
			continue;
		text_value_labels(c->panels[i], top, bottom, sizeof(top));
		gutter = (int)strlen(top) > gutter ? (int)strlen(top) : gutter;
		gutter = (int)strlen(bottom) > gutter ? (int)strlen(bottom) : gutter;
	}
	return gutter;
}

static void text_panel(const struct chart_panel *p, int64_t t0, int64_t t1, int gutter, int width,
		       int height, int ascii, struct strbuf *out)
{
	struct strbuf area = STRBUF_INIT;
	char top[32], bottom[32];
	int cols = width - gutter - 2 > 2 ? width - gutter - 2 : 2;
	double lo, hi;

	if (p->count < 2) {
		text_panel_message(p, ascii, out);
		return;
	}
	panel_value_range(p, &lo, &hi);
	text_value_labels(p, top, bottom, sizeof(top));
	text_panel_title(p, ascii, out);
	chart_draw_area(p, lo, hi, t0, t1, cols, height, ascii, &area);
	text_rows(&area, top, bottom, gutter, ascii ? &ascii_axis : &unicode_axis, out);
	text_time_axis(t1 - t0, cols, gutter, ascii, out);
	strbuf_release(&area);
}

void chart_render_text(const struct chart *c, int width, int height, int ascii,
		       struct strbuf *out)
{
	int64_t t0 = 0, t1 = 0;
	int gutter = text_gutter(c);

	add_terminal_text(out, c->title, ascii);
	if (!chart_time_range(c, &t0, &t1)) {
		strbuf_addstr(out, ": no samples\n");
		return;
	}
	strbuf_addstr(out, ": ");
	describe_time_span(t0, t1, out);
	strbuf_addch(out, '\n');
	height = height < 1 ? 1 : height;
	for (size_t i = 0; i < c->panel_count; i++) {
		strbuf_addch(out, '\n');
		text_panel(c->panels[i], t0, t1, gutter, width, height, ascii, out);
	}
}

/* ---- XML -------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (2 to 4 bytes), or 0. */
static int utf8_sequence_length(const unsigned char *s)
{
	int len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		: s[0] >= 0xe0 && s[0] <= 0xef ? 3
		: s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						 : 0;

	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

void chart_xml_escape(struct strbuf *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;

	while (*s) {
		int len = *s >= 0x80 ? utf8_sequence_length(s) : 1;
		if (*s == '&')
			strbuf_addstr(out, "&amp;");
		else if (*s == '<')
			strbuf_addstr(out, "&lt;");
		else if (*s == '>')
			strbuf_addstr(out, "&gt;");
		else if (*s == '"')
			strbuf_addstr(out, "&quot;");
		else if (*s == '\'')
			strbuf_addstr(out, "&apos;");
		else if (!len || (*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r'))
			strbuf_addch(out, '?');
		else
			strbuf_add(out, s, (size_t)len);
		s += len ? len : 1;
	}
}

/* ---- the SVG ---------------------------------------------------------------- */

/* Layout in pixels: a header, then panels of a title, the plot area and the time axis. */
enum {
	SVG_WIDTH = 900,
	SVG_HEADER = 64,
	SVG_LEFT = 90,
	SVG_RIGHT = 30,
	SVG_PLOT_WIDTH = SVG_WIDTH - SVG_LEFT - SVG_RIGHT,
	SVG_PANEL_TITLE = 30,
	SVG_PLOT_HEIGHT = 150,
	SVG_PANEL = SVG_PANEL_TITLE + SVG_PLOT_HEIGHT + 50,
	SVG_VALUE_TICKS = 4,
};

static const char *const svg_colors[] = { "#1f77b4", "#d62728", "#2ca02c",
					  "#9467bd", "#ff7f0e", "#8c564b" };

static const char *unit_words(enum chart_unit unit)
{
	switch (unit) {
	case CHART_PERCENT:
		return "percent";
	case CHART_BYTES:
		return "bytes";
	case CHART_RATE:
		return "bytes per second";
	case CHART_COUNT:
		return "count";
	}
	return "";
}

/* Where a panel's plot area is, and what it maps. */
struct svg_frame {
	double left, top, width, height;
	double lo, hi;
	int64_t t0, t1;
};

static double svg_x(const struct svg_frame *f, int64_t t)
{
	return f->left + (f->t1 > f->t0 ? (double)(t - f->t0) / (double)(f->t1 - f->t0) : 0) *
				 f->width;
}

static double svg_y(const struct svg_frame *f, double v)
{
	return f->top + f->height - (v - f->lo) / (f->hi - f->lo) * f->height;
}

static void svg_text(struct strbuf *out, double x, double y, const char *attrs, const char *text)
{
	strbuf_addf(out, "<text x=\"%.1f\" y=\"%.1f\"%s%s>", x, y, *attrs ? " " : "", attrs);
	chart_xml_escape(out, text);
	strbuf_addstr(out, "</text>\n");
}

static void svg_line(struct strbuf *out, double x1, double y1, double x2, double y2,
		     const char *color)
{
	strbuf_addf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
		    x1, y1, x2, y2, color);
}

static void svg_header(const struct chart *c, int height, struct strbuf *out)
{
	struct strbuf range = STRBUF_INIT;
	int64_t t0 = 0, t1 = 0;

	strbuf_addstr(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	strbuf_addf(out,
		    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		    "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
		    SVG_WIDTH, height, SVG_WIDTH, height);
	strbuf_addstr(out, "<title>");
	chart_xml_escape(out, c->title);
	strbuf_addstr(out, "</title>\n");
	strbuf_addf(out, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", SVG_WIDTH, height);
	svg_text(out, 20, 26, "font-size=\"18\" font-weight=\"bold\"", c->title);
	if (chart_time_range(c, &t0, &t1))
		describe_time_range(t0, t1, &range);
	else
		strbuf_addstr(&range, "no samples");
	svg_text(out, 20, 46, "fill=\"#555\"", range.buf);
	strbuf_release(&range);
}

/* The panel's title, its frame, and the value axis with its unit. */
static void svg_panel_frame(const struct chart_panel *p, const struct svg_frame *f,
			    struct strbuf *out)
{
	char attrs[128];

	svg_text(out, f->left, f->top - 10, "font-size=\"14\" font-weight=\"bold\"", p->name);
	strbuf_addf(out,
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
		    "stroke=\"#888\"/>\n",
		    f->left, f->top, f->width, f->height);
	snprintf(attrs, sizeof(attrs), "text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\"",
		 18.0, f->top + f->height / 2);
	svg_text(out, 18, f->top + f->height / 2, attrs, unit_words(p->unit));
}

/*
 * A round step for about SVG_VALUE_TICKS ticks over range: 1, 2, 2.5 or 5
 * times a power of ten; of a power of 1024 first for bytes, so that the
 * labels read "100M", "200M" rather than "95.4M"; never a fraction of a count.
 */
static double value_step(enum chart_unit unit, double range)
{
	double raw = range / SVG_VALUE_TICKS, base = 1, power, m, step;

	if (unit == CHART_BYTES || unit == CHART_RATE) {
		while (raw / base >= 1024)
			base *= 1024;
	}
	power = pow(10, floor(log10(raw / base)));
	m = raw / base / power;
	step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 && unit != CHART_COUNT ? 2.5 : m <= 5 ? 5 : 10) *
	       power * base;
	return unit == CHART_PERCENT ? step : step < 1 ? 1 : step;
}

/* Widen the panel's value range to whole steps, and draw a labelled grid line at each. */
static void svg_value_ticks(const struct chart_panel *p, struct svg_frame *f, struct strbuf *out)
{
	double step = value_step(p->unit, f->hi - f->lo);
	long ticks;

	f->lo = floor(f->lo / step) * step;
	f->hi = ceil(f->hi / step) * step;
	ticks = lround((f->hi - f->lo) / step);
	for (long i = 0; i <= ticks; i++) {
		double v = f->lo + (double)i * step, y = svg_y(f, v);
		char label[32];
		chart_format_value(p->unit, v, label, sizeof(label));
		svg_line(out, f->left, y, f->left + f->width, y, "#ddd");
		svg_text(out, f->left - 6, y + 4, "text-anchor=\"end\"", label);
	}
}

static void svg_time_ticks(const struct svg_frame *f, struct strbuf *out)
{
	int64_t range = f->t1 - f->t0;
	int64_t step = range > 0 ? tick_step(range, (int)(f->width / 80)) : 1;
	double bottom = f->top + f->height;

	for (int64_t e = 0; e <= range; e += step) {
		double x = svg_x(f, f->t0 + e);
		char label[32];
		chart_format_elapsed(e, label, sizeof(label));
		svg_line(out, x, bottom, x, bottom + 5, "#888");
		svg_text(out, x, bottom + 18, "text-anchor=\"middle\"", label);
	}
	svg_text(out, f->left + f->width / 2, bottom + 36, "text-anchor=\"middle\" fill=\"#555\"",
		 "elapsed time");
}

static void svg_point(const struct svg_frame *f, const struct chart_point *pt, struct strbuf *out)
{
	strbuf_addf(out, "%.1f,%.1f ", svg_x(f, pt->t_ms), svg_y(f, pt->v));
}

/*
 * The series as points of a polyline. Past CHART_SVG_MAX_POINTS, the samples
 * are cut into buckets and each bucket gives its lowest and its highest
 * sample, in time order: a one-sample spike survives, which averaging would
 * flatten.
 */
static void svg_series_points(const struct chart_panel *p, const struct svg_frame *f,
			      struct strbuf *out)
{
	size_t buckets = CHART_SVG_MAX_POINTS / 2;

	if (p->count <= CHART_SVG_MAX_POINTS) {
		for (size_t i = 0; i < p->count; i++)
			svg_point(f, &p->points[i], out);
		return;
	}
	for (size_t b = 0; b < buckets; b++) {
		size_t first = b * p->count / buckets, end = (b + 1) * p->count / buckets;
		size_t lo = first, hi = first;
		for (size_t i = first; i < end; i++) {
			lo = p->points[i].v < p->points[lo].v ? i : lo;
			hi = p->points[i].v > p->points[hi].v ? i : hi;
		}
		svg_point(f, &p->points[lo < hi ? lo : hi], out);
		if (lo != hi)
			svg_point(f, &p->points[lo < hi ? hi : lo], out);
	}
}

static void svg_series(const struct chart_panel *p, const struct svg_frame *f, const char *color,
		       struct strbuf *out)
{
	strbuf_addf(out,
		    "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
		    "stroke-linejoin=\"round\" points=\"",
		    color);
	svg_series_points(p, f, out);
	strbuf_addstr(out, "\"/>\n");
}

static void svg_panel(const struct chart_panel *p, size_t index, int64_t t0, int64_t t1,
		      struct strbuf *out)
{
	struct svg_frame f = {
		.left = SVG_LEFT,
		.top = SVG_HEADER + (double)index * SVG_PANEL + SVG_PANEL_TITLE,
		.width = SVG_PLOT_WIDTH,
		.height = SVG_PLOT_HEIGHT,
		.t0 = t0,
		.t1 = t1,
	};

	panel_value_range(p, &f.lo, &f.hi);
	strbuf_addstr(out, "<g>\n");
	svg_panel_frame(p, &f, out);
	if (p->count < 2) {
		svg_text(out, f.left + f.width / 2, f.top + f.height / 2,
			 "text-anchor=\"middle\" fill=\"#555\"",
			 p->count ? "one sample so far; a chart needs two" : "no samples");
	} else {
		svg_value_ticks(p, &f, out);
		svg_time_ticks(&f, out);
		svg_series(p, &f, svg_colors[index % ARRAY_SIZE(svg_colors)], out);
	}
	strbuf_addstr(out, "</g>\n");
}

void chart_render_svg(const struct chart *c, struct strbuf *out)
{
	int height = SVG_HEADER + (int)c->panel_count * SVG_PANEL + 10;
	int64_t t0 = 0, t1 = 0;

	chart_time_range(c, &t0, &t1);
	svg_header(c, height, out);
	for (size_t i = 0; i < c->panel_count; i++)
		svg_panel(c->panels[i], i, t0, t1, out);
	strbuf_addstr(out, "</svg>\n");
}
