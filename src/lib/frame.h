/*
 * Binary frames for terminal streams on a shim's socket. A client sends one
 * JSON line {"v":1,"op":"attach",...}; after the shim's JSON reply, both
 * directions carry frames: an 8-byte header (type, 3 zero bytes, payload
 * length as a little-endian uint32) and the payload. Terminal bytes are not
 * text and not JSON, so they travel as they are.
 */
#ifndef TRAINCTL_FRAME_H
#define TRAINCTL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"

enum frame_type {
	FRAME_OUTPUT = 1, /* shim -> client: the job's terminal output */
	FRAME_INPUT = 2,  /* client -> shim: keystrokes */
	FRAME_RESIZE = 3, /* client -> shim: rows and cols, two little-endian uint16 */
	FRAME_EXIT = 4,   /* shim -> client: the job ended; payload is its exit record (JSON) */
};

#define FRAME_HEADER_SIZE 8
#define FRAME_MAX_PAYLOAD (1u << 20)

/* Append one frame to out. */
void frame_append(struct strbuf *out, enum frame_type type, const void *payload, size_t len);
/*
 * Take one complete frame from the front of in: returns 1 and sets *type,
 * *payload (a copy, caller frees) and *len; 0 when no complete frame is
 * buffered; -1 when the header is malformed (the peer is not speaking frames).
 */
int frame_take(struct strbuf *in, int *type, char **payload, size_t *len);

/* A RESIZE payload. */
void frame_resize_encode(unsigned rows, unsigned cols, char out[4]);
void frame_resize_decode(const char *payload, unsigned *rows, unsigned *cols);

#endif
