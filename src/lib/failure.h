/*
 * Why a job failed, from the evidence it leaves: the end of its log and the
 * kernel log. Pure parsers over text the caller reads, so each is tested with
 * captured output.
 */
#ifndef TRAINCTL_FAILURE_H
#define TRAINCTL_FAILURE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * From the tail of a job's log (any bytes: \r\n line ends, ANSI escapes,
 * progress redraws): the line that best explains an error, e.g. the final
 * line of a Python traceback ("ValueError: bad shape"), else the last line
 * that looks like an error ("error:", "Error", "FATAL", "Segmentation
 * fault", ...), else the last non-empty line. Copies it (ANSI stripped,
 * trimmed, cut to size-1 bytes) into out; returns 0 for an error line, 1 when
 * it is only the last line (no error in sight), -1 when the text has no
 * non-empty line.
 */
int failure_last_error_line(const char *text, size_t len, char *out, size_t size);

/* Does the log tail show a CUDA out-of-memory error (PyTorch, TensorFlow, JAX, raw CUDA)? */
int failure_is_cuda_oom(const char *text, size_t len);

/*
 * Does one kernel log record (a /dev/kmsg line, "6,1234,5678,-;Out of memory:
 * Killed process 4242 (python) ..." or an "oom-kill:...,pid=4242,uid=0" line)
 * report an OOM kill? Returns the pid killed, or 0.
 */
pid_t failure_kmsg_oom_pid(const char *line);

#endif
