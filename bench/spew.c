/*
 * spew: the log-throughput job and its checker.
 *
 *   spew BYTES [DONE]     write BYTES to stdout as numbered 64-byte lines,
 *                         in 64 KiB writes (a fast job's output), then
 *                         create the file DONE (the writer has finished)
 *   spew check BYTES FILE...
 *                         read what a tool captured (rotated files oldest
 *                         first; "\r" that a terminal added is ignored) and
 *                         print the bytes lost: lines missing, truncated or
 *                         duplicated count against the capture.
 *
 * Line k is "%015llu " followed by 47 letters and "\n", so a checker can
 * tell which lines arrived without keeping them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE 64

static void line_make(char *out, unsigned long long k)
{
	snprintf(out, LINE, "%015llu ", k);
	for (int i = 16; i < LINE - 1; i++)
		out[i] = (char)('a' + (k + (unsigned long long)i) % 26);
	out[LINE - 1] = '\n';
}

static int spew(unsigned long long bytes)
{
	static char buf[65536];
	unsigned long long k = 0, left = bytes;

	while (left > 0) {
		size_t n = 0;

		for (; n + LINE <= sizeof(buf) && n < left; n += LINE)
			line_make(buf + n, k++);
		if (n > left)
			n = (size_t)left;
		for (size_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return 1;
			off += (size_t)w;
		}
		left -= n;
	}
	return 0;
}

/* Count the bytes of correct lines, in order, across files. */
static int check(unsigned long long bytes, int nfiles, char **files)
{
	char want[LINE], line[4 * LINE];
	unsigned long long good = 0, expect_next = 0;
	size_t len = 0;

	for (int f = 0; f < nfiles; f++) {
		FILE *fp = fopen(files[f], "r");
		int c;

		if (!fp)
			continue;
		len = 0; /* a line never spans two files */
		while ((c = getc_unlocked(fp)) != EOF) {
			if (c == '\r')
				continue;
			if (len < sizeof(line))
				line[len++] = (char)c;
			if (c != '\n')
				continue;
			if (len == LINE) {
				unsigned long long k = strtoull(line, NULL, 10);
				line_make(want, k);
				if (!memcmp(want, line, LINE) && k >= expect_next) {
					good += LINE;
					expect_next = k + 1;
				}
			}
			len = 0;
		}
		fclose(fp);
	}
	printf("%llu\n", bytes > good ? bytes - good : 0);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 2 || argc == 3) && strcmp(argv[1], "check")) {
		int ret = spew(strtoull(argv[1], NULL, 10));
		if (argc == 3)
			close(open(argv[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		return ret;
	}
	if (argc >= 3 && !strcmp(argv[1], "check"))
		return check(strtoull(argv[2], NULL, 10), argc - 3, argv + 3);
	fprintf(stderr, "usage: spew BYTES [DONE] | spew check BYTES FILE...\n");
	return 2;
}
