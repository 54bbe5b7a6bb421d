/* Slurm's job states in trainctl's terms; see slurm_state.h. */
#include "lib/slurm_state.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lib/xmalloc.h"

void slurm_info_set_wait_status(struct slurm_job_info *info, int status)
{
	if (WIFSIGNALED(status)) {
		info->exit_code = -1;
		info->signal = WTERMSIG(status);
	} else {
		info->exit_code = WEXITSTATUS(status);
		info->signal = 0;
	}
}

static void copy_string(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* job_state is a string in 22.05 and an array of flags ("RUNNING", ...) later. */
static const char *json_job_state(const json_t *job)
{
	json_t *state = json_object_get(job, "job_state");

	return json_is_array(state) ? json_string_value(json_array_get(state, 0))
				    : json_string_value(state);
}

/* Numbers are plain in 22.05 and {"set":..,"number":..} later; exit_code a struct later. */
static int64_t json_slurm_number(const json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, "number");
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void info_from_json(const json_t *job, struct slurm_job_info *info)
{
	json_t *exit = json_object_get(job, "exit_code");

	memset(info, 0, sizeof(*info));
	info->slurm_id = json_slurm_number(json_object_get(job, "job_id"));
	copy_string(info->state, sizeof(info->state), json_job_state(job));
	copy_string(info->reason, sizeof(info->reason),
		    json_string_value(json_object_get(job, "state_reason")));
	copy_string(info->nodes, sizeof(info->nodes),
		    json_string_value(json_object_get(job, "nodes")));
	info->start_ms = json_slurm_number(json_object_get(job, "start_time")) * 1000;
	info->end_ms = json_slurm_number(json_object_get(job, "end_time")) * 1000;
	if (json_is_object(exit)) { /* 23.02 and later: {"return_code":.., "signal":{"id":..}} */
		info->exit_code = (int)json_slurm_number(json_object_get(exit, "return_code"));
		info->signal = (int)json_slurm_number(
			json_object_get(json_object_get(exit, "signal"), "id"));
		if (info->signal)
			info->exit_code = -1;
	} else {
		slurm_info_set_wait_status(info, (int)json_integer_value(exit));
	}
}

int slurm_parse_squeue_json(const char *text, struct slurm_job_info **jobs, size_t *n,
			    struct err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	json_t *list = json_object_get(root, "jobs");
	json_t *errors = json_object_get(root, "errors");
	json_t *job;
	size_t i;

	*jobs = NULL;
	*n = 0;
	if (!json_is_array(list)) {
		err_set(err, "squeue --json printed no job list%s%s", root ? "" : ": ",
			root ? "" : jerr.text);
		json_decref(root);
		return -1;
	}
	if (json_array_size(errors) > 0) {
		json_t *first = json_array_get(errors, 0);
		const char *what = json_string_value(json_object_get(first, "description"));
		err_set(err, "squeue: %s", what ? what : "an error without a description");
		json_decref(root);
		return -1;
	}
	*jobs = xreallocarray(NULL, json_array_size(list) + 1, sizeof(**jobs));
	json_array_foreach(list, i, job)
		info_from_json(job, &(*jobs)[i]);
	*n = json_array_size(list);
	json_decref(root);
	return 0;
}

/* The value of KEY= in a `scontrol -o` line (words separated by spaces), into buf. */
static int scontrol_field(const char *line, const char *key, char *buf, size_t size)
{
	size_t len = strlen(key);

	for (const char *p = line; p && *p; p = strchr(p, ' ')) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, len) == 0 && p[len] == '=') {
			p += len + 1;
			snprintf(buf, size, "%.*s", (int)strcspn(p, " \n"), p);
			return 0;
		}
	}
	return -1;
}

int slurm_parse_scontrol_line(const char *line, struct slurm_job_info *info, struct err *err)
{
	char id[32], exit[32] = "0:0";
	int code = 0, sig = 0;

	memset(info, 0, sizeof(*info));
	if (scontrol_field(line, "JobId", id, sizeof(id)) < 0 ||
	    (info->slurm_id = strtoll(id, NULL, 10)) <= 0)
		return err_set(err, "not a line of scontrol show job: %.80s", line);
	scontrol_field(line, "JobState", info->state, sizeof(info->state));
	scontrol_field(line, "Reason", info->reason, sizeof(info->reason));
	if (scontrol_field(line, "NodeList", info->nodes, sizeof(info->nodes)) == 0 &&
	    strcmp(info->nodes, "(null)") == 0)
		info->nodes[0] = '\0';
	scontrol_field(line, "ExitCode", exit, sizeof(exit));
	sscanf(exit, "%d:%d", &code, &sig);
	info->exit_code = sig ? -1 : code;
	info->signal = sig;
	return 0;
}

static const struct {
	const char *state;
	enum slurm_phase phase;
} phases[] = {
	{ "PENDING", SLURM_PENDING },	   { "REQUEUED", SLURM_PENDING },
	{ "REQUEUE_HOLD", SLURM_PENDING }, { "REQUEUE_FED", SLURM_PENDING },
	{ "RESV_DEL_HOLD", SLURM_PENDING },
	{ "SUSPENDED", SLURM_SUSPENDED },  { "STOPPED", SLURM_SUSPENDED },
	{ "COMPLETED", SLURM_ENDED },	   { "FAILED", SLURM_ENDED },
	{ "CANCELLED", SLURM_ENDED },	   { "TIMEOUT", SLURM_ENDED },
	{ "OUT_OF_MEMORY", SLURM_ENDED },  { "NODE_FAIL", SLURM_ENDED },
	{ "PREEMPTED", SLURM_ENDED },	   { "BOOT_FAIL", SLURM_ENDED },
	{ "DEADLINE", SLURM_ENDED },	   { "SPECIAL_EXIT", SLURM_ENDED },
	{ "REVOKED", SLURM_ENDED },
};

enum slurm_phase slurm_state_phase(const char *state)
{
	for (size_t i = 0; i < ARRAY_SIZE(phases); i++) {
		if (strcmp(state, phases[i].state) == 0)
			return phases[i].phase;
	}
	return SLURM_RUNNING; /* RUNNING, CONFIGURING, COMPLETING, SIGNALING, ... */
}

void slurm_live_reason(const struct slurm_job_info *info, char *buf, size_t size)
{
	if (slurm_state_phase(info->state) == SLURM_PENDING && info->reason[0] &&
	    strcmp(info->reason, "None") != 0)
		snprintf(buf, size, "slurm %lld, %s (%s)", (long long)info->slurm_id, info->state,
			 info->reason);
	else if (info->nodes[0])
		snprintf(buf, size, "slurm %lld on %s", (long long)info->slurm_id, info->nodes);
	else
		snprintf(buf, size, "slurm %lld, %s", (long long)info->slurm_id, info->state);
}

int slurm_final_state(const struct slurm_job_info *info, struct job_exit *ex,
		      enum job_state *state, char *reason, size_t size)
{
	const char *s = info->state;
	char end[256];

	ex->exit_code = info->exit_code;
	ex->signal = info->signal;
	if (info->start_ms)
		ex->started_at = info->start_ms;
	if (info->end_ms)
		ex->ended_at = info->end_ms;
	if (strcmp(s, "OUT_OF_MEMORY") == 0)
		ex->oom_kills = 1;
	*state = job_exit_classify(ex, end, sizeof(end));
	if (strcmp(s, "CANCELLED") == 0 && !info->start_ms) { /* stopped while it waited */
		*state = JOB_CANCELLED;
		snprintf(reason, size, "cancelled in the slurm queue");
		return 0;
	}
	if (ex->stop_requested || ex->user_signal || ex->oom_kills > 0 ||
	    !strcmp(s, "COMPLETED") || !strcmp(s, "FAILED")) {
		snprintf(reason, size, "%s", end);
		return 1;
	}
	if (strcmp(s, "TIMEOUT") == 0) {
		*state = JOB_STOPPED;
		snprintf(reason, size, "time-limit (slurm TIMEOUT, %s)", end);
	} else if (strcmp(s, "CANCELLED") == 0) {
		*state = JOB_STOPPED;
		snprintf(reason, size, "cancelled in slurm, %s", end);
	} else if (strcmp(s, "NODE_FAIL") == 0) {
		*state = JOB_LOST;
		snprintf(reason, size, "node-fail (slurm NODE_FAIL on %s)",
			 info->nodes[0] ? info->nodes : "its node");
	} else {
		*state = JOB_FAILED;
		snprintf(reason, size, "slurm %s (%s)", s, end);
	}
	return 0;
}
