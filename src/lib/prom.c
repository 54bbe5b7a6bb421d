/* The Prometheus exposition of trainctl's metrics; see prom.h. */
#include "lib/prom.h"

#include <stdio.h>
#include <string.h>

#include "lib/job.h"
#include "lib/parse.h"
#include "lib/xmalloc.h"

#define DEFAULT_QUEUE "default"

void prom_escape_label(struct strbuf *out, const char *value)
{
	for (; value && *value; value++) {
		if (*value == '\\')
			strbuf_addstr(out, "\\\\");
		else if (*value == '"')
			strbuf_addstr(out, "\\\"");
		else if (*value == '\n')
			strbuf_addstr(out, "\\n");
		else
			strbuf_addch(out, *value);
	}
}

static void family(struct strbuf *out, const char *name, const char *type, const char *help)
{
	strbuf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(struct strbuf *out, double v)
{
	strbuf_addf(out, " %.10g\n", v);
}

static const char *job_queue(const json_t *job)
{
	const char *q = json_string_value(json_object_get(job, "queue"));

	return q && *q ? q : DEFAULT_QUEUE;
}

/* trainctl_jobs{state,queue}: every state of every queue that has jobs, zeros too. */
static void render_counts(struct strbuf *out, const json_t *jobs)
{
	json_t *queues = json_object(), *job, *counts;
	size_t i;
	const char *queue;

	json_object_set_new(queues, DEFAULT_QUEUE, json_object());
	json_array_foreach(jobs, i, job) {
		const char *state = json_string_value(json_object_get(job, "state"));
		json_t *q = json_object_get(queues, job_queue(job));

		if (!state)
			continue;
		if (!q)
			json_object_set_new(queues, job_queue(job), q = json_object());
		json_object_set_new(q, state,
				    json_integer(json_integer_value(json_object_get(q, state)) + 1));
	}
	family(out, "trainctl_jobs", "gauge", "Jobs known to the daemon, by state and queue.");
	json_object_foreach(queues, queue, counts) {
		for (int s = 0; s < JOB_STATE_COUNT; s++) {
			const char *state = job_state_name((enum job_state)s);
			strbuf_addf(out, "trainctl_jobs{state=\"%s\",queue=\"", state);
			prom_escape_label(out, queue);
			strbuf_addstr(out, "\"}");
			value(out, (double)json_integer_value(json_object_get(counts, state)));
		}
	}
	json_decref(queues);
}

/* A per-job metric: where its value is in the job object, and its scale. */
struct job_metric {
	const char *name, *type, *help;
	const char *key, *subkey; /* job[key] or job[key][subkey] */
	double scale;
};

static const struct job_metric job_metrics[] = {
	{ "trainctl_job_cpu_seconds_total", "counter", "CPU time used by the job's process tree.",
	  "cpu_seconds", NULL, 1 },
	{ "trainctl_job_rss_bytes", "gauge", "Resident memory of the job's process tree.",
	  "rss_bytes", NULL, 1 },
	{ "trainctl_job_gpu_memory_bytes", "gauge", "GPU memory used by the job's processes.",
	  "gpu_mem_bytes", NULL, 1 },
	{ "trainctl_job_gpu_utilization_ratio", "gauge",
	  "GPU utilization of the job's processes (0 to 1).", "gpu_util", NULL, 0.01 },
	{ "trainctl_job_progress_ratio", "gauge", "Progress of the job read from its output (0 to 1).",
	  "progress", "ratio", 1 },
	{ "trainctl_job_restarts_total", "counter", "Times the job was restarted.", "restarts", NULL, 1 },
};

static void job_labels(struct strbuf *out, const char *metric, const json_t *job)
{
	strbuf_addf(out, "%s{id=\"%lld\",name=\"", metric,
		    (long long)json_integer_value(json_object_get(job, "id")));
	prom_escape_label(out, json_string_value(json_object_get(job, "name")));
	strbuf_addstr(out, "\",queue=\"");
	prom_escape_label(out, job_queue(job));
	strbuf_addstr(out, "\"}");
}

static int job_is_live(const json_t *job)
{
	const char *name = json_string_value(json_object_get(job, "state"));
	int state = name ? job_state_parse(name) : -1;

	return state >= 0 && !job_state_is_final((enum job_state)state);
}

static void render_jobs(struct strbuf *out, const json_t *jobs, int64_t now_ms)
{
	size_t i;
	json_t *job;

	for (size_t m = 0; m < sizeof(job_metrics) / sizeof(job_metrics[0]); m++) {
		const struct job_metric *jm = &job_metrics[m];

		family(out, jm->name, jm->type, jm->help);
		json_array_foreach(jobs, i, job) {
			json_t *v = json_object_get(job, jm->key);

			if (jm->subkey)
				v = json_object_get(v, jm->subkey);
			if (!job_is_live(job) || !json_is_number(v))
				continue;
			job_labels(out, jm->name, job);
			value(out, json_number_value(v) * jm->scale);
		}
	}
	family(out, "trainctl_job_seconds_since_last_output", "gauge",
	       "Seconds since the job last printed anything.");
	json_array_foreach(jobs, i, job) {
		int64_t at = parse_rfc3339_ms(json_string_value(json_object_get(job, "last_output_at")));

		if (!job_is_live(job) || at <= 0)
			continue;
		job_labels(out, "trainctl_job_seconds_since_last_output", job);
		value(out, now_ms > at ? (now_ms - at) / 1000.0 : 0);
	}
}

/* Per GPU, from the machine reply's device objects: field, scale. */
static const struct job_metric gpu_metrics[] = {
	{ "trainctl_gpu_utilization_ratio", "gauge", "GPU utilization (0 to 1).", "util_gpu", NULL, 0.01 },
	{ "trainctl_gpu_memory_used_bytes", "gauge", "GPU memory in use.", "mem_used", NULL, 1 },
	{ "trainctl_gpu_memory_total_bytes", "gauge", "GPU memory in all.", "mem_total", NULL, 1 },
	{ "trainctl_gpu_temperature_celsius", "gauge", "GPU temperature.", "temperature_c", NULL, 1 },
	{ "trainctl_gpu_power_watts", "gauge", "GPU power draw.", "power_w", NULL, 1 },
};

static void render_gpus(struct strbuf *out, const json_t *gpus)
{
	size_t i;
	json_t *gpu;

	if (!json_array_size(gpus))
		return;
	for (size_t m = 0; m < sizeof(gpu_metrics) / sizeof(gpu_metrics[0]); m++) {
		family(out, gpu_metrics[m].name, gpu_metrics[m].type, gpu_metrics[m].help);
		json_array_foreach(gpus, i, gpu) {
			json_t *v = json_object_get(gpu, gpu_metrics[m].key);

			if (!json_is_number(v))
				continue;
			strbuf_addf(out, "%s{gpu=\"%lld\",uuid=\"", gpu_metrics[m].name,
				    (long long)json_integer_value(json_object_get(gpu, "index")));
			prom_escape_label(out, json_string_value(json_object_get(gpu, "uuid")));
			strbuf_addstr(out, "\",name=\"");
			prom_escape_label(out, json_string_value(json_object_get(gpu, "name")));
			strbuf_addstr(out, "\"}");
			value(out, json_number_value(v) * gpu_metrics[m].scale);
		}
	}
}

void prom_render(struct strbuf *out, const json_t *jobs, const json_t *machine,
		 double uptime_s, const char *version, int64_t now_ms)
{
	render_counts(out, jobs);
	render_jobs(out, jobs, now_ms);
	render_gpus(out, json_object_get(machine, "gpus"));
	family(out, "trainctl_daemon_uptime_seconds", "gauge", "Seconds since the daemon started.");
	strbuf_addstr(out, "trainctl_daemon_uptime_seconds");
	value(out, uptime_s);
	family(out, "trainctl_build_info", "gauge", "The running trainctl's version (always 1).");
	strbuf_addstr(out, "trainctl_build_info{version=\"");
	prom_escape_label(out, version);
	strbuf_addstr(out, "\"} 1\n");
}
