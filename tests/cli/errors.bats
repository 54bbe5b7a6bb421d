#!/usr/bin/env bats
# Scenarios for bad input: every mistake gets one clear message on stderr that
# starts with "trainctl: " and names what was wrong; usage errors exit 2,
# other failures exit 1; nothing is printed on stdout; and a bad request never
# takes the daemon down (same pid in daemon.lock afterwards).
#
# Every test has its own TRAINCTL_HOME; teardown_home kills every process
# that carries it.

load helpers

setup() {
	setup_home
}

teardown() {
	teardown_home
}

# ---- helpers -----------------------------------------------------------------

# fails STATUS ARGS...: run trainctl ARGS; it must exit STATUS, print nothing
# on stdout, and one message on stderr that starts with "trainctl: ".
fails() {
	local want=$1
	shift
	run --separate-stderr timeout 20 "$TRAINCTL" "$@"
	if [ "$status" -ne "$want" ]; then
		echo "trainctl $*: expected exit $want, got $status" >&2
		echo "stdout: $output" >&2
		echo "stderr: $stderr" >&2
		return 1
	fi
	if [[ $stderr != "trainctl: "* ]]; then
		echo "trainctl $*: stderr does not start with 'trainctl: ': $stderr" >&2
		return 1
	fi
	if [ "${#stderr_lines[@]}" -ne 1 ]; then
		echo "trainctl $*: expected one line on stderr, got: $stderr" >&2
		return 1
	fi
	if [ -n "$output" ]; then
		echo "trainctl $*: expected nothing on stdout, got: $output" >&2
		return 1
	fi
}

# says TEXT...: the last failure's stderr contains every TEXT.
says() {
	local text
	for text in "$@"; do
		if [[ $stderr != *"$text"* ]]; then
			echo "stderr lacks '$text': $stderr" >&2
			return 1
		fi
	done
}

# Start the daemon with one running job named "j" (id in $JOB); remember
# the daemon's pid in $DPID.
start_job() {
	JOB=$(tc run -n j --sh 'sleep 60')
	wait_for 5 job_state_is "$JOB" running
	JPID=$(job_field "$JOB" pid)
	DPID=$(daemon_pid)
	alive "$DPID"
}

# The daemon that start_job saw is still the one running.
same_daemon() {
	local now
	now=$(daemon_pid)
	if [ "$now" != "$DPID" ] || ! alive "$DPID"; then
		echo "the daemon changed or died: was $DPID, now '$now'" >&2
		return 1
	fi
}

# The job that start_job started is still running, untouched.
job_untouched() {
	job_state_is "$JOB" running && alive "$JPID"
}

job_count() {
	tc ls -a --json | jq length
}

# ---- usage errors ------------------------------------------------------------

@test "an unknown command exits 2 and names the command" {
	fails 2 frobnicate
	says frobnicate
	fails 2 -x
	says "'-x'"
}

@test "trainctl with no command exits 2 and points to the commands" {
	run --separate-stderr "$TRAINCTL"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == *run* ]]
	[[ $stderr == *stop* ]]
}

@test "an unknown option exits 2 and names the option" {
	fails 2 ls --bogus
	says --bogus
	fails 2 ls -z
	says -z
	fails 2 run --bogus -- true
	says --bogus
	fails 2 stop --frob 1
	says --frob
}

@test "a missing option value exits 2 and names the option" {
	fails 2 stop -t
	says -t
	fails 2 run -n
	says -n
	fails 2 ls --state
	says --state
	fails 2 log -n
	says -n
}

@test "run with no command exits 2" {
	fails 2 run
	says COMMAND
	fails 2 run --
	says COMMAND
	fails 2 run -n lonely
	says COMMAND
}

@test "run with both --sh and a COMMAND exits 2" {
	fails 2 run --sh x -- cmd
	says --sh
	fails 2 run --sh 'echo hi' echo hi
	says --sh
}

@test "show, log and other JOB commands without a JOB exit 2" {
	fails 2 show
	says JOB
	for cmd in log stop kill pause resume wait rm; do
		fails 2 "$cmd"
		says JOB
	done
}

@test "too many arguments exit 2 and name the extra one" {
	fails 2 show a b
	says "'b'"
	fails 2 log a b
	says "'b'"
	fails 2 ls extra
	says extra
	fails 2 daemon status extra
	says extra
	fails 2 daemon bogus
	says bogus
}

# ---- bad values --------------------------------------------------------------

@test "a bad duration exits 2, names the value and shows an example" {
	start_job
	before=$(job_count)
	fails 2 run --stop-timeout 10x -- true
	says 10x 30s
	fails 2 run --stop-timeout -5s -- true
	says -5s
	fails 2 run --stop-timeout '' -- true
	says duration
	fails 2 stop -t abc "$JOB"
	says abc 30s
	same_daemon
	job_untouched
	fails 2 stop -t 99999999999999999999s j
	says 99999999999999999999s
	fails 2 prune --older-than 7x
	says 7x
	job_untouched
	same_daemon
	[ "$(job_count)" = "$before" ]
}

@test "a bad signal exits 2 and names it" {
	start_job
	before=$(job_count)
	fails 2 stop -s FOO "$JOB"
	says FOO
	fails 2 kill -s 99 "$JOB"
	says 99
	fails 2 kill -s 0 "$JOB"
	says "'0'"
	fails 2 kill -s -9 "$JOB"
	says -9
	fails 2 run --stop-signal NOPE -- true
	says NOPE
	same_daemon
	job_untouched
	[ "$(job_count)" = "$before" ]
}

@test "a bad size, -e without '=', and a bad log -n exit 2 and name the value" {
	start_job
	before=$(job_count)
	fails 2 run --log-max 12Q -- true
	says 12Q
	fails 2 run --log-max -1 -- true
	says -1
	fails 2 run -e NOEQUALS -- true
	says NOEQUALS
	fails 2 run -e =x -- true
	says =x
	fails 2 log -n abc "$JOB"
	says abc
	fails 2 log -n -1 "$JOB"
	says -1
	same_daemon
	job_untouched
	[ "$(job_count)" = "$before" ]
}

@test "ls --state with an unknown state exits 2 and lists the valid states" {
	start_job
	fails 2 ls --state bogus
	says bogus
	for state in queued running paused stopping succeeded failed stopped cancelled lost; do
		says "$state"
	done
	same_daemon
}

@test "bad job names exit 2 and say why" {
	start_job
	before=$(job_count)
	fails 2 run -n 'a b' -- true
	says "'a b'"
	fails 2 run -n 123 -- true
	says 123
	fails 2 run -n '' -- true
	says name
	fails 2 run -n "$(printf 'x%.0s' {1..70})" -- true
	says 64
	same_daemon
	[ "$(job_count)" = "$before" ]
}

# ---- failures (exit 1) -------------------------------------------------------

@test "an unknown job exits 1 and names the job, for every JOB command" {
	start_job
	fails 1 show nosuch
	says nosuch
	fails 1 stop 999
	says 999
	fails 1 log nosuch
	says nosuch
	fails 1 wait nosuch
	says nosuch
	for cmd in kill pause resume rm; do
		fails 1 "$cmd" nosuch
		says nosuch
		same_daemon
	done
	fails 1 show 0
	says 0
	# one unknown job among known ones: nothing is done to the known one
	fails 1 stop "$JOB" nosuch
	says nosuch
	fails 1 kill "$JOB" nosuch
	says nosuch
	same_daemon
	job_untouched
}

@test "a command that cannot be executed, or a bad -C, fails run at once with exit 1" {
	start_job
	before=$(job_count)
	fails 1 run -- /nonexistent/train.py
	says /nonexistent/train.py
	fails 1 run -- "$BATS_TEST_TMPDIR"
	says "$BATS_TEST_TMPDIR"
	: >"$BATS_TEST_TMPDIR/not-executable"
	chmod 644 "$BATS_TEST_TMPDIR/not-executable"
	fails 1 run -- "$BATS_TEST_TMPDIR/not-executable"
	says not-executable
	fails 1 run -C /nonexistent-dir -- true
	says /nonexistent-dir
	same_daemon
	# no half-made job is left behind
	[ "$(job_count)" = "$before" ]
}

@test "a duplicate name among active jobs exits 1 and names the other job" {
	start_job
	fails 1 run -n j -- true
	says "'j'" "$JOB"
	same_daemon
	job_untouched
}

@test "jobs that are not running refuse pause, resume, kill, and rm refuses a running job" {
	start_job
	fails 1 rm "$JOB"
	says "$JOB" stop
	job_untouched
	done_id=$(tc run -- true)
	tc wait "$done_id"
	for cmd in pause resume kill; do
		fails 1 "$cmd" "$done_id"
		says "$done_id"
	done
	same_daemon
}

@test "every bad request leaves the same daemon running" {
	start_job
	for args in "show nosuch" "stop 999" "log nosuch" "wait nosuch" "kill nosuch" \
		"pause nosuch" "resume nosuch" "rm nosuch" "rm $JOB" "ls --state bogus" \
		"run -n j -- true" "run -- /nonexistent" "run -C /nonexistent -- true" \
		"run -n a/b -- true" "stop -t abc $JOB" "stop -s FOO $JOB" "kill -s 99 $JOB" \
		"log -n abc $JOB" "show" "show a b" "frobnicate" "ls --bogus"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$TRAINCTL" $args
		[ "$status" -ne 0 ] || {
			echo "trainctl $args succeeded" >&2
			return 1
		}
		same_daemon
	done
	job_untouched
	run tc ls
	[ "$status" -eq 0 ]
	[[ $output == *running* ]]
}

# ---- help and version --------------------------------------------------------

@test "trainctl --help and trainctl help exit 0 and list every command" {
	for form in --help help -h; do
		run --separate-stderr "$TRAINCTL" $form
		[ "$status" -eq 0 ]
		for cmd in run ls show log stop kill pause resume wait rm prune daemon; do
			grep -qE "^  $cmd " <<<"$output" || {
				echo "trainctl $form does not list $cmd" >&2
				return 1
			}
		done
	done
}

@test "trainctl CMD --help and trainctl help CMD exit 0 for every command" {
	for cmd in run ls show log stop kill pause resume wait rm prune daemon; do
		run --separate-stderr "$TRAINCTL" "$cmd" --help
		[ "$status" -eq 0 ] || {
			echo "trainctl $cmd --help exited $status" >&2
			return 1
		}
		[[ ${lines[0]} == "Usage: trainctl $cmd"* ]]
		[ -z "$stderr" ]
		help=$output
		run --separate-stderr "$TRAINCTL" "$cmd" -h
		[ "$status" -eq 0 ]
		[ "$output" = "$help" ]
		run --separate-stderr "$TRAINCTL" help "$cmd"
		[ "$status" -eq 0 ]
		[ "$output" = "$help" ]
	done
	# help needs no daemon
	[ ! -e "$TRAINCTL_HOME/run/daemon.lock" ] || [ -z "$(home_pids)" ]
	fails 2 help frobnicate
	says frobnicate
}

@test "trainctl --version and trainctl version print the version" {
	run --separate-stderr "$TRAINCTL" --version
	[ "$status" -eq 0 ]
	[[ $output =~ ^trainctl\ [0-9]+\.[0-9]+\.[0-9]+ ]]
	v=$output
	run --separate-stderr "$TRAINCTL" version
	[ "$status" -eq 0 ]
	[ "$output" = "$v" ]
}

# ---- a state directory trainctl cannot use -----------------------------------

@test "a corrupt database makes commands fail with exit 1, naming the file, without hanging" {
	mkdir -p "$TRAINCTL_HOME"
	head -c 8192 /dev/urandom >"$TRAINCTL_HOME/trainctl.db"
	fails 1 ls
	says "$TRAINCTL_HOME/trainctl.db"
	fails 1 run -- true
	says "$TRAINCTL_HOME/trainctl.db"
	# no daemon was left half-started, and the file was not replaced
	[ -z "$(home_pids)" ]
	[ "$(head -c 15 "$TRAINCTL_HOME/trainctl.db")" != "SQLite format 3" ]
}

@test "a database from a newer trainctl is refused with exit 1, naming the version" {
	tc ls >/dev/null
	tc daemon stop >/dev/null
	wait_for 5 no_home_pids
	python3 -c 'import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA user_version = 99")
con.commit()' "$TRAINCTL_HOME/trainctl.db"
	fails 1 ls
	says "$TRAINCTL_HOME/trainctl.db" 99
	[ -z "$(home_pids)" ]
	run tc daemon status
	[ "$status" -eq 3 ]
}
