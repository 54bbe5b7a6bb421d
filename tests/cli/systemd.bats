#!/usr/bin/env bats
# systemd: the daemon's unit (systemd-unit), jobs as units (export --format
# systemd), both checked by systemd-analyze verify, and the notification
# protocol, with this test in systemd's place: a datagram socket as
# NOTIFY_SOCKET that records what the daemon sends.

load helpers

setup() {
	setup_home
}

teardown() {
	[ -n "${LISTENER:-}" ] && kill "$LISTENER" 2>/dev/null
	teardown_home
}

# verify UNIT: systemd-analyze verify accepts it (man pages are not installed here).
verify() {
	if ! command -v systemd-analyze >/dev/null; then
		skip "systemd-analyze is not installed"
	fi
	run systemd-analyze verify --man=no "$1"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "systemd-analyze verify rejects a broken unit (the check can fail)" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	printf '[Service]\nExecStart=relative/path\n' >"$BATS_TEST_TMPDIR/bad.service"
	run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/bad.service"
	[ "$status" -ne 0 ] || [ -n "$output" ]
}

@test "systemd-unit --user and --system print units that systemd accepts" {
	tc systemd-unit --user >"$BATS_TEST_TMPDIR/trainctl.service"
	grep -qx 'Type=notify' "$BATS_TEST_TMPDIR/trainctl.service"
	grep -qx "ExecStart=\"$(readlink -f "$TRAINCTL")\" daemon --foreground" "$BATS_TEST_TMPDIR/trainctl.service"
	grep -qx 'KillMode=process' "$BATS_TEST_TMPDIR/trainctl.service"
	grep -qx 'Delegate=yes' "$BATS_TEST_TMPDIR/trainctl.service"
	grep -qx 'Restart=on-failure' "$BATS_TEST_TMPDIR/trainctl.service"
	grep -q '^WatchdogSec=' "$BATS_TEST_TMPDIR/trainctl.service"
	grep -qx 'Environment=TRAINCTL_HOME=%h/.local/state/trainctl' "$BATS_TEST_TMPDIR/trainctl.service"
	verify "$BATS_TEST_TMPDIR/trainctl.service"
	mkdir "$BATS_TEST_TMPDIR/sys"
	tc systemd-unit --system >"$BATS_TEST_TMPDIR/sys/trainctl.service"
	grep -qx 'Environment=TRAINCTL_HOME=/var/lib/trainctl' "$BATS_TEST_TMPDIR/sys/trainctl.service"
	grep -qx 'WantedBy=multi-user.target' "$BATS_TEST_TMPDIR/sys/trainctl.service"
	verify "$BATS_TEST_TMPDIR/sys/trainctl.service"
	run --separate-stderr tc systemd-unit --user --system
	[ "$status" -eq 2 ]
	[[ $stderr == "trainctl: systemd-unit: give --user or --system, not both" ]]
}

@test "export --format systemd writes a unit with the job's command, settings and quoting" {
	start -n exp -e 'ODD=a "b" $HOME 100% \x' --restart on-failure --max-restarts 2 \
		--mem-limit 1G --cpu-limit 150% --nice 5 --stop-signal INT --stop-timeout 1500ms \
		--checkpoint 'c/*.pt' -- sleep 1000 'two words' '$x' '50%' 'q"uote' 'back\slash'
	tc export exp --format systemd -o "$BATS_TEST_TMPDIR/exp.service"
	u="$BATS_TEST_TMPDIR/exp.service"
	grep -qxF "ExecStart=\"$(command -v sleep)\" \"1000\" \"two words\" \"\$\$x\" \"50%%\" \"q\\\"uote\" \"back\\\\slash\"" "$u"
	grep -qxF "WorkingDirectory=$BATS_TEST_TMPDIR/work" "$u"
	grep -qxF 'Environment="ODD=a \"b\" $HOME 100%% \\x"' "$u"
	grep -qx 'KillSignal=SIGINT' "$u"
	grep -qx 'TimeoutStopSec=1500ms' "$u"
	grep -qx 'Restart=on-failure' "$u"
	grep -qx 'StartLimitBurst=3' "$u"
	grep -qx 'MemoryMax=1073741824' "$u"
	grep -qx 'CPUQuota=150%' "$u"
	grep -qx 'Nice=5' "$u"
	grep -q '^# Not carried over (trainctl only): --checkpoint' "$u"
	! grep -q '^Environment="TERM=' "$u"
	# Exported shell functions are no variables a service can have.
	! grep -q '^Environment="BASH_FUNC' "$u"
	verify "$u"
	# --sh jobs run through /bin/sh; the default settings are written too.
	start --sh 'echo $HOME; sleep 1000'
	tc export "$ID" --format systemd >"$BATS_TEST_TMPDIR/sh.service"
	grep -qxF 'ExecStart=/bin/sh -c "echo $$HOME; sleep 1000"' "$BATS_TEST_TMPDIR/sh.service"
	grep -qx 'KillSignal=SIGTERM' "$BATS_TEST_TMPDIR/sh.service"
	grep -qx 'TimeoutStopSec=30s' "$BATS_TEST_TMPDIR/sh.service"
	! grep -q '^Restart=' "$BATS_TEST_TMPDIR/sh.service"
	verify "$BATS_TEST_TMPDIR/sh.service"
}

@test "export: bad format, missing format, unknown job" {
	start -n exp -- sleep 1000
	run --separate-stderr tc export exp --format bogus
	[ "$status" -eq 2 ]
	[[ $stderr == "trainctl: export: unknown format 'bogus' (expected one of: systemd"* ]]
	run --separate-stderr tc export exp
	[ "$status" -eq 2 ]
	[[ $stderr == "trainctl: export: missing --format"* ]]
	run --separate-stderr tc export nosuchjob --format systemd
	[ "$status" -eq 1 ]
	[[ $stderr == "trainctl: "*nosuchjob* ]]
	run --separate-stderr tc export exp --format systemd -o "$BATS_TEST_TMPDIR/no/such/dir/x"
	[ "$status" -eq 1 ]
	[[ $stderr == "trainctl: cannot create $BATS_TEST_TMPDIR/no/such/dir/x: No such file or directory" ]]
}

# listen SOCKET: record every datagram on SOCKET ('@name' is abstract) into $MSGS, one a line.
listen() {
	MSGS="$BATS_TEST_TMPDIR/notify.log"
	: >"$MSGS"
	python3 -u - "$1" "$MSGS" <<'PY' &
import socket, sys
name, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:] if name.startswith("@") else name)
with open(out + ".ready", "w"):
    pass
while True:
    data = s.recv(4096).decode()
    with open(out, "a") as f:
        f.write(data.replace("\n", " ") + "\n")
PY
	LISTENER=$!
	wait_for 10 test -e "$MSGS.ready"
}

count_lines() {
	grep -c -x -- "$1" "$MSGS" || true
}

at_least() { # at_least N PATTERN
	[ "$(count_lines "$2")" -ge "$1" ]
}

@test "the daemon sends READY, STATUS with job counts, periodic WATCHDOG and STOPPING" {
	listen "$BATS_TEST_TMPDIR/notify.sock"
	NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" WATCHDOG_USEC=400000 \
		"$TRAINCTL" daemon --foreground 2>"$BATS_TEST_TMPDIR/daemon.err" &
	daemon=$!
	wait_for 10 at_least 1 'READY=1'
	wait_for 10 at_least 1 'STATUS=0 finished'
	# Half of 400ms: several watchdog pings come while we wait.
	wait_for 10 at_least 4 'WATCHDOG=1'
	start -- sleep 1000
	wait_for 10 at_least 1 'STATUS=1 running, 0 finished'
	tc kill "$ID" >/dev/null
	wait_for 10 at_least 1 'STATUS=1 finished'
	kill -TERM "$daemon"
	wait "$daemon"
	wait_for 10 at_least 1 'STOPPING=1'
	# READY comes first and STOPPING last.
	[ "$(head -1 "$MSGS")" = 'READY=1' ]
	[ "$(tail -1 "$MSGS")" = 'STOPPING=1' ]
}

@test "NOTIFY_SOCKET may be an abstract socket ('@name')" {
	listen "@trainctl-test-$$-$BATS_TEST_NUMBER"
	NOTIFY_SOCKET="@trainctl-test-$$-$BATS_TEST_NUMBER" "$TRAINCTL" daemon --foreground 2>/dev/null &
	daemon=$!
	wait_for 10 at_least 1 'READY=1'
	kill -TERM "$daemon"
	wait "$daemon"
	wait_for 10 at_least 1 'STOPPING=1'
	[ "$(count_lines 'WATCHDOG=1')" -eq 0 ] # no WATCHDOG_USEC, no pings
}

@test "with JOURNAL_STREAM naming stderr, log lines carry <N> priorities instead of a timestamp" {
: >"$BATS_TEST_TMPDIR/journal"
	stream=$(stat -L -c '%d:%i' "$BATS_TEST_TMPDIR/journal")
	JOURNAL_STREAM=$stream "$TRAINCTL" daemon --foreground 2>>"$BATS_TEST_TMPDIR/journal" &
	daemon=$!
	wait_for 10 grep -q '^<6>daemon started for ' "$BATS_TEST_TMPDIR/journal"
	kill -TERM "$daemon"
	wait "$daemon"
	grep -qx '<6>daemon exiting' "$BATS_TEST_TMPDIR/journal"
	# Another stream (stderr is not the journal): plain timestamped lines.
	JOURNAL_STREAM=1:1 "$TRAINCTL" daemon --foreground 2>"$BATS_TEST_TMPDIR/plain" &
	daemon=$!
	wait_for 10 grep -q 'daemon started for' "$BATS_TEST_TMPDIR/plain"
	kill -TERM "$daemon"
	wait "$daemon"
	! grep -q '^<' "$BATS_TEST_TMPDIR/plain"
}

@test "export --format slurm prints the sbatch script run --on slurm would submit" {
	start -n exp --mem-limit 4G --cpu-limit 150% --time-limit 90m --stop-timeout 45s -- sh -c 'echo "a b"; exit 0'
	tc wait exp
	run tc export exp --format slurm
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '#!/bin/bash' ]
	grep -qx '#SBATCH --job-name=exp' <<<"$output"
	grep -qx "#SBATCH --chdir=$PWD" <<<"$output"
	grep -qx "#SBATCH --output=$TRAINCTL_HOME/logs/$ID.log" <<<"$output"
	grep -qx '#SBATCH --cpus-per-task=2' <<<"$output"
	grep -qx '#SBATCH --mem=4096M' <<<"$output"
	grep -qx '#SBATCH --time=1:30:00' <<<"$output"
	grep -qx '#SBATCH --signal=B:TERM@45' <<<"$output"
	grep -q "^exec 'sh' '-c' 'echo \"a b\"; exit 0'" <<<"$output"
	bash -n <(printf '%s\n' "$output")
}
