/*
 * Finding a job's latest complete checkpoint; see checkpoint.h.
 *
 * Every scan runs glob(3) afresh on cwd/GLOB (cwd's own glob characters
 * escaped) and stats each match. The scanner keeps what it saw last time
 * (path, size, mtime to the nanosecond), sorted by path, and a file found
 * again is complete when its size and mtime are what they were then. A file
 * seen for the first time is never complete: it may have appeared a moment
 * ago and still be growing, and two equal looks one tick apart are the only
 * evidence that the writer is done. Only regular files count (a symlink to
 * one does); a directory's size and mtime say nothing about the files being
 * written inside it.
 *
 * The number that orders names is the last run of digits in the basename,
 * ignoring a final extension made of letters and digits such as ".h5" or
 * ".pt2": "step-100-epoch-2.pt" is 2, "epoch=3-step=1000.ckpt" is 1000,
 * "model_epoch_10.h5" is 10. The latest is the complete file whose name sorts
 * last, then the newest, then the last path, so the choice is stable.
 *
 * checkpoint_scan() reports a change of the latest's path or mtime (a file
 * rewritten in place is a new checkpoint). When no complete file is left the
 * latest becomes NULL without a report, so whatever appears next is reported.
 */
#include "lib/checkpoint.h"

#include <ctype.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "lib/strbuf.h"
#include "lib/xmalloc.h"

/* One file as a scan saw it. */
struct seen {
	char *path;
	off_t size;
	int64_t mtime_ns;
	int complete;
};

struct checkpoint_scanner {
	char *pattern; /* absolute, for glob(3) */
	struct seen *files; /* the last scan's, sorted by path */
	size_t nr_files;
	char *latest; /* NULL when there is no complete checkpoint */
	int64_t latest_mtime_ns;
};

/* A name's number: its digits without leading zeros; len 0 when it has none. */
struct name_number {
	const char *digits;
	size_t len;
	int found;
};

static const char *const partial_suffixes[] = {
	".tmp", ".part", ".partial", ".incomplete", "~",
};

static const char *name_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Length of the name without an extension such as ".h5" (letters, then letters and digits). */
static size_t name_stem_length(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t len = strlen(name);

	if (!dot || dot == name || !isalpha((unsigned char)dot[1]))
		return len;
	for (const char *p = dot + 1; *p; p++) {
		if (!isalnum((unsigned char)*p))
			return len;
	}
	return (size_t)(dot - name);
}

/* The last run of digits in a basename (before its extension). */
static struct name_number name_number(const char *name)
{
	struct name_number n = { NULL, 0, 0 };
	size_t end = name_stem_length(name), start;

	while (end > 0 && !isdigit((unsigned char)name[end - 1]))
		end--;
	if (end == 0)
		return n;
	start = end;
	while (start > 0 && isdigit((unsigned char)name[start - 1]))
		start--;
	while (start < end - 1 && name[start] == '0')
		start++;
	n.digits = name + start;
	n.len = end - start;
	n.found = 1;
	return n;
}

/* Numbers of any length compared by value: a longer run (no leading zeros) is larger. */
static int number_compare(const struct name_number *a, const struct name_number *b)
{
	int c;

	if (a->found != b->found)
		return a->found ? 1 : -1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	c = a->len ? memcmp(a->digits, b->digits, a->len) : 0;
	return (c > 0) - (c < 0);
}

int checkpoint_name_compare(const char *a, const char *b)
{
	const char *base_a = name_base(a), *base_b = name_base(b);
	struct name_number na = name_number(base_a), nb = name_number(base_b);
	int c = number_compare(&na, &nb);

	if (c)
		return c;
	c = strcmp(base_a, base_b);
	return (c > 0) - (c < 0);
}

int checkpoint_name_is_partial(const char *name)
{
	const char *base = name_base(name);
	size_t len = strlen(base);

	if (base[0] == '.')
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(partial_suffixes); i++) {
		size_t n = strlen(partial_suffixes[i]);

		if (n <= len && strcasecmp(base + len - n, partial_suffixes[i]) == 0)
			return 1;
	}
	return 0;
}

/* Add s with its glob characters escaped, so a cwd like "run[1]" is taken literally. */
static void pattern_add_literal(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\", *s))
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *s);
	}
}

static char *pattern_build(const char *cwd, const char *glob, struct err *err)
{
	struct strbuf sb = STRBUF_INIT;

	if (glob[0] == '/')
		return xstrdup(glob);
	if (!cwd || cwd[0] != '/') {
		err_usage(err, "checkpoint glob '%s' is relative but the working directory '%s' "
			       "is not an absolute path", glob, cwd ? cwd : "");
		return NULL;
	}
	pattern_add_literal(&sb, cwd);
	if (sb.buf[sb.len - 1] != '/')
		strbuf_addch(&sb, '/');
	strbuf_addstr(&sb, glob);
	return strbuf_detach(&sb);
}

struct checkpoint_scanner *checkpoint_scanner_new(const char *cwd, const char *glob,
						  struct err *err)
{
	struct checkpoint_scanner *s;
	char *pattern;

	if (!glob || !glob[0]) {
		err_usage(err, "empty checkpoint glob (expected e.g. 'checkpoints/*.pt')");
		return NULL;
	}
	pattern = pattern_build(cwd, glob, err);
	if (!pattern)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->pattern = pattern;
	return s;
}

static void files_free(struct seen *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i].path);
	free(files);
}

void checkpoint_scanner_free(struct checkpoint_scanner *s)
{
	if (!s)
		return;
	files_free(s->files, s->nr_files);
	free(s->pattern);
	free(s->latest);
	free(s);
}

static int seen_path_compare(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->path, ((const struct seen *)b)->path);
}

/* What the last scan saw at path, or NULL. */
static const struct seen *seen_find(const struct checkpoint_scanner *s, const char *path)
{
	struct seen key = { .path = (char *)path };

	if (s->nr_files == 0)
		return NULL;
	return bsearch(&key, s->files, s->nr_files, sizeof(key), seen_path_compare);
}

/* Stat one match into f; 0 when it is a regular file whose name is not partial. */
static int seen_stat(struct seen *f, const char *path)
{
	struct stat st;

	if (checkpoint_name_is_partial(path) || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	f->path = xstrdup(path);
	f->size = st.st_size;
	f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

/* The files glob found, sorted by path, each marked complete when unchanged since last scan. */
static struct seen *files_look(const struct checkpoint_scanner *s, const glob_t *g, size_t *n)
{
	struct seen *files = xcalloc(g->gl_pathc + 1, sizeof(*files));

	*n = 0;
	for (size_t i = 0; i < g->gl_pathc; i++) {
		if (seen_stat(&files[*n], g->gl_pathv[i]) == 0)
			(*n)++;
	}
	qsort(files, *n, sizeof(*files), seen_path_compare);
	for (size_t i = 0; i < *n; i++) {
		const struct seen *old = seen_find(s, files[i].path);

		files[i].complete = old && old->size == files[i].size &&
				    old->mtime_ns == files[i].mtime_ns;
	}
	return files;
}

/* Does a come after b as a checkpoint? */
static int seen_later(const struct seen *a, const struct seen *b)
{
	int c = checkpoint_name_compare(a->path, b->path);

	if (c)
		return c > 0;
	if (a->mtime_ns != b->mtime_ns)
		return a->mtime_ns > b->mtime_ns;
	return strcmp(a->path, b->path) > 0;
}

static const struct seen *files_latest(const struct seen *files, size_t n)
{
	const struct seen *best = NULL;

	for (size_t i = 0; i < n; i++) {
		if (files[i].complete && (!best || seen_later(&files[i], best)))
			best = &files[i];
	}
	return best;
}

/* Make best the latest; 1 when that is a new checkpoint. */
static int latest_update(struct checkpoint_scanner *s, const struct seen *best)
{
	if (!best) {
		free(s->latest);
		s->latest = NULL;
		s->latest_mtime_ns = 0;
		return 0;
	}
	if (s->latest && strcmp(s->latest, best->path) == 0 &&
	    s->latest_mtime_ns == best->mtime_ns)
		return 0;
	free(s->latest);
	s->latest = xstrdup(best->path);
	s->latest_mtime_ns = best->mtime_ns;
	return 1;
}

/*
 * Is the latest checkpoint being written again in place (a mid-epoch save
 * replaced at the end of the epoch)? Then it stays the latest, rather than
 * an older one standing in for it for a moment.
 */
static int latest_rewritten(const struct checkpoint_scanner *s, const struct seen *files,
			    size_t n, const struct seen *best)
{
	for (size_t i = 0; s->latest && i < n; i++) {
		if (!files[i].complete && strcmp(files[i].path, s->latest) == 0)
			return !best || seen_later(&files[i], best);
	}
	return 0;
}

int checkpoint_scan(struct checkpoint_scanner *s)
{
	glob_t g;
	struct seen *files = NULL;
	size_t n = 0;
	int rc = glob(s->pattern, GLOB_NOSORT, NULL, &g);

	if (rc != 0 && rc != GLOB_NOMATCH) {
		globfree(&g);
		return 0; /* out of memory inside glob: keep what we knew */
	}
	if (rc == 0)
		files = files_look(s, &g, &n);
	globfree(&g);
	files_free(s->files, s->nr_files);
	s->files = files;
	s->nr_files = n;
	if (latest_rewritten(s, files, n, files_latest(files, n)))
		return 0;
	return latest_update(s, files_latest(files, n));
}

const char *checkpoint_latest(const struct checkpoint_scanner *s)
{
	return s->latest;
}

int64_t checkpoint_latest_mtime_ms(const struct checkpoint_scanner *s)
{
	return s->latest ? s->latest_mtime_ns / 1000000 : 0;
}
