#!/usr/bin/env bats
# End-to-end scenarios: trainctl runs the real PyTorch example
# (examples/pytorch/train.py) with two DataLoader workers, stops it, restarts
# it, survives a SIGKILL of its main process, and measures its process tree;
# and, by itself, the script resumes a stopped run exactly.
# The interpreter is one that can import torch and sklearn (find-python);
# without one every test is skipped.

load ../cli/helpers

setup_file() {
	PYTHON=$("$BATS_TEST_DIRNAME/find-python") || PYTHON=
	export PYTHON
}

setup() {
	[ -n "$PYTHON" ] || skip "no python3 that can import torch and sklearn"
	setup_home
	TRAIN=("$PYTHON" "$ROOT/examples/pytorch/train.py" --checkpoint-dir ckpt --workers 2)
	RESUMABLE=(--checkpoint 'ckpt/epoch_*.pt' --resume-args '--resume {checkpoint}')
}

teardown() {
	teardown_home
}

# Pids of PID's live children.
children_of() {
	local pid
	for pid in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		alive "$pid" && echo "$pid"
	done
	return 0
}

children_count_is() {
	[ "$(children_of "$1" | wc -l)" -eq "$2" ]
}

none_alive() {
	local pid
	for pid in "$@"; do
		alive "$pid" && return 1
	done
	return 0
}

# The main process and its two workers, once both workers run: into $TREE.
job_tree() {
	local pid
	pid=$(job_field "$1" pid)
	[[ $pid =~ ^[0-9]+$ ]]
	wait_for 60 children_count_is "$pid" 2
	TREE=("$pid" $(children_of "$pid"))
}

# epoch_loss JOB N: the loss of the last "Epoch N/M loss=..." line in the log.
epoch_loss() {
	tc log --plain "$1" | sed -n "s|^Epoch $2/[0-9]* loss=\([0-9.]*\) .*|\1|p" | tail -n 1
}

# The log from attempt N's marker line on.
log_from_attempt() {
	tc log --plain "$1" | sed -n "/^--- trainctl: attempt $2 started/,\$p"
}

@test "a run with two workers completes; stats counts the main process and both workers" {
	export TRAINCTL_SAMPLE_INTERVAL=0.5s
	start -n digits "${RESUMABLE[@]}" -- "${TRAIN[@]}" --epochs 4 --sleep-per-batch 0.03
	job_tree digits
	run tc wait digits
	[ "$status" -eq 0 ]
	[ "$(job_field digits state)" = succeeded ]
	log_has digits 'Epoch 4/4 loss='
	log_has digits 'Training complete'
	[ "$(job_field digits progress.current)" = 4 ]
	[ "$(job_field digits checkpoint)" = "$PWD/ckpt/epoch_0004.pt" ]
	[ "$(ls ckpt)" = "$(printf 'epoch_%04d.pt\n' 1 2 3 4)" ]
	none_alive "${TREE[@]}"
	run tc stats digits --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.procs.max >= 3 and .cpu_seconds > 0'
}

@test "stop mid-run saves a checkpoint and leaves no worker; restart resumes there and finishes" {
	start -n digits "${RESUMABLE[@]}" -- "${TRAIN[@]}" --epochs 6 --sleep-per-batch 0.05
	wait_for 120 log_has digits 'Epoch 2/6 loss='
	job_tree digits
	run tc stop digits
	[ "$status" -eq 0 ]
	[ "$output" = "1 (digits): stopped (exit 0 after SIGTERM, checkpoint saved)" ]
	none_alive "${TREE[@]}"

	# "Received SIGTERM at epoch E step S/23, checkpoint saved to ckpt/epoch_000E.pt"
	stopped=$(tc log --plain digits | grep '^Received SIGTERM at epoch ')
	where=$(sed 's|^Received SIGTERM at \(epoch [0-9]* step [0-9]*\)/.*|\1|' <<<"$stopped")
	saved=${stopped##* saved to }
	[ -f "$saved" ]
	[ "$(job_field digits checkpoint)" = "$PWD/$saved" ]

	run tc restart digits
	[ "$status" -eq 0 ]
	run tc wait digits
	[ "$status" -eq 0 ]
	[ "$(job_field digits state)" = succeeded ]
	log_from_attempt digits 2 | grep -qxF "resumed from $PWD/$saved at $where"
	read -r _ epoch _ <<<"$where"
	log_from_attempt digits 2 | grep -m 1 '^Epoch ' | grep -q "^Epoch $epoch/6 loss="
	log_has digits 'Epoch 6/6 loss='
	first=$(epoch_loss digits 1)
	last=$(epoch_loss digits 6)
	[ -n "$first" ] && [ -n "$last" ]
	awk -v last="$last" -v first="$first" 'BEGIN { exit !(last <= first) }'
}

@test "SIGKILL of the main process under --restart on-failure resumes from the latest checkpoint" {
	start -n digits --restart on-failure "${RESUMABLE[@]}" -- "${TRAIN[@]}" --epochs 6 --sleep-per-batch 0.05
	wait_for 120 log_has digits 'Epoch 2/6 loss='
	job_tree digits
	kill -KILL "${TREE[0]}"
	run tc wait digits
	[ "$status" -eq 0 ]
	none_alive "${TREE[@]}"
	[ "$(job_field digits state)" = succeeded ]
	[ "$(job_field digits restarts)" = 1 ]
	[ "$(tc show digits --json | jq -r '.attempts[0].state + " " + .attempts[0].reason')" = "failed killed (SIGKILL)" ]
	# The new attempt resumed, after its marker, from the checkpoint it names.
	checkpoint=$(log_from_attempt digits 2 | sed -n '1s|.*, resuming from \(.*\) ---.*|\1|p')
	[[ $checkpoint =~ ^$PWD/ckpt/epoch_000([2-5]).pt$ ]]
	log_from_attempt digits 2 | grep -qxF "resumed from $checkpoint at epoch $((BASH_REMATCH[1] + 1)) step 0"
	log_has digits 'Epoch 6/6 loss='
	log_has digits 'Training complete'
}

@test "a checkpoint that cannot be read fails the job with the script's error as its reason" {
	echo 'not a checkpoint' >broken.pt
	start -n digits -- "${TRAIN[@]}" --epochs 2 --resume broken.pt
	run tc wait digits
	[ "$status" -eq 1 ]
	[ "$(job_field digits state)" = failed ]
	[[ $(job_field digits reason) == "exit 1: train.py: error: cannot resume from broken.pt: "* ]]
}

# The "Epoch N/M loss=... acc=..." lines of FILE, without their timings.
epoch_results() {
	grep '^Epoch ' "$1" | sed 's/ (.*//'
}

@test "train.py stopped by SIGTERM mid-epoch and resumed prints what an uninterrupted run prints" {
	"${TRAIN[@]}" --checkpoint-dir whole --epochs 3 >whole.out 2>&1
	"${TRAIN[@]}" --epochs 3 --sleep-per-batch 0.05 >part1.out 2>&1 &
	pid=$!
	wait_for 60 grep -q '^Epoch 1/3' part1.out
	wait_for 30 children_count_is "$pid" 2
	workers=$(children_of "$pid")
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 0 ]
	none_alive $workers
	# Most likely mid-epoch 2 (ckpt/epoch_0002.pt), possibly just after epoch 1.
	stopped=$(grep '^Received SIGTERM at epoch 2 step ' part1.out)
	where=$(sed 's|^Received SIGTERM at \(epoch 2 step [0-9]*\)/23, .*|\1|' <<<"$stopped")
	saved=${stopped##* saved to }
	[[ $saved =~ ^ckpt/epoch_000[12].pt$ ]]
	"${TRAIN[@]}" --epochs 3 --resume "$saved" >part2.out 2>&1
	grep -qxF "resumed from $saved at $where" part2.out
	diff <(epoch_results whole.out) <(epoch_results part1.out; epoch_results part2.out)
}
