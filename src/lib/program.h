/*
 * Finding the program a job runs, as execvp would with the job's own PATH
 * and directory: the daemon checks it when `run` is asked (so that a command
 * that cannot be found fails at once), the shim resolves it before exec.
 */
#ifndef TRAINCTL_PROGRAM_H
#define TRAINCTL_PROGRAM_H

#include "lib/err.h"

/*
 * The program for argv0: argv0 itself when it contains a '/', else the first
 * executable regular file of that name in path (a colon-separated list; NULL
 * means the default /usr/local/bin:/usr/bin:/bin). Relative names are looked
 * up from cwd (NULL: the current directory) and returned relative, for an
 * exec after chdir(cwd). NULL with err ("NAME: command not found", or why
 * NAME cannot be executed) when there is none.
 */
char *program_find(const char *argv0, const char *path, const char *cwd, struct err *err);

#endif
