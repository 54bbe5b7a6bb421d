/* Unit tests for src/lib/prom.c: the Prometheus text exposition of trainctl's metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lib/prom.h"

static void has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing '%s' in:\n%s", line, text);
}

static void test_escape(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	prom_escape_label(&sb, "a\"b\\c\nd");
	assert_string_equal(sb.buf, "a\\\"b\\\\c\\nd");
	strbuf_release(&sb);
}

static void test_render(void **state)
{
	json_t *jobs = json_loads(
		"[{\"id\":3,\"name\":\"exp\",\"state\":\"running\",\"queue\":\"gpu\",\"rss_bytes\":1048576,"
		"\"cpu_seconds\":12.5,\"gpu_mem_bytes\":2048,\"gpu_util\":45,\"restarts\":2,"
		"\"progress\":{\"ratio\":0.25},\"last_output_at\":\"2026-11-29T08:00:00.000Z\"},"
		" {\"id\":4,\"state\":\"failed\",\"rss_bytes\":5},"
		" {\"id\":5,\"state\":\"queued\"}]", 0, NULL);
	json_t *machine = json_loads(
		"{\"gpus\":[{\"index\":0,\"name\":\"NVIDIA H100\",\"uuid\":\"GPU-1\",\"mem_total\":8000,"
		"\"mem_used\":4000,\"util_gpu\":50,\"temperature_c\":61,\"power_w\":null}]}", 0, NULL);
	struct strbuf sb = STRBUF_INIT;
	int64_t now = 1795939210000LL; /* 2026-11-29T08:00:10Z */

	(void)state;
	prom_render(&sb, jobs, machine, 12.5, "1.2.3", now);
	has(sb.buf, "# TYPE trainctl_jobs gauge\n");
	has(sb.buf, "trainctl_jobs{state=\"running\",queue=\"gpu\"} 1\n");
	has(sb.buf, "trainctl_jobs{state=\"failed\",queue=\"default\"} 1\n");
	has(sb.buf, "trainctl_jobs{state=\"queued\",queue=\"default\"} 1\n");
	has(sb.buf, "trainctl_jobs{state=\"running\",queue=\"default\"} 0\n");
	has(sb.buf, "# TYPE trainctl_job_cpu_seconds_total counter\n");
	has(sb.buf, "trainctl_job_cpu_seconds_total{id=\"3\",name=\"exp\",queue=\"gpu\"} 12.5\n");
	has(sb.buf, "trainctl_job_rss_bytes{id=\"3\",name=\"exp\",queue=\"gpu\"} 1048576\n");
	has(sb.buf, "trainctl_job_gpu_memory_bytes{id=\"3\",name=\"exp\",queue=\"gpu\"} 2048\n");
	has(sb.buf, "trainctl_job_gpu_utilization_ratio{id=\"3\",name=\"exp\",queue=\"gpu\"} 0.45\n");
	has(sb.buf, "trainctl_job_progress_ratio{id=\"3\",name=\"exp\",queue=\"gpu\"} 0.25\n");
	has(sb.buf, "trainctl_job_restarts_total{id=\"3\",name=\"exp\",queue=\"gpu\"} 2\n");
	has(sb.buf, "trainctl_job_seconds_since_last_output{id=\"3\",name=\"exp\",queue=\"gpu\"} 10\n");
	/* Finished jobs have no per-job series. */
	assert_null(strstr(sb.buf, "id=\"4\""));
	has(sb.buf, "trainctl_gpu_utilization_ratio{gpu=\"0\",uuid=\"GPU-1\",name=\"NVIDIA H100\"} 0.5\n");
	has(sb.buf, "trainctl_gpu_memory_used_bytes{gpu=\"0\",uuid=\"GPU-1\",name=\"NVIDIA H100\"} 4000\n");
	has(sb.buf, "trainctl_gpu_memory_total_bytes{gpu=\"0\",uuid=\"GPU-1\",name=\"NVIDIA H100\"} 8000\n");
	has(sb.buf, "trainctl_gpu_temperature_celsius{gpu=\"0\",uuid=\"GPU-1\",name=\"NVIDIA H100\"} 61\n");
	assert_null(strstr(sb.buf, "trainctl_gpu_power_watts{")); /* unknown: no sample */
	has(sb.buf, "trainctl_daemon_uptime_seconds 12.5\n");
	has(sb.buf, "trainctl_build_info{version=\"1.2.3\"} 1\n");
	strbuf_release(&sb);
	/* Without GPUs, no GPU families at all. */
	prom_render(&sb, jobs, NULL, 1, "1", now);
	assert_null(strstr(sb.buf, "trainctl_gpu_"));
	strbuf_release(&sb);
	json_decref(jobs);
	json_decref(machine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
