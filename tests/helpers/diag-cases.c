/*
 * Real situations for the diagnose scenarios, one per mode. Each prints
 * "ready" (and for zombie the child's pid) on stdout once the situation
 * exists, then stays in it until killed:
 *   zombie     a child exits and this parent never waits for it
 *   deadlock   two threads each hold one mutex and wait for the other's
 *   fifo PATH  open PATH (a FIFO) for reading: blocks until a writer opens it
 *   pipe-self  read a pipe whose write end only this process holds
 *   busy       spin on the CPU, printing nothing
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_locked;

static void ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

static void *take_b_then_a(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock_b);
	pthread_barrier_wait(&both_locked);
	pthread_mutex_lock(&lock_a);
	return NULL;
}

static int deadlock(void)
{
	pthread_t other;

	pthread_barrier_init(&both_locked, NULL, 2);
	pthread_create(&other, NULL, take_b_then_a, NULL);
	pthread_mutex_lock(&lock_a);
	pthread_barrier_wait(&both_locked);
	ready();
	pthread_mutex_lock(&lock_b);
	return 1;
}

static int zombie(void)
{
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	printf("%d\n", (int)child);
	ready();
	for (;;)
		pause();
}

static int fifo(const char *path)
{
	ready();
	return open(path, O_RDONLY) < 0;
}

static int pipe_self(void)
{
	int fds[2];
	char c;

	if (pipe(fds) < 0)
		return 1;
	ready();
	return read(fds[0], &c, 1) != 0;
}

static int busy(void)
{
	volatile unsigned long n = 0;

	ready();
	while (n != (unsigned long)-1)
		n++;
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "zombie") == 0)
		return zombie();
	if (strcmp(mode, "deadlock") == 0)
		return deadlock();
	if (strcmp(mode, "fifo") == 0 && argc > 2)
		return fifo(argv[2]);
	if (strcmp(mode, "pipe-self") == 0)
		return pipe_self();
	if (strcmp(mode, "busy") == 0)
		return busy();
	fprintf(stderr, "usage: diag-cases zombie|deadlock|fifo PATH|pipe-self|busy\n");
	return 2;
}
