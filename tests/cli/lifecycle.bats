#!/usr/bin/env bats
# Job lifecycle scenarios: run, ls, show, wait, log, the job's environment,
# launch errors, names, rm/prune and log rotation. Every test gets its own
# TRAINCTL_HOME (setup_home); teardown_home kills whatever still carries it.
# train-sim runs get --checkpoint-dir "$CK", a per-test path, so their
# processes can be found by command line. Waits poll with a deadline.

load helpers

setup() {
	setup_home
	ulimit -c 0 # the SIGSEGV test must not leave core files around
}

teardown() {
	teardown_home
}

# ---- helpers -----------------------------------------------------------------

# The job's log with the PTY's \r removed.
plain_log() {
	tc log "$1" | tr -d '\r'
}

# ---- run / ls / show -----------------------------------------------------------

@test "run prints only the id at once; the job runs as its own process" {
	run --separate-stderr tc run -- $(sim --epochs 1000 --epoch-time 0.1)
	[ "$status" -eq 0 ]
	[[ $output =~ ^[0-9]+$ ]]
	[ "${#lines[@]}" -eq 1 ]
	[ -z "$stderr" ]
	id=$output
	# Right after run returns, the job is listed, starting or already running
	json=$(tc ls --json)
	[[ $(jq -r --argjson id "$id" '.[] | select(.id == $id) | .state' <<<"$json") == @(starting|running) ]]
	wait_for 5 job_state_is "$id" running
	json=$(tc ls --json)
	pid=$(jq -r --argjson id "$id" '.[] | select(.id == $id) | .pid' <<<"$json")
	[[ $pid =~ ^[0-9]+$ ]]
	alive "$pid"
	# The pid is the job itself (not a shim or a shell): its cmdline is the command.
	[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "$(sim --epochs 1000 --epoch-time 0.1) " ]
	[ "$(jq -c '.command' <<<"$(tc show "$id" --json)")" = \
		"$(printf '%s\n' $(sim --epochs 1000 --epoch-time 0.1) | jq -R . | jq -sc .)" ]
}

@test "ls shows the job in ID NAME STATE PID ELAPSED CPU MEM PROGRESS COMMAND columns" {
	start -n lsjob -- $(sim --epochs 1000 --epoch-time 0.1)
	pid=$(job_field "$ID" pid)
	wait_for 10 eval "tc ls | grep -q '/1000'"
	run --separate-stderr tc ls
	[ "$status" -eq 0 ]
	[ "$(echo "${lines[0]}" | tr -s ' ' | sed 's/ *$//')" = "ID NAME STATE PID ELAPSED CPU MEM PROGRESS COMMAND" ]
	[ "${#lines[@]}" -eq 2 ]
	read -r c_id c_name c_state c_pid c_elapsed c_cpu c_mem c_rest <<<"${lines[1]}"
	[ "$c_id" = "$ID" ]
	[ "$c_name" = lsjob ]
	[ "$c_state" = running ]
	[ "$c_pid" = "$pid" ]
	[ -n "$c_elapsed" ] && [ -n "$c_cpu" ] && [ -n "$c_mem" ]
	# the progress bar, then the command
	[[ $c_rest =~ ^\[[#.]{10}\]\ [0-9]+%\ [0-9]+/1000 ]]
	[[ $c_rest == *"  $(sim --epochs 1000 --epoch-time 0.1)" ]]
}

@test "ls --json shows the progress of a running train-sim" {
	start -- $(sim --epochs 50 --epoch-time 0.1)
	# the rate (and so the ETA) is known once a second of progress has been seen
	wait_for 10 eval "job_field $ID progress.eta_seconds | grep -q '^[0-9]'"
	json=$(tc ls --json | jq ".[] | select(.id == $ID) | .progress")
	[ "$(jq -r .total <<<"$json")" = 50 ]
	[ "$(jq -r .unit <<<"$json")" = epoch ]
	ratio=$(jq -r .ratio <<<"$json")
	current=$(jq -r .current <<<"$json")
	[ "$(jq -n "$ratio == $current / 50")" = true ]
	jq -e '.eta_seconds >= 0' <<<"$json"
	# and the progress survives the end of the job (and a daemon restart)
	wait_for 15 job_state_is "$ID" succeeded
	tc daemon stop
	[ "$(job_field "$ID" progress.current)" = 50 ]
}

@test "ls hides finished jobs behind a footer that mentions ls -a; ls -a and --state show them" {
	start --sh 'exit 0'
	done_id=$ID
	tc wait "$done_id"
	start -- $(sim --epochs 1000 --epoch-time 0.1)
	run_id=$ID

	run --separate-stderr tc ls
	[ "$status" -eq 0 ]
	listing=$output
	run ! grep -qE "^$done_id " <<<"$listing"
	grep -qE "^$run_id .* running " <<<"$listing"
	footer=$(tail -n 1 <<<"$listing")
	grep -qF 'ls -a' <<<"$footer"
	[[ $footer =~ (^|[^0-9])1([^0-9]|$) ]] # it counts the one finished job

	run --separate-stderr tc ls -a
	[ "$status" -eq 0 ]
	grep -qE "^$done_id .*succeeded" <<<"$output"
	grep -qE "^$run_id .*running" <<<"$output"

	run --separate-stderr tc ls --state running --json
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.[].id]' <<<"$output")" = "[$run_id]" ]
	run --separate-stderr tc ls --state succeeded --json
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.[].id]' <<<"$output")" = "[$done_id]" ]
	run --separate-stderr tc ls --state running
	[ "$status" -eq 0 ]
	listing=$output
	grep -qE "^$run_id " <<<"$listing"
	run ! grep -qE "^$done_id " <<<"$listing"
}

@test "ls --json is an array of job objects with every documented field, and no environment" {
	export TC_SECRET_VALUE=hush-9f3a1c
	start -n jsonjob -e TC_OTHER_SECRET=also-7b2e -- $(sim --epochs 1000 --epoch-time 0.1)
	run --separate-stderr tc ls --json
	[ "$status" -eq 0 ]
	json=$output
	jq -e 'type == "array" and length == 1' <<<"$output"
	for f in id name state reason command cwd pid exit_code signal created_at started_at \
		ended_at restarts gpus progress checkpoint cpu_percent rss_bytes; do
		jq -e --arg f "$f" '.[0] | has($f)' <<<"$output" >/dev/null || {
			echo "missing field: $f"
			return 1
		}
	done
	jq -e --argjson id "$ID" --arg cwd "$(pwd)" '.[0] |
		.id == $id and .name == "jsonjob" and .state == "running"
		and (.command | type) == "array" and .cwd == $cwd and (.pid | type) == "number"
		and .exit_code == null and .signal == null and .ended_at == null
		and .restarts == 0' <<<"$output"
	for f in created_at started_at; do
		jq -e --arg f "$f" '.[0][$f] | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$")' \
			<<<"$output"
	done
	# The environment stays out of the listing.
	run ! grep -qF hush-9f3a1c <<<"$json"
	run ! grep -qF also-7b2e <<<"$json"
	run ! grep -qF TC_OTHER_SECRET <<<"$json"
	jq -e '.[0] | (has("env") or has("environment")) | not' <<<"$json"
	run ! grep -qF also-7b2e <<<"$(tc ls -a --json)"
	# ... but the job did get it.
	[ "$(tr '\0' '\n' <"/proc/$(job_field "$ID" pid)/environ" | grep -c -e '^TC_SECRET_VALUE=hush-9f3a1c$' -e '^TC_OTHER_SECRET=also-7b2e$')" -eq 2 ]
}

@test "show by id and by name prints the job's details and events; show --json has the events" {
	start -n showme -- $(sim --epochs 10 --epoch-time 0.1)
	pid=$(job_field "$ID" pid)
	for j in "$ID" showme; do
		run --separate-stderr tc show "$j"
		[ "$status" -eq 0 ]
		grep -qE '^ *State: +running' <<<"$output"
		grep -qE "^ *Command: +$(sim --epochs 10 --epoch-time 0.1)$" <<<"$output"
		grep -qE "^ *Directory: +$(pwd)$" <<<"$output"
		grep -qE "^ *PID: +$pid$" <<<"$output"
		grep -qE '^Events:' <<<"$output"
		grep -qE ' created' <<<"$output"
		grep -qE ' started' <<<"$output"
	done
	[ "$(job_field showme id)" = "$ID" ]
	tc wait "$ID"
	run --separate-stderr tc show showme --json
	[ "$status" -eq 0 ]
	jq -e --argjson id "$ID" '.id == $id and .state == "succeeded" and (.events | type) == "array"' <<<"$output"
	[ "$(jq -r '[.events[].kind] | join(" ")' <<<"$output")" = "created started succeeded" ]
	jq -e '.ended_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' <<<"$output"
	jq -e '.pid == null' <<<"$output"
}

# ---- how jobs end --------------------------------------------------------------------

@test "a job that exits 0 by itself ends succeeded, reason 'exit 0'" {
	start -- $(sim --epochs 2 --epoch-time 0.1)
	run tc wait "$ID"
	[ "$status" -eq 0 ]
	tc show "$ID" --json | jq -e '.state == "succeeded" and .reason == "exit 0"
		and .exit_code == 0 and .signal == null and .pid == null
		and (.ended_at | type) == "string"'
}

@test "a job that exits 3 ends failed, reason 'exit 3', and wait exits 3" {
	start --sh 'exit 3'
	run tc wait "$ID"
	[ "$status" -eq 3 ]
	tc show "$ID" --json | jq -e '.state == "failed" and .reason == "exit 3" and .exit_code == 3 and .signal == null'
}

@test "a job killed by a signal nobody sent ends failed with the signal, and wait exits 128+N" {
	start --sh 'kill -SEGV $$'
	run tc wait "$ID"
	[ "$status" -eq 139 ]
	run --separate-stderr tc show "$ID" --json
	jq -e '.state == "failed" and (.reason | contains("SIGSEGV")) and .signal == 11
		and .exit_code == null' <<<"$output"
}

@test "wait on two jobs: 0 when both succeed, else the status of the one that did not" {
	start -- $(sim --epochs 2 --epoch-time 0.1)
	a=$ID
	start -- $(sim --epochs 3 --epoch-time 0.1)
	b=$ID
	run tc wait "$a" "$b"
	[ "$status" -eq 0 ]
	job_state_is "$a" succeeded
	job_state_is "$b" succeeded

	start --sh 'sleep 0.3; exit 0'
	c=$ID
	start --sh 'sleep 0.2; exit 5'
	d=$ID
	run tc wait "$c" "$d"
	[ "$status" -eq 5 ]
	job_state_is "$c" succeeded
	job_state_is "$d" failed
}

@test "wait on a job that already ended returns its status at once" {
	start --sh 'exit 4'
	wait_for 10 job_ended "$ID"
	t0=$SECONDS
	run tc wait "$ID"
	[ "$status" -eq 4 ]
	((SECONDS - t0 <= 2))
}

# ---- log -------------------------------------------------------------------------------

@test "log prints the job's output; log -n 3 prints exactly the last 3 lines" {
	start --no-pty --sh 'seq 1 20'
	tc wait "$ID"
	run --separate-stderr tc log "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(seq 1 20)" ]
	run --separate-stderr tc log -n 3 "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '18\n19\n20')" ]
	run --separate-stderr tc log "$ID" -n 3
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '18\n19\n20')" ]
}

@test "log -f follows a running job and returns when it ends, with the final line" {
	start -- $(sim --epochs 6 --epoch-time 0.15)
	job_state_is "$ID" running
	t0=$SECONDS
	run --separate-stderr timeout 20 "$TRAINCTL" log -f "$ID"
	[ "$status" -eq 0 ]
	((SECONDS - t0 < 15))
	output=$(tr -d '\r' <<<"$output")
	grep -qx 'Epoch 6/6 loss=[0-9.]*' <<<"$output"
	[ "$(tail -n 1 <<<"$output")" = "Training complete" ]
	[ "$(grep -c '^Epoch ' <<<"$output")" -eq 6 ]
	job_state_is "$ID" succeeded
}

@test "log -f on a finished job prints the log and returns at once" {
	start -- $(sim --epochs 2 --epoch-time 0)
	tc wait "$ID"
	t0=$SECONDS
	run --separate-stderr timeout 10 "$TRAINCTL" log -f "$ID"
	[ "$status" -eq 0 ]
	((SECONDS - t0 <= 2))
	[ "$(tr -d '\r' <<<"$output" | tail -n 1)" = "Training complete" ]
}

@test "output through the PTY has CRLF line ends and the job sees a terminal" {
	start --sh 'test -t 1 && echo tty || echo notty; echo second'
	tc wait "$ID"
	[ "$(tc log "$ID")" = "$(printf 'tty\r\nsecond\r')" ]
	[ "$(tc log "$ID" | od -An -c | tr -s ' \n' ' ')" = " t t y \r \n s e c o n d \r \n " ]
}

@test "--no-pty keeps plain LF line ends and the job sees no terminal" {
	start --no-pty --sh 'test -t 1 && echo tty || echo notty; echo second'
	tc wait "$ID"
	[ "$(tc log "$ID" | od -An -c | tr -s ' \n' ' ')" = " n o t t y \n s e c o n d \n " ]
	[ "$(cat "$TRAINCTL_HOME/logs/$ID.log")" = "$(printf 'notty\nsecond')" ]
}

# ---- the job's environment --------------------------------------------------------------

@test "-e sets variables, the caller's environment is inherited, TRAINCTL_JOB_ID is set" {
	export FOO=bar
	start --no-pty -e KEY=VAL -e 'SPACED=a b' --sh 'echo "FOO=$FOO KEY=$KEY SPACED=$SPACED ID=$TRAINCTL_JOB_ID"'
	tc wait "$ID"
	[ "$(tc log "$ID")" = "FOO=bar KEY=VAL SPACED=a b ID=$ID" ]
}

@test "-e overrides a variable the caller exported" {
	export FOO=from-caller
	start --no-pty -e FOO=from-e --sh 'echo "$FOO"'
	tc wait "$ID"
	[ "$(tc log "$ID")" = from-e ]
}

@test "-C sets the directory; a relative -C is taken from the caller's directory; default is the caller's" {
	mkdir -p sub/dir other
	start --no-pty -C "$BATS_TEST_TMPDIR/work/sub" -- pwd
	tc wait "$ID"
	[ "$(tc log "$ID")" = "$(cd sub && pwd -P)" ]

	cd other
	start --no-pty -C ../sub/dir -- pwd
	tc wait "$ID"
	[ "$(tc log "$ID")" = "$(cd ../sub/dir && pwd -P)" ]
	[ "$(job_field "$ID" cwd)" = "$(cd ../sub/dir && pwd)" ] ||
		[ "$(job_field "$ID" cwd)" = "$(cd ../sub/dir && pwd -P)" ]

	start --no-pty -- pwd
	tc wait "$ID"
	[ "$(tc log "$ID")" = "$(pwd -P)" ]
}

@test "--sh runs the command through /bin/sh" {
	start --no-pty --sh 'echo a | tr a b; echo "$0"'
	tc wait "$ID"
	[ "$(tc log "$ID")" = "$(printf 'b\n/bin/sh')" ]
	tc show "$ID" --json | jq -e '.command == ["/bin/sh", "-c", "echo a | tr a b; echo \"$0\""]'
}

@test "arguments reach the job verbatim, without a shell" {
	start --no-pty -- printf '%s|' 'a b' '$HOME' '*' ''
	tc wait "$ID"
	[ "$(tc log "$ID")" = 'a b|$HOME|*||' ]
}

# ---- launch errors --------------------------------------------------------------------------

@test "run of a missing program fails at once with exit 1 and leaves no job" {
	run --separate-stderr tc run -- /no/such/prog
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "trainctl: /no/such/prog: No such file or directory" ]
	[ "$(tc ls -a --json | jq -c .)" = "[]" ]
}

@test "run of an unknown command name says command not found" {
	run --separate-stderr tc run -- nosuchcmd-xyz
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == "trainctl: "*"nosuchcmd-xyz"*"command not found"* ]]
	[ "$(tc ls -a --json | jq -c .)" = "[]" ]
}

@test "run of a non-executable file says Permission denied" {
	printf '#!/bin/sh\necho hi\n' >script.sh
	chmod 644 script.sh
	run --separate-stderr tc run -- ./script.sh
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == "trainctl: "*"script.sh"*"Permission denied"* ]]
	[ "$(tc ls -a --json | jq -c .)" = "[]" ]
}

@test "run looks the program up as the job will: from its directory (-C) and in its PATH (-e)" {
	mkdir -p sub bin
	printf '#!/bin/sh\necho from-sub\n' >sub/tool.sh
	printf '#!/bin/sh\necho from-path\n' >bin/only-in-job-path
	chmod 755 sub/tool.sh bin/only-in-job-path
	a=$(tc run -C "$PWD/sub" -- ./tool.sh)
	b=$(tc run -e "PATH=$PWD/bin:/usr/bin:/bin" -- only-in-job-path)
	wait_for 10 job_state_is "$a" succeeded
	wait_for 10 job_state_is "$b" succeeded
	[ "$(tc log "$a" --plain)" = from-sub ]
	[ "$(tc log "$b" --plain)" = from-path ]
	# a directory is not a program
	run --separate-stderr tc run -- "$PWD/sub"
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: $PWD/sub: Is a directory" ]
}

@test "a program exec refuses after run answered (a missing interpreter) ends the job failed, with why" {
	printf '#!/nonexistent/interpreter\n' >broken.sh
	chmod 755 broken.sh
	id=$(tc run -- ./broken.sh)
	[[ $id =~ ^[0-9]+$ ]]
	wait_for 10 job_state_is "$id" failed
	[ "$(job_field "$id" reason)" = "./broken.sh: No such file or directory" ]
	[ "$(job_field "$id" pid)" = null ]
}

@test "stop right after run reaches the job, even before its start is recorded" {
	for i in 1 2 3 4 5; do
		id=$(tc run -- $(sim --epochs 100000 --epoch-time 0.05))
		run tc stop "$id"
		[ "$status" -eq 0 ]
		wait_for 10 job_state_is "$id" stopped
	done
	wait_for 5 eval '[ -z "$(pids_matching "$CK")" ]'
}

@test "run -C with a missing directory fails naming it" {
	run --separate-stderr tc run -C /nonexistent/dir-xyz -- true
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == "trainctl: "*"/nonexistent/dir-xyz"* ]]
	[ "$(tc ls -a --json | jq -c .)" = "[]" ]
}

@test "run without a command is a usage error" {
	run --separate-stderr tc run
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == trainctl:* ]]
}

@test "bad options and missing arguments are usage errors (exit 2) that create no job" {
	for args in "run" "run -e NOEQUALS -- true" "run --stop-timeout soon -- true" \
		"run --stop-signal NOPE -- true" "run --log-max 1K -- true" "run --bogus-option -- true" \
		"show" "log" "wait" "rm" "ls --state bogus" "log -n abc 1"; do
		run --separate-stderr tc $args
		[ "$status" -eq 2 ] || {
			echo "trainctl $args: exit $status"
			return 1
		}
		[[ $stderr == trainctl:* ]]
		[ -z "$output" ]
	done
	[ "$(tc ls -a --json | jq -c .)" = "[]" ]
}

# ---- names -----------------------------------------------------------------------------------

@test "a name is unique among active jobs, reusable after, and show NAME means the newest" {
	start -n sim -- $(sim --epochs 1000 --epoch-time 0.1)
	first=$ID
	[ "$(job_field sim id)" = "$first" ]
	[ "$(job_field sim name)" = sim ]

	run --separate-stderr tc run -n sim -- $(sim --epochs 1000 --epoch-time 0.1)
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == trainctl:*"already active"* ]] || [[ $stderr == trainctl:*sim*active* ]]
	[ "$(tc ls -a --json | jq length)" -eq 1 ]

	tc kill "$first"
	wait_for 10 job_ended "$first"
	start -n sim -- $(sim --epochs 1000 --epoch-time 0.1)
	second=$ID
	[ "$second" != "$first" ]
	[ "$(job_field sim id)" = "$second" ]
	job_state_is sim running
	job_state_is "$first" stopped
}

@test "a numeric name is a usage error" {
	run --separate-stderr tc run -n 12 -- true
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == trainctl:* ]]
	[ "$(tc ls -a --json | jq -c .)" = "[]" ]
}

@test "show of an unknown job fails with exit 1" {
	run --separate-stderr tc show nosuchjob
	[ "$status" -eq 1 ]
	[[ $stderr == trainctl:*nosuchjob* ]]
	run --separate-stderr tc show 999
	[ "$status" -eq 1 ]
	[[ $stderr == trainctl:*999* ]]
}

# ---- rm / prune --------------------------------------------------------------------------------

@test "rm refuses a running job, then removes the finished job and its log" {
	start -- $(sim --epochs 1000 --epoch-time 0.1)
	wait_for 10 log_has "$ID" 'Epoch 1/'
	[ -f "$TRAINCTL_HOME/logs/$ID.log" ]
	run --separate-stderr tc rm "$ID"
	[ "$status" -eq 1 ]
	[[ $stderr == trainctl:* ]]
	grep -qi 'stop' <<<"$stderr"
	job_state_is "$ID" running
	alive "$(job_field "$ID" pid)"

	tc stop "$ID" >/dev/null
	job_state_is "$ID" stopped
	run --separate-stderr tc rm "$ID"
	[ "$status" -eq 0 ]
	[ "$(tc ls -a --json | jq -c .)" = "[]" ]
	[ ! -e "$TRAINCTL_HOME/logs/$ID.log" ]
	run --separate-stderr tc show "$ID"
	[ "$status" -eq 1 ]
}

@test "prune removes every finished job and says how many; --older-than 1h keeps fresh ones" {
	start --sh 'exit 0'
	a=$ID
	start --sh 'exit 2'
	b=$ID
	start -- $(sim --epochs 1000 --epoch-time 0.1)
	c=$ID
	tc wait "$a"
	run tc wait "$b"
	[ "$status" -eq 2 ]

	run --separate-stderr tc prune --older-than 1h
	[ "$status" -eq 0 ]
	[[ $output =~ (^|[^0-9])0([^0-9]|$) ]] || [[ $output == *"no "* ]] || [ -z "$output" ]
	[ "$(tc ls -a --json | jq -c '[.[].id] | sort')" = "[$a,$b,$c]" ]

	run --separate-stderr tc prune
	[ "$status" -eq 0 ]
	[[ $output =~ (^|[^0-9])2([^0-9]|$) ]]
	[ "$(tc ls -a --json | jq -c '[.[].id]')" = "[$c]" ]
	[ ! -e "$TRAINCTL_HOME/logs/$a.log" ]
	[ ! -e "$TRAINCTL_HOME/logs/$b.log" ]
	[ -e "$TRAINCTL_HOME/logs/$c.log" ]
	job_state_is "$c" running
}

# ---- log rotation -------------------------------------------------------------------------------

@test "--log-max rotates the log, keeps 3 old files, and log prints the newest output" {
	start --no-pty --log-max 8K --sh 'seq 1 10000'
	tc wait "$ID"
	logs="$TRAINCTL_HOME/logs"
	[ -f "$logs/$ID.log" ]
	(($(stat -c %s "$logs/$ID.log") <= 8192))
	for n in 1 2 3; do
		[ -f "$logs/$ID.log.$n" ]
		(($(stat -c %s "$logs/$ID.log.$n") <= 8192))
	done
	[ ! -e "$logs/$ID.log.4" ]
	run --separate-stderr tc log "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = 10000 ]
	# What is kept is a contiguous tail of the output.
	first=${lines[0]}
	[ "$output" = "$(seq "$first" 10000)" ] || {
		# the oldest kept line may be cut at a rotation boundary
		[ "$(printf '%s\n' "${lines[@]:1}")" = "$(seq "${lines[1]}" 10000)" ]
	}
	run --separate-stderr tc log -n 2 "$ID"
	[ "$output" = "$(printf '9999\n10000')" ]
}
