/*
 * systemd: `trainctl systemd-unit` prints a service unit for the daemon, and
 * export_systemd writes a job as a service unit of its own. Values are
 * quoted the way systemd.syntax(7) and systemd.service(5) read them: inside
 * double quotes with C escapes, '%' doubled (specifiers) and, in ExecStart,
 * '$' doubled (variable expansion).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/export.h"
#include "lib/parse.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

enum systemd_quote { QUOTE_PLAIN, QUOTE_EXEC };

/* s in double quotes, escaped for a unit file. */
static void systemd_quote(struct strbuf *sb, const char *s, enum systemd_quote how)
{
	strbuf_addch(sb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\' || *p == '"')
			strbuf_addf(sb, "\\%c", *p);
		else if (*p == '\n')
			strbuf_addstr(sb, "\\n");
		else if (*p == '\t')
			strbuf_addstr(sb, "\\t");
		else if (*p < ' ' || *p == 0x7f)
			strbuf_addf(sb, "\\x%02x", *p);
		else if (*p == '%')
			strbuf_addstr(sb, "%%");
		else if (*p == '$' && how == QUOTE_EXEC)
			strbuf_addstr(sb, "$$");
		else
			strbuf_addch(sb, (char)*p);
	}
	strbuf_addch(sb, '"');
}

/* Text outside quotes (a path, a description): only specifiers and line breaks matter. */
static void systemd_plain(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			strbuf_addstr(sb, "%%");
		else
			strbuf_addch(sb, *s == '\n' ? ' ' : *s);
	}
}

/* The absolute path of our own executable. */
static int self_path(char *buf, size_t size, struct err *err)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n < 0)
		return err_errno(err, "cannot find our own executable");
	buf[n] = '\0';
	return 0;
}

/* ---- the daemon's unit ------------------------------------------------------ */

enum { OPT_USER = 256, OPT_SYSTEM };

static int systemd_unit_main(struct cmd_ctx *ctx)
{
	int system = opt_count(ctx, OPT_SYSTEM) > 0;
	struct strbuf sb = STRBUF_INIT;
	char exe[PATH_MAX];

	if (system && opt_count(ctx, OPT_USER))
		return err_usage(&ctx->err, "systemd-unit: give --user or --system, not both");
	if (self_path(exe, sizeof(exe), &ctx->err) < 0)
		return -1;
	strbuf_addf(&sb, "# trainctl daemon as a systemd %s service; see 'man trainctl'.\n",
		    system ? "system" : "user");
	strbuf_addf(&sb, "# Install: trainctl systemd-unit %s > %s\n", system ? "--system" : "--user",
		    system ? "/etc/systemd/system/trainctl.service"
			   : "~/.config/systemd/user/trainctl.service");
	strbuf_addf(&sb, "#          systemctl %sdaemon-reload && systemctl %senable --now trainctl\n",
		    system ? "" : "--user ", system ? "" : "--user ");
	strbuf_addstr(&sb, "[Unit]\n"
			   "Description=trainctl daemon (training job supervisor)\n"
			   "Documentation=man:trainctl(1)\n"
			   "After=network.target\n\n"
			   "[Service]\n"
			   "Type=notify\n"
			   "NotifyAccess=main\n");
	strbuf_addstr(&sb, "ExecStart=");
	systemd_quote(&sb, exe, QUOTE_EXEC);
	strbuf_addstr(&sb, " daemon --foreground\n");
	if (system)
		strbuf_addstr(&sb, "Environment=TRAINCTL_HOME=/var/lib/trainctl\n"
				   "Environment=TRAINCTL_CONFIG=/etc/trainctl/config\n"
				   "StateDirectory=trainctl\n"
				   "StateDirectoryMode=0700\n");
	else
		strbuf_addstr(&sb, "Environment=TRAINCTL_HOME=%h/.local/state/trainctl\n");
	strbuf_addstr(&sb, "# Stopping or restarting the daemon must never stop the jobs.\n"
			   "KillMode=process\n"
			   "# Per-job cgroups (--cpu-limit, --mem-limit) are made below ours.\n"
			   "Delegate=yes\n"
			   "Restart=on-failure\n"
			   "RestartSec=2s\n"
			   "WatchdogSec=30s\n"
			   "TimeoutStopSec=30s\n\n"
			   "[Install]\n");
	strbuf_addf(&sb, "WantedBy=%s\n", system ? "multi-user.target" : "default.target");
	fputs(sb.buf, stdout);
	strbuf_release(&sb);
	return 0;
}

static const struct opt_spec systemd_unit_opts[] = {
	{ OPT_USER, "user", OPT_FLAG, NULL, "a unit for your user's systemd (the default)" },
	{ OPT_SYSTEM, "system", OPT_FLAG, NULL, "a unit for the system (state in /var/lib/trainctl)" },
	{ 0 },
};

const struct cmd_entry cmd_systemd_unit = {
	.name = "systemd-unit",
	.brief = "print a systemd unit that runs the daemon",
	.synopsis = "",
	.summary = "Print a systemd service unit that runs the daemon (Type=notify, with the\n"
		   "watchdog). Stopping the unit never stops jobs (KillMode=process), and it\n"
		   "delegates cgroups so that per-job limits work.",
	.opts = systemd_unit_opts,
	.max_args = 0,
	.fn = systemd_unit_main,
	.details = "Install for your user:\n"
		   "  mkdir -p ~/.config/systemd/user\n"
		   "  trainctl systemd-unit --user > ~/.config/systemd/user/trainctl.service\n"
		   "  systemctl --user daemon-reload && systemctl --user enable --now trainctl\n"
		   "  loginctl enable-linger $USER     (keep it running after you log out)\n"
		   "The --system unit keeps its state in /var/lib/trainctl and reads\n"
		   "/etc/trainctl/config; commands then need TRAINCTL_HOME=/var/lib/trainctl.",
};

/* ---- a job as a unit ---------------------------------------------------------- */

/*
 * Entries a service should not get: variables of a login session, and what
 * is no variable name at all (bash's exported functions, BASH_FUNC_f%%).
 */
static int env_unfit(const char *entry)
{
	static const char *const names[] = { "TERM", "SHLVL", "PWD", "OLDPWD", "_", "LS_COLORS",
		"TMUX", "TMUX_PANE", "STY", "WINDOW", "MAIL", "COLUMNS", "LINES", "NOTIFY_SOCKET",
		"JOURNAL_STREAM", "INVOCATION_ID", "MANAGERPID", "SSH_AUTH_SOCK", "SSH_CLIENT",
		"SSH_CONNECTION", "SSH_TTY", "XDG_SESSION_ID", "XDG_SESSION_TYPE",
		"XDG_SESSION_CLASS", "TRAINCTL_HOME", NULL };
	size_t len = strcspn(entry, "=");

	if (len == 0 || strspn(entry, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != len ||
	    (entry[0] >= '0' && entry[0] <= '9'))
		return 1;
	for (const char *const *n = names; *n; n++) {
		if (strlen(*n) == len && !strncmp(entry, *n, len))
			return 1;
	}
	return 0;
}

/* The job's PATH from its environment. */
static const char *env_path(const json_t *env)
{
	size_t i;
	json_t *v;

	json_array_foreach(env, i, v) {
		const char *e = json_string_value(v);
		if (e && !strncmp(e, "PATH=", 5))
			return e + 5;
	}
	return "/usr/local/bin:/usr/bin:/bin";
}

/* systemd wants the program as an absolute path: find it the way the job did. */
static char *resolve_program(const char *prog, const char *cwd, const json_t *env, struct err *err)
{
	const char *path = env_path(env);

	if (prog[0] == '/')
		return xstrdup(prog);
	if (strchr(prog, '/'))
		return xasprintf("%s/%s", cwd, prog);
	while (*path) {
		size_t len = strcspn(path, ":");
		char *dir = len ? xstrndup(path, len) : xstrdup(cwd);
		char *full = dir[0] == '/' ? xasprintf("%s/%s", dir, prog)
					   : xasprintf("%s/%s/%s", cwd, dir, prog);
		free(dir);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
		path += len + (path[len] == ':');
	}
	err_set(err, "export: cannot find '%s' in the job's PATH (systemd needs an absolute path)", prog);
	return NULL;
}

static int add_exec_start(struct strbuf *sb, const json_t *spec, struct err *err)
{
	const char *sh = json_string_value(json_object_get(spec, "sh"));
	const char *cwd = json_string_value(json_object_get(spec, "cwd"));
	json_t *argv = json_object_get(spec, "argv");
	char *prog;
	size_t i;
	json_t *v;

	strbuf_addstr(sb, "ExecStart=");
	if (sh) {
		strbuf_addstr(sb, "/bin/sh -c ");
		systemd_quote(sb, sh, QUOTE_EXEC);
		strbuf_addch(sb, '\n');
		return 0;
	}
	prog = resolve_program(json_string_value(json_array_get(argv, 0)), cwd ? cwd : "/",
			       json_object_get(spec, "env"), err);
	if (!prog)
		return -1;
	systemd_quote(sb, prog, QUOTE_EXEC);
	free(prog);
	json_array_foreach(argv, i, v) {
		if (i == 0)
			continue;
		strbuf_addch(sb, ' ');
		systemd_quote(sb, json_string_value(v), QUOTE_EXEC);
	}
	strbuf_addch(sb, '\n');
	return 0;
}

/* A duration in ms as a systemd time span. */
static void add_timespan(struct strbuf *sb, const char *key, int64_t ms)
{
	if (ms % 1000 == 0)
		strbuf_addf(sb, "%s=%llds\n", key, (long long)(ms / 1000));
	else
		strbuf_addf(sb, "%s=%lldms\n", key, (long long)ms);
}

/* What the job asked of trainctl that a systemd unit cannot do. */
static void add_not_carried(struct strbuf *sb, const json_t *spec)
{
	static const struct {
		const char *key, *what;
	} features[] = {
		{ "checkpoint", "--checkpoint" },	  { "resume_args", "--resume-args" },
		{ "hang_timeout_ms", "--hang-timeout" }, { "progress_regex", "--progress-regex" },
		{ "on_exit", "--on-exit (use OnSuccess=/OnFailure= units)" },
	};
	struct strbuf list = STRBUF_INIT;

	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (json_object_get(spec, features[i].key))
			strbuf_addf(&list, "%s%s", list.len ? ", " : "", features[i].what);
	}
	if (json_is_true(json_object_get(spec, "pty")))
		strbuf_addf(&list, "%sthe terminal (output goes to the journal)", list.len ? ", " : "");
	if (list.len)
		strbuf_addf(sb, "# Not carried over (trainctl only): %s.\n", list.buf);
	strbuf_release(&list);
}

static void add_restart(struct strbuf *sb, const json_t *spec)
{
	const char *policy = json_string_value(json_object_get(spec, "restart"));

	if (!policy || !strcmp(policy, "no"))
		return;
	strbuf_addf(sb, "Restart=%s\nRestartSec=1s\n", policy);
}

static void add_environment(struct strbuf *sb, const json_t *env)
{
	size_t i;
	json_t *v;

	json_array_foreach(env, i, v) {
		const char *e = json_string_value(v);
		if (!e || !strchr(e, '=') || env_unfit(e))
			continue;
		strbuf_addstr(sb, "Environment=");
		systemd_quote(sb, e, QUOTE_PLAIN);
		strbuf_addch(sb, '\n');
	}
}

static void add_limits(struct strbuf *sb, const json_t *spec)
{
	json_t *mem = json_object_get(spec, "mem_limit"), *cpu = json_object_get(spec, "cpu_limit");
	json_t *nice = json_object_get(spec, "nice"), *limit = json_object_get(spec, "time_limit_ms");

	if (json_is_integer(limit))
		add_timespan(sb, "RuntimeMaxSec", json_integer_value(limit));
	if (json_is_integer(mem))
		strbuf_addf(sb, "MemoryMax=%lld\n", (long long)json_integer_value(mem));
	if (json_is_number(cpu))
		strbuf_addf(sb, "CPUQuota=%.0f%%\n", json_number_value(cpu) * 100);
	if (json_is_integer(nice))
		strbuf_addf(sb, "Nice=%lld\n", (long long)json_integer_value(nice));
}

int export_systemd(const json_t *job, struct strbuf *sb, struct err *err)
{
	const json_t *spec = json_object_get(job, "spec");
	const char *name = json_string_value(json_object_get(job, "name"));
	const char *cwd = json_string_value(json_object_get(spec, "cwd"));
	json_int_t id = json_integer_value(json_object_get(job, "id"));
	json_int_t max = json_integer_value(json_object_get(spec, "max_restarts"));
	const char *policy = json_string_value(json_object_get(spec, "restart"));

	if (!json_is_object(spec))
		return err_set(err, "export: the daemon did not send the job's settings");
	strbuf_addf(sb, "# trainctl job %lld%s%s as a systemd service (trainctl export).\n",
		    (long long)id, name ? " " : "", name ? name : "");
	add_not_carried(sb, spec);
	strbuf_addstr(sb, "[Unit]\nDescription=");
	systemd_plain(sb, name ? name : "trainctl job");
	strbuf_addf(sb, " (trainctl job %lld)\n", (long long)id);
	if (policy && strcmp(policy, "no"))
		strbuf_addf(sb, "StartLimitIntervalSec=infinity\nStartLimitBurst=%lld\n",
			    (long long)max + 1);
	strbuf_addstr(sb, "\n[Service]\nType=exec\nWorkingDirectory=");
	systemd_plain(sb, cwd ? cwd : "/");
	strbuf_addch(sb, '\n');
	if (add_exec_start(sb, spec, err) < 0)
		return -1;
	add_environment(sb, json_object_get(spec, "env"));
	strbuf_addf(sb, "KillSignal=%s\n",
		    signal_name((int)json_integer_value(json_object_get(spec, "stop_signal"))));
	add_timespan(sb, "TimeoutStopSec", json_integer_value(json_object_get(spec, "stop_timeout_ms")));
	add_restart(sb, spec);
	add_limits(sb, spec);
	strbuf_addstr(sb, "\n[Install]\nWantedBy=default.target\n");
	return 0;
}
