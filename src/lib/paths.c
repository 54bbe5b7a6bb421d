/* The layout of $TRAINCTL_HOME; see paths.h. */
#include "lib/paths.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/strbuf.h"
#include "lib/xmalloc.h"

/* Make a relative $TRAINCTL_HOME absolute, so the daemon and shims agree on it. */
static char *absolute_path(const char *path)
{
	char cwd[4096];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return xstrdup(path);
	return xasprintf("%s/%s", cwd, path);
}

static char *default_home(struct err *err)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (state && state[0] == '/')
		return xasprintf("%s/trainctl", state);
	if (home && home[0])
		return xasprintf("%s/.local/state/trainctl", home);
	err_set(err, "cannot find a state directory: set TRAINCTL_HOME or HOME");
	return NULL;
}

int paths_init(struct paths *paths, struct err *err)
{
	const char *env = getenv("TRAINCTL_HOME");

	memset(paths, 0, sizeof(*paths));
	if (env && env[0]) {
		paths->home = absolute_path(env);
		/* The daemon and shims run elsewhere: hand them the absolute path. */
		if (env[0] != '/')
			setenv("TRAINCTL_HOME", paths->home, 1);
	}
	else if (!(paths->home = default_home(err)))
		return -1;
	paths->db = xasprintf("%s/trainctl.db", paths->home);
	paths->logs = xasprintf("%s/logs", paths->home);
	paths->run = xasprintf("%s/run", paths->home);
	paths->jobs = xasprintf("%s/jobs", paths->home);
	paths->daemon_sock = xasprintf("%s/daemon.sock", paths->run);
	paths->daemon_lock = xasprintf("%s/daemon.lock", paths->run);
	paths->daemon_log = xasprintf("%s/daemon.log", paths->home);
	return 0;
}

void paths_release(struct paths *paths)
{
	free(paths->home);
	free(paths->db);
	free(paths->logs);
	free(paths->run);
	free(paths->jobs);
	free(paths->daemon_sock);
	free(paths->daemon_lock);
	free(paths->daemon_log);
	memset(paths, 0, sizeof(*paths));
}

int mkdir_p(const char *path, unsigned mode, struct err *err)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = path;
	int ret = 0;

	while (ret == 0 && (p = strchr(p + 1, '/')) != NULL) {
		strbuf_reset(&sb);
		strbuf_add(&sb, path, (size_t)(p - path));
		if (mkdir(sb.buf, 0755) < 0 && errno != EEXIST)
			ret = err_errno(err, "cannot create directory %s", sb.buf);
	}
	if (ret == 0 && mkdir(path, mode) < 0 && errno != EEXIST)
		ret = err_errno(err, "cannot create directory %s", path);
	strbuf_release(&sb);
	return ret;
}

/* One entry inside the home: absent, or ours and not a symbolic link. */
static int check_entry(const char *path, struct err *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISLNK(st.st_mode))
		return err_set(err, "%s is a symbolic link: refusing to follow it inside the state "
				    "directory (remove it; trainctl creates what it needs)", path);
	if (st.st_uid != geteuid())
		return err_set(err, "%s belongs to uid %d, not to you (uid %d): refusing to use it",
			       path, (int)st.st_uid, (int)geteuid());
	return 0;
}

int paths_check(const struct paths *paths, struct err *err)
{
	const char *entries[] = { paths->db, paths->logs, paths->run, paths->jobs,
				  paths->daemon_sock, paths->daemon_lock, paths->daemon_log };
	struct stat st;

	if (stat(paths->home, &st) < 0)
		return 0; /* not made yet */
	if (st.st_uid != geteuid())
		return err_set(err, "state directory %s belongs to uid %d, not to you (uid %d): "
				    "refusing to use it (set TRAINCTL_HOME to a directory of your own)",
			       paths->home, (int)st.st_uid, (int)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return err_set(err, "state directory %s is writable by other users (mode %04o): "
				    "refusing to use it (run: chmod go-w %s)",
			       paths->home, (unsigned)(st.st_mode & 07777), paths->home);
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		if (check_entry(entries[i], err) < 0)
			return -1;
	}
	return 0;
}

int paths_ensure(const struct paths *paths, struct err *err)
{
	if (paths_check(paths, err) < 0)
		return -1;
	if (mkdir_p(paths->home, 0700, err) < 0 || mkdir_p(paths->logs, 0700, err) < 0 ||
	    mkdir_p(paths->jobs, 0700, err) < 0 || mkdir_p(paths->run, 0700, err) < 0)
		return -1;
	if (chmod(paths->run, 0700) < 0)
		return err_errno(err, "cannot set permissions of %s", paths->run);
	if (access(paths->home, W_OK) < 0)
		return err_errno(err, "state directory %s is not writable", paths->home);
	return paths_check(paths, err);
}

char *paths_job_log(const struct paths *paths, int64_t id)
{
	return xasprintf("%s/%lld.log", paths->logs, (long long)id);
}

char *paths_job_sock(const struct paths *paths, int64_t id)
{
	return xasprintf("%s/job-%lld.sock", paths->run, (long long)id);
}

char *paths_job_exit(const struct paths *paths, int64_t id)
{
	return xasprintf("%s/%lld.exit", paths->jobs, (long long)id);
}

char *paths_job_shim(const struct paths *paths, int64_t id)
{
	return xasprintf("%s/%lld.shim", paths->jobs, (long long)id);
}

char *paths_job_status(const struct paths *paths, int64_t id)
{
	return xasprintf("%s/%lld.status", paths->jobs, (long long)id);
}

char *paths_job_index(const struct paths *paths, int64_t id)
{
	return xasprintf("%s/%lld.idx", paths->logs, (long long)id);
}
