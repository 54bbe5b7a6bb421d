/* Unit tests of the Slurm pieces: the sbatch script and the state parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>

#include "lib/slurm_script.h"
#include "lib/slurm_state.h"
#include "lib/strbuf.h"

static char *script_of(const char *spec_text)
{
	json_t *spec = json_loads(spec_text, 0, NULL);
	struct strbuf out = STRBUF_INIT;
	struct err err = { 0 };

	assert_non_null(spec);
	assert_int_equal(slurm_script_build(spec, &out, &err), 0);
	json_decref(spec);
	return strbuf_detach(&out);
}

static void test_script_options(void **state)
{
	char *s = script_of("{\"argv\":[\"python\",\"train.py\",\"--lr\",\"it's\"],\"cwd\":\"/data/my run\","
			    "\"name\":\"exp\",\"log\":\"/h/logs/3.log\",\"partition\":\"gpu\","
			    "\"account\":\"ml\",\"gpus\":2,\"cpu_limit\":1.5,\"mem_limit\":8589934592,"
			    "\"time_limit_ms\":5400001,\"stop_signal\":10,\"stop_timeout_ms\":45000}");

	(void)state;
	assert_true(strncmp(s, "#!/bin/bash\n", 12) == 0);
	assert_non_null(strstr(s, "#SBATCH --job-name=exp\n"));
	assert_non_null(strstr(s, "#SBATCH --chdir=\"/data/my run\"\n"));
	assert_non_null(strstr(s, "#SBATCH --output=/h/logs/3.log\n#SBATCH --open-mode=append\n"));
	assert_non_null(strstr(s, "#SBATCH --partition=gpu\n#SBATCH --account=ml\n"));
	assert_non_null(strstr(s, "#SBATCH --gres=gpu:2\n"));
	assert_non_null(strstr(s, "#SBATCH --cpus-per-task=2\n"));
	assert_non_null(strstr(s, "#SBATCH --mem=8192M\n"));
	assert_non_null(strstr(s, "#SBATCH --time=1:31:00\n")); /* 90 min and 1 ms: rounded up */
	assert_non_null(strstr(s, "#SBATCH --signal=B:USR1@45\n"));
	assert_non_null(strstr(s, "\nexec 'python' 'train.py' '--lr' 'it'\\''s'\n"));
	assert_null(strstr(s, "srun"));
	free(s);
}

static void test_script_distributed_and_sh(void **state)
{
	char *s = script_of("{\"sh\":\"python a.py | tee x\",\"cwd\":\"/w\",\"nodes\":2,"
			    "\"ntasks_per_node\":4,\"gpus\":[0,1],"
			    "\"marker\":\"\\r\\n--- trainctl: attempt 2 ---\\r\\n\"}");

	(void)state;
	assert_non_null(strstr(s, "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=4\n"));
	assert_non_null(strstr(s, "#SBATCH --gres=gpu:2\n"));
	assert_non_null(strstr(s, "export MASTER_ADDR="));
	assert_non_null(strstr(s, "WORLD_SIZE=\"$SLURM_NTASKS\""));
	assert_non_null(strstr(s, "NODE_RANK=\"$SLURM_NODEID\""));
	assert_non_null(strstr(s, "exec srun --kill-on-bad-exit=1 "));
	assert_non_null(strstr(s, "/bin/sh -c 'python a.py | tee x'\n"));
	/* No raw \r: sbatch refuses scripts with DOS line breaks. */
	assert_null(strchr(s, '\r'));
	assert_non_null(strstr(s, "printf '%b' '\\r\\n--- trainctl: attempt 2 ---\\r\\n'\n"));
	assert_null(strstr(s, "--time"));
	free(s);
}

static void test_script_rejects(void **state)
{
	json_t *spec = json_pack("{s:[s], s:s}", "argv", "x", "partition", "a\"b");
	struct strbuf out = STRBUF_INIT;
	struct err err = { 0 };

	(void)state;
	assert_int_equal(slurm_script_build(spec, &out, &err), -1);
	assert_non_null(strstr(err.msg, "partition"));
	json_decref(spec);
	spec = json_pack("{s:[]}", "argv");
	assert_int_equal(slurm_script_build(spec, &out, &err), -1);
	json_decref(spec);
	strbuf_release(&out);
}

/* Captured from squeue --json of Slurm 22.05 (trimmed). */
static const char squeue_json[] =
	"{\"meta\":{},\"errors\":[],\"jobs\":["
	"{\"job_id\":7,\"job_state\":\"PENDING\",\"state_reason\":\"Resources\",\"exit_code\":0,"
	"\"nodes\":\"\",\"start_time\":0,\"end_time\":0},"
	"{\"job_id\":8,\"job_state\":\"FAILED\",\"state_reason\":\"NonZeroExitCode\",\"exit_code\":768,"
	"\"nodes\":\"node1\",\"start_time\":1795950005,\"end_time\":1795950007},"
	"{\"job_id\":9,\"job_state\":\"CANCELLED\",\"state_reason\":\"None\",\"exit_code\":9,"
	"\"nodes\":\"node1\",\"start_time\":1795950005,\"end_time\":1795950009}]}";

static void test_parse_squeue(void **state)
{
	struct slurm_job_info *jobs;
	struct err err = { 0 };
	char reason[128];
	size_t n;

	(void)state;
	assert_int_equal(slurm_parse_squeue_json(squeue_json, &jobs, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(jobs[0].slurm_id, 7);
	assert_int_equal(slurm_state_phase(jobs[0].state), SLURM_PENDING);
	slurm_live_reason(&jobs[0], reason, sizeof(reason));
	assert_string_equal(reason, "slurm 7, PENDING (Resources)");
	/* exit_code is the raw wait status: 768 is exit 3, 9 is SIGKILL. */
	assert_int_equal(jobs[1].exit_code, 3);
	assert_int_equal(jobs[1].signal, 0);
	assert_int_equal(jobs[1].start_ms, 1795950005000LL);
	assert_int_equal(jobs[2].exit_code, -1);
	assert_int_equal(jobs[2].signal, SIGKILL);
	free(jobs);
	assert_int_equal(slurm_parse_squeue_json("{\"errors\":[{\"description\":\"Unable to contact "
						 "slurm controller\"}],\"jobs\":[]}",
						 &jobs, &n, &err), -1);
	assert_string_equal(err.msg, "squeue: Unable to contact slurm controller");
	assert_int_equal(slurm_parse_squeue_json("not json", &jobs, &n, &err), -1);
}

static void test_parse_scontrol(void **state)
{
	struct slurm_job_info info;
	struct err err = { 0 };

	(void)state;
	assert_int_equal(slurm_parse_scontrol_line(
				 "JobId=12 JobName=t1 UserId=root(0) JobState=TIMEOUT Reason=TimeLimit "
				 "ExitCode=0:15 NodeList=node1 BatchHost=node1\n", &info, &err), 0);
	assert_int_equal(info.slurm_id, 12);
	assert_string_equal(info.state, "TIMEOUT");
	assert_string_equal(info.reason, "TimeLimit");
	assert_string_equal(info.nodes, "node1");
	assert_int_equal(info.signal, 15);
	assert_int_equal(slurm_parse_scontrol_line("JobId=13 JobState=PENDING NodeList=(null) "
						   "ExitCode=3:0", &info, &err), 0);
	assert_string_equal(info.nodes, "");
	assert_int_equal(info.exit_code, 3);
	assert_int_equal(slurm_parse_scontrol_line("slurm_load_jobs error: Invalid job id", &info,
						   &err), -1);
}

static enum job_state final_of(const char *slurm_state, int status, int64_t start_ms,
			       int stop_requested, char *reason, size_t size)
{
	struct slurm_job_info info = { .slurm_id = 5, .start_ms = start_ms };
	struct job_exit ex = { .stop_requested = stop_requested, .stop_signal = SIGTERM,
			       .oom_kills = -1 };
	enum job_state state;

	snprintf(info.state, sizeof(info.state), "%s", slurm_state);
	slurm_info_set_wait_status(&info, status);
	slurm_final_state(&info, &ex, &state, reason, size);
	return state;
}

static void test_final_states(void **state)
{
	char r[256];

	(void)state;
	assert_int_equal(final_of("COMPLETED", 0, 1000, 0, r, sizeof(r)), JOB_SUCCEEDED);
	assert_int_equal(final_of("FAILED", 3 << 8, 1000, 0, r, sizeof(r)), JOB_FAILED);
	assert_string_equal(r, "exit 3");
	assert_int_equal(final_of("COMPLETED", 0, 1000, 1, r, sizeof(r)), JOB_STOPPED);
	assert_string_equal(r, "exit 0 after SIGTERM");
	assert_int_equal(final_of("TIMEOUT", SIGTERM, 1000, 0, r, sizeof(r)), JOB_STOPPED);
	assert_true(strncmp(r, "time-limit", 10) == 0);
	assert_int_equal(final_of("CANCELLED", SIGTERM, 0, 0, r, sizeof(r)), JOB_CANCELLED);
	assert_int_equal(final_of("CANCELLED", 0, 0, 1, r, sizeof(r)), JOB_CANCELLED);
	assert_string_equal(r, "cancelled in the slurm queue");
	assert_int_equal(final_of("CANCELLED", SIGKILL, 1000, 0, r, sizeof(r)), JOB_STOPPED);
	assert_true(strncmp(r, "cancelled in slurm", 18) == 0);
	assert_int_equal(final_of("NODE_FAIL", 0, 1000, 0, r, sizeof(r)), JOB_LOST);
	assert_int_equal(final_of("PREEMPTED", 0, 1000, 0, r, sizeof(r)), JOB_FAILED);
	assert_true(strncmp(r, "slurm PREEMPTED", 15) == 0);
	assert_int_equal(final_of("OUT_OF_MEMORY", SIGKILL, 1000, 0, r, sizeof(r)), JOB_FAILED);
	assert_int_equal(slurm_state_phase("SUSPENDED"), SLURM_SUSPENDED);
	assert_int_equal(slurm_state_phase("COMPLETING"), SLURM_RUNNING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script_options),	 cmocka_unit_test(test_script_distributed_and_sh),
		cmocka_unit_test(test_script_rejects),	 cmocka_unit_test(test_parse_squeue),
		cmocka_unit_test(test_parse_scontrol),	 cmocka_unit_test(test_final_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
