/*
 * Unit tests for src/lib/procinfo.c: the parsers on captured /proc text
 * (status, syscall, io, limits, fdinfo, cgroup), including a kernel thread's
 * and a process that exited between reads (empty or cut files).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>

#include "lib/procinfo.h"

static const char STATUS[] =
	"Name:\tpython3 (x)\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t31337\nPid:\t31337\n"
	"PPid:\t31300\nTracerPid:\t4242\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"
	"VmRSS:\t  123456 kB\nVmSwap:\t     512 kB\nThreads:\t14\n"
	"SigBlk:\t0000000000000000\nSigIgn:\t0000000000011000\nSigCgt:\t0000000180014002\n";

/* A kernel thread: no Vm lines at all. */
static const char STATUS_KTHREAD[] =
	"Name:\tkworker/0:1\nState:\tI (idle)\nPid:\t6\nPPid:\t2\nTracerPid:\t0\n"
	"Uid:\t0\t0\t0\t0\nThreads:\t1\nSigIgn:\tffffffffffffffff\nSigCgt:\t0000000000000000\n";

static void test_status(void **state)
{
	struct proc_status st;

	(void)state;
	assert_int_equal(procinfo_parse_status(STATUS, &st), 0);
	assert_int_equal(st.uid, 1000);
	assert_int_equal(st.tracer, 4242);
	assert_int_equal(st.rss, 123456LL * 1024);
	assert_int_equal(st.swap, 512 * 1024);
	assert_int_equal(st.threads, 14);
	assert_true(st.sig_ignored & (1ULL << (17 - 1))); /* SIGCHLD ignored */
	assert_true(st.sig_caught & (1ULL << (15 - 1)));  /* SIGTERM caught */
	assert_int_equal(procinfo_parse_status(STATUS_KTHREAD, &st), 0);
	assert_int_equal(st.rss, -1);
	assert_int_equal(st.swap, -1);
	/* A process that exited mid-read leaves an empty or cut file. */
	assert_int_equal(procinfo_parse_status("", &st), -1);
	assert_int_equal(procinfo_parse_status("Name:\tx\nState:\tZ (zombie)\n", &st), -1);
}

static void test_syscall(void **state)
{
	struct proc_syscall sc;

	(void)state;
	assert_int_equal(procinfo_parse_syscall("running\n", &sc), 0);
	assert_int_equal(sc.state, SYSCALL_RUNNING);
	assert_int_equal(procinfo_parse_syscall("-1 0x7ffd1 0x7f00\n", &sc), 0);
	assert_int_equal(sc.state, SYSCALL_OUTSIDE);
	assert_int_equal(procinfo_parse_syscall("0 0x3 0x7ffce77fbfb7 0x1 0x7f2b68887b60 0x5627150f8000 "
						"0x21001 0x7ffce77fbf98 0x7f2b689702ad\n", &sc), 0);
	assert_int_equal(sc.state, SYSCALL_IN);
	assert_int_equal(sc.nr, 0);
	assert_int_equal(sc.args[0], 3);
	assert_int_equal(sc.args[5], 0x21001);
	assert_int_equal(procinfo_parse_syscall("", &sc), -1);
	assert_int_equal(procinfo_parse_syscall("0 0x3", &sc), -1); /* cut short */
}

static void test_syscall_names(void **state)
{
	(void)state;
#if defined(__x86_64__)
	assert_string_equal(procinfo_syscall_name(0), "read");
	assert_string_equal(procinfo_syscall_name(202), "futex");
	assert_string_equal(procinfo_syscall_name(257), "openat");
	assert_int_equal(procinfo_syscall_path_arg(257), 1);
	assert_int_equal(procinfo_syscall_path_arg(2), 0);
#endif
	assert_true(procinfo_syscall_takes_fd(0) || procinfo_syscall_takes_fd(63));
	assert_null(procinfo_syscall_name(99999));
	assert_int_equal(procinfo_syscall_takes_fd(99999), 0);
	assert_int_equal(procinfo_syscall_path_arg(99999), -1);
}

static void test_io_limits_fdinfo(void **state)
{
	struct proc_io io;
	int64_t soft, hard;
	int flags;

	(void)state;
	assert_int_equal(procinfo_parse_io("rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4\n"
					   "read_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n", &io), 0);
	assert_int_equal(io.rchar, 100);
	assert_int_equal(io.wchar, 200);
	assert_int_equal(io.read_bytes, 4096);
	assert_int_equal(io.write_bytes, 8192);
	assert_int_equal(procinfo_parse_io("", &io), -1);
	assert_int_equal(procinfo_parse_nofile("Limit                     Soft Limit           Hard Limit           Units\n"
					       "Max open files            1024                 524288               files\n",
					       &soft, &hard), 0);
	assert_int_equal(soft, 1024);
	assert_int_equal(hard, 524288);
	assert_int_equal(procinfo_parse_nofile("Max open files            unlimited            unlimited            files\n",
					       &soft, &hard), 0);
	assert_int_equal(soft, -1);
	assert_int_equal(procinfo_parse_fdinfo_flags("pos:\t0\nflags:\t0100002\nmnt_id:\t16\n", &flags), 0);
	assert_int_equal(flags & O_ACCMODE, O_RDWR);
	assert_int_equal(procinfo_parse_fdinfo_flags("pos:\t0\n", &flags), -1);
}

static void test_cgroup(void **state)
{
	static const char text[] = "12:freezer:/frozen/one\n11:cpu,cpuacct:/a\n4:memory:/trainctl/x/job-1\n"
				   "1:name=systemd:/init.scope\n0::/unified/path\n";
	char path[64];

	(void)state;
	assert_int_equal(procinfo_parse_cgroup(text, "memory", path, sizeof(path)), 0);
	assert_string_equal(path, "/trainctl/x/job-1");
	assert_int_equal(procinfo_parse_cgroup(text, "cpuacct", path, sizeof(path)), 0);
	assert_string_equal(path, "/a");
	assert_int_equal(procinfo_parse_cgroup(text, "freezer", path, sizeof(path)), 0);
	assert_string_equal(path, "/frozen/one");
	assert_int_equal(procinfo_parse_cgroup(text, "", path, sizeof(path)), 0);
	assert_string_equal(path, "/unified/path");
	assert_int_equal(procinfo_parse_cgroup(text, "pids", path, sizeof(path)), -1);
	assert_int_equal(procinfo_parse_cgroup("", "memory", path, sizeof(path)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),       cmocka_unit_test(test_syscall),
		cmocka_unit_test(test_syscall_names), cmocka_unit_test(test_io_limits_fdinfo),
		cmocka_unit_test(test_cgroup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
