/*
 * Fuzz target: the parsers of what users type (lib/parse.c): durations,
 * sizes, limits, nice values, signals, detach keys, shell words and RFC 3339
 * times. The first byte picks the parser; the rest is the text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = { 0 };
	char *text, buf[64];
	int64_t i64;
	double real;
	int i;
	json_t *words;

	if (size == 0)
		return 0;
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 10) {
	case 0:
		if (parse_duration_ms(text, &i64, &err) == 0)
			format_duration(i64, buf, sizeof(buf));
		break;
	case 1:
		if (parse_size_bytes(text, &i64, &err) == 0)
			format_size(i64, buf, sizeof(buf));
		break;
	case 2:
		parse_cpu_limit(text, &real, &err);
		break;
	case 3:
		parse_mem_limit(text, &i64, &err);
		break;
	case 4:
		parse_nice(text, &i, &err);
		break;
	case 5:
		if (parse_signal(text, &i, &err) == 0)
			signal_name(i);
		break;
	case 6:
		parse_uint(text, &i);
		break;
	case 7:
		parse_control_key(text, &i, &err);
		break;
	case 8:
		words = json_array();
		parse_shell_words(text, words, &err);
		json_decref(words);
		break;
	default:
		i64 = parse_rfc3339_ms(text);
		if (i64 >= 0)
			format_rfc3339(i64, buf, sizeof(buf));
		break;
	}
	free(text);
	return 0;
}
