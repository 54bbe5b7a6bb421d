/*
 * The systemd notification protocol, spoken by the daemon itself (no
 * libsystemd): datagrams to $NOTIFY_SOCKET (a path, or an abstract socket
 * when it starts with '@'). READY=1 once the daemon listens, STATUS= with the
 * job counts whenever they change (checked once a second), WATCHDOG=1 every
 * half of $WATCHDOG_USEC, and STOPPING=1 on the way out. Without
 * $NOTIFY_SOCKET all of this does nothing.
 */
#ifndef TRAINCTL_NOTIFY_H
#define TRAINCTL_NOTIFY_H

#include "daemon/daemon.h"

/* Read and unset $NOTIFY_SOCKET and $WATCHDOG_USEC; send READY=1 and start the timers. */
void notify_start(struct daemon *d);
/* Send STOPPING=1 and let go of the socket and timers. */
void notify_release(struct daemon *d);

/*
 * Whether stderr is the journal ($JOURNAL_STREAM names stderr's device and
 * inode): then log lines carry a <N> priority prefix and no timestamp.
 */
int notify_stderr_is_journal(void);

#endif
