/*
 * Charts of a job's resource time series, as text for a terminal and as a
 * standalone SVG document: what `trainctl plot` prints. A chart is a title
 * and a stack of panels, one per metric, each a series of (time, value)
 * points sharing one time axis. Pure rendering into a strbuf, no I/O, so
 * the tests compare exact output.
 *
 * Value axes start at zero (or at the lowest value when it is negative): every
 * metric we plot is a level or a rate whose zero means something, and a chart
 * that starts elsewhere makes a 2% wobble look like a cliff. Time axes show
 * the time elapsed since the first point of the chart ("0s", "1m30s", "3m").
 */
#ifndef TRAINCTL_CHART_H
#define TRAINCTL_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"

/* How a panel's values read: the unit of its axis labels. */
enum chart_unit {
	CHART_PERCENT, /* "250%" */
	CHART_BYTES,   /* "1.5G", through format_size */
	CHART_RATE,    /* bytes per second: "12M/s" */
	CHART_COUNT,   /* "12" */
};

struct chart_point {
	int64_t t_ms; /* epoch milliseconds */
	double v;
};

struct chart_panel {
	char *name; /* "CPU" */
	enum chart_unit unit;
	struct chart_point *points; /* in time order */
	size_t count, alloc;
};

struct chart {
	char *title; /* "job 3 (sim)" */
	struct chart_panel **panels;
	size_t panel_count;
};

/* Every SVG polyline holds at most this many points (min and max per bucket). */
#define CHART_SVG_MAX_POINTS 2000

void chart_init(struct chart *c, const char *title);
void chart_release(struct chart *c);
/* Add an empty panel; the pointer stays valid until chart_release. */
struct chart_panel *chart_add_panel(struct chart *c, const char *name, enum chart_unit unit);
/* Append a point; points must come in time order. */
void chart_panel_add(struct chart_panel *p, int64_t t_ms, double v);

/*
 * The terminal chart: a header line, then each panel with its title, a value
 * axis labelled with its minimum and maximum, the series and a time axis.
 * width is the total width in columns; height the rows of each panel's plot
 * area. Braille characters (2x4 dots a cell) unless ascii, where '*' marks a
 * sample, '.' the line between samples, and the axes are '|', '-' and '+'.
 * A panel with fewer than two points gets a line of text instead.
 */
void chart_render_text(const struct chart *c, int width, int height, int ascii,
		       struct strbuf *out);
/*
 * A standalone SVG document: the title and time range in a header, then one
 * panel per metric stacked vertically, each with a title, labelled axes with
 * tick labels, and the series as a polyline (decimated to at most
 * CHART_SVG_MAX_POINTS points).
 */
void chart_render_svg(const struct chart *c, struct strbuf *out);

/*
 * The plot area alone, for tests and for chart_render_text: cols x rows
 * cells, one line each (ending in "\n"), the values lo..hi mapped bottom to
 * top and the times t0..t1 left to right.
 */
void chart_draw_area(const struct chart_panel *p, double lo, double hi, int64_t t0, int64_t t1,
		     int cols, int rows, int ascii, struct strbuf *out);
/* A value as an axis label in the panel's unit: "250%", "1.5G", "12M/s", "12". */
void chart_format_value(enum chart_unit unit, double v, char *buf, size_t size);
/* Elapsed time as an axis label: "0s", "45s", "1m30s", "3m", "1h05m", "2d". */
void chart_format_elapsed(int64_t ms, char *buf, size_t size);
/* Append text escaped for XML; control characters and invalid UTF-8 become '?'. */
void chart_xml_escape(struct strbuf *out, const char *text);

#endif
