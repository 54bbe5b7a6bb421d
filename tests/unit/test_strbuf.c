/* Unit tests for src/lib/strbuf.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"

static void test_init_is_empty(void **state)
{
	struct strbuf a = STRBUF_INIT;
	struct strbuf b;

	(void)state;
	strbuf_init(&b);
	assert_null(a.buf);
	assert_int_equal(a.len, 0);
	assert_int_equal(a.alloc, 0);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
	/* strbuf_str never returns NULL */
	assert_string_equal(strbuf_str(&a), "");
	assert_string_equal(strbuf_str(&b), "");
	/* releasing an untouched buffer is fine */
	strbuf_release(&a);
	strbuf_release(&b);
	assert_null(a.buf);
}

static void test_add_and_addstr(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_add(&sb, "hello", 5);
	assert_int_equal(sb.len, 5);
	assert_string_equal(sb.buf, "hello");
	assert_true(sb.alloc > sb.len);
	strbuf_addstr(&sb, ", world");
	assert_int_equal(sb.len, 12);
	assert_string_equal(strbuf_str(&sb), "hello, world");
	strbuf_addch(&sb, '!');
	assert_int_equal(sb.len, 13);
	assert_string_equal(sb.buf, "hello, world!");
	/* adding nothing keeps the text */
	strbuf_add(&sb, "", 0);
	assert_int_equal(sb.len, 13);
	assert_string_equal(sb.buf, "hello, world!");
	strbuf_release(&sb);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.alloc, 0);
}

static void test_add_binary_with_nul(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	const char data[] = { 'a', '\0', 'b' };

	(void)state;
	strbuf_add(&sb, data, sizeof(data));
	assert_int_equal(sb.len, 3);
	assert_memory_equal(sb.buf, data, 3);
	assert_int_equal(sb.buf[3], '\0');
	strbuf_release(&sb);
}

static void test_add_grows_large(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char chunk[1000];

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 100; i++)
		strbuf_add(&sb, chunk, sizeof(chunk));
	assert_int_equal(sb.len, 100000);
	assert_true(sb.alloc >= 100001);
	assert_int_equal(strlen(sb.buf), 100000);
	assert_int_equal(sb.buf[0], 'x');
	assert_int_equal(sb.buf[99999], 'x');
	strbuf_release(&sb);
}

static void test_addf(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char big[300];

	(void)state;
	strbuf_addf(&sb, "%d-%s", 42, "abc");
	assert_int_equal(sb.len, 6);
	assert_string_equal(sb.buf, "42-abc");
	strbuf_addf(&sb, "|%05.1f|%c", 3.14159, 'z');
	assert_string_equal(sb.buf, "42-abc|003.1|z");
	assert_int_equal(sb.len, strlen("42-abc|003.1|z"));
	/* an empty format adds nothing */
	strbuf_addf(&sb, "%s", "");
	assert_int_equal(sb.len, 14);
	/* a result longer than the first allocation */
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_addf(&sb, "[%s]", big);
	assert_int_equal(sb.len, 14 + 2 + 299);
	assert_int_equal(sb.buf[14], '[');
	assert_int_equal(sb.buf[15], 'y');
	assert_int_equal(sb.buf[14 + 1 + 299], ']');
	assert_int_equal(sb.buf[sb.len], '\0');
	strbuf_release(&sb);
}

static void test_addf_on_empty_buffer(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_addf(&sb, "%s", "");
	assert_int_equal(sb.len, 0);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_release(&sb);
}

static void test_consume(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_addstr(&sb, "line one\nline two\n");
	strbuf_consume(&sb, 9);
	assert_int_equal(sb.len, 9);
	assert_string_equal(sb.buf, "line two\n");
	strbuf_consume(&sb, 0);
	assert_string_equal(sb.buf, "line two\n");
	strbuf_consume(&sb, 5);
	assert_string_equal(sb.buf, "two\n");
	assert_int_equal(sb.len, 4);
	/* consuming everything (or more) empties it */
	strbuf_consume(&sb, 4);
	assert_int_equal(sb.len, 0);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_addstr(&sb, "abc");
	strbuf_consume(&sb, 100);
	assert_int_equal(sb.len, 0);
	assert_string_equal(strbuf_str(&sb), "");
	/* still usable afterwards */
	strbuf_addstr(&sb, "again");
	assert_string_equal(sb.buf, "again");
	strbuf_release(&sb);
}

static void test_consume_on_empty(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	strbuf_consume(&sb, 3);
	assert_int_equal(sb.len, 0);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_release(&sb);
}

static void test_detach(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char *s;

	(void)state;
	strbuf_addstr(&sb, "owned");
	s = strbuf_detach(&sb);
	assert_non_null(s);
	assert_string_equal(s, "owned");
	/* sb is reset and reusable, and no longer shares the memory */
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.alloc, 0);
	strbuf_addstr(&sb, "new");
	assert_string_equal(sb.buf, "new");
	assert_string_equal(s, "owned");
	assert_ptr_not_equal(s, sb.buf);
	free(s);
	strbuf_release(&sb);
}

static void test_detach_empty(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char *s;

	(void)state;
	s = strbuf_detach(&sb);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_null(sb.buf);
}

static void test_reset(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	size_t alloc;

	(void)state;
	strbuf_reset(&sb); /* on a never-used buffer */
	assert_int_equal(sb.len, 0);
	strbuf_addstr(&sb, "some text");
	alloc = sb.alloc;
	strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_non_null(sb.buf);
	assert_string_equal(sb.buf, "");
	assert_int_equal(sb.alloc, alloc); /* keeps its memory */
	strbuf_addstr(&sb, "xy");
	assert_string_equal(sb.buf, "xy");
	assert_int_equal(sb.len, 2);
	strbuf_release(&sb);
}

static void test_grow(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char *before;

	(void)state;
	strbuf_grow(&sb, 1000);
	assert_true(sb.alloc >= 1001);
	assert_int_equal(sb.len, 0);
	before = sb.buf;
	for (int i = 0; i < 1000; i++)
		strbuf_addch(&sb, 'a');
	assert_ptr_equal(sb.buf, before); /* no reallocation needed */
	assert_int_equal(sb.len, 1000);
	strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_empty),
		cmocka_unit_test(test_add_and_addstr),
		cmocka_unit_test(test_add_binary_with_nul),
		cmocka_unit_test(test_add_grows_large),
		cmocka_unit_test(test_addf),
		cmocka_unit_test(test_addf_on_empty_buffer),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_consume_on_empty),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_detach_empty),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
