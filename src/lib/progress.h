/*
 * Progress from a job's output. The shim feeds every byte of output to a
 * progress_parser; it cuts the stream into lines at '\n' and '\r' (a tqdm
 * bar is redrawn with '\r', and must be read as it is drawn, not only when a
 * '\n' finally comes), strips ANSI escape sequences, and matches each line
 * against the user's --progress-regex or the built-in formats:
 *
 *   Epoch 3/10 ...                      (Keras, train-sim, many scripts)
 *   epoch 3 of 10                       (free text)
 *   45%|████▌     | 450/1000 [00:10<00:12, 44.1it/s]     (tqdm)
 *   Epoch 3: 100%|██████████| 10/10 [00:01<00:00, 9.1it/s] (PyTorch Lightning)
 *   {'loss': 0.41, 'learning_rate': 5e-05, 'epoch': 1.5}  (Hugging Face Trainer)
 *
 * A format that counts epochs outranks a tqdm bar that counts steps inside
 * one, so the progress of a run does not jump between the two.
 *
 * The parser is pure (no I/O, no clock: callers pass the time), so every
 * format is unit-tested with captured lines.
 */
#ifndef TRAINCTL_PROGRESS_H
#define TRAINCTL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct progress {
	int valid;          /* 0 until something matched */
	double current;     /* e.g. epoch 3, or step 450 */
	double total;       /* 0 when unknown */
	double ratio;       /* current/total in [0,1], or -1 when total is unknown */
	double rate;        /* units per second, or 0 when unknown */
	double eta_seconds; /* -1 when unknown */
	char unit[16];      /* "epoch", "it", "step", or the tqdm unit */
	char format[16];    /* which rule matched: "regex", "epoch", "tqdm", "lightning", "hf" */
	int64_t updated_ms; /* the time passed with the bytes that produced it */
};

struct progress_parser;

/*
 * regex: the user's POSIX ERE with one group (current) or two (current,
 * total), or NULL for the built-in formats only. total: a total to use when
 * the output does not give one (--progress-total), or 0. Returns NULL with
 * err filled (a usage error) when the regex does not compile or has no group.
 */
struct progress_parser *progress_parser_new(const char *regex, double total, struct err *err);
void progress_parser_free(struct progress_parser *p);

/*
 * Feed output bytes received at now_ms. Returns 1 when the progress changed
 * (then progress_parser_get has the new value), else 0.
 */
int progress_parser_feed(struct progress_parser *p, const char *data, size_t len, int64_t now_ms);
const struct progress *progress_parser_get(const struct progress_parser *p);

/* Parse one line (already without its terminator); exposed for tests. */
int progress_parse_line(struct progress_parser *p, const char *line, int64_t now_ms);

#endif
