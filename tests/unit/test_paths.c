/* Unit tests for src/lib/paths.c: paths_check refuses homes others could tamper with. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/paths.h"

struct fixture {
	char dir[64];
	struct paths paths;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err err = { 0 };

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_paths.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	setenv("TRAINCTL_HOME", f->dir, 1);
	if (paths_init(&f->paths, &err) < 0 || paths_ensure(&f->paths, &err) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	paths_release(&f->paths);
	free(f);
	return 0;
}

static void test_private_home_passes(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };

	assert_int_equal(paths_check(&f->paths, &err), 0);
	/* not writable by others, but readable: still ours alone to write */
	chmod(f->dir, 0755);
	assert_int_equal(paths_check(&f->paths, &err), 0);
}

static void test_world_writable_home_is_refused(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };

	chmod(f->dir, 0777);
	assert_int_equal(paths_check(&f->paths, &err), -1);
	assert_non_null(strstr(err.msg, "writable by other users (mode 0777)"));
	assert_non_null(strstr(err.msg, f->dir));
	chmod(f->dir, 0720);
	assert_int_equal(paths_check(&f->paths, &err), -1);
}

static void test_planted_links_are_refused(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	const char *const *entry;
	const char *entries[] = { f->paths.db, f->paths.daemon_sock, f->paths.daemon_log, NULL };

	for (entry = entries; *entry; entry++) {
		memset(&err, 0, sizeof(err));
		unlink(*entry);
		assert_int_equal(symlink("/tmp", *entry), 0);
		assert_int_equal(paths_check(&f->paths, &err), -1);
		assert_non_null(strstr(err.msg, "is a symbolic link"));
		unlink(*entry);
	}
	/* a linked directory too */
	rmdir(f->paths.logs);
	assert_int_equal(symlink("/tmp", f->paths.logs), 0);
	assert_int_equal(paths_ensure(&f->paths, &err), -1);
	assert_non_null(strstr(err.msg, "logs is a symbolic link"));
}

static void test_missing_home_is_not_an_error(void **state)
{
	struct paths paths;
	struct err err = { 0 };

	(void)state;
	setenv("TRAINCTL_HOME", "/tmp/test_paths.does-not-exist/home", 1);
	assert_int_equal(paths_init(&paths, &err), 0);
	assert_int_equal(paths_check(&paths, &err), 0);
	paths_release(&paths);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_private_home_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_world_writable_home_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_links_are_refused, setup, teardown),
		cmocka_unit_test(test_missing_home_is_not_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
