#!/usr/bin/env bats
# Crash tests: the daemon is killed with SIGKILL at named points of its work
# (TRAINCTL_CRASH_AT=<point>[@N] makes it raise SIGKILL there, see
# crash_point in src/daemon/daemon.c), or a shim is killed, and the next
# daemon must account for every job: the right state, no job run twice, no
# process left behind, and every byte a job printed in its log.
#
# Jobs are runs of gen.sh, which records each start in runs/NAME, prints
# `seq 1 50000`, waits for go/NAME, then prints `seq 50001 100000`: the log
# of a job that ran to its end is exactly `seq 1 100000`.

load ../cli/helpers

setup() {
	setup_home
	RUNS="$BATS_TEST_TMPDIR/runs"
	GO="$BATS_TEST_TMPDIR/go"
	GEN="$BATS_TEST_TMPDIR/gen.sh"
	mkdir -p "$RUNS" "$GO"
	cat >"$GEN" <<EOF
#!/bin/sh
echo run >>"$RUNS/\$1"
seq 1 50000
while [ ! -e "$GO/\$1" ]; do sleep 0.02; done
seq 50001 100000
EOF
	chmod +x "$GEN"
	EXPECTED=$(seq 1 100000 | sha256sum | cut -d' ' -f1)
}

teardown() {
	teardown_home
}

# gen NAME [run options]: start gen.sh as job NAME with the daemon crash
# point in $CRASH (if any); the id goes to $ID, run's status to $RUN_STATUS.
gen() {
	local name=$1
	shift
	RUN_STATUS=0
	ID=$(TRAINCTL_CRASH_AT=${CRASH:-} tc run -n "$name" --no-pty "$@" -- "$GEN" "$name") ||
		RUN_STATUS=$?
}

# How many times job NAME was started.
runs_of() {
	[ -e "$RUNS/$1" ] || { echo 0; return; }
	wc -l <"$RUNS/$1"
}

log_sha() {
	sha256sum <"$TRAINCTL_HOME/logs/$1.log" | cut -d' ' -f1
}

# Wait until the daemon that holds the lock is gone (it crashed at its point).
daemon_crashed() {
	local pid
	pid=$(daemon_pid)
	[ -n "$pid" ] && ! alive "$pid"
}

# Every job of the home has ended or is running under a live shim, and no
# process of the home is left but the daemon and those shims' trees.
all_accounted() {
	local json
	json=$(tc ls -a --json) || return 1
	jq -e 'all(.[]; .state as $s | ["succeeded","failed","stopped","lost","running","cancelled"] | index($s))' \
		<<<"$json" >/dev/null
}

# A job that ran to its end: succeeded, started once, and every byte in its log.
ran_whole() {
	[ "$(job_field "$1" state)" = succeeded ]
	[ "$(runs_of "$2")" -eq 1 ]
	[ "$(log_sha "$1")" = "$EXPECTED" ]
}

@test "crash while run inserts the job, before the shim starts: the job is lost, never ran, nothing left" {
	CRASH=run-inserted gen a
	[ "$RUN_STATUS" -eq 1 ]
	wait_for 10 daemon_crashed
	run tc show a --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<<"$output")" = lost ]
	[ "$(runs_of a)" -eq 0 ]
	wait_for 5 only_daemon_left
	tally "daemon kill -9 in run, before the shim" 1
}

@test "crash right after the shim was forked: the job is lost or adopted, run at most once, nothing orphaned" {
	CRASH=run-forked gen a
	wait_for 10 daemon_crashed
	touch "$GO/a"
	wait_for 10 all_accounted
	if [ "$RUN_STATUS" -eq 0 ]; then
		wait_for 10 job_state_is a succeeded
		ran_whole a a
	else
		# nobody was told of the job, but it was recorded and its shim was
		# forked: the next daemon adopts it and it runs once, whole; or it
		# finds no supervisor and the job is lost, having not run
		wait_for 10 job_ended a
		if [ "$(job_field a state)" = succeeded ]; then
			ran_whole "$(job_field a id)" a
		else
			[[ $(job_field a state) == lost || $(job_field a reason) == *"daemon vanished"* ]]
			[ "$(runs_of a)" -le 1 ]
		fi
	fi
	wait_for 5 only_daemon_left
	tally "daemon kill -9 in run, after the shim was forked" 1
}

@test "crash after run answered, before the start was recorded: the job is adopted with its pid, every byte logged" {
	CRASH=run-answered gen a
	[ "$RUN_STATUS" -eq 0 ]
	[ "$ID" = 1 ]
	wait_for 10 daemon_crashed
	wait_for 10 job_state_is 1 running
	pid=$(job_field 1 pid)
	[[ $pid =~ ^[0-9]+$ ]]
	alive "$pid"
	tc show 1 --json | jq -e '[.events[] | select(.kind == "started")] | length == 1' >/dev/null
	touch "$GO/a"
	wait_for 10 job_state_is 1 succeeded
	ran_whole 1 a
	wait_for 5 only_daemon_left
	tally "daemon kill -9 in run, after the reply" 1
}

@test "crash while a job runs and ends: the next daemon settles it from its exit record with every byte" {
	gen a
	wait_for 10 job_state_is "$ID" running
	crash_daemon
	touch "$GO/a"
	wait_for 10 test -e "$TRAINCTL_HOME/jobs/$ID.exit"
	run tc show "$ID" --json
	[ "$(jq -r .state <<<"$output")" = succeeded ]
	ran_whole "$ID" a
	wait_for 5 only_daemon_left
	tally "daemon kill -9 while a job prints and ends" 1
}

@test "crash inside the grace period of a stop: the stop completes, the job is stopped, its tree gone" {
	id=$(TRAINCTL_CRASH_AT=stop-sent tc run -n s --stop-timeout 2s -- $(sim --epochs 1000 --epoch-time 0.05 --ignore-term --workers 2))
	wait_for 10 job_state_is "$id" running
	jpid=$(job_field "$id" pid)
	# the stop waits for the job; its connection drops with the daemon, and it
	# reconnects (starting a new daemon) and waits again
	run tc stop "$id"
	[ "$status" -eq 0 ]
	run tc show "$id" --json
	[ "$(jq -r .state <<<"$output")" = stopped ]
	[[ $(jq -r .reason <<<"$output") == *SIGKILL* ]]
	! alive "$jpid"
	[ -z "$(pids_matching "$CK")" ]
	wait_for 5 only_daemon_left
	tally "daemon kill -9 inside a stop's grace period" 1
}

@test "crash while a failed job waits out its restart backoff: the next daemon restarts it exactly once" {
	TRAINCTL_CRASH_AT=job-settled tc run -n a --no-pty --restart on-failure --max-restarts 1 \
		--sh "echo run >>'$RUNS/a'; exit 3" >/dev/null
	wait_for 10 daemon_crashed
	wait_for 20 job_state_is a failed
	[ "$(runs_of a)" -eq 2 ]
	[[ $(job_field a reason) == *"gave up after 1 restart"* ]]
	wait_for 5 only_daemon_left
	tally "daemon kill -9 during a restart backoff" 1
}

@test "crash right after a restart attempt's shim was forked: the attempt is adopted, not started twice" {
	TRAINCTL_CRASH_AT=restart-forked tc run -n a --no-pty --restart on-failure --max-restarts 1 \
		--sh "echo run >>'$RUNS/a'; [ -e '$GO/a' ] || exit 3; sleep 0.2; exit 3" >/dev/null
	wait_for 20 daemon_crashed
	touch "$GO/a"
	wait_for 20 job_state_is a failed
	[ "$(runs_of a)" -eq 2 ]
	[ "$(job_field a restarts)" -eq 1 ]
	wait_for 5 only_daemon_left
	tally "daemon kill -9 as a restart attempt starts" 1
}

@test "crash while a checkpoint is being recorded: the next daemon records it, and the job finishes" {
	id=$(TRAINCTL_CRASH_AT=checkpoint-noted tc run -n c --checkpoint "$CK/*.json" -- \
		$(sim --epochs 40 --epoch-time 0.05 --checkpoint-every 5))
	wait_for 20 daemon_crashed
	wait_for 20 job_state_is "$id" succeeded
	[ "$(job_field "$id" checkpoint)" != null ]
	# one run: 40 epochs, printed once each
	[ "$(tc log "$id" --plain | grep -c '^Epoch ')" -eq 40 ]
	wait_for 5 only_daemon_left
	tally "daemon kill -9 while recording a checkpoint" 1
}

@test "crash while 20 jobs start at once: every job accounted for, none run twice, every byte logged" {
	local i pids=()
	# the daemon starts before the crowd, with the crash point armed at the 10th fork
	TRAINCTL_CRASH_AT=run-forked@10 tc ls >/dev/null
	first=$(daemon_pid)
	for i in $(seq 1 20); do
		(rc=0
		 tc run -n "j$i" --no-pty -- "$GEN" "j$i" >"$BATS_TEST_TMPDIR/id.$i" 2>/dev/null || rc=$?
		 echo "$rc" >"$BATS_TEST_TMPDIR/rc.$i") &
		pids+=($!)
	done
	wait "${pids[@]}"
	wait_for 10 not_alive "$first"
	for i in $(seq 1 20); do touch "$GO/j$i"; done
	wait_for 30 eval '[ "$(tc ls --json | jq length)" -eq 0 ]'
	recorded=0
	for i in $(seq 1 20); do
		[ "$(runs_of "j$i")" -le 1 ]
		if [ "$(cat "$BATS_TEST_TMPDIR/rc.$i")" -eq 0 ]; then
			# run printed an id: the job ran whole
			ran_whole "$(cat "$BATS_TEST_TMPDIR/id.$i")" "j$i"
			recorded=$((recorded + 1))
		else
			# run failed: the job is absent, lost, or killed before it was
			# confirmed; or its shim's report was in the pipe when the daemon
			# died, and the next daemon adopted it: then it ran whole
			json=$(tc show "j$i" --json 2>/dev/null) || json='{"state":"absent"}'
			if [ "$(jq -r .state <<<"$json")" = succeeded ]; then
				ran_whole "$(jq -r .id <<<"$json")" "j$i"
			else
				[[ $(jq -r .state <<<"$json") == @(lost|absent) ||
					$(jq -r .reason <<<"$json") == *"daemon vanished"* ]]
			fi
			[ "$(jq -r .state <<<"$json")" = absent ] || recorded=$((recorded + 1))
		fi
	done
	# every job is committed before its shim is forked, and the daemon died at
	# the 10th fork: however the requests interleaved, at least 10 are on record
	# (how many had their run answered first depends on the scheduling)
	[ "$recorded" -ge 10 ]
	wait_for 5 only_daemon_left
	tally "daemon kill -9 while 20 jobs start" 1
}

@test "kill -9 of a shim whose job has workers and a setsid'ed orphan: the whole tree goes, the job is lost" {
	id=$(tc run -n t -- $(sim --epochs 1000 --epoch-time 0.05 --workers 3 --orphan))
	wait_for 10 job_state_is "$id" running
	wait_for 10 eval '[ "$(pids_matching "$CK" | wc -l)" -ge 5 ]'
	jpid=$(job_field "$id" pid)
	shim=$(ppid_of "$jpid")
	kill -9 "$shim"
	wait_for 10 job_state_is "$id" lost
	[ "$(job_field "$id" reason)" = supervisor-lost ]
	wait_for 5 eval '[ -z "$(pids_matching "$CK")" ]'
	wait_for 5 only_daemon_left
	tally "kill -9 of a shim (job with workers and an orphan)" 1
}

# ---- the database ------------------------------------------------------------

# A home whose daemon ran one job to its end, then stopped.
home_with_history() {
	tc run -n old -- true >/dev/null
	wait_for 10 job_state_is old succeeded
	tc daemon stop >/dev/null
	wait_for 5 no_home_pids
}

@test "a truncated database is refused with its path and how to recover, and is left as it was" {
	home_with_history
	db="$TRAINCTL_HOME/trainctl.db"
	sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	size=$(stat -c %s "$db")
	truncate -s $((size / 2)) "$db"
	sum=$(sha256sum <"$db")
	run --separate-stderr tc ls -a
	[ "$status" -eq 1 ]
	[[ $stderr == *"$db"* ]]
	[[ $stderr == *"move it aside"* ]]
	[ "$(sha256sum <"$db")" = "$sum" ]
	[ -z "$(home_pids)" ]
	tally "truncated database" 1 "nothing silently: refused, file kept"
}

@test "a database with a corrupt page is refused with its path, never started over" {
	home_with_history
	db="$TRAINCTL_HOME/trainctl.db"
	sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	# overwrite the second page (the jobs table) with garbage
	dd if=/dev/urandom of="$db" bs=4096 seek=1 count=1 conv=notrunc status=none
	run --separate-stderr tc ls -a
	[ "$status" -eq 1 ]
	[[ $stderr == *"$db"* ]]
	[ -z "$(home_pids)" ]
	tally "corrupt database page" 1 "nothing silently: refused, file kept"
}

# The schema of trainctl's first database (user_version 1), with one job.
make_v1_database() {
	mkdir -p "$TRAINCTL_HOME"
	sqlite3 "$TRAINCTL_HOME/trainctl.db" <<'EOF'
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, state TEXT NOT NULL, reason TEXT,
  spec TEXT NOT NULL, env TEXT, created_at INTEGER NOT NULL,
  started_at INTEGER, ended_at INTEGER, exit_code INTEGER, signal INTEGER,
  pid INTEGER, pid_start INTEGER, shim_pid INTEGER, shim_start INTEGER,
  restarts INTEGER NOT NULL DEFAULT 0, checkpoint TEXT, progress TEXT);
CREATE INDEX jobs_name ON jobs(name);
CREATE INDEX jobs_state ON jobs(state);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  time INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT);
CREATE INDEX events_job ON events(job_id, id);
INSERT INTO jobs (name, state, reason, spec, created_at, started_at, ended_at, exit_code)
  VALUES ('ancient', 'succeeded', 'exit 0', '{"argv":["true"],"cwd":"/"}',
          1700000000000, 1700000000000, 1700000001000, 0);
INSERT INTO events (job_id, time, kind, detail) VALUES (1, 1700000000000, 'created', NULL);
PRAGMA user_version = 1;
EOF
}

@test "a database of schema 1 is migrated: its jobs and events are kept, new jobs follow them" {
	make_v1_database
	run tc ls -a --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].name' <<<"$output")" = ancient ]
	[ "$(jq -r '.[0].state' <<<"$output")" = succeeded ]
	[ "$(sqlite3 "$TRAINCTL_HOME/trainctl.db" 'PRAGMA user_version')" -ge 3 ]
	tc show ancient --json | jq -e '.events | length == 1' >/dev/null
	id=$(tc run -- true)
	[ "$id" = 2 ]
	wait_for 10 job_state_is 2 succeeded
	tally "database of an older schema (1)" 1
}

@test "a migrated database lists its old jobs' commands and counts its finished jobs" {
	make_v1_database
	sqlite3 "$TRAINCTL_HOME/trainctl.db" "INSERT INTO jobs (name, state, spec, created_at)
	  VALUES ('piped', 'failed', '{\"sh\":\"a | b\",\"cwd\":\"/tmp\"}', 1700000002000)"
	run tc ls
	[ "$status" -eq 0 ]
	[[ $output == *"(2 finished jobs not shown: trainctl ls -a)"* ]]
	run tc ls -a --json
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.[] | [.command, .cwd]]' <<<"$output")" = '[[["true"],"/"],[["/bin/sh","-c","a | b"],"/tmp"]]' ]
	[ "$(sqlite3 "$TRAINCTL_HOME/trainctl.db" "SELECT n FROM job_counts WHERE state = 'failed'")" = 1 ]
	tally "database of an older schema (listing columns)" 1
}

@test "a database of schema 2 is migrated and keeps its restart bookkeeping" {
	make_v1_database
	sqlite3 "$TRAINCTL_HOME/trainctl.db" <<'EOF'
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN auto_restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN fail_streak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN restart_at INTEGER;
ALTER TABLE jobs ADD COLUMN restart_fresh INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN stop_cause TEXT;
CREATE TABLE attempts (
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL, started_at INTEGER, ended_at INTEGER, state TEXT, reason TEXT,
  exit_code INTEGER, signal INTEGER, checkpoint TEXT, PRIMARY KEY (job_id, attempt));
UPDATE jobs SET attempt = 2, restarts = 1;
PRAGMA user_version = 2;
EOF
	run tc show ancient --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .restarts <<<"$output")" = 1 ]
	# the new tables work: a restarted job records its attempts
	id=$(tc run --restart on-failure --max-restarts 1 -- false)
	wait_for 20 job_state_is "$id" failed
	[ "$(tc show "$id" --json | jq '.attempts | length')" -eq 2 ]
	tally "database of an older schema (2)" 1
}
