/*
 * Fuzz target: the /proc/PID/stat parser (lib/proc.c). A command name may
 * hold spaces, parentheses and newlines; a process may exit mid-read and
 * leave a cut line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct proc_stat st;

	memcpy(text, data, size);
	text[size] = '\0';
	proc_parse_stat(text, &st);
	free(text);
	return 0;
}
