#!/usr/bin/env bats
# The queue: --gpus allocation on the fake NVML, named queues with parallel
# limits and pauses, --after dependencies, --priority order, --hold/start.

load helpers

setup() {
	setup_home
	GPUS="$BATS_TEST_TMPDIR/gpus"
	printf 'gpu 0 mem_total=40G\ngpu 1 mem_total=40G\ngpu 2 mem_total=40G\ngpu 3 mem_total=40G\n' >"$GPUS"
	use_fake_gpus "$GPUS"
}

teardown() {
	teardown_home
}

state_of() { # JOB: its state
	tc ls -a --json | jq -r ".[] | select(.name == \"$1\") | .state"
}

reason_of() {
	tc ls -a --json | jq -r ".[] | select(.name == \"$1\") | .reason // \"\""
}

# A job that prints what it was given and waits for a file to appear.
gated() { # NAME GATE [run options...]
	local name=$1 gate=$2
	shift 2
	start -n "$name" "$@" -- sh -c "echo CVD=\$CUDA_VISIBLE_DEVICES ORDER=\$CUDA_DEVICE_ORDER; while [ ! -e $gate ]; do sleep 0.05; done"
}

@test "five --gpus 1 jobs on four GPUs: four run on distinct GPUs, the fifth when one ends" {
	for i in 1 2 3 4 5; do gated g$i "$BATS_TEST_TMPDIR/gate$i" --gpus 1; done
	for i in 1 2 3 4; do wait_for 10 log_has g$i 'CVD='; done
	[ "$(state_of g5)" = queued ]
	[ "$(reason_of g5)" = "waiting for 1 GPU" ]
	tc ls | grep -q 'queued (waiting for 1 GPU)'
	seen=$(for i in 1 2 3 4; do tc log g$i | sed -n 's/^CVD=\([0-9]*\) .*/\1/p'; done | sort | tr '\n' ' ')
	[ "$seen" = "0 1 2 3 " ]
	tc log g1 | grep -q 'ORDER=PCI_BUS_ID'
	freed=$(tc log g3 | sed -n 's/^CVD=\([0-9]*\) .*/\1/p')
	touch "$BATS_TEST_TMPDIR/gate3"
	wait_for 10 log_has g5 "CVD=$freed "
	[ "$(tc ls -a --json | jq -c '.[] | select(.name == "g5") | .gpus')" = "[$freed]" ]
	for i in 1 2 4 5; do touch "$BATS_TEST_TMPDIR/gate$i"; done
	tc wait g1 g2 g4 g5
}

@test "a GPU used by another process beyond --gpu-free-mem is not allocated" {
	sleep 300 &
	foreign=$!
	printf 'proc gpu=0 pid=%d mem=20G\n' "$foreign" >>"$GPUS"
	gated a "$BATS_TEST_TMPDIR/gate" --gpus 1
	wait_for 10 log_has a 'CVD=1 '
	gated b "$BATS_TEST_TMPDIR/gate" --gpus 0
	[ "$(state_of b)" = queued ]
	[ "$(reason_of b)" = "waiting for GPU 0" ]
	kill "$foreign"
	wait "$foreign" || true
	# the foreign process is gone: GPU 0 is free within a recheck
	wait_for 10 log_has b 'CVD=0 '
	touch "$BATS_TEST_TMPDIR/gate"
	tc wait a b
}

@test "--gpu-mem packs several jobs onto one GPU by declared memory" {
	printf 'gpu 0 mem_total=40G\n' >"$GPUS"
	for i in 1 2 3; do gated p$i "$BATS_TEST_TMPDIR/gate" --gpus 1 --gpu-mem 15G; done
	wait_for 10 log_has p1 'CVD=0 '
	wait_for 10 log_has p2 'CVD=0 '
	[ "$(state_of p3)" = queued ] # 45G does not fit in 40G
	gated x "$BATS_TEST_TMPDIR/gate" --gpus 1
	[ "$(state_of x)" = queued ]  # a whole-GPU job waits for the sharers
	touch "$BATS_TEST_TMPDIR/gate"
	tc wait p1 p2 p3 x
	[ "$(tc ls -a --json | jq '[.[] | select(.state == "succeeded")] | length')" -eq 4 ]
}

@test "bad --gpus requests are refused before anything is queued" {
	run tc run --gpus 5 -- true
	[ "$status" -eq 2 ]
	[[ $output == *"--gpus 5: this machine has 4 GPUs"* ]]
	run tc run --gpus 0,7 -- true
	[ "$status" -eq 2 ]
	[[ $output == *"there is no GPU 7"* ]]
	run tc run --gpus 1,1 -- true
	[ "$status" -eq 2 ]
	[[ $output == *"invalid --gpus '1,1'"* ]]
	run tc run --gpus zero -- true
	[ "$status" -eq 2 ]
	run tc run --gpu-mem 1G -- true
	[ "$status" -eq 2 ]
	[[ $output == *"--gpu-mem needs --gpus"* ]]
	run tc run --gpus 1 --gpu-mem 100G -- true
	[ "$status" -eq 2 ]
	[ "$(tc ls -a --json | jq length)" -eq 0 ]
}

@test "--gpus without a driver fails clearly and records nothing" {
	export TRAINCTL_NVML_LIB=/nonexistent/libnvidia-ml.so.1
	run tc run --gpus 1 -- true
	[ "$status" -eq 1 ]
	[[ $output == *"no NVIDIA driver (libnvidia-ml.so.1) found"* ]]
	[ "$(tc ls -a --json | jq length)" -eq 0 ]
	# jobs without GPUs are not affected
	start -- true
}

@test "a queue runs at most --parallel jobs; pause holds the rest, resume lets them go" {
	tc queue sweep --parallel 2 >/dev/null
	for i in 1 2 3; do gated s$i "$BATS_TEST_TMPDIR/gate$i" --queue sweep; done
	wait_for 10 log_has s1 CVD
	wait_for 10 log_has s2 CVD
	[ "$(state_of s3)" = queued ]
	[ "$(reason_of s3)" = "queue 'sweep' full (2 running)" ]
	run tc queue
	[[ $output == *sweep*2*active*2*1* ]]
	tc queue sweep --pause >/dev/null
	touch "$BATS_TEST_TMPDIR/gate1"
	tc wait s1
	[ "$(state_of s3)" = queued ]
	wait_for 5 eval '[ "$(reason_of s3)" = "queue '"'"'sweep'"'"' paused" ]'
	tc queue sweep --resume >/dev/null
	wait_for 10 log_has s3 CVD
	touch "$BATS_TEST_TMPDIR/gate2" "$BATS_TEST_TMPDIR/gate3"
	tc wait s2 s3
	[ "$(tc queue --json | jq -c '.[] | select(.name == "sweep") | [.parallel, .paused, .running, .queued]')" = "[2,false,0,0]" ]
}

@test "--after starts a job only after its dependencies succeeded; a failure cancels it" {
	gated first "$BATS_TEST_TMPDIR/gate"
	start -n second --after first -- echo second ran
	[ "$(state_of second)" = queued ]
	[ "$(reason_of second)" = "waiting for job 1" ]
	start -n bad -- sh -c 'exit 3'
	start -n never --after first,bad -- echo never ran
	tc wait bad || true
	wait_for 5 eval '[ "$(state_of never)" = cancelled ]'
	[ "$(reason_of never)" = "dependency 3 failed" ]
	touch "$BATS_TEST_TMPDIR/gate"
	tc wait second
	tc log second | grep -q 'second ran'
	run tc run --after nosuchjob -- true
	[ "$status" -ne 0 ]
	[[ $output == *nosuchjob* ]]
}

@test "--priority: higher first, first come first served within a priority" {
	tc queue one --parallel 1 >/dev/null
	gated blocker "$BATS_TEST_TMPDIR/gate" --queue one
	start -n low --queue one --priority -5 -- sh -c 'date +%s%N'
	start -n mid1 --queue one -- sh -c 'date +%s%N'
	start -n high --queue one --priority 10 -- sh -c 'date +%s%N'
	start -n mid2 --queue one -- sh -c 'date +%s%N'
	touch "$BATS_TEST_TMPDIR/gate"
	tc wait low mid1 high mid2
	order=$(for j in low mid1 high mid2; do echo "$(tc log $j | tr -d '\r') $j"; done | sort -n | awk '{print $2}' | tr '\n' ' ')
	[ "$order" = "high mid1 mid2 low " ]
}

@test "--hold waits for trainctl start; stop removes a waiting job from the queue" {
	start -n held --hold -- echo held ran
	[ "$(state_of held)" = held ]
	run tc start held
	[ "$status" -eq 0 ]
	[[ $output == *"job 1"* ]]
	tc wait held
	tc log held | grep -q 'held ran'
	run tc start held
	[ "$status" -eq 1 ]
	[[ $output == *"not held"* ]]
	start -n waiting --hold -- true
	tc stop waiting
	[ "$(state_of waiting)" = cancelled ]
	[ "$(reason_of waiting)" = "removed from the queue" ]
	run tc run --hold -a -- true
	[ "$status" -eq 2 ]
}

@test "queue usage errors exit 2" {
	run tc queue --parallel 2
	[ "$status" -eq 2 ]
	run tc queue q --parallel -1
	[ "$status" -eq 2 ]
	run tc queue q --pause --resume
	[ "$status" -eq 2 ]
	run tc queue 'bad name' --pause
	[ "$status" -eq 2 ]
	run tc run --queue 'a b' -- true
	[ "$status" -eq 2 ]
	run tc run --priority high -- true
	[ "$status" -eq 2 ]
	[ "$(tc ls -a --json | jq length)" -eq 0 ]
}

@test "queued jobs survive a daemon restart and start afterwards" {
	tc queue one --parallel 1 >/dev/null
	gated blocker "$BATS_TEST_TMPDIR/gate" --queue one
	start -n next --queue one -- echo next ran
	[ "$(state_of next)" = queued ]
	tc daemon stop
	touch "$BATS_TEST_TMPDIR/gate"
	tc wait blocker
	tc wait next
	tc log next | grep -q 'next ran'
}

@test "GPU metrics: a job's GPU memory and utilization in ls, show, stats; the GPUs in daemon status" {
	export TRAINCTL_SAMPLE_INTERVAL=250ms
	start -n gpujob --gpus 1 -- $(sim --epochs 100000 --epoch-time 0.1)
	wait_for 10 eval '[ "$(job_field gpujob pid)" != null ]'
	pid=$(job_field gpujob pid)
	printf 'proc gpu=0 pid=%d mem=2G sm=40\n' "$pid" >>"$GPUS"
	wait_for 10 eval '[ "$(tc ls --json | jq ".[0].gpu_mem_bytes // 0")" -eq 2147483648 ]'
	[ "$(tc ls --json | jq '.[0].gpu_util | floor')" -eq 40 ]
	tc ls | grep -Eq '^1 +gpujob +running .* 0 2\.0G 40%'
	tc show gpujob | grep -q 'GPUs: *0 2.0G 40%'
	wait_for 10 eval '[ "$(tc stats gpujob --json | jq ".gpu_mem_bytes.max // 0")" -eq 2147483648 ]'
	[ "$(tc stats gpujob --json | jq '.gpu_util.mean | floor')" -eq 40 ]
	tc plot gpujob --metric gpu,gpumem --ascii | grep -q 'GPU memory'
	run tc daemon status --json
	[ "$(jq '.machine.gpus | length' <<<"$output")" -eq 4 ]
	[ "$(jq '.machine.gpus[0].mem_total' <<<"$output")" -eq 42949672960 ]
	tc stop gpujob
}

@test "monitor fills the GPU columns from NVML for processes on a GPU" {
	sleep 300 &
	onegpu=$!
	printf 'proc gpu=1 pid=%d mem=3G sm=55\n' "$onegpu" >>"$GPUS"
	tc monitor --pid "$onegpu" -i 0.2s -d 1s -o "$BATS_TEST_TMPDIR/m.csv"
	kill "$onegpu"
	row=$(grep ",$onegpu," "$BATS_TEST_TMPDIR/m.csv" | tail -1)
	[ "$(cut -d, -f11 <<<"$row")" = 3221225472 ]
	[ "$(cut -d, -f12 <<<"$row")" = 55.0 ]
	tc analyze "$BATS_TEST_TMPDIR/m.csv" --json | jq -e '.overall.gpu_mem_bytes.max == 3221225472' >/dev/null
}
