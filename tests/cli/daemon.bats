#!/usr/bin/env bats
# Scenarios for the trainctl daemon: on-demand start, status and stop, the
# lock that keeps one daemon per home, crash safety (kill -9 of the daemon or
# of a job's shim), the socket protocol, deep and unusable homes, the
# database and the permissions of the run directory.
#
# Every test has its own TRAINCTL_HOME; teardown_home kills every process
# that carries it. Waits poll a condition with a deadline; none sleep blind.

load helpers

setup() {
	setup_home
}

teardown() {
	teardown_home
}

# ---- helpers -----------------------------------------------------------------

daemon_alive() {
	local pid
	pid=$(daemon_pid) || return 1
	[ -n "$pid" ] && alive "$pid"
}

# Does PID hold a socket (e.g. a CLI connected to the daemon)?
has_socket() {
	find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | grep -q .
}

file_size() {
	stat -c %s "$1" 2>/dev/null || echo 0
}

size_above() {
	[ "$(file_size "$1")" -gt "$2" ]
}

log_file() {
	echo "$TRAINCTL_HOME/logs/$1.log"
}

exit_record() {
	[ -e "$TRAINCTL_HOME/jobs/$1.exit" ]
}

# sock_request LINE...: send each line on one connection to the daemon and
# print one reply line per request.
sock_request() {
	python3 - "$TRAINCTL_HOME/run/daemon.sock" "$@" <<'EOF'
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
# The path may be long: connect relative to its directory.
os.chdir(os.path.dirname(path))
s.connect(os.path.basename(path))
f = s.makefile("rb")
for line in sys.argv[2:]:
    s.sendall(line.encode() + b"\n")
    reply = f.readline()
    if not reply:
        sys.exit("connection closed without a reply to: " + line)
    sys.stdout.write(reply.decode())
EOF
}

# ---- start, status, stop -----------------------------------------------------

@test "the first command starts the daemon, which writes its live pid to daemon.lock" {
	[ ! -e "$TRAINCTL_HOME/run/daemon.lock" ]
	run tc ls
	[ "$status" -eq 0 ]
	pid=$(daemon_pid)
	[[ $pid =~ ^[0-9]+$ ]]
	alive "$pid"
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'daemon'
	# A second command talks to the same daemon.
	run tc ls
	[ "$status" -eq 0 ]
	[ "$(daemon_pid)" = "$pid" ]
	[ "$(daemon_pids | wc -l)" -eq 1 ]
}

@test "daemon status prints running and the pid, and exits 0" {
	tc ls >/dev/null
	pid=$(daemon_pid)
	run --separate-stderr tc daemon status
	[ "$status" -eq 0 ]
	[[ $output == *running* ]]
	[[ $output == *"$pid"* ]]
}

@test "daemon status --json has pid, version, home and jobs" {
	tc run --sh 'sleep 30' >/dev/null
	pid=$(daemon_pid)
	run --separate-stderr tc daemon status --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .pid <<<"$output")" = "$pid" ]
	[ "$(jq -r .version <<<"$output")" = "$(tc --version | awk '{print $NF}')" ]
	[ "$(jq -r .home <<<"$output")" = "$TRAINCTL_HOME" ]
	[ "$(jq -r '.jobs | type' <<<"$output")" = object ]
	[ "$(jq -r '.jobs.running' <<<"$output")" = 1 ]
}

@test "daemon stop stops the daemon; afterwards daemon status exits 3" {
	tc ls >/dev/null
	pid=$(daemon_pid)
	alive "$pid"
	run --separate-stderr tc daemon stop
	[ "$status" -eq 0 ]
	wait_for 5 daemon_dead "$pid"
	run --separate-stderr tc daemon status
	[ "$status" -eq 3 ]
	[[ $output == *"no daemon"* ]]
	# status does not start a daemon
	[ -z "$(daemon_pids)" ]
}

@test "a running job survives daemon stop; the restarted daemon shows it running and can stop it" {
	id=$(tc run --sh 'sleep 60')
	wait_for 5 job_state_is "$id" running
	jpid=$(job_field "$id" pid)
	dpid=$(daemon_pid)
	tc daemon stop
	wait_for 5 daemon_dead "$dpid"
	alive "$jpid"
	run tc ls --json
	[ "$status" -eq 0 ]
	new=$(daemon_pid)
	[ "$new" != "$dpid" ]
	alive "$new"
	[ "$(jq -r ".[] | select(.id == $id) | .state" <<<"$output")" = running ]
	[ "$(jq -r ".[] | select(.id == $id) | .pid" <<<"$output")" = "$jpid" ]
	run tc stop -t 5s "$id"
	[ "$status" -eq 0 ]
	[ "$(job_field "$id" state)" = stopped ]
	wait_for 5 not_alive "$jpid"
}

# ---- crash safety ------------------------------------------------------------

@test "kill -9 of the daemon: the job keeps running and logging, and a new daemon re-adopts it" {
	id=$(tc run --no-pty --sh 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done')
	wait_for 5 log_has "$id" "tick 3"
	jpid=$(job_field "$id" pid)
	log=$(log_file "$id")
	crash_daemon
	size=$(file_size "$log")
	# With no daemon at all, the job still runs and its output still flows.
	wait_for 5 size_above "$log" "$size"
	alive "$jpid"
	[ -z "$(daemon_pids)" ]

	# The next command starts a new daemon that sees the same job, same pid.
	run tc ls --json
	[ "$status" -eq 0 ]
	new=$(daemon_pid)
	[ "$new" != "$CRASHED_PID" ]
	alive "$new"
	[ "$(jq -r ".[] | select(.id == $id) | .state" <<<"$output")" = running ]
	[ "$(jq -r ".[] | select(.id == $id) | .pid" <<<"$output")" = "$jpid" ]

	# pause/resume act on the real process tree.
	run tc pause "$id"
	[ "$status" -eq 0 ]
	[ "$(job_field "$id" state)" = paused ]
	stat=$(cat "/proc/$jpid/stat")
	stat=${stat##*) }
	[ "${stat%% *}" = T ]
	run tc resume "$id"
	[ "$status" -eq 0 ]
	[ "$(job_field "$id" state)" = running ]
	n=$(tc log "$id" | wc -l)
	wait_for 5 eval '[ "$(tc log "$id" | wc -l)" -gt "$n" ]'

	# log shows what was written before and after the crash.
	run tc log "$id"
	[ "$status" -eq 0 ]
	[[ $output == *"tick 1"* ]]
	run tc log -n 1 "$id"
	[ "$status" -eq 0 ]
	[[ $output == tick* ]]

	# wait, in the background, returns once stop ends the job.
	tc wait "$id" >/dev/null 2>&1 &
	waiter=$!
	run tc stop -t 5s "$id"
	[ "$status" -eq 0 ]
	[[ $output == *stopped* ]]
	wait "$waiter" || wstatus=$?
	[ "${wstatus:-0}" -eq 143 ] # SIGTERM
	[ "$(job_field "$id" state)" = stopped ]
	wait_for 5 not_alive "$jpid"
	run tc wait "$id"
	[ "$status" -eq 143 ]
}

@test "the log is byte-exact across a daemon crash (--no-pty)" {
	# ~1500 lines over a few seconds; the same stream, generated here at once,
	# is what the log must hold, byte for byte.
	script='for i in $(seq 1 1500); do echo "line $i $(printf %050d $i)"; sleep 0.001; done'
	expected=$(seq 1 1500 | awk '{ printf "line %d %050d\n", $1, $1 }' | sha256sum | cut -d' ' -f1)
	id=$(tc run --no-pty --sh "$script")
	wait_for 10 log_has "$id" "line 200 "
	crash_daemon
	# The job is still mid-run when the daemon dies.
	[ ! -e "$TRAINCTL_HOME/jobs/$id.exit" ]
	run tc wait "$id"
	[ "$status" -eq 0 ]
	[ "$(job_field "$id" state)" = succeeded ]
	actual=$(sha256sum <"$(log_file "$id")" | cut -d' ' -f1)
	[ "$actual" = "$expected" ]
	# and through `trainctl log` too
	[ "$(tc log "$id" | sha256sum | cut -d' ' -f1)" = "$expected" ]
}

@test "a job that ends while the daemon is down shows its real final state and exit code" {
	id=$(tc run --sh 'sleep 1; exit 7')
	crash_daemon
	[ ! -e "$TRAINCTL_HOME/jobs/$id.exit" ]
	wait_for 10 exit_record "$id"
	[ -z "$(daemon_pids)" ]
	run tc show "$id" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<<"$output")" = failed ]
	[ "$(jq -r .exit_code <<<"$output")" = 7 ]
	[ "$(jq -r .ended_at <<<"$output")" != null ]
	run tc wait "$id"
	[ "$status" -eq 7 ]
}

@test "a job killed by a signal while the daemon is down ends failed with that signal" {
	id=$(tc run --sh 'sleep 60; echo unreachable')
	wait_for 5 job_state_is "$id" running
	jpid=$(job_field "$id" pid)
	crash_daemon
	kill -9 "$jpid"
	wait_for 10 exit_record "$id"
	run tc show "$id" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<<"$output")" = failed ]
	[ "$(jq -r .signal <<<"$output")" = 9 ]
	run tc wait "$id"
	[ "$status" -eq 137 ]
}

@test "kill -9 of a job's shim: the job ends lost (supervisor-lost) and its process is killed" {
	id=$(tc run --no-pty --sh 'trap "" HUP PIPE; sleep 60')
	wait_for 5 job_state_is "$id" running
	jpid=$(job_field "$id" pid)
	shim=$(ppid_of "$jpid")
	[ "$(tr '\0' ' ' <"/proc/$shim/cmdline")" = "trainctl-shim --id $id " ]
	kill -9 "$shim"
	wait_for 5 eval '! job_state_is "$id" running'
	run tc show "$id" --json
	[ "$(jq -r .state <<<"$output")" = lost ]
	[ "$(jq -r .reason <<<"$output")" = supervisor-lost ]
	wait_for 2 not_alive "$jpid"
	run tc ls --state running --json
	[ "$(jq length <<<"$output")" = 0 ]
	run tc wait "$id"
	[ "$status" -ne 0 ]
}

@test "kill -9 of a job's shim while the daemon is down: the next daemon marks it lost and kills the job" {
	id=$(tc run --no-pty --sh 'trap "" HUP PIPE; sleep 60')
	wait_for 5 job_state_is "$id" running
	jpid=$(job_field "$id" pid)
	shim=$(ppid_of "$jpid")
	crash_daemon
	kill -9 "$shim"
	wait_for 5 not_alive "$shim"
	run tc show "$id" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<<"$output")" = lost ]
	[ "$(jq -r .reason <<<"$output")" = supervisor-lost ]
	wait_for 2 not_alive "$jpid"
}

@test "kill -9 of a job's shim kills the job's whole tree, children included" {
	# The job is an sh with a child sleep; both must go, not only the sh.
	id=$(tc run --no-pty --sh 'trap "" HUP PIPE; sleep 60; echo done')
	wait_for 5 job_state_is "$id" running
	jpid=$(job_field "$id" pid)
	wait_for 5 eval '[ -n "$(pgrep -P "$jpid")" ]'
	child=$(pgrep -P "$jpid")
	shim=$(ppid_of "$jpid")
	kill -9 "$shim"
	wait_for 5 job_state_is "$id" lost
	wait_for 2 not_alive "$jpid"
	wait_for 2 not_alive "$child"
	# nothing of the job's tree is left: only the daemon carries this home
	wait_for 2 only_daemon_left
}

@test "a wait in progress survives a daemon crash and exits with the job's status" {
	id=$(tc run --sh 'sleep 1.5; exit 5')
	"$TRAINCTL" wait "$id" >/dev/null 2>"$BATS_TEST_TMPDIR/wait.err" &
	waiter=$!
	# the wait is connected to the daemon (pending) when the daemon dies
	wait_for 5 has_socket "$waiter"
	crash_daemon
	wait "$waiter" || wstatus=$?
	[ "${wstatus:-0}" -eq 5 ]
	[ "$(job_field "$id" state)" = failed ]
}

# ---- one daemon per home -----------------------------------------------------

@test "a second daemon on the same home exits 1, names the running pid, and leaves the first alone" {
	tc ls >/dev/null
	pid=$(daemon_pid)
	run --separate-stderr timeout 10 "$TRAINCTL" daemon --foreground
	[ "$status" -eq 1 ]
	[[ $stderr == "trainctl: "* ]]
	[[ $stderr == *"already running"* ]]
	[[ $stderr == *"$pid"* ]]
	alive "$pid"
	[ "$(daemon_pid)" = "$pid" ]
	[ "$(daemon_pids)" = "$pid" ]
	run tc ls
	[ "$status" -eq 0 ]
	[ "$(daemon_pid)" = "$pid" ]
}

@test "CLIs racing to start the daemon end with exactly one daemon" {
	for round in 1 2 3 4 5; do
		tc ls >/dev/null 2>"$BATS_TEST_TMPDIR/e1" &
		p1=$!
		tc ls >/dev/null 2>"$BATS_TEST_TMPDIR/e2" &
		p2=$!
		tc ls >/dev/null 2>"$BATS_TEST_TMPDIR/e3" &
		p3=$!
		wait "$p1"
		wait "$p2"
		wait "$p3"
		[ "$(daemon_pids | wc -l)" -eq 1 ]
		pid=$(daemon_pid)
		[ "$(daemon_pids)" = "$pid" ]
		tc daemon stop >/dev/null
		wait_for 5 daemon_dead "$pid"
	done
}

# ---- the socket protocol -----------------------------------------------------

@test "bad lines on the socket get error replies and the daemon keeps answering" {
	tc ls >/dev/null
	pid=$(daemon_pid)

	run sock_request 'this is not json'
	[ "$status" -eq 0 ]
	[ "$(jq -r .ok <<<"$output")" = false ]
	[ "$(jq -r .v <<<"$output")" = 1 ]
	[ -n "$(jq -r .error <<<"$output")" ]
	alive "$pid"

	run sock_request '{"v":99,"op":"ls"}'
	[ "$status" -eq 0 ]
	[ "$(jq -r .ok <<<"$output")" = false ]
	jq -r .error <<<"$output" | grep -qi version

	run sock_request '{"v":1,"op":"no-such-op"}'
	[ "$status" -eq 0 ]
	[ "$(jq -r .ok <<<"$output")" = false ]
	jq -r .error <<<"$output" | grep -q 'no-such-op'

	run sock_request '{"op":"ls"}'
	[ "$(jq -r .ok <<<"$output")" = false ]
	run sock_request '[1,2,3]'
	[ "$(jq -r .ok <<<"$output")" = false ]
	run sock_request '{"v":1}'
	[ "$(jq -r .ok <<<"$output")" = false ]

	# Bad and good lines on one connection: each gets its own reply, in order.
	run sock_request 'garbage' '{"v":1,"op":"ls"}' '{"v":2,"op":"ls"}' '{"v":1,"op":"ls"}'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[ "$(jq -r .ok <<<"${lines[0]}")" = false ]
	[ "$(jq -r .ok <<<"${lines[1]}")" = true ]
	[ "$(jq -r .ok <<<"${lines[2]}")" = false ]
	[ "$(jq -r .ok <<<"${lines[3]}")" = true ]

	alive "$pid"
	[ "$(daemon_pid)" = "$pid" ]
	run tc ls
	[ "$status" -eq 0 ]
	run sock_request '{"v":1,"op":"ls"}'
	[ "$(jq -r .ok <<<"$output")" = true ]
	[ "$(jq -r '.jobs | type' <<<"$output")" = array ]
}

@test "a client that never reads its replies does not stall the daemon for others" {
	tc ls >/dev/null
	pid=$(daemon_pid)
	# Pipeline thousands of requests and never read a reply; keep the
	# connection open (teardown kills it).
	python3 - "$TRAINCTL_HOME/run/daemon.sock" "$BATS_TEST_TMPDIR/flooded" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(3)
try:
    s.sendall(b'{"v":1,"op":"hello"}\n' * 50000)
except socket.timeout:
    pass
open(sys.argv[2], "w").close()
time.sleep(120)
EOF
	flooder=$!
	wait_for 10 test -e "$BATS_TEST_TMPDIR/flooded"
	run timeout 5 "$TRAINCTL" ls
	kill "$flooder" 2>/dev/null || true
	[ "$status" -eq 0 ]
	[ "$(daemon_pid)" = "$pid" ]
}

@test "the daemon does not inherit the starting command's open file descriptors" {
	exec 7>"$BATS_TEST_TMPDIR/fd7"
	tc ls >/dev/null
	exec 7>&-
	pid=$(daemon_pid)
	alive "$pid"
	run find "/proc/$pid/fd" -lname "$BATS_TEST_TMPDIR/fd7"
	[ -z "$output" ]
	# So a lock the caller held through a descriptor ends with the caller's.
	tc daemon stop >/dev/null
	wait_for 5 daemon_dead "$pid"
	exec 8>"$BATS_TEST_TMPDIR/lock"
	flock 8
	tc ls >/dev/null
	exec 8>&-
	run flock -n -E 99 "$BATS_TEST_TMPDIR/lock" true
	[ "$status" -eq 0 ]
}

# ---- the home directory ------------------------------------------------------

@test "a deep TRAINCTL_HOME (socket path over 108 bytes) works: run, ls, stop" {
	deep="$BATS_TEST_TMPDIR"
	while [ ${#deep} -lt 200 ]; do
		deep="$deep/a-rather-long-directory-name"
	done
	export TRAINCTL_HOME="$deep/home"
	[ ${#TRAINCTL_HOME} -gt 108 ]
	run --separate-stderr tc run --sh 'echo hello-deep; sleep 60'
	[ "$status" -eq 0 ]
	id=$output
	[ -S "$TRAINCTL_HOME/run/daemon.sock" ]
	wait_for 5 log_has "$id" hello-deep
	run tc ls
	[ "$status" -eq 0 ]
	[[ $output == *running* ]]
	# the job's own socket (pause/resume go through the shim) works too
	run tc pause "$id"
	[ "$status" -eq 0 ]
	run tc resume "$id"
	[ "$status" -eq 0 ]
	# and so does re-adoption by a restarted daemon
	crash_daemon
	run tc ls --json
	[ "$status" -eq 0 ]
	[ "$(jq -r ".[] | select(.id == $id) | .state" <<<"$output")" = running ]
	run tc stop -t 5s "$id"
	[ "$status" -eq 0 ]
	[ "$(job_field "$id" state)" = stopped ]
	run tc daemon status
	[ "$status" -eq 0 ]
}

@test "an unusable TRAINCTL_HOME (under a regular file) fails fast with exit 1, naming the path" {
	: >"$BATS_TEST_TMPDIR/afile"
	export TRAINCTL_HOME="$BATS_TEST_TMPDIR/afile/home"
	run --separate-stderr timeout 10 "$TRAINCTL" ls
	[ "$status" -eq 1 ]
	[[ $stderr == "trainctl: "* ]]
	[[ $stderr == *"$BATS_TEST_TMPDIR/afile"* ]]
	run --separate-stderr timeout 10 "$TRAINCTL" run -- true
	[ "$status" -eq 1 ]
	[[ $stderr == "trainctl: "* ]]
	[[ $stderr == *"$BATS_TEST_TMPDIR/afile"* ]]
	run --separate-stderr timeout 10 "$TRAINCTL" daemon
	[ "$status" -eq 1 ]
	[[ $stderr == *"$BATS_TEST_TMPDIR/afile"* ]]
	[ -z "$(home_pids)" ]
}

@test "the database is SQLite with user_version 6 and holds the jobs" {
	a=$(tc run -- true)
	b=$(tc run --sh 'exit 3')
	c=$(tc run -n keeper --sh 'sleep 60')
	tc wait "$a"
	run tc wait "$b"
	[ "$status" -eq 3 ]
	db="$TRAINCTL_HOME/trainctl.db"
	[ "$(head -c 16 "$db" | tr -d '\0')" = "SQLite format 3" ]
	run python3 - "$db" <<'EOF'
import sqlite3, sys
con = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(con.execute("PRAGMA user_version").fetchone()[0])
for row in con.execute("SELECT id FROM jobs ORDER BY id"):
    print(row[0])
EOF
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 6 ]
	[ "${lines[*]:1}" = "$a $b $c" ]
}

@test "the run directory is mode 700 and daemon.sock is mode 600, even under umask 000" {
	(umask 000 && "$TRAINCTL" ls >/dev/null)
	[ "$(stat -c %a "$TRAINCTL_HOME/run")" = 700 ]
	[ -S "$TRAINCTL_HOME/run/daemon.sock" ]
	[ "$(stat -c %a "$TRAINCTL_HOME/run/daemon.sock")" = 600 ]
}

@test "a pre-existing world-readable run directory is tightened to 700" {
	mkdir -p "$TRAINCTL_HOME/run"
	chmod 755 "$TRAINCTL_HOME/run"
	tc ls >/dev/null
	[ "$(stat -c %a "$TRAINCTL_HOME/run")" = 700 ]
	[ "$(stat -c %a "$TRAINCTL_HOME/run/daemon.sock")" = 600 ]
}
