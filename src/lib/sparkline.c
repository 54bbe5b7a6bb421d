/* Sparklines; see sparkline.h. */
#include "lib/sparkline.h"

static const char *const blocks_utf8[8] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
static const char blocks_ascii[8] = { '_', '.', '-', '=', '+', '*', '#', '@' };

void sparkline_bucket(const struct chart_point *points, size_t n, int64_t t0, int64_t t1,
		      double *cells, int ncells)
{
	int64_t span = t1 - t0;

	for (int i = 0; i < ncells; i++)
		cells[i] = -1;
	if (span <= 0 || ncells <= 0)
		return;
	for (size_t k = 0; k < n; k++) {
		const struct chart_point *p = &points[k];
		int i;

		if (p->t_ms < t0 || p->t_ms >= t1 || p->v < 0)
			continue;
		i = (int)((p->t_ms - t0) * ncells / span);
		if (p->v > cells[i])
			cells[i] = p->v;
	}
}

/* The height 0..7 of value v on a scale up to hi. */
static int sparkline_level(double v, double hi)
{
	int level;

	if (hi <= 0)
		return 0;
	level = (int)(v / hi * 8);
	return level > 7 ? 7 : level;
}

void sparkline_render(const double *cells, int ncells, double hi, int utf8, struct strbuf *out)
{
	for (int i = 0; i < ncells; i++) {
		int level = sparkline_level(cells[i], hi);

		if (cells[i] < 0)
			strbuf_addch(out, ' ');
		else if (utf8)
			strbuf_addstr(out, blocks_utf8[level]);
		else
			strbuf_addch(out, blocks_ascii[level]);
	}
}
