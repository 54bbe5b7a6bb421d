/*
 * reaper: run the benchmark harness as a child subreaper. Every daemon the
 * peers start (tsp, supervisord, pm2, tmux, trainctl) double-forks away
 * from the harness; as a subreaper we stay their ancestor, reap whatever
 * they leave (on a machine whose PID 1 never reaps, orphans would stay
 * zombies and skew later /proc scans), and when the harness ends — even
 * killed — SIGKILL every process still below us, until none is left.
 *
 *   reaper COMMAND [ARG...]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t harness;

static void forward(int sig)
{
	if (harness > 0)
		kill(harness, sig);
}

/* SIGKILL our children; orphans below them re-parent to us for the next round. */
static int kill_children(void)
{
	char path[300], buf[512];
	DIR *dir = opendir("/proc");
	struct dirent *de;
	int found = 0;

	while (dir && (de = readdir(dir)) != NULL) {
		FILE *fp;
		char *p;
		int ppid;

		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || !(fp = fopen(path, "r")))
			continue;
		p = fgets(buf, sizeof(buf), fp) ? strrchr(buf, ')') : NULL;
		fclose(fp);
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid()) {
			kill(atoi(de->d_name), SIGKILL);
			found = 1;
		}
	}
	if (dir)
		closedir(dir);
	return found;
}

int main(int argc, char **argv)
{
	int status = 0, code = 1;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: reaper COMMAND [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		perror("reaper: PR_SET_CHILD_SUBREAPER");
	harness = fork();
	if (harness == 0) {
		execvp(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	/* Ctrl-C reaches the harness too (same process group); it cleans up and exits. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, forward);
	signal(SIGHUP, forward);
	for (;;) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		if (pid == harness) {
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			harness = 0;
			while (kill_children())
				while (waitpid(-1, NULL, WNOHANG) > 0)
					;
		}
	}
	return code;
}
