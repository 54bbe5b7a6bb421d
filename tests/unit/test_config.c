/* Unit tests for src/lib/config.c: the configuration file's syntax and keys. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"

static void test_every_key(void **state)
{
	struct config cfg;
	struct err err = { 0 };
	const char *text = "# trainctl defaults\n"
			   "\n"
			   "interval = 5s\n"
			   "  retention=2d  \n"
			   "metrics = 127.0.0.1:9464\n"
			   "gpu-free-mem = 20G\n"
			   "stop-timeout = 2m\n"
			   "log-max = 1G\r\n"
			   "on-exit = notify-send \"$TRAINCTL_JOB_NAME\" # not a comment\n"
			   "run.no-pty = true\n"
			   "run.env = A=1\n";

	(void)state;
	config_init(&cfg);
	assert_int_equal(config_parse(&cfg, "cfg", text, &err), 0);
	assert_int_equal(cfg.interval_ms, 5000);
	assert_int_equal(cfg.retention_ms, 2 * 86400000LL);
	assert_string_equal(cfg.metrics, "127.0.0.1:9464");
	assert_int_equal(cfg.gpu_free_mem, 20LL << 30);
	assert_int_equal(cfg.stop_timeout_ms, 120000);
	assert_int_equal(cfg.log_max, 1LL << 30);
	assert_string_equal(cfg.on_exit, "notify-send \"$TRAINCTL_JOB_NAME\" # not a comment");
	assert_int_equal(cfg.nrun, 2);
	assert_string_equal(cfg.run[0].option, "no-pty");
	assert_string_equal(cfg.run[0].value, "true");
	assert_int_equal(cfg.run[0].line, 10);
	assert_string_equal(cfg.run[1].option, "env");
	assert_string_equal(cfg.run[1].value, "A=1");
	assert_int_equal(cfg.run[1].line, 11);
	config_release(&cfg);
}

static void test_unset_is_minus_one(void **state)
{
	struct config cfg;
	struct err err = { 0 };

	(void)state;
	config_init(&cfg);
	assert_int_equal(config_parse(&cfg, "cfg", "", &err), 0);
	assert_int_equal(cfg.interval_ms, -1);
	assert_int_equal(cfg.stop_timeout_ms, -1);
	assert_null(cfg.metrics);
	assert_null(cfg.on_exit);
	config_release(&cfg);
}

/* A bad line fails with the file, the line number and what was expected. */
static void bad(const char *text, const char *want)
{
	struct config cfg;
	struct err err = { 0 };

	config_init(&cfg);
	if (config_parse(&cfg, "/etc/x", text, &err) != -1)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.usage, 1);
	if (!strstr(err.msg, want))
		fail_msg("for %s: got '%s', wanted '%s'", text, err.msg, want);
	config_release(&cfg);
}

static void test_errors(void **state)
{
	(void)state;
	bad("interval = 1s\n\nintervall = 2s\n", "config /etc/x:3: unknown key 'intervall' (expected one of interval, ");
	bad("interval 2s\n", "config /etc/x:1: expected 'key = value'");
	bad("interval =\n", "config /etc/x:1: missing value for 'interval'");
	bad("= 3\n", "missing key");
	bad("interval = soon\n", "config /etc/x:1: invalid duration 'soon'");
	bad("log-max = big\n", "config /etc/x:1:");
	bad("metrics = localhost:9464\n", "expected HOST:PORT with a numeric host");
	bad("metrics = 127.0.0.1:99999\n", "invalid address '127.0.0.1:99999'");
	bad("metrics = 127.0.0.1\n", "invalid address");
}

static void test_listen(void **state)
{
	struct err err = { 0 };
	char host[64];
	int port;

	(void)state;
	assert_int_equal(config_parse_listen("127.0.0.1:9464", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9464);
	assert_int_equal(config_parse_listen("[::1]:80", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(config_parse_listen(":9100", host, sizeof(host), &port, &err), 0);
	assert_string_equal(host, "");
	assert_int_equal(port, 9100);
	assert_int_equal(config_parse_listen("[::1:80", host, sizeof(host), &port, &err), -1);
	assert_int_equal(config_parse_listen("1.2.3.4:0", host, sizeof(host), &port, &err), -1);
}

static void test_bool(void **state)
{
	(void)state;
	assert_int_equal(config_parse_bool("true"), 1);
	assert_int_equal(config_parse_bool("Yes"), 1);
	assert_int_equal(config_parse_bool("off"), 0);
	assert_int_equal(config_parse_bool("0"), 0);
	assert_int_equal(config_parse_bool("maybe"), -1);
}

/* The path: TRAINCTL_CONFIG, then XDG_CONFIG_HOME, then ~/.config; a missing file is fine. */
static void test_path_and_load(void **state)
{
	char dir[] = "/tmp/trainctl-config-XXXXXX", *path;
	struct config cfg;
	struct err err = { 0 };
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	unsetenv("TRAINCTL_CONFIG");
	setenv("XDG_CONFIG_HOME", dir, 1);
	path = config_path();
	assert_true(strncmp(path, dir, strlen(dir)) == 0);
	assert_string_equal(path + strlen(dir), "/trainctl/config");
	free(path);
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/u", 1);
	path = config_path();
	assert_string_equal(path, "/home/u/.config/trainctl/config");
	free(path);

	path = malloc(strlen(dir) + 8);
	sprintf(path, "%s/config", dir);
	setenv("TRAINCTL_CONFIG", path, 1);
	assert_int_equal(config_load(&cfg, &err), 0);
	assert_null(cfg.path);
	config_release(&cfg);
	f = fopen(path, "w");
	fputs("stop-timeout = 5s\nbogus = 1\n", f);
	fclose(f);
	assert_int_equal(config_load(&cfg, &err), -1);
	assert_non_null(strstr(err.msg, ":2: unknown key 'bogus'"));
	config_release(&cfg);
	f = fopen(path, "w");
	fputs("stop-timeout = 5s\n", f);
	fclose(f);
	assert_int_equal(config_load(&cfg, &err), 0);
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.stop_timeout_ms, 5000);
	config_release(&cfg);
	unlink(path);
	rmdir(dir);
	free(path);
	unsetenv("TRAINCTL_CONFIG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key), cmocka_unit_test(test_unset_is_minus_one),
		cmocka_unit_test(test_errors),    cmocka_unit_test(test_listen),
		cmocka_unit_test(test_bool),      cmocka_unit_test(test_path_and_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
