/* Unit tests for src/lib/proto.c: the newline-delimited JSON protocol. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "lib/proto.h"

static struct err clean_err(void)
{
	struct err err;

	memset(&err, 0, sizeof(err));
	return err;
}

static void test_request_and_replies(void **state)
{
	struct err e = clean_err();
	json_t *req = proto_request("stop");
	json_t *ok = proto_reply_ok();
	json_t *bad;

	(void)state;
	assert_non_null(req);
	assert_int_equal(json_integer_value(json_object_get(req, "v")), PROTO_VERSION);
	assert_string_equal(json_string_value(json_object_get(req, "op")), "stop");
	assert_true(json_is_true(json_object_get(ok, "ok")));
	assert_int_equal(json_integer_value(json_object_get(ok, "v")), PROTO_VERSION);

	e.usage = 1;
	strcpy(e.msg, "no job named 'x'");
	bad = proto_reply_error(&e);
	assert_int_equal(json_integer_value(json_object_get(bad, "v")), PROTO_VERSION);
	assert_true(json_is_false(json_object_get(bad, "ok")));
	assert_string_equal(json_string_value(json_object_get(bad, "error")), "no job named 'x'");
	assert_true(json_is_true(json_object_get(bad, "usage")));
	json_decref(req);
	json_decref(ok);
	json_decref(bad);
}

static void test_event(void **state)
{
	struct err e = clean_err();
	json_t *ev = proto_event("job-ended");
	json_t *back;
	char *line;

	(void)state;
	line = proto_encode(ev);
	assert_string_equal(line, "{\"v\":1,\"event\":\"job-ended\"}\n");
	back = proto_decode(line, strlen(line) - 1, &e);
	assert_non_null(back);
	assert_true(json_equal(ev, back));
	json_decref(back);
	free(line);
	json_decref(ev);
}

static void test_encode_exact(void **state)
{
	json_t *req = proto_request("ping");
	char *line;

	(void)state;
	line = proto_encode(req);
	assert_string_equal(line, "{\"v\":1,\"op\":\"ping\"}\n");
	free(line);
	json_decref(req);
}

static void test_encode_decode_round_trip(void **state)
{
	struct err e = clean_err();
	json_t *req = proto_request("stop");
	json_t *back;
	char *line;
	size_t len;

	(void)state;
	json_object_set_new(req, "jobs", json_pack("[s, s]", "sim", "line\nbreak"));
	json_object_set_new(req, "timeout_ms", json_integer(30000));
	json_object_set_new(req, "env", json_pack("{s:s}", "PATH", "/usr/bin:/bin"));
	json_object_set_new(req, "force", json_true());
	line = proto_encode(req);
	len = strlen(line);
	/* exactly one line: the embedded newline is escaped */
	assert_true(len > 1);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
	back = proto_decode(line, len - 1, &e);
	if (!back)
		fail_msg("decode failed: %s", e.msg);
	assert_true(json_equal(req, back));
	assert_string_equal(json_string_value(json_array_get(json_object_get(back, "jobs"), 1)),
			    "line\nbreak");
	json_decref(back);
	free(line);
	json_decref(req);
}

static void test_decode_uses_len_only(void **state)
{
	struct err e = clean_err();
	const char text[] = "{\"v\":1,\"op\":\"ls\"}GARBAGE";
	json_t *msg;

	(void)state;
	msg = proto_decode(text, strlen("{\"v\":1,\"op\":\"ls\"}"), &e);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "op")), "ls");
	json_decref(msg);
}

static void test_decode_version_mismatch(void **state)
{
	const char *lines[] = { "{\"v\":2,\"op\":\"ls\"}", "{\"v\":0}", "{\"op\":\"ls\",\"v\":99}" };
	const char *want[] = { "2", "0", "99" };

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct err e = clean_err();
		json_t *msg = proto_decode(lines[i], strlen(lines[i]), &e);

		assert_null(msg);
		if (!strstr(e.msg, "version"))
			fail_msg("no 'version' in: %s", e.msg);
		/* it names the peer's version */
		if (!strstr(e.msg, want[i]))
			fail_msg("no '%s' in: %s", want[i], e.msg);
		/* not the user's fault: a daemon/client mismatch */
		assert_int_equal(e.usage, 0);
	}
}

static void decode_usage_error(const char *line, const char *needle)
{
	struct err e = clean_err();
	json_t *msg = proto_decode(line, strlen(line), &e);

	if (msg)
		fail_msg("decoded \"%s\"", line);
	assert_int_equal(e.usage, 1);
	if (!strstr(e.msg, needle))
		fail_msg("no '%s' in the error for \"%s\": %s", needle, line, e.msg);
}

static void test_decode_bad_messages(void **state)
{
	(void)state;
	decode_usage_error("hello", "not JSON");
	decode_usage_error("", "not JSON");
	decode_usage_error("{\"v\":1", "not JSON");
	decode_usage_error("{\"v\":1} {}", "not JSON"); /* trailing data */
	decode_usage_error("[1,2,3]", "object");
	decode_usage_error("[{\"v\":1}]", "object");
	/* a bare scalar is refused too (jansson rejects it as a top-level value) */
	decode_usage_error("\"v\"", "malformed");
	decode_usage_error("42", "malformed");
	decode_usage_error("{\"op\":\"ls\"}", "\"v\"");     /* no version */
	decode_usage_error("{\"v\":\"1\",\"op\":\"ls\"}", "\"v\""); /* version not an integer */
	decode_usage_error("{\"v\":1.0}", "\"v\"");
}

static void test_decode_null_err(void **state)
{
	(void)state;
	assert_null(proto_decode("nope", 4, NULL));
	assert_null(proto_decode("{\"v\":7}", 7, NULL));
}

static void test_take_line_two_and_partial(void **state)
{
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();
	json_t *msg = NULL;

	(void)state;
	strbuf_addstr(&buf, "{\"v\":1,\"op\":\"a\"}\n{\"v\":1,\"op\":\"b\"}\n{\"v\":1,\"op\"");

	assert_int_equal(proto_take_line(&buf, &msg, &e), 1);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "op")), "a");
	json_decref(msg);
	assert_string_equal(buf.buf, "{\"v\":1,\"op\":\"b\"}\n{\"v\":1,\"op\"");

	msg = NULL;
	assert_int_equal(proto_take_line(&buf, &msg, &e), 1);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "op")), "b");
	json_decref(msg);

	/* the partial line stays, untouched */
	msg = (json_t *)0x1;
	assert_int_equal(proto_take_line(&buf, &msg, &e), 0);
	assert_ptr_equal(msg, (json_t *)0x1);
	assert_string_equal(buf.buf, "{\"v\":1,\"op\"");
	assert_int_equal(buf.len, strlen("{\"v\":1,\"op\""));

	/* complete it */
	strbuf_addstr(&buf, ":\"c\"}\n");
	msg = NULL;
	assert_int_equal(proto_take_line(&buf, &msg, &e), 1);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "op")), "c");
	json_decref(msg);
	assert_int_equal(buf.len, 0);
	assert_int_equal(proto_take_line(&buf, &msg, &e), 0);
	strbuf_release(&buf);
}

static void test_take_line_empty_buffer(void **state)
{
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();
	json_t *msg = NULL;

	(void)state;
	assert_int_equal(proto_take_line(&buf, &msg, &e), 0);
	assert_null(msg);
	strbuf_addstr(&buf, "x");
	strbuf_reset(&buf);
	assert_int_equal(proto_take_line(&buf, &msg, &e), 0);
	strbuf_release(&buf);
}

static void test_take_line_bad_line_is_consumed(void **state)
{
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();
	json_t *msg = (json_t *)0x1;

	(void)state;
	strbuf_addstr(&buf, "oops\n{\"v\":1,\"op\":\"ok\"}\n");
	assert_int_equal(proto_take_line(&buf, &msg, &e), 1);
	assert_null(msg);
	assert_int_equal(e.usage, 1);
	assert_non_null(strstr(e.msg, "not JSON"));
	/* the next line is still there and good */
	assert_int_equal(proto_take_line(&buf, &msg, &e), 1);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "op")), "ok");
	json_decref(msg);
	assert_int_equal(buf.len, 0);

	/* an empty line is a bad message too, not "no line" */
	strbuf_addstr(&buf, "\n");
	msg = (json_t *)0x1;
	assert_int_equal(proto_take_line(&buf, &msg, &e), 1);
	assert_null(msg);
	assert_int_equal(buf.len, 0);
	strbuf_release(&buf);
}

/* ---- over a socket ---- */

static int sv[2] = { -1, -1 };
static pid_t writer = -1;

static int setup_pair(void **state)
{
	struct timeval tv = { 10, 0 };

	(void)state;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* a test that goes wrong fails instead of hanging */
	return setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int teardown_pair(void **state)
{
	(void)state;
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	sv[0] = sv[1] = -1;
	if (writer > 0) {
		kill(writer, SIGKILL);
		while (waitpid(writer, NULL, 0) < 0 && errno == EINTR)
			;
		writer = -1;
	}
	return 0;
}

static void test_send_recv(void **state)
{
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();
	json_t *req = proto_request("status");
	json_t *got;

	(void)state;
	json_object_set_new(req, "jobs", json_pack("[i]", 12));
	assert_int_equal(proto_send(sv[1], req, &e), 0);
	got = proto_recv(sv[0], &buf, &e);
	if (!got)
		fail_msg("recv failed: %s", e.msg);
	assert_true(json_equal(req, got));
	assert_int_equal(buf.len, 0);
	json_decref(got);
	json_decref(req);
	strbuf_release(&buf);
}

static void test_send_to_closed_peer(void **state)
{
	struct err e = clean_err();
	json_t *req = proto_request("ping");
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;

	(void)state;
	/* every trainctl main ignores SIGPIPE; do the same here */
	assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
	close(sv[0]);
	sv[0] = -1;
	assert_int_equal(proto_send(sv[1], req, &e), -1);
	assert_non_null(strstr(e.msg, "cannot send"));
	assert_non_null(strstr(e.msg, strerror(EPIPE)));
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
	json_decref(req);
}

/* Bytes we wrote to fd that the peer has not read yet. */
static int unread_bytes(int fd)
{
	int n = -1;

	if (ioctl(fd, SIOCOUTQ, &n) < 0)
		return -1;
	return n;
}

/*
 * A child writes a message in two parts: the second only once we have read
 * the first, so proto_recv must join two reads. The second part also carries a
 * whole second message, which must stay in buf for the next call.
 */
static void test_recv_split_message(void **state)
{
	static const char part1[] = "{\"v\":1,\"op\":\"run\",\"argv\":[\"python\",";
	static const char part2[] = "\"train.py\"]}\n{\"v\":1,\"op\":\"next\"}\n";
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();
	json_t *msg;
	int status;

	(void)state;
	writer = fork();
	assert_true(writer >= 0);
	if (writer == 0) {
		struct timespec pause = { 0, 1000000 };
		int waited = 0;

		close(sv[0]);
		if (write(sv[1], part1, strlen(part1)) != (ssize_t)strlen(part1))
			_exit(1);
		/* wait (up to 10 s) until the parent has read all of part 1 */
		while (unread_bytes(sv[1]) != 0) {
			if (unread_bytes(sv[1]) < 0 || ++waited > 10000)
				_exit(2);
			nanosleep(&pause, NULL);
		}
		if (write(sv[1], part2, strlen(part2)) != (ssize_t)strlen(part2))
			_exit(3);
		_exit(0);
	}
	close(sv[1]);
	sv[1] = -1;

	msg = proto_recv(sv[0], &buf, &e);
	if (!msg)
		fail_msg("recv failed: %s", e.msg);
	assert_string_equal(json_string_value(json_object_get(msg, "op")), "run");
	assert_string_equal(json_string_value(json_array_get(json_object_get(msg, "argv"), 1)),
			    "train.py");
	json_decref(msg);
	/* the second message already arrived with part 2 */
	assert_string_equal(strbuf_str(&buf), "{\"v\":1,\"op\":\"next\"}\n");

	while (waitpid(writer, &status, 0) < 0 && errno == EINTR)
		;
	writer = -1;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* served from buf; the writer is gone, so any read would see EOF */
	msg = proto_recv(sv[0], &buf, &e);
	if (!msg)
		fail_msg("second recv failed: %s", e.msg);
	assert_string_equal(json_string_value(json_object_get(msg, "op")), "next");
	json_decref(msg);
	assert_int_equal(buf.len, 0);

	/* and now the end of the connection */
	e = clean_err();
	assert_null(proto_recv(sv[0], &buf, &e));
	assert_non_null(strstr(e.msg, "connection closed"));
	strbuf_release(&buf);
}

/* A peer that never ends its line is cut off at PROTO_MAX_LINE. */
static void test_recv_too_long(void **state)
{
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();

	(void)state;
	writer = fork();
	assert_true(writer >= 0);
	if (writer == 0) {
		static char chunk[65536];
		size_t sent = 0;

		close(sv[0]);
		memset(chunk, 'a', sizeof(chunk));
		chunk[0] = '{';
		while (sent <= PROTO_MAX_LINE + sizeof(chunk)) {
			ssize_t n = write(sv[1], chunk, sizeof(chunk));

			if (n <= 0)
				_exit(0); /* the reader gave up */
			sent += (size_t)n;
		}
		_exit(0);
	}
	close(sv[1]);
	sv[1] = -1;
	assert_null(proto_recv(sv[0], &buf, &e));
	if (!strstr(e.msg, "too long"))
		fail_msg("unexpected error: %s", e.msg);
	assert_true(buf.len <= PROTO_MAX_LINE);
	strbuf_release(&buf);
}

static void test_recv_eof_mid_message(void **state)
{
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();
	const char half[] = "{\"v\":1,\"op\"";

	(void)state;
	assert_int_equal(write(sv[1], half, strlen(half)), (ssize_t)strlen(half));
	close(sv[1]);
	sv[1] = -1;
	assert_null(proto_recv(sv[0], &buf, &e));
	assert_non_null(strstr(e.msg, "connection closed"));
	strbuf_release(&buf);
}

/*
 * A reply's text travels raw after its line, and comes back whole: newlines,
 * bytes that are not UTF-8, and a second reply right behind it.
 */
static void test_reply_text_raw(void **state)
{
	static const char text[] = "ID  COMMAND\n1   echo \"a\\b\"\n2   caf\xc3\n";
	struct strbuf out = STRBUF_INIT, buf = STRBUF_INIT;
	struct err e = clean_err();
	json_t *reply = proto_reply_ok(), *back;
	const char *nl;

	(void)state;
	json_object_set_new(reply, "text", json_stringn_nocheck(text, sizeof(text) - 1));
	json_object_set_new(reply, "finished", json_integer(3));
	proto_encode_reply(reply, &out);
	assert_null(json_object_get(reply, "text"));
	nl = memchr(out.buf, '\n', out.len);
	assert_non_null(nl);
	/* raw, not escaped: the table follows its line byte for byte */
	assert_int_equal(out.len - (size_t)(nl + 1 - out.buf), sizeof(text) - 1);
	assert_memory_equal(nl + 1, text, sizeof(text) - 1);
	json_decref(reply);
	reply = proto_reply_ok();
	proto_encode_reply(reply, &out); /* no text: a plain line */
	json_decref(reply);
	assert_int_equal(write(sv[1], out.buf, out.len), (ssize_t)out.len);

	back = proto_recv_reply(sv[0], &buf, &e);
	assert_non_null(back);
	assert_int_equal(json_string_length(json_object_get(back, "text")), sizeof(text) - 1);
	assert_memory_equal(json_string_value(json_object_get(back, "text")), text, sizeof(text) - 1);
	assert_null(json_object_get(back, "text_bytes"));
	assert_int_equal(json_integer_value(json_object_get(back, "finished")), 3);
	json_decref(back);
	back = proto_recv_reply(sv[0], &buf, &e);
	assert_non_null(back);
	assert_null(json_object_get(back, "text"));
	json_decref(back);
	strbuf_release(&out);
	strbuf_release(&buf);
}

/* A reply that announces more text than arrives, or a bad count, is an error. */
static void test_reply_text_cut_or_bad(void **state)
{
	static const char cut[] = "{\"v\":1,\"ok\":true,\"text_bytes\":10}\nabc";
	static const char bad[] = "{\"v\":1,\"ok\":true,\"text_bytes\":-1}\n";
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();

	(void)state;
	assert_int_equal(write(sv[1], bad, strlen(bad)), (ssize_t)strlen(bad));
	assert_null(proto_recv_reply(sv[0], &buf, &e));
	assert_non_null(strstr(e.msg, "text_bytes"));
	e = clean_err();
	assert_int_equal(write(sv[1], cut, strlen(cut)), (ssize_t)strlen(cut));
	close(sv[1]);
	sv[1] = -1;
	assert_null(proto_recv_reply(sv[0], &buf, &e));
	assert_non_null(strstr(e.msg, "connection closed"));
	strbuf_release(&buf);
}

static void test_recv_bad_version(void **state)
{
	struct strbuf buf = STRBUF_INIT;
	struct err e = clean_err();
	const char line[] = "{\"v\":2,\"op\":\"ls\"}\n";

	(void)state;
	assert_int_equal(write(sv[1], line, strlen(line)), (ssize_t)strlen(line));
	assert_null(proto_recv(sv[0], &buf, &e));
	assert_non_null(strstr(e.msg, "version"));
	assert_int_equal(buf.len, 0);
	strbuf_release(&buf);
}

/* ---- proto_reply_check ---- */

static void test_reply_check(void **state)
{
	struct err e = clean_err(), in = clean_err();
	json_t *reply;

	(void)state;
	reply = proto_reply_ok();
	assert_int_equal(proto_reply_check(reply, &e), 0);
	json_decref(reply);

	/* a usage error keeps its flag */
	snprintf(in.msg, sizeof(in.msg), "invalid duration 'x'");
	in.usage = 1;
	reply = proto_reply_error(&in);
	e = clean_err();
	assert_int_equal(proto_reply_check(reply, &e), -1);
	assert_string_equal(e.msg, "invalid duration 'x'");
	assert_int_equal(e.usage, 1);
	json_decref(reply);

	/* an ordinary error */
	snprintf(in.msg, sizeof(in.msg), "no job with id 7");
	in.usage = 0;
	reply = proto_reply_error(&in);
	e = clean_err();
	e.usage = 1; /* must be cleared */
	assert_int_equal(proto_reply_check(reply, &e), -1);
	assert_string_equal(e.msg, "no job with id 7");
	assert_int_equal(e.usage, 0);
	json_decref(reply);
}

static void test_reply_check_through_the_wire(void **state)
{
	struct err e = clean_err(), in = clean_err();
	json_t *reply, *back;
	char *line;

	(void)state;
	snprintf(in.msg, sizeof(in.msg), "unknown state \"x\"");
	in.usage = 1;
	reply = proto_reply_error(&in);
	line = proto_encode(reply);
	back = proto_decode(line, strlen(line) - 1, &e);
	assert_non_null(back);
	assert_int_equal(proto_reply_check(back, &e), -1);
	assert_string_equal(e.msg, "unknown state \"x\"");
	assert_int_equal(e.usage, 1);
	free(line);
	json_decref(back);
	json_decref(reply);
}

static void test_reply_check_odd_replies(void **state)
{
	struct err e = clean_err();
	json_t *reply;

	(void)state;
	reply = json_pack("{s:i, s:b}", "v", 1, "ok", 0);
	assert_int_equal(proto_reply_check(reply, &e), -1);
	assert_string_equal(e.msg, "request failed");
	assert_int_equal(e.usage, 0);
	json_decref(reply);

	reply = json_pack("{s:i, s:b, s:b}", "v", 1, "ok", 0, "usage", 1);
	e = clean_err();
	assert_int_equal(proto_reply_check(reply, &e), -1);
	assert_string_equal(e.msg, "bad request");
	assert_int_equal(e.usage, 1);
	json_decref(reply);

	/* "ok" missing is not success */
	reply = json_pack("{s:i}", "v", 1);
	e = clean_err();
	assert_int_equal(proto_reply_check(reply, &e), -1);
	json_decref(reply);

	/* a message with a literal % is not treated as a format */
	reply = json_pack("{s:i, s:b, s:s}", "v", 1, "ok", 0, "error", "disk 100%s full %d");
	e = clean_err();
	assert_int_equal(proto_reply_check(reply, &e), -1);
	assert_string_equal(e.msg, "disk 100%s full %d");
	json_decref(reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_and_replies),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_encode_exact),
		cmocka_unit_test(test_encode_decode_round_trip),
		cmocka_unit_test(test_decode_uses_len_only),
		cmocka_unit_test(test_decode_version_mismatch),
		cmocka_unit_test(test_decode_bad_messages),
		cmocka_unit_test(test_decode_null_err),
		cmocka_unit_test(test_take_line_two_and_partial),
		cmocka_unit_test(test_take_line_empty_buffer),
		cmocka_unit_test(test_take_line_bad_line_is_consumed),
		cmocka_unit_test_setup_teardown(test_send_recv, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_send_to_closed_peer, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_recv_split_message, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_recv_too_long, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_recv_eof_mid_message, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_recv_bad_version, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_reply_text_raw, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_reply_text_cut_or_bad, setup_pair, teardown_pair),
		cmocka_unit_test(test_reply_check),
		cmocka_unit_test(test_reply_check_through_the_wire),
		cmocka_unit_test(test_reply_check_odd_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
