/*
 * Unit tests for src/lib/failure.c with captured output: PyTorch CUDA OOM
 * tracebacks (old and new wording), chained tracebacks, torchrun's tagged
 * lines, tqdm redraws, coloured errors, logs without an error, cutting at a
 * UTF-8 boundary; the CUDA OOM messages of each framework and the host
 * errors that are not one; each form of a kernel OOM-kill record and the
 * kernel lines around it that are not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/failure.h"

#define OOM_NEW                                                                              \
	"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a "    \
	"total capacity of 79.15 GiB of which 1.06 GiB is free. Process 4242 has 78.08 GiB "     \
	"memory in use. Of the allocated memory 75.21 GiB is allocated by PyTorch, and 1.37 GiB " \
	"is reserved by PyTorch but unallocated. If reserved but unallocated memory is large "   \
	"try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  " \
	"See documentation for Memory Management  "                                              \
	"(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"

#define OOM_OLD                                                                              \
	"torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; "   \
	"79.15 GiB total capacity; 75.21 GiB already allocated; 1.06 GiB free; 77.00 GiB "       \
	"reserved in total by PyTorch) If reserved memory is >> allocated memory try setting "   \
	"max_split_size_mb to avoid fragmentation.  See documentation for Memory Management and " \
	"PYTORCH_CUDA_ALLOC_CONF"

/* A PyTorch 2.5 run on Python 3.11 that ran out of GPU memory in the forward pass. */
static const char torch_oom_log[] =
	"Epoch 1/10\n"
	"step 100 loss=2.3012\n"
	"Traceback (most recent call last):\n"
	"  File \"/home/alice/llm/train.py\", line 212, in <module>\n"
	"    main()\n"
	"  File \"/home/alice/llm/train.py\", line 187, in main\n"
	"    loss = model(**batch).loss\n"
	"           ^^^^^^^^^^^^^^^\n"
	"  File \"/opt/conda/lib/python3.11/site-packages/torch/nn/modules/module.py\", line 1736, "
	"in _wrapped_call_impl\n"
	"    return self._call_impl(*args, **kwargs)\n"
	"           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
	"  File \"/opt/conda/lib/python3.11/site-packages/transformers/models/llama/"
	"modeling_llama.py\", line 1190, in forward\n"
	"    logits = logits.float()\n"
	"             ^^^^^^^^^^^^^^\n"
	OOM_NEW "\n"
	"wandb: Waiting for W&B process to finish... (failed 1). Press Control-C to abort "
	"syncing.\n"
	"wandb: \xf0\x9f\x9a\x80 View run fancy-sun-12 at: https://wandb.ai/alice/llm/runs/x1\n"
	"wandb: Find logs at: ./wandb/run-20240101_120000-x1/logs\n";

static const char chained_log[] =
	"loading data/train.npy\n"
	"Traceback (most recent call last):\n"
	"  File \"/home/bob/cv/data.py\", line 40, in load\n"
	"    return np.load(path)\n"
	"  File \"/usr/lib/python3/dist-packages/numpy/lib/npyio.py\", line 427, in load\n"
	"    fid = stack.enter_context(open(os_fspath(file), \"rb\"))\n"
	"FileNotFoundError: [Errno 2] No such file or directory: 'data/train.npy'\n"
	"\n"
	"During handling of the above exception, another exception occurred:\n"
	"\n"
	"Traceback (most recent call last):\n"
	"  File \"/home/bob/cv/train.py\", line 90, in <module>\n"
	"    main()\n"
	"  File \"/home/bob/cv/data.py\", line 44, in load\n"
	"    raise ValueError(\"bad shape\")\n"
	"ValueError: bad shape\n";

static const char direct_cause_log[] =
	"Traceback (most recent call last):\n"
	"  File \"train.py\", line 10, in step\n"
	"    x = next(it)\n"
	"StopIteration\n"
	"\n"
	"The above exception was the direct cause of the following exception:\n"
	"\n"
	"Traceback (most recent call last):\n"
	"  File \"train.py\", line 20, in <module>\n"
	"    step()\n"
	"  File \"train.py\", line 12, in step\n"
	"    raise RuntimeError(\"data loader exhausted\") from e\n"
	"RuntimeError: data loader exhausted\n";

/* torchrun (PyTorch 2.3+) tags each worker's lines; rank 1 wrote a line in between. */
static const char torchrun_log[] =
	"[rank0]: Traceback (most recent call last):\n"
	"[rank0]:   File \"/workspace/train.py\", line 42, in <module>\n"
	"[rank1]: step 40 loss=1.2\n"
	"[rank0]:     main()\n"
	"[rank0]:   File \"/workspace/train.py\", line 30, in main\n"
	"[rank0]:     out = model(x)\n"
	"[rank0]: " OOM_NEW "\n"
	"W0101 12:00:00.000000 4240 torch/distributed/elastic/multiprocessing/api.py:897] "
	"Sending process 4243 closing signal SIGTERM\n"
	"E0101 12:00:01.000000 4240 torch/distributed/elastic/multiprocessing/api.py:869] "
	"failed (exitcode: 1) local_rank: 0 (pid: 4242) of binary: /usr/bin/python\n";

/* Asynchronous CUDA errors print their message over several lines. */
static const char device_assert_log[] =
	"Traceback (most recent call last):\n"
	"  File \"train.py\", line 55, in <module>\n"
	"    loss.backward()\n"
	"RuntimeError: CUDA error: device-side assert triggered\n"
	"CUDA kernel errors might be asynchronously reported at some other API call, so the "
	"stacktrace below might be incorrect.\n"
	"For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
	"Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n"
	"\n";

/* Python 3.13 colours its tracebacks; lines end in \r\n (logged through a pty). */
static const char coloured_traceback_log[] =
	"Traceback (most recent call last):\r\n"
	"  File \x1b[35m\"/srv/job/train.py\"\x1b[0m, line \x1b[35m8\x1b[0m, in \x1b[35m<module>"
	"\x1b[0m\r\n"
	"    \x1b[31mcheck\x1b[0m\x1b[1;31m(x)\x1b[0m\r\n"
	"\x1b[1;35mAssertionError\x1b[0m: \x1b[35mshapes differ: (8, 3) vs (8, 4)\x1b[0m\r\n";

static char out[1024];

static const char *last_error(const char *text)
{
	memset(out, '#', sizeof(out));
	/* 0: an error line; 1: only the last line, with no error in sight */
	if (failure_last_error_line(text, strlen(text), out, sizeof(out)) < 0)
		fail_msg("no line found in \"%s\"", text);
	return out;
}

/* ---- failure_last_error_line ---- */

static void test_torch_oom_traceback(void **state)
{
	(void)state;
	/* the exception line, not the wandb lines after it */
	assert_string_equal(last_error(torch_oom_log), OOM_NEW);
	assert_string_equal(last_error("Traceback (most recent call last):\n"
				       "  File \"train.py\", line 3, in <module>\n"
				       "    x = torch.empty(1 << 40, device=\"cuda\")\n"
				       OOM_OLD "\n"),
			    OOM_OLD);
}

static void test_chained_traceback(void **state)
{
	(void)state;
	assert_string_equal(last_error(chained_log), "ValueError: bad shape");
	assert_string_equal(last_error(direct_cause_log), "RuntimeError: data loader exhausted");
}

static void test_traceback_one_word(void **state)
{
	(void)state;
	assert_string_equal(last_error("Epoch 3/10\n"
				       "Traceback (most recent call last):\n"
				       "  File \"train.py\", line 70, in <module>\n"
				       "    time.sleep(1)\n"
				       "KeyboardInterrupt\n"),
			    "KeyboardInterrupt");
}

static void test_traceback_multiline_message(void **state)
{
	(void)state;
	assert_string_equal(last_error(device_assert_log),
			    "RuntimeError: CUDA error: device-side assert triggered");
	/* a message whose later lines are indented */
	assert_string_equal(last_error("Traceback (most recent call last):\n"
				       "  File \"train.py\", line 12, in <module>\n"
				       "    model.load_state_dict(sd)\n"
				       "RuntimeError: Error(s) in loading state_dict for Net:\n"
				       "\tMissing key(s) in state_dict: \"fc.weight\".\n"),
			    "RuntimeError: Error(s) in loading state_dict for Net:");
}

static void test_traceback_cut_short(void **state)
{
	(void)state;
	/* the tail ends inside the frames: fall back to the last line naming an error */
	assert_string_equal(last_error("ERROR: rank 3 lost\n"
				       "Traceback (most recent call last):\n"
				       "  File \"train.py\", line 12, in <module>\n"
				       "    main()\n"),
			    "ERROR: rank 3 lost");
}

static void test_torchrun_tags(void **state)
{
	(void)state;
	assert_string_equal(last_error(torchrun_log), OOM_NEW);
	/* mpirun --tag-output, no space after the tag */
	assert_string_equal(last_error("[1,0]<stderr>:Traceback (most recent call last):\n"
				       "[1,0]<stderr>:  File \"train.py\", line 5, in <module>\n"
				       "[1,0]<stderr>:    f()\n"
				       "[1,1]<stdout>:epoch 2\n"
				       "[1,0]<stderr>:ZeroDivisionError: division by zero\n"),
			    "ZeroDivisionError: division by zero");
}

static void test_tqdm_redraws(void **state)
{
	(void)state;
	/* a bar redrawn with \r, then the crash on a line of its own */
	assert_string_equal(
		last_error("Epoch 1:   0%|          | 0/100 [00:00<?, ?it/s]"
			   "\rEpoch 1:  10%|\xe2\x96\x88         | 10/100 "
			   "[00:01<00:09,  9.80it/s, loss=2.31]"
			   "\rEpoch 1:  20%|\xe2\x96\x88\xe2\x96\x88        | 20/100 "
			   "[00:02<00:08,  "
			   "9.79it/s, loss=2.07]\n"
			   "Segmentation fault (core dumped)\n"),
		"Segmentation fault (core dumped)");
	/* the bar had no newline when Python printed the traceback after it */
	assert_string_equal(
		last_error("\r 45%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88"
			   "\xe2\x96\x8c     | "
			   "450/1000 [00:10<00:12, 44.1it/s]"
			   "\r 45%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88"
			   "\xe2\x96\x8c     | "
			   "451/1000 [00:10<00:12, 44.1it/s]Traceback (most recent call last):\n"
			   "  File \"train.py\", line 9, in <module>\n"
			   "    step()\n"
			   "ValueError: loss is nan\n"),
		"ValueError: loss is nan");
	/* only the last state of a redrawn line counts: "error" was drawn over */
	assert_string_equal(last_error("WARNING: cuDNN not found\n"
				       "eval: error rate 0.12\rstep 1000 ok   \r\n"),
			    "step 1000 ok");
	assert_string_equal(last_error("fatal: unable to read config\n"
				       "step 1 error rate 0.3\rstep 2 fine\rstep 3 fine\r"),
			    "fatal: unable to read config");
}

static void test_ansi_colours(void **state)
{
	(void)state;
	assert_string_equal(last_error("\x1b[32mINFO\x1b[0m loading shards\r\n"
				       "\x1b[1;31mERROR\x1b[0m: \x1b[33mdataset 'c4' not found"
				       "\x1b[0m\r\n"
				       "\x1b[2K\x1b[1A\x1b[2Kdone\r\n"),
			    "ERROR: dataset 'c4' not found");
	assert_string_equal(last_error(coloured_traceback_log),
			    "AssertionError: shapes differ: (8, 3) vs (8, 4)");
}

static void test_error_patterns(void **state)
{
	(void)state;
	assert_string_equal(last_error("terminate called after throwing an instance of "
				       "'c10::Error'\n"
				       "  what():  CUDA error: an illegal memory access was "
				       "encountered\n"
				       "Aborted (core dumped)\n"
				       "cleanup done\n"),
			    "Aborted (core dumped)");
	assert_string_equal(last_error("step 9\nKilled\nbye\n"), "Killed");
	assert_string_equal(last_error("panic: runtime error: index out of range\nexit\n"),
			    "panic: runtime error: index out of range");
	assert_string_equal(last_error("FATAL Flag parsing error\nshutting down\n"),
			    "FATAL Flag parsing error");
	assert_string_equal(last_error("python: train.c:12: main: Assertion `n > 0' failed.\n"),
			    "python: train.c:12: main: Assertion `n > 0' failed.");
	assert_string_equal(last_error("a\nUnhandled exception in thread\nb\n"),
			    "Unhandled exception in thread");
}

static void test_no_error(void **state)
{
	char buf[16] = "untouched";

	(void)state;
	assert_string_equal(last_error("epoch 1 loss 0.5\nepoch 2 loss 0.4\n"
				       "   saved checkpoint to ckpt_2.pt   \n\n  \n\t\n"),
			    "saved checkpoint to ckpt_2.pt");
	assert_string_equal(last_error("no newline at the end"), "no newline at the end");
	/* no error in sight: the last line, and the caller is told so */
	assert_int_equal(failure_last_error_line("step 3\nstep 4\n", 14, buf, sizeof(buf)), 1);
	assert_int_equal(failure_last_error_line("", 0, buf, sizeof(buf)), -1);
	assert_int_equal(failure_last_error_line("\n \r\n\t\n\x1b[0m\n", 10, buf, sizeof(buf)),
			 -1);
	assert_int_equal(failure_last_error_line(NULL, 0, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "step 4");
}

static void test_length_respected(void **state)
{
	static const char text[] = "ok line\nERROR: past the end\n";
	static const char with_nul[] = "loss=0.1\0\0garbage\nValueError: x\x08y\n";
	char buf[32];

	(void)state;
	/* only len bytes are read, NULs and control bytes are dropped */
	assert_int_equal(failure_last_error_line(text, 7, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "ok line");
	assert_int_equal(failure_last_error_line(with_nul, sizeof(with_nul) - 1, buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "ValueError: xy");
}

static void test_utf8_cut(void **state)
{
	/* "ValueError: température" with é as \xc3\xa9 at bytes 16-17 */
	static const char text[] = "ValueError: temp\xc3\xa9rature trop \xc3\xa9lev\xc3\xa9\x65\n";
	static const char emoji[] = "RuntimeError: \xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\n";
	char buf[64];

	(void)state;
	/* room for 17 bytes: the é would be split, so it is left out whole */
	assert_int_equal(failure_last_error_line(text, strlen(text), buf, 18), 0);
	assert_string_equal(buf, "ValueError: temp");
	assert_int_equal(failure_last_error_line(text, strlen(text), buf, 19), 0);
	assert_string_equal(buf, "ValueError: temp\xc3\xa9");
	/* a 4-byte character cut after 1, 2 or 3 of its bytes */
	for (size_t room = 15; room <= 18; room++) {
		assert_int_equal(failure_last_error_line(emoji, strlen(emoji), buf, room + 1), 0);
		assert_string_equal(buf, room < 18 ? "RuntimeError:"
						   : "RuntimeError: \xf0\x9f\x94\xa5");
	}
	/* exactly fits */
	assert_int_equal(failure_last_error_line(emoji, strlen(emoji), buf, strlen(emoji)), 0);
	assert_string_equal(buf, "RuntimeError: \xf0\x9f\x94\xa5\xf0\x9f\x94\xa5");
	/* tiny buffers */
	assert_int_equal(failure_last_error_line(emoji, strlen(emoji), buf, 1), 0);
	assert_string_equal(buf, "");
	buf[0] = 'z';
	assert_int_equal(failure_last_error_line(emoji, strlen(emoji), buf, 0), 0);
	assert_int_equal(buf[0], 'z');
}

/* ---- failure_is_cuda_oom ---- */

static int cuda_oom(const char *text)
{
	return failure_is_cuda_oom(text, strlen(text));
}

static void test_cuda_oom_yes(void **state)
{
	(void)state;
	assert_true(cuda_oom(torch_oom_log));
	assert_true(cuda_oom(torchrun_log));
	assert_true(cuda_oom(OOM_OLD "\n"));
	assert_true(cuda_oom("RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB "
			     "(GPU 0; "
			     "10.76 GiB total capacity; 9.70 GiB already allocated)\n"));
	assert_true(cuda_oom("torch.OutOfMemoryError: CUDA out of memory. "
			     "Tried to allocate 1 GiB"));
	assert_true(cuda_oom("raise torch.cuda.OutOfMemoryError\n"));
	assert_true(cuda_oom("RuntimeError: CUDA error: out of memory\n"
			     "CUDA kernel errors might be asynchronously reported at some other "
			     "API call\n"));
	assert_true(cuda_oom("2024-01-01 12:00:00.000000: E external/local_xla/xla/stream_executor/"
			     "cuda/cuda_driver.cc:1190] failed to alloc 85899345920 bytes on host: "
			     "CUDA_ERROR_OUT_OF_MEMORY: out of memory\n"));
	assert_true(cuda_oom("cudaMalloc failed: cudaErrorMemoryAllocation\n"));
	assert_true(cuda_oom("jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of "
			     "memory while trying to allocate 34359738368 bytes.\n"));
	assert_true(cuda_oom("tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM "
			     "when allocating tensor with shape[32,512,512] and type float on "
			     "/job:localhost/replica:0/task:0/device:GPU:0 "
			     "by allocator GPU_0_bfc\n"));
	assert_true(cuda_oom("RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling "
			     "`cublasCreate(handle)`\n"));
	assert_true(cuda_oom("ncclUnhandledCudaError: Call to CUDA function failed.\n"
			     "Last error:\nCuda failure 'out of memory'\n"));
	assert_true(cuda_oom("RuntimeError: CUDA driver error: out of memory\n"));
}

static void test_cuda_oom_no(void **state)
{
	static const char beyond[] = "loss 0.1\nCUDA out of memory";

	(void)state;
	assert_false(cuda_oom(""));
	assert_false(failure_is_cuda_oom(NULL, 0));
	assert_false(cuda_oom(chained_log));
	assert_false(cuda_oom(device_assert_log));
	assert_false(cuda_oom("Traceback (most recent call last):\n"
			      "  File \"prep.py\", line 3, in <module>\n"
			      "    x = [0] * (1 << 62)\n"
			      "MemoryError\n"));
	assert_false(cuda_oom("OSError: [Errno 12] Cannot allocate memory\n"));
	assert_false(cuda_oom("RuntimeError: DataLoader worker (pid 4242) is killed by signal: "
			      "Killed.\n"));
	assert_false(cuda_oom("Out of memory: Killed process 4242 (python)\n"));
	assert_false(cuda_oom("RuntimeError: CUDA error: an illegal memory access was "
			      "encountered\n"));
	/* "CUDA error" and "out of memory" on different lines */
	assert_false(cuda_oom("RuntimeError: CUDA error: invalid device ordinal\n"
			      "malloc: out of memory\n"));
	/* a TensorFlow OOM on the CPU */
	assert_false(cuda_oom("ResourceExhaustedError: OOM when allocating tensor "
			      "with shape[1<<40] "
			      "on /job:localhost/replica:0/task:0/device:CPU:0\n"));
	/* only len bytes count */
	assert_false(failure_is_cuda_oom(beyond, 9));
	assert_true(failure_is_cuda_oom(beyond, sizeof(beyond) - 1));
}

/* ---- failure_kmsg_oom_pid ---- */

static void test_kmsg_oom(void **state)
{
	(void)state;
	assert_int_equal(failure_kmsg_oom_pid(
				 "6,1234,567890123,-;Out of memory: Killed process 4242 (python) "
				 "total-vm:83886080kB, anon-rss:67108864kB, file-rss:0kB, "
				 "shmem-rss:0kB, UID:1000 pgtables:131072kB oom_score_adj:0\n"),
			 4242);
	assert_int_equal(failure_kmsg_oom_pid(
				 "3,1235,567890124,-;Memory cgroup out of memory: "
				 "Killed process 4243 "
				 "(python) total-vm:83886080kB, anon-rss:67108864kB, file-rss:0kB, "
				 "shmem-rss:0kB, UID:0 pgtables:131072kB oom_score_adj:0\n"),
			 4243);
	assert_int_equal(failure_kmsg_oom_pid(
				 "4,1236,567890125,-;oom-kill:constraint=CONSTRAINT_MEMCG,"
				 "nodemask=(null),"
				 "cpuset=/,mems_allowed=0,oom_memcg=/x,task_memcg=/x,task=python,"
				 "pid=4244,uid=0\n"),
			 4244);
	/* a kernel with CONFIG_PRINTK_CALLER adds a field before the ';' */
	assert_int_equal(failure_kmsg_oom_pid("3,1238,567890127,-,caller=T4242;Out of memory: "
					      "Killed process 4245 (python) total-vm:8kB\n"),
			 4245);
	assert_int_equal(failure_kmsg_oom_pid("3,1239,567890128,-,caller=T4242;Killed process 4246 "
					      "(python) total-vm:8kB\n"),
			 4246);
	/* a /dev/kmsg record with its dictionary lines and a continuation flag */
	assert_int_equal(failure_kmsg_oom_pid("6,1237,567890126,c;Out of memory: Killed process 77 "
					      "(dd) total-vm:1kB\n SUBSYSTEM=memory\n"
					      " DEVICE=+memory:oom\n"),
			 77);
}

static void test_kmsg_oom_dmesg_text(void **state)
{
	(void)state;
	assert_int_equal(failure_kmsg_oom_pid("Out of memory: Killed process 4242 (python) "
					      "total-vm:8kB"),
			 4242);
	assert_int_equal(failure_kmsg_oom_pid("Memory cgroup out of memory: Killed process 4243 "
					      "(python)"),
			 4243);
	assert_int_equal(failure_kmsg_oom_pid("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),"
					      "cpuset=/,mems_allowed=0,global_oom,"
					      "task_memcg=/user.slice,task=python,pid=4244,"
					      "uid=1000"),
			 4244);
	assert_int_equal(failure_kmsg_oom_pid("[ 1234.567890] Out of memory: Killed process 4245 "
					      "(python) total-vm:8kB"),
			 4245);
	assert_int_equal(failure_kmsg_oom_pid("[Mon Jan  1 12:00:00 2024] oom-kill:constraint="
					      "CONSTRAINT_MEMCG,task=python,pid=4246,uid=0"),
			 4246);
	/* older kernels: the kill comes on its own line after the choice */
	assert_int_equal(failure_kmsg_oom_pid("3,900,1000,-;Killed process 4247 (python) "
					      "total-vm:8kB, anon-rss:4kB, file-rss:0kB"),
			 4247);
}

static void test_kmsg_not_oom(void **state)
{
	static const char *const lines[] = {
		"",
		"6,1,2,-;",
		"4,1230,567890100,-;python invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), "
		"order=0, "
		"oom_score_adj=0",
		"4,1231,567890101,-;CPU: 3 PID: 4242 Comm: python Not tainted 6.5.0 #1",
		"4,1232,567890102,-; oom_kill_process.cold+0xb/0x10",
		"6,1233,567890103,-;Memory cgroup stats for /x:",
		"6,1234,567890104,-;[   4242]  1000  4242 20971520 16777216 134217728        "
		"0      "
		"     0 python",
		"3,1235,567890105,-;Out of memory: Kill process 4242 (python) score 900 or "
		"sacrifice "
		"child",
		"6,1236,567890106,-;oom_reaper: reaped process 4242 (python), now anon-rss:0kB, "
		"file-rss:0kB, shmem-rss:0kB",
		"6,1237,567890107,-;usb 1-1: new high-speed USB device number 2 using xhci_hcd",
		"6,1238,567890108,-;python[4242]: segfault at 0 ip 00007f sp 00007ffd error 4",
		" SUBSYSTEM=memory",
		"systemd[1]: Killed process 4242 (python)",
		"6,1239,567890109,-;Out of memory: Killed process abc (python)",
		"4,1240,567890110,-;oom-kill:constraint=CONSTRAINT_NONE,task=python,pid=,uid=0",
		"6,1241,567890111,-;Out of memory: Killed process 99999999999 (python)",
		"6,1242,567890112,-;Out of memory: Killed process 0 (swapper)",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (failure_kmsg_oom_pid(lines[i]) != 0)
			fail_msg("\"%s\" read as an OOM kill of %d", lines[i],
				 (int)failure_kmsg_oom_pid(lines[i]));
	}
	assert_int_equal(failure_kmsg_oom_pid(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torch_oom_traceback),
		cmocka_unit_test(test_chained_traceback),
		cmocka_unit_test(test_traceback_one_word),
		cmocka_unit_test(test_traceback_multiline_message),
		cmocka_unit_test(test_traceback_cut_short),
		cmocka_unit_test(test_torchrun_tags),
		cmocka_unit_test(test_tqdm_redraws),
		cmocka_unit_test(test_ansi_colours),
		cmocka_unit_test(test_error_patterns),
		cmocka_unit_test(test_no_error),
		cmocka_unit_test(test_length_respected),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_cuda_oom_yes),
		cmocka_unit_test(test_cuda_oom_no),
		cmocka_unit_test(test_kmsg_oom),
		cmocka_unit_test(test_kmsg_oom_dmesg_text),
		cmocka_unit_test(test_kmsg_not_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
