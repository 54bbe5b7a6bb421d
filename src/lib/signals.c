/* pidfd-checked signalling; see signals.h. */
#include "lib/signals.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/proc.h"

int pidfd_open_pid(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int pidfd_send(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int signal_process_checked(pid_t pid, uint64_t start_time, int sig)
{
	int fd = pidfd_open_pid(pid);
	int ret = -1;

	if (fd < 0)
		return -1;
	/* The pidfd pins the process; now make sure it is the one we meant. */
	if (start_time == 0 || proc_start_time(pid) == start_time)
		ret = pidfd_send(fd, sig);
	else
		errno = ESRCH;
	close(fd);
	return ret;
}

static int signal_list(const struct proc_list *list, int sig)
{
	int count = 0;

	for (size_t i = 0; i < list->len; i++) {
		if (signal_process_checked(list->items[i].pid, list->items[i].start_time, sig) == 0)
			count++;
	}
	return count;
}

int signal_descendants(pid_t root, int sig)
{
	struct proc_list list = { 0 };
	int count = 0;

	if (proc_descendants(root, &list) == 0)
		count = signal_list(&list, sig);
	proc_list_release(&list);
	return count;
}

int signal_session(pid_t sid, uint64_t min_start, int sig)
{
	struct proc_list list = { 0 };
	int count = 0;

	if (proc_session_members(sid, min_start, &list) == 0)
		count = signal_list(&list, sig);
	proc_list_release(&list);
	return count;
}

void signals_reset_for_exec(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t empty;

	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	}
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
}
