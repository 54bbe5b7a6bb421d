#!/usr/bin/env bats
# Soak and flood (make soak; minutes, not part of make check).
#
# 2,000 short jobs, at most 8 running at a time, with stops, pauses and kills
# mixed in: afterwards every job's state is what happened to it, and the
# daemon's open descriptors and memory are back where they were. A job
# printing 1 GB as fast as it can while `log -f` and two `attach -r` read
# it: every byte in the log and through log -f, and nothing deadlocks.

load ../cli/helpers

setup_file() {
	: >"$BUILD/soak.tsv"
}

setup() {
	setup_home
}

teardown() {
	teardown_home
}

SOAK_JOBS=${SOAK_JOBS:-2000}
SOAK_PARALLEL=8

# The daemon's open descriptors, but for the /proc/PID/stat files the sampler
# keeps open for the machine's processes (they come and go with them).
daemon_fds() {
	find "/proc/$1/fd" -mindepth 1 ! -lname '/proc/[0-9]*' 2>/dev/null | wc -l
}

daemon_rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# One job by number: what it does and what its state must be in the end.
# Prints "NAME EXPECTED".
soak_job() {
	local i=$1 id
	case $((i % 40)) in
	7) # stopped in the middle
		id=$(tc run -n "s$i" -- sleep 60)
		tc stop "$id" -t 5s >/dev/null
		echo "s$i stopped" ;;
	17) # paused, resumed, then ends by itself
		id=$(tc run -n "s$i" -- sleep 0.3)
		tc pause "$id" >/dev/null && tc resume "$id" >/dev/null
		tc wait "$id" >/dev/null
		echo "s$i succeeded" ;;
	27) # killed
		id=$(tc run -n "s$i" -- sleep 60)
		tc kill "$id" >/dev/null
		tc wait "$id" >/dev/null || true
		echo "s$i stopped" ;;
	*) # ends by itself, with 0 or 3
		if tc run -n "s$i" -w --no-pty -- sh -c "exit $((i % 2 * 3))" >/dev/null; then
			echo "s$i succeeded"
		else
			echo "s$i failed"
		fi ;;
	esac
}

# Worker W runs every job i with i % SOAK_PARALLEL == W, one after another.
soak_worker() {
	local w=$1 i
	for ((i = w; i < SOAK_JOBS; i += SOAK_PARALLEL)); do
		soak_job "$i"
	done >"$BATS_TEST_TMPDIR/expected.$w"
}

# Zombies whose parent is the daemon or another process of this home.
home_zombies() {
	local home stat f pid ppid
	home=" $(home_pids | tr '\n' ' ') "
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		stat=${stat##*) }
		set -- $stat
		[ "$1" = Z ] || continue
		ppid=$2
		[[ $home == *" $ppid "* ]] && echo "${f//[^0-9]/}"
	done
	return 0
}

@test "soak: $SOAK_JOBS jobs, 8 at a time, with stops, pauses and kills; states right, fds and memory back" {
	local w pids=()
	# warm up, then measure the baseline
	for i in $(seq 1 40); do tc run -w --no-pty -- true >/dev/null; done
	pid=$(daemon_pid)
	fds0=$(daemon_fds "$pid")
	rss0=$(daemon_rss_kb "$pid")
	for ((w = 0; w < SOAK_PARALLEL; w++)); do
		soak_worker "$w" &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(daemon_pid)" = "$pid" ]
	wait_for 30 eval '[ "$(tc ls --json | jq length)" -eq 0 ]'
	wait_for 10 eval '[ "$(daemon_fds "$pid")" -le "$fds0" ]'
	fds1=$(daemon_fds "$pid")
	rss1=$(daemon_rss_kb "$pid")
	# every job's state is what happened to it
	cat "$BATS_TEST_TMPDIR"/expected.* | sort >"$BATS_TEST_TMPDIR/expected"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/expected")" -eq "$SOAK_JOBS" ]
	tc ls -a --json | jq -r '.[] | select(.name != null) | "\(.name) \(.state)"' | sort \
		>"$BATS_TEST_TMPDIR/actual"
	diff "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/actual"
	# the daemon holds the descriptors it held before, and about the memory
	# (SQLite's page cache, up to 2 MB, fills as the database grows)
	rss2=$(daemon_rss_kb "$pid")
	echo "daemon: $fds0 fds before, $fds1 after; RSS ${rss0}K before, ${rss1}K after," \
		"${rss2}K after listing every job" >&3
	echo "soak	$SOAK_JOBS	fds $fds0 -> $fds1, rss ${rss0}K -> ${rss1}K (${rss2}K after ls -a)" \
		>>"$BUILD/soak.tsv"
	[ "$rss1" -le $((rss0 + 8192)) ]
	[ "$rss2" -le $((rss0 + 8192)) ]
	[ -z "$(home_zombies)" ]
	wait_for 10 only_daemon_left
}

@test "a job printing 1 GB as fast as it can, read by log -f and two attach -r: every byte, no deadlock" {
	local size=$((1024 * 1024 * 1024))
	local line=abcdefghijklmnopqrstuvwxyz0123456789
	expected=$(yes "$line" | head -c "$size" | sha256sum)
	start -n flood --no-pty --log-max 0 --sh \
		"while [ ! -e '$BATS_TEST_TMPDIR/go' ]; do sleep 0.05; done; yes $line | head -c $size"
	wait_for 10 job_state_is flood running
	tc attach -r flood >"$BATS_TEST_TMPDIR/attach1" 2>&1 </dev/null &
	a1=$!
	tc attach -r flood 2>&1 </dev/null | wc -c >"$BATS_TEST_TMPDIR/attach2" &
	a2=$!
	tc log -f flood | sha256sum >"$BATS_TEST_TMPDIR/follow" &
	follower=$!
	touch "$BATS_TEST_TMPDIR/go"
	wait_for 300 job_state_is flood succeeded
	# the readers end with the job
	wait_for 30 not_alive "$a1"
	wait_for 30 not_alive "$a2"
	wait "$follower"
	[ "$(stat -c %s "$TRAINCTL_HOME/logs/$ID.log")" -eq "$size" ]
	[ "$(sha256sum <"$TRAINCTL_HOME/logs/$ID.log")" = "$expected" ]
	[ "$(cat "$BATS_TEST_TMPDIR/follow")" = "$expected" ]
	# an attached reader gets every byte, or is dropped for falling behind
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/attach1")" -gt 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/attach2")" -gt 0 ]
	echo "flood	1	1 GiB through log -f and 2 attach -r: nothing lost" >>"$BUILD/soak.tsv"
}
