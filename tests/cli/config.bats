#!/usr/bin/env bats
# The configuration file ($XDG_CONFIG_HOME/trainctl/config, or
# $TRAINCTL_CONFIG) and on-exit notifications. Every test has its own
# TRAINCTL_HOME and configuration directory (setup_home).

load helpers

setup() {
	setup_home
	CONFIG="$XDG_CONFIG_HOME/trainctl/config"
	mkdir -p "${CONFIG%/*}"
}

teardown() {
	teardown_home
}

# The value of the job's spec field.
spec_field() {
	python3 -c 'import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
spec = json.loads(db.execute("SELECT spec FROM jobs WHERE id = ?", (int(sys.argv[2]),)).fetchone()[0])
print(spec.get(sys.argv[3], ""))' "$TRAINCTL_HOME/trainctl.db" "$1" "$2"
}

# Does the job have an event of KIND whose detail contains TEXT?
has_event() {
	tc show "$1" --json | jq -e --arg k "$2" --arg t "$3" \
		'[.events[] | select(.kind == $k and (.detail | contains($t)))] | length > 0' >/dev/null
}

@test "run.* lines are run's defaults and the command line wins" {
	cat >"$CONFIG" <<-'CFG'
	# defaults for run
	run.stop-timeout = 7s
	run.no-pty = true
	run.env = FROM_CONFIG=1
	CFG
	start -- sh -c 'echo "cfg=$FROM_CONFIG"; [ -t 1 ] && echo tty || echo notty'
	wait_for 10 job_ended "$ID"
	[ "$(spec_field "$ID" stop_timeout_ms)" = 7000 ]
	log_has "$ID" "cfg=1"
	log_has "$ID" notty
	start --stop-timeout 2s -e FROM_CONFIG=cli -- sh -c 'echo "cfg=$FROM_CONFIG"'
	wait_for 10 job_ended "$ID"
	[ "$(spec_field "$ID" stop_timeout_ms)" = 2000 ]
	log_has "$ID" "cfg=cli"
}

@test "TRAINCTL_CONFIG names the file; daemon keys set the defaults of jobs" {
	export TRAINCTL_CONFIG="$BATS_TEST_TMPDIR/other.conf"
	printf 'stop-timeout = 3s\nlog-max = 64K\n' >"$TRAINCTL_CONFIG"
	start -- true
	[ "$(spec_field "$ID" stop_timeout_ms)" = 3000 ]
	[ "$(spec_field "$ID" log_max)" = 65536 ]
	start --log-max 1M -- true
	[ "$(spec_field "$ID" log_max)" = 1048576 ]
	[ "$(spec_field "$ID" stop_timeout_ms)" = 3000 ]
}

@test "without a configuration file the built-in defaults hold" {
	start -- true
	[ "$(spec_field "$ID" stop_timeout_ms)" = 30000 ]
	[ "$(spec_field "$ID" log_max)" = 104857600 ]
}

@test "a bad line is a usage error with the file and line number" {
	printf 'interval = 2s\n# fine\nintervall = 5s\n' >"$CONFIG"
	run --separate-stderr tc run -- true
	[ "$status" -eq 2 ]
	[[ $stderr == "trainctl: config $CONFIG:3: unknown key 'intervall' (expected one of interval, "* ]]
	run --separate-stderr tc daemon --foreground
	[ "$status" -eq 2 ]
	[[ $stderr == *"config $CONFIG:3: unknown key 'intervall'"* ]]
	printf 'run.no-pty = maybe\n' >"$CONFIG"
	run --separate-stderr tc run -- true
	[ "$status" -eq 2 ]
	[[ $stderr == *"config $CONFIG:1: invalid value 'maybe' for run.no-pty (expected true or false)"* ]]
	printf '\nrun.bogus = 1\n' >"$CONFIG"
	run --separate-stderr tc run -- true
	[ "$status" -eq 2 ]
	[[ $stderr == *"config $CONFIG:2: unknown key 'run.bogus'"* ]]
	printf 'run.name = x\n' >"$CONFIG"
	run --separate-stderr tc run -- true
	[ "$status" -eq 2 ]
	printf 'metrics = localhost:1\n' >"$CONFIG"
	run --separate-stderr tc daemon --foreground
	[ "$status" -eq 2 ]
	[[ $stderr == *"config $CONFIG:1: invalid address 'localhost:1'"* ]]
	printf 'stop-timeout = never\n' >"$CONFIG"
	run --separate-stderr tc run -- true
	[ "$status" -ne 0 ]
	[[ $stderr == *"config $CONFIG:1: invalid duration 'never'"* ]]
}

@test "interval in the configuration sets the daemon's sampling interval" {
	printf 'interval = 700ms\n' >"$CONFIG"
	tc daemon >/dev/null
	[ "$(tc daemon status --json | jq .sample_interval_ms)" = 700 ]
}

# ---- on-exit -----------------------------------------------------------------

@test "--on-exit runs with the job's facts in TRAINCTL_JOB_* in the job's directory" {
	out="$BATS_TEST_TMPDIR/notified"
	mkdir -p "$BATS_TEST_TMPDIR/jobdir"
	start -n notify-me -C "$BATS_TEST_TMPDIR/jobdir" \
		--on-exit "env | grep ^TRAINCTL_JOB_ | sort >'$out.tmp'; pwd >>'$out.tmp'; read x && echo stdin-not-null >>'$out.tmp'; mv '$out.tmp' '$out'" \
		-- sh -c 'exit 3'
	wait_for 10 test -e "$out"
	grep -qx "TRAINCTL_JOB_ID=$ID" "$out"
	grep -qx "TRAINCTL_JOB_NAME=notify-me" "$out"
	grep -qx "TRAINCTL_JOB_STATE=failed" "$out"
	grep -qx "TRAINCTL_JOB_EXIT_CODE=3" "$out"
	grep -q "^TRAINCTL_JOB_REASON=exit 3" "$out"
	grep -q "^TRAINCTL_JOB_DURATION_S=[0-9]*\.[0-9]*$" "$out"
	grep -qx "$BATS_TEST_TMPDIR/jobdir" "$out"
	! grep -q stdin-not-null "$out"
	wait_for 10 has_event "$ID" on-exit "exit 0"
	[ "$(job_field "$ID" state)" = failed ]
}

@test "a job's name reaches the command only through the environment" {
	out="$BATS_TEST_TMPDIR/name"
	start -n 'a;touch_pwned' --on-exit "printf '%s' \"\$TRAINCTL_JOB_NAME\" >'$out'" -- true
	wait_for 10 test -s "$out"
	[ "$(cat "$out")" = 'a;touch_pwned' ]
	[ ! -e "$BATS_TEST_TMPDIR/work/touch_pwned" ]
}

@test "a failing on-exit command is an event and never changes the job" {
	start --on-exit 'echo on-exit-output; exit 7' -- true
	wait_for 10 has_event "$ID" on-exit "failed: exit 7"
	[ "$(job_field "$ID" state)" = succeeded ]
	[ "$(job_field "$ID" exit_code)" = 0 ]
	grep -q on-exit-output "$TRAINCTL_HOME/daemon.log"
}

@test "on-exit in the configuration runs for every job, after the job's own" {
	out="$BATS_TEST_TMPDIR/all"
	printf 'on-exit = echo "$TRAINCTL_JOB_ID $TRAINCTL_JOB_STATE" >>%s\n' "$out" >"$CONFIG"
	start -- true
	first=$ID
	start -- $(sim --epochs 1000 --epoch-time 0.1)
	tc stop "$ID" >/dev/null
	wait_for 10 grep -qx "$first succeeded" "$out"
	wait_for 10 grep -qx "$ID stopped" "$out"
}

@test "an on-exit command that runs too long is killed at on-exit-timeout, with its children" {
	printf 'on-exit-timeout = 300ms\n' >"$CONFIG"
	start --on-exit "sleep 1000 & echo \$! >'$BATS_TEST_TMPDIR/child'; sleep 1000" -- true
	wait_for 20 has_event "$ID" on-exit "failed: killed after the"
	child=$(cat "$BATS_TEST_TMPDIR/child")
	wait_for 10 eval "! alive $child"
	[ "$(job_field "$ID" state)" = succeeded ]
}
