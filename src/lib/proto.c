/* Newline-delimited JSON messages with a version; see proto.h. */
#include "lib/proto.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/sock.h"
#include "lib/xmalloc.h"

json_t *proto_request(const char *op)
{
	return json_pack("{s:i, s:s}", "v", PROTO_VERSION, "op", op);
}

json_t *proto_reply_ok(void)
{
	return json_pack("{s:i, s:b}", "v", PROTO_VERSION, "ok", 1);
}

json_t *proto_event(const char *event)
{
	return json_pack("{s:i, s:s}", "v", PROTO_VERSION, "event", event);
}

json_t *proto_reply_error(const struct err *err)
{
	return json_pack("{s:i, s:b, s:s, s:b}", "v", PROTO_VERSION, "ok", 0, "error", err->msg,
			 "usage", err->usage);
}

char *proto_encode(const json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	char *line;

	if (!text)
		fatal("cannot encode a message");
	line = xasprintf("%s\n", text);
	free(text);
	return line;
}

void proto_encode_reply(json_t *reply, struct strbuf *out)
{
	json_t *text = json_incref(json_object_get(reply, "text"));
	char *line;

	if (json_is_string(text)) {
		json_object_del(reply, "text");
		json_object_set_new(reply, "text_bytes", json_integer((json_int_t)json_string_length(text)));
	}
	line = proto_encode(reply);
	strbuf_addstr(out, line);
	free(line);
	if (json_is_string(text))
		strbuf_add(out, json_string_value(text), json_string_length(text));
	json_decref(text);
}

json_t *proto_decode(const char *line, size_t len, struct err *err)
{
	json_error_t jerr;
	json_t *msg = json_loadb(line, len, 0, &jerr);
	json_t *v;

	if (!msg) {
		err_usage(err, "malformed request: not JSON (%s)", jerr.text);
		return NULL;
	}
	v = json_object_get(msg, "v");
	if (!json_is_object(msg) || !json_is_integer(v)) {
		err_usage(err, "malformed request: expected a JSON object with a protocol version \"v\"");
		json_decref(msg);
		return NULL;
	}
	if (json_integer_value(v) != PROTO_VERSION) {
		err_set(err, "protocol version mismatch: peer speaks %lld, we speak %d "
			     "(restart the daemon with 'trainctl daemon stop' after an upgrade)",
			(long long)json_integer_value(v), PROTO_VERSION);
		json_decref(msg);
		return NULL;
	}
	return msg;
}

int proto_send(int fd, const json_t *msg, struct err *err)
{
	char *line = proto_encode(msg);
	int ret = write_all(fd, line, strlen(line));

	free(line);
	if (ret < 0)
		return err_errno(err, "cannot send to the daemon");
	return 0;
}

int proto_take_line(struct strbuf *buf, json_t **msg, struct err *err)
{
	char *nl = buf->len ? memchr(buf->buf, '\n', buf->len) : NULL;
	size_t len;

	if (!nl)
		return 0;
	len = (size_t)(nl - buf->buf);
	*msg = proto_decode(buf->buf, len, err);
	strbuf_consume(buf, len + 1);
	return 1;
}

/* Read more of the daemon's output into buf: 0, or -1 with err filled. */
static int recv_more(int fd, struct strbuf *buf, struct err *err)
{
	char chunk[65536];
	ssize_t n;

	do
		n = read(fd, chunk, sizeof(chunk));
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n < 0)
			err_errno(err, "cannot read from the daemon");
		else
			err_set(err, "connection closed by the daemon");
		if (err)
			err->disconnected = 1;
		return -1;
	}
	if (buf->len + (size_t)n > PROTO_MAX_LINE)
		return err_set(err, "message too long");
	strbuf_add(buf, chunk, (size_t)n);
	return 0;
}

json_t *proto_recv(int fd, struct strbuf *buf, struct err *err)
{
	json_t *msg = NULL;

	while (!proto_take_line(buf, &msg, err)) {
		if (recv_more(fd, buf, err) < 0)
			return NULL;
	}
	return msg;
}

json_t *proto_recv_reply(int fd, struct strbuf *buf, struct err *err)
{
	json_t *reply = proto_recv(fd, buf, err);
	json_t *bytes = json_object_get(reply, "text_bytes");
	json_int_t want = json_integer_value(bytes);

	if (!bytes)
		return reply;
	if (!json_is_integer(bytes) || want < 0 || want > PROTO_MAX_LINE) {
		err_set(err, "malformed reply: bad \"text_bytes\"");
		json_decref(reply);
		return NULL;
	}
	while (buf->len < (size_t)want) {
		if (recv_more(fd, buf, err) < 0) {
			json_decref(reply);
			return NULL;
		}
	}
	/* Not checked as UTF-8: a table's last column may be cut inside a character. */
	json_object_set_new(reply, "text", json_stringn_nocheck(buf->buf, (size_t)want));
	json_object_del(reply, "text_bytes");
	strbuf_consume(buf, (size_t)want);
	return reply;
}

int proto_reply_check(const json_t *reply, struct err *err)
{
	const char *msg;

	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	msg = json_string_value(json_object_get(reply, "error"));
	if (json_is_true(json_object_get(reply, "usage")))
		return err_usage(err, "%s", msg ? msg : "bad request");
	return err_set(err, "%s", msg ? msg : "request failed");
}
