/*
 * timeit: run a command N times, one after the other, and print how long
 * each run took in milliseconds, one line per run (fork, exec, wait: the
 * cost a user waits for). "{i}" in any argument becomes the run's number
 * (1..N), for commands that need a fresh name each time. The command's
 * output goes to /dev/null; a run that fails stops the series with its
 * status, so that a broken peer never looks fast.
 *
 *   timeit N COMMAND [ARG...]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* argv with every "{i}" replaced by i; the strings are leaked (one short series). */
static char **expand(char **argv, int argc, long i)
{
	char **out = calloc((size_t)argc + 1, sizeof(*out));

	for (int k = 0; k < argc && out; k++) {
		const char *at = strstr(argv[k], "{i}");
		size_t len = strlen(argv[k]) + 24;

		out[k] = argv[k];
		if (!at || !(out[k] = malloc(len)))
			continue;
		snprintf(out[k], len, "%.*s%ld%s", (int)(at - argv[k]), argv[k], i, at + 3);
	}
	return out;
}

int main(int argc, char **argv)
{
	long runs = argc > 2 ? strtol(argv[1], NULL, 10) : 0;
	int status;

	if (runs < 1) {
		fprintf(stderr, "usage: timeit N COMMAND [ARG...]\n");
		return 2;
	}
	for (long i = 1; i <= runs; i++) {
		char **args = expand(argv + 2, argc - 2, i);
		double t0 = now_ms();
		pid_t pid = fork();

		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execvp(args[0], args);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0) {
			fprintf(stderr, "timeit: %s\n", strerror(errno));
			return 1;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "timeit: run %ld of '%s' failed (status %#x)\n", i, argv[2], status);
			return 1;
		}
		printf("%.3f\n", now_ms() - t0);
		fflush(stdout);
	}
	return 0;
}
