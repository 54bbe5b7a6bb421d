/*
 * Sparklines: a time series in one line of text, for `top`'s detail pane.
 * Points are put into equal time buckets (the highest point of each bucket,
 * so a short spike stays visible), then each bucket becomes one cell: one of
 * eight block heights, or a space where there was no point. Pure, no I/O.
 */
#ifndef TRAINCTL_SPARKLINE_H
#define TRAINCTL_SPARKLINE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/chart.h"
#include "lib/strbuf.h"

/*
 * Fill cells[0..ncells) from the points in [t0, t1): cell i covers
 * [t0 + i*step, t0 + (i+1)*step) with step = (t1 - t0) / ncells, and gets the
 * highest value in it, or -1 when it holds none (negative values are unknown).
 */
void sparkline_bucket(const struct chart_point *points, size_t n, int64_t t0, int64_t t1,
		      double *cells, int ncells);
/*
 * Append one character per cell: the heights 0..hi as "▁▂▃▄▅▆▇█" (utf8) or
 * "_.-=+*#@" (ASCII); a value above hi is drawn full, an unknown one (-1) as a
 * space. hi <= 0 draws every known value as the lowest height.
 */
void sparkline_render(const double *cells, int ncells, double hi, int utf8, struct strbuf *out);

#endif
