/*
 * Unit tests for src/lib/nvml.c against the fake NVML
 * (tests/fake-nvml, built beside this binary): a snapshot says exactly what
 * the fake's file describes, fields a card does not support are unknown,
 * and a missing library or driver is the clear "no NVIDIA driver" error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/nvml.h"

#define GIB (1024LL * 1024 * 1024)

static char fake_file[64];

/* Point TRAINCTL_NVML_LIB at the fake beside this test binary. */
static int setup(void **state)
{
	char exe[4096], lib[4200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int fd;

	(void)state;
	if (n < 0)
		return -1;
	exe[n] = '\0';
	snprintf(lib, sizeof(lib), "%s/fake-nvml/libnvidia-ml.so.1", dirname(exe));
	setenv("TRAINCTL_NVML_LIB", lib, 1);
	snprintf(fake_file, sizeof(fake_file), "/tmp/test_nvml.XXXXXX");
	fd = mkstemp(fake_file);
	if (fd < 0)
		return -1;
	close(fd);
	setenv("TRAINCTL_FAKE_NVML", fake_file, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(fake_file);
	return 0;
}

static void write_fake(const char *fmt, ...)
{
	va_list ap;
	FILE *f = fopen(fake_file, "w");

	assert_non_null(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(f), 0);
}

/* Open NVML and take one snapshot, which must succeed. */
static void snapshot_ok(struct gpu_snapshot *s)
{
	struct err err = { 0 };
	struct nvml *n = nvml_open(&err);

	assert_non_null(n);
	assert_int_equal(nvml_snapshot(n, s, &err), 0);
	nvml_close(n);
}

/* A child that sleeps until killed, so a test has a second live pid. */
static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_snapshot_matches_file(void **state)
{
	pid_t other = spawn_sleeper();
	struct gpu_snapshot s;

	(void)state;
	write_fake("# two cards\n"
		   "gpu 0 name=\"NVIDIA A100-SXM4-40GB\" uuid=GPU-5f1c0a3e-1111-2222-3333-444455556666 "
		   "bus=00000000:07:00.0 mem_total=40G mem_used=21G util=35 mem_util=10 temp=54 "
		   "power=210.5 power_limit=400\n"
		   "gpu 1 name=\"NVIDIA GeForce RTX 3090\" mem_total=24G\n"
		   "proc gpu=0 pid=%d mem=20G sm=40\n"
		   "proc gpu=1 pid=%d mem=512M\n",
		   (int)getpid(), (int)other);
	snapshot_ok(&s);

	assert_int_equal(s.ngpus, 2);
	assert_int_equal(s.gpus[0].index, 0);
	assert_string_equal(s.gpus[0].name, "NVIDIA A100-SXM4-40GB");
	assert_string_equal(s.gpus[0].uuid, "GPU-5f1c0a3e-1111-2222-3333-444455556666");
	assert_string_equal(s.gpus[0].pci_bus_id, "00000000:07:00.0");
	assert_int_equal(s.gpus[0].mem_total, 40 * GIB);
	assert_int_equal(s.gpus[0].mem_used, 21 * GIB);
	assert_int_equal(s.gpus[0].util_gpu, 35);
	assert_int_equal(s.gpus[0].util_mem, 10);
	assert_int_equal(s.gpus[0].temperature_c, 54);
	assert_float_equal(s.gpus[0].power_w, 210.5, 1e-9);
	assert_float_equal(s.gpus[0].power_limit_w, 400, 1e-9);
	/* The fake's defaults for what the line leaves out. */
	assert_string_equal(s.gpus[1].name, "NVIDIA GeForce RTX 3090");
	assert_string_equal(s.gpus[1].uuid, "GPU-00000000-0000-0000-0000-000000000001");
	assert_string_equal(s.gpus[1].pci_bus_id, "00000000:01:00.0");
	assert_int_equal(s.gpus[1].mem_total, 24 * GIB);

	assert_int_equal(s.nprocs, 2);
	assert_int_equal(s.procs[0].gpu, 0);
	assert_int_equal(s.procs[0].pid, getpid());
	assert_int_equal(s.procs[0].used_mem, 20 * GIB);
	assert_int_equal(s.procs[0].sm_util, 40);
	assert_int_equal(s.procs[1].gpu, 1);
	assert_int_equal(s.procs[1].pid, other);
	assert_int_equal(s.procs[1].used_mem, 512LL * 1024 * 1024);
	/* Utilization samples are supported, and this process had none: 0%, not unknown. */
	assert_int_equal(s.procs[1].sm_util, 0);
	gpu_snapshot_release(&s);
	reap(other);
}

static void test_unsupported_fields_are_unknown(void **state)
{
	struct gpu_snapshot s;

	(void)state;
	write_fake("gpu 0 name=\"NVIDIA GeForce GTX 1080\" temp=60 power=90 "
		   "unsupported=power,power_limit,util,proc_util,pci\n"
		   "proc gpu=0 pid=%d mem=unknown sm=70\n",
		   (int)getpid());
	snapshot_ok(&s);
	assert_int_equal(s.ngpus, 1);
	assert_int_equal(s.gpus[0].temperature_c, 60);
	assert_true(s.gpus[0].power_w < 0);
	assert_true(s.gpus[0].power_limit_w < 0);
	assert_int_equal(s.gpus[0].util_gpu, -1);
	assert_int_equal(s.gpus[0].util_mem, -1);
	assert_string_equal(s.gpus[0].pci_bus_id, "");
	assert_int_equal(s.nprocs, 1);
	assert_int_equal(s.procs[0].used_mem, -1);
	assert_int_equal(s.procs[0].sm_util, -1);
	gpu_snapshot_release(&s);
}

/* More processes than the first read has room for: the list is read again. */
static void test_many_processes(void **state)
{
	struct gpu_snapshot s;
	char line[64];
	FILE *f = fopen(fake_file, "w");

	(void)state;
	assert_non_null(f);
	fputs("gpu 0\ngpu 1\n", f);
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "proc gpu=1 pid=%d mem=%dM\n", (int)getpid(), i + 1);
		fputs(line, f);
	}
	fclose(f);
	snapshot_ok(&s);
	assert_int_equal(s.nprocs, 40);
	for (size_t i = 0; i < s.nprocs; i++) {
		assert_int_equal(s.procs[i].gpu, 1);
		assert_int_equal(s.procs[i].used_mem, (int64_t)(i + 1) * 1024 * 1024);
	}
	gpu_snapshot_release(&s);
}

/* The driver forgets processes that exited; so does the fake, and zombies count as exited. */
static void test_exited_process_not_listed(void **state)
{
	pid_t zombie = fork();
	struct gpu_snapshot s;

	(void)state;
	assert_true(zombie >= 0);
	if (zombie == 0)
		_exit(0);
	assert_int_equal(waitid(P_PID, (id_t)zombie, NULL, WEXITED | WNOWAIT), 0);
	write_fake("gpu 0\nproc gpu=0 pid=%d mem=1G\nproc gpu=0 pid=%d mem=2G\n", (int)zombie,
		   (int)getpid());
	snapshot_ok(&s);
	assert_int_equal(s.nprocs, 1);
	assert_int_equal(s.procs[0].pid, getpid());
	gpu_snapshot_release(&s);
	waitpid(zombie, NULL, 0);
}

/* Every snapshot reads the file again: a test can change it while NVML is open. */
static void test_file_reread_per_snapshot(void **state)
{
	struct err err = { 0 };
	struct gpu_snapshot s;
	struct nvml *n;

	(void)state;
	write_fake("gpu 0 util=5\n");
	n = nvml_open(&err);
	assert_non_null(n);
	assert_int_equal(nvml_snapshot(n, &s, &err), 0);
	assert_int_equal(s.ngpus, 1);
	assert_int_equal(s.gpus[0].util_gpu, 5);
	gpu_snapshot_release(&s);
	write_fake("gpu 0 util=95\ngpu 1\ngpu 2\n");
	assert_int_equal(nvml_snapshot(n, &s, &err), 0);
	assert_int_equal(s.ngpus, 3);
	assert_int_equal(s.gpus[0].util_gpu, 95);
	gpu_snapshot_release(&s);
	nvml_close(n);
}

static void test_lost_gpu_fails_snapshot(void **state)
{
	struct err err = { 0 };
	struct gpu_snapshot s;
	struct nvml *n;

	(void)state;
	write_fake("gpu 0\ngpu 1 error=gpu_is_lost\n");
	n = nvml_open(&err);
	assert_non_null(n);
	assert_int_equal(nvml_snapshot(n, &s, &err), -1);
	assert_string_equal(err.msg, "GPU 1: nvmlDeviceGetName: GPU is lost");
	assert_null(s.gpus);
	nvml_close(n);
}

static void test_no_library(void **state)
{
	char *saved = strdup(getenv("TRAINCTL_NVML_LIB"));
	struct err err = { 0 };

	(void)state;
	setenv("TRAINCTL_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
	assert_null(nvml_open(&err));
	assert_non_null(strstr(err.msg, NVML_NO_DRIVER_MSG));
	assert_non_null(strstr(err.msg, "/nonexistent/libnvidia-ml.so.1"));
	setenv("TRAINCTL_NVML_LIB", saved, 1);
	free(saved);
}

/* The library is there but the kernel driver is not: still "no driver". */
static void test_driver_not_loaded(void **state)
{
	struct err err = { 0 };

	(void)state;
	write_fake("init error=driver_not_loaded\ngpu 0\n");
	assert_null(nvml_open(&err));
	assert_non_null(strstr(err.msg, NVML_NO_DRIVER_MSG));
	assert_non_null(strstr(err.msg, "kernel driver is not loaded"));

	write_fake("init error=no_permission\n");
	assert_null(nvml_open(&err));
	assert_string_equal(err.msg, "cannot initialise NVML: Insufficient Permissions");
}

static void test_close_null(void **state)
{
	(void)state;
	nvml_close(NULL);
}

static void test_json(void **state)
{
	struct gpu_device g = {
		.index = 2, .name = "NVIDIA H100", .uuid = "GPU-1", .pci_bus_id = "00000000:41:00.0",
		.mem_total = 80 * GIB, .mem_used = -1, .util_gpu = 7, .util_mem = -1,
		.temperature_c = -1, .power_w = 300.5, .power_limit_w = -1,
	};
	struct gpu_process p = { .gpu = 2, .pid = 4242, .used_mem = 3 * GIB, .sm_util = -1 };
	json_t *dj = gpu_device_json(&g), *pj = gpu_process_json(&p);
	char *text;

	(void)state;
	text = json_dumps(dj, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(text, "{\"index\":2,\"mem_total\":85899345920,\"mem_used\":null,"
				  "\"name\":\"NVIDIA H100\",\"pci_bus_id\":\"00000000:41:00.0\","
				  "\"power_limit_w\":null,\"power_w\":300.5,\"temperature_c\":null,"
				  "\"util_gpu\":7,\"util_mem\":null,\"uuid\":\"GPU-1\"}");
	free(text);
	text = json_dumps(pj, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(text, "{\"gpu\":2,\"pid\":4242,\"sm_util\":null,\"used_mem\":3221225472}");
	free(text);
	json_decref(dj);
	json_decref(pj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_matches_file),
		cmocka_unit_test(test_unsupported_fields_are_unknown),
		cmocka_unit_test(test_many_processes),
		cmocka_unit_test(test_exited_process_not_listed),
		cmocka_unit_test(test_file_reread_per_snapshot),
		cmocka_unit_test(test_lost_gpu_fails_snapshot),
		cmocka_unit_test(test_no_library),
		cmocka_unit_test(test_driver_not_loaded),
		cmocka_unit_test(test_close_null),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
