#!/usr/bin/env bats
# Security: another local user (created here, removed in teardown) can
# neither talk to the daemon or a job's shim nor read logs or the database,
# even when the socket's mode is loosened; names and arguments are never run
# by a shell and are printed escaped; an unsafe TRAINCTL_HOME is refused;
# job environment values (tokens) never reach the daemon's log.

load helpers

setup() {
	setup_home
	# A home the other user can reach (each directory above is 0711 at most).
	BASE=$(mktemp -d /tmp/trainctl-sec.XXXXXX)
	chmod 711 "$BASE"
	export TRAINCTL_HOME="$BASE/home"
	OTHER=
}

teardown() {
	teardown_home
	if [ -n "$OTHER" ]; then
		userdel "$OTHER" 2>/dev/null || true
	fi
	rm -rf "$BASE"
}

# Create the other user (a system user without a home or a login shell).
make_other_user() {
	[ "$(id -u)" -eq 0 ] || skip "creating a user needs root"
	command -v useradd >/dev/null || skip "useradd is not installed"
	OTHER="tcsec$$$BATS_TEST_NUMBER"
	useradd --system --no-create-home --shell /usr/sbin/nologin "$OTHER"
	# the checkout may sit where the other user cannot reach: a copy of the
	# CLI it can run
	OTHER_TRAINCTL="$BASE/bin/trainctl"
	mkdir -p "$BASE/bin"
	cp "$TRAINCTL" "$OTHER_TRAINCTL"
	chmod -R 755 "$BASE/bin"
}

# as_other COMMAND...: run COMMAND as the other user.
as_other() {
	runuser -u "$OTHER" -- "$@"
}

# Connect to a Unix socket and send one hello; print the reply line (empty if none).
SOCK_HELLO='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b"{\"v\":1,\"op\":\"hello\"}\n")
    print(s.makefile("rb").readline().decode().strip())
except (BrokenPipeError, ConnectionResetError):
    print("")
'

@test "another user cannot use the daemon, read logs or the database: all private to the owner" {
	make_other_user
	start -n private -- sh -c 'echo secret output; sleep 60'
	wait_for 5 log_has "$ID" "secret output"
	[ "$(stat -c %a "$TRAINCTL_HOME")" = 700 ]
	[ "$(stat -c %a "$TRAINCTL_HOME/trainctl.db")" = 600 ]
	[ "$(stat -c %a "$TRAINCTL_HOME/logs/$ID.log")" = 600 ]
	[ "$(stat -c %a "$TRAINCTL_HOME/run")" = 700 ]
	[ "$(stat -c %a "$TRAINCTL_HOME/run/daemon.sock")" = 600 ]
	run as_other env TRAINCTL_HOME="$TRAINCTL_HOME" "$OTHER_TRAINCTL" ls
	[ "$status" -eq 1 ]
	[[ $output == *"not to you"* ]]
	run as_other env TRAINCTL_HOME="$TRAINCTL_HOME" "$OTHER_TRAINCTL" attach -r "$ID"
	[ "$status" -ne 0 ]
	run as_other cat "$TRAINCTL_HOME/logs/$ID.log"
	[ "$status" -ne 0 ]
	[[ $output != *"secret output"* ]]
	run as_other cat "$TRAINCTL_HOME/trainctl.db"
	[ "$status" -ne 0 ]
	# the job is untouched
	job_state_is "$ID" running
}

@test "the daemon and the shims refuse other uids even with their sockets opened to everyone" {
	make_other_user
	start -n open -- sleep 60
	wait_for 5 job_state_is "$ID" running
	chmod 711 "$TRAINCTL_HOME" "$TRAINCTL_HOME/run"
	chmod 777 "$TRAINCTL_HOME/run/daemon.sock" "$TRAINCTL_HOME/run/job-$ID.sock"
	# the owner gets an answer ...
	run python3 -c "$SOCK_HELLO" "$TRAINCTL_HOME/run/daemon.sock"
	[[ $output == *'"ok": true'* || $output == *'"ok":true'* ]]
	# ... the other user none, from the daemon or the shim (SO_PEERCRED)
	run as_other python3 -c "$SOCK_HELLO" "$TRAINCTL_HOME/run/daemon.sock"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run as_other python3 -c "$SOCK_HELLO" "$TRAINCTL_HOME/run/job-$ID.sock"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q "refused a connection from uid $(id -u "$OTHER")" "$TRAINCTL_HOME/daemon.log"
	# the daemon carries on serving its owner
	run tc ls --json
	[ "$status" -eq 0 ]
	[ "$(jq length <<<"$output")" -eq 1 ]
}

@test "shell metacharacters in names and arguments are never interpreted, and are shown quoted" {
	mkdir -p probe
	cd probe
	start -n 'x;$(touch_pwned)' -- printf '%s\n' '$(touch pwned1)' '; touch pwned2' '`touch pwned3`' '$HOME' '| touch pwned4'
	wait_for 5 job_state_is "$ID" succeeded
	[ -z "$(ls)" ]
	run tc log "$ID" --plain
	[[ $output == *'$(touch pwned1)'* ]]
	[[ $output == *'; touch pwned2'* ]]
	[[ $output == *'`touch pwned3`'* ]]
	[[ $output == *'$HOME'* ]]
	run tc ls -a
	[[ $output == *'x;$(touch_pwned)'* ]]
	[[ $output == *"'\$(touch pwned1)'"* ]]
	[ -z "$(ls)" ]
}

@test "newlines and terminal escapes in arguments, paths and errors are printed escaped, never raw" {
	dir=$'dir\e[2J\nnext'
	mkdir -p "$dir"
	cd "$dir"
	start -- printf '%s\n' $'red\e[31m' $'two\nlines'
	wait_for 5 job_state_is "$ID" succeeded
	for cmd in "ls -a" "show $ID"; do
		run tc $cmd
		[ "$status" -eq 0 ]
		# no ESC byte and no argument split across lines
		! grep -q $'\e' <<<"$output"
		[[ $output == *'\x1b[31m'* ]]
		[[ $output == *'two\nlines'* ]]
	done
	run tc show "$ID"
	[[ $output == *'dir\x1b[2J\nnext'* ]]
	# an error that quotes the command
	run --separate-stderr tc run -- $'nosuch\e[31m'
	[ "$status" -eq 1 ]
	! grep -q $'\e' <<<"$stderr"
	[[ $stderr == *'nosuch\x1b[31m'* ]]
	# a name with a control character is refused
	run --separate-stderr tc run -n $'a\e[31m' -- true
	[ "$status" -eq 2 ]
}

@test "a world-writable TRAINCTL_HOME is refused with a clear message, and nothing is written there" {
	mkdir -p "$TRAINCTL_HOME"
	chmod 777 "$TRAINCTL_HOME"
	run --separate-stderr tc ls
	[ "$status" -eq 1 ]
	[[ $stderr == *"$TRAINCTL_HOME is writable by other users (mode 0777)"* ]]
	[[ $stderr == *"chmod go-w"* ]]
	[ -z "$(ls -A "$TRAINCTL_HOME")" ]
	[ -z "$(home_pids)" ]
	chmod 700 "$TRAINCTL_HOME"
	run tc ls
	[ "$status" -eq 0 ]
}

@test "a symbolic link planted in TRAINCTL_HOME is refused, and its target is left alone" {
	tc ls >/dev/null
	tc daemon stop >/dev/null
	wait_for 5 no_home_pids
	elsewhere="$BASE/elsewhere"
	mkdir "$elsewhere"
	rm -rf "$TRAINCTL_HOME/logs"
	ln -s "$elsewhere" "$TRAINCTL_HOME/logs"
	run --separate-stderr tc run -- echo hi
	[ "$status" -eq 1 ]
	[[ $stderr == *"$TRAINCTL_HOME/logs is a symbolic link"* ]]
	[ -z "$(ls -A "$elsewhere")" ]
	rm "$TRAINCTL_HOME/logs"
	# a database replaced by a link
	mv "$TRAINCTL_HOME/trainctl.db" "$elsewhere/db"
	ln -s "$elsewhere/db" "$TRAINCTL_HOME/trainctl.db"
	run --separate-stderr tc ls
	[ "$status" -eq 1 ]
	[[ $stderr == *"trainctl.db is a symbolic link"* ]]
	[ -z "$(home_pids)" ]
}

@test "job environment values never reach the daemon's log, ls or show" {
	export WANDB_API_KEY=tok-inherited-5f3a9
	start -e HF_TOKEN=tok-given-81c2e --no-pty -- sh -c 'exit 3'
	wait_for 5 job_state_is "$ID" failed
	# a job that cannot start, and one killed by its shim's loss
	run tc run -e HF_TOKEN=tok-given-81c2e -C /nonexistent -- true
	[ "$status" -ne 0 ]
	start -e HF_TOKEN=tok-given-81c2e -- sleep 60
	wait_for 5 job_state_is "$ID" running
	kill -9 "$(ppid_of "$(job_field "$ID" pid)")"
	wait_for 5 job_state_is "$ID" lost
	tc daemon stop >/dev/null
	! grep -q 'tok-' "$TRAINCTL_HOME/daemon.log"
	run tc ls -a --json
	[[ $output != *tok-* ]]
	run tc show "$ID" --json
	[[ $output != *tok-* ]]
}
