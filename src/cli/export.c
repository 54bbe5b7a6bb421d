/* trainctl export JOB --format F [-o FILE]: a table of formats; see export.h. */
#include "cli/export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "lib/proto.h"
#include "lib/slurm_script.h"
#include "lib/sock.h"

static const struct export_format {
	const char *name;
	export_fn write;
} export_formats[] = {
	{ "systemd", export_systemd },
	{ "slurm", export_slurm },
};

int export_slurm(const json_t *job, struct strbuf *out, struct err *err)
{
	json_t *spec = json_copy(json_object_get(job, "spec"));
	int ret;

	if (!spec)
		return err_set(err, "the daemon sent no settings for the job");
	if (json_is_string(json_object_get(job, "log")))
		json_object_set(spec, "log", json_object_get(job, "log"));
	ret = slurm_script_build(spec, out, err);
	json_decref(spec);
	return ret;
}

#define NFORMATS (sizeof(export_formats) / sizeof(export_formats[0]))

static const struct export_format *export_find(const char *name, struct err *err)
{
	char names[128] = "";

	for (size_t i = 0; i < NFORMATS; i++) {
		if (!strcmp(export_formats[i].name, name))
			return &export_formats[i];
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
			 export_formats[i].name);
	}
	err_usage(err, "export: unknown format '%s' (expected one of: %s)", name, names);
	return NULL;
}

static int write_output(const char *path, const struct strbuf *text, struct err *err)
{
	int fd;

	if (!path || !strcmp(path, "-")) {
		fputs(strbuf_str(text), stdout);
		return fflush(stdout) == 0 ? 0 : err_errno(err, "cannot write the output");
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_errno(err, "cannot create %s", path);
	if (write_all(fd, text->buf, text->len) < 0 || close(fd) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return err_errno(err, "cannot write %s", path);
	}
	return 0;
}

static int export_main(struct cmd_ctx *ctx)
{
	const char *name = opt_value(ctx, 'f');
	const struct export_format *format;
	struct strbuf text = STRBUF_INIT;
	json_t *req, *reply;
	int ret;

	if (!name)
		return err_usage(&ctx->err, "export: missing --format (expected --format systemd or --format slurm)");
	if (!(format = export_find(name, &ctx->err)))
		return -1;
	req = proto_request("show");
	json_object_set_new(req, "jobs", cmd_jobs_array(ctx));
	json_object_set_new(req, "spec", json_true());
	reply = client_call(&ctx->paths, req, &ctx->err);
	if (!reply)
		return -1;
	ret = format->write(json_object_get(reply, "job"), &text, &ctx->err);
	if (ret == 0)
		ret = write_output(opt_value(ctx, 'o'), &text, &ctx->err);
	strbuf_release(&text);
	json_decref(reply);
	return ret;
}

static const struct opt_spec export_opts[] = {
	{ 'f', "format", OPT_VALUE, "FORMAT", "systemd (a .service unit) or slurm (an sbatch script)" },
	{ 'o', "output", OPT_VALUE, "FILE", "write to FILE instead of standard output" },
	{ 0 },
};

const struct cmd_entry cmd_export = {
	.name = "export",
	.brief = "write a job as a systemd service or an sbatch script",
	.synopsis = "JOB",
	.summary = "Write a job as a file for another system: with --format systemd, a service\n"
		   "unit that runs the same command, in the same directory, with the same\n"
		   "environment, stop signal and grace period, restart policy and limits;\n"
		   "with --format slurm, the sbatch script run --on slurm would submit.",
	.opts = export_opts,
	.min_args = 1,
	.max_args = 1,
	.fn = export_main,
	.details = "Example:\n"
		   "  trainctl export exp --format systemd -o ~/.config/systemd/user/exp.service\n"
		   "  systemctl --user daemon-reload && systemctl --user start exp\n"
		   "  trainctl export exp --format slurm -o exp.sbatch && sbatch exp.sbatch\n\n"
		   "What systemd has no equivalent for (checkpoints, hang detection, progress,\n"
		   "the terminal) is named in a comment at the top of the unit.",
};
