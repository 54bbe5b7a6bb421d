/* Unit tests for src/lib/sparkline.c: time buckets and the cells drawn from them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/sparkline.h"

static void test_bucket_takes_the_highest_point(void **state)
{
	struct chart_point pts[] = { { 1000, 10 }, { 1400, 80 }, { 1800, 20 }, { 3500, 50 } };
	double cells[4];

	(void)state;
	/* [1000,4000) in 4 buckets of 750 ms: {10,80}, {20}, {}, {50} */
	sparkline_bucket(pts, 4, 1000, 4000, cells, 4);
	assert_true(cells[0] == 80);
	assert_true(cells[1] == 20);
	assert_true(cells[2] == -1);
	assert_true(cells[3] == 50);
}

static void test_bucket_skips_outside_and_unknown(void **state)
{
	struct chart_point pts[] = { { 0, 99 }, { 1000, -1 }, { 1500, 5 }, { 2000, 99 } };
	double cells[2];

	(void)state;
	sparkline_bucket(pts, 4, 1000, 2000, cells, 2);
	assert_true(cells[0] == -1); /* -1 is unknown, 0 is before t0 */
	assert_true(cells[1] == 5);  /* 2000 is t1, outside */
	sparkline_bucket(pts, 4, 1000, 1000, cells, 2);
	assert_true(cells[0] == -1 && cells[1] == -1);
}

static void test_render_ascii(void **state)
{
	double cells[] = { 0, 12.5, 50, 99, 100, 250, -1 };
	struct strbuf out = STRBUF_INIT;

	(void)state;
	sparkline_render(cells, 7, 100, 0, &out);
	assert_string_equal(out.buf, "_.+@@@ ");
	strbuf_release(&out);
}

static void test_render_utf8(void **state)
{
	double cells[] = { 0, 100, -1, 50 };
	struct strbuf out = STRBUF_INIT;

	(void)state;
	sparkline_render(cells, 4, 100, 1, &out);
	assert_string_equal(out.buf, "▁█ ▅");
	strbuf_reset(&out);
	sparkline_render(cells, 2, 0, 1, &out); /* no scale: the lowest block */
	assert_string_equal(out.buf, "▁▁");
	strbuf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_takes_the_highest_point),
		cmocka_unit_test(test_bucket_skips_outside_and_unknown),
		cmocka_unit_test(test_render_ascii),
		cmocka_unit_test(test_render_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
