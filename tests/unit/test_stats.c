/*
 * Unit tests for src/lib/stats.c: summaries of synthetic series with exact
 * numbers (nearest-rank p95, the trapezoid CPU integral, counter totals, the
 * least-squares RSS slope), each hint and its absence just past its
 * threshold, and the JSON and CSV forms of samples and summaries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/parse.h"
#include "lib/stats.h"

#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)
#define EPS 1e-9

/* cmocka's assert_float_equal works in float; these numbers need double. */
#define assert_close(a, b, eps)                                                        \
	do {                                                                           \
		double a_ = (a), b_ = (b);                                             \
		if (fabs(a_ - b_) > (eps))                                             \
			fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);             \
	} while (0)

/* Fill n samples every step_ms from t0: known cpu and rss, everything else unknown. */
static void series_init(struct sample *s, size_t n, int64_t t0, int64_t step_ms)
{
	for (size_t i = 0; i < n; i++) {
		s[i] = (struct sample){
			.time_ms = t0 + (int64_t)i * step_ms,
			.cpu_percent = 50,
			.rss_bytes = 100 * MIB,
			.threads = 4,
			.procs = 1,
			.read_bytes = -1,
			.write_bytes = -1,
			.gpu_util = -1,
			.gpu_mem_bytes = -1,
			.pss_bytes = -1,
			.cpu_seconds = -1,
		};
	}
}

/* The hints for a series, as one string joined with " | " ("" for none). */
static char *hints_of(const struct sample *s, size_t n, int ncpus)
{
	struct series_summary sum;
	json_t *hints = json_array();
	size_t i;
	json_t *h;
	size_t len = 1;
	char *out;

	stats_summarize(s, n, &sum);
	stats_hints(s, n, &sum, ncpus, hints);
	json_array_foreach(hints, i, h)
		len += strlen(json_string_value(h)) + 3;
	out = calloc(1, len);
	json_array_foreach(hints, i, h) {
		if (i)
			strcat(out, " | ");
		strcat(out, json_string_value(h));
	}
	json_decref(hints);
	return out;
}

static void assert_hints(const struct sample *s, size_t n, int ncpus, const char *expected)
{
	char *got = hints_of(s, n, ncpus);

	assert_string_equal(got, expected);
	free(got);
}

/* ---- stats_summarize ---- */

static void test_summary_basic(void **state)
{
	struct sample s[5];
	struct series_summary sum;
	const double cpu[] = { 30, 10, 50, 20, 40 };

	(void)state;
	series_init(s, 5, 1000, 1000);
	for (int i = 0; i < 5; i++) {
		s[i].cpu_percent = cpu[i];
		s[i].rss_bytes = 1000 + 100 * i; /* 100 bytes a second */
		s[i].threads = 5 - i;
		s[i].procs = 2;
	}
	stats_summarize(s, 5, &sum);
	assert_int_equal(sum.samples, 5);
	assert_int_equal(sum.start_ms, 1000);
	assert_int_equal(sum.end_ms, 5000);
	assert_int_equal(sum.cpu.count, 5);
	assert_close(sum.cpu.min, 10, EPS);
	assert_close(sum.cpu.max, 50, EPS);
	assert_close(sum.cpu.mean, 30, EPS);
	assert_close(sum.cpu.p95, 50, EPS); /* ceil(0.95 * 5) = 5th */
	assert_close(sum.rss.min, 1000, EPS);
	assert_close(sum.rss.mean, 1200, EPS);
	assert_close(sum.threads.min, 1, EPS);
	assert_close(sum.threads.max, 5, EPS);
	assert_close(sum.procs.mean, 2, EPS);
	/* (30+10)/2 + (10+50)/2 + (50+20)/2 + (20+40)/2 = 115 %·s */
	assert_close(sum.cpu_seconds, 1.15, EPS);
	assert_close(sum.rss_slope_per_hour, 100 * 3600, 1e-6);
	assert_int_equal(sum.gpu_util.count, 0);
	assert_int_equal(sum.gpu_mem.count, 0);
	assert_int_equal(sum.read_total, -1);
	assert_int_equal(sum.write_total, -1);
}

/* Nearest rank: the ceil(0.95 n)-th smallest value, whatever the input order. */
static void test_summary_p95_nearest_rank(void **state)
{
	struct sample s[40];
	struct series_summary sum;

	(void)state;
	series_init(s, 40, 0, 1000);
	for (int i = 0; i < 20; i++)
		s[i].cpu_percent = 20 - i; /* 20 .. 1, descending */
	stats_summarize(s, 20, &sum);
	assert_close(sum.cpu.p95, 19, EPS); /* rank 19 of 20 */
	stats_summarize(s, 10, &sum);             /* 20 .. 11 */
	assert_close(sum.cpu.p95, 20, EPS); /* rank ceil(9.5) = 10 */
	for (int i = 0; i < 40; i++)
		s[i].cpu_percent = i + 1;
	stats_summarize(s, 40, &sum);
	assert_close(sum.cpu.p95, 38, EPS); /* rank 38 of 40 */
	stats_summarize(s, 1, &sum);
	assert_close(sum.cpu.p95, 1, EPS);
}

static void test_summary_ignores_unknown(void **state)
{
	struct sample s[6];
	struct series_summary sum;
	const int64_t reads[] = { -1, 1000, -1, 2500, 3000, -1 };
	const double gpu[] = { -1, 80, -1, 40, -1, -1 };

	(void)state;
	series_init(s, 6, 0, 1000);
	for (int i = 0; i < 6; i++) {
		s[i].read_bytes = reads[i];
		s[i].gpu_util = gpu[i];
		s[i].write_bytes = i == 2 ? 77 : -1;
	}
	s[0].cpu_percent = -1; /* a first tick: CPU use needs two */
	s[1].cpu_percent = 100;
	stats_summarize(s, 6, &sum);
	assert_int_equal(sum.cpu.count, 5);
	assert_close(sum.cpu.min, 50, EPS);
	assert_close(sum.cpu.mean, 60, EPS);
	/* the interval 0..1 has an unknown end: (100+50)/2 + 3 * 50 = 225 %·s */
	assert_close(sum.cpu_seconds, 2.25, EPS);
	assert_int_equal(sum.read_total, 2000);
	assert_int_equal(sum.write_total, 0);
	assert_int_equal(sum.gpu_util.count, 2);
	assert_close(sum.gpu_util.mean, 60, EPS);
	assert_close(sum.gpu_util.min, 40, EPS);
	assert_int_equal(sum.gpu_mem.count, 0);
	assert_close(sum.rss_slope_per_hour, 0, EPS);
}

static void test_summary_empty_and_single(void **state)
{
	struct sample s[1];
	struct series_summary sum;
	json_t *j;

	(void)state;
	stats_summarize(NULL, 0, &sum);
	assert_int_equal(sum.samples, 0);
	assert_int_equal(sum.cpu.count, 0);
	assert_int_equal(sum.read_total, -1);
	j = stats_summary_json(&sum);
	assert_true(json_is_null(json_object_get(j, "start")));
	assert_true(json_is_null(json_object_get(j, "cpu_percent")));
	json_decref(j);

	series_init(s, 1, 5000, 1000);
	stats_summarize(s, 1, &sum);
	assert_int_equal(sum.samples, 1);
	assert_close(sum.cpu_seconds, 0, EPS);
	assert_close(sum.rss_slope_per_hour, 0, EPS);
	assert_close(sum.cpu.p95, 50, EPS);
}

/* ---- hints ---- */

static void test_hint_one_core(void **state)
{
	struct sample s[20];

	(void)state;
	series_init(s, 20, 0, 1000);
	for (int i = 0; i < 20; i++)
		s[i].cpu_percent = i == 7 ? 10 : 99;
	assert_hints(s, 20, 8,
		     "CPU-bound on one core: ~99% of one core for 95% of the run — more "
		     "data-loader workers?");
	/* the band is 85..115 inclusive, and 80% of the samples are enough */
	for (int i = 0; i < 20; i++)
		s[i].cpu_percent = i < 4 ? 20 : (i % 2 ? 85 : 115);
	assert_hints(s, 20, 8,
		     "CPU-bound on one core: ~100% of one core for 80% of the run — more "
		     "data-loader workers?");
	/* 75% is not */
	s[4].cpu_percent = 20;
	assert_hints(s, 20, 8, "");
	/* just outside the band */
	for (int i = 0; i < 20; i++)
		s[i].cpu_percent = i % 2 ? 84.9 : 115.1;
	assert_hints(s, 20, 8, "");
}

static void test_hint_several_cores(void **state)
{
	struct sample s[10];
	const double cpu[] = { 300, 300, 300, 300, 300, 300, 300, 330, 380, 390 };

	(void)state;
	series_init(s, 10, 0, 1000);
	for (int i = 0; i < 10; i++)
		s[i].cpu_percent = cpu[i];
	assert_hints(s, 10, 8, "uses ~3.2 cores on average (p95 3.9) of 8");
	/* a mean of exactly 150% is not "several cores" */
	for (int i = 0; i < 10; i++)
		s[i].cpu_percent = i % 2 ? 140 : 160;
	assert_hints(s, 10, 8, "");
}

static void test_hint_idle(void **state)
{
	struct sample s[32];

	(void)state;
	series_init(s, 32, 0, 1000); /* 31 s */
	for (int i = 0; i < 32; i++)
		s[i].cpu_percent = i % 2 ? 3 : 5;
	assert_hints(s, 32, 8,
		     "mostly idle: 4% of one CPU on average — waiting on I/O, the network or a "
		     "lock?");
	/* 30 s is not long enough to call it idle */
	assert_hints(s, 31, 8, "");
	/* 10% on average is not idle */
	for (int i = 0; i < 32; i++)
		s[i].cpu_percent = 10;
	assert_hints(s, 32, 8, "");
}

static void test_hint_memory_growth(void **state)
{
	struct sample s[61];
	struct series_summary sum;
	double slope = 1.2 * (double)GIB; /* bytes per hour */

	(void)state;
	series_init(s, 61, 0, 60000); /* one hour, a sample a minute */
	for (int i = 0; i < 61; i++)
		s[i].rss_bytes = GIB + (int64_t)llround(slope * i / 60);
	stats_summarize(s, 61, &sum);
	assert_close(sum.rss_slope_per_hour, slope, 10.0);
	assert_hints(s, 61, 8, "memory grew steadily by 1.2 GB/hour — leak?");
	/* a leak that slows down (as a square root) is still steady growth */
	for (int i = 0; i < 61; i++)
		s[i].rss_bytes = GIB + (int64_t)llround(GIB * sqrt(i / 60.0));
	stats_summarize(s, 61, &sum);
	assert_true(sum.rss_slope_per_hour > 50.0 * MIB);
	{
		char *got = hints_of(s, 61, 8);
		assert_non_null(strstr(got, "memory grew steadily by "));
		free(got);
	}
}

static void test_hint_memory_no_leak(void **state)
{
	struct sample s[61];
	struct series_summary sum;

	(void)state;
	/* loaded its data at the start, then flat: a slope, but no steady growth */
	series_init(s, 61, 0, 60000);
	for (int i = 0; i < 61; i++)
		s[i].rss_bytes = i < 3 ? 100 * MIB : GIB;
	stats_summarize(s, 61, &sum);
	assert_true(sum.rss_slope_per_hour > 50.0 * MIB);
	assert_hints(s, 61, 8, "");
	/*
	 * a start-up ramp, then flat: slope and "last third 20% above the
	 * first" both hold, but the last two thirds are level
	 */
	for (int i = 0; i < 61; i++)
		s[i].rss_bytes = i < 20 ? 100 * MIB + i * 48 * MIB : 100 * MIB + 20 * 48 * MIB;
	stats_summarize(s, 61, &sum);
	assert_true(sum.rss_slope_per_hour > 50.0 * MIB);
	assert_hints(s, 61, 8, "");
	/* steady, but slow: 30 MiB an hour */
	for (int i = 0; i < 61; i++)
		s[i].rss_bytes = 10 * MIB + i * 30 * MIB / 60;
	stats_summarize(s, 61, &sum);
	assert_close(sum.rss_slope_per_hour, 30.0 * MIB, 1e-3);
	assert_hints(s, 61, 8, "");
}

static void test_hint_gpu_idle(void **state)
{
	struct sample s[12];
	const double gpu[] = { 0, 4.9, 90, -1, 0, 95, 90, 90, -1, 90, 3, 91 };

	(void)state;
	series_init(s, 12, 0, 1000);
	for (int i = 0; i < 12; i++)
		s[i].gpu_util = gpu[i];
	assert_hints(s, 12, 8, "GPU idle 40% of the time — waiting for data or for CPU work between steps?");
	/* 1 idle sample in 10 known is not worth a hint, and 5% is not idle */
	s[0].gpu_util = 90;
	s[1].gpu_util = 5;
	s[4].gpu_util = 90;
	assert_hints(s, 12, 8, "");
	/* 2 in 10 is exactly the threshold */
	s[1].gpu_util = 4;
	assert_hints(s, 12, 8, "GPU idle 20% of the time — waiting for data or for CPU work between steps?");
	/* busy all the time, but at a quarter of the GPU: the input pipeline */
	for (int i = 0; i < 12; i++)
		s[i].gpu_util = 23;
	assert_hints(s, 12, 8, "GPU utilization averaged 23%: input pipeline bound? More data-loader "
			       "workers, pin_memory, or a larger batch");
	/* nothing known: nothing said */
	for (int i = 0; i < 12; i++)
		s[i].gpu_util = -1;
	assert_hints(s, 12, 8, "");
}

static void test_hint_io(void **state)
{
	struct sample s[3];

	(void)state;
	series_init(s, 3, 0, 30000); /* one minute */
	s[0].read_bytes = 5 * GIB;
	s[1].read_bytes = 6 * GIB;
	s[2].read_bytes = 5 * GIB + (int64_t)(2.1 * (double)GIB);
	s[0].write_bytes = 0;
	s[2].write_bytes = 0;
	assert_hints(s, 3, 8, "reads 2.1 GB/min — I/O-bound?");
	s[2].write_bytes = 512 * MIB;
	assert_hints(s, 3, 8, "reads 2.1 GB/min and writes 512 MB/min — I/O-bound?");
	/* 0.9 GB a minute is not heavy */
	s[2].read_bytes = 5 * GIB + 400 * MIB;
	assert_hints(s, 3, 8, "");
	/* unknown counters say nothing */
	for (int i = 0; i < 3; i++)
		s[i].read_bytes = s[i].write_bytes = -1;
	assert_hints(s, 3, 8, "");
}

static void test_hints_quiet_on_healthy_or_short_series(void **state)
{
	struct sample s[20];

	(void)state;
	series_init(s, 20, 0, 1000);
	for (int i = 0; i < 20; i++)
		s[i].cpu_percent = 60 + i; /* busy, below one core, flat memory */
	assert_hints(s, 20, 8, "");
	/* two samples at one core make no hint */
	s[0].cpu_percent = s[1].cpu_percent = 100;
	assert_hints(s, 2, 8, "");
	assert_hints(NULL, 0, 8, "");
}

/* ---- JSON and CSV ---- */

static void test_samples_json_round_trip(void **state)
{
	struct sample s[2], *back = NULL;
	size_t n = 0;
	json_t *j;
	char *text;

	(void)state;
	series_init(s, 2, 1000, 500);
	s[0].cpu_percent = -1;
	s[1].cpu_percent = 12.5;
	s[1].read_bytes = 4096;
	s[1].write_bytes = 0;
	s[1].gpu_util = 87.5;
	s[1].gpu_mem_bytes = GIB;
	s[1].pss_bytes = 50 * MIB;
	j = samples_to_json(s, 2);
	text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text, "[[1000,null,104857600,4,1,null,null,null,null,null],"
				  "[1500,12.5,104857600,4,1,4096,0,87.5,1073741824,52428800]]");
	free(text);
	assert_int_equal(samples_from_json(j, &back, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(back, s, sizeof(s));
	free(back);
	json_decref(j);
	/* rows from before PSS was sampled have nine values: PSS unknown */
	j = json_loads("[[1000,1,2,3,4,5,6,7,8]]", 0, NULL);
	assert_int_equal(samples_from_json(j, &back, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(back[0].pss_bytes, -1);
	assert_int_equal(back[0].gpu_mem_bytes, 8);
	free(back);
	json_decref(j);
}

static void test_samples_from_json_malformed(void **state)
{
	const char *bad[] = {
		"{}",
		"[[1000, 1, 2, 3, 4, 5, 6, 7]]",             /* 8 values */
		"[[\"x\", 1, 2, 3, 4, 5, 6, 7, 8]]",         /* time not a number */
		"[[1000, 1, 2, 3, 4, \"5\", 6, 7, 8]]",      /* a string */
		"[[1000, 1, 2, 3, 4, 5, 6, 7, 8], 7]",       /* a row not an array */
	};
	struct sample sentinel, *s;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);

		assert_non_null(j);
		s = &sentinel;
		n = 99;
		assert_int_equal(samples_from_json(j, &s, &n), -1);
		assert_null(s);
		assert_int_equal(n, 0);
		json_decref(j);
	}
	{
		json_t *j = json_loads("[]", 0, NULL);
		assert_int_equal(samples_from_json(j, &s, &n), 0);
		assert_int_equal(n, 0);
		free(s);
		json_decref(j);
	}
}

static void test_samples_csv(void **state)
{
	struct sample s;
	char row[256];

	(void)state;
	assert_string_equal(samples_csv_header(), "time,cpu_percent,rss_bytes,threads,procs,"
						  "read_bytes,write_bytes,gpu_util,gpu_mem_bytes,pss_bytes");
	series_init(&s, 1, parse_rfc3339_ms("2026-11-29T08:15:49.123Z"), 0);
	s.cpu_percent = 99.54;
	s.rss_bytes = MIB;
	s.threads = 4;
	s.procs = 2;
	s.write_bytes = 2048;
	samples_csv_row(&s, row, sizeof(row));
	assert_string_equal(row, "2026-11-29T08:15:49.123Z,99.5,1048576,4,2,,2048,,,");
	s.cpu_percent = -1;
	s.gpu_util = 0;
	s.gpu_mem_bytes = 0;
	samples_csv_row(&s, row, sizeof(row));
	assert_string_equal(row, "2026-11-29T08:15:49.123Z,,1048576,4,2,,2048,0.0,0,");
	/* a short buffer is cut, never overrun */
	samples_csv_row(&s, row, 30);
	assert_int_equal(strlen(row), 29);
}

/* Hints about the machine around the job: CPU contention, low memory; none on a quiet machine. */
static void test_machine_hints(void **state)
{
	struct sample s[10];
	struct series_summary sum;
	struct machine_summary m = { .cpu_mean = 95, .mem_available_min = 8 * GIB,
				     .mem_total = 16 * GIB, .ncpus = 2 };
	json_t *hints = json_array(), *back;

	(void)state;
	series_init(s, 10, 0, 2000); /* 50% of one CPU: 25 points of a 2-CPU machine */
	stats_summarize(s, 10, &sum);
	stats_machine_hints(&sum, &m, hints);
	assert_int_equal(json_array_size(hints), 1);
	assert_non_null(strstr(json_string_value(json_array_get(hints, 0)), "compete for the CPUs"));
	json_array_clear(hints);
	m.cpu_mean = 40;
	m.mem_available_min = GIB / 2;
	stats_machine_hints(&sum, &m, hints);
	assert_int_equal(json_array_size(hints), 1);
	assert_non_null(strstr(json_string_value(json_array_get(hints, 0)), "ran low on memory"));
	json_array_clear(hints);
	m.mem_available_min = -1; /* unknown: no hint */
	stats_machine_hints(&sum, &m, hints);
	assert_int_equal(json_array_size(hints), 0);
	back = machine_summary_json(&m);
	assert_int_equal(machine_summary_from_json(back, &m), 0);
	assert_true(m.cpu_mean == 40 && m.mem_available_min == -1 && m.ncpus == 2);
	assert_int_equal(machine_summary_from_json(json_null(), &m), -1);
	json_decref(back);
	json_decref(hints);
}

static void test_summary_json(void **state)
{
	struct sample s[3];
	struct series_summary sum;
	json_t *j, *cpu, *rss;

	(void)state;
	series_init(s, 3, parse_rfc3339_ms("2026-11-29T08:00:00.000Z"), 1500);
	s[0].read_bytes = 100;
	s[2].read_bytes = 600;
	s[1].cpu_percent = 80;
	s[2].rss_bytes = 100 * MIB + 3;
	stats_summarize(s, 3, &sum);
	j = stats_summary_json(&sum);
	assert_string_equal(json_string_value(json_object_get(j, "start")),
			    "2026-11-29T08:00:00.000Z");
	assert_string_equal(json_string_value(json_object_get(j, "end")),
			    "2026-11-29T08:00:03.000Z");
	assert_close(json_real_value(json_object_get(j, "duration_s")), 3, EPS);
	assert_int_equal(json_integer_value(json_object_get(j, "samples")), 3);
	cpu = json_object_get(j, "cpu_percent");
	assert_close(json_real_value(json_object_get(cpu, "min")), 50, EPS);
	assert_close(json_real_value(json_object_get(cpu, "mean")), 60, EPS);
	assert_close(json_real_value(json_object_get(cpu, "p95")), 80, EPS);
	assert_close(json_real_value(json_object_get(cpu, "max")), 80, EPS);
	rss = json_object_get(j, "rss_bytes");
	assert_int_equal(json_integer_value(json_object_get(rss, "min")), 100 * MIB);
	assert_int_equal(json_integer_value(json_object_get(rss, "mean")), 100 * MIB + 1);
	assert_int_equal(json_integer_value(json_object_get(rss, "max")), 100 * MIB + 3);
	assert_close(json_real_value(json_object_get(json_object_get(j, "threads"), "max")),
			   4, EPS);
	assert_true(json_is_null(json_object_get(j, "gpu_util")));
	assert_true(json_is_null(json_object_get(j, "gpu_mem_bytes")));
	assert_true(json_is_null(json_object_get(j, "write_bytes")));
	assert_int_equal(json_integer_value(json_object_get(j, "read_bytes")), 500);
	/* (50+80)/2 * 1.5 + (80+50)/2 * 1.5 = 195 %·s */
	assert_close(json_real_value(json_object_get(j, "cpu_seconds")), 1.95, EPS);
	assert_true(json_is_integer(json_object_get(j, "rss_slope_bytes_per_hour")));
	assert_int_equal(json_integer_value(json_object_get(j, "rss_slope_bytes_per_hour")),
			 llround(sum.rss_slope_per_hour));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_basic),
		cmocka_unit_test(test_summary_p95_nearest_rank),
		cmocka_unit_test(test_summary_ignores_unknown),
		cmocka_unit_test(test_summary_empty_and_single),
		cmocka_unit_test(test_hint_one_core),
		cmocka_unit_test(test_hint_several_cores),
		cmocka_unit_test(test_hint_idle),
		cmocka_unit_test(test_hint_memory_growth),
		cmocka_unit_test(test_hint_memory_no_leak),
		cmocka_unit_test(test_hint_gpu_idle),
		cmocka_unit_test(test_hint_io),
		cmocka_unit_test(test_hints_quiet_on_healthy_or_short_series),
		cmocka_unit_test(test_samples_json_round_trip),
		cmocka_unit_test(test_samples_from_json_malformed),
		cmocka_unit_test(test_samples_csv),
		cmocka_unit_test(test_machine_hints),
		cmocka_unit_test(test_summary_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
