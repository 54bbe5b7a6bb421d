#!/usr/bin/env bats
# Scenarios for `trainctl log` with real jobs: --plain (carriage-return
# redraws folded, escape sequences stripped), --timestamps and --since from
# the log's time index (logs/<id>.idx), and -f across log rotation, also by
# a follower that falls behind. Every test gets its own TRAINCTL_HOME;
# teardown_home kills whatever still carries it. Waits poll with a deadline;
# the only sleeps are the jobs' own.

load helpers

setup() {
	setup_home
}

teardown() {
	teardown_home
}

# ---- helpers -----------------------------------------------------------------

# A job that draws a progress line with '\r' five times, then ends it.
PROGRESS='for i in 1 2 3 4 5; do printf "\r%d%%" $((i*20)); sleep 0.05; done; echo; echo done'

# Is TEXT a line of the job's log yet?
log_has_line() {
	tc log --plain "$1" | grep -qxF -- "$2"
}

# The epoch seconds of a "2026-11-29 09:15:49 " prefix (local time).
stamp_epoch() {
	date -d "${1:0:19}" +%s
}

# ---- --plain -----------------------------------------------------------------

@test "log --plain prints a redrawn progress line once, in its last state" {
	start --sh "$PROGRESS"
	tc wait "$ID"
	# The raw log has the redraws and the PTY's CR LF.
	tc log "$ID" | grep -qF "$(printf '\r20%%\r40%%')"
	run --separate-stderr tc log --plain "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '100%%\ndone')" ]
	[ "${#lines[@]}" -eq 2 ]
	run ! grep -q $'\r' <<<"$output"
	run ! grep -qF '20%' <<<"$output"
}

@test "log --plain strips ANSI colours and keeps the text" {
	start --sh 'printf "\033[1;31mred\033[0m and \033[32mgreen\033[0m\n"; printf "\033]0;title\007after title\n"'
	tc wait "$ID"
	tc log "$ID" | grep -qF $'\033[1;31m'
	run --separate-stderr tc log --plain "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'red and green\nafter title')" ]
	run ! grep -q $'\033' <<<"$output"
}

@test "log --plain -f folds the redraws of a running job as it follows it" {
	start --sh "sleep 0.3; $PROGRESS; sleep 0.2; echo end"
	job_state_is "$ID" running
	run --separate-stderr timeout 20 "$TRAINCTL" log --plain -f "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '100%%\ndone\nend')" ]
}

@test "log --plain -n 2 prints the last two lines as text" {
	start --no-pty --sh 'echo one; printf "a\rb\rtwo\n"; printf "\033[7mthree\033[0m\n"'
	tc wait "$ID"
	run --separate-stderr tc log --plain -n 2 "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'two\nthree')" ]
}

# ---- --timestamps ------------------------------------------------------------

@test "log --timestamps prefixes every line with the local time it was written" {
	t0=$(date +%s)
	start --no-pty --sh 'echo alpha; echo beta; echo; echo gamma'
	tc wait "$ID"
	t1=$(date +%s)
	run --separate-stderr tc log --timestamps "$ID"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	for line in "${lines[@]}"; do
		[[ $line =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\  ]]
		t=$(stamp_epoch "$line")
		((t >= t0 - 1 && t <= t1 + 1))
	done
	[ "${lines[0]:20}" = alpha ]
	[ "${lines[1]:20}" = beta ]
	[ "${lines[2]:20}" = "" ]
	[ "${lines[3]:20}" = gamma ]
	# -t is the short form; --plain keeps the prefix on the folded line.
	run --separate-stderr tc log -t -n 1 "$ID"
	[ "${output:20}" = gamma ]
}

@test "log -t --plain stamps each line with its own time, seconds apart" {
	start --sh "printf 'early\n'; sleep 2.2; $PROGRESS"
	tc wait "$ID"
	run --separate-stderr tc log -t --plain "$ID"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]:20}" = early ]
	[ "${lines[1]:20}" = 100% ]
	[ "${lines[2]:20}" = done ]
	early=$(stamp_epoch "${lines[0]}")
	late=$(stamp_epoch "${lines[2]}")
	((late - early >= 2 && late - early <= 4))
}

# ---- --since -----------------------------------------------------------------

@test "log --since 1s shows only what was written in the last second" {
	start --no-pty --sh 'echo first; echo also-first; sleep 2.5; echo second; echo also-second; sleep 60'
	wait_for 10 log_has_line "$ID" first
	wait_for 10 log_has_line "$ID" also-second
	run --separate-stderr tc log --since 1s "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'second\nalso-second')" ]
	# -n counts within what --since selects.
	run --separate-stderr tc log --since 1s -n 1 "$ID"
	[ "$output" = also-second ]
	run --separate-stderr tc log --since 1s -n 5 "$ID"
	[ "$output" = "$(printf 'second\nalso-second')" ]
	run --separate-stderr tc log --since 1h "$ID"
	[ "$output" = "$(printf 'first\nalso-first\nsecond\nalso-second')" ]
	run --separate-stderr tc log --since 1h -n 3 "$ID"
	[ "$output" = "$(printf 'also-first\nsecond\nalso-second')" ]
	# Nothing was written in the last 0 seconds.
	run --separate-stderr tc log --since 0 "$ID"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "log --since with -f prints the recent part, then follows to the end" {
	start --no-pty --sh 'echo old; sleep 2.5; echo recent; while [ ! -e go ]; do sleep 0.02; done; echo new'
	wait_for 10 log_has_line "$ID" recent
	timeout 20 "$TRAINCTL" log --since 1s -f "$ID" >out &
	follower=$!
	wait_for 10 grep -qx recent out
	touch go
	wait "$follower"
	[ "$(cat out)" = "$(printf 'recent\nnew')" ]
}

# ---- -f and rotation ---------------------------------------------------------

@test "log -f across rotation with --log-max 8K sees every line exactly once, in order" {
	start --no-pty --log-max 8K --sh 'echo ready; while [ ! -e go ]; do sleep 0.02; done; seq 1 5000'
	timeout 30 "$TRAINCTL" log -f "$ID" >out &
	follower=$!
	wait_for 10 grep -qx ready out
	touch go
	wait "$follower"
	[ "$(cat out)" = "$(echo ready; seq 1 5000)" ]
	[ -e "$TRAINCTL_HOME/logs/$ID.log.2" ] # it did rotate, twice
}

@test "log -f that falls two rotations behind still prints every file once, in order" {
	start --no-pty --log-max 8K --sh 'echo ready; while [ ! -e go ]; do sleep 0.02; done; seq 1 5000; touch done-writing; sleep 60'
	"$TRAINCTL" log -f "$ID" >out & # no timeout(1) in between: it is stopped itself
	follower=$!
	wait_for 10 grep -qx ready out
	kill -STOP "$follower"
	touch go
	wait_for 20 test -e done-writing
	[ -e "$TRAINCTL_HOME/logs/$ID.log.2" ]
	kill -CONT "$follower"
	wait_for 20 eval '[ "$(tail -n 1 out)" = 5000 ]'
	tc kill "$ID" >/dev/null
	wait_for 20 eval '! alive "$follower"'
	wait "$follower"
	[ "$(cat out)" = "$(echo ready; seq 1 5000)" ]
}

@test "the index follows rotations: --timestamps works on every rotated file" {
	start --no-pty --log-max 8K --sh 'seq 1 5000'
	tc wait "$ID"
	idx="$TRAINCTL_HOME/logs/$ID.idx"
	[ -f "$idx" ]
	[ "$(stat -c %a "$idx")" = 600 ]
	(($(stat -c %s "$idx") % 24 == 0))
	run --separate-stderr tc log -t "$ID"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | cut -c21-)" = "$(seq 1 5000)" ]
	run ! grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [0-9]+$' <<<"$output"
	tc rm "$ID" >/dev/null
	[ ! -e "$idx" ]
}

# ---- errors and help -----------------------------------------------------------

@test "a bad --since exits 2 and names the value" {
	start --sh 'echo x'
	tc wait "$ID"
	for bad in abc -5m 10x ''; do
		run --separate-stderr "$TRAINCTL" log --since "$bad" "$ID"
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[[ $stderr == "trainctl: "*"--since '$bad'"* ]]
	done
	run --separate-stderr "$TRAINCTL" log --since
	[ "$status" -eq 2 ]
}

@test "log --help lists --plain, --timestamps and --since" {
	run --separate-stderr tc log --help
	[ "$status" -eq 0 ]
	grep -qE '^ +--plain ' <<<"$output"
	grep -qF -- '-t, --timestamps' <<<"$output"
	grep -qF -- '--since DUR' <<<"$output"
	grep -qF -- '-f, --follow' <<<"$output"
}
