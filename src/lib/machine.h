/*
 * Machine totals: CPU use (all CPUs and each), memory, swap and load, from
 * /proc/stat, /proc/meminfo and /proc/loadavg. The files are kept open and
 * read again with pread each tick. CPU use is the busy share of the time
 * between two reads, so the first read has none (-1).
 */
#ifndef TRAINCTL_MACHINE_H
#define TRAINCTL_MACHINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MACHINE_MAX_CPUS 1024

struct machine_sample {
	int64_t time_ms;
	int ncpus;
	double cpu_percent;        /* busy share of all CPUs, 0-100; -1 on the first read */
	double *cpus_percent;      /* ncpus of them, each 0-100 (or -1) */
	int64_t mem_total, mem_available;
	int64_t swap_total, swap_free;
	double load[3];
};

/* One CPU's counters from a "cpu..." line of /proc/stat, in clock ticks. */
struct cpu_ticks {
	uint64_t busy, total;
};

struct machine;

struct machine *machine_new(void);
void machine_free(struct machine *m);
/* Read the machine now into out (out->cpus_percent is owned by m, valid until the next read). */
int machine_read(struct machine *m, int64_t now_ms, struct machine_sample *out);

/* The pure parsers. Returns how many CPUs /proc/stat lists (all[0] is the total line). */
int machine_parse_stat(const char *text, struct cpu_ticks *all, int max);
int machine_parse_meminfo(const char *text, struct machine_sample *out);
int machine_parse_loadavg(const char *text, double load[3]);

json_t *machine_sample_json(const struct machine_sample *s);

#endif
