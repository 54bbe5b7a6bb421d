/*
 * Drawing `trainctl top`: the state of struct top to the screen. Each frame
 * is drawn whole into curses' virtual screen and sent with one doupdate(),
 * which writes only the cells that changed since the last one; nothing ever
 * clears the terminal, so there is no flicker.
 *
 * From the top: the machine (CPU bars, memory, swap, load), one line per GPU,
 * a status line (job counts, or a message, or "reconnecting"), the jobs
 * table, the selected job's detail pane (sparklines and last log lines),
 * and the keys or the prompt at the bottom.
 */
#include "cli/top.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "lib/format.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/sparkline.h"
#include "lib/xmalloc.h"

enum { PAIR_GREEN = 1, PAIR_YELLOW, PAIR_RED, PAIR_CYAN, PAIR_BLUE, PAIR_MAGENTA, PAIR_HEADER, PAIR_KEY };

#define SPARK_WINDOW_MS (5 * 60 * 1000)

void top_colors_init(struct top *t)
{
	if (!t->color || !has_colors()) {
		t->color = 0;
		return;
	}
	start_color();
	use_default_colors(); /* -1: the terminal's own foreground and background */
	init_pair(PAIR_GREEN, COLOR_GREEN, -1);
	init_pair(PAIR_YELLOW, COLOR_YELLOW, -1);
	init_pair(PAIR_RED, COLOR_RED, -1);
	init_pair(PAIR_CYAN, COLOR_CYAN, -1);
	init_pair(PAIR_BLUE, COLOR_BLUE, -1);
	init_pair(PAIR_MAGENTA, COLOR_MAGENTA, -1);
	init_pair(PAIR_HEADER, COLOR_BLACK, COLOR_GREEN);
	init_pair(PAIR_KEY, COLOR_BLACK, COLOR_CYAN);
}

/* A colour, or what stands for it without colours. */
static attr_t hue(const struct top *t, int pair)
{
	if (t->color)
		return COLOR_PAIR(pair);
	switch (pair) {
	case PAIR_RED: return A_BOLD;
	case PAIR_HEADER: case PAIR_KEY: return A_REVERSE;
	default: return A_NORMAL;
	}
}

static const char *column_name(enum top_column col)
{
	static const char *const names[COL_COUNT] = { "ID",   "NAME", "STATE",   "PROGRESS", "CPU%",
						      "MEM", "GPU",  "ELAPSED", "RST" };
	return names[col];
}

/* ---- text in columns -------------------------------------------------------------------------- */

/*
 * Draw s at (y, x) in at most width columns (wide characters count double;
 * invalid bytes and control characters show as '?'). Returns the columns used.
 */
static int put(int y, int x, int width, const char *s, attr_t attr)
{
	mbstate_t st = { 0 };
	wchar_t buf[128];
	int used = 0, k = 0;

	if (width <= 0 || y < 0 || y >= LINES)
		return 0;
	move(y, x);
	attrset(attr);
	while (*s) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, strlen(s), &st);
		int w;

		if (n == (size_t)-1 || n == (size_t)-2 || !iswprint((wint_t)wc)) {
			wc = L'?';
			n = n == (size_t)-1 || n == (size_t)-2 ? 1 : n;
			memset(&st, 0, sizeof(st));
		}
		w = wcwidth(wc);
		if (w < 0)
			w = 1;
		if (used + w > width)
			break;
		buf[k++] = wc;
		used += w;
		s += n;
		if (k == (int)(sizeof(buf) / sizeof(*buf))) {
			addnwstr(buf, k);
			k = 0;
		}
	}
	addnwstr(buf, k);
	attrset(A_NORMAL);
	return used;
}

static int putf(int y, int x, int width, attr_t attr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int putf(int y, int x, int width, attr_t attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return put(y, x, width, buf, attr);
}

/* Right-aligned in width columns (ASCII text). */
static void put_right(int y, int x, int width, const char *s, attr_t attr)
{
	int len = (int)strlen(s);

	put(y, x + (len < width ? width - len : 0), width, s, attr);
}

/* Fill a line from x to the right edge with spaces in attr. */
static void fill(int y, int x, attr_t attr)
{
	if (x >= COLS)
		return;
	move(y, x);
	attrset(attr);
	hline(' ', COLS - x);
	attrset(A_NORMAL);
}

/*
 * A meter: "LABEL[||||||     text]" in width columns, ratio (0..1; below 0
 * unknown) filled with '|' in attr, text at the right inside the brackets.
 */
static void meter(const struct top *t, int y, int x, int width, const char *label, double ratio,
		  attr_t attr, const char *text)
{
	int lw = put(y, x, width, label, hue(t, PAIR_CYAN) | A_BOLD);
	int inner = width - lw - 2, len = (int)strlen(text);
	int filled = ratio < 0 ? 0 : (int)(ratio * inner + 0.5);

	if (inner < 1)
		return;
	if (filled > inner)
		filled = inner;
	put(y, x + lw, 1, "[", A_BOLD);
	for (int i = 0; i < inner; i++) {
		int in_text = len <= inner && i >= inner - len;
		char c[2] = { in_text ? text[i - (inner - len)] : (i < filled ? '|' : ' '), 0 };

		put(y, x + lw + 1 + i, 1, c, in_text ? A_NORMAL : (i < filled ? attr : A_NORMAL));
	}
	put(y, x + lw + 1 + inner, 1, "]", A_BOLD);
}

static double number(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : -1;
}

/* "3.2G/7.6G" for used/total bytes. */
static void format_used(double used, double total, char *buf, size_t size)
{
	char a[16], b[16];

	if (used < 0 || total <= 0) {
		snprintf(buf, size, "n/a");
		return;
	}
	format_size((int64_t)used, a, sizeof(a));
	format_size((int64_t)total, b, sizeof(b));
	snprintf(buf, size, "%s/%s", a, b);
}

/* ---- the header: CPUs, memory, swap, load, GPUs ----------------------------------------------- */

#define CPU_ROWS 4      /* per-CPU bars take at most this many lines */
#define CPU_MIN_WIDTH 12

/* The CPU bars in the left half; returns the lines used. */
static int draw_cpus(const struct top *t, int width)
{
	json_t *cpus = json_object_get(t->machine, "cpus_percent");
	int n = (int)json_array_size(cpus);
	int columns = (n + CPU_ROWS - 1) / CPU_ROWS;
	int rows = n < CPU_ROWS ? n : CPU_ROWS;
	char text[16];

	if (n <= 1 || width / columns < CPU_MIN_WIDTH) { /* one bar for all of them */
		double all = number(t->machine, "cpu_percent");
		snprintf(text, sizeof(text), "%.1f%%", all < 0 ? 0 : all);
		meter(t, 0, 0, width - 1, "CPU", all / 100, hue(t, PAIR_GREEN), text);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		double v = json_number_value(json_array_get(cpus, (size_t)i));
		int cw = width / columns;
		char label[16];

		snprintf(label, sizeof(label), "%*d", n > 10 ? 2 : 1, i);
		snprintf(text, sizeof(text), "%.1f%%", v);
		meter(t, i % rows, (i / rows) * cw, cw - 1, label, v / 100, hue(t, PAIR_GREEN), text);
	}
	return rows;
}

/* Memory, swap and load in the right half; returns the lines used. */
static int draw_memory(const struct top *t, int x, int width)
{
	double mem_total = number(t->machine, "mem_total_bytes");
	double mem_avail = number(t->machine, "mem_available_bytes");
	double swap_total = number(t->machine, "swap_total_bytes");
	double swap_free = number(t->machine, "swap_free_bytes");
	json_t *load = json_object_get(t->machine, "load");
	char text[48];

	format_used(mem_total - mem_avail, mem_total, text, sizeof(text));
	meter(t, 0, x, width, "Mem", mem_total > 0 ? (mem_total - mem_avail) / mem_total : -1,
	      hue(t, PAIR_GREEN), text);
	format_used(swap_total - swap_free, swap_total, text, sizeof(text));
	meter(t, 1, x, width, "Swp", swap_total > 0 ? (swap_total - swap_free) / swap_total : -1,
	      hue(t, PAIR_RED), text);
	put(2, x, width, "Load average:", hue(t, PAIR_CYAN) | A_BOLD);
	putf(2, x + 14, width - 14, A_BOLD, "%.2f %.2f %.2f",
	     json_number_value(json_array_get(load, 0)), json_number_value(json_array_get(load, 1)),
	     json_number_value(json_array_get(load, 2)));
	return 3;
}

/* One line for a GPU: name, utilization and memory bars, temperature, power. */
static void draw_gpu(const struct top *t, int y, const json_t *gpu)
{
	double util = number(gpu, "util_gpu"), used = number(gpu, "mem_used");
	double total = number(gpu, "mem_total"), temp = number(gpu, "temperature_c");
	double power = number(gpu, "power_w"), limit = number(gpu, "power_limit_w");
	const char *name = json_string_value(json_object_get(gpu, "name"));
	int name_w = COLS >= 120 ? 24 : 12, x, bar_w;
	char text[48], tail[48] = "", label[16];

	x = putf(y, 0, 6, hue(t, PAIR_CYAN) | A_BOLD, "GPU%lld",
		 (long long)json_integer_value(json_object_get(gpu, "index")));
	if (name && COLS < 120 && !strncmp(name, "NVIDIA ", 7))
		name += 7; /* room for the model on narrow screens */
	x += 1 + put(y, x + 1, name_w, name ? name : "?", A_NORMAL);
	x = x < 6 + name_w + 1 ? 6 + name_w + 1 : x;
	if (temp >= 0)
		snprintf(tail, sizeof(tail), "%.0f%sC", temp, t->utf8 ? "°" : "");
	if (power >= 0)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "%s%.0fW", tail[0] ? " " : "",
			 power);
	if (power >= 0 && limit > 0)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "/%.0fW", limit);
	bar_w = (COLS - x - 14) / 2;
	snprintf(text, sizeof(text), util < 0 ? "n/a" : "%.0f%%", util);
	snprintf(label, sizeof(label), "util");
	meter(t, y, x, bar_w - 1, label, util / 100, hue(t, PAIR_GREEN), text);
	format_used(used, total, text, sizeof(text));
	meter(t, y, x + bar_w, bar_w - 1, "mem", total > 0 && used >= 0 ? used / total : -1,
	      hue(t, PAIR_MAGENTA), text);
	put(y, x + 2 * bar_w, COLS - x - 2 * bar_w, tail, A_NORMAL);
}

/* The header; returns its height. */
static int draw_header(const struct top *t)
{
	json_t *gpus = json_object_get(t->machine, "gpus");
	int left = COLS / 2, h;
	size_t i;
	json_t *gpu;

	if (!t->machine) {
		putf(0, 0, COLS, A_NORMAL, "machine: %s",
		     t->machine_error[0] ? t->machine_error : "waiting for the daemon");
		return 1;
	}
	h = draw_cpus(t, left);
	if (draw_memory(t, left, COLS - left) > h)
		h = 3;
	json_array_foreach(gpus, i, gpu)
		draw_gpu(t, h++, gpu);
	return h;
}

/* ---- the status line -------------------------------------------------------------------------- */

static void draw_status(const struct top *t, int y)
{
	static const char *const states[] = { "running", "paused", "starting", "restarting",
					      "stopping", "queued", "held" };
	int64_t now = time_now_ms();
	struct strbuf line = STRBUF_INIT;
	int counts[8] = { 0 }, finished = 0, x;
	size_t i;
	json_t *job;

	if (t->fd < 0) {
		putf(y, 0, COLS, hue(t, PAIR_RED) | A_BOLD, "reconnecting to the daemon%s (gone %llds)",
		     t->utf8 ? "…" : "...", (long long)(now - t->lost_ms) / 1000);
		return;
	}
	if (t->nexpect > 0 && now - t->sent_ms > 5000) {
		putf(y, 0, COLS, hue(t, PAIR_RED) | A_BOLD, "the daemon has not answered for %llds",
		     (long long)(now - t->sent_ms) / 1000);
		return;
	}
	if (t->message[0] && now - t->message_ms < TOP_MESSAGE_MS) {
		put(y, 0, COLS, t->message, t->message_error ? hue(t, PAIR_RED) | A_BOLD : A_BOLD);
		return;
	}
	json_array_foreach(t->jobs, i, job) {
		const char *state = json_string_value(json_object_get(job, "state"));
		size_t k;
		for (k = 0; k < sizeof(states) / sizeof(*states); k++) {
			if (state && !strcmp(state, states[k]))
				break;
		}
		if (k < sizeof(states) / sizeof(*states))
			counts[k]++;
		else
			finished++;
	}
	strbuf_addstr(&line, "Jobs:");
	for (size_t k = 0; k < sizeof(states) / sizeof(*states); k++) {
		if (counts[k])
			strbuf_addf(&line, " %d %s,", counts[k], states[k]);
	}
	strbuf_addf(&line, " %d finished%s", finished, t->hide_finished ? " (hidden)" : "");
	x = put(y, 0, COLS, line.buf, A_BOLD);
	strbuf_reset(&line);
	strbuf_addf(&line, "   sort: %s %s", column_name(t->sort),
		    t->reverse ? (t->utf8 ? "▼" : "v") : (t->utf8 ? "▲" : "^"));
	if (t->filter[0])
		strbuf_addf(&line, "   filter: %s", t->filter);
	if (t->follow)
		strbuf_addf(&line, "   following job %lld", (long long)t->sel_id);
	put(y, x, COLS - x, line.buf, A_NORMAL);
	strbuf_release(&line);
}

/* ---- the jobs table --------------------------------------------------------------------------- */

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Column widths for the screen's width; 0 hides a column. Returns the command's width. */
static int table_layout(struct top *t)
{
	static const int fixed[COL_COUNT] = { [COL_ID] = 5,  [COL_CPU] = 6,     [COL_MEM] = 6,
					      [COL_GPU] = 10, [COL_ELAPSED] = 8, [COL_RESTARTS] = 3 };
	int avail = COLS, x = 0, command;

	for (int c = 0; c < COL_COUNT; c++) {
		t->col_w[c] = c == COL_GPU && !t->show_gpu ? 0 : fixed[c];
		if (t->col_w[c])
			avail -= t->col_w[c] + 1;
	}
	avail -= 3; /* the spaces after the flexible columns */
	t->col_w[COL_NAME] = clamp(avail / 5, 6, 20);
	t->col_w[COL_STATE] = clamp(avail * 2 / 5, 9, 36);
	t->col_w[COL_PROGRESS] = clamp(avail - t->col_w[COL_NAME] - t->col_w[COL_STATE], 8, 40);
	command = avail - t->col_w[COL_NAME] - t->col_w[COL_STATE] - t->col_w[COL_PROGRESS] - 1;
	for (int c = 0; c < COL_COUNT; c++) {
		t->col_x[c] = x;
		x += t->col_w[c] ? t->col_w[c] + 1 : 0;
	}
	return command >= 12 ? command : 0;
}

static int numeric_column(int c)
{
	return c != COL_NAME && c != COL_STATE && c != COL_PROGRESS;
}

static void draw_table_header(const struct top *t, int y, int command)
{
	attr_t head = hue(t, PAIR_HEADER);

	fill(y, 0, head);
	for (int c = 0; c < COL_COUNT; c++) {
		int sorted = (enum top_column)c == t->sort;
		const char *name = column_name((enum top_column)c);
		const char *arrow = !sorted ? "" : t->reverse ? (t->utf8 ? "▼" : "v") : (t->utf8 ? "▲" : "^");
		int w = t->col_w[c], len = (int)strlen(name) + sorted, x = t->col_x[c];

		if (!w)
			continue;
		if (numeric_column(c) && len < w)
			x += w - len;
		putf(y, x, w, sorted ? hue(t, PAIR_KEY) | A_BOLD : head, "%s%s", name, arrow);
	}
	if (command)
		put(y, COLS - command, command, "COMMAND", head);
}

static attr_t state_hue(const struct top *t, const char *state)
{
	if (!strcmp(state, "running"))
		return hue(t, PAIR_GREEN);
	if (!strcmp(state, "paused") || !strcmp(state, "stopping"))
		return hue(t, PAIR_YELLOW);
	if (!strcmp(state, "failed") || !strcmp(state, "lost"))
		return hue(t, PAIR_RED);
	if (!strcmp(state, "starting") || !strcmp(state, "restarting") || !strcmp(state, "queued"))
		return hue(t, PAIR_CYAN);
	return A_DIM;
}

/* "[||||     ] 45% 1m10s": a bar where there is room, then the ratio and the ETA. */
static void draw_progress(const struct top *t, int y, int x, int w, const json_t *job,
			  attr_t base)
{
	json_t *progress = json_object_get(job, "progress");
	const char *state = json_string_value(json_object_get(job, "state"));
	int final = job_state_is_final((enum job_state)job_state_parse(state ? state : ""));
	double ratio = number(progress, "ratio"), eta = final ? -1 : number(progress, "eta_seconds");
	char text[48] = "-", when[24];
	int bar, filled;

	if (json_is_object(progress) && ratio >= 0)
		snprintf(text, sizeof(text), "%3.0f%%", ratio * 100);
	else if (json_is_object(progress))
		snprintf(text, sizeof(text), "%.0f", number(progress, "current"));
	if (eta >= 0)
		format_duration((int64_t)(eta * 1000), when, sizeof(when));
	if (eta >= 0 || ratio >= 0) /* the same width on every row, so the bars line up */
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " %6s", eta >= 0 ? when : "");
	bar = w - (int)strlen(text) - 3;
	if (ratio < 0 || bar < 4) {
		put(y, x, w, text, base);
		return;
	}
	filled = (int)(ratio * bar + 0.5);
	put(y, x, 1, "[", base | A_BOLD);
	move(y, x + 1);
	attrset(base | hue(t, PAIR_GREEN));
	for (int i = 0; i < bar; i++)
		addch(i < filled ? '|' : ' ');
	put(y, x + 1 + bar, 1, "]", base | A_BOLD);
	put(y, x + bar + 3, w - bar - 3, text, base);
}

static void draw_row(struct top *t, int y, const json_t *job, int selected, int command)
{
	attr_t base = selected ? A_REVERSE : A_NORMAL;
	struct strbuf state = STRBUF_INIT, cmd = STRBUF_INIT;
	const char *name = json_string_value(json_object_get(job, "name"));
	const char *state_name = json_string_value(json_object_get(job, "state"));
	double cpu = number(job, "cpu_percent"), rss = number(job, "rss_bytes");
	double gpu_mem = number(job, "gpu_mem_bytes"), gpu_util = number(job, "gpu_util");
	int64_t elapsed = top_job_elapsed_ms(job);
	char cell[48], size[16];

	fill(y, 0, base);
	snprintf(cell, sizeof(cell), "%lld", (long long)top_job_id(job));
	put_right(y, t->col_x[COL_ID], t->col_w[COL_ID], cell, base);
	put(y, t->col_x[COL_NAME], t->col_w[COL_NAME], name ? name : "-", base | A_BOLD);
	format_job_state(job, &state);
	put(y, t->col_x[COL_STATE], t->col_w[COL_STATE], state.buf,
	    base | state_hue(t, state_name ? state_name : ""));
	draw_progress(t, y, t->col_x[COL_PROGRESS], t->col_w[COL_PROGRESS], job, base);
	snprintf(cell, sizeof(cell), cpu < 0 ? "-" : "%.0f", cpu);
	put_right(y, t->col_x[COL_CPU], t->col_w[COL_CPU], cell, base);
	if (rss >= 0)
		format_size((int64_t)rss, cell, sizeof(cell));
	put_right(y, t->col_x[COL_MEM], t->col_w[COL_MEM], rss >= 0 ? cell : "-", base);
	if (t->col_w[COL_GPU]) { /* "3.0G 45%" */
		snprintf(size, sizeof(size), "-");
		if (gpu_mem >= 0)
			format_size((int64_t)gpu_mem, size, sizeof(size));
		snprintf(cell, sizeof(cell), gpu_util >= 0 ? "%s %.0f%%" : "%s", size, gpu_util);
		put_right(y, t->col_x[COL_GPU], t->col_w[COL_GPU], cell, base);
	}
	if (elapsed >= 0)
		format_duration(elapsed, cell, sizeof(cell));
	put_right(y, t->col_x[COL_ELAPSED], t->col_w[COL_ELAPSED], elapsed >= 0 ? cell : "-", base);
	snprintf(cell, sizeof(cell), "%lld", (long long)json_integer_value(json_object_get(job, "restarts")));
	put_right(y, t->col_x[COL_RESTARTS], t->col_w[COL_RESTARTS], cell, base);
	if (command) {
		format_command(json_object_get(job, "command"), &cmd);
		put(y, COLS - command, command, cmd.buf ? cmd.buf : "", base | A_DIM);
	}
	strbuf_release(&state);
	strbuf_release(&cmd);
}

static void draw_table(struct top *t, int y, int h)
{
	int command = table_layout(t);

	t->table_y = y;
	t->table_h = h - 1;
	draw_table_header(t, y, command);
	if (t->nrows == 0) {
		put(y + 2, 2, COLS - 2,
		    t->filter[0] ? "no job matches the filter (Esc clears it)"
				 : "no jobs: start one with 'trainctl run -- COMMAND'",
		    A_DIM);
		return;
	}
	for (int r = 0; r < h - 1 && t->scroll + r < t->nrows; r++)
		draw_row(t, y + 1 + r, t->rows[t->scroll + r], t->scroll + r == t->sel, command);
}

/* ---- the detail pane -------------------------------------------------------------------------- */

/* One series of the selected job's samples (column col of each row) as points. */
static size_t sample_points(const struct top *t, size_t col, struct chart_point *points, size_t max)
{
	size_t n = 0, i;
	json_t *row;

	json_array_foreach(t->samples, i, row) {
		json_t *v = json_array_get(row, col);
		if (n == max)
			break;
		points[n].t_ms = json_integer_value(json_array_get(row, 0));
		points[n++].v = json_is_number(v) ? json_number_value(v) : -1;
	}
	return n;
}

enum { SAMPLE_CPU = 1, SAMPLE_RSS = 2, SAMPLE_GPU_UTIL = 7, SAMPLE_GPU_MEM = 8 };

/* A sparkline row: "CPU  ▁▂▅▇█  95%  max 100%". */
static void draw_spark(const struct top *t, int y, const char *label, size_t col, int percent)
{
	size_t alloc = json_array_size(t->samples) + 1, n;
	struct chart_point *points = xreallocarray(NULL, alloc, sizeof(*points));
	int64_t now = time_now_ms();
	int width = COLS - 5 - 22;
	double *cells, hi = percent ? 100 : 0, peak_v = -1, last = -1;
	struct strbuf line = STRBUF_INIT;
	char value[24] = "-", peak[24] = "-";

	if (width < 8) {
		free(points);
		return;
	}
	n = t->samples_id == t->sel_id ? sample_points(t, col, points, alloc) : 0;
	for (size_t i = 0; i < n; i++) {
		if (points[i].v > peak_v)
			peak_v = points[i].v;
		if (points[i].v >= 0)
			last = points[i].v;
	}
	if (peak_v > hi)
		hi = peak_v;
	cells = xreallocarray(NULL, (size_t)width, sizeof(*cells));
	sparkline_bucket(points, n, now - SPARK_WINDOW_MS, now + 1, cells, width);
	sparkline_render(cells, width, hi, t->utf8, &line);
	if (last >= 0 && percent)
		snprintf(value, sizeof(value), "%.0f%%", last), snprintf(peak, sizeof(peak), "%.0f%%", peak_v);
	else if (last >= 0)
		format_size((int64_t)last, value, sizeof(value)), format_size((int64_t)peak_v, peak, sizeof(peak));
	put(y, 0, 5, label, hue(t, PAIR_CYAN) | A_BOLD);
	put(y, 5, width, line.buf, hue(t, percent ? PAIR_GREEN : PAIR_MAGENTA));
	putf(y, 6 + width, COLS - 6 - width, A_NORMAL, "%6s  max %s", value, peak);
	strbuf_release(&line);
	free(cells);
	free(points);
}

/* "Label:   value" lines of the full detail view; returns the next line. */
static int draw_field(int y, int end, const char *label, const char *value)
{
	if (y >= end)
		return y;
	put(y, 0, 12, label, A_BOLD);
	put(y, 12, COLS - 12, value && *value ? value : "-", A_NORMAL);
	return y + 1;
}

static int draw_fields(const json_t *job, int y, int end)
{
	struct strbuf buf = STRBUF_INIT;
	char when[64];

	format_command(json_object_get(job, "command"), &buf);
	y = draw_field(y, end, "Command:", buf.buf);
	y = draw_field(y, end, "Directory:", json_string_value(json_object_get(job, "cwd")));
	format_job_time(job, "started_at", when, sizeof(when));
	y = draw_field(y, end, "Started:", when);
	strbuf_reset(&buf);
	format_progress(json_object_get(job, "progress"), 20, &buf);
	y = draw_field(y, end, "Progress:", buf.buf);
	y = draw_field(y, end, "Checkpoint:", json_string_value(json_object_get(job, "checkpoint")));
	strbuf_reset(&buf);
	if (json_is_array(json_object_get(job, "gpus"))) {
		size_t i;
		json_t *g;
		json_array_foreach(json_object_get(job, "gpus"), i, g)
			strbuf_addf(&buf, "%s%lld", i ? "," : "", (long long)json_integer_value(g));
	}
	y = draw_field(y, end, "GPUs:", buf.buf);
	strbuf_release(&buf);
	return y;
}

/* The selected job: a title, fields (full view), sparklines, then the last log lines. */
static void draw_detail(struct top *t, int y, int h, int full)
{
	json_t *job = top_selected(t);
	int end = y + h, nlog;
	struct strbuf title = STRBUF_INIT, state = STRBUF_INIT;
	json_t *pid = json_object_get(job, "pid");
	const char *lines, *p;

	if (!job || h < 2)
		return;
	strbuf_addstr(&title, "Job ");
	format_job_label(job, &title);
	format_job_state(job, &state);
	strbuf_addf(&title, "  %s", state.buf);
	if (json_is_integer(pid))
		strbuf_addf(&title, "  pid %lld", (long long)json_integer_value(pid));
	fill(y, 0, A_BOLD | A_UNDERLINE);
	put(y, 0, COLS - 12, title.buf, A_BOLD | A_UNDERLINE);
	put_right(y, COLS - 12, 11, "last 5m", A_BOLD | A_UNDERLINE);
	strbuf_release(&title);
	strbuf_release(&state);
	y++;
	if (full)
		y = draw_fields(job, y, end);
	if (y < end)
		draw_spark(t, y++, "CPU", SAMPLE_CPU, 1);
	if (y < end)
		draw_spark(t, y++, "MEM", SAMPLE_RSS, 0);
	if (t->show_gpu && y < end)
		draw_spark(t, y++, "GPU", SAMPLE_GPU_UTIL, 1);
	if (t->show_gpu && y < end)
		draw_spark(t, y++, "GMEM", SAMPLE_GPU_MEM, 0);
	/* the last lines of the log that fit */
	lines = strbuf_str(&t->tail);
	nlog = 0;
	for (p = lines + t->tail.len; p > lines && nlog < end - y; p--) {
		if (p[-1] == '\n' && p != lines + t->tail.len)
			nlog++;
	}
	if (p > lines)
		p++;
	for (; *p && y < end; y++) {
		const char *nl = strchr(p, '\n');
		char *line = xstrndup(p, nl ? (size_t)(nl - p) : strlen(p));
		put(y, 0, COLS, line, A_NORMAL);
		free(line);
		p = nl ? nl + 1 : p + strlen(p);
	}
}

/* ---- the footer, the text view, the help ------------------------------------------------------ */

struct key_hint {
	const char *key;
	const char *label;
};

static const struct key_hint main_keys[] = {
	{ "?", "Help" },   { "s", "Stop" },  { "K", "Kill" },   { "p", "Pause" },   { "r", "Restart" },
	{ "a", "Attach" }, { "l", "Log" },   { "d", "Diag" },   { "/", "Filter" },  { "F", "Follow" },
	{ "<>", "Sort" },  { "Enter", "Info" }, { NULL, NULL },
};

static const struct key_hint text_keys[] = {
	{ "Up/Dn", "Scroll" }, { "PgUp/PgDn", "Page" }, { "g/G", "Top/End" }, { "/", "Search" },
	{ "n/N", "Next/Prev" }, { NULL, NULL },
};

/* Key hints, as many as fit, and "q Quit" (or Back) at the end. */
static void draw_keys(const struct top *t, int y, const struct key_hint *keys, const char *quit)
{
	int x = 0, quit_w = 2 + (int)strlen(quit);

	fill(y, 0, A_NORMAL);
	for (const struct key_hint *k = keys; k->key; k++) {
		int w = (int)(strlen(k->key) + strlen(k->label)) + 1;
		if (x + w > COLS - quit_w)
			break;
		x += put(y, x, COLS - x, k->key, A_BOLD);
		x += putf(y, x, COLS - x, hue(t, PAIR_KEY), "%s ", k->label);
	}
	x += put(y, x, COLS - x, "q", A_BOLD);
	put(y, x, COLS - x, quit, hue(t, PAIR_KEY));
}

static void draw_footer(const struct top *t, int y, const struct key_hint *keys, const char *quit)
{
	const char *input = strbuf_str(&t->input);

	fill(y, 0, A_NORMAL);
	switch (t->prompt) {
	case PROMPT_CONFIRM:
		put(y, 0, COLS, t->confirm_text, hue(t, PAIR_RED) | A_BOLD | A_REVERSE);
		break;
	case PROMPT_FILTER:
		putf(y, 0, COLS, A_BOLD, "Filter (name, command or id; Enter keeps it, Esc clears): %s_", input);
		break;
	case PROMPT_SEARCH:
		putf(y, 0, COLS, A_BOLD, "Search (Enter keeps it, Esc clears): %s_", input);
		break;
	case PROMPT_NONE:
		draw_keys(t, y, keys, quit);
		break;
	}
}

/* One line of the text view, with the search term highlighted. */
static void draw_text_line(const struct top *t, int y, const char *line)
{
	const char *term = t->text.search, *hit = term[0] ? strcasestr(line, term) : NULL;
	int x = 0;

	if (!hit) {
		put(y, 0, COLS, line, A_NORMAL);
		return;
	}
	while (hit && x < COLS) {
		char *before = xstrndup(line, (size_t)(hit - line));
		char *match = xstrndup(hit, strlen(term));
		x += put(y, x, COLS - x, before, A_NORMAL);
		x += put(y, x, COLS - x, match, hue(t, PAIR_YELLOW) | A_REVERSE);
		free(before);
		free(match);
		line = hit + strlen(term);
		hit = strcasestr(line, term);
	}
	put(y, x, COLS - x, line, A_NORMAL);
}

static void draw_text(struct top *t)
{
	struct top_text *x = &t->text;
	size_t page = LINES > 3 ? (size_t)LINES - 2 : 1;
	size_t last = x->nlines > page ? x->nlines - page : 0;
	char where[96];

	if (x->first > last || x->at_end)
		x->first = last;
	fill(0, 0, hue(t, PAIR_HEADER));
	put(0, 1, COLS - 1, x->title, hue(t, PAIR_HEADER) | A_BOLD);
	snprintf(where, sizeof(where), "%s lines %zu-%zu of %zu ", x->child ? "running," : "",
		 x->nlines ? x->first + 1 : 0,
		 x->first + page < x->nlines ? x->first + page : x->nlines, x->nlines);
	put_right(0, COLS / 2, COLS - COLS / 2, where, hue(t, PAIR_HEADER));
	for (size_t i = 0; i < page && x->first + i < x->nlines; i++) {
		size_t start = x->lines[x->first + i];
		size_t end = x->first + i + 1 < x->nlines ? x->lines[x->first + i + 1] - 1 : x->body.len;
		char *line = xstrndup(x->body.buf + start, end - start);
		draw_text_line(t, 1 + (int)i, line);
		free(line);
	}
	draw_footer(t, LINES - 1, text_keys, "Back");
}

static void draw_help(void)
{
	static const char *const lines[] = {
		"Up/Down j/k  select a job         PgUp/PgDn Home/End  move by pages, to the ends",
		"Enter        the job in detail (Enter, Esc or q goes back)",
		"s            stop it gracefully (stop signal, grace, SIGKILL), after a confirmation",
		"K            kill it (SIGKILL to the whole tree), after a confirmation",
		"p            pause it, or resume it when paused",
		"r            restart it (from its latest checkpoint), after a confirmation",
		"a            attach to its terminal; detach (ctrl-\\) comes back here",
		"l            its log: scroll, / search, n/N next and previous match",
		"d            run 'trainctl diagnose' on it and show the report",
		"/            filter the jobs by name, command or id (Esc clears)",
		"F            follow the selected job: keep it selected as the list changes",
		"< >          sort by the previous / next column (or click a column); I inverts",
		"H            hide / show finished jobs",
		"ctrl-L       redraw the screen",
		"q            quit",
		"",
		"CPU% is of one CPU (250 = two and a half cores); MEM is resident memory of the",
		"whole process tree. Sparklines cover the last 5 minutes of the daemon's samples.",
		"",
		"Press any key to go back.",
	};
	int y = 2;

	put(0, 1, COLS - 1, "trainctl top: keys", A_BOLD);
	for (size_t i = 0; i < sizeof(lines) / sizeof(*lines) && y < LINES; i++)
		put(y++, 1, COLS - 1, lines[i], A_NORMAL);
}

/* ---- the frame -------------------------------------------------------------------------------- */

/* Lines of the body (between the status line and the footer) and of the detail pane. */
static void body_layout(const struct top *t, int header, int *table_h, int *detail_h)
{
	int body = LINES - header - 2;

	if (t->view == VIEW_DETAIL) {
		*table_h = 0;
		*detail_h = body;
		return;
	}
	*detail_h = body >= 12 ? clamp(body * 2 / 5, 5, 20) : 0;
	*table_h = body - *detail_h;
}

static int header_height(const struct top *t)
{
	json_t *cpus = json_object_get(t->machine, "cpus_percent");
	int n = (int)json_array_size(cpus), h;

	if (!t->machine)
		return 1;
	h = n > 1 && (COLS / 2) / ((n + CPU_ROWS - 1) / CPU_ROWS) >= CPU_MIN_WIDTH
		    ? (n < CPU_ROWS ? n : CPU_ROWS) : 1;
	if (h < 3)
		h = 3;
	return h + (int)json_array_size(json_object_get(t->machine, "gpus"));
}

int top_table_height(const struct top *t)
{
	int table_h, detail_h;

	body_layout(t, header_height(t), &table_h, &detail_h);
	return table_h > 1 ? table_h - 1 : 0;
}

void top_draw(struct top *t)
{
	int header, table_h, detail_h;

	erase();
	if (t->view == VIEW_TEXT) {
		draw_text(t);
	} else if (t->view == VIEW_HELP) {
		draw_help();
	} else {
		header = draw_header(t);
		draw_status(t, header);
		body_layout(t, header, &table_h, &detail_h);
		t->table_h = 0;
		if (table_h > 0)
			draw_table(t, header + 1, table_h);
		draw_detail(t, header + 1 + table_h, detail_h, t->view == VIEW_DETAIL);
		draw_footer(t, LINES - 1, main_keys, t->view == VIEW_DETAIL ? "Back" : "Quit");
	}
	wnoutrefresh(stdscr);
	doupdate();
}
