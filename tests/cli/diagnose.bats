#!/usr/bin/env bats
# trainctl diagnose: each situation is built for real (a zombie, a stopped
# process, a FIFO with no writer, a pipe nobody else writes, a busy loop, a
# deadlock, a frozen cgroup, a hung and a healthy train-sim job) and the
# finding is asserted from --json. Every process carries this test's
# TRAINCTL_HOME, so teardown_home kills it; the frozen cgroup is thawed and
# removed by its test's teardown.

load helpers

CASES="$BUILD/tests/diag-cases"

setup() {
	setup_home
	FREEZER=""
}

teardown() {
	if [ -n "$FREEZER" ] && [ -d "$FREEZER" ]; then
		echo THAWED >"$FREEZER/freezer.state"
	fi
	teardown_home
	[ -z "$FREEZER" ] || rmdir "$FREEZER" 2>/dev/null || true
}

# bg_case ARGS...: diag-cases in the background; pid in $PID, output in case.out.
bg_case() {
	env TRAINCTL_HOME="$TRAINCTL_HOME" "$CASES" "$@" >"$BATS_TEST_TMPDIR/case.out" 2>&1 3>&- &
	PID=$!
	disown "$PID"
	wait_for 10 grep -q ready "$BATS_TEST_TMPDIR/case.out"
}

# diag ARGS...: diagnose --json with a short window into $BATS_TEST_TMPDIR/d.json.
diag() {
	run --separate-stderr tc diagnose --window 1s --json "$@"
	[ "$status" -eq 0 ]
	echo "$output" >"$BATS_TEST_TMPDIR/d.json"
}

# jqd FILTER: jq on the last diagnosis.
jqd() {
	jq -r "$1" "$BATS_TEST_TMPDIR/d.json"
}

finding() {
	jqd "[.findings[].code] | index(\"$1\") != null"
}

wchan_is() {
	[ "$(cat "/proc/$1/wchan" 2>/dev/null)" = "$2" ]
}

job_field_is() {
	[ "$(job_field "$1" "$2")" = "$3" ]
}

comm_is() {
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

stat_is() {
	[ "$(stat_field "$1" 3)" = "$2" ]
}

@test "zombie: the parent that does not reap, and the zombie itself" {
	bg_case zombie
	zombie=$(head -1 "$BATS_TEST_TMPDIR/case.out")
	wait_for 10 stat_is "$zombie" Z
	diag "$PID"
	[ "$(finding zombie)" = true ]
	[ "$(jqd '.processes[0].children.zombies[0]')" = "$zombie" ]
	[ "$(jqd '.findings[0].severity')" = warning ]
	diag "$zombie"
	[ "$(jqd '.findings[0].code')" = zombie ]
	[ "$(jqd '.findings[0].severity')" = critical ]
	[[ "$(jqd '.findings[0].title')" == *"parent $PID (diag-cases) has not reaped it"* ]]
	[[ "$(jqd '.findings[0].fix')" == *"kill -CHLD $PID"* ]]
}

@test "a SIGSTOPped process: stopped by a signal, fixed by kill -CONT" {
	env TRAINCTL_HOME="$TRAINCTL_HOME" sleep 1000 3>&- &
	PID=$!
	disown "$PID"
	wait_for 10 comm_is "$PID" sleep # stop sleep itself, not the shell before its exec
	kill -STOP "$PID"
	wait_for 10 stat_is "$PID" T
	diag "$PID"
	[ "$(jqd '.findings[0].code')" = stopped ]
	[ "$(jqd '.findings[0].fix')" = "kill -CONT $PID" ]
	[ "$(jqd '.processes[0].state')" = T ]
}

@test "a reader opening a FIFO that has no writer: waiting for a writer on that path" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	bg_case fifo "$BATS_TEST_TMPDIR/fifo"
	wait_for 10 wchan_is "$PID" wait_for_partner
	diag "$PID"
	[ "$(jqd '.findings[0].code')" = fifo-no-peer ]
	[[ "$(jqd '.findings[0].title')" == *"waiting for a writer"*"$BATS_TEST_TMPDIR/fifo"* ]]
	[ "$(jqd '.processes[0].syscall.target')" = "$BATS_TEST_TMPDIR/fifo" ]
}

@test "a read on a pipe whose only writer is the reader itself: the other end is gone" {
	bg_case pipe-self
	wait_for 10 wchan_is "$PID" anon_pipe_read
	diag "$PID"
	[ "$(jqd '.findings[0].code')" = pipe-peer-gone ]
	[ "$(jqd '.findings[0].severity')" = critical ]
	[ "$(jqd '.processes[0].syscall.name')" = read ]
	[[ "$(jqd '.processes[0].syscall.target')" == pipe:* ]]
}

@test "a read on a pipe whose writer is alive but silent names the writer" {
	env TRAINCTL_HOME="$TRAINCTL_HOME" bash -c 'sleep 1000 | cat' 3>&- &
	shell=$!
	disown "$shell"
	wait_for 10 pgrep -P "$shell" -x cat
	wait_for 10 pgrep -P "$shell" -x sleep
	PID=$(pgrep -P "$shell" -x cat)
	writer=$(pgrep -P "$shell" -x sleep)
	wait_for 10 wchan_is "$PID" anon_pipe_read
	diag "$PID"
	[ "$(jqd '.findings[0].code')" = pipe-wait ]
	[ "$(jqd '.findings[0].severity')" = info ]
	[[ "$(jqd '.findings[0].fix')" == *"trainctl diagnose $writer"* ]]
}

@test "a busy loop that writes nothing" {
	bg_case busy
	diag "$PID"
	[ "$(finding busy-loop)" = true ]
	[ "$(jqd '.processes[0].state')" = R ]
}

@test "two threads deadlocked on mutexes" {
	bg_case deadlock
	diag "$PID"
	[ "$(jqd '.findings[0].code')" = deadlock ]
	[ "$(jqd '.processes[0].threads.count')" = 2 ]
	[ "$(jqd '.processes[0].window.cpu_percent')" = 0 ] || [ "$(jqd '.processes[0].window.cpu_percent')" = 0.0 ]
}

@test "a process in D state: frozen by a cgroup v1 freezer" {
	[ -w /sys/fs/cgroup/freezer ] || skip "no writable cgroup v1 freezer on this machine"
	FREEZER=/sys/fs/cgroup/freezer/trainctl-diag-$$-$BATS_TEST_NUMBER
	mkdir "$FREEZER"
	env TRAINCTL_HOME="$TRAINCTL_HOME" sleep 1000 3>&- &
	PID=$!
	disown "$PID"
	wait_for 10 comm_is "$PID" sleep
	echo "$PID" >"$FREEZER/cgroup.procs"
	echo FROZEN >"$FREEZER/freezer.state"
	wait_for 10 stat_is "$PID" D
	diag "$PID"
	[ "$(jqd '.findings[0].code')" = frozen ]
	[ "$(jqd '.findings[0].fix')" = "echo THAWED > $FREEZER/freezer.state" ]
	[ "$(jqd '.processes[0].window.looks_uninterruptible')" = "$(jqd '.processes[0].window.looks')" ]
}

@test "a train-sim job that hangs: the verdict is hung, fixed by a restart" {
	start -n hang --hang-timeout 1s -- $(sim --epochs 50 --epoch-time 0.05 --hang-at 2)
	wait_for 30 job_field_is hang reason hung
	diag hang
	[ "$(jqd '.findings[0].code')" = hung ]
	[ "$(jqd '.findings[0].fix')" = "trainctl restart $ID (resumes from the latest checkpoint)" ]
	[ "$(jqd '.job.id')" = "$ID" ]
	[ "$(jqd '.processes[0].pid')" = "$(job_field hang pid)" ]
}

@test "a healthy train-sim job: no problem found, with the facts that show it" {
	start -n ok -- $(sim --epochs 100000 --epoch-time 0.1)
	wait_for 10 log_has ok "Epoch 2/"
	run --separate-stderr tc diagnose ok --window 1s
	[ "$status" -eq 0 ]
	[[ "$output" == *"Verdict: no problem found"* ]]
	[[ "$output" == *"Last output"* ]]
	[[ "$output" != *$'\033['* ]]
	diag "$ID"
	[ "$(jqd '.findings | length')" = 0 ]
	[ "$(jqd '.verdict')" = "no problem found" ]
}

@test "a PID of a job is recognised as the job's" {
	start -n sim -- $(sim --epochs 100000 --epoch-time 0.1)
	pid=$(job_field sim pid)
	diag --pid "$pid"
	[ "$(jqd '.job.name')" = sim ]
	[ "$(jqd '.processes[0].pid')" = "$pid" ]
}

@test "diagnose PID needs no daemon and starts none" {
	bg_case deadlock
	diag "$PID"
	[ ! -S "$TRAINCTL_HOME/run/daemon.sock" ]
}

@test "bad input: a missing pid, a process it may not inspect, a bad window" {
	run --separate-stderr tc diagnose 999999999 --window 100ms
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: no process with pid 999999999" ]
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups "$TRAINCTL" diagnose --window 100ms 1
	[ "$status" -eq 1 ]
	[[ "$stderr" == "trainctl: may not inspect process 1 (it belongs to root)"* ]]
	for w in 0 -1s abc 11m; do
		run --separate-stderr tc diagnose --window "$w" 1
		[ "$status" -eq 2 ]
		[[ "$stderr" == trainctl:* ]]
	done
	run --separate-stderr tc diagnose --pid name
	[ "$status" -eq 2 ]
	run --separate-stderr tc diagnose nosuchjob --window 100ms
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"nosuchjob"* ]]
}

@test "colour only on request of a terminal; NO_COLOR and --no-color turn it off" {
	bg_case deadlock
	command -v script >/dev/null || skip "script(1) is not installed"
	run script -qec "$TRAINCTL diagnose --window 100ms $PID" /dev/null
	[[ "$output" == *$'\033[1;31m'CRITICAL* ]]
	run script -qec "env NO_COLOR=1 $TRAINCTL diagnose --window 100ms $PID" /dev/null
	[[ "$output" != *$'\033['* ]]
	run script -qec "$TRAINCTL diagnose --no-color --window 100ms $PID" /dev/null
	[[ "$output" != *$'\033['* ]]
}

@test "diagnose: GPU memory held with the GPU idle, from NVML (the fake)" {
	sleep 300 &
	holder=$!
	printf 'gpu 0 mem_total=40G util=0\nproc gpu=0 pid=%d mem=20G\n' "$holder" >"$BATS_TEST_TMPDIR/gpus"
	use_fake_gpus "$BATS_TEST_TMPDIR/gpus"
	run tc diagnose --pid "$holder" --window 0.5s --json
	kill "$holder"
	[ "$status" -eq 0 ]
	[ "$(jq '.processes[0].gpu.memory_bytes' <<<"$output")" -eq 21474836480 ]
	[ "$(jq '.processes[0].gpu.utilization_percent' <<<"$output")" -eq 0 ]
	[ "$(jq -r '[.findings[].code] | index("gpu-idle") != null' <<<"$output")" = true ]
}
