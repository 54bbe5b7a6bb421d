/*
 * Why a job failed, from its log tail and the kernel log; see failure.h.
 *
 * The log tail is first cut into the lines a terminal would show: lines end
 * at '\n' (a '\r' before it is dropped), and a line redrawn with '\r' (a
 * tqdm bar) keeps only its last state. Escape sequences and other control
 * bytes go, trailing blanks go, blank lines are skipped.
 *
 * From those lines, a Python traceback wins: after the last "Traceback (most
 * recent call last):" the frames and source lines are indented, and the
 * first line that is not is the exception ("ValueError: bad shape"). That is
 * the first such line and not the last, because an exception's message may
 * go on for lines ("CUDA kernel errors might be asynchronously reported...")
 * and other output (wandb, torchrun) may follow it. torchrun and mpirun put
 * a tag such as "[rank0]: " before every line of a worker; when the header
 * has one, only lines with the same tag are read, without it. Without a
 * traceback, the last line that names an error wins, else the last line.
 *
 * CUDA OOM is recognised by the messages each framework prints, never by a
 * bare "out of memory", which the host's allocator and the kernel print too.
 */
#include "lib/failure.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ansi.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

#define TRACEBACK_HEADER "Traceback (most recent call last):"
#define TAG_MAX 64

/* A log tail as lines: each one NUL-terminated in text, at an offset (text moves as it grows). */
struct lines {
	struct strbuf text;
	size_t *start;
	size_t nr, alloc;
};

static const char *const error_words[] = {
	"error", "exception", "fatal", "panic", "segmentation fault", "killed", "abort", "assert",
};

static const char *const cuda_oom_marks[] = {
	"CUDA out of memory",         /* PyTorch's caching allocator */
	"torch.cuda.OutOfMemoryError",
	"torch.OutOfMemoryError",     /* PyTorch 2.5 and later */
	"CUDA_ERROR_OUT_OF_MEMORY",   /* the driver API: TensorFlow, JAX, raw CUDA */
	"cudaErrorMemoryAllocation",  /* the runtime API */
	"RESOURCE_EXHAUSTED: Out of memory", /* XLA: JAX and TensorFlow */
	"CUBLAS_STATUS_ALLOC_FAILED", /* cuBLAS could not get memory for its handle */
};

/* Marks that mean a CUDA OOM only when the second follows the first on one line. */
static const struct {
	const char *first, *then;
} cuda_oom_pairs[] = {
	{ "CUDA error", "out of memory" },  /* "RuntimeError: CUDA error: out of memory" */
	{ "CUDA driver error", "out of memory" },
	{ "Cuda failure", "out of memory" }, /* NCCL: "Cuda failure 'out of memory'" */
	{ "OOM when allocating tensor", "GPU" }, /* TensorFlow's ResourceExhaustedError */
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Drop control bytes (NUL, backspace, BEL...) but tabs; returns the new length. */
static size_t controls_drop(char *s, size_t len)
{
	size_t out = 0;

	for (size_t in = 0; in < len; in++) {
		unsigned char c = (unsigned char)s[in];

		if ((c >= 0x20 && c != 0x7f) || c == '\t')
			s[out++] = s[in];
	}
	return out;
}

/* What a terminal shows of a raw line (no '\n'): what follows its last '\r' but a final one. */
static void line_redraw_state(const char **s, size_t *len)
{
	const char *cr;

	while (*len > 0 && (*s)[*len - 1] == '\r')
		(*len)--;
	cr = memrchr(*s, '\r', *len);
	if (cr) {
		*len -= (size_t)(cr + 1 - *s);
		*s = cr + 1;
	}
}

/* Clean one raw line and keep it unless it is blank. */
static void lines_add(struct lines *l, const char *s, size_t len)
{
	size_t start = l->text.len;
	char *p;

	line_redraw_state(&s, &len);
	strbuf_add(&l->text, s, len);
	p = l->text.buf + start;
	len = controls_drop(p, ansi_strip(p, len));
	while (len > 0 && is_blank(p[len - 1]))
		len--;
	l->text.len = start + len;
	l->text.buf[l->text.len] = '\0';
	if (len == 0)
		return;
	strbuf_addch(&l->text, '\0');
	if (l->nr == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 64;
		l->start = xreallocarray(l->start, l->alloc, sizeof(*l->start));
	}
	l->start[l->nr++] = start;
}

static void lines_split(struct lines *l, const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		lines_add(l, text + i, n);
		i += n + 1;
	}
}

static void lines_release(struct lines *l)
{
	strbuf_release(&l->text);
	free(l->start);
}

static const char *line_at(const struct lines *l, size_t i)
{
	return l->text.buf + l->start[i];
}

/* The index of the last line containing needle; 0 when none, else index + 1. */
static size_t lines_find_last(const struct lines *l, const char *needle)
{
	for (size_t i = l->nr; i > 0; i--) {
		if (strstr(line_at(l, i - 1), needle))
			return i;
	}
	return 0;
}

/* Length of a tag like "[rank0]:" or "[1,0]<stderr>:" before the header, else 0. */
static size_t traceback_tag_length(const char *line, const char *header)
{
	size_t n = (size_t)(header - line);

	while (n > 0 && line[n - 1] == ' ')
		n--;
	if (n == 0 || n > TAG_MAX || line[n - 1] != ':')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)line[i]))
			return 0;
	}
	return n;
}

/* The exception line of the last traceback, or NULL when its end was not logged. */
static const char *traceback_exception(const struct lines *l)
{
	size_t at = lines_find_last(l, TRACEBACK_HEADER);
	const char *header, *s;
	size_t tag;

	if (at == 0)
		return NULL;
	header = line_at(l, at - 1);
	tag = traceback_tag_length(header, strstr(header, TRACEBACK_HEADER));
	for (size_t i = at; i < l->nr; i++) {
		s = line_at(l, i);
		if (tag && strncmp(s, header, tag) != 0)
			continue; /* another worker's line */
		if (tag)
			s += tag + (s[tag] == ' ');
		if (*s && !is_blank(*s))
			return s;
	}
	return NULL;
}

static int line_names_error(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(error_words); i++) {
		if (strcasestr(s, error_words[i]))
			return 1;
	}
	return 0;
}

static const char *lines_last_error(const struct lines *l)
{
	for (size_t i = l->nr; i > 0; i--) {
		if (line_names_error(line_at(l, i - 1)))
			return line_at(l, i - 1);
	}
	return NULL;
}

/* Copy s trimmed into out, cut to size-1 bytes at a UTF-8 character boundary. */
static void line_copy(const char *s, char *out, size_t size)
{
	size_t len;

	if (size == 0)
		return;
	while (is_blank(*s))
		s++;
	len = strlen(s);
	if (len > size - 1) {
		len = size - 1;
		/* s[len] is the first byte left out: back up to the start of its character */
		for (int k = 0; k < 3 && len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80; k++)
			len--;
		while (len > 0 && is_blank(s[len - 1]))
			len--;
	}
	memcpy(out, s, len);
	out[len] = '\0';
}

int failure_last_error_line(const char *text, size_t len, char *out, size_t size)
{
	struct lines l = { STRBUF_INIT, NULL, 0, 0 };
	const char *line;
	int rc = -1;

	if (text)
		lines_split(&l, text, len);
	if (l.nr > 0) {
		line = traceback_exception(&l);
		if (!line)
			line = lines_last_error(&l);
		rc = 0;
		if (!line) {
			line = line_at(&l, l.nr - 1);
			rc = 1;
		}
		line_copy(line, out, size);
	}
	lines_release(&l);
	return rc;
}

/* Does then follow an occurrence of first on the same line? */
static int text_has_pair(const char *text, size_t len, const char *first, const char *then)
{
	const char *end = text + len, *p = text, *hit, *eol;

	while ((hit = memmem(p, (size_t)(end - p), first, strlen(first))) != NULL) {
		p = hit + strlen(first);
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if (memmem(p, (size_t)(eol - p), then, strlen(then)))
			return 1;
	}
	return 0;
}

int failure_is_cuda_oom(const char *text, size_t len)
{
	if (!text)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(cuda_oom_marks); i++) {
		if (memmem(text, len, cuda_oom_marks[i], strlen(cuda_oom_marks[i])))
			return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cuda_oom_pairs); i++) {
		if (text_has_pair(text, len, cuda_oom_pairs[i].first, cuda_oom_pairs[i].then))
			return 1;
	}
	return 0;
}

/*
 * The message of a kernel log record: after the "prio,seq,usec,flags[,...];"
 * of /dev/kmsg or the "[ 1234.567890] " of dmesg, up to the end of its first
 * line (a /dev/kmsg record may go on with " SUBSYSTEM=..." lines).
 */
static char *kmsg_message(const char *line)
{
	const char *semi = strchr(line, ';');
	const char *close;

	if (isdigit((unsigned char)line[0]) && semi && strcspn(line, " ;") == (size_t)(semi - line))
		line = semi + 1;
	else if (line[0] == '[' && (close = strchr(line, ']')) != NULL)
		line = close + 1 + strspn(close + 1, " ");
	return xstrndup(line, strcspn(line, "\n"));
}

/* A pid in decimal at s, else 0. */
static pid_t pid_parse(const char *s)
{
	long v = 0;

	if (!isdigit((unsigned char)*s))
		return 0;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return 0;
	}
	return (pid_t)v;
}

/*
 * "Out of memory: Killed process N (comm)", "Memory cgroup out of memory:
 * Killed process N", the bare "Killed process N (comm)" older kernels log
 * after "Out of memory: Kill process N ... or sacrifice child" (which only
 * chose a victim), and "oom-kill:...,pid=N,uid=...".
 */
static pid_t kmsg_message_oom_pid(const char *msg)
{
	static const char killed[] = "Killed process ";
	const char *p;

	if ((p = strcasestr(msg, "out of memory: Killed process ")) != NULL)
		return pid_parse(p + strlen("out of memory: Killed process "));
	if (strncmp(msg, killed, strlen(killed)) == 0)
		return pid_parse(msg + strlen(killed));
	if ((p = strstr(msg, "oom-kill:")) != NULL && (p = strstr(p, ",pid=")) != NULL)
		return pid_parse(p + strlen(",pid="));
	return 0;
}

pid_t failure_kmsg_oom_pid(const char *line)
{
	char *msg;
	pid_t pid;

	if (!line)
		return 0;
	msg = kmsg_message(line);
	pid = kmsg_message_oom_pid(msg);
	free(msg);
	return pid;
}
