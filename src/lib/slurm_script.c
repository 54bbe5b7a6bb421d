/* The sbatch script of a job spec; see slurm_script.h. */
#include "lib/slurm_script.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lib/parse.h"

static int64_t spec_int(const json_t *spec, const char *key)
{
	return json_integer_value(json_object_get(spec, key));
}

/* One "#SBATCH --opt=value" line; values with spaces are double-quoted. */
static int directive(struct strbuf *out, const char *opt, const char *value, struct err *err)
{
	if (strpbrk(value, "\"\n\r"))
		return err_usage(err, "cannot put %s '%s' into an sbatch script (no quotes or "
				      "line breaks)", opt, value);
	if (strchr(value, ' '))
		strbuf_addf(out, "#SBATCH --%s=\"%s\"\n", opt, value);
	else
		strbuf_addf(out, "#SBATCH --%s=%s\n", opt, value);
	return 0;
}

static void directive_int(struct strbuf *out, const char *opt, int64_t value)
{
	strbuf_addf(out, "#SBATCH --%s=%lld\n", opt, (long long)value);
}

/* The number of GPUs asked for: a count, or a list of indices. */
static int64_t gpu_count(const json_t *spec)
{
	json_t *gpus = json_object_get(spec, "gpus");

	return json_is_array(gpus) ? (int64_t)json_array_size(gpus) : json_integer_value(gpus);
}

/* Slurm counts time limits in whole minutes: round up, so the job gets at least its time. */
static void time_directives(struct strbuf *out, const json_t *spec)
{
	int64_t limit_ms = spec_int(spec, "time_limit_ms");
	int64_t minutes = (limit_ms + 59999) / 60000;
	int64_t grace_s = (spec_int(spec, "stop_timeout_ms") + 999) / 1000;
	int sig = (int)spec_int(spec, "stop_signal");
	const char *name = signal_name(sig ? sig : 15);

	if (limit_ms <= 0)
		return;
	strbuf_addf(out, "#SBATCH --time=%lld:%02lld:00\n", (long long)(minutes / 60),
		    (long long)(minutes % 60));
	/* The stop signal goes to the job (B: the batch step) a grace period before the end. */
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	strbuf_addf(out, "#SBATCH --signal=B:%s@%lld\n", name,
		    (long long)(grace_s < 1 ? 1 : grace_s > 65535 ? 65535 : grace_s));
}

static int resource_directives(struct strbuf *out, const json_t *spec, struct err *err)
{
	static const char *const text_keys[][2] = { { "partition", "partition" },
						    { "account", "account" } };
	static const char *const int_keys[][2] = { { "nodes", "nodes" },
						   { "ntasks_per_node", "ntasks-per-node" } };
	json_t *cpus = json_object_get(spec, "cpu_limit");
	int64_t mem = spec_int(spec, "mem_limit");

	for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]); i++) {
		const char *v = json_string_value(json_object_get(spec, text_keys[i][0]));
		if (v && directive(out, text_keys[i][1], v, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		if (spec_int(spec, int_keys[i][0]) > 0)
			directive_int(out, int_keys[i][1], spec_int(spec, int_keys[i][0]));
	}
	if (gpu_count(spec) > 0)
		strbuf_addf(out, "#SBATCH --gres=gpu:%lld\n", (long long)gpu_count(spec));
	if (json_is_number(cpus) && json_number_value(cpus) > 0)
		directive_int(out, "cpus-per-task", (int64_t)ceil(json_number_value(cpus)));
	if (mem > 0)
		strbuf_addf(out, "#SBATCH --mem=%lldM\n", (long long)((mem + (1 << 20) - 1) >> 20));
	time_directives(out, spec);
	return 0;
}

/* The job's command line, shell-quoted: its argv, or sh -c for --sh. */
static void command_words(struct strbuf *out, const json_t *spec)
{
	const char *sh = json_string_value(json_object_get(spec, "sh"));
	json_t *argv = json_object_get(spec, "argv");
	size_t i;
	json_t *word;

	if (sh) {
		strbuf_addstr(out, "/bin/sh -c ");
		strbuf_add_shell_quoted(out, sh);
		return;
	}
	json_array_foreach(argv, i, word) {
		if (i)
			strbuf_addch(out, ' ');
		strbuf_add_shell_quoted(out, json_string_value(word));
	}
}

/*
 * A job over several nodes or tasks runs under srun, one task per slot, with
 * what torchrun-style launchers read: the first host as MASTER_ADDR, a port
 * from the job id (unless the job sets MASTER_PORT), the world size and each
 * task's node rank, rank and local rank.
 */
static void command_distributed(struct strbuf *out, const json_t *spec)
{
	strbuf_addstr(out,
		      "export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"\n"
		      "export MASTER_PORT=\"${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}\"\n"
		      "export WORLD_SIZE=\"$SLURM_NTASKS\" NNODES=\"$SLURM_JOB_NUM_NODES\"\n"
		      "exec srun --kill-on-bad-exit=1 /bin/sh -c 'export NODE_RANK=\"$SLURM_NODEID\" "
		      "RANK=\"$SLURM_PROCID\" LOCAL_RANK=\"$SLURM_LOCALID\"; exec \"$@\"' trainctl-task ");
	command_words(out, spec);
	strbuf_addch(out, '\n');
}

/*
 * The marker line of a restart attempt is printed by the script itself. Its
 * line breaks are \r\n, which sbatch refuses in a script (it takes them for
 * DOS line breaks): they go in as printf %b escapes.
 */
static void add_marker(struct strbuf *out, const char *marker)
{
	struct strbuf escaped = STRBUF_INIT;

	for (const char *p = marker; *p; p++) {
		if (*p == '\r')
			strbuf_addstr(&escaped, "\\r");
		else if (*p == '\n')
			strbuf_addstr(&escaped, "\\n");
		else if (*p == '\\')
			strbuf_addstr(&escaped, "\\\\");
		else
			strbuf_addch(&escaped, *p);
	}
	strbuf_addstr(out, "printf '%b' ");
	strbuf_add_shell_quoted(out, escaped.buf);
	strbuf_addch(out, '\n');
	strbuf_release(&escaped);
}

int slurm_script_build(const json_t *spec, struct strbuf *out, struct err *err)
{
	const char *name = json_string_value(json_object_get(spec, "name"));
	const char *cwd = json_string_value(json_object_get(spec, "cwd"));
	const char *log = json_string_value(json_object_get(spec, "log"));
	const char *marker = json_string_value(json_object_get(spec, "marker"));

	if (!json_string_value(json_object_get(spec, "sh")) &&
	    json_array_size(json_object_get(spec, "argv")) == 0)
		return err_usage(err, "the job has no command to put into an sbatch script");
	strbuf_addstr(out, "#!/bin/bash\n");
	if ((name && directive(out, "job-name", name, err) < 0) ||
	    (cwd && directive(out, "chdir", cwd, err) < 0))
		return -1;
	if (log) {
		/* Every attempt appends to the one log, as local jobs do. */
		if (directive(out, "output", log, err) < 0)
			return -1;
		strbuf_addstr(out, "#SBATCH --open-mode=append\n");
	}
	if (resource_directives(out, spec, err) < 0)
		return -1;
	if (marker)
		add_marker(out, marker);
	if (spec_int(spec, "nodes") > 0 || spec_int(spec, "ntasks_per_node") > 0) {
		command_distributed(out, spec);
		return 0;
	}
	strbuf_addstr(out, "exec ");
	command_words(out, spec);
	strbuf_addch(out, '\n');
	return 0;
}
