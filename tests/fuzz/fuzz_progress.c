/*
 * Fuzz target: the progress parser (lib/progress.c) on a job's raw output:
 * \r-redrawn bars, ANSI escapes, partial lines. The output is fed in pieces
 * cut where the input says, as it arrives from a terminal.
 */
#include <stddef.h>
#include <stdint.h>

#include "lib/progress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct progress_parser *p = progress_parser_new(NULL, 0, NULL);
	size_t at = 0;
	int64_t now = 1000;

	while (at < size) {
		size_t piece = 1 + data[at] % 64;

		if (piece > size - at)
			piece = size - at;
		progress_parser_feed(p, (const char *)data + at, piece, now);
		now += 250;
		at += piece;
	}
	progress_parser_get(p);
	progress_parser_free(p);
	return 0;
}
