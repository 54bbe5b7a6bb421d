#!/usr/bin/env bats
# Resource exhaustion: a full log disk (a small tmpfs on logs/), a daemon out
# of file descriptors, and a fork bomb inside a job. The job keeps running,
# the condition is reported, and everything recovers.

load helpers

setup() {
	setup_home
	MNT=
}

teardown() {
	teardown_home
	if [ -n "$MNT" ]; then
		umount "$MNT" 2>/dev/null || true
	fi
}

# Mount a tmpfs of SIZE on $TRAINCTL_HOME/logs, or skip when not allowed.
small_log_disk() {
	mkdir -p "$TRAINCTL_HOME/logs"
	chmod 700 "$TRAINCTL_HOME" "$TRAINCTL_HOME/logs"
	mount -t tmpfs -o "size=$1,mode=0700" tmpfs "$TRAINCTL_HOME/logs" 2>/dev/null ||
		skip "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)"
	MNT="$TRAINCTL_HOME/logs"
}

log_error_of() {
	tc show "$1" --json | jq -r '.log_error.error // empty'
}

@test "a full log disk: the job keeps running, ls, show and daemon.log say so, writing resumes with room" {
	small_log_disk 1m
	# a job that prints 4 MB in numbered lines, then waits for the test
	start --no-pty --sh "seq 1 600000; while [ ! -e '$BATS_TEST_TMPDIR/go' ]; do sleep 0.05; done; echo the-end"
	wait_for 10 eval '[ -n "$(log_error_of "$ID")" ]'
	[ "$(log_error_of "$ID")" = "No space left on device" ]
	job_state_is "$ID" running
	alive "$(job_field "$ID" pid)"
	run tc ls
	[[ $output == *"running (log not written: No space left on device)"* ]]
	run tc show "$ID"
	[[ $output == *"not written since"* ]]
	wait_for 5 grep -q "job $ID: its log cannot be written (No space left on device)" \
		"$TRAINCTL_HOME/daemon.log"
	# room again: grow the tmpfs
	mount -o remount,size=64m "$MNT"
	wait_for 10 grep -q "job $ID: its log is written again" "$TRAINCTL_HOME/daemon.log"
	[ -z "$(log_error_of "$ID")" ]
	touch "$BATS_TEST_TMPDIR/go"
	wait_for 10 job_state_is "$ID" succeeded
	# every byte: the numbers in order, then the end (the pending output fitted in memory)
	[ "$(head -n 600000 "$MNT/$ID.log" | sha256sum)" = "$(seq 1 600000 | sha256sum)" ]
	[ "$(tail -n 1 "$MNT/$ID.log")" = the-end ]
	tc show "$ID" --json | jq -e '[.events[].kind] | index("log-error") and index("log-resumed")' >/dev/null
	tally "log disk full while a job prints 4 MB" 1
}

@test "a daemon out of file descriptors refuses new clients with a clear error, and recovers" {
	start --no-pty -- sleep 60
	tc daemon stop >/dev/null
	# a daemon with a small descriptor limit (it inherits the command's)
	(ulimit -n 32; tc ls >/dev/null)
	pid=$(daemon_pid)
	[ "$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")" = 32 ]
	# hold connections open until the daemon has no descriptor left
	python3 - "$TRAINCTL_HOME/run/daemon.sock" "$BATS_TEST_TMPDIR/held" <<'EOF' &
import socket, sys, os, time
socks = []
for i in range(64):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
open(sys.argv[2], "w").close()
while os.path.exists(sys.argv[2]):
    time.sleep(0.05)
EOF
	holder=$!
	wait_for 10 test -e "$BATS_TEST_TMPDIR/held"
	run --separate-stderr tc ls
	[ "$status" -eq 1 ]
	[[ $stderr == *"run out of file descriptors"* ]]
	grep -q "out of file descriptors: refusing new clients" "$TRAINCTL_HOME/daemon.log"
	# the daemon keeps supervising: the job's end is still settled
	# (the shim's pidfd was opened before the limit was reached)
	rm "$BATS_TEST_TMPDIR/held"
	wait "$holder"
	wait_for 10 eval 'tc ls >/dev/null 2>&1'
	run tc ls --json
	[ "$(jq -r '.[0].state' <<<"$output")" = running ]
	grep -q "file descriptors available again" "$TRAINCTL_HOME/daemon.log"
	[ "$(daemon_pid)" = "$pid" ]
	tally "daemon out of file descriptors (64 clients, ulimit -n 32)" 1
}

@test "a fork bomb inside a job (bounded here) is killed completely by stop, setsid'ed forks included" {
	# 2^8 processes in a tree, half of them in sessions of their own
	start --no-pty -n bomb --sh "f() { if [ \$1 -gt 0 ]; then f \$((\$1 - 1)) & setsid sh -c 'sleep 600 #$CK' & f \$((\$1 - 1)); fi; exec sleep 600; }; f 8"
	wait_for 30 eval '[ "$(pids_matching "$CK" | wc -l)" -ge 200 ]'
	run tc stop bomb -t 2s
	[ "$status" -eq 0 ]
	job_state_is bomb stopped
	wait_for 10 eval '[ -z "$(pids_matching "$CK")" ]'
	wait_for 10 only_daemon_left
	tally "fork bomb of hundreds of processes, half setsid'ed, then stop" 1
}

@test "1,000 queued jobs: listed with what they wait for, then all run, 8 at a time" {
	tc queue big --parallel 8 --pause >/dev/null
	for i in $(seq 1000); do
		tc run --queue big -- true >/dev/null
	done
	run tc ls --state queued --json
	[ "$status" -eq 0 ]
	[ "$(jq length <<<"$output")" -eq 1000 ]
	[ "$(jq -r '[.[].reason] | unique | .[]' <<<"$output")" = "queue 'big' paused" ]
	[ "$(tc queue --json | jq -c '.[] | select(.name == "big") | [.parallel, .paused, .queued]')" = "[8,true,1000]" ]
	tc queue big --resume >/dev/null
	wait_for 300 eval '[ "$(tc queue --json | jq ".[] | select(.name == \"big\") | .queued + .running")" -eq 0 ]'
	[ "$(tc ls -a --json | jq '[.[] | select(.state == "succeeded")] | length')" -eq 1000 ]
	# never more than 8 at once: the starts and ends, in order, never overlap by more
	tc ls -a --json | jq -r '.[] | "\(.started_at) 1\n\(.ended_at) -1"' | sort |
		awk '{ n += $2; if (n > max) max = n } END { exit !(max <= 8) }'
}
