/*
 * Fuzz target: the configuration file parser (lib/config.c): key = value
 * lines, comments, run.OPTION defaults, sizes, durations, addresses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct err err = { 0 };
	char *text = malloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	config_init(&cfg);
	config_parse(&cfg, "fuzz.conf", text, &err);
	config_release(&cfg);
	free(text);
	return 0;
}
