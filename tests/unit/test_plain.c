/*
 * Unit tests for src/lib/plain.c, the `log --plain` filter. The captures are
 * real: tqdm 4.64 (plain, coloured, leave=False) and GNU grep and ls with
 * --color=always, each run under a pseudo-terminal, so lines end in "\r\n"
 * as in a job's log. Every capture is also fed split at every byte, and one
 * byte at a time, and must come out the same.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/plain.h"
#include "lib/strbuf.h"

/* tqdm's bar characters, UTF-8. */
#define FULL "\342\226\210"         /* U+2588 full block */
#define HALF "\342\226\214"         /* U+258C left half block */
#define QUARTER "\342\226\216"      /* U+258E left one quarter block */
#define FIVE_EIGHTHS "\342\226\213" /* U+258B left five eighths block */
#define FULL6 FULL FULL FULL FULL FULL FULL
#define FULL18 FULL6 FULL6 FULL6

/* for i in tqdm(range(4), desc="train", ncols=60, mininterval=0); print("done") */
static const char TQDM_BASIC[] =
	"\r"
	"train:   0%|                          | 0/4 [00:00<?, ?it/s]\r"
	"train:  25%|" FULL FULL FULL FULL HALF
	"             | 1/4 [00:00<00:00, 49.52it/s]\r"
	"train:  50%|" FULL FULL FULL FULL FULL FULL FULL FULL FULL
	"         | 2/4 [00:00<00:00, 49.02it/s]\r"
	"train:  75%|" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	HALF "    | 3/4 [00:00<00:00, 48.78it/s]\r"
	"train: 100%|" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	FULL FULL FULL FULL FULL "| 4/4 [00:00<00:00, 48.74it/s]\r"
	"train: 100%|" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	FULL FULL FULL FULL FULL "| 4/4 [00:00<00:00, 48.55it/s]\r\n"
	"done\r\n";

/* tqdm(range(3), desc="eval", ..., colour="green"); print("\x1b[1;32mok\x1b[0m") */
static const char TQDM_COLOUR[] =
	"\r"
	"eval:   0%|\033[32m                           \033[0m| 0/3 [00:00<?, ?it/s]\033[0m\r"
	"eval:  33%|\033[32m" FULL FULL FULL FULL FULL FULL QUARTER
	"            \033[0m| 1/3 [00:00<00:00, 49.71it/s]\033[0m\r"
	"eval:  67%|\033[32m" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	FIVE_EIGHTHS "      \033[0m| 2/3 [00:00<00:00, 49.13it/s]\033[0m\r"
	"eval: 100%|\033[32m" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	FULL FULL FULL FULL FULL FULL FULL
	"\033[0m| 3/3 [00:00<00:00, 48.82it/s]\033[0m\r"
	"eval: 100%|\033[32m" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	FULL FULL FULL FULL FULL FULL FULL
	"\033[0m| 3/3 [00:00<00:00, 48.60it/s]\033[0m\r\n"
	"\033[1;32mok\033[0m\r\n";

/* print("start"); tqdm(range(3), ncols=50, mininterval=0, leave=False); print("after") */
static const char TQDM_LEAVE[] =
	"start\r\n"
	"\r"
	"  0%|                       | 0/3 [00:00<?, ?it/s]\r"
	" 33%|" FULL FULL FULL FULL FULL "          | 1/3 [00:00<00:00, 49.70it/s]\r"
	" 67%|" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	"     | 2/3 [00:00<00:00, 49.26it/s]\r"
	"100%|" FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL FULL
	"| 3/3 [00:00<00:00, 49.06it/s]\r"
	"                                                  \r"
	"after\r\n";

/* grep --color=always -H x f.txt; ls --color=always -d /tmp */
static const char GREPLS[] =
	"\033[35m\033[Kf.txt\033[m\033[K\033[36m\033[K:\033[m\033[K"
	"\033[01;31m\033[Kx\033[m\033[K\r\n"
	"\033[0m\033[30;42m/tmp\033[0m\r\n";


/* What the filter handed over: each line and where it began. */
struct capture {
	struct strbuf text; /* the lines, each ended with '\n' */
	uint64_t starts[16];
	size_t lines;
};

static void capture_line(void *data, const char *line, size_t len, uint64_t start)
{
	struct capture *c = data;

	strbuf_add(&c->text, line, len);
	strbuf_addch(&c->text, '\n');
	if (c->lines < sizeof(c->starts) / sizeof(c->starts[0]))
		c->starts[c->lines] = start;
	c->lines++;
}

/* Feed the chunks given as (pointer, length) pairs, ended by NULL; then finish. */
static void run_chunks(struct capture *c, ...)
{
	struct plain_filter f;
	const char *chunk;
	va_list ap;

	memset(c, 0, sizeof(*c));
	plain_filter_init(&f, capture_line, c);
	va_start(ap, c);
	while ((chunk = va_arg(ap, const char *)) != NULL)
		plain_filter_feed(&f, chunk, va_arg(ap, size_t));
	va_end(ap);
	plain_filter_finish(&f);
	plain_filter_release(&f);
}

#define CHUNK(s) (s), strlen(s)

static char *plain_of(const char *s, size_t len)
{
	struct strbuf out = STRBUF_INIT;

	plain_text(s, len, &out);
	return strbuf_detach(&out);
}

static void assert_plain(const char *in, const char *want)
{
	char *got = plain_of(in, strlen(in));

	assert_string_equal(got, want);
	free(got);
}

static void test_tqdm_bar_prints_its_final_state_once(void **state)
{
	(void)state;
	assert_plain(TQDM_BASIC, "train: 100%|" FULL18 "| 4/4 [00:00<00:00, 48.55it/s]\n"
				 "done\n");
}

static void test_tqdm_colours_are_stripped(void **state)
{
	(void)state;
	assert_plain(TQDM_COLOUR, "eval: 100%|" FULL18 FULL "| 3/3 [00:00<00:00, 48.60it/s]\n"
				  "ok\n");
}

/* leave=False blanks the bar with spaces and a '\r'; the next line draws over it. */
static void test_tqdm_leave_false_disappears(void **state)
{
	(void)state;
	assert_plain(TQDM_LEAVE, "start\nafter\n");
}

static void test_grep_and_ls_colours(void **state)
{
	(void)state;
	assert_plain(GREPLS, "f.txt:x\n/tmp\n");
}

static void test_line_ends_and_redraws(void **state)
{
	(void)state;
	assert_plain("", "");
	assert_plain("a\nb\n", "a\nb\n");              /* --no-pty: plain '\n' */
	assert_plain("a\r\nb\r\n", "a\nb\n");          /* the PTY's "\r\n" */
	assert_plain("\n\r\n\n", "\n\n\n");            /* empty lines stay */
	assert_plain("10%\r50%\r100%\n", "100%\n");    /* a redraw, then '\n' */
	assert_plain("\r20%\r40%\r100%\r\ndone\r\n", "100%\ndone\n");
	assert_plain("abc\r\r\n", "abc\n");            /* '\r's with nothing after erase nothing */
	assert_plain("long text\rshort\n", "short\n"); /* the last redraw, not an overlay */
	assert_plain("\rx\r\033[K\n", "\n");           /* redrawn as an erased line */
	assert_plain("\033]0;epoch 3\007Epoch 3\r\n", "Epoch 3\n"); /* OSC: a window title */
	assert_plain("tab\there\r\n", "tab\there\n");
}

static void test_unfinished_last_line(void **state)
{
	(void)state;
	assert_plain("a\nb", "a\nb\n");
	assert_plain("a\n50%\r", "a\n50%\n");        /* a trailing '\r' erases nothing */
	assert_plain("a\n50%\r100%", "a\n100%\n");
	assert_plain("a\n\033[0m", "a\n");           /* only escapes: no line */
	assert_plain("a\n\r", "a\n");
}

/* Every split of every capture, and one byte at a time, gives the same text. */
static void check_splits(const char *in)
{
	size_t len = strlen(in);
	char *want = plain_of(in, len);
	struct plain_filter f;
	struct capture c;

	for (size_t i = 0; i <= len; i++) {
		run_chunks(&c, in, i, in + i, len - i, (const char *)NULL);
		assert_string_equal(strbuf_str(&c.text), want);
		strbuf_release(&c.text);
	}
	memset(&c, 0, sizeof(c));
	plain_filter_init(&f, capture_line, &c);
	for (size_t i = 0; i < len; i++)
		plain_filter_feed(&f, in + i, 1);
	plain_filter_finish(&f);
	plain_filter_release(&f);
	assert_string_equal(strbuf_str(&c.text), want);
	strbuf_release(&c.text);
	free(want);
}

static void test_chunk_boundaries_anywhere(void **state)
{
	(void)state;
	check_splits(TQDM_BASIC);
	check_splits(TQDM_COLOUR);
	check_splits(TQDM_LEAVE);
	check_splits(GREPLS);
	check_splits("a\r\nb\r\r\nc\rd\n\033]0;t\007e\033[1;2;3mf\r");
}

/* The cut falls inside an escape sequence and between '\r' and '\n'. */
static void test_cut_inside_escape_and_crlf(void **state)
{
	struct capture c;

	(void)state;
	run_chunks(&c, CHUNK("\033[3"), CHUNK("2mred\033"), CHUNK("[0m\r"), CHUNK("\nnext\r"),
		   CHUNK("\n"), (const char *)NULL);
	assert_string_equal(strbuf_str(&c.text), "red\nnext\n");
	assert_int_equal(c.lines, 2);
	strbuf_release(&c.text);
}

/* A line's start is where its shown text began: after the last '\r' of a redraw. */
static void test_line_starts(void **state)
{
	const char *last = strstr(TQDM_BASIC, "\r\ndone");
	struct capture c;

	(void)state;
	while (last > TQDM_BASIC && last[-1] != '\r')
		last--;
	run_chunks(&c, TQDM_BASIC, (size_t)40, TQDM_BASIC + 40, strlen(TQDM_BASIC) - 40, (const char *)NULL);
	assert_int_equal(c.lines, 2);
	assert_int_equal(c.starts[0], (uint64_t)(last - TQDM_BASIC));
	assert_int_equal(c.starts[1], (uint64_t)(strstr(TQDM_BASIC, "done") - TQDM_BASIC));
	strbuf_release(&c.text);

	run_chunks(&c, CHUNK("ab\n"), CHUNK("\ncd\rxy"), CHUNK("z\r\n"), CHUNK("tail"), (const char *)NULL);
	assert_string_equal(strbuf_str(&c.text), "ab\n\nxyz\ntail\n");
	assert_int_equal(c.lines, 4);
	assert_int_equal(c.starts[0], 0);
	assert_int_equal(c.starts[1], 3);
	assert_int_equal(c.starts[2], 7);  /* "xy" after "cd\r" */
	assert_int_equal(c.starts[3], 12); /* "tail", after "z\r\n" */
	strbuf_release(&c.text);
}

/* A line that never ends is handed over in pieces, without a blank line after. */
static void test_endless_line_in_pieces(void **state)
{
	size_t len = PLAIN_LINE_MAX + 100;
	char *big = malloc(len);
	struct capture c;

	(void)state;
	memset(big, 'x', len);
	run_chunks(&c, big, (size_t)PLAIN_LINE_MAX - 1, big, (size_t)1, CHUNK("\n"), big,
		   len, CHUNK("y\r\n"), (const char *)NULL);
	assert_int_equal(c.lines, 3);
	/* the piece, then the next, then the rest, "y", as a line of its own */
	assert_int_equal(c.text.len, PLAIN_LINE_MAX + 1 + len + 1 + 2);
	assert_int_equal(c.text.buf[PLAIN_LINE_MAX], '\n');
	assert_string_equal(c.text.buf + c.text.len - 3, "\ny\n");
	strbuf_release(&c.text);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tqdm_bar_prints_its_final_state_once),
		cmocka_unit_test(test_tqdm_colours_are_stripped),
		cmocka_unit_test(test_tqdm_leave_false_disappears),
		cmocka_unit_test(test_grep_and_ls_colours),
		cmocka_unit_test(test_line_ends_and_redraws),
		cmocka_unit_test(test_unfinished_last_line),
		cmocka_unit_test(test_chunk_boundaries_anywhere),
		cmocka_unit_test(test_cut_inside_escape_and_crlf),
		cmocka_unit_test(test_line_starts),
		cmocka_unit_test(test_endless_line_in_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
