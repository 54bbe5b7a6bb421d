#!/usr/bin/env bats
# Stopping and signalling jobs: pause/resume, stop (graceful, escalated to
# SIGKILL, of paused jobs, --all, -s), kill and --stop-signal. Every test gets
# its own TRAINCTL_HOME; train-sim runs carry --checkpoint-dir "$CK" (a
# per-test path), which is how their processes, workers and orphans included,
# are found in /proc. Waits poll with a deadline; none sleep blind.

load helpers

setup() {
	setup_home
}

teardown() {
	teardown_home
}

# ---- helpers -----------------------------------------------------------------

# start_sim [RUN OPTIONS] -- [SIM ARGS]: a long train-sim run, waited on
# until it has finished its first epoch (so its signal handlers are in place).
start_sim() {
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	start "${opts[@]}" -- $(sim --epochs 100000 --epoch-time 0.1 "$@")
	wait_for 10 log_has "$ID" 'Epoch 1/'
}

marked_pids() { pids_matching "$CK"; }
marked_count_is() { [ "$(marked_pids | wc -l)" -eq "$1" ]; }
no_marked_pids() { [ -z "$(marked_pids)" ]; }

# all_in_state S PID...: every PID is in /proc state S.
all_in_state() {
	local s=$1 pid
	shift
	for pid; do
		[ "$(stat_field "$pid" 3)" = "$s" ] || return 1
	done
}

# none_in_state S PID...: no PID is in state S (and each is alive).
none_in_state() {
	local s=$1 pid
	shift
	for pid; do
		alive "$pid" || return 1
		[ "$(stat_field "$pid" 3)" != "$s" ] || return 1
	done
}

none_alive() {
	local pid
	for pid; do
		! alive "$pid" || return 1
	done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- pause / resume ---------------------------------------------------------------

@test "pause stops every process of the tree (state T), resume runs them again" {
	start_sim -- --workers 2 --orphan
	wait_for 10 log_has "$ID" 'Started 2 workers'
	wait_for 10 log_has "$ID" 'Started orphan pid'
	wait_for 5 marked_count_is 4 # main, 2 workers, the setsid()ed orphan
	pids=$(marked_pids)
	pid=$(job_field "$ID" pid)
	grep -qx "$pid" <<<"$pids"

	run --separate-stderr tc pause "$ID"
	[ "$status" -eq 0 ]
	wait_for 3 all_in_state T $pids
	job_state_is "$ID" paused
	tc ls | grep -qE "^$ID .* paused "
	[ "$(tc ls --state paused --json | jq -c '[.[].id]')" = "[$ID]" ]

	run --separate-stderr tc resume "$ID"
	[ "$status" -eq 0 ]
	wait_for 3 none_in_state T $pids
	job_state_is "$ID" running
	tc ls | grep -qE "^$ID .* running "
	# and it trains on
	n=$(tc log "$ID" | grep -c '^Epoch ')
	wait_for 10 log_has "$ID" "Epoch $((n + 2))/"
}

# ---- stop -------------------------------------------------------------------------

@test "stop ends a train-sim job with SIGTERM: checkpoint saved, state stopped, wait exits 0" {
	start_sim --
	pid=$(job_field "$ID" pid)
	t0=$(now_ms)
	run --separate-stderr tc stop "$ID"
	t1=$(now_ms)
	[ "$status" -eq 0 ]
	[[ $output == *stopped* ]]
	# It returned once the job had ended, not after a fixed delay.
	run ! alive "$pid"
	job_state_is "$ID" stopped
	((t1 - t0 < 5000))
	run --separate-stderr tc show "$ID" --json
	jq -e '.state == "stopped" and (.reason | contains("SIGTERM")) and .pid == null
		and (.ended_at | type) == "string"' <<<"$output"
	jq -e '[.events[].kind] | index("stopped") != null' <<<"$output"
	log=$(tc log "$ID" | tr -d '\r')
	line=$(grep '^Received SIGTERM, checkpoint saved' <<<"$log")
	ckpt=${line##* to }
	[[ $ckpt == "$CK"/checkpoint_epoch_*.json ]]
	[ -f "$ckpt" ]
	jq -e '.epoch >= 1' "$ckpt"
	run tc wait "$ID"
	[ "$status" -eq 0 ]
}

@test "stop of a job with workers and a setsid()ed orphan leaves no process, without waiting out the grace" {
	start_sim -- --workers 4 --orphan
	wait_for 10 log_has "$ID" 'Started 4 workers'
	wait_for 10 log_has "$ID" 'Started orphan pid'
	orphan=$(tc log "$ID" | sed -n 's/^Started orphan pid \([0-9]*\).*/\1/p')
	[ -n "$orphan" ]
	wait_for 5 marked_count_is 6 # main, 4 workers, the orphan
	pids=$(marked_pids)
	grep -qx "$orphan" <<<"$pids"
	alive "$orphan"
	[ "$(stat_field "$orphan" 6)" = "$orphan" ] # its own session

	t0=$SECONDS
	run --separate-stderr tc stop "$ID" # default grace: 30 s
	[ "$status" -eq 0 ]
	((SECONDS - t0 < 10))
	job_state_is "$ID" stopped
	log_has "$ID" 'Received SIGTERM, checkpoint saved'
	none_alive $pids
	no_marked_pids
}

@test "a job that ignores SIGTERM is SIGKILLed after --stop-timeout, leaving no process" {
	start_sim --stop-timeout 1s -- --ignore-term --workers 2
	wait_for 10 log_has "$ID" 'Started 2 workers'
	wait_for 5 marked_count_is 3
	pids=$(marked_pids)
	t0=$(now_ms)
	run --separate-stderr tc stop "$ID"
	t1=$(now_ms)
	[ "$status" -eq 0 ]
	[[ $output == *stopped* ]]
	((t1 - t0 >= 900))  # the grace period was given
	((t1 - t0 < 10000)) # and not much more
	log_has "$ID" 'Ignoring SIGTERM'
	run --separate-stderr tc show "$ID" --json
	jq -e '.state == "stopped" and (.reason | startswith("SIGKILL after 1s grace"))
		and .signal == 9' <<<"$output"
	none_alive $pids
	no_marked_pids
}

@test "stop -t 1s overrides the job's grace period" {
	start_sim -- --ignore-term
	pid=$(job_field "$ID" pid)
	t0=$SECONDS
	run --separate-stderr tc stop -t 1s "$ID"
	[ "$status" -eq 0 ]
	((SECONDS - t0 < 10))
	tc show "$ID" --json | jq -e '.state == "stopped" and (.reason | startswith("SIGKILL after 1s grace"))'
	run ! alive "$pid"
	no_marked_pids
}

@test "options may follow the job: stop JOB -t 1s" {
	start_sim -- --ignore-term
	t0=$SECONDS
	run --separate-stderr tc stop "$ID" -t 1s
	[ "$status" -eq 0 ]
	((SECONDS - t0 < 10))
	tc show "$ID" --json | jq -e '.state == "stopped" and (.reason | startswith("SIGKILL after 1s grace"))'
	no_marked_pids
}

@test "a paused job stops cleanly: SIGCONT first, then the checkpoint is saved" {
	start_sim -- --workers 1
	wait_for 10 log_has "$ID" 'Started 1 workers:'
	wait_for 5 marked_count_is 2
	pids=$(marked_pids)
	tc pause "$ID"
	wait_for 3 all_in_state T $pids
	job_state_is "$ID" paused

	t0=$SECONDS
	run --separate-stderr tc stop "$ID"
	[ "$status" -eq 0 ]
	((SECONDS - t0 < 10))
	[[ $output == *stopped* ]]
	tc show "$ID" --json | jq -e '.state == "stopped" and (.reason | contains("SIGTERM"))
		and (.reason | contains("SIGKILL") | not)'
	log_has "$ID" 'Received SIGTERM, checkpoint saved'
	compgen -G "$CK/checkpoint_epoch_*.json" >/dev/null
	none_alive $pids
}

@test "stop --all stops every job that has not finished, and only those" {
	start --sh 'exit 0'
	done_id=$ID
	tc wait "$done_id"
	start_sim -n one --
	a=$ID
	start_sim -n two -- --workers 1
	b=$ID
	start -- sleep 1000
	c=$ID

	run --separate-stderr tc stop --all
	[ "$status" -eq 0 ]
	for id in "$a" "$b" "$c"; do
		grep -qE "(^|[^0-9])$id([^0-9].*)?stopped" <<<"$output"
		job_state_is "$id" stopped
	done
	job_state_is "$done_id" succeeded
	[ "$(tc ls --json | jq length)" -eq 0 ]
	no_marked_pids
	for id in "$a" "$b"; do
		log_has "$id" 'Received SIGTERM, checkpoint saved'
	done
}

@test "stop of a finished job exits 0 and reports how it ended" {
	start --sh 'exit 3'
	run tc wait "$ID"
	[ "$status" -eq 3 ]
	run --separate-stderr tc stop "$ID"
	[ "$status" -eq 0 ]
	[[ $output == *failed* ]]
	job_state_is "$ID" failed
	[ "$(job_field "$ID" reason)" = "exit 3" ]
}

@test "stop without JOB or --all is a usage error" {
	run --separate-stderr tc stop
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == trainctl:* ]]
}

@test "stop of an unknown job fails with exit 1" {
	run --separate-stderr tc stop 4242
	[ "$status" -eq 1 ]
	[[ $stderr == trainctl:*4242* ]]
}

@test "stop -s INT sends SIGINT instead" {
	start_sim --
	run --separate-stderr tc stop -s INT "$ID"
	[ "$status" -eq 0 ]
	log_has "$ID" 'Received SIGINT, checkpoint saved'
	run ! log_has "$ID" 'Received SIGTERM'
	tc show "$ID" --json | jq -e '.state == "stopped" and (.reason | contains("SIGINT"))'
}

@test "run --stop-signal INT is the signal stop sends" {
	start_sim --stop-signal INT -- --ignore-term
	t0=$SECONDS
	run --separate-stderr tc stop "$ID"
	[ "$status" -eq 0 ]
	((SECONDS - t0 < 10)) # --ignore-term would have made SIGTERM wait out 30 s
	log_has "$ID" 'Received SIGINT, checkpoint saved'
	tc show "$ID" --json | jq -e '.state == "stopped" and (.reason | contains("SIGINT"))'
	[[ $(tc show "$ID") == *SIGINT* ]]
}

# ---- kill ---------------------------------------------------------------------------

@test "kill sends SIGKILL to the whole tree by default: state stopped, reason SIGKILL" {
	start_sim -- --workers 2
	wait_for 10 log_has "$ID" 'Started 2 workers'
	wait_for 5 marked_count_is 3
	pids=$(marked_pids)
	run --separate-stderr tc kill "$ID"
	[ "$status" -eq 0 ]
	wait_for 10 job_ended "$ID"
	tc show "$ID" --json | jq -e '.state == "stopped" and (.reason | contains("SIGKILL")) and .signal == 9'
	wait_for 5 none_alive $pids
	run ! log_has "$ID" 'checkpoint saved'
	run tc wait "$ID"
	[ "$status" -eq 137 ] # 128 + SIGKILL
}

@test "kill -s USR1 delivers the signal and leaves a job that handles it running" {
	start --sh 'trap "echo got usr1" USR1; echo ready; while :; do sleep 0.05; done'
	pid=$(job_field "$ID" pid)
	wait_for 10 log_has "$ID" ready
	run --separate-stderr tc kill -s USR1 "$ID"
	[ "$status" -eq 0 ]
	wait_for 10 log_has "$ID" 'got usr1'
	job_state_is "$ID" running
	alive "$pid"
}

@test "kill of a finished job fails with exit 1 saying it is not running" {
	start --sh 'exit 0'
	tc wait "$ID"
	run --separate-stderr tc kill "$ID"
	[ "$status" -eq 1 ]
	[[ $stderr == trainctl:*"not running"* ]]
	job_state_is "$ID" succeeded
}
