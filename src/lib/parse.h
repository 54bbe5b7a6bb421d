/*
 * Pure parsers and formatters for what users type and read: durations
 * ("30s", "1h30m", "1.5h"), sizes ("512K", "8G"), signals ("TERM", "SIGTERM",
 * "15"), and the times and sizes we print. No I/O here, so everything is
 * unit-tested directly.
 */
#ifndef TRAINCTL_PARSE_H
#define TRAINCTL_PARSE_H

#include <stdint.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"

/* Parse a duration into milliseconds; a bare number means seconds. */
int parse_duration_ms(const char *s, int64_t *out, struct err *err);
/* Parse a size into bytes; suffixes K, M, G, T (powers of 1024), optional B/iB. */
int parse_size_bytes(const char *s, int64_t *out, struct err *err);
/* Parse a CPU limit "150%" (or "150") into CPUs (1.5); must be more than 0. */
int parse_cpu_limit(const char *s, double *cpus, struct err *err);
/* Parse a memory limit: a size of at least 1M. */
int parse_mem_limit(const char *s, int64_t *bytes, struct err *err);
/* Parse a nice value, -20 to 19. */
int parse_nice(const char *s, int *nice, struct err *err);
/* Parse a signal name ("TERM", "SIGTERM", case-insensitive) or number. */
int parse_signal(const char *s, int *out, struct err *err);
/* Parse a non-negative integer that fits in an int. */
int parse_uint(const char *s, int *out);
/*
 * Parse a detach key: "^\\", "ctrl-\\", "C-a", "^]" (a control character), into
 * its byte. A usage error names the text and the forms expected.
 */
int parse_control_key(const char *s, int *key, struct err *err);
/*
 * Split text into words the way a shell would for a simple command line:
 * blanks separate words, '...' and "..." quote, a backslash escapes. Appends
 * each word to out (a JSON array). A usage error for an unclosed quote.
 */
int parse_shell_words(const char *text, json_t *out, struct err *err);
/* "SIGTERM" for 15; "SIG42" for numbers without a name. Static storage. */
const char *signal_name(int sig);

/* "2h03m", "4m10s", "12s", "850ms": compact elapsed time. */
void format_duration(int64_t ms, char *buf, size_t size);
/* "1.5G", "820M", "12K", "512B". */
void format_size(int64_t bytes, char *buf, size_t size);
/* RFC 3339 in UTC with milliseconds: "2026-11-29T08:15:49.123Z". */
void format_rfc3339(int64_t epoch_ms, char *buf, size_t size);
/* Parse what format_rfc3339 wrote back into epoch milliseconds; -1 if malformed. */
int64_t parse_rfc3339_ms(const char *s);
/* Local wall-clock time for people: "2026-11-29 09:15:49". */
void format_local_time(int64_t epoch_ms, char *buf, size_t size);

/* Milliseconds since the epoch, and on the monotonic clock. */
int64_t time_now_ms(void);
int64_t time_monotonic_ms(void);

#endif
