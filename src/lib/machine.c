/* Machine totals; see machine.h. */
#include "lib/machine.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xmalloc.h"

struct machine {
	int stat_fd, meminfo_fd, loadavg_fd;
	char *buf;
	size_t size;
	struct cpu_ticks *prev, *now; /* [0] the total, then one per CPU */
	int ncpus;
	double *cpus_percent;
};

struct machine *machine_new(void)
{
	struct machine *m = xcalloc(1, sizeof(*m));

	m->stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	m->meminfo_fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	m->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	m->size = 64 * 1024;
	m->buf = xmalloc(m->size);
	m->prev = xcalloc(MACHINE_MAX_CPUS + 1, sizeof(*m->prev));
	m->now = xcalloc(MACHINE_MAX_CPUS + 1, sizeof(*m->now));
	m->cpus_percent = xcalloc(MACHINE_MAX_CPUS, sizeof(*m->cpus_percent));
	return m;
}

void machine_free(struct machine *m)
{
	if (!m)
		return;
	for (int *fd = &m->stat_fd; fd <= &m->loadavg_fd; fd++) {
		if (*fd >= 0)
			close(*fd);
	}
	free(m->buf);
	free(m->prev);
	free(m->now);
	free(m->cpus_percent);
	free(m);
}

/* The whole file again from its start, NUL-terminated in m->buf; NULL on error. */
static const char *reread(struct machine *m, int fd)
{
	ssize_t n = fd >= 0 ? pread(fd, m->buf, m->size - 1, 0) : -1;

	if (n <= 0)
		return NULL;
	m->buf[n] = '\0';
	return m->buf;
}

/* "cpu  user nice system idle iowait irq softirq steal ..." into busy and total ticks. */
static int parse_cpu_line(const char *line, struct cpu_ticks *t)
{
	unsigned long long v[8] = { 0 };
	const char *p = line + strcspn(line, " ");
	int n = sscanf(p, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		       &v[4], &v[5], &v[6], &v[7]);

	if (n < 4)
		return -1;
	t->total = 0;
	for (int i = 0; i < 8; i++)
		t->total += v[i];
	t->busy = t->total - v[3] - v[4]; /* idle and iowait are not busy */
	return 0;
}

int machine_parse_stat(const char *text, struct cpu_ticks *all, int max)
{
	int count = 0;

	for (const char *line = text; *line; line = strchrnul(line, '\n'), line += *line == '\n') {
		if (strncmp(line, "cpu", 3) != 0)
			continue;
		if (count > max || parse_cpu_line(line, &all[count]) < 0)
			break;
		count++;
	}
	return count - 1;
}

static int64_t meminfo_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtoll(p + strlen(key), NULL, 10) * 1024 : -1;
}

int machine_parse_meminfo(const char *text, struct machine_sample *out)
{
	out->mem_total = meminfo_kb(text, "MemTotal:");
	out->mem_available = meminfo_kb(text, "MemAvailable:");
	out->swap_total = meminfo_kb(text, "SwapTotal:");
	out->swap_free = meminfo_kb(text, "SwapFree:");
	return out->mem_total < 0 || out->mem_available < 0 ? -1 : 0;
}

int machine_parse_loadavg(const char *text, double load[3])
{
	return sscanf(text, "%lf %lf %lf", &load[0], &load[1], &load[2]) == 3 ? 0 : -1;
}

static double busy_percent(const struct cpu_ticks *prev, const struct cpu_ticks *now)
{
	uint64_t total = now->total - prev->total;

	if (!prev->total || now->total <= prev->total || now->busy < prev->busy)
		return -1;
	return (double)(now->busy - prev->busy) * 100.0 / (double)total;
}

int machine_read(struct machine *m, int64_t now_ms, struct machine_sample *out)
{
	const char *text;
	struct cpu_ticks *swap;
	int ncpus;

	memset(out, 0, sizeof(*out));
	out->time_ms = now_ms;
	if (!(text = reread(m, m->stat_fd)) ||
	    (ncpus = machine_parse_stat(text, m->now, MACHINE_MAX_CPUS)) < 1)
		return -1;
	if (ncpus != m->ncpus) /* CPUs came or went: start the deltas again */
		memset(m->prev, 0, (MACHINE_MAX_CPUS + 1) * sizeof(*m->prev));
	m->ncpus = ncpus;
	out->ncpus = ncpus;
	out->cpu_percent = busy_percent(&m->prev[0], &m->now[0]);
	for (int i = 0; i < ncpus; i++)
		m->cpus_percent[i] = busy_percent(&m->prev[i + 1], &m->now[i + 1]);
	out->cpus_percent = m->cpus_percent;
	swap = m->prev;
	m->prev = m->now;
	m->now = swap;
	if (!(text = reread(m, m->meminfo_fd)) || machine_parse_meminfo(text, out) < 0)
		return -1;
	if (!(text = reread(m, m->loadavg_fd)) || machine_parse_loadavg(text, out->load) < 0)
		return -1;
	return 0;
}

static json_t *percent_json(double v)
{
	return v >= 0 ? json_real(v) : json_null();
}

json_t *machine_sample_json(const struct machine_sample *s)
{
	json_t *o = json_object(), *cpus = json_array(), *load = json_array();

	for (int i = 0; i < s->ncpus; i++)
		json_array_append_new(cpus, percent_json(s->cpus_percent[i]));
	for (int i = 0; i < 3; i++)
		json_array_append_new(load, json_real(s->load[i]));
	json_object_set_new(o, "time_ms", json_integer(s->time_ms));
	json_object_set_new(o, "ncpus", json_integer(s->ncpus));
	json_object_set_new(o, "cpu_percent", percent_json(s->cpu_percent));
	json_object_set_new(o, "cpus_percent", cpus);
	json_object_set_new(o, "mem_total_bytes", json_integer(s->mem_total));
	json_object_set_new(o, "mem_available_bytes", json_integer(s->mem_available));
	json_object_set_new(o, "swap_total_bytes", json_integer(s->swap_total));
	json_object_set_new(o, "swap_free_bytes", json_integer(s->swap_free));
	json_object_set_new(o, "load", load);
	return o;
}
