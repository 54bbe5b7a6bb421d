#!/usr/bin/env bats
# The Slurm backend against a real single-node Slurm: one private cluster
# (tests/slurm/cluster.sh: munged, slurmctld and slurmd with their own key,
# socket and ports) for the whole file, and a private TRAINCTL_HOME per test.
# Skipped, with the reason printed, where Slurm is not installed.

load ../cli/helpers

CLUSTER="$BATS_TEST_DIRNAME/cluster.sh"
CKGLOB='ck/checkpoint_epoch_*.json'

setup_file() {
	local why
	if ! why=$("$CLUSTER" check 2>&1); then
		echo "# slurm tests skipped: $why" >&3
		export SLURM_SKIP="$why"
		return 0
	fi
	"$CLUSTER" start "$BATS_FILE_TMPDIR/cluster"
	export SLURM_CONF="$BATS_FILE_TMPDIR/cluster/slurm.conf"
}

teardown_file() {
	[ -n "${SLURM_SKIP:-}" ] || "$CLUSTER" stop "$BATS_FILE_TMPDIR/cluster"
}

setup() {
	[ -z "${SLURM_SKIP:-}" ] || skip "$SLURM_SKIP"
	setup_home
}

teardown() {
	[ -n "${SLURM_SKIP:-}" ] && return 0
	scancel --full -s KILL --user="$(id -un)" 2>/dev/null || true
	teardown_home
	wait_for 30 no_slurm_jobs_running
}

no_slurm_jobs_running() {
	[ -z "$(squeue -h -t RUNNING,PENDING,COMPLETING,SUSPENDED -o %i)" ]
}

job_ended_as() {
	job_ended "$1" && [ "$(job_field "$1" state)" = "$2" ]
}

slurm_id() {
	job_field "$1" slurm_job_id
}

@test "a train-sim job on slurm runs to succeeded, with its log readable through trainctl log" {
	start --on slurm -n ok -- "$TRAIN_SIM" --checkpoint-dir ck --epochs 3 --epoch-time 0.1
	[[ $(job_field ok reason) == "slurm "* ]]
	[[ $(slurm_id ok) =~ ^[0-9]+$ ]]
	wait_for 60 job_ended ok
	[ "$(job_field ok state)" = succeeded ]
	run tc log ok
	[[ $output == *"Epoch 3/3"* ]]
	[[ $output == *"Training complete"* ]]
	scontrol show job -o "$(slurm_id ok)" | grep -q 'JobState=COMPLETED'
	tc show ok | grep -qE "On: +slurm job $(slurm_id ok)"
}

@test "log -f follows a slurm job until it ends" {
	start --on slurm -n follow -- "$TRAIN_SIM" --checkpoint-dir ck --epochs 4 --epoch-time 0.2
	run timeout 60 "$TRAINCTL" log -f follow
	[ "$status" -eq 0 ]
	[[ $output == *"Epoch 4/4"* ]]
}

@test "stop sends the stop signal to the whole slurm job, and train-sim saves its checkpoint" {
	start --on slurm -n st --checkpoint "$CKGLOB" -- "$TRAIN_SIM" --checkpoint-dir ck --epochs 10000 --epoch-time 0.1
	wait_for 60 log_has st 'Epoch 2/'
	run tc stop st -t 20s
	[ "$status" -eq 0 ]
	[ "$(job_field st state)" = stopped ]
	[[ $(job_field st reason) == *"checkpoint saved"* ]]
	ls ck/checkpoint_epoch_*.json
	log_has st 'checkpoint'
}

@test "a crash with --restart on-failure is resubmitted and resumes from its checkpoint" {
	start --on slurm -n crash --restart on-failure --checkpoint "$CKGLOB" --resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 12 --epoch-time 0.05 --checkpoint-every 5 --crash-at 8
	first=$(slurm_id crash)
	wait_for 120 job_ended crash
	[ "$(job_field crash state)" = succeeded ]
	[ "$(job_field crash restarts)" -eq 1 ]
	[ "$(slurm_id crash)" != "$first" ]
	log_has crash "Resumed from $BATS_TEST_TMPDIR/work/ck/checkpoint_epoch_5.json"
	log_has crash "attempt 2 started"
}

@test "--gpus 1 jobs get distinct CUDA_VISIBLE_DEVICES from slurm" {
	start --on slurm -n g1 --gpus 1 --sh 'echo "CVD=$CUDA_VISIBLE_DEVICES"; sleep 300'
	start --on slurm -n g2 --gpus 1 --sh 'echo "CVD=$CUDA_VISIBLE_DEVICES"; sleep 300'
	wait_for 60 log_has g1 'CVD='
	wait_for 60 log_has g2 'CVD='
	a=$(tc log g1 | grep -o 'CVD=.*')
	b=$(tc log g2 | grep -o 'CVD=.*')
	[[ $a =~ ^CVD=[01]$ ]]
	[[ $b =~ ^CVD=[01]$ ]]
	[ "$a" != "$b" ]
	squeue -h -o '%b' -j "$(slurm_id g1)" | grep -q 'gpu:1'
	tc stop g1 g2 -t 1s
}

@test "a failing job on slurm is failed (exit 3)" {
	start --on slurm -n bad --sh 'echo about to fail; exit 3'
	run tc wait bad
	[ "$status" -eq 3 ]
	[ "$(job_field bad state)" = failed ]
	[ "$(job_field bad reason)" = "exit 3" ]
	tc ls -a | grep -E '^[0-9]+ +bad +failed \(exit 3\)'
}

@test "a --time-limit job on slurm ends time-limit" {
	start --on slurm -n tl --time-limit 2s --checkpoint "$CKGLOB" -- "$TRAIN_SIM" --checkpoint-dir ck --epochs 100000 --epoch-time 0.1
	wait_for 60 job_ended tl
	tc show tl # printed when the test fails
	[ "$(job_field tl state)" = stopped ]
	[[ $(job_field tl reason) == time-limit* ]]
	[[ $(job_field tl reason) == *"checkpoint saved"* ]]
}

@test "the script carries the job's resources as sbatch options" {
	start --on slurm -n res --partition short --cpu-limit 150% --mem-limit 200M --time-limit 1m \
		--sh 'sleep 300'
	wait_for 60 job_state_is res running
	line=$(scontrol show job -o "$(slurm_id res)")
	[[ $line == *"Partition=short"* ]]
	[[ $line == *"CPUs/Task=2"* ]]
	[[ $line == *"mem=200M"* ]]
	[[ $line == *"TimeLimit=00:01:00"* ]]
	[[ $(job_field res reason) == "slurm $(slurm_id res) on node1" ]]
	tc stop res -t 1s
}

@test "kill sends the signal to the whole slurm job; pause and resume suspend it" {
	start --on slurm -n k --sh 'sleep 300'
	wait_for 60 job_state_is k running
	tc pause k
	[ "$(job_field k state)" = paused ]
	scontrol show job -o "$(slurm_id k)" | grep -q 'JobState=SUSPENDED'
	tc resume k
	[ "$(job_field k state)" = running ]
	tc kill k
	wait_for 60 job_ended k
	[ "$(job_field k state)" = stopped ]
	[[ $(job_field k reason) == *"trainctl kill"* ]]
}

@test "attach on a slurm job explains there is no terminal and offers log -f" {
	start --on slurm -n att --sh 'sleep 300'
	run tc attach att
	[ "$status" -eq 1 ]
	[[ $output == *"no terminal"* ]]
	[[ $output == *"trainctl log -f"* ]]
	tc stop att -t 1s
}

@test "a daemon restart keeps following a slurm job" {
	start --on slurm -n keep -- "$TRAIN_SIM" --checkpoint-dir ck --epochs 30 --epoch-time 0.1
	wait_for 60 job_state_is keep running
	kill -9 "$(daemon_pid)"
	wait_for 60 job_ended keep
	[ "$(job_field keep state)" = succeeded ]
	tc show keep --json | jq -e '[.events[].kind] | index("adopted") != null'
}

@test "sbatch's own errors are passed through and leave no job behind" {
	run tc run --on slurm --partition nosuch -- true
	[ "$status" -eq 1 ]
	[[ $output == "trainctl: "*"invalid partition"* ]]
	run tc run --on slurm --mem-limit 100G -- true
	[ "$status" -eq 1 ]
	[[ $output == *"Memory specification can not be satisfied"* ]]
	run tc run --on slurm --gpus 3 -- true
	[ "$status" -eq 1 ]
	[[ $output == *"Requested node configuration is not available"* ]]
	[ "$(tc ls -a --json | jq length)" -eq 0 ]
}

@test "no slurm on PATH, or an unreachable controller, is a clear error" {
	run env PATH=/nonexistent "$TRAINCTL" run --on slurm -- /bin/true
	[ "$status" -eq 1 ]
	[[ $output == *"sbatch not found on the job's PATH"* ]]
	sed 's/^SlurmctldPort=.*/SlurmctldPort=1/' "$SLURM_CONF" >dead.conf
	run env SLURM_CONF="$PWD/dead.conf" "$TRAINCTL" run --on slurm -- /bin/true
	[ "$status" -eq 1 ]
	[[ $output == *"Unable to contact slurm controller"* ]]
	[ "$(tc ls -a --json | jq length)" -eq 0 ]
}

@test "slurm options are checked" {
	run tc run --partition p -- true
	[ "$status" -eq 2 ]
	[[ $output == "trainctl: --partition needs --on slurm" ]]
	run tc run --on mars -- true
	[ "$status" -eq 2 ]
	[[ $output == *"invalid --on 'mars' (expected local or slurm)"* ]]
	run tc run --on slurm --nodes 0 -- true
	[ "$status" -eq 2 ]
	run tc run --on slurm --gpus x -- true
	[ "$status" -eq 2 ]
	run tc run --on slurm -a -- true
	[ "$status" -eq 2 ]
	[[ $output == *"--attach cannot be used with --on slurm"* ]]
	run tc run --on slurm --partition 'a b' -- true
	[ "$status" -eq 2 ]
}

@test "local-only options are refused with --on slurm, --gpus takes a count there" {
	run tc run --on slurm --gpus 0,1 -- true
	[ "$status" -eq 2 ]
	[[ $output == *"with --on slurm give a count"* ]]
	for opt in "--queue q" "--after 1" "--hold" "--priority 3" "--nice 5" "--hang-timeout 1m"; do
		run tc run --on slurm $opt -- true
		[ "$status" -eq 2 ]
		[[ $output == *"cannot be used with --on slurm"* ]]
	done
	[ "$(tc ls -a --json | jq length)" -eq 0 ]
}
