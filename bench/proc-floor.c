/*
 * proc-floor: the floor for one sampling pass. Each pass reads the
 * directory /proc and, for every process in it, opens, reads and closes
 * /proc/PID/stat — the same processes a one-pass sampler visits, with no
 * parsing and no bookkeeping. Prints, per pass, the CPU time it took
 * divided by the processes read, in microseconds.
 *
 *   proc-floor PASSES
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static long floor_pass(void)
{
	char path[300], buf[1024];
	DIR *dir = opendir("/proc");
	struct dirent *de;
	long read_ok = 0;

	while (dir && (de = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (read(fd, buf, sizeof(buf)) > 0)
			read_ok++;
		close(fd);
	}
	if (dir)
		closedir(dir);
	return read_ok;
}

int main(int argc, char **argv)
{
	long passes = argc == 2 ? strtol(argv[1], NULL, 10) : 0;

	if (passes < 1) {
		fprintf(stderr, "usage: proc-floor PASSES\n");
		return 2;
	}
	for (long p = 0; p < passes; p++) {
		double t0 = cpu_us();
		long n = floor_pass();

		printf("%.3f %ld\n", (cpu_us() - t0) / (double)(n ? n : 1), n);
	}
	return 0;
}
