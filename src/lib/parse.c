/* Parsers and formatters for durations, sizes, signals and times; see parse.h. */
#include "lib/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/strbuf.h"
#include "lib/xmalloc.h"

/* strtod, but only for plain decimals: no hex, exponents, signs, inf or nan. */
static double parse_decimal(const char *s, char **end)
{
	char tmp[64], *tmp_end;
	size_t len = strspn(s, "0123456789.");
	double v;

	*end = (char *)s;
	if (len == 0 || len >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	v = strtod(tmp, &tmp_end);
	*end = (char *)s + (tmp_end - tmp);
	return v;
}

struct unit {
	const char *suffix;
	double factor;
};

static const struct unit duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
};

static const struct unit size_units[] = {
	{ "", 1 },       { "b", 1 },
	{ "k", 1024.0 }, { "kb", 1024.0 }, { "kib", 1024.0 },
	{ "m", 1048576.0 }, { "mb", 1048576.0 }, { "mib", 1048576.0 },
	{ "g", 1073741824.0 }, { "gb", 1073741824.0 }, { "gib", 1073741824.0 },
	{ "t", 1099511627776.0 }, { "tb", 1099511627776.0 }, { "tib", 1099511627776.0 },
};

/* Find the unit whose suffix matches the start of s (longest first). */
static const struct unit *unit_match(const struct unit *units, size_t n, const char *s,
				     size_t *len)
{
	const struct unit *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(units[i].suffix);
		if (l >= best_len && strncasecmp(s, units[i].suffix, l) == 0 &&
		    (best == NULL || l > best_len)) {
			best = &units[i];
			best_len = l;
		}
	}
	*len = best_len;
	return best;
}

int parse_duration_ms(const char *s, int64_t *out, struct err *err)
{
	const char *p = s;
	double total = 0;
	char *end;

	if (!s || !*s)
		return err_usage(err, "empty duration (expected e.g. 30s, 15m, 2h, 1d)");
	errno = 0;
	total = parse_decimal(s, &end);
	if (end != s && *end == '\0' && isdigit((unsigned char)*s) && !errno && total >= 0) {
		total *= 1000; /* a bare number means seconds */
		goto done;
	}
	total = 0;
	while (*p) {
		size_t len;
		const struct unit *u;
		double v;

		if (!isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		v = parse_decimal(p, &end);
		if (end == p || errno || v < 0)
			goto bad;
		u = unit_match(duration_units, ARRAY_SIZE(duration_units), end, &len);
		if (!u || len == 0)
			goto bad;
		total += v * u->factor;
		p = end + len;
	}
done:
	if (total > 9.2e15)
		goto bad;
	*out = (int64_t)llround(total);
	return 0;
bad:
	return err_usage(err, "invalid duration '%s' (expected e.g. 30s, 15m, 2h, 1d, 1h30m)", s);
}

int parse_size_bytes(const char *s, int64_t *out, struct err *err)
{
	char *end;
	size_t len;
	const struct unit *u;
	double v;

	if (!s || !*s || (!isdigit((unsigned char)*s) && *s != '.'))
		goto bad;
	errno = 0;
	v = parse_decimal(s, &end);
	if (end == s || errno || v < 0)
		goto bad;
	u = unit_match(size_units, ARRAY_SIZE(size_units), end, &len);
	if (!u || end[len] != '\0')
		goto bad;
	v *= u->factor;
	if (v > 9.2e18)
		goto bad;
	*out = (int64_t)llround(v);
	return 0;
bad:
	return err_usage(err, "invalid size '%s' (expected e.g. 512K, 100M, 8G)", s ? s : "");
}

struct signal_entry {
	const char *name;
	int number;
};

static const struct signal_entry signal_table[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },     { "QUIT", SIGQUIT },   { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT },   { "BUS", SIGBUS },     { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 },   { "SEGV", SIGSEGV },   { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM },   { "TERM", SIGTERM },   { "STKFLT", SIGSTKFLT },
	{ "CHLD", SIGCHLD }, { "CONT", SIGCONT },   { "STOP", SIGSTOP },   { "TSTP", SIGTSTP },
	{ "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },   { "URG", SIGURG },     { "XCPU", SIGXCPU },
	{ "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "IO", SIGIO },     { "PWR", SIGPWR },     { "SYS", SIGSYS },
};

int parse_cpu_limit(const char *s, double *cpus, struct err *err)
{
	char *end;
	double v;

	if (!s || !isdigit((unsigned char)*s))
		goto bad;
	v = parse_decimal(s, &end);
	if (*end == '%')
		end++;
	if (*end || !(v > 0) || v > 100000)
		goto bad;
	*cpus = v / 100;
	return 0;
bad:
	return err_usage(err, "invalid CPU limit '%s' (expected a percentage of one CPU, e.g. 50%% "
			      "or 150%%)", s ? s : "");
}

int parse_mem_limit(const char *s, int64_t *bytes, struct err *err)
{
	if (parse_size_bytes(s, bytes, err) < 0)
		return -1;
	if (*bytes < 1024 * 1024)
		return err_usage(err, "memory limit %s is too small (expected at least 1M, e.g. 8G)", s);
	return 0;
}

int parse_nice(const char *s, int *nice, struct err *err)
{
	char *end;
	long v;

	errno = 0;
	v = s ? strtol(s, &end, 10) : 0;
	if (!s || !*s || *end || errno || v < -20 || v > 19)
		return err_usage(err, "invalid nice value '%s' (expected -20 to 19)", s ? s : "");
	*nice = (int)v;
	return 0;
}

int parse_uint(const char *s, int *out)
{
	char *end;
	long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > 0x7fffffff)
		return -1;
	*out = (int)v;
	return 0;
}

int parse_signal(const char *s, int *out, struct err *err)
{
	const char *name = s;
	int n;

	if (s && parse_uint(s, &n) == 0) {
		if (n >= 1 && n < NSIG) {
			*out = n;
			return 0;
		}
		goto bad;
	}
	if (s && strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; s && i < ARRAY_SIZE(signal_table); i++) {
		if (strcasecmp(name, signal_table[i].name) == 0) {
			*out = signal_table[i].number;
			return 0;
		}
	}
bad:
	return err_usage(err, "invalid signal '%s' (expected a name like TERM, SIGINT, KILL or a number 1-%d)",
			 s ? s : "", NSIG - 1);
}

int parse_control_key(const char *s, int *key, struct err *err)
{
	const char *c = NULL;

	if (s && s[0] == '^')
		c = s + 1;
	else if (s && (strncasecmp(s, "ctrl-", 5) == 0 || strncasecmp(s, "ctrl+", 5) == 0))
		c = s + 5;
	else if (s && (strncmp(s, "C-", 2) == 0 || strncmp(s, "c-", 2) == 0))
		c = s + 2;
	if (c && c[0] && !c[1]) {
		int upper = toupper((unsigned char)c[0]);
		if (upper >= '@' && upper <= '_') {
			*key = upper & 0x1f;
			return 0;
		}
	}
	return err_usage(err, "invalid detach key '%s' (expected a control key such as ctrl-\\, "
			      "^], C-a)", s ? s : "");
}

/* One quoted section starting at *p (after the quote); returns -1 when it is not closed. */
static int shell_quoted(const char **p, char quote, struct strbuf *word)
{
	const char *s = *p;

	while (*s && *s != quote) {
		if (quote == '"' && *s == '\\' && s[1] && strchr("\"\\$`", s[1]))
			s++;
		strbuf_addch(word, *s++);
	}
	if (!*s)
		return -1;
	*p = s + 1;
	return 0;
}

int parse_shell_words(const char *text, json_t *out, struct err *err)
{
	struct strbuf word = STRBUF_INIT;
	const char *p = text;
	int in_word = 0, ret = 0;

	while (ret == 0) {
		if (!*p || isblank((unsigned char)*p)) {
			if (in_word)
				json_array_append_new(out, json_string(strbuf_str(&word)));
			strbuf_reset(&word);
			in_word = 0;
			if (!*p)
				break;
			p++;
		} else if (*p == '\'' || *p == '"') {
			char quote = *p++;
			in_word = 1;
			if (shell_quoted(&p, quote, &word) < 0)
				ret = err_usage(err, "unclosed %c in '%s'", quote, text);
		} else {
			if (*p == '\\' && p[1])
				p++;
			strbuf_addch(&word, *p++);
			in_word = 1;
		}
	}
	strbuf_release(&word);
	return ret;
}

const char *signal_name(int sig)
{
	static char buf[16];

	for (size_t i = 0; i < ARRAY_SIZE(signal_table); i++) {
		if (signal_table[i].number == sig) {
			snprintf(buf, sizeof(buf), "SIG%s", signal_table[i].name);
			return buf;
		}
	}
	snprintf(buf, sizeof(buf), "SIG%d", sig);
	return buf;
}

void format_duration(int64_t ms, char *buf, size_t size)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		ms = s = 0;
	if (ms < 1000)
		snprintf(buf, size, "%lldms", (long long)ms);
	else if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

void format_size(int64_t bytes, char *buf, size_t size)
{
	static const char suffix[] = "BKMGTP";
	double v = (double)bytes;
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	/* Round as printed first, so 1048575 reads 1.0M rather than 1024K. */
	if (i > 0 && i < 5 && v >= 1023.5) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%lldB", (long long)bytes);
	else if (v < 9.95)
		snprintf(buf, size, "%.1f%c", v, suffix[i]);
	else
		snprintf(buf, size, "%.0f%c", v, suffix[i]);
}

/* Write value as exactly width digits (zero-padded), no terminator. */
static char *put_digits(char *p, int value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + value % 10);
		value /= 10;
	}
	return p + width;
}

void format_rfc3339(int64_t epoch_ms, char *buf, size_t size)
{
	int64_t seconds = epoch_ms / 1000, ms = epoch_ms % 1000;
	char text[32], *p = text;
	time_t t;
	struct tm tm;

	if (ms < 0) { /* C division truncates toward zero */
		ms += 1000;
		seconds--;
	}
	t = (time_t)seconds;
	gmtime_r(&t, &tm);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
		return;
	}
	/* Listings format thousands of these: digits by hand, not through printf. */
	p = put_digits(p, tm.tm_year + 1900, 4);
	*p++ = '-';
	p = put_digits(p, tm.tm_mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, (int)ms, 3);
	*p++ = 'Z';
	*p = '\0';
	snprintf(buf, size, "%s", text);
}

/* n digits at s as a number, or -1 when one of them is not a digit. */
static int take_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * The fields of "YYYY-MM-DDTHH:MM:SS[.fff]Z" as written by format_rfc3339,
 * read without sscanf; 0 when s is not exactly that shape (then the general
 * parse below decides).
 */
static int parse_rfc3339_exact(const char *s, struct tm *tm, int *ms)
{
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || (tm->tm_year = take_digits(s, 4)) < 0 ||
	    (tm->tm_mon = take_digits(s + 5, 2)) < 0 || (tm->tm_mday = take_digits(s + 8, 2)) < 0 ||
	    (tm->tm_hour = take_digits(s + 11, 2)) < 0 || (tm->tm_min = take_digits(s + 14, 2)) < 0 ||
	    (tm->tm_sec = take_digits(s + 17, 2)) < 0)
		return 0;
	*ms = 0;
	if (s[19] == '.' && strlen(s) == 24 && s[23] == 'Z')
		return (*ms = take_digits(s + 20, 3)) >= 0;
	return s[19] == 'Z' && s[20] == '\0';
}

int64_t parse_rfc3339_ms(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0;

	if (!s)
		return -1;
	if (!parse_rfc3339_exact(s, &tm, &ms)) {
		ms = 0;
		if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
			return -1;
	}
	/* Out of range fields would be normalized by timegm, and a huge year overflow. */
	if (tm.tm_year < 1970 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 ||
	    tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60 || ms < 0 ||
	    ms > 999)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

void format_local_time(int64_t epoch_ms, char *buf, size_t size)
{
	time_t t = (time_t)(epoch_ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
