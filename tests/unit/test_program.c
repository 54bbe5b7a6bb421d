/* Unit tests for src/lib/program.c: finding a job's program as exec will. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/program.h"

static char dir[64];

static void make_file(const char *rel, mode_t mode)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n", f);
	fclose(f);
	chmod(path, mode);
}

static int setup(void **state)
{
	char sub[96];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_program.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sub, sizeof(sub), "%s/bin", dir);
	mkdir(sub, 0755);
	make_file("bin/tool", 0755);
	make_file("bin/plain", 0644);
	make_file("local", 0755);
	return 0;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void found_in_path(void **state)
{
	struct err err = { 0 };
	char path[96], want[96];
	char *p;

	(void)state;
	snprintf(path, sizeof(path), "/nonexistent:%s/bin", dir);
	snprintf(want, sizeof(want), "%s/bin/tool", dir);
	p = program_find("tool", path, "/", &err);
	assert_string_equal(p, want);
	free(p);
}

static void not_executable_is_skipped_then_not_found(void **state)
{
	struct err err = { 0 };
	char path[96];

	(void)state;
	snprintf(path, sizeof(path), "%s/bin", dir);
	assert_null(program_find("plain", path, "/", &err));
	assert_string_equal(err.msg, "plain: command not found");
}

static void relative_names_from_cwd(void **state)
{
	struct err err = { 0 };
	char *p;

	(void)state;
	/* returned relative: exec happens after chdir(cwd) */
	p = program_find("./local", NULL, dir, &err);
	assert_string_equal(p, "./local");
	free(p);
	assert_null(program_find("./local", NULL, "/", &err));
	assert_string_equal(err.msg, "./local: No such file or directory");
	/* an empty PATH entry is the job's directory */
	p = program_find("local", "/nonexistent:", dir, &err);
	assert_string_equal(p, "local");
	free(p);
}

static void directories_and_modes_refused(void **state)
{
	struct err err = { 0 };
	char name[96];

	(void)state;
	snprintf(name, sizeof(name), "%s/bin", dir);
	assert_null(program_find(name, NULL, "/", &err));
	assert_non_null(strstr(err.msg, "Is a directory"));
	snprintf(name, sizeof(name), "%s/bin/plain", dir);
	assert_null(program_find(name, NULL, "/", &err));
	assert_non_null(strstr(err.msg, "Permission denied"));
	assert_null(program_find("", NULL, "/", &err));
	assert_string_equal(err.msg, "empty command name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(found_in_path),
		cmocka_unit_test(not_executable_is_skipped_then_not_found),
		cmocka_unit_test(relative_names_from_cwd),
		cmocka_unit_test(directories_and_modes_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
