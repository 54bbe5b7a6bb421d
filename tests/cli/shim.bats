#!/usr/bin/env bats
# trainctl-shim, the per-job supervisor in its own executable: what the
# daemon runs for each job, how it is found, and what it says when it is
# run by hand.

load helpers

SHIM="$BUILD/trainctl-shim"

setup() {
	setup_home
}

teardown() {
	teardown_home
}

@test "each running job's supervisor is trainctl-shim --id ID, the executable beside trainctl" {
	id=$(tc run --no-pty -- sleep 60)
	wait_for 5 job_state_is "$id" running
	shim=$(ppid_of "$(job_field "$id" pid)")
	[ "$(readlink "/proc/$shim/exe")" = "$(readlink -f "$SHIM")" ]
	[ "$(tr '\0' ' ' <"/proc/$shim/cmdline")" = "trainctl-shim --id $id " ]
	tc stop "$id" -t 5s
	wait_for 5 not_alive "$shim"
}

@test "the shim holds no SQLite, ncurses or shared library" {
	run nm "$SHIM"
	[ "$status" -eq 0 ]
	! grep -qE ' (sqlite3_open|initscr|newwin)' <<<"$output"
	# Statically linked (bar the sanitizer builds): no dynamic loader to map.
	if ! grep -q __asan_init <<<"$output"; then
		run readelf -lW "$SHIM"
		! grep -q INTERP <<<"$output"
	fi
}

@test "a missing trainctl-shim: run fails naming both places looked in, and leaves no job" {
	# A copy of trainctl with no shim beside it, and none where it was installed.
	libexec=$(strings -n 8 "$TRAINCTL" | grep -m1 -x '/.*/trainctl-shim')
	[ -n "$libexec" ]
	[ -e "$libexec" ] && skip "a trainctl-shim is installed at $libexec"
	mkdir "$BATS_TEST_TMPDIR/bin"
	cp "$TRAINCTL" "$BATS_TEST_TMPDIR/bin/trainctl"
	run -1 "$BATS_TEST_TMPDIR/bin/trainctl" run -- sleep 60
	[ "$output" = "trainctl: cannot start jobs: trainctl-shim was not found (looked for $BATS_TEST_TMPDIR/bin/trainctl-shim and $libexec; reinstall trainctl)" ]
	run -0 tc ls -a --json
	[ "$(jq length <<<"$output")" = 0 ]
	[ -z "$(find "$TRAINCTL_HOME/jobs" "$TRAINCTL_HOME/logs" -mindepth 1)" ]
	# The daemon serves every other request, and its log says what is missing.
	run -0 tc daemon status
	grep -q "trainctl-shim was not found" "$TRAINCTL_HOME/daemon.log"
}

@test "trainctl-shim by hand: bad arguments exit 2 with one line naming what was expected" {
	for args in "" "--id" "--id x" "--id 0" "--id 3 extra" "--bogus" "-x"; do
		run -2 "$SHIM" $args
		[ "${#lines[@]}" -eq 1 ]
		[[ ${lines[0]} == "trainctl-shim: "*"(expected: trainctl-shim --id N, as the trainctl daemon starts it)" ]]
	done
	run -2 "$SHIM" --id x
	[ "$output" = "trainctl-shim: bad job id 'x' (expected: trainctl-shim --id N, as the trainctl daemon starts it)" ]
	run -2 "$SHIM" --bogus
	[ "$output" = "trainctl-shim: unknown option '--bogus' (expected: trainctl-shim --id N, as the trainctl daemon starts it)" ]
	run -0 "$SHIM" --help
	[[ $output == "usage: trainctl-shim --id N "* ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "trainctl-shim by hand with no spec on stdin fails without starting anything" {
	run -1 "$SHIM" --id 1 </dev/null 3>"$BATS_TEST_TMPDIR/report"
	grep -q '"event":"failed"' "$BATS_TEST_TMPDIR/report"
	grep -q 'bad job spec on stdin' "$BATS_TEST_TMPDIR/report"
	[ ! -e "$TRAINCTL_HOME/logs/1.log" ]
}

@test "trainctl has no shim command any more" {
	run -2 tc shim --id 1
	[ "$output" = "trainctl: unknown command 'shim' (see 'trainctl --help')" ]
}
