#!/usr/bin/env bats
# trainctl gpu, gpu ps and gpu kill against the fake NVML (tests/fake-nvml):
# each test describes its GPUs in a file, with real processes of its own
# (they carry this test's TRAINCTL_HOME, so teardown kills them), and checks
# what trainctl shows and does. No test needs a GPU.

load helpers

setup() {
	setup_home
	GPUS="$BATS_TEST_TMPDIR/gpus"
	use_fake_gpus "$GPUS"
}

teardown() {
	teardown_home
}

# ---- helpers -----------------------------------------------------------------

# A process to put on a GPU: sleeps until killed; its pid goes to $SLEEPER.
start_sleeper() {
	sleep 100000 &
	SLEEPER=$!
}

# A train-sim that ignores SIGTERM, started outside trainctl; its pid goes to
# $SIM once it has set up its signal handling (its first epoch is printed).
start_stubborn_sim() {
	"$TRAIN_SIM" --checkpoint-dir "$CK" --epochs 100000 --epoch-time 0.1 --ignore-term \
		>"$BATS_TEST_TMPDIR/sim.out" 2>&1 &
	SIM=$!
	wait_for 10 grep -q 'Epoch 1/' "$BATS_TEST_TMPDIR/sim.out"
}

# A two-GPU machine: an A100 with everything, and a consumer card without
# power, temperature or utilization readings. Processes: PID on GPU 0, and
# PID2 (optional) on GPU 1 with unknown memory.
two_gpus() {
	cat >"$GPUS" <<EOF
gpu 0 name="NVIDIA A100-SXM4-40GB" uuid=GPU-5f1c0a3e-1111-2222-3333-444455556666 bus=00000000:07:00.0 mem_total=40G mem_used=21G util=35 mem_util=10 temp=54 power=210 power_limit=400
gpu 1 name="NVIDIA GeForce RTX 3090" uuid=GPU-aaaa bus=00000000:41:00.0 mem_total=24G mem_used=2G unsupported=power,power_limit,temp,util,proc_util
proc gpu=0 pid=$1 mem=20G sm=40
EOF
	if [ -n "${2:-}" ]; then
		echo "proc gpu=1 pid=$2 mem=unknown" >>"$GPUS"
	fi
}

# reap PID: wait for a background process of this test; its exit status goes
# to $status. (Not with `run`: in its subshell, wait cannot see our children.)
reap() {
	status=0
	wait "$1" || status=$?
}

no_daemon() {
	! tc daemon status >/dev/null 2>&1
}

# ---- gpu, gpu ps, --json -------------------------------------------------------

@test "gpu shows each GPU and its processes as the fake describes them" {
	start_sleeper
	local other
	sleep 100001 &
	other=$!
	two_gpus "$SLEEPER" "$other"
	run tc gpu
	[ "$status" -eq 0 ]
	echo "$output"
	[[ ${lines[0]} =~ ^GPU\ +NAME\ +UTIL\ +MEMORY\ +TEMP\ +POWER ]]
	[[ ${lines[1]} =~ ^0\ +NVIDIA\ A100-SXM4-40GB\ +35%\ +\[#+\.+\]\ 21G\ /\ 40G\ +54C\ +210W\ /\ 400W$ ]]
	[[ ${lines[2]} =~ ^1\ +NVIDIA\ GeForce\ RTX\ 3090\ +-\ +\[#*\.+\]\ 2.0G\ /\ 24G\ +-\ +-\ /\ -$ ]]
	[[ ${lines[3]} =~ ^GPU\ +PID\ +USER\ +JOB\ +GPU-MEM\ +SM\ +COMMAND ]]
	[[ ${lines[4]} =~ ^0\ +$SLEEPER\ +root\ +-\ +20G\ +40%\ +sleep\ 100000$ ]]
	[[ ${lines[5]} =~ ^1\ +$other\ +root\ +-\ +-\ +-\ +sleep\ 100001$ ]]
	[ "${#lines[@]}" -eq 6 ]
	# Nothing here needed a daemon, and none was started.
	no_daemon
}

@test "gpu --json has every field of the fake, unsupported ones as null" {
	start_sleeper
	two_gpus "$SLEEPER"
	run tc gpu --json
	[ "$status" -eq 0 ]
	[ "$(jq length <<<"$output")" -eq 2 ]
	[ "$(jq -c '.[0] | del(.processes)' <<<"$output")" = \
		'{"index":0,"name":"NVIDIA A100-SXM4-40GB","uuid":"GPU-5f1c0a3e-1111-2222-3333-444455556666","pci_bus_id":"00000000:07:00.0","mem_total":42949672960,"mem_used":22548578304,"util_gpu":35,"util_mem":10,"temperature_c":54,"power_w":210,"power_limit_w":400}' ]
	[ "$(jq -c '.[1] | del(.processes)' <<<"$output")" = \
		'{"index":1,"name":"NVIDIA GeForce RTX 3090","uuid":"GPU-aaaa","pci_bus_id":"00000000:41:00.0","mem_total":25769803776,"mem_used":2147483648,"util_gpu":null,"util_mem":null,"temperature_c":null,"power_w":null,"power_limit_w":null}' ]
	[ "$(jq -c '.[0].processes' <<<"$output")" = \
		"[{\"gpu\":0,\"pid\":$SLEEPER,\"used_mem\":21474836480,\"sm_util\":40,\"user\":\"root\",\"command\":[\"sleep\",\"100000\"],\"job\":null}]" ]
	[ "$(jq -c '.[1].processes' <<<"$output")" = '[]' ]
}

@test "gpu ps lists every compute process; --json as an array" {
	start_sleeper
	local other
	sleep 100001 &
	other=$!
	two_gpus "$SLEEPER" "$other"
	run tc gpu ps
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ ${lines[1]} =~ ^0\ +$SLEEPER\ +root\ +-\ +20G\ +40% ]]
	[[ ${lines[2]} =~ ^1\ +$other\ +root\ +-\ +-\ +- ]]
	run tc gpu ps --json
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.[] | [.gpu, .pid, .used_mem, .sm_util]]' <<<"$output")" = \
		"[[0,$SLEEPER,21474836480,40],[1,$other,null,null]]" ]
}

@test "a process that exited is no longer listed, as with the real driver" {
	start_sleeper
	two_gpus "$SLEEPER"
	run tc gpu ps --json
	[ "$(jq length <<<"$output")" -eq 1 ]
	kill "$SLEEPER"
	wait "$SLEEPER" || true
	run tc gpu ps
	[ "$status" -eq 0 ]
	[ "$output" = "No compute processes on the GPUs." ]
}

@test "gpu names the trainctl job of a job's process and of its workers" {
	start -n simjob -- $(sim --epochs 100000 --epoch-time 0.1 --workers 1)
	wait_for 10 log_has "$ID" 'Started 1 workers'
	local pid worker
	pid=$(job_field "$ID" pid)
	worker=$(pids_matching "$CK" | grep -vx "$pid" | head -1)
	[ -n "$worker" ]
	cat >"$GPUS" <<EOF
gpu 0
gpu 1
proc gpu=0 pid=$pid mem=3G
proc gpu=1 pid=$worker mem=1G
EOF
	run tc gpu ps --json
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.[] | [.pid, .job.id, .job.name]]' <<<"$output")" = \
		"[[$pid,$ID,\"simjob\"],[$worker,$ID,\"simjob\"]]" ]
	run tc gpu
	[ "$status" -eq 0 ]
	[[ $output =~ $pid\ +root\ +$ID\ \(simjob\)\ +3.0G ]]
}

@test "gpu -w redraws until SIGINT, reading the GPUs again each time" {
	echo "gpu 0 util=5" >"$GPUS"
	# (a background command of a script starts with SIGINT ignored: undo that, as a terminal would have it)
	env --default-signal=INT "$TRAINCTL" gpu --json -i 100ms >"$BATS_TEST_TMPDIR/watch.out" &
	local watcher=$!
	wait_for 10 grep -q '"util_gpu":5' "$BATS_TEST_TMPDIR/watch.out"
	echo "gpu 0 util=97" >"$GPUS"
	wait_for 10 grep -q '"util_gpu":97' "$BATS_TEST_TMPDIR/watch.out"
	kill -INT "$watcher"
	reap "$watcher"
	[ "$status" -eq 0 ]
	# One compact JSON document per line.
	jq -e . "$BATS_TEST_TMPDIR/watch.out" >/dev/null
}

# ---- gpu kill --------------------------------------------------------------------

@test "gpu kill of a process that ignores SIGTERM escalates to SIGKILL" {
	start_stubborn_sim
	echo "gpu 0 mem_total=40G mem_used=20G" >"$GPUS"
	echo "proc gpu=0 pid=$SIM mem=20G" >>"$GPUS"
	run tc gpu kill -t 1s "$SIM"
	[ "$status" -eq 0 ]
	echo "$output"
	[[ ${lines[0]} == "$SIM (train-sim): still running 1s after SIGTERM: sending SIGKILL" ]]
	[[ ${lines[1]} == "GPU 0: no compute process left; 20G of 40G in use" ]]
	reap "$SIM"
	[ "$status" -eq 137 ] # killed by SIGKILL
	[ ! -e "/proc/$SIM" ]
}

@test "gpu kill of a process that handles SIGTERM waits for its exit, and reports who still holds the GPU" {
	local worker
	"$TRAIN_SIM" --checkpoint-dir "$CK" --epochs 100000 --epoch-time 0.1 >"$BATS_TEST_TMPDIR/sim.out" 2>&1 &
	SIM=$!
	wait_for 10 grep -q 'Epoch 1/' "$BATS_TEST_TMPDIR/sim.out"
	start_sleeper
	cat >"$GPUS" <<EOF
gpu 0
gpu 1
proc gpu=0 pid=$SIM mem=10G
proc gpu=0 pid=$SLEEPER mem=2G
EOF
	run tc gpu kill "$SIM"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "${lines[0]}" = "$SIM (train-sim): exited after SIGTERM" ]
	[ "${lines[1]}" = "GPU 0: still used by $SLEEPER (sleep), 2.0G of memory" ]
	[ "${#lines[@]}" -eq 2 ]
	reap "$SIM"
	[ "$status" -eq 0 ] # train-sim exits 0 on SIGTERM
	alive "$SLEEPER"
}

@test "gpu kill refuses a process that is not on a GPU, and kills it with --force" {
	start_sleeper
	echo "gpu 0" >"$GPUS"
	run tc gpu kill "$SLEEPER"
	[ "$status" -eq 1 ]
	[ "$output" = "trainctl: gpu kill: process $SLEEPER (sleep) is not a GPU compute process (use --force to kill it anyway)" ]
	alive "$SLEEPER"
	run tc gpu kill --force "$SLEEPER"
	[ "$status" -eq 0 ]
	[ "$output" = "$SLEEPER (sleep): exited after SIGTERM" ]
	reap "$SLEEPER"
	[ "$status" -eq 143 ] # SIGTERM
	[ ! -e "/proc/$SLEEPER" ]
}

@test "gpu kill checks every PID before it signals any" {
	start_sleeper
	local stray
	sleep 100001 &
	stray=$!
	echo "gpu 0" >"$GPUS"
	echo "proc gpu=0 pid=$SLEEPER mem=1G" >>"$GPUS"
	run tc gpu kill "$SLEEPER" "$stray"
	[ "$status" -eq 1 ]
	[[ $output == *"process $stray (sleep) is not a GPU compute process"* ]]
	alive "$SLEEPER"
	alive "$stray"
}

@test "gpu kill of a job's process stops the job the trainctl way" {
	start -n gpujob -- $(sim --epochs 100000 --epoch-time 0.1)
	wait_for 10 log_has "$ID" 'Epoch 1/'
	local pid
	pid=$(job_field "$ID" pid)
	echo "gpu 0" >"$GPUS"
	echo "proc gpu=0 pid=$pid mem=8G" >>"$GPUS"
	run tc gpu kill -t 5s "$pid"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "${lines[0]}" = "$pid (train-sim) belongs to job $ID (gpujob): stopping the job" ]
	[[ ${lines[1]} == "$ID (gpujob): stopped"* ]]
	[ "${lines[2]}" = "GPU 0: no compute process left; 0B of 16G in use" ]
	[ "$(tc ls -a --json | jq -r ".[] | select(.id == $ID) | .state")" = stopped ]
	! alive "$pid"
}

# ---- errors ----------------------------------------------------------------------

@test "without a driver every gpu command says so and exits 1" {
	export TRAINCTL_NVML_LIB=/nonexistent/libnvidia-ml.so.1
	for args in "" "ps" "ps --json" "kill 1"; do
		run tc gpu $args
		[ "$status" -eq 1 ]
		[[ $output == "trainctl: no NVIDIA driver (libnvidia-ml.so.1) found"* ]]
	done
	# The library is present but the kernel driver is not loaded.
	use_fake_gpus "$GPUS"
	echo "init error=driver_not_loaded" >"$GPUS"
	run tc gpu
	[ "$status" -eq 1 ]
	[[ $output == "trainctl: no NVIDIA driver (libnvidia-ml.so.1) found"* ]]
}

@test "bad gpu usage exits 2 with a clear message" {
	echo "gpu 0" >"$GPUS"
	run tc gpu kill -t soon 1
	[ "$status" -eq 2 ]
	[[ $output == *"invalid duration 'soon'"* ]]
	run tc gpu kill abc
	[ "$status" -eq 2 ]
	[ "$output" = "trainctl: gpu kill: 'abc' is not a process id (expected a number above 0)" ]
	run tc gpu kill
	[ "$status" -eq 2 ]
	[[ $output == *"gpu kill: missing PID..."* ]]
	run tc gpu -i 10ms
	[ "$status" -eq 2 ]
	[[ $output == *"--interval 10ms is too short"* ]]
	run tc gpu frobnicate
	[ "$status" -eq 2 ]
	[ "$output" = "trainctl: gpu: unknown subcommand 'frobnicate' (expected ps or kill)" ]
	run tc gpu --json ps
	[ "$status" -eq 2 ]
	run tc gpu ps --bogus
	[ "$status" -eq 2 ]
	[[ $output == *"gpu ps: unknown option '--bogus'"* ]]
	run tc gpu kill 999999999
	[ "$status" -eq 1 ]
	[ "$output" = "trainctl: gpu kill: no process 999999999" ]
}

@test "gpu kill takes its options after the PIDs too" {
	run --separate-stderr tc gpu kill 999999 -t 5s
	[ "$status" -eq 1 ]
	[[ $stderr != *"is not a process id"* ]]
	run --separate-stderr tc gpu kill 999999 --help
	[ "$status" -eq 0 ]
	[[ $output == "Usage: trainctl gpu kill"* ]]
}
