/*
 * Fuzz target: the JSON-lines protocol decoder, as the daemon and the shims
 * run it on what a client sends (lib/proto.c). The input is a byte stream
 * that may hold several lines, malformed JSON, NULs and lines without an end.
 */
#include <stddef.h>
#include <stdint.h>

#include "lib/proto.h"
#include "lib/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf in = STRBUF_INIT;
	struct err err = { 0 };
	json_t *msg;

	strbuf_add(&in, data, size);
	while (proto_take_line(&in, &msg, &err)) {
		if (msg) {
			proto_reply_check(msg, &err);
			free(proto_encode(msg));
		}
		json_decref(msg);
	}
	json_decref(proto_decode((const char *)data, size, &err));
	strbuf_release(&in);
	return 0;
}
