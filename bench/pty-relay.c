/*
 * pty-relay: the minimal PTY relay, the floor for a supervisor that gives
 * its job a terminal. It runs COMMAND on a new pseudo-terminal and copies
 * everything from the master to FILE with read + write of 64 KiB, until
 * the terminal hangs up, then waits for the command.
 *
 *   pty-relay FILE COMMAND [ARG...]
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char buf[65536];
	int master, out, status;
	pid_t pid;
	ssize_t n;

	if (argc < 3) {
		fprintf(stderr, "usage: pty-relay FILE COMMAND [ARG...]\n");
		return 2;
	}
	out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0 || (pid = forkpty(&master, NULL, NULL, NULL)) < 0) {
		perror("pty-relay");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	while ((n = read(master, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) /* EIO: the slave side is closed */
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				return 1;
			off += w;
		}
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
