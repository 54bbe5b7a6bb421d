/*
 * A growable, always NUL-terminated byte buffer for every string we build.
 * Lifecycle: STRBUF_INIT or strbuf_init(), then strbuf_release().
 */
#ifndef TRAINCTL_STRBUF_H
#define TRAINCTL_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};

#define STRBUF_INIT { NULL, 0, 0 }

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add s single-quoted for a POSIX shell ('it'\''s'), so that it reads back as is. */
void strbuf_add_shell_quoted(struct strbuf *sb, const char *s);
void strbuf_reset(struct strbuf *sb);
/* Drop the first n bytes. */
void strbuf_consume(struct strbuf *sb, size_t n);
/* Hand the buffer to the caller (who frees it) and reset sb. */
char *strbuf_detach(struct strbuf *sb);
/* The buffer's text, "" when nothing was ever added. */
const char *strbuf_str(const struct strbuf *sb);

#endif
