/*
 * Unit tests for src/lib/checkpoint.c: name ordering and partial names, then
 * a scanner over a private mkdtemp directory whose files get explicit mtimes
 * (utimensat), so "unchanged since the last scan" never depends on the
 * clock: files appearing, growing, being rewritten and deleted, names that
 * are ignored, globs that match nothing, absolute globs, a cwd with glob
 * characters in it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/checkpoint.h"

#define T0 1700000000 /* an mtime in seconds */

struct fixture {
	char dir[64];
};

static int path_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_checkpoint.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, path_remove, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static char *path_in(const struct fixture *f, const char *name)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", f->dir, name);
	return p;
}

/* Write size bytes to dir/name and set its mtime to mtime seconds (+ ns). */
static void file_put(const struct fixture *f, const char *name, size_t size, time_t mtime,
		     long ns)
{
	const char *path = path_in(f, name);
	struct timespec times[2] = { { mtime, ns }, { mtime, ns } };
	char block[512];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	while (size > 0) {
		size_t n = size < sizeof(block) ? size : sizeof(block);

		assert_int_equal(write(fd, block, n), (ssize_t)n);
		size -= n;
	}
	assert_int_equal(futimens(fd, times), 0);
	close(fd);
}

static struct checkpoint_scanner *scanner_new(const char *cwd, const char *glob)
{
	struct err err = { 0 };
	struct checkpoint_scanner *s = checkpoint_scanner_new(cwd, glob, &err);

	if (!s)
		fail_msg("checkpoint_scanner_new(%s, %s) failed: %s", cwd, glob, err.msg);
	return s;
}

static void latest_is(const struct checkpoint_scanner *s, const char *path)
{
	if (!path) {
		assert_null(checkpoint_latest(s));
		assert_int_equal(checkpoint_latest_mtime_ms(s), 0);
		return;
	}
	assert_non_null(checkpoint_latest(s));
	assert_string_equal(checkpoint_latest(s), path);
}

/* ---- names ---- */

static void compare_expect(const char *a, const char *b, int want)
{
	int got = checkpoint_name_compare(a, b), back = checkpoint_name_compare(b, a);

	if ((got > 0) - (got < 0) != want || (back > 0) - (back < 0) != -want)
		fail_msg("compare(%s, %s) = %d, reversed %d; expected sign %d", a, b, got, back,
			 want);
}

static void test_name_compare_numbers(void **state)
{
	(void)state;
	compare_expect("checkpoint_epoch_9.json", "checkpoint_epoch_10.json", -1);
	compare_expect("ckpt_2.pt", "ckpt_10.pt", -1);
	compare_expect("ckpt_100.pt", "ckpt_99.pt", 1);
	/* the last number in the name, not the first */
	compare_expect("step-100-epoch-2.pt", "step-50-epoch-3.pt", -1);
	compare_expect("epoch=3-step=1000.ckpt", "epoch=3-step=1500.ckpt", -1);
	/* digits in an extension are not the number */
	compare_expect("model_epoch_9.h5", "model_epoch_10.h5", -1);
	compare_expect("weights_9.hdf5", "weights_10.hdf5", -1);
	/* TensorFlow: the number before ".index" */
	compare_expect("model.ckpt-900.index", "model.ckpt-1000.index", -1);
	/* beyond 64 bits, still by value */
	compare_expect("ckpt_99999999999999999999999.pt", "ckpt_100000000000000000000000.pt", -1);
	/* leading zeros: the same value, then the names decide */
	compare_expect("ckpt_0010.pt", "ckpt_9.pt", 1);
	compare_expect("ckpt_010.pt", "ckpt_10.pt", -1);
	compare_expect("ckpt_000.pt", "ckpt_0.pt", 1);
}

static void test_name_compare_names(void **state)
{
	(void)state;
	/* no number sorts before any number */
	compare_expect("last.ckpt", "ckpt_0.pt", -1);
	compare_expect("model.pt", "a_1.pt", -1);
	/* neither has a number: by name */
	compare_expect("a.pt", "b.pt", -1);
	assert_int_equal(checkpoint_name_compare("model.pt", "model.pt"), 0);
	/* same number: by name */
	compare_expect("a_5.pt", "b_5.pt", -1);
	/* only the basename counts, not the directories */
	compare_expect("/runs/9/ckpt_1.pt", "/runs/1/ckpt_2.pt", -1);
	assert_int_equal(checkpoint_name_compare("/x/7/model.pt", "/y/3/model.pt"), 0);
}

static void test_name_is_partial(void **state)
{
	(void)state;
	assert_true(checkpoint_name_is_partial("ckpt_5.pt.tmp"));
	assert_true(checkpoint_name_is_partial("ckpt_5.pt.part"));
	assert_true(checkpoint_name_is_partial("ckpt_5.pt.partial"));
	assert_true(checkpoint_name_is_partial("ckpt_5.pt.incomplete"));
	assert_true(checkpoint_name_is_partial("ckpt_5.pt~"));
	assert_true(checkpoint_name_is_partial("ckpt_5.PT.TMP"));
	assert_true(checkpoint_name_is_partial(".ckpt_5.pt"));
	assert_true(checkpoint_name_is_partial("/runs/a/.ckpt_5.pt"));
	assert_false(checkpoint_name_is_partial("ckpt_5.pt"));
	assert_false(checkpoint_name_is_partial("/home/u/.cache/run/ckpt_5.pt"));
	assert_false(checkpoint_name_is_partial("tmp_ckpt.pt"));
	assert_false(checkpoint_name_is_partial("model.tmpl"));
	assert_false(checkpoint_name_is_partial("partial_model.pt"));
}

/* ---- the scanner ---- */

static void test_new_rejects(void **state)
{
	struct err err = { 0 };

	(void)state;
	assert_null(checkpoint_scanner_new("/tmp", "", &err));
	assert_int_equal(err.usage, 1);
	assert_non_null(strstr(err.msg, "empty"));
	memset(&err, 0, sizeof(err));
	assert_null(checkpoint_scanner_new("/tmp", NULL, &err));
	assert_int_equal(err.usage, 1);
	/* a relative glob needs an absolute cwd */
	memset(&err, 0, sizeof(err));
	assert_null(checkpoint_scanner_new("runs", "*.pt", &err));
	assert_int_equal(err.usage, 1);
	assert_null(checkpoint_scanner_new(NULL, "*.pt", NULL));
	checkpoint_scanner_free(NULL);
}

static void test_appears(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "ckpt_*.pt");

	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, NULL);
	file_put(f, "ckpt_1.pt", 100, T0, 250000000);
	/* first seen: it may still be growing */
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, NULL);
	/* unchanged one scan later: complete */
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "ckpt_1.pt"));
	assert_int_equal(checkpoint_latest_mtime_ms(s), (int64_t)T0 * 1000 + 250);
	/* nothing new */
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, path_in(f, "ckpt_1.pt"));
	/* a second one */
	file_put(f, "ckpt_2.pt", 100, T0 + 60, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, path_in(f, "ckpt_1.pt"));
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "ckpt_2.pt"));
	assert_int_equal(checkpoint_latest_mtime_ms(s), (int64_t)(T0 + 60) * 1000);
	checkpoint_scanner_free(s);
}

static void test_growing(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "*.pt");

	file_put(f, "model_3.pt", 1000, T0, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	file_put(f, "model_3.pt", 5000, T0 + 1, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	/* a coarse clock: the mtime stays, the size moves */
	file_put(f, "model_3.pt", 9000, T0 + 1, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	/* the size stays, the mtime moves (nanoseconds count) */
	file_put(f, "model_3.pt", 9000, T0 + 1, 1);
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, NULL);
	/* it stopped changing */
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "model_3.pt"));
	checkpoint_scanner_free(s);
}

static void test_partial_names_ignored(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "*");
	struct checkpoint_scanner *dots = scanner_new(f->dir, ".*");

	file_put(f, "ckpt_4.pt", 10, T0, 0);
	file_put(f, "ckpt_5.pt.tmp", 10, T0, 0);
	file_put(f, "ckpt_6.pt.part", 10, T0, 0);
	file_put(f, "ckpt_7.pt.partial", 10, T0, 0);
	file_put(f, "ckpt_8.pt.incomplete", 10, T0, 0);
	file_put(f, "ckpt_9.pt~", 10, T0, 0);
	file_put(f, ".ckpt_10.pt", 10, T0, 0);
	for (int i = 0; i < 3; i++) {
		checkpoint_scan(s);
		checkpoint_scan(dots);
	}
	latest_is(s, path_in(f, "ckpt_4.pt"));
	/* a glob that names dot-files still does not take them */
	latest_is(dots, NULL);
	checkpoint_scanner_free(s);
	checkpoint_scanner_free(dots);
}

static void test_directories_ignored(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "checkpoint-*");

	assert_int_equal(mkdir(path_in(f, "checkpoint-900"), 0755), 0);
	file_put(f, "checkpoint-5", 10, T0, 0);
	checkpoint_scan(s);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "checkpoint-5"));
	checkpoint_scanner_free(s);
}

static void test_epoch_order(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "checkpoint_epoch_*.json");

	/* epoch_10 is the oldest file: the number wins over the mtime */
	file_put(f, "checkpoint_epoch_10.json", 10, T0, 0);
	file_put(f, "checkpoint_epoch_9.json", 10, T0 + 100, 0);
	file_put(f, "checkpoint_epoch_2.json", 10, T0 + 200, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "checkpoint_epoch_10.json"));
	assert_int_equal(checkpoint_latest_mtime_ms(s), (int64_t)T0 * 1000);
	/* a lower number appearing later is not the latest */
	file_put(f, "checkpoint_epoch_3.json", 10, T0 + 300, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, path_in(f, "checkpoint_epoch_10.json"));
	checkpoint_scanner_free(s);
}

static void test_same_name_by_mtime(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "*/model.pt");

	assert_int_equal(mkdir(path_in(f, "b"), 0755), 0);
	assert_int_equal(mkdir(path_in(f, "a"), 0755), 0);
	file_put(f, "b/model.pt", 10, T0, 0);
	file_put(f, "a/model.pt", 10, T0 + 5, 0);
	checkpoint_scan(s);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "a/model.pt"));
	file_put(f, "b/model.pt", 10, T0 + 9, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "b/model.pt"));
	checkpoint_scanner_free(s);
}

static void test_rewrite_is_new(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "last.ckpt");

	file_put(f, "last.ckpt", 4096, T0, 0);
	checkpoint_scan(s);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "last.ckpt"));
	/* rewritten in place, same size: being written (still the latest), then complete again */
	file_put(f, "last.ckpt", 4096, T0 + 600, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, path_in(f, "last.ckpt"));
	assert_int_equal(checkpoint_latest_mtime_ms(s), (int64_t)T0 * 1000);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "last.ckpt"));
	assert_int_equal(checkpoint_latest_mtime_ms(s), (int64_t)(T0 + 600) * 1000);
	assert_int_equal(checkpoint_scan(s), 0);
	checkpoint_scanner_free(s);
}

/* The newest, rewritten in place, stays the latest: no step back to the one before. */
static void test_rewrite_of_newest_is_no_step_back(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "epoch_*.pt");

	file_put(f, "epoch_4.pt", 100, T0, 0);
	file_put(f, "epoch_5.pt", 100, T0 + 60, 0);
	checkpoint_scan(s);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "epoch_5.pt"));
	file_put(f, "epoch_5.pt", 200, T0 + 120, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, path_in(f, "epoch_5.pt"));
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "epoch_5.pt"));
	assert_int_equal(checkpoint_latest_mtime_ms(s), (int64_t)(T0 + 120) * 1000);
	checkpoint_scanner_free(s);
}

static void test_delete_falls_back(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "ckpt_*.pt");

	file_put(f, "ckpt_1.pt", 10, T0, 0);
	file_put(f, "ckpt_2.pt", 10, T0 + 10, 0);
	checkpoint_scan(s);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "ckpt_2.pt"));
	assert_int_equal(unlink(path_in(f, "ckpt_2.pt")), 0);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "ckpt_1.pt"));
	assert_int_equal(checkpoint_latest_mtime_ms(s), (int64_t)T0 * 1000);
	/* all gone: no latest, and nothing to report */
	assert_int_equal(unlink(path_in(f, "ckpt_1.pt")), 0);
	assert_int_equal(checkpoint_scan(s), 0);
	latest_is(s, NULL);
	/* the same file back again is reported again */
	file_put(f, "ckpt_1.pt", 10, T0, 0);
	assert_int_equal(checkpoint_scan(s), 0);
	assert_int_equal(checkpoint_scan(s), 1);
	latest_is(s, path_in(f, "ckpt_1.pt"));
	checkpoint_scanner_free(s);
}

static void test_no_match(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new(f->dir, "checkpoints/*.pt");
	struct checkpoint_scanner *gone = scanner_new("/nonexistent/trainctl-test", "*.pt");

	file_put(f, "ckpt_1.bin", 10, T0, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(checkpoint_scan(s), 0);
		assert_int_equal(checkpoint_scan(gone), 0);
	}
	latest_is(s, NULL);
	latest_is(gone, NULL);
	checkpoint_scanner_free(s);
	checkpoint_scanner_free(gone);
}

static void test_absolute_glob(void **state)
{
	struct fixture *f = *state;
	struct checkpoint_scanner *s = scanner_new("/nonexistent", path_in(f, "*.pt"));
	struct checkpoint_scanner *no_cwd = scanner_new(NULL, path_in(f, "*.pt"));

	file_put(f, "ckpt_7.pt", 10, T0, 0);
	checkpoint_scan(s);
	checkpoint_scan(no_cwd);
	assert_int_equal(checkpoint_scan(s), 1);
	assert_int_equal(checkpoint_scan(no_cwd), 1);
	latest_is(s, path_in(f, "ckpt_7.pt"));
	latest_is(no_cwd, path_in(f, "ckpt_7.pt"));
	checkpoint_scanner_free(s);
	checkpoint_scanner_free(no_cwd);
}

static void test_relative_glob_subdir(void **state)
{
	struct fixture *f = *state;
	char cwd[256];
	struct checkpoint_scanner *s;

	/*
	 * A trailing slash on cwd, and a cwd whose name holds glob characters:
	 * unescaped, "run[1]*?" would match the decoy "run1_b" instead.
	 */
	assert_int_equal(mkdir(path_in(f, "run[1]*?"), 0755), 0);
	assert_int_equal(mkdir(path_in(f, "run[1]*?/ckpts"), 0755), 0);
	assert_int_equal(mkdir(path_in(f, "run1_b"), 0755), 0);
	assert_int_equal(mkdir(path_in(f, "run1_b/ckpts"), 0755), 0);
	file_put(f, "run[1]*?/ckpts/step_20.pt", 10, T0, 0);
	file_put(f, "run1_b/ckpts/step_90.pt", 10, T0, 0);
	snprintf(cwd, sizeof(cwd), "%s/", path_in(f, "run[1]*?"));
	s = scanner_new(cwd, "ckpts/step_*.pt");
	checkpoint_scan(s);
	assert_int_equal(checkpoint_scan(s), 1);
	assert_string_equal(checkpoint_latest(s), path_in(f, "run[1]*?/ckpts/step_20.pt"));
	checkpoint_scanner_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_compare_numbers),
		cmocka_unit_test(test_name_compare_names),
		cmocka_unit_test(test_name_is_partial),
		cmocka_unit_test(test_new_rejects),
		cmocka_unit_test_setup_teardown(test_appears, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_names_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directories_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_name_by_mtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_is_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_of_newest_is_no_step_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absolute_glob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_glob_subdir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
