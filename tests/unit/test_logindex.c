/*
 * Unit tests for src/lib/logindex.c: the writer's once-a-second and
 * new-generation rule with exact record contents, reading back (missing and
 * empty files, a torn trailing record), and the two look-ups that `log
 * --since` and `log --timestamps` rely on. Each test gets its own mkdtemp
 * directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/logindex.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/trainctl-test-logindex.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/7.idx", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void read_all(const char *path, struct logindex_record **records, size_t *count)
{
	struct err err = { 0 };

	assert_int_equal(logindex_read(path, records, count, &err), 0);
}

static void assert_record(const struct logindex_record *r, int64_t generation, int64_t offset,
			  int64_t time_ms)
{
	assert_int_equal(r->generation, generation);
	assert_int_equal(r->offset, offset);
	assert_int_equal(r->time_ms, time_ms);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void test_writer_once_a_second(void **state)
{
	struct fixture *fx = *state;
	struct logindex_writer w;
	struct logindex_record *r;
	size_t n;
	struct err err = { 0 };

	assert_int_equal(logindex_writer_open(&w, fx->path, &err), 0);
	assert_true((file_size(fx->path) == 0));
	logindex_writer_note(&w, 0, 0, 1000000);    /* first: written */
	logindex_writer_note(&w, 0, 10, 1000500);   /* 500 ms later: no */
	logindex_writer_note(&w, 0, 20, 1000999);   /* 999 ms later: no */
	logindex_writer_note(&w, 0, 30, 1001000);   /* a second: written */
	logindex_writer_note(&w, 0, 40, 1001001);   /* no */
	logindex_writer_note(&w, 0, 50, 1005000);   /* written */
	logindex_writer_close(&w);
	assert_int_equal(w.fd, -1);
	read_all(fx->path, &r, &n);
	assert_int_equal(n, 3);
	assert_record(&r[0], 0, 0, 1000000);
	assert_record(&r[1], 0, 30, 1001000);
	assert_record(&r[2], 0, 50, 1005000);
	assert_true(file_size(fx->path) == 3 * (off_t)sizeof(struct logindex_record));
	assert_int_equal(sizeof(struct logindex_record), 24);
	free(r);
}

static void test_writer_generation_change(void **state)
{
	struct fixture *fx = *state;
	struct logindex_writer w;
	struct logindex_record *r;
	size_t n;

	assert_int_equal(logindex_writer_open(&w, fx->path, NULL), 0);
	logindex_writer_note(&w, 0, 0, 5000);
	logindex_writer_note(&w, 0, 8000, 5100);
	logindex_writer_note(&w, 1, 0, 5100); /* rotated: written at once */
	logindex_writer_note(&w, 1, 100, 5200);
	logindex_writer_note(&w, 2, 0, 5300);
	logindex_writer_note(&w, 2, 0, 5300);
	logindex_writer_note(&w, 2, 50, 6299);
	logindex_writer_note(&w, 2, 60, 6300); /* a second after the last record */
	logindex_writer_close(&w);
	read_all(fx->path, &r, &n);
	assert_int_equal(n, 4);
	assert_record(&r[0], 0, 0, 5000);
	assert_record(&r[1], 1, 0, 5100);
	assert_record(&r[2], 2, 0, 5300);
	assert_record(&r[3], 2, 60, 6300);
	free(r);
}

/* A reopened writer starts fresh and appends; the clock going back writes nothing. */
static void test_writer_reopen_appends(void **state)
{
	struct fixture *fx = *state;
	struct logindex_writer w;
	struct logindex_record *r;
	size_t n;

	assert_int_equal(logindex_writer_open(&w, fx->path, NULL), 0);
	logindex_writer_note(&w, 3, 100, 9000);
	logindex_writer_note(&w, 3, 200, 8000); /* clock stepped back */
	logindex_writer_close(&w);
	assert_int_equal(logindex_writer_open(&w, fx->path, NULL), 0);
	logindex_writer_note(&w, 3, 300, 9100);
	logindex_writer_close(&w);
	read_all(fx->path, &r, &n);
	assert_int_equal(n, 2);
	assert_record(&r[0], 3, 100, 9000);
	assert_record(&r[1], 3, 300, 9100);
	assert_true(file_size(fx->path) == 2 * (off_t)sizeof(struct logindex_record));
	free(r);
}

static void test_writer_mode_and_bad_path(void **state)
{
	struct fixture *fx = *state;
	struct logindex_writer w;
	struct err err = { 0 };
	struct stat st;
	char bad[192];

	assert_int_equal(logindex_writer_open(&w, fx->path, &err), 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_not_equal(fcntl(w.fd, F_GETFD) & FD_CLOEXEC, 0);
	logindex_writer_close(&w);
	snprintf(bad, sizeof(bad), "%s/no/such/dir.idx", fx->dir);
	assert_int_equal(logindex_writer_open(&w, bad, &err), -1);
	assert_int_equal(w.fd, -1);
	assert_non_null(strstr(err.msg, bad));
	logindex_writer_note(&w, 0, 0, 1); /* a closed writer ignores notes */
	logindex_writer_close(&w);
}

static void test_read_missing_and_empty(void **state)
{
	struct fixture *fx = *state;
	struct logindex_record *r = (void *)1;
	size_t n = 99;
	int fd;

	read_all(fx->path, &r, &n); /* missing */
	assert_int_equal(n, 0);
	free(r);
	fd = open(fx->path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	n = 99;
	read_all(fx->path, &r, &n); /* empty */
	assert_int_equal(n, 0);
	free(r);
}

static void write_raw(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_read_ignores_torn_record(void **state)
{
	struct fixture *fx = *state;
	struct logindex_record recs[2] = { { 0, 0, 100 }, { 0, 5, 2000 } };
	struct logindex_record *r;
	struct logindex_writer w;
	size_t n;

	write_raw(fx->path, recs, sizeof(recs));
	write_raw(fx->path, &recs[1], 10); /* a torn third record */
	read_all(fx->path, &r, &n);
	assert_int_equal(n, 2);
	assert_record(&r[0], 0, 0, 100);
	assert_record(&r[1], 0, 5, 2000);
	free(r);
	/* A writer cuts it off, so what it appends lines up. */
	assert_int_equal(logindex_writer_open(&w, fx->path, NULL), 0);
	logindex_writer_note(&w, 1, 0, 3000);
	logindex_writer_close(&w);
	read_all(fx->path, &r, &n);
	assert_int_equal(n, 3);
	assert_record(&r[2], 1, 0, 3000);
	free(r);
}

static const struct logindex_record sample[] = {
	{ 0, 0, 1000 },	   { 0, 500, 2000 }, { 0, 900, 4000 },
	{ 1, 0, 4000 },	   { 1, 300, 7000 }, { 2, 0, 7500 },
};
#define SAMPLE_COUNT (sizeof(sample) / sizeof(sample[0]))

static void expect_locate(int64_t time_ms, int64_t generation, int64_t offset)
{
	int64_t g = -7, o = -7;

	assert_int_equal(logindex_locate(sample, SAMPLE_COUNT, time_ms, &g, &o), 0);
	assert_int_equal(g, generation);
	assert_int_equal(o, offset);
}

static void test_locate(void **state)
{
	int64_t g = -7, o = -7;

	(void)state;
	expect_locate(0, 0, 0);	       /* everything is newer: the start */
	expect_locate(1000, 0, 0);     /* exactly a record's time */
	expect_locate(1001, 0, 500);
	expect_locate(2000, 0, 500);
	expect_locate(3999, 0, 900);
	expect_locate(4000, 0, 900);   /* two records at 4000: the first */
	expect_locate(4001, 1, 300);
	expect_locate(7500, 2, 0);
	assert_int_equal(logindex_locate(sample, SAMPLE_COUNT, 7501, &g, &o), -1);
	assert_int_equal(g, -7);
	assert_int_equal(logindex_locate(NULL, 0, 0, &g, &o), -1);
}

static void test_time_of(void **state)
{
	(void)state;
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 0, 0), 1000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 0, 499), 1000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 0, 500), 2000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 0, 899), 2000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 0, 100000), 4000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 1, 0), 4000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 1, 299), 4000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 1, 300), 7000);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 2, 0), 7500);
	assert_int_equal(logindex_time_of(sample, SAMPLE_COUNT, 9, 9), 7500);
	/* Before any record (an older generation than the first): -1. */
	assert_int_equal(logindex_time_of(sample + 3, SAMPLE_COUNT - 3, 0, 900), -1);
	assert_int_equal(logindex_time_of(sample + 1, SAMPLE_COUNT - 1, 0, 499), -1);
	assert_int_equal(logindex_time_of(NULL, 0, 0, 0), -1);
}

/* Written by the writer, read back, and looked up: the three agree. */
static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct logindex_writer w;
	struct logindex_record *r;
	size_t n;
	int64_t g, o;

	assert_int_equal(logindex_writer_open(&w, fx->path, NULL), 0);
	/* A note every 250 ms, 2 bytes a millisecond, a rotation every 3750 ms. */
	for (int64_t t = 0; t < 10000; t += 250)
		logindex_writer_note(&w, t / 3750, (t % 3750) * 2, 50000 + t);
	logindex_writer_close(&w);
	read_all(fx->path, &r, &n);
	/* t = 0 1000 2000 3000, rotation 3750, 4750 5750 6750, rotation 7500, 8500 9500 */
	assert_int_equal(n, 11);
	assert_record(&r[4], 1, 0, 53750);
	assert_record(&r[5], 1, 2000, 54750);
	assert_record(&r[8], 2, 0, 57500);
	assert_int_equal(logindex_locate(r, n, 53500, &g, &o), 0);
	assert_int_equal(g, 1);
	assert_int_equal(o, 0);
	assert_int_equal(logindex_locate(r, n, 54001, &g, &o), 0);
	assert_int_equal(g, 1);
	assert_int_equal(o, 2000);
	assert_int_equal(logindex_time_of(r, n, 1, 1999), 53750);
	assert_int_equal(logindex_time_of(r, n, 0, 7499), 53000);
	assert_int_equal(logindex_time_of(r, n, 2, 0), 57500);
	free(r);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_writer_once_a_second),
		T(test_writer_generation_change),
		T(test_writer_reopen_appends),
		T(test_writer_mode_and_bad_path),
		T(test_read_missing_and_empty),
		T(test_read_ignores_torn_record),
		cmocka_unit_test(test_locate),
		cmocka_unit_test(test_time_of),
		T(test_round_trip),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
