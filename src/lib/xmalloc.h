/*
 * Allocation that cannot fail: every function here dies with a message on
 * out-of-memory (and on multiplication overflow), so callers never check.
 */
#ifndef TRAINCTL_XMALLOC_H
#define TRAINCTL_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "trainctl: <msg>" to stderr and exit 1. Only for start-up and OOM. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define ASSERT(cond)                                                             \
	do {                                                                     \
		if (!(cond))                                                     \
			fatal("assertion failed at %s:%d: %s", __FILE__, __LINE__, \
			      #cond);                                            \
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
