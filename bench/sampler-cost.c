/*
 * sampler-cost: the cost of trainctl's own sampling pass (sampler_sample()
 * from src/lib/sampler.c, the code the daemon runs every tick) over the
 * trees below the given roots — the shims of running jobs. Prints, per
 * pass, its CPU time divided by the processes in /proc (each of which the
 * pass reads), and the processes it found in the trees.
 *
 *   sampler-cost PASSES ROOT_PID...
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lib/sampler.h"

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	long passes = argc > 2 ? strtol(argv[1], NULL, 10) : 0;
	size_t n = argc > 2 ? (size_t)(argc - 2) : 0;
	struct sampler_job *roots = calloc(n ? n : 1, sizeof(*roots));
	struct sample *out = calloc(n ? n : 1, sizeof(*out));
	struct sampler *s = sampler_new();

	if (passes < 1 || !roots || !out) {
		fprintf(stderr, "usage: sampler-cost PASSES ROOT_PID...\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		roots[i].root = (pid_t)strtol(argv[2 + i], NULL, 10); /* no meter: the /proc pass */
	for (long p = 0; p < passes; p++) {
		struct timespec now;
		long in_trees = 0;
		size_t visited;
		double t0, us;

		clock_gettime(CLOCK_MONOTONIC, &now);
		t0 = cpu_us();
		visited = sampler_sample(s, roots, n, SAMPLE_PROCS,
					 (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, out);
		us = cpu_us() - t0;
		for (size_t i = 0; i < n; i++)
			in_trees += out[i].procs;
		printf("%.3f %zu %ld\n", us / (double)(visited ? visited : 1), visited, in_trees);
	}
	sampler_free(s);
	free(roots);
	free(out);
	return 0;
}
