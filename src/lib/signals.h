/*
 * Sending signals without ever hitting a stranger. A pid can be reused as
 * soon as its process is reaped, so for any process that is not our own
 * unreaped child we open a pidfd, check that the process behind it still has
 * the start time we saw, and signal through the pidfd.
 */
#ifndef TRAINCTL_SIGNALS_H
#define TRAINCTL_SIGNALS_H

#include <stdint.h>
#include <sys/types.h>

/* pidfd_open(2); -1 with errno on failure. */
int pidfd_open_pid(pid_t pid);
/* pidfd_send_signal(2) through a pidfd we hold; -1 with errno on failure. */
int pidfd_send(int pidfd, int sig);
/* Signal pid only if it still started at start_time. 0 on success. */
int signal_process_checked(pid_t pid, uint64_t start_time, int sig);
/*
 * Signal every live descendant of root (pidfd-checked). Returns how many
 * processes were signalled.
 */
int signal_descendants(pid_t root, int sig);
/*
 * Signal every live member of session (or process group) sid that started
 * no earlier than min_start. Returns how many were signalled.
 */
int signal_session(pid_t sid, uint64_t min_start, int sig);
/* Restore default dispositions and an empty mask (for a child about to exec). */
void signals_reset_for_exec(void);

#endif
