/*
 * Unit tests for src/lib/progress.c: every built-in format with captured
 * lines, the user's regex, the stream cut into lines (split reads, '\r'
 * redraws, escape sequences, an endless line), the rank rule, and the rate
 * and ETA computed from the time passed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/progress.h"

#define T0 1700000000000LL /* a wall-clock time in ms, as the shim passes */

#define assert_near(a, b) near_check((a), (b), #a, __FILE__, __LINE__)

static void near_check(double got, double want, const char *what, const char *file, int line)
{
	double scale = fabs(want) > 1 ? fabs(want) : 1;

	if (fabs(got - want) > 1e-9 * scale)
		fail_msg("%s:%d: %s is %.12g, expected %.12g", file, line, what, got, want);
}

static struct progress_parser *parser_new(const char *regex, double total)
{
	struct err err = { 0 };
	struct progress_parser *p = progress_parser_new(regex, total, &err);

	if (!p)
		fail_msg("progress_parser_new failed: %s", err.msg);
	return p;
}

static int feed(struct progress_parser *p, const char *s, int64_t now_ms)
{
	return progress_parser_feed(p, s, strlen(s), now_ms);
}

/* The whole progress, one field at a time. */
static void expect(const struct progress_parser *p, double current, double total, double ratio,
		   double rate, double eta, const char *unit, const char *format)
{
	const struct progress *pr = progress_parser_get(p);

	assert_int_equal(pr->valid, 1);
	assert_near(pr->current, current);
	assert_near(pr->total, total);
	assert_near(pr->ratio, ratio);
	assert_near(pr->rate, rate);
	assert_near(pr->eta_seconds, eta);
	assert_string_equal(pr->unit, unit);
	assert_string_equal(pr->format, format);
}

/* One line into a fresh parser must read as given. */
static void line_expect(const char *line, double total_arg, double current, double total,
			double ratio, double rate, double eta, const char *unit, const char *format)
{
	struct progress_parser *p = parser_new(NULL, total_arg);

	if (progress_parse_line(p, line, T0) != 1)
		fail_msg("not read: \"%s\"", line);
	expect(p, current, total, ratio, rate, eta, unit, format);
	assert_int_equal(progress_parser_get(p)->updated_ms, T0);
	progress_parser_free(p);
}

/* ---- the parser's life ---- */

static void test_new_is_empty(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);
	const struct progress *pr = progress_parser_get(p);

	(void)state;
	assert_int_equal(pr->valid, 0);
	assert_near(pr->ratio, -1);
	assert_near(pr->rate, 0);
	assert_near(pr->eta_seconds, -1);
	assert_int_equal(feed(p, "", T0), 0);
	assert_int_equal(progress_parser_feed(p, NULL, 0, T0), 0);
	assert_int_equal(pr->valid, 0);
	progress_parser_free(p);
	progress_parser_free(NULL);
}

/* ---- epoch lines ---- */

static void test_epoch_train_sim(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "Epoch 3/60 loss=2.1601\n", T0), 1);
	expect(p, 3, 60, 0.05, 0, -1, "epoch", "epoch");
	assert_int_equal(progress_parser_get(p)->updated_ms, T0);
	/* the same line again changes nothing */
	assert_int_equal(feed(p, "Epoch 3/60 loss=2.1601\n", T0 + 100), 0);
	assert_int_equal(progress_parser_get(p)->updated_ms, T0);
	assert_int_equal(feed(p, "Epoch 4/60 loss=2.0377\n", T0 + 200), 1);
	expect(p, 4, 60, 4.0 / 60, 0, -1, "epoch", "epoch");
	assert_int_equal(progress_parser_get(p)->updated_ms, T0 + 200);
	progress_parser_free(p);
}

static void test_epoch_spellings(void **state)
{
	(void)state;
	line_expect("Epoch 3/10", 0, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	line_expect("epoch: 3/10", 0, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	line_expect("Epoch [3/10] loss: 0.2231", 0, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	line_expect("Epoch: [4/10]", 0, 4, 10, 0.4, 0, -1, "epoch", "epoch");
	line_expect("EPOCH 3 / 10", 0, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	line_expect("epoch 3 of 10, val_acc=0.91", 0, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	line_expect("[rank0] Epoch 12/12 done", 0, 12, 12, 1, 0, -1, "epoch", "epoch");
	/* past the total: the ratio stops at 1 */
	line_expect("Epoch 11/10", 0, 11, 10, 1, 0, -1, "epoch", "epoch");
	/* the line's total wins over --progress-total */
	line_expect("Epoch 3/10", 50, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	/* a description that is an epoch counter makes the bar an epoch line */
	line_expect("Epoch 2/5:  45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s]", 0, 2, 5, 0.4, 0,
		    -1, "epoch", "epoch");
}

static void test_keras(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "Epoch 3/10\n", T0), 1);
	expect(p, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	/* the step bar, redrawn with '\r', is not a format of ours */
	assert_int_equal(feed(p,
			      "\r 12/469 [>.............................] - ETA: 5s - loss: 0.3012",
			      T0 + 100),
			 0);
	assert_int_equal(
		feed(p, "\r469/469 [==============================] - 2s 4ms/step - loss: 0.2\n",
		     T0 + 2000),
		0);
	expect(p, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	assert_int_equal(progress_parser_get(p)->updated_ms, T0);
	progress_parser_free(p);
}

/* ---- tqdm ---- */

static void test_tqdm_bar(void **state)
{
	(void)state;
	line_expect(" 45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s]", 0, 450, 1000, 0.45, 44.1,
		    12, "it", "tqdm");
	line_expect("train:  45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s, loss=0.312, lr=1e-4]",
		    0, 450, 1000, 0.45, 44.1, 12, "it", "tqdm");
	line_expect("450/1000 [00:10<00:12, 44.1it/s]", 0, 450, 1000, 0.45, 44.1, 12, "it", "tqdm");
	/* the first draw: no rate and no ETA yet */
	line_expect("  0%|          | 0/1000 [00:00<?, ?it/s]", 0, 0, 1000, 0, 0, -1, "it", "tqdm");
	/* a custom unit */
	line_expect("batches: 100%|██████████| 64/64 [00:03<00:00, 20.5batch/s]", 0, 64, 64, 1,
		    20.5, 0, "batch", "tqdm");
}

static void test_tqdm_seconds_per_it(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	line_expect("  3%|▎         | 3/100 [00:07<04:02, 2.50s/it]", 0, 3, 100, 0.03, 0.4, 242,
		    "it", "tqdm");
	/* a read cut inside the rate is not a unit "i" */
	assert_int_equal(feed(p, "\r  3%|▎         | 3/100 [00:07<04:02, 2.50s/i", T0), 0);
	assert_int_equal(progress_parser_get(p)->valid, 0);
	assert_int_equal(feed(p, "t]", T0 + 1), 1);
	expect(p, 3, 100, 0.03, 0.4, 242, "it", "tqdm");
	progress_parser_free(p);
}

static void test_tqdm_si_counts(void **state)
{
	(void)state;
	line_expect("train:  12%|█▏        | 1.2k/10.0k [00:10<01:13, 120it/s]", 0, 1200, 10000,
		    0.12, 120, 73, "it", "tqdm");
	line_expect(" 50%|█████     | 5.00k/10.0k [00:04<00:04, 1.20kit/s]", 0, 5000, 10000, 0.5,
		    1200, 4, "it", "tqdm");
	line_expect("12.3MB/100MB [00:01<00:07, 12.3MB/s]", 0, 12.3e6, 100e6, 0.123, 12.3e6, 7, "B",
		    "tqdm");
	/* huggingface_hub downloads: the unit is only in the rate */
	line_expect("model.safetensors:  12%|█▏        | 12.3M/100M [00:01<00:07, 12.3MB/s]", 0,
		    12.3e6, 100e6, 0.123, 12.3e6, 7, "B", "tqdm");
	line_expect(" 50%|█████     | 2.1G/4.2G [01:00<01:00, 35.0MB/s]", 0, 2.1e9, 4.2e9, 0.5,
		    35e6, 60, "B", "tqdm");
}

static void test_tqdm_hours_eta(void **state)
{
	(void)state;
	line_expect("  1%|          | 100/10000 [00:30<2:45:00, 1.00it/s]", 0, 100, 10000, 0.01, 1,
		    9900, "it", "tqdm");
	line_expect(" 10%|█         | 1000/10000 [1:00:00<9:00:00, 0.28it/s]", 0, 1000, 10000, 0.1,
		    0.28, 32400, "it", "tqdm");
}

static void test_tqdm_unknown_total(void **state)
{
	(void)state;
	line_expect("450it [00:10, 44.1it/s]", 0, 450, 0, -1, 44.1, -1, "it", "tqdm");
	/* --progress-total fills in the total; the ETA then follows from the line's rate */
	line_expect("450it [00:10, 44.1it/s]", 1000, 450, 1000, 0.45, 44.1, 550 / 44.1, "it",
		    "tqdm");
}

static const char tqdm_stream[] = "\r  0%|          | 0/1000 [00:00<?, ?it/s]"
				  "\r 10%|█         | 100/1000 [00:02<00:18, 49.8it/s]"
				  "\r 20%|██        | 200/1000 [00:04<00:16, 50.0it/s]";

static void test_tqdm_stream_one_feed(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	/* three redraws in one read: the last one is the unterminated tail */
	assert_int_equal(feed(p, tqdm_stream, T0), 1);
	expect(p, 200, 1000, 0.2, 50, 16, "it", "tqdm");
	/* its terminator, with the next redraw, does not read it again */
	assert_int_equal(feed(p, "\r", T0 + 50), 0);
	assert_int_equal(progress_parser_get(p)->updated_ms, T0);
	assert_int_equal(feed(p, "\r 20%|██        | 200/1000 [00:04<00:16, 50.0it/s]\n", T0 + 60),
			 0);
	assert_int_equal(feed(p, "100%|██████████| 1000/1000 [00:20<00:00, 50.0it/s]\n", T0 + 100),
			 1);
	expect(p, 1000, 1000, 1, 50, 0, "it", "tqdm");
	progress_parser_free(p);
}

static void test_tqdm_stream_split(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "\r  0%|          | 0/1000 [00:00<?, ?it/s]\r 10%|█    ", T0), 1);
	expect(p, 0, 1000, 0, 0, -1, "it", "tqdm");
	/* cut inside a UTF-8 block and inside the count: "1" then "00/1000" */
	assert_int_equal(feed(p, "\xe2\x96", T0 + 1), 0);
	assert_int_equal(feed(p, "\x88     | 1", T0 + 2), 0);
	assert_int_equal(feed(p, "00/10", T0 + 3), 0); /* not a total of 10 */
	assert_int_equal(progress_parser_get(p)->total, 1000);
	assert_int_equal(feed(p, "00 [00:02<00:1", T0 + 4), 0); /* not an ETA of 1 s */
	assert_int_equal(feed(p, "8, 49.8it/", T0 + 5), 0);
	assert_int_equal(feed(p, "s]", T0 + 6), 1);
	expect(p, 100, 1000, 0.1, 49.8, 18, "it", "tqdm");
	assert_int_equal(progress_parser_get(p)->updated_ms, T0 + 6);
	/* cut between '\r' and '\n': one end of line, read once */
	assert_int_equal(feed(p, "\r", T0 + 7), 0);
	assert_int_equal(feed(p, "\n 20%|██        | 200/1000 [00:04<00:16, 50.0it/s]\r", T0 + 8),
			 1);
	expect(p, 200, 1000, 0.2, 50, 16, "it", "tqdm");
	assert_int_equal(feed(p, "\n", T0 + 9), 0);
	assert_int_equal(progress_parser_get(p)->updated_ms, T0 + 8);
	progress_parser_free(p);
}

/* The same stream cut at every byte gives the same result as one read. */
static void test_tqdm_stream_every_cut(void **state)
{
	size_t len = strlen(tqdm_stream);

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		struct progress_parser *p = parser_new(NULL, 0);

		progress_parser_feed(p, tqdm_stream, cut, T0);
		progress_parser_feed(p, tqdm_stream + cut, len - cut, T0 + 1);
		expect(p, 200, 1000, 0.2, 50, 16, "it", "tqdm");
		/* never a wrong total on the way */
		assert_near(progress_parser_get(p)->total, 1000);
		progress_parser_free(p);
	}
}

/*
 * Lines that cannot match are passed over in bulk: an epoch line among many
 * data lines, cut at every byte between two reads, is still read, and so is
 * the last one when the mark is split between reads ("Ep" | "och").
 */
static void test_epoch_among_noise_every_cut(void **state)
{
	static const char noise[] = "000000000000017 abcdefghijklmnopqrstuvwxyz\r\n";
	char stream[2048] = "";
	size_t len;

	(void)state;
	for (int i = 0; i < 10; i++)
		strcat(stream, noise);
	strcat(stream, "Epoch 3/10 loss 0.5\n");
	for (int i = 0; i < 10; i++)
		strcat(stream, noise);
	strcat(stream, "Epoch 4/10 loss 0.4\n");
	strcat(stream, noise);
	len = strlen(stream);
	for (size_t cut = 0; cut <= len; cut++) {
		struct progress_parser *p = parser_new(NULL, 0);

		progress_parser_feed(p, stream, cut, T0);
		progress_parser_feed(p, stream + cut, len - cut, T0 + 1);
		assert_int_equal(progress_parser_get(p)->valid, 1);
		assert_near(progress_parser_get(p)->current, 4);
		assert_near(progress_parser_get(p)->total, 10);
		progress_parser_free(p);
	}
}

/* "epoch" is found at every offset, in every case, wherever the vector steps fall. */
static void test_epoch_at_every_offset(void **state)
{
	static const char *const words[] = { "epoch", "Epoch", "EPOCH", "ePoCh" };
	char line[128];

	(void)state;
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		for (int pad = 0; pad < 40; pad++) {
			struct progress_parser *p = parser_new(NULL, 0);

			snprintf(line, sizeof(line), "%.*s %s 2/5\n", pad,
				 "ppoocchh pocx pohc Pocc poCx ppppoooocccchhhh", words[w]);
			feed(p, line, T0);
			assert_int_equal(progress_parser_get(p)->valid, 1);
			assert_near(progress_parser_get(p)->current, 2);
			progress_parser_free(p);
		}
	}
}

static void test_tqdm_ansi(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	/* tqdm(colour="green") colours the bar */
	assert_int_equal(feed(p,
			      "\r\033[32m 45%|\033[32m████▌     \033[0m| 450/1000 "
			      "[00:10<00:12, 44.1it/s]\033[0m",
			      T0),
			 1);
	expect(p, 450, 1000, 0.45, 44.1, 12, "it", "tqdm");
	/* an escape sequence cut in two does not hide the bar */
	assert_int_equal(feed(p,
			      "\r\033[1;32m 46%|████▌     | 460/1000 [00:10<00:12, 44.2it/s]\033[",
			      T0 + 1),
			 1);
	expect(p, 460, 1000, 0.46, 44.2, 12, "it", "tqdm");
	assert_int_equal(feed(p, "0m\n", T0 + 2), 0);
	/* and progress_parse_line strips them too */
	assert_int_equal(progress_parse_line(p,
					     "\033[2K\033[36mval\033[0m: 47%| | 470/1000 "
					     "[00:11<00:12, 44.3it/s]",
					     T0 + 3),
			 1);
	expect(p, 470, 1000, 0.47, 44.3, 12, "it", "tqdm");
	progress_parser_free(p);
}

/* ---- PyTorch Lightning ---- */

static void test_lightning(void **state)
{
	(void)state;
	/* epochs count from 0: "Epoch 3: 45%" is three epochs and 45% of the fourth */
	line_expect("Epoch 3:  45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s, v_num=0, "
		    "train_loss=0.312]",
		    0, 3.45, 0, -1, 0, -1, "epoch", "lightning");
	line_expect("Epoch 3:  45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s, v_num=0]", 10, 3.45,
		    10, 0.345, 0, -1, "epoch", "lightning");
	line_expect("Epoch 9: 100%|██████████| 10/10 [00:01<00:00, 9.1it/s]", 10, 10, 10, 1, 0, -1,
		    "epoch", "lightning");
	/* the fraction from the counts, or from the percentage when there are none */
	line_expect("Epoch 0: 33%|███▎      | 1/3 [00:01<00:02, 1.0it/s]", 0, 1.0 / 3, 0, -1, 0, -1,
		    "epoch", "lightning");
	line_expect("Epoch 1:  45%|████▌     |", 4, 1.45, 4, 1.45 / 4, 0, -1, "epoch", "lightning");
	/* a dataset without a length: no fraction */
	line_expect("Epoch 2: 450it [00:10, 44.1it/s, v_num=0]", 5, 2, 5, 0.4, 0, -1, "epoch",
		    "lightning");
}

static void test_lightning_then_validation_bar(void **state)
{
	struct progress_parser *p = parser_new(NULL, 10);

	(void)state;
	assert_int_equal(feed(p,
			      "\rEpoch 3: 100%|██████████| 1000/1000 [00:22<00:00, 44.9it/s, "
			      "v_num=0]",
			      T0),
			 1);
	expect(p, 4, 10, 0.4, 0, -1, "epoch", "lightning");
	assert_int_equal(feed(p,
			      "\n\rValidation DataLoader 0:  50%|█████     | 5/10 "
			      "[00:00<00:00, 20.1it/s]",
			      T0 + 100),
			 0);
	expect(p, 4, 10, 0.4, 0, -1, "epoch", "lightning");
	/* the next epoch, 10 s later: a rate from the time passed */
	assert_int_equal(feed(p,
			      "\rEpoch 4:  50%|█████     | 500/1000 [00:10<00:11, 44.9it/s, "
			      "v_num=0]",
			      T0 + 10000),
			 1);
	expect(p, 4.5, 10, 0.45, 0.05, 110, "epoch", "lightning");
	progress_parser_free(p);
}

/* ---- Hugging Face Trainer ---- */

static void test_hf(void **state)
{
	(void)state;
	line_expect("{'loss': 0.4123, 'grad_norm': 1.2, 'learning_rate': 4.5e-05, 'epoch': 1.5}", 0,
		    1.5, 0, -1, 0, -1, "epoch", "hf");
	line_expect("{'loss': 0.4123, 'grad_norm': 1.2, 'learning_rate': 4.5e-05, 'epoch': 1.5}", 3,
		    1.5, 3, 0.5, 0, -1, "epoch", "hf");
	line_expect("{'eval_loss': 0.3817, 'eval_runtime': 5.2, 'eval_samples_per_second': 192.1, "
		    "'epoch': 2.0}",
		    4, 2, 4, 0.5, 0, -1, "epoch", "hf");
	line_expect("{'train_runtime': 301.2, 'train_loss': 0.35, 'epoch': 3.0}", 3, 3, 3, 1, 0, -1,
		    "epoch", "hf");
	line_expect("{\"loss\": 0.2, \"epoch\": 0.25}", 0, 0.25, 0, -1, 0, -1, "epoch", "hf");
}

static void test_hf_outranks_its_bar(void **state)
{
	struct progress_parser *p = parser_new(NULL, 3);

	(void)state;
	/* before the first log line, the Trainer's step bar is all there is */
	assert_int_equal(feed(p, "\r  5%|▌         | 50/1000 [00:10<03:10, 5.00it/s]", T0), 1);
	expect(p, 50, 1000, 0.05, 5, 190, "it", "tqdm");
	assert_int_equal(feed(p,
			      "\n{'loss': 0.4123, 'grad_norm': 1.2, 'learning_rate': 4.5e-05, "
			      "'epoch': 0.15}\n",
			      T0 + 1000),
			 1);
	expect(p, 0.15, 3, 0.05, 0, -1, "epoch", "hf");
	assert_int_equal(feed(p, "\r  6%|▌         | 60/1000 [00:12<03:08, 5.00it/s]", T0 + 2000),
			 0);
	expect(p, 0.15, 3, 0.05, 0, -1, "epoch", "hf");
	progress_parser_free(p);
}

/* ---- the rank rule ---- */

static void test_rank_epoch_then_bar(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "Epoch 1/10\nEpoch 2/10\n", T0), 1);
	expect(p, 2, 10, 0.2, 0, -1, "epoch", "epoch");
	assert_int_equal(feed(p, "\r 45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s]", T0 + 10),
			 0);
	assert_int_equal(progress_parse_line(p, " 46%|████▌     | 460/1000 [00:10<00:12, 44.1it/s]",
					     T0 + 20),
			 0);
	expect(p, 2, 10, 0.2, 0, -1, "epoch", "epoch");
	assert_int_equal(progress_parser_get(p)->updated_ms, T0);
	progress_parser_free(p);
}

static void test_rank_bar_then_epoch(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "\r 45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s]", T0), 1);
	expect(p, 450, 1000, 0.45, 44.1, 12, "it", "tqdm");
	assert_int_equal(feed(p, "\nEpoch 2/10 loss=0.3\n", T0 + 10), 1);
	expect(p, 2, 10, 0.2, 0, -1, "epoch", "epoch");
	assert_int_equal(feed(p, "\r 46%|████▌     | 460/1000 [00:10<00:12, 44.1it/s]\n", T0 + 20),
			 0);
	expect(p, 2, 10, 0.2, 0, -1, "epoch", "epoch");
	progress_parser_free(p);
}

/* ---- the user's regex ---- */

static void test_regex_one_group(void **state)
{
	struct progress_parser *p = parser_new("step ([0-9]+)", 500);

	(void)state;
	assert_int_equal(feed(p, "step 50 loss 0.1\n", T0), 1);
	expect(p, 50, 500, 0.1, 0, -1, "it", "regex");
	/* the built-in formats are off */
	assert_int_equal(feed(p, "Epoch 3/10\n", T0 + 1), 0);
	assert_int_equal(feed(p, " 45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s]\n", T0 + 2), 0);
	expect(p, 50, 500, 0.1, 0, -1, "it", "regex");
	progress_parser_free(p);

	/* without a total: no ratio */
	p = parser_new("step ([0-9.]+k?)", 0);
	assert_int_equal(progress_parse_line(p, "global step 1.5k", T0), 1);
	expect(p, 1500, 0, -1, 0, -1, "it", "regex");
	progress_parser_free(p);
}

static void test_regex_two_groups(void **state)
{
	struct progress_parser *p = parser_new("\\[([0-9.]+)/([0-9.]+)\\]", 7);

	(void)state;
	assert_int_equal(feed(p, "[250/1000] loss=0.2\n", T0), 1);
	expect(p, 250, 1000, 0.25, 0, -1, "it", "regex");
	assert_int_equal(feed(p, "loss=0.2\n", T0 + 1), 0);
	progress_parser_free(p);

	/* groups past the second are ignored */
	p = parser_new("it ([0-9]+) of ([0-9]+) (ok|retry)", 0);
	assert_int_equal(progress_parse_line(p, "it 3 of 4 ok", T0), 1);
	expect(p, 3, 4, 0.75, 0, -1, "it", "regex");
	progress_parser_free(p);
}

static void regex_bad(const char *regex, const char *why)
{
	struct err err = { 0 };

	assert_null(progress_parser_new(regex, 0, &err));
	assert_int_equal(err.usage, 1);
	if (!strstr(err.msg, regex) || !strstr(err.msg, "expected") || !strstr(err.msg, why))
		fail_msg("message for '%s': %s", regex, err.msg);
}

static void test_regex_bad(void **state)
{
	(void)state;
	regex_bad("step ([0-9]+", "invalid");
	regex_bad("step [0-9]+", "no group");
	regex_bad("", "no group");
}

/* ---- rate and ETA from the time passed ---- */

static void test_rate_from_time(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "Epoch 1/10\n", T0), 1);
	expect(p, 1, 10, 0.1, 0, -1, "epoch", "epoch");
	/* less than a second: no rate yet */
	assert_int_equal(feed(p, "Epoch 2/10\n", T0 + 500), 1);
	expect(p, 2, 10, 0.2, 0, -1, "epoch", "epoch");
	/* 2 epochs in 10 s since the first sample */
	assert_int_equal(feed(p, "Epoch 3/10\n", T0 + 10000), 1);
	expect(p, 3, 10, 0.3, 0.2, 35, "epoch", "epoch");
	/* no new progress: the estimate stays as it was */
	assert_int_equal(feed(p, "Epoch 3/10\n", T0 + 20000), 0);
	expect(p, 3, 10, 0.3, 0.2, 35, "epoch", "epoch");
	assert_int_equal(progress_parser_get(p)->updated_ms, T0 + 10000);
	assert_int_equal(feed(p, "Epoch 5/10\n", T0 + 30000), 1);
	expect(p, 5, 10, 0.5, 4.0 / 30, 37.5, "epoch", "epoch");
	progress_parser_free(p);
}

static void test_rate_restarts_when_count_goes_back(void **state)
{
	struct progress_parser *p = parser_new("step ([0-9]+)", 100);

	(void)state;
	assert_int_equal(progress_parse_line(p, "step 10", T0), 1);
	assert_int_equal(progress_parse_line(p, "step 30", T0 + 10000), 1);
	expect(p, 30, 100, 0.3, 2, 35, "it", "regex");
	/* a new run from a checkpoint: a new first sample */
	assert_int_equal(progress_parse_line(p, "step 5", T0 + 20000), 1);
	expect(p, 5, 100, 0.05, 0, -1, "it", "regex");
	assert_int_equal(progress_parse_line(p, "step 15", T0 + 25000), 1);
	expect(p, 15, 100, 0.15, 2, 42.5, "it", "regex");
	progress_parser_free(p);
}

static void test_rate_past_total(void **state)
{
	struct progress_parser *p = parser_new("step ([0-9]+)", 100);

	(void)state;
	assert_int_equal(progress_parse_line(p, "step 90", T0), 1);
	assert_int_equal(progress_parse_line(p, "step 110", T0 + 10000), 1);
	expect(p, 110, 100, 1, 2, 0, "it", "regex");
	progress_parser_free(p);
}

static void test_rate_without_total(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(progress_parse_line(p, "{'loss': 0.5, 'epoch': 0.5}", T0), 1);
	assert_int_equal(progress_parse_line(p, "{'loss': 0.4, 'epoch': 1.0}", T0 + 5000), 1);
	expect(p, 1, 0, -1, 0.1, -1, "epoch", "hf");
	progress_parser_free(p);
}

/* ---- the line buffer ---- */

static void test_tail_read_once(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, " 45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s]", T0), 1);
	assert_int_equal(feed(p, "\n", T0 + 1), 0);
	assert_int_equal(progress_parser_get(p)->updated_ms, T0);
	progress_parser_free(p);
}

static void test_tail_cut_waits(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "Epoch 3/1", T0), 0);
	assert_int_equal(progress_parser_get(p)->valid, 0);
	assert_int_equal(feed(p, "0 loss=2.1601\n", T0 + 1), 1);
	expect(p, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	/* a dict cut inside its epoch value */
	assert_int_equal(feed(p, "{'loss': 0.41, 'epoch': 1.", T0 + 2), 0);
	assert_int_equal(feed(p, "5}", T0 + 3), 1);
	expect(p, 1.5, 0, -1, 0, -1, "epoch", "hf");
	/* a tail that ends in a number is read with its terminator */
	assert_int_equal(feed(p, "\nEpoch 4/10", T0 + 5), 0);
	assert_int_equal(feed(p, "\r\n", T0 + 6), 1);
	expect(p, 4, 10, 0.4, 0, -1, "epoch", "epoch");
	progress_parser_free(p);
}

static void test_line_ends(void **state)
{
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	assert_int_equal(feed(p, "Epoch 1/10\r\nEpoch 2/10\r\n", T0), 1);
	expect(p, 2, 10, 0.2, 0, -1, "epoch", "epoch");
	assert_int_equal(feed(p, "Epoch 3/10\r", T0 + 1), 1);
	assert_int_equal(feed(p, "\nEpoch 4/10\n\n\nnoise\n", T0 + 2), 1);
	expect(p, 4, 10, 0.4, 0, -1, "epoch", "epoch");
	/* a NUL inside a line does not end it */
	assert_int_equal(progress_parser_feed(p, "x\0 Epoch 5/10\n", 14, T0 + 3), 1);
	expect(p, 5, 10, 0.5, 0, -1, "epoch", "epoch");
	progress_parser_free(p);
}

static void test_line_cap(void **state)
{
	size_t size = 1 << 20, chunk = 4096;
	char *data = malloc(size);
	struct progress_parser *p = parser_new(NULL, 0);
	struct mallinfo2 before, after;

	(void)state;
	for (size_t i = 0; i < size; i++)
		data[i] = "noise 12 "[i % 9];
	before = mallinfo2();
	for (size_t off = 0; off < size; off += chunk)
		assert_int_equal(progress_parser_feed(p, data + off, chunk, T0), 0);
	assert_int_equal(progress_parser_feed(p, data, size, T0), 0);
	after = mallinfo2();
	/* the line is kept to 4 KiB; the rest was dropped, not stored */
	assert_true(after.uordblks < before.uordblks + 64 * 1024);
	assert_int_equal(progress_parser_get(p)->valid, 0);
	assert_int_equal(feed(p, "Epoch 3/10", T0 + 1), 0);
	assert_int_equal(feed(p, "\nEpoch 3/10\n", T0 + 2), 1);
	expect(p, 3, 10, 0.3, 0, -1, "epoch", "epoch");
	progress_parser_free(p);

	/* up to the cap a line is read whole; past it the end is gone */
	p = parser_new(NULL, 0);
	memset(data, 'x', 5000);
	memcpy(data + 4000, " Epoch 3/10\n", 12);
	assert_int_equal(progress_parser_feed(p, data, 4012, T0), 1);
	progress_parser_free(p);
	p = parser_new(NULL, 0);
	memset(data, 'x', 5000);
	memcpy(data + 5000, " Epoch 3/10\n", 12);
	assert_int_equal(progress_parser_feed(p, data, 5012, T0), 0);
	assert_int_equal(progress_parser_get(p)->valid, 0);
	progress_parser_free(p);
	free(data);
}

static void test_noise(void **state)
{
	static const char *const lines[] = {
		"Loading checkpoint shards: done",
		"2024-05-01 12:00:00,123 INFO Starting training on 8 GPUs",
		"accuracy 0.9312",
		"[12:00:01] saved checkpoint to /tmp/ckpt-500",
		"loss=0.3 lr=1e-4 step=3",
		"Epoch 3 finished in 12.3s",
		"num_epochs = 10",
		"{'loss': 0.41, 'learning_rate': 5e-05}",
		"469/469 [==============================] - 2s 4ms/step - loss: 0.2",
		"Downloading data: 45%",
		"",
	};
	struct progress_parser *p = parser_new(NULL, 0);

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (progress_parse_line(p, lines[i], T0) != 0)
			fail_msg("read noise: \"%s\"", lines[i]);
		if (feed(p, lines[i], T0) != 0 || feed(p, "\n", T0) != 0)
			fail_msg("fed noise: \"%s\"", lines[i]);
	}
	assert_int_equal(progress_parser_get(p)->valid, 0);
	progress_parser_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_is_empty),
		cmocka_unit_test(test_epoch_train_sim),
		cmocka_unit_test(test_epoch_spellings),
		cmocka_unit_test(test_keras),
		cmocka_unit_test(test_tqdm_bar),
		cmocka_unit_test(test_tqdm_seconds_per_it),
		cmocka_unit_test(test_tqdm_si_counts),
		cmocka_unit_test(test_tqdm_hours_eta),
		cmocka_unit_test(test_tqdm_unknown_total),
		cmocka_unit_test(test_tqdm_stream_one_feed),
		cmocka_unit_test(test_tqdm_stream_split),
		cmocka_unit_test(test_tqdm_stream_every_cut),
		cmocka_unit_test(test_epoch_among_noise_every_cut),
		cmocka_unit_test(test_epoch_at_every_offset),
		cmocka_unit_test(test_tqdm_ansi),
		cmocka_unit_test(test_lightning),
		cmocka_unit_test(test_lightning_then_validation_bar),
		cmocka_unit_test(test_hf),
		cmocka_unit_test(test_hf_outranks_its_bar),
		cmocka_unit_test(test_rank_epoch_then_bar),
		cmocka_unit_test(test_rank_bar_then_epoch),
		cmocka_unit_test(test_regex_one_group),
		cmocka_unit_test(test_regex_two_groups),
		cmocka_unit_test(test_regex_bad),
		cmocka_unit_test(test_rate_from_time),
		cmocka_unit_test(test_rate_restarts_when_count_goes_back),
		cmocka_unit_test(test_rate_past_total),
		cmocka_unit_test(test_rate_without_total),
		cmocka_unit_test(test_tail_read_once),
		cmocka_unit_test(test_tail_cut_waits),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_line_cap),
		cmocka_unit_test(test_noise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
