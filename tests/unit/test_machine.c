/* Unit tests for src/lib/machine.c: the /proc/stat, meminfo and loadavg parsers, and a live read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/machine.h"

static const char stat_text[] =
	"cpu  100 0 50 800 50 0 0 0 0 0\n"
	"cpu0 60 0 20 400 20 0 0 0 0 0\n"
	"cpu1 40 0 30 400 30 0 0 0 0 0\n"
	"intr 12345 0 0\n"
	"ctxt 999\n";

static void test_parse_stat(void **state)
{
	struct cpu_ticks t[4];

	(void)state;
	assert_int_equal(machine_parse_stat(stat_text, t, 3), 2);
	assert_int_equal(t[0].total, 1000);
	assert_int_equal(t[0].busy, 150); /* idle and iowait are not busy */
	assert_int_equal(t[1].busy, 80);
	assert_int_equal(t[2].total, 500);
	/* more CPUs than room: stops at max */
	assert_int_equal(machine_parse_stat(stat_text, t, 1), 1);
	assert_int_equal(machine_parse_stat("intr 1\n", t, 3), -1);
}

static void test_parse_meminfo(void **state)
{
	struct machine_sample m;

	(void)state;
	assert_int_equal(machine_parse_meminfo("MemTotal:       16000 kB\nMemFree:  100 kB\n"
					       "MemAvailable:    8000 kB\nSwapTotal: 2048 kB\n"
					       "SwapFree: 1024 kB\n", &m), 0);
	assert_int_equal(m.mem_total, 16000 * 1024);
	assert_int_equal(m.mem_available, 8000 * 1024);
	assert_int_equal(m.swap_total, 2048 * 1024);
	assert_int_equal(m.swap_free, 1024 * 1024);
	assert_int_equal(machine_parse_meminfo("MemFree: 1 kB\n", &m), -1);
}

static void test_parse_loadavg(void **state)
{
	double load[3];

	(void)state;
	assert_int_equal(machine_parse_loadavg("0.52 1.25 2.00 3/456 7890\n", load), 0);
	assert_true(load[0] == 0.52 && load[1] == 1.25 && load[2] == 2.0);
	assert_int_equal(machine_parse_loadavg("garbage", load), -1);
}

/* This machine: CPUs as sysconf says, CPU use unknown on the first read, known on the second. */
static void test_read_live(void **state)
{
	struct machine *m = machine_new();
	struct machine_sample s;
	volatile unsigned long spin = 0;

	(void)state;
	assert_int_equal(machine_read(m, 1000, &s), 0);
	assert_int_equal(s.ncpus, sysconf(_SC_NPROCESSORS_CONF) > 0 ? s.ncpus : 0);
	assert_true(s.ncpus >= 1);
	assert_true(s.cpu_percent == -1);
	assert_true(s.mem_total > 0 && s.mem_available > 0 && s.mem_available <= s.mem_total);
	for (unsigned long i = 0; i < 200000000UL; i++) /* about a clock tick or more of CPU */
		spin += i;
	assert_int_equal(machine_read(m, 2000, &s), 0);
	assert_true(s.cpu_percent >= 0 && s.cpu_percent <= 100);
	for (int i = 0; i < s.ncpus; i++)
		assert_true(s.cpus_percent[i] >= -1 && s.cpus_percent[i] <= 100);
	machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_parse_meminfo),
		cmocka_unit_test(test_parse_loadavg),
		cmocka_unit_test(test_read_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
