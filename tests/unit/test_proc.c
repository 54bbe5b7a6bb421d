/*
 * Unit tests for src/lib/proc.c: the stat parser on captured lines, and live
 * checks against processes this test forks (always killed and reaped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/proc.h"

/* ---- captured /proc/PID/stat lines (52 fields, as on Linux >= 3.5) ---- */

/* A training process: every checked field holds a distinct value. */
static const char STAT_NORMAL[] =
	"31337 (python3) S 31300 31337 31200 34816 31337 4194560 120345 4567 89 12 "
	"987654 12345 678 90 20 0 37 0 5501234 28342394880 1234567 18446744073709551615 "
	"94000000000000 94000000010000 140720000000000 0 0 0 0 16781312 134234626 1 0 0 "
	"17 3 0 0 42 0 0 94000000020000 94000000030000 94000100000000 140720000001000 "
	"140720000001100 140720000001100 140720000002000 0\n";

/* comm with spaces and parentheses (15 characters, the kernel's limit). */
static const char STAT_WEIRD_COMM[] =
	"1234 (my (weird) prog) S 1 1234 1234 0 -1 4194560 2211 0 3 0 "
	"501 77 0 0 20 0 4 0 880011 6553600 2048 18446744073709551615 "
	"94500000000000 94500000004096 140730000000000 0 0 0 0 0 0 0 0 0 "
	"17 0 0 0 0 0 0 94500000010000 94500000010500 94500020000000 140730000001000 "
	"140730000001020 140730000001020 140730000002000 0\n";

/* comm that itself looks like the start of the fields: "x) R 7 (y". */
static const char STAT_TRICKY_COMM[] =
	"2222 (x) R 7 (y) T 2000 2222 2100 0 -1 4194304 10 0 0 0 "
	"3 4 0 0 20 0 2 0 990001 1000000 300 18446744073709551615 "
	"1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

/* An exited child its parent has not reaped yet: no memory, exit_code set. */
static const char STAT_ZOMBIE[] =
	"5678 (python3) Z 1234 1234 1234 0 -1 4227084 2 0 0 0 "
	"15 4 0 0 20 0 1 0 60000 0 0 18446744073709551615 "
	"0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 2304\n";

/* A real-time kernel thread: negative priority, pgrp and session 0. */
static const char STAT_KTHREAD_RT[] =
	"17 (migration/1) S 2 0 0 0 -1 69238848 0 0 0 0 "
	"0 52 0 0 -100 0 1 0 3 0 0 18446744073709551615 "
	"0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 99 1 0 0 0 0 0 0 0 0 0 0 0\n";

/* An idle kworker (state I, nice -20) whose name is longer than 15 bytes. */
static const char STAT_KWORKER[] =
	"6 (kworker/0:0H-events_highpri) I 2 0 0 0 -1 69238880 0 0 0 0 "
	"0 0 0 0 0 -20 1 0 5 0 0 18446744073709551615 "
	"0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

/* Count the whitespace-separated fields after the last ')' (+2 for pid, comm). */
static int count_fields(const char *line)
{
	const char *p = strrchr(line, ')') + 1;
	int n = 2, in = 0;

	for (; *p; p++) {
		if (*p == ' ' || *p == '\n') {
			in = 0;
		} else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

static void test_fixtures_have_52_fields(void **state)
{
	(void)state;
	assert_int_equal(count_fields(STAT_NORMAL), 52);
	assert_int_equal(count_fields(STAT_WEIRD_COMM), 52);
	assert_int_equal(count_fields(STAT_TRICKY_COMM), 52);
	assert_int_equal(count_fields(STAT_ZOMBIE), 52);
	assert_int_equal(count_fields(STAT_KTHREAD_RT), 52);
	assert_int_equal(count_fields(STAT_KWORKER), 52);
}

static void test_parse_normal(void **state)
{
	struct proc_stat st;

	(void)state;
	memset(&st, 0xAB, sizeof(st));
	assert_int_equal(proc_parse_stat(STAT_NORMAL, &st), 0);
	assert_int_equal(st.pid, 31337);
	assert_string_equal(st.comm, "python3");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 31300);   /* field 4 */
	assert_int_equal(st.pgrp, 31337);   /* field 5 */
	assert_int_equal(st.session, 31200); /* field 6 */
	assert_int_equal(st.utime, 987654); /* field 14 */
	assert_int_equal(st.stime, 12345);  /* field 15 */
	assert_int_equal(st.num_threads, 37); /* field 20 */
	assert_int_equal(st.start_time, 5501234); /* field 22 */
	assert_int_equal(st.rss_pages, 1234567);  /* field 24 */
}

static void test_parse_comm_with_spaces_and_parens(void **state)
{
	struct proc_stat st;

	(void)state;
	memset(&st, 0xAB, sizeof(st));
	assert_int_equal(proc_parse_stat(STAT_WEIRD_COMM, &st), 0);
	assert_int_equal(st.pid, 1234);
	assert_string_equal(st.comm, "my (weird) prog");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.pgrp, 1234);
	assert_int_equal(st.session, 1234);
	assert_int_equal(st.utime, 501);
	assert_int_equal(st.stime, 77);
	assert_int_equal(st.num_threads, 4);
	assert_int_equal(st.start_time, 880011);
	assert_int_equal(st.rss_pages, 2048);
}

static void test_parse_comm_that_looks_like_fields(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_parse_stat(STAT_TRICKY_COMM, &st), 0);
	assert_int_equal(st.pid, 2222);
	assert_string_equal(st.comm, "x) R 7 (y");
	assert_int_equal(st.state, 'T');
	assert_int_equal(st.ppid, 2000);
	assert_int_equal(st.pgrp, 2222);
	assert_int_equal(st.session, 2100);
	assert_int_equal(st.utime, 3);
	assert_int_equal(st.stime, 4);
	assert_int_equal(st.num_threads, 2);
	assert_int_equal(st.start_time, 990001);
	assert_int_equal(st.rss_pages, 300);
}

static void test_parse_zombie(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_parse_stat(STAT_ZOMBIE, &st), 0);
	assert_int_equal(st.pid, 5678);
	assert_string_equal(st.comm, "python3");
	assert_int_equal(st.state, 'Z');
	assert_int_equal(st.ppid, 1234);
	assert_int_equal(st.pgrp, 1234);
	assert_int_equal(st.session, 1234);
	assert_int_equal(st.utime, 15);
	assert_int_equal(st.stime, 4);
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.start_time, 60000);
	assert_int_equal(st.rss_pages, 0);
}

static void test_parse_kernel_threads(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_parse_stat(STAT_KTHREAD_RT, &st), 0);
	assert_int_equal(st.pid, 17);
	assert_string_equal(st.comm, "migration/1");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 2);
	assert_int_equal(st.pgrp, 0);
	assert_int_equal(st.session, 0);
	assert_int_equal(st.utime, 0);
	assert_int_equal(st.stime, 52);
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.start_time, 3);
	assert_int_equal(st.rss_pages, 0);

	assert_int_equal(proc_parse_stat(STAT_KWORKER, &st), 0);
	assert_int_equal(st.pid, 6);
	assert_string_equal(st.comm, "kworker/0:0H-events_highpri");
	assert_int_equal(st.state, 'I');
	assert_int_equal(st.ppid, 2);
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.start_time, 5);
}

static void test_parse_long_comm_is_truncated(void **state)
{
	char line[512], comm[201];
	struct proc_stat st;

	(void)state;
	memset(comm, 'c', 200);
	comm[200] = '\0';
	snprintf(line, sizeof(line),
		 "77 (%s) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 123 0 9 0\n", comm);
	assert_int_equal(proc_parse_stat(line, &st), 0);
	assert_int_equal(st.pid, 77);
	assert_int_equal(strlen(st.comm), sizeof(st.comm) - 1);
	assert_int_equal(st.comm[0], 'c');
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.start_time, 123);
	assert_int_equal(st.rss_pages, 9);
}

static void test_parse_truncated_and_garbage(void **state)
{
	struct proc_stat st;
	char cut[sizeof(STAT_NORMAL)];
	const char *p;
	int field;

	(void)state;
	assert_int_equal(proc_parse_stat("", &st), -1);
	assert_int_equal(proc_parse_stat("\n", &st), -1);
	assert_int_equal(proc_parse_stat("garbage", &st), -1);
	assert_int_equal(proc_parse_stat("hello (world", &st), -1);
	assert_int_equal(proc_parse_stat("1234 (cat", &st), -1);
	assert_int_equal(proc_parse_stat("1234 cat) S 1 2 3", &st), -1);
	assert_int_equal(proc_parse_stat("1234 (cat)", &st), -1);
	assert_int_equal(proc_parse_stat("1234 (cat) S", &st), -1);
	assert_int_equal(proc_parse_stat("1234 (cat) S 1 1234 1234 0 -1", &st), -1);
	assert_int_equal(proc_parse_stat("1234 (cat) S x y z 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 6 7",
					 &st), -1);
	/* no pid before the comm */
	assert_int_equal(proc_parse_stat(strchr(STAT_NORMAL, '('), &st), -1);
	assert_int_equal(proc_parse_stat("abc (python3) S 1 1 1 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 6 7",
					 &st), -1);

	/* cut the normal line after each of fields 2..23: all must fail */
	p = strrchr(STAT_NORMAL, ')') + 1; /* end of field 2 */
	for (field = 2; field <= 23; field++) {
		size_t len = (size_t)(p - STAT_NORMAL);

		memcpy(cut, STAT_NORMAL, len);
		cut[len] = '\0';
		if (proc_parse_stat(cut, &st) != -1)
			fail_msg("a line cut after field %d was accepted: \"%s\"", field, cut);
		p = strchr(p + 1, ' '); /* end of the next field */
		assert_non_null(p);
	}
	/* ... and with 24 fields it is enough */
	{
		size_t len = (size_t)(p - STAT_NORMAL);

		memcpy(cut, STAT_NORMAL, len);
		cut[len] = '\0';
		assert_int_equal(proc_parse_stat(cut, &st), 0);
		assert_int_equal(st.rss_pages, 1234567);
	}
}

/* ---- live processes ---- */

#define MAX_KIDS 8

struct kids {
	pid_t pid[MAX_KIDS]; /* processes to kill if a test fails half way */
	int n;
};

static struct kids kids;

static void kid_add(pid_t pid)
{
	assert_true(pid > 0);
	assert_true(kids.n < MAX_KIDS);
	kids.pid[kids.n++] = pid;
}

/* Mark pid as gone (reaped), so teardown does not signal a reused pid. */
static void kid_done(pid_t pid)
{
	for (int i = 0; i < kids.n; i++)
		if (kids.pid[i] == pid)
			kids.pid[i] = 0;
}

static int setup_kids(void **state)
{
	(void)state;
	memset(&kids, 0, sizeof(kids));
	return 0;
}

/* Kill whatever is left (grandchildren first), then reap every child. */
static int teardown_kids(void **state)
{
	(void)state;
	for (int i = kids.n - 1; i >= 0; i--)
		if (kids.pid[i] > 0)
			kill(kids.pid[i], SIGKILL);
	for (;;) {
		pid_t p = waitpid(-1, NULL, 0);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			break; /* ECHILD: nothing left */
	}
	memset(&kids, 0, sizeof(kids));
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	/* orphaned grandchildren come back to us, so teardown reaps them too */
	return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

static void read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("short read from a child's pipe (n=%zd)", n);
		p += n;
		len -= (size_t)n;
	}
}

static void write_exact(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(100);
}

/* Block until the child pid has exited, without reaping it (it stays a zombie). */
static void wait_zombie(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0) {
		if (errno != EINTR)
			fail_msg("waitid(%d): %s", (int)pid, strerror(errno));
	}
	assert_int_equal(si.si_pid, pid);
}

static int reap(pid_t pid)
{
	int status = -1;
	pid_t p;

	while ((p = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	assert_int_equal(p, pid);
	kid_done(pid);
	return status;
}

static void test_read_stat_self(void **state)
{
	struct proc_stat st;
	int64_t started, now;

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(proc_read_stat(getpid(), &st), 0);
	assert_int_equal(st.pid, getpid());
	assert_string_equal(st.comm, "test_proc");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.pgrp, getpgrp());
	assert_int_equal(st.session, getsid(0));
	assert_true(st.num_threads >= 1);
	assert_true(st.start_time > 0);
	assert_true(st.rss_pages > 0);
	assert_int_equal(proc_start_time(getpid()), st.start_time);

	/* this process started a moment ago (btime has one-second resolution) */
	started = proc_start_epoch_ms(st.start_time);
	now = time_now_ms();
	if (started > now + 2000 || started < now - 120000)
		fail_msg("start epoch %lld is not close to now %lld", (long long)started,
			 (long long)now);
}

static void test_alive_self(void **state)
{
	uint64_t start = proc_start_time(getpid());

	(void)state;
	assert_true(start > 0);
	assert_int_equal(proc_alive(getpid(), start), 1);
	assert_int_equal(proc_alive(getpid(), start + 1), 0);
	assert_int_equal(proc_alive(getpid(), start - 1), 0);
	assert_int_equal(proc_alive(0, start), 0);
	assert_int_equal(proc_alive(-1, start), 0);
}

static void test_gone_process(void **state)
{
	struct proc_stat st;
	pid_t pid;

	(void)state;
	/* a pid that cannot exist: above the kernel's maximum */
	pid = 0x7ffffff0;
	assert_int_equal(proc_read_stat(pid, &st), -1);
	assert_int_equal(proc_start_time(pid), 0);
	assert_int_equal(proc_alive(pid, 12345), 0);
}

/* Our own arguments, NUL-separated as the kernel keeps them, and our owner. */
static void test_cmdline_and_uid_self(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(proc_read_cmdline(getpid(), &sb), 0);
	assert_true(sb.len > 0);
	assert_int_equal(sb.buf[sb.len - 1], '\0');
	assert_non_null(strstr(exe, strrchr(sb.buf, '/') ? strrchr(sb.buf, '/') : sb.buf));
	assert_int_equal(proc_read_uid(getpid()), (int64_t)getuid());
	strbuf_release(&sb);

	assert_int_equal(proc_read_cmdline(0x7ffffff0, &sb), -1);
	assert_int_equal(proc_read_uid(0x7ffffff0), -1);
	strbuf_release(&sb);
}

static void test_zombie_is_not_alive(void **state)
{
	struct proc_stat st;
	int go[2], status;
	uint64_t start;
	pid_t pid;
	char c = 'x';

	(void)state;
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(99);
		_exit(3);
	}
	kid_add(pid);
	close(go[0]);

	/* alive while it waits on the pipe */
	start = proc_start_time(pid);
	assert_true(start > 0);
	assert_int_equal(proc_read_stat(pid, &st), 0);
	assert_int_equal(st.ppid, getpid());
	assert_int_equal(proc_alive(pid, start), 1);
	assert_int_equal(proc_alive(pid, start + 1), 0);

	/* let it exit; it stays a zombie until reaped */
	assert_int_equal(write(go[1], &c, 1), 1);
	close(go[1]);
	wait_zombie(pid);
	assert_int_equal(proc_read_stat(pid, &st), 0);
	assert_int_equal(st.state, 'Z');
	assert_int_equal(st.start_time, start);
	assert_int_equal(proc_alive(pid, start), 0);
	assert_int_equal(proc_alive(pid, 0), 0);

	status = reap(pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_int_equal(proc_alive(pid, start), 0);
}

static const struct proc_stat *find_pid(const struct proc_list *list, pid_t pid)
{
	for (size_t i = 0; i < list->len; i++)
		if (list->items[i].pid == pid)
			return &list->items[i];
	return NULL;
}

/*
 * Child A forks grandchild B (blocks on a pipe) and grandchild B2 (exits at
 * once; A leaves it a zombie). We also fork Z, which exits and stays a zombie.
 * The descendants of this process are then exactly A and B.
 */
static void test_descendants(void **state)
{
	int ready_b[2], ready_a[2], release[2], status;
	struct proc_list list = { 0 };
	const struct proc_stat *sa, *sb;
	pid_t a, b = 0, b2 = 0, z;

	(void)state;
	assert_int_equal(pipe(ready_b), 0);
	assert_int_equal(pipe(ready_a), 0);
	assert_int_equal(pipe(release), 0);

	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		siginfo_t si;
		int st_b = -1, st_b2 = -1;
		pid_t gb, gb2;

		close(ready_b[0]);
		close(ready_a[0]);
		close(release[1]);
		gb = fork();
		if (gb < 0)
			_exit(101);
		if (gb == 0) {
			pid_t me = getpid();
			char c;

			close(ready_a[1]);
			write_exact(ready_b[1], &me, sizeof(me));
			close(ready_b[1]);
			/* sleep until the test closes the release pipe */
			while (read(release[0], &c, 1) > 0)
				;
			_exit(0);
		}
		close(ready_b[1]);
		close(release[0]);
		gb2 = fork();
		if (gb2 < 0)
			_exit(102);
		if (gb2 == 0)
			_exit(0);
		while (waitid(P_PID, (id_t)gb2, &si, WEXITED | WNOWAIT) < 0)
			if (errno != EINTR)
				_exit(103);
		write_exact(ready_a[1], &gb, sizeof(gb));
		write_exact(ready_a[1], &gb2, sizeof(gb2));
		close(ready_a[1]);
		while (waitpid(gb, &st_b, 0) < 0 && errno == EINTR)
			;
		while (waitpid(gb2, &st_b2, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st_b) && WEXITSTATUS(st_b) == 0 && WIFEXITED(st_b2) ? 0 : 104);
	}
	kid_add(a);
	close(ready_b[1]);
	close(ready_a[1]);
	close(release[0]);

	/* B tells us it runs; A tells us B's pid and that B2 is a zombie */
	read_exact(ready_b[0], &b, sizeof(b));
	kid_add(b);
	{
		pid_t b_from_a;

		read_exact(ready_a[0], &b_from_a, sizeof(b_from_a));
		assert_int_equal(b_from_a, b);
		read_exact(ready_a[0], &b2, sizeof(b2));
	}
	close(ready_b[0]);
	close(ready_a[0]);

	z = fork();
	assert_true(z >= 0);
	if (z == 0)
		_exit(0);
	kid_add(z);
	wait_zombie(z);

	/* preconditions: B2 and Z really are zombies right now */
	{
		struct proc_stat st;

		assert_int_equal(proc_read_stat(b2, &st), 0);
		assert_int_equal(st.state, 'Z');
		assert_int_equal(st.ppid, a);
		assert_int_equal(proc_read_stat(z, &st), 0);
		assert_int_equal(st.state, 'Z');
	}

	assert_int_equal(proc_descendants(getpid(), &list), 0);
	sa = find_pid(&list, a);
	sb = find_pid(&list, b);
	if (!sa || !sb)
		fail_msg("descendants of %d miss child %d or grandchild %d (%zu found)",
			 (int)getpid(), (int)a, (int)b, list.len);
	assert_int_equal(sa->ppid, getpid());
	assert_int_equal(sb->ppid, a);
	assert_int_not_equal(sa->state, 'Z');
	assert_int_not_equal(sb->state, 'Z');
	assert_null(find_pid(&list, z));        /* zombie child excluded */
	assert_null(find_pid(&list, b2));       /* zombie grandchild excluded */
	assert_null(find_pid(&list, getpid())); /* not the root itself */
	assert_int_equal(list.len, 2);
	proc_list_release(&list);
	assert_null(list.items);
	assert_int_equal(list.len, 0);

	/* from A: only B */
	assert_int_equal(proc_descendants(a, &list), 0);
	assert_int_equal(list.len, 1);
	assert_int_equal(list.items[0].pid, b);
	proc_list_release(&list);

	/* B has none */
	assert_int_equal(proc_descendants(b, &list), 0);
	assert_int_equal(list.len, 0);
	proc_list_release(&list);

	/* release B; A reaps B and B2, then exits 0 */
	close(release[1]);
	status = reap(a);
	kid_done(b);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	status = reap(z);
	assert_true(WIFEXITED(status));

	/* nothing left below us */
	assert_int_equal(proc_descendants(getpid(), &list), 0);
	assert_int_equal(list.len, 0);
	proc_list_release(&list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_have_52_fields),
		cmocka_unit_test(test_parse_normal),
		cmocka_unit_test(test_parse_comm_with_spaces_and_parens),
		cmocka_unit_test(test_parse_comm_that_looks_like_fields),
		cmocka_unit_test(test_parse_zombie),
		cmocka_unit_test(test_parse_kernel_threads),
		cmocka_unit_test(test_parse_long_comm_is_truncated),
		cmocka_unit_test(test_parse_truncated_and_garbage),
		cmocka_unit_test(test_read_stat_self),
		cmocka_unit_test(test_alive_self),
		cmocka_unit_test(test_gone_process),
		cmocka_unit_test(test_cmdline_and_uid_self),
		cmocka_unit_test_setup_teardown(test_zombie_is_not_alive, setup_kids, teardown_kids),
		cmocka_unit_test_setup_teardown(test_descendants, setup_kids, teardown_kids),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
