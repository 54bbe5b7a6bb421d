/* Finding a job's program; see program.h. */
#include "lib/program.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xmalloc.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* 0 when name (relative ones from cwd) is a regular file we may execute; else -1 with errno. */
static int executable(const char *name, const char *cwd)
{
	char *full = name[0] != '/' && cwd ? xasprintf("%s/%s", cwd, name) : NULL;
	const char *at = full ? full : name;
	struct stat st;
	int ret = -1;

	if (stat(at, &st) < 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
		goto out;
	}
	ret = access(at, X_OK);
out:
	free(full);
	return ret;
}

char *program_find(const char *argv0, const char *path, const char *cwd, struct err *err)
{
	const char *p;

	if (!*argv0) {
		err_usage(err, "empty command name");
		return NULL;
	}
	if (strchr(argv0, '/')) {
		if (executable(argv0, cwd) < 0) {
			err_errno(err, "%s", argv0);
			return NULL;
		}
		return xstrdup(argv0);
	}
	for (p = path ? path : DEFAULT_PATH; p; ) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		/* An empty entry is the current directory, as for execvp. */
		char *candidate = len ? xasprintf("%.*s/%s", (int)len, p, argv0) : xstrdup(argv0);

		if (executable(candidate, cwd) == 0)
			return candidate;
		free(candidate);
		p = colon ? colon + 1 : NULL;
	}
	err_set(err, "%s: command not found", argv0);
	return NULL;
}
