/*
 * The control protocol between the CLI, the daemon and the shims:
 * newline-delimited JSON objects over a Unix stream socket. Every message
 * carries "v": PROTO_VERSION; a peer that sees another version rejects the
 * message with a clear error instead of guessing.
 *
 *   request  {"v":1,"op":"stop","jobs":["sim"],"timeout_ms":30000}
 *   reply    {"v":1,"ok":true,...}   or   {"v":1,"ok":false,"error":"...","usage":false}
 */
#ifndef TRAINCTL_PROTO_H
#define TRAINCTL_PROTO_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/strbuf.h"

#define PROTO_VERSION 1
/* The longest line we accept; a run request carries the caller's environment. */
#define PROTO_MAX_LINE (8 * 1024 * 1024)

json_t *proto_request(const char *op);
json_t *proto_reply_ok(void);
/* A one-way notice, {"v":1,"event":event}. */
json_t *proto_event(const char *event);
json_t *proto_reply_error(const struct err *err);

/* Serialize msg as one line (steals nothing). Returns a new string ending in "\n". */
char *proto_encode(const json_t *msg);
/*
 * A reply as it goes on the wire, appended to out: its line, then, when it
 * has a "text" string, that text raw, announced in the line by "text_bytes"
 * (a long text, such as ls's table, is neither escaped nor parsed as JSON).
 * The reply loses its "text".
 */
void proto_encode_reply(json_t *reply, struct strbuf *out);
/* Parse one line (without the "\n"); checks it is an object of our version. */
json_t *proto_decode(const char *line, size_t len, struct err *err);

/* Blocking send of one message on fd. */
int proto_send(int fd, const json_t *msg, struct err *err);
/*
 * Blocking receive of one message; buf keeps bytes read past the line for the
 * next call. Returns NULL with err filled (EOF gives "connection closed").
 */
json_t *proto_recv(int fd, struct strbuf *buf, struct err *err);
/* proto_recv() of a reply, with the raw text that follows it back in its "text". */
json_t *proto_recv_reply(int fd, struct strbuf *buf, struct err *err);
/*
 * Take one complete line out of buf if there is one: returns 1 and sets *msg
 * (NULL with err filled when the line is bad), or 0 when no line is complete.
 */
int proto_take_line(struct strbuf *buf, json_t **msg, struct err *err);

/* Turn a reply into 0, or -1 with err filled from its "error" and "usage". */
int proto_reply_check(const json_t *reply, struct err *err);

#endif
