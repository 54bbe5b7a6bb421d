#!/usr/bin/env bats
# Resilience scenarios with train-sim: checkpoints, restart policies with
# backoff and resume args, restart by hand, time limits, and failure reasons.

load helpers

setup() {
	setup_home
}

teardown() {
	teardown_home
}

CKGLOB='ck/checkpoint_epoch_*.json'

attempts() {
	tc show "$1" --json | jq '.attempts | length'
}

@test "a crash restarts the job from its latest checkpoint and it completes" {
	start -n crash --restart on-failure --checkpoint "$CKGLOB" --resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 30 --epoch-time 0.05 --checkpoint-every 10 --crash-at 25
	run tc wait crash
	[ "$status" -eq 0 ]
	[ "$(job_field crash state)" = succeeded ]
	[ "$(job_field crash restarts)" = 1 ]
	[ "$(attempts crash)" = 2 ]
	[ "$(tc show crash --json | jq -r '.attempts[0].state')" = failed ]
	log_has crash "Resumed from $BATS_TEST_TMPDIR/work/ck/checkpoint_epoch_20.json at epoch 20"
	log_has crash 'Epoch 30/30'
	log_has crash '--- trainctl: attempt 2 started'
	[ "$(job_field crash checkpoint)" = "$BATS_TEST_TMPDIR/work/ck/checkpoint_epoch_30.json" ]
	tc show crash --json | jq -e '[.events[].kind] | index("checkpoint") != null'
}

@test "--max-restarts is honoured and the backoff doubles" {
	start -n always --restart on-failure --max-restarts 2 --checkpoint "$CKGLOB" \
		--resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 10 --epoch-time 0.02 --checkpoint-every 1 --crash-at 3 --crash-always
	run tc wait always
	[ "$status" -eq 1 ]
	[ "$(job_field always state)" = failed ]
	[[ $(job_field always reason) == *"gave up after 2 restarts"* ]]
	[ "$(attempts always)" = 3 ]
	# gaps between an attempt's end and the next start: about 1 s, then about 2 s
	gaps=$(tc show always --json | jq -r '.attempts as $a | [range(1; $a|length) |
		(($a[.].started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) -
		 ($a[.-1].ended_at | sub("\\.[0-9]+Z$"; "Z") | fromdate))] | @tsv')
	read -r g1 g2 <<<"$gaps"
	[ "$g1" -ge 0 ] && [ "$g1" -le 2 ]
	[ "$g2" -ge 1 ] && [ "$g2" -le 3 ]
	[ "$g2" -gt "$g1" ] || [ "$g2" -ge 2 ]
}

@test "a job stopped by the user is never restarted automatically" {
	start -n keep --restart always -- $(sim --epochs 1000 --epoch-time 0.1)
	wait_for 10 log_has keep 'Epoch 1/'
	tc stop keep
	[ "$(job_field keep state)" = stopped ]
	# two watchdog ticks later it is still stopped, with one attempt
	sleep 2.5
	[ "$(job_field keep state)" = stopped ]
	[ "$(job_field keep restarts)" = 0 ]
}

@test "a daemon restart in the middle of a backoff still restarts the job" {
	start -n mid --restart on-failure --max-restarts 1 --sh 'sleep 0.2; exit 1'
	wait_for 10 job_state_is mid restarting
	kill -9 "$(daemon_pid)"
	run tc wait mid
	[ "$status" -eq 1 ]
	[ "$(attempts mid)" = 2 ]
	[[ $(job_field mid reason) == *"gave up after 1 restart"* ]]
}

@test "restart by hand: a new attempt under the same id, from the checkpoint unless --fresh" {
	start -n hand --checkpoint "$CKGLOB" --resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 5 --epoch-time 0.02 --checkpoint-every 5
	tc wait hand
	run tc restart hand
	[ "$status" -eq 0 ]
	tc wait hand
	log_has hand "Resumed from $BATS_TEST_TMPDIR/work/ck/checkpoint_epoch_5.json"
	[ "$(attempts hand)" = 2 ]
	tc restart --fresh hand
	tc wait hand
	[ "$(attempts hand)" = 3 ]
	[ "$(tc log hand | grep -c 'Resumed from')" = 1 ]
}

@test "restart of a running job stops it gracefully, then runs it again" {
	start -n live --checkpoint "$CKGLOB" --resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 1000 --epoch-time 0.05
	wait_for 10 log_has live 'Epoch 3/'
	tc restart live
	wait_for 15 eval '[ "$(attempts live)" = 1 ] && job_state_is live running'
	wait_for 10 log_has live 'Resumed from'
	tc stop live
}

@test "--time-limit stops the job gracefully with reason time-limit" {
	start -n tl --time-limit 1s --checkpoint "$CKGLOB" -- "$TRAIN_SIM" --checkpoint-dir ck --epochs 1000 --epoch-time 0.05
	run tc wait tl
	[ "$status" -eq 0 ]
	[ "$(job_field tl state)" = stopped ]
	[[ $(job_field tl reason) == "time-limit"* ]]
	[[ $(job_field tl reason) == *"checkpoint saved"* ]]
}

@test "a stop that makes the job save a checkpoint says so" {
	start -n saver --checkpoint "$CKGLOB" -- "$TRAIN_SIM" --checkpoint-dir ck --epochs 1000 --epoch-time 0.05
	wait_for 10 log_has saver 'Epoch 3/'
	tc stop saver
	[[ $(job_field saver reason) == *"checkpoint saved"* ]]
}

@test "a CUDA out-of-memory error ends the job as cuda-oom" {
	start -n oom --sh 'echo "Traceback (most recent call last):"; echo "  File \"train.py\", line 3"; echo "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"; exit 1'
	tc wait oom || true
	[ "$(job_field oom state)" = failed ]
	[[ $(job_field oom reason) == cuda-oom* ]]
}

@test "a failure's reason carries the error line from the log" {
	start -n err --sh 'echo "Traceback (most recent call last):"; echo "  File \"x.py\", line 1"; echo "ValueError: bad shape (3, 4)"; exit 1'
	tc wait err || true
	[ "$(job_field err reason)" = "exit 1: ValueError: bad shape (3, 4)" ]
}

@test "bad restart options are usage errors" {
	run --separate-stderr tc run --restart sometimes -- true
	[ "$status" -eq 2 ]
	[[ $stderr == *"--restart 'sometimes'"* ]]
	run --separate-stderr tc run --max-restarts x -- true
	[ "$status" -eq 2 ]
	run --separate-stderr tc run --time-limit soon -- true
	[ "$status" -eq 2 ]
	run --separate-stderr tc run --time-limit 0 -- true
	[ "$status" -eq 2 ]
	[[ $stderr == *"--time-limit must be longer than 0"* ]]
	run --separate-stderr tc run --hang-timeout 0s -- true
	[ "$status" -eq 2 ]
	[[ $stderr == *"--hang-timeout must be longer than 0"* ]]
	run --separate-stderr tc run --resume-args "'unclosed" -- true
	[ "$status" -eq 2 ]
}

@test "--hang-timeout detects a hung job and records what it was doing" {
	start -n hang --hang-timeout 2s -- $(sim --epochs 100 --epoch-time 0.05 --hang-at 3)
	wait_for 15 eval '[ "$(job_field hang reason)" = hung ]'
	[ "$(job_field hang state)" = running ]
	detail=$(tc show hang --json | jq -r '[.events[] | select(.kind == "hung")][0].detail')
	[[ $detail == "no output, progress, checkpoint or CPU for "* ]]
	[[ $detail == *"train-sim S"* ]]
	tc ls | grep -q 'running (hung)'
	tc stop hang
}

@test "a job that prints nothing but keeps a CPU busy is not hung" {
	export TRAINCTL_SAMPLE_INTERVAL=500ms
	start -n busy --hang-timeout 2s -- $(sim --cpu-burn --epochs 1 --epoch-time 100)
	# silent for much longer than the timeout, but never idle
	sleep 5
	[ "$(job_field busy state)" = running ]
	[ "$(job_field busy reason)" = null ]
	tc stop busy
}

@test "--on-hang restart resumes a hung job from its checkpoint" {
	start -n hr --hang-timeout 2s --on-hang restart --checkpoint "$CKGLOB" --resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 8 --epoch-time 0.05 --checkpoint-every 2 --hang-at 5
	# the hang is transient (train-sim does not hang again once resumed): the job completes
	run tc wait hr
	[ "$status" -eq 0 ]
	log_has hr "Resumed from $BATS_TEST_TMPDIR/work/ck/checkpoint_epoch_4.json"
	log_has hr 'Epoch 8/8'
	[ "$(tc show hr --json | jq -r '.attempts[0].reason')" = "hung (exit 0 after SIGTERM)" ]
	[ "$(job_field hr state)" = succeeded ]
}

@test "--on-hang kill ends a hung job as failed (hung)" {
	start -n hk --hang-timeout 2s --on-hang kill -- $(sim --epochs 100 --epoch-time 0.05 --hang-at 2)
	run tc wait hk
	[ "$(job_field hk state)" = failed ]
	[[ $(job_field hk reason) == "hung "* ]]
	run --separate-stderr tc run --on-hang kill -- true
	[ "$status" -eq 2 ]
	run --separate-stderr tc run --hang-timeout 1m --on-hang maybe -- true
	[ "$status" -eq 2 ]
}

# ---- priorities and limits ----------------------------------------------------

cpu_percent_of() { # PID SECONDS: CPU use of PID over SECONDS, in percent of one CPU
	local hz t0 t1
	hz=$(getconf CLK_TCK)
	t0=$(($(stat_field "$1" 14) + $(stat_field "$1" 15)))
	sleep "$2"
	t1=$(($(stat_field "$1" 14) + $(stat_field "$1" 15)))
	echo $(((t1 - t0) * 100 / hz * 100 / ($2 * 100)))
}

@test "--cpu-limit 50% keeps a CPU-burning job between 40% and 60% of a CPU" {
	start -n burn --cpu-limit 50% -- $(sim --cpu-burn --epochs 100000 --epoch-time 0.1)
	pid=$(job_field burn pid)
	wait_for 5 log_has burn 'Epoch 1/'
	use=$(cpu_percent_of "$pid" 3)
	[ "$use" -ge 40 ] && [ "$use" -le 60 ]
	tc show burn | grep -Eq 'Limits: *cpu 50% \(cgroup v[12]\)'
	tc limit burn --cpu 20%
	use=$(cpu_percent_of "$pid" 3)
	[ "$use" -ge 12 ] && [ "$use" -le 28 ]
	tc stop burn
}

@test "--mem-limit: a leaking job is OOM-killed inside its cgroup" {
	start -n leak --mem-limit 64M -- $(sim --leak-mb 16 --epochs 100 --epoch-time 0.1)
	run tc wait leak
	[ "$status" -ne 0 ]
	[ "$(job_field leak state)" = failed ]
	[[ $(job_field leak reason) == oom-killed* ]]
}

@test "without cgroups the limits fall back to signals and an RSS watchdog" {
	export TRAINCTL_CGROUP=none
	start -n leak --mem-limit 64M -- $(sim --leak-mb 16 --epochs 100 --epoch-time 0.1)
	run tc wait leak
	[ "$status" -ne 0 ]
	[[ $(job_field leak reason) == "memory-limit"* ]]
	start -n burn --cpu-limit 50% -- $(sim --cpu-burn --epochs 100000 --epoch-time 0.1)
	pid=$(job_field burn pid)
	wait_for 5 log_has burn 'Epoch 1/'
	use=$(cpu_percent_of "$pid" 3)
	[ "$use" -ge 35 ] && [ "$use" -le 65 ]
	tc show burn | grep -q 'signals and an RSS watchdog'
	tc stop burn
}

@test "--nice and renice set the priority of the whole tree" {
	start -n nice --nice 5 -- $(sim --workers 2 --epochs 100000 --epoch-time 0.1)
	wait_for 5 eval '[ "$(pids_matching "$CK" | wc -l)" -eq 3 ]'
	for p in $(pids_matching "$CK"); do [ "$(stat_field "$p" 19)" = 5 ]; done
	tc renice nice 10
	for p in $(pids_matching "$CK"); do [ "$(stat_field "$p" 19)" = 10 ]; done
	run --separate-stderr tc renice nice 42
	[ "$status" -eq 2 ]
	run --separate-stderr tc run --cpu-limit lots -- true
	[ "$status" -eq 2 ]
	run --separate-stderr tc run --mem-limit 100K -- true
	[ "$status" -eq 2 ]
	[[ $stderr == *"at least 1M"* ]]
	run --separate-stderr tc limit nice --mem 100K
	[ "$status" -eq 2 ]
	[[ $stderr == *"at least 1M"* ]]
	run --separate-stderr tc limit nice
	[ "$status" -eq 2 ]
	tc stop nice
}

# ---- surviving reboots ---------------------------------------------------------

@test "daemon stop --checkpoint-jobs stops jobs with a checkpoint; --resume-on-boot jobs resume at the next start" {
	start -n boot --resume-on-boot --checkpoint "$CKGLOB" --resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 100000 --epoch-time 0.05
	start -n plain -- $(sim --epochs 100000 --epoch-time 0.05)
	wait_for 10 log_has boot 'Epoch 3/'
	run tc daemon stop --checkpoint-jobs
	[ "$status" -eq 0 ]
	[[ $output == *"(boot): stopped (daemon shutdown"* ]]
	run ! alive "$(daemon_pid)"
	saved=$(tc log boot | grep -o 'checkpoint saved to [^ ]*' | tail -1 | sed 's/checkpoint saved to //' | tr -d '\r')
	[ -n "$saved" ]
	# the next command starts the daemon, which resumes the job from that checkpoint
	wait_for 10 log_has boot "Resumed from $BATS_TEST_TMPDIR/work/$saved"
	[ "$(job_field boot state)" = running ]
	[ "$(job_field plain state)" = stopped ]
	tc show boot --json | jq -e '[.events[].kind] | index("interrupted") != null'
	tc stop boot
}

@test "after a crash of the whole machine, a --resume-on-boot job resumes from its last checkpoint" {
	start -n crash --resume-on-boot --checkpoint "$CKGLOB" --resume-args '--resume {checkpoint}' \
		-- "$TRAIN_SIM" --checkpoint-dir ck --epochs 100000 --epoch-time 0.05 --checkpoint-every 5
	wait_for 10 log_has crash 'Saved checkpoint ck/checkpoint_epoch_10.json'
	# everything dies at once: the daemon, the shim and the job
	kill -9 $(home_pids)
	wait_for 10 no_home_pids
	wait_for 15 log_has crash 'Resumed from'
	[ "$(job_field crash state)" = running ]
	[ "$(tc show crash --json | jq -r '.attempts[0].state')" = lost ]
	tc show crash --json | jq -e '[.events[].kind] | index("interrupted") != null'
	tc stop crash
}
