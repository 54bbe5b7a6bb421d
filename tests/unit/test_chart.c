/*
 * Unit tests for src/lib/chart.c: the braille and ASCII rasters, axis and
 * time labels, the terminal chart's layout, charts with 0 or 1 samples, and
 * the SVG document (well-formed, escaped, decimated).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/chart.h"

#define MIB (1024.0 * 1024)

/* ---- helpers ---- */

/* A panel of n points, values vals[i] at i seconds. */
static struct chart_panel *add_series(struct chart *c, const char *name, enum chart_unit unit,
				      const double *vals, size_t n)
{
	struct chart_panel *p = chart_add_panel(c, name, unit);

	for (size_t i = 0; i < n; i++)
		chart_panel_add(p, (int64_t)i * 1000, vals[i]);
	return p;
}

/* The width of a line of UTF-8 in characters. */
static int text_columns(const char *s, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static void assert_lines_fit(const char *text, int width)
{
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n');
		assert_non_null(end);
		if (text_columns(line, (size_t)(end - line)) > width)
			fail_msg("line wider than %d: '%.*s'", width, (int)(end - line), line);
		line = end + 1;
	}
}

static int count_of(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *s = strstr(haystack, needle); s; s = strstr(s + 1, needle))
		n++;
	return n;
}

/*
 * Check that every start tag has its end tag, properly nested, under one
 * <svg> root; that attribute quotes pair up; and that no '&' starts
 * anything but an entity.
 */
static void assert_well_formed(const char *xml)
{
	const char *stack[64];
	size_t lens[64];
	int depth = 0, roots = 0;
	const char *s = xml;

	assert_true(strncmp(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 38) == 0);
	while ((s = strchr(s, '<'))) {
		const char *end = strchr(s, '>');
		const char *name = s + 1 + (s[1] == '/');
		size_t len = strcspn(name, " \t\n/>"), quotes = 0;

		assert_non_null(end);
		for (const char *q = s; q < end; q++)
			quotes += *q == '"';
		assert_int_equal(quotes % 2, 0);
		assert_null(memchr(s + 1, '<', (size_t)(end - s - 1)));
		if (s[1] == '?') {
			assert_int_equal(s, xml);
		} else if (s[1] == '/') {
			assert_true(depth > 0);
			depth--;
			if (lens[depth] != len || strncmp(stack[depth], name, len))
				fail_msg("</%.*s> closes <%.*s>", (int)len, name, (int)lens[depth],
					 stack[depth]);
		} else if (end[-1] != '/') {
			assert_true(depth < 64);
			roots += depth == 0;
			stack[depth] = name;
			lens[depth++] = len;
		}
		s = end + 1;
	}
	assert_int_equal(depth, 0);
	assert_int_equal(roots, 1);
	assert_non_null(strstr(xml, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	for (s = strchr(xml, '&'); s; s = strchr(s + 1, '&')) {
		if (strncmp(s, "&amp;", 5) && strncmp(s, "&lt;", 4) && strncmp(s, "&gt;", 4) &&
		    strncmp(s, "&quot;", 6) && strncmp(s, "&apos;", 6))
			fail_msg("bare '&' at '%.20s'", s);
	}
}

/* The points attribute of the first polyline (caller frees). */
static char *polyline_points(const char *svg)
{
	const char *start = strstr(svg, "<polyline");
	const char *end;

	assert_non_null(start);
	start = strstr(start, "points=\"");
	assert_non_null(start);
	start += 8;
	end = strchr(start, '"');
	return strndup(start, (size_t)(end - start));
}

/* ---- the raster ---- */

static void test_braille_diagonal(void **state)
{
	static const double vals[] = { 0, 1, 2, 3 };
	struct chart c;
	struct strbuf out = STRBUF_INIT;
	struct chart_panel *p;

	(void)state;
	chart_init(&c, "t");
	p = add_series(&c, "x", CHART_COUNT, vals, 4);
	/*
	 * 2 cells x 1 row = 4x4 dots, one sample per dot column, rising one dot
	 * each: left cell dots 7 (bottom left) and 6 (third right) = 0x60,
	 * right cell dots 2 (second left) and 4 (top right) = 0x0a.
	 */
	chart_draw_area(p, 0, 3, 0, 3000, 2, 1, 0, &out);
	assert_string_equal(out.buf, "\u2860\u280a\n");
	strbuf_release(&out);
	chart_release(&c);
}

static void test_braille_flat_and_empty_cells(void **state)
{
	static const double vals[] = { 0, 0 };
	struct chart c;
	struct strbuf out = STRBUF_INIT;
	struct chart_panel *p;

	(void)state;
	chart_init(&c, "t");
	p = add_series(&c, "x", CHART_PERCENT, vals, 2);
	/* the line joins the two samples along the bottom dots (7 and 8); the row above is blank */
	chart_draw_area(p, 0, 1, 0, 1000, 3, 2, 0, &out);
	assert_string_equal(out.buf, "   \n\u28c0\u28c0\u28c0\n");
	strbuf_release(&out);
	chart_release(&c);
}

static void test_braille_steep_jump_is_joined(void **state)
{
	static const double vals[] = { 0, 100 };
	struct chart c;
	struct strbuf out = STRBUF_INIT;
	struct chart_panel *p;
	const char *line;

	(void)state;
	chart_init(&c, "t");
	p = add_series(&c, "x", CHART_PERCENT, vals, 2);
	chart_draw_area(p, 0, 100, 0, 1000, 1, 3, 0, &out);
	/* one cell wide, three rows tall: the line crosses every row */
	line = out.buf;
	for (int row = 0; row < 3; row++) {
		assert_true(strncmp(line, " \n", 2) != 0);
		line = strchr(line, '\n') + 1;
	}
	assert_string_equal(line, "");
	strbuf_release(&out);
	chart_release(&c);
}

static void test_ascii_area(void **state)
{
	static const double vals[] = { 0, 2 };
	struct chart c;
	struct strbuf out = STRBUF_INIT;
	struct chart_panel *p;

	(void)state;
	chart_init(&c, "t");
	p = chart_add_panel(&c, "x", CHART_COUNT);
	chart_panel_add(p, 0, vals[0]);
	chart_panel_add(p, 2000, vals[1]);
	chart_draw_area(p, 0, 2, 0, 2000, 3, 3, 1, &out);
	assert_string_equal(out.buf, "  *\n . \n*  \n");
	strbuf_release(&out);
	chart_release(&c);
}

/* ---- labels ---- */

static void test_format_value(void **state)
{
	char buf[32];

	(void)state;
	chart_format_value(CHART_PERCENT, 250, buf, sizeof(buf));
	assert_string_equal(buf, "250%");
	chart_format_value(CHART_PERCENT, 2.5, buf, sizeof(buf));
	assert_string_equal(buf, "2.5%");
	chart_format_value(CHART_PERCENT, 0, buf, sizeof(buf));
	assert_string_equal(buf, "0%");
	chart_format_value(CHART_PERCENT, 99.6, buf, sizeof(buf));
	assert_string_equal(buf, "100%");
	chart_format_value(CHART_BYTES, 1536, buf, sizeof(buf));
	assert_string_equal(buf, "1.5K");
	chart_format_value(CHART_BYTES, 800 * MIB, buf, sizeof(buf));
	assert_string_equal(buf, "800M");
	chart_format_value(CHART_RATE, 12 * MIB, buf, sizeof(buf));
	assert_string_equal(buf, "12M/s");
	chart_format_value(CHART_RATE, 0, buf, sizeof(buf));
	assert_string_equal(buf, "0B/s");
	chart_format_value(CHART_COUNT, 12, buf, sizeof(buf));
	assert_string_equal(buf, "12");
	chart_format_value(CHART_COUNT, 2.5, buf, sizeof(buf));
	assert_string_equal(buf, "2.5");
}

static void test_format_elapsed(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{ 0, "0s" },	      { 500, "500ms" },	     { 1500, "1.5s" },
		{ 45000, "45s" },     { 60000, "1m" },	     { 90000, "1m30s" },
		{ 185000, "3m05s" },  { 180000, "3m" },	     { 3600000, "1h" },
		{ 3900000, "1h05m" }, { 3930000, "1h05m" }, { 86400000, "1d" },
		{ 93600000, "1d02h" }, { -5, "0s" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		chart_format_elapsed(cases[i].ms, buf, sizeof(buf));
		if (strcmp(buf, cases[i].text))
			fail_msg("%lld ms: expected '%s', got '%s'", (long long)cases[i].ms,
				 cases[i].text, buf);
	}
}

/* ---- the terminal chart ---- */

/* CPU rising to 250% over three minutes, a sample every 2 s; memory growing. */
static void three_minute_chart(struct chart *c, const char *title)
{
	struct chart_panel *cpu, *mem;

	chart_init(c, title);
	cpu = chart_add_panel(c, "CPU", CHART_PERCENT);
	mem = chart_add_panel(c, "Memory (RSS)", CHART_BYTES);
	for (int i = 0; i <= 90; i++) {
		chart_panel_add(cpu, 1700000000000LL + i * 2000, i < 45 ? i * 250.0 / 45 : 250);
		chart_panel_add(mem, 1700000000000LL + i * 2000, (100 + i) * MIB);
	}
}

static void test_text_axis_labels(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	three_minute_chart(&c, "job 3 (sim)");
	chart_render_text(&c, 80, 8, 0, &out);
	assert_true(strncmp(out.buf, "job 3 (sim): 3m from ", 21) == 0);
	assert_non_null(strstr(out.buf, "\nCPU  last 250%  max 250%\n"));
	assert_non_null(strstr(out.buf, "\n250% \u2524"));
	assert_non_null(strstr(out.buf, "\n  0% \u2524"));
	assert_non_null(strstr(out.buf, "\nMemory (RSS)  last 190M  max 190M\n"));
	assert_non_null(strstr(out.buf, "\n190M \u2524"));
	assert_non_null(strstr(out.buf, "\n  0B \u2524"));
	/* time labels under the ticks: every 30 s on a 74-column axis */
	assert_non_null(strstr(out.buf, "\n      0s"));
	assert_non_null(strstr(out.buf, " 1m30s "));
	assert_non_null(strstr(out.buf, " 3m\n"));
	assert_int_equal(count_of(out.buf, "\u2514"), 2);
	assert_int_equal(count_of(out.buf, "\u252c"), 2 * 7);
	assert_lines_fit(out.buf, 80);
	strbuf_release(&out);
	chart_release(&c);
}

static void test_text_height_and_width(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	three_minute_chart(&c, "j");
	chart_render_text(&c, 40, 5, 0, &out);
	/* per panel: a blank line, the title, 5 rows, the axis, the labels */
	assert_int_equal(count_of(out.buf, "\n"), 1 + 2 * (1 + 1 + 5 + 2));
	assert_int_equal(count_of(out.buf, "\u2502") + count_of(out.buf, "\u2524"), 2 * 5);
	assert_lines_fit(out.buf, 40);
	strbuf_release(&out);
	chart_release(&c);
}

static void test_text_ascii(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	three_minute_chart(&c, "job \xc3\xa9t\xc3\xa9");
	chart_render_text(&c, 60, 6, 1, &out);
	for (size_t i = 0; i < out.len; i++) {
		if ((unsigned char)out.buf[i] >= 0x80)
			fail_msg("byte 0x%02x at %zu in ASCII mode", (unsigned char)out.buf[i], i);
	}
	assert_true(strncmp(out.buf, "job ??t??: ", 11) == 0);
	assert_non_null(strstr(out.buf, "\n250% +"));
	assert_non_null(strstr(out.buf, "     |"));
	assert_non_null(strstr(out.buf, "+-----"));
	assert_non_null(strchr(out.buf, '*'));
	assert_lines_fit(out.buf, 60);
	strbuf_release(&out);
	chart_release(&c);
}

static void test_text_no_samples(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	chart_init(&c, "job 3");
	chart_add_panel(&c, "CPU", CHART_PERCENT);
	chart_render_text(&c, 80, 8, 0, &out);
	assert_string_equal(out.buf, "job 3: no samples\n");
	strbuf_release(&out);
	chart_release(&c);
}

static void test_text_one_sample(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	chart_init(&c, "job 3");
	chart_panel_add(chart_add_panel(&c, "CPU", CHART_PERCENT), 5000, 42);
	chart_add_panel(&c, "Threads", CHART_COUNT);
	chart_render_text(&c, 80, 8, 0, &out);
	assert_true(strncmp(out.buf, "job 3: 0s from ", 15) == 0);
	assert_non_null(strstr(out.buf, "\nCPU: 42% (one sample so far; a chart needs two)\n"));
	assert_non_null(strstr(out.buf, "\nThreads: no samples\n"));
	strbuf_release(&out);
	chart_release(&c);
}

static void test_text_title_control_characters(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	chart_init(&c, "evil\x1b[2Jname\n");
	chart_render_text(&c, 80, 8, 0, &out);
	assert_string_equal(out.buf, "evil?[2Jname?: no samples\n");
	strbuf_release(&out);
	chart_release(&c);
}

static void test_text_long_range_ticks(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;
	struct chart_panel *p;

	(void)state;
	chart_init(&c, "long");
	p = chart_add_panel(&c, "Threads", CHART_COUNT);
	for (int i = 0; i <= 100; i++)
		chart_panel_add(p, (int64_t)i * 3 * 86400 * 10, i % 7);
	chart_render_text(&c, 80, 4, 0, &out);
	/* three days on 76 columns: a tick every 12 hours */
	assert_non_null(strstr(out.buf, " 12h "));
	assert_non_null(strstr(out.buf, " 2d12h"));
	assert_non_null(strstr(out.buf, " 3d\n"));
	assert_lines_fit(out.buf, 80);
	strbuf_release(&out);
	chart_release(&c);
}

/* ---- SVG ---- */

static void test_svg_well_formed(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;
	char *points;

	(void)state;
	three_minute_chart(&c, "job 3 (sim)");
	chart_render_svg(&c, &out);
	assert_well_formed(out.buf);
	assert_non_null(strstr(out.buf, "width=\"900\" height=\""));
	assert_non_null(strstr(out.buf, "viewBox=\"0 0 900 "));
	assert_non_null(strstr(out.buf, "<title>job 3 (sim)</title>"));
	assert_non_null(strstr(out.buf, ">job 3 (sim)</text>"));
	assert_non_null(strstr(out.buf, "(3m)</text>"));
	assert_non_null(strstr(out.buf, ">CPU</text>"));
	assert_non_null(strstr(out.buf, ">Memory (RSS)</text>"));
	assert_non_null(strstr(out.buf, ">percent</text>"));
	assert_non_null(strstr(out.buf, ">bytes</text>"));
	/* value ticks at round steps, the axis widened to the next one */
	assert_non_null(strstr(out.buf, ">0%</text>"));
	assert_non_null(strstr(out.buf, ">100%</text>"));
	assert_non_null(strstr(out.buf, ">300%</text>"));
	assert_null(strstr(out.buf, ">250%</text>"));
	assert_non_null(strstr(out.buf, ">0B</text>"));
	assert_non_null(strstr(out.buf, ">50M</text>"));
	assert_non_null(strstr(out.buf, ">200M</text>"));
	assert_non_null(strstr(out.buf, ">1m30s</text>"));
	assert_non_null(strstr(out.buf, ">elapsed time</text>"));
	assert_int_equal(count_of(out.buf, "<polyline"), 2);
	points = polyline_points(out.buf);
	assert_int_equal(count_of(points, ","), 91);
	/* the first sample at the left edge and the bottom of the first plot area */
	assert_true(strncmp(points, "90.0,244.0 ", 11) == 0);
	free(points);
	strbuf_release(&out);
	chart_release(&c);
}

static void test_svg_escapes_job_name(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	three_minute_chart(&c, "job <&> \"quoted\" 'x' \xff\x01");
	chart_render_svg(&c, &out);
	assert_well_formed(out.buf);
	assert_null(strstr(out.buf, "<&>"));
	assert_non_null(strstr(out.buf, ">job &lt;&amp;&gt; &quot;quoted&quot; &apos;x&apos; ?"
					"?</text>"));
	strbuf_release(&out);
	chart_release(&c);
}

static void test_svg_decimates_and_keeps_spikes(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;
	struct chart_panel *p;
	char *points;

	(void)state;
	chart_init(&c, "big");
	p = chart_add_panel(&c, "CPU", CHART_PERCENT);
	for (int i = 0; i < 100000; i++)
		chart_panel_add(p, (int64_t)i * 2000, i == 54321 ? 400 : 100 + i % 7);
	chart_render_svg(&c, &out);
	assert_well_formed(out.buf);
	points = polyline_points(out.buf);
	assert_true(count_of(points, ",") <= CHART_SVG_MAX_POINTS);
	assert_true(count_of(points, ",") >= CHART_SVG_MAX_POINTS / 2);
	/* the one-sample spike reaches the top of the plot area (y = 64 + 30) */
	assert_non_null(strstr(points, ",94.0 "));
	free(points);
	strbuf_release(&out);
	chart_release(&c);
}

static void test_svg_few_samples(void **state)
{
	struct chart c;
	struct strbuf out = STRBUF_INIT;

	(void)state;
	chart_init(&c, "job 3");
	chart_add_panel(&c, "CPU", CHART_PERCENT);
	chart_render_svg(&c, &out);
	assert_well_formed(out.buf);
	assert_non_null(strstr(out.buf, ">no samples</text>"));
	assert_null(strstr(out.buf, "<polyline"));
	strbuf_reset(&out);
	chart_panel_add(c.panels[0], 1000, 12);
	chart_render_svg(&c, &out);
	assert_well_formed(out.buf);
	assert_non_null(strstr(out.buf, ">one sample so far; a chart needs two</text>"));
	assert_null(strstr(out.buf, "<polyline"));
	strbuf_release(&out);
	chart_release(&c);
}

static void test_xml_escape(void **state)
{
	struct strbuf out = STRBUF_INIT;

	(void)state;
	chart_xml_escape(&out, "a<b>&c\"d'e");
	assert_string_equal(out.buf, "a&lt;b&gt;&amp;c&quot;d&apos;e");
	strbuf_reset(&out);
	/* valid UTF-8 is kept; stray bytes, overlong forms, surrogates and controls are not */
	chart_xml_escape(&out, "\xc3\xa9\xe2\xa3\x80 \xff \xc0\xaf \xed\xa0\x80 \x01\t\xe2\x82");
	assert_string_equal(out.buf, "\xc3\xa9\xe2\xa3\x80 ? ?? ??? ?\t??");
	strbuf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_braille_diagonal),
		cmocka_unit_test(test_braille_flat_and_empty_cells),
		cmocka_unit_test(test_braille_steep_jump_is_joined),
		cmocka_unit_test(test_ascii_area),
		cmocka_unit_test(test_format_value),
		cmocka_unit_test(test_format_elapsed),
		cmocka_unit_test(test_text_axis_labels),
		cmocka_unit_test(test_text_height_and_width),
		cmocka_unit_test(test_text_ascii),
		cmocka_unit_test(test_text_no_samples),
		cmocka_unit_test(test_text_one_sample),
		cmocka_unit_test(test_text_title_control_characters),
		cmocka_unit_test(test_text_long_range_ticks),
		cmocka_unit_test(test_svg_well_formed),
		cmocka_unit_test(test_svg_escapes_job_name),
		cmocka_unit_test(test_svg_decimates_and_keeps_spikes),
		cmocka_unit_test(test_svg_few_samples),
		cmocka_unit_test(test_xml_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
