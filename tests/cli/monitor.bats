#!/usr/bin/env bats
# trainctl monitor and analyze: sampling train-sim runs (started directly,
# no daemon) to CSV, and reading the CSV back into statistics and hints.
# Every train-sim carries this test's TRAINCTL_HOME, so teardown_home kills
# it and its workers. Waits poll with a deadline; the sampling itself is
# timed by monitor's --duration.

load helpers

HEADER=timestamp,pid,ppid,command,state,cpu_percent,rss_bytes,threads,read_bytes,write_bytes,gpu_mem_bytes,gpu_util

setup() {
	setup_home
}

teardown() {
	teardown_home
}

# ---- helpers -----------------------------------------------------------------

# start_sim ARGS...: train-sim in the background, marked with $CK; pid in $SIM_PID.
start_sim() {
	env TRAINCTL_HOME="$TRAINCTL_HOME" $(sim "$@") >"$BATS_TEST_TMPDIR/sim.out" 2>&1 3>&- &
	SIM_PID=$!
	disown "$SIM_PID" # no "Killed" notice when teardown kills it
}

# sim_count N: are there N live train-sim processes of this test?
sim_count() {
	[ "$(pids_matching "$CK" | wc -l)" -eq "$1" ]
}

# field_of PID N FILE: field N of PID's rows (commands here hold no commas).
field_of() {
	awk -F, -v p="$1" -v n="$2" 'NR > 1 && $2 == p { print $n }' "$3"
}

# A hand-made monitor CSV: one process at 99% for rows 2..N (row 1 has no CPU use).
write_csv() {
	local rows=$1 i
	echo "$HEADER"
	local cpu=""
	for ((i = 0; i < rows; i++)); do
		printf '2026-11-29T08:00:%02d.000Z,100,1,"python train.py --lr 0.1",R,%s,1048576,4,%d,0,,\n' \
			"$i" "$cpu" $((i * 1024))
		cpu=99.0
	done
}

# ---- monitor -------------------------------------------------------------------

@test "monitor --pid samples the process and its descendants every interval for --duration" {
	start_sim --epochs 100000 --epoch-time 0.1 --workers 2
	wait_for 10 sim_count 3
	run --separate-stderr tc monitor --pid "$SIM_PID" -d 3s -i 0.5s -o out.csv
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$(head -1 out.csv)" = "$HEADER" ]
	# 3 s at 0.5 s: about 6 ticks, each with a row for each of the 3 processes
	ticks=$(tail -n +2 out.csv | cut -d, -f1 | sort -u | wc -l)
	[ "$ticks" -ge 5 ] && [ "$ticks" -le 7 ]
	for pid in $(pids_matching "$CK"); do
		[ "$(field_of "$pid" 1 out.csv | wc -l)" -eq "$ticks" ]
	done
	# the two workers are the sim's children
	[ "$(field_of "$SIM_PID" 2 out.csv | wc -l)" -eq "$ticks" ]
	[ "$(awk -F, -v p="$SIM_PID" 'NR > 1 && $3 == p { print $2 }' out.csv | sort -u | wc -l)" -eq 2 ]
	# RFC 3339 times, the quoted command line, a state, RSS and threads, I/O counters
	[ -z "$(tail -n +2 out.csv | cut -d, -f1 | grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$')" ]
	[ "$(field_of "$SIM_PID" 4 out.csv | sort -u)" = "\"$(sim --epochs 100000 --epoch-time 0.1 --workers 2)\"" ]
	[ -z "$(field_of "$SIM_PID" 5 out.csv | grep -vE '^[RSD]$')" ]
	[ -z "$(field_of "$SIM_PID" 7 out.csv | grep -vE '^[1-9][0-9]*$')" ]
	[ -z "$(field_of "$SIM_PID" 8 out.csv | grep -vx 1)" ]
	[ -z "$(field_of "$SIM_PID" 9 out.csv | grep -vE '^[0-9]+$')" ]
	# CPU use needs two ticks: empty on the first row, a number on the others
	[ -z "$(field_of "$SIM_PID" 6 out.csv | head -1)" ]
	[ -z "$(field_of "$SIM_PID" 6 out.csv | tail -n +2 | grep -vE '^[0-9]+\.[0-9]$')" ]
	# no GPU data yet: the two last columns are empty
	[ -z "$(tail -n +2 out.csv | grep -v ',,$')" ]
}

@test "monitor --match selects processes by command line, never itself" {
	start_sim --epochs 100000 --epoch-time 0.1 --workers 3
	wait_for 10 sim_count 4
	# monitor's own command line matches "$CK" too
	run --separate-stderr tc monitor --match "$CK" -d 1s -i 0.5s
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$HEADER" ]
	[ "$(tail -n +2 <<<"$output" | cut -d, -f2 | sort -u)" = "$(pids_matching "$CK" | sort -u)" ]
	# an ERE, not a fixed string
	run --separate-stderr tc monitor --match "train-sim --checkpoint-dir [^ ]*/ck --epochs 1(0+)" -d 1s -i 0.5s
	[ "$status" -eq 0 ]
	[ "$(tail -n +2 <<<"$output" | cut -d, -f2 | sort -u | wc -l)" -ge 4 ]
}

@test "monitor --job samples the job's process tree, and refuses a job that has ended" {
	start -- $(sim --epochs 100000 --epoch-time 0.1 --workers 2)
	wait_for 10 sim_count 3
	[ "$(job_field "$ID" pid)" -gt 0 ]
	run --separate-stderr tc monitor --job "$ID" -d 1s -i 0.5s
	[ "$status" -eq 0 ]
	[ "$(tail -n +2 <<<"$output" | cut -d, -f2 | sort -u)" = "$(pids_matching "$CK" | sort -u)" ]
	[ "$(tail -n +2 <<<"$output" | cut -d, -f2 | grep -cx "$(job_field "$ID" pid)")" -eq 2 ]
	tc stop "$ID" >/dev/null
	run --separate-stderr tc monitor --job "$ID" -d 1s
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: monitor: job $ID is not running (stopped)" ]
}

@test "monitor follows the tree: a worker whose parent died is still sampled" {
	start_sim --epochs 100000 --epoch-time 0.1 --workers 1
	wait_for 10 sim_count 2
	worker=$(pids_matching "$CK" | grep -vx "$SIM_PID")
	"$TRAINCTL" monitor --pid "$SIM_PID" -d 3s -i 0.25s -o tree.csv 3>&- &
	mon=$!
	wait_for 10 eval '[ "$(field_of "$worker" 1 tree.csv | wc -l)" -ge 2 ]'
	kill -KILL "$SIM_PID"
	status=0
	wait "$mon" || status=$?
	[ "$status" -eq 0 ]
	# the run went on to --duration (12 ticks), not ended with the parent
	[ "$(tail -n +2 tree.csv | cut -d, -f1 | sort -u | wc -l)" -ge 10 ]
	last=$(tail -1 tree.csv | cut -d, -f1)
	grep -q "^$last,$worker," tree.csv
	[ -z "$(grep "^$last,$SIM_PID," tree.csv)" ]
}

@test "monitor --pid ends by itself when the process tree has exited" {
	start_sim --epochs 4 --epoch-time 0.1
	run --separate-stderr timeout 10 "$TRAINCTL" monitor --pid "$SIM_PID" -i 0.2s
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$HEADER" ]
	[ "${#lines[@]}" -ge 2 ]
}

@test "monitor stops at SIGINT or SIGTERM between ticks: whole rows, exit 0" {
	start_sim --epochs 100000 --epoch-time 0.1 --workers 2
	wait_for 10 sim_count 3
	for sig in INT TERM; do
		run --separate-stderr timeout --preserve-status -s "$sig" 1.3 \
			"$TRAINCTL" monitor --pid "$SIM_PID" -i 0.2s -o "$sig.csv"
		[ "$status" -eq 0 ]
		[ -z "$stderr" ]
		[ "$(wc -l <"$sig.csv")" -ge 10 ]
		# every line whole: 12 fields and a line end
		[ -z "$(awk -F, 'NF != 12' "$sig.csv")" ]
		[ -z "$(tail -c 1 "$sig.csv" | tr -d '\n')" ]
	done
}

@test "monitor usage errors exit 2, a missing --pid exits 1" {
	local args
	for args in "" "--pid abc" "--pid 0" "--all -i 0" "--all -i abc" "--all -d 0" \
		"--all -d -5" "--match (" "--all --bogus" "--all extra"; do
		run --separate-stderr tc monitor $args
		[ "$status" -eq 2 ] || { echo "monitor $args: status $status" >&2; false; }
		[ -n "$stderr" ]
		[ -z "$output" ]
	done
	run --separate-stderr tc monitor
	[[ $stderr == *"give --pid, --job, --match or --all"* ]]
	run --separate-stderr tc monitor --match '('
	[[ $stderr == *"--match '('"* ]]
	run --separate-stderr tc monitor --all -i 1x
	[[ $stderr == *"--interval"*"1x"* ]]
	run --separate-stderr tc monitor --pid 2147483647 -d 1s
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: monitor: pid 2147483647: no such process" ]
	[ -z "$output" ]
}

# ---- analyze -------------------------------------------------------------------

@test "analyze: a --cpu-burn process uses what /proc says it used (one core, when there is one)" {
	start_sim --epochs 100000 --epoch-time 0.1 --cpu-burn
	u1=$(($(stat_field "$SIM_PID" 14) + $(stat_field "$SIM_PID" 15))) t1=$(date +%s%N)
	tc monitor --pid "$SIM_PID" -d 3s -i 0.5s -o burn.csv
	u2=$(($(stat_field "$SIM_PID" 14) + $(stat_field "$SIM_PID" 15))) t2=$(date +%s%N)
	hz=$(getconf CLK_TCK)
	# its share of a core over the window, however much a loaded machine gave it
	share=$(( (u2 - u1) * 100 * 1000000000 / hz / (t2 - t1) ))
	run --separate-stderr tc analyze burn.csv --json
	[ "$status" -eq 0 ]
	[ "$(jq '.processes | length' <<<"$output")" -eq 1 ]
	[ "$(jq '.processes[0].pid' <<<"$output")" -eq "$SIM_PID" ]
	[ "$(jq -r '.processes[0].command' <<<"$output")" = "$(sim --epochs 100000 --epoch-time 0.1 --cpu-burn)" ]
	jq -e --argjson s "$share" '.processes[0].cpu_percent.mean | . >= $s * 0.7 and . <= $s * 1.3 + 5' <<<"$output"
	jq -e --argjson s "$share" '.overall.cpu_percent.mean | . >= $s * 0.7 and . <= $s * 1.3 + 5' <<<"$output"
	jq -e --argjson used "$(( (u2 - u1) / hz ))" '.overall.samples >= 5 and .overall.cpu_seconds >= $used * 0.5' <<<"$output"
	jq -e '.overall.gpu_util == null and (.overall.hints | type) == "array"' <<<"$output"
	jq -e '.overall.hints | map(select(startswith("memory grew"))) | length == 0' <<<"$output"
	run --separate-stderr tc analyze burn.csv
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "overall (1 process): "* ]]
	[[ $output == *"pid $SIM_PID: "* ]]
}

@test "analyze: a leaking run gets the memory-growth hint" {
	start_sim --epochs 100000 --epoch-time 0.5 --leak-mb 20
	tc monitor --pid "$SIM_PID" -d 4s -i 0.25s -o leak.csv
	run --separate-stderr tc analyze leak.csv
	[ "$status" -eq 0 ]
	hint='hint: memory grew steadily by [0-9.]+ [KMGT]B/hour — leak\?'
	[[ $output =~ $hint ]]
	run --separate-stderr tc analyze leak.csv --json
	jq -e '.overall.rss_slope_bytes_per_hour > 50 * 1048576' <<<"$output"
	jq -e '.overall.hints | map(select(startswith("memory grew steadily by "))) | length == 1' <<<"$output"
	jq -e '.processes[0].rss_bytes.max > .processes[0].rss_bytes.min + 60 * 1048576' <<<"$output"
}

@test "analyze: statistics and hints of a known CSV" {
	write_csv 16 >known.csv
	run --separate-stderr tc analyze known.csv --json
	[ "$status" -eq 0 ]
	jq -e '.overall.samples == 16 and .overall.duration_s == 15' <<<"$output"
	jq -e '.overall.cpu_percent == {"min": 99, "mean": 99, "p95": 99, "max": 99}' <<<"$output"
	jq -e '.overall.read_bytes == 15360 and .overall.write_bytes == 0' <<<"$output"
	jq -e '.overall.rss_bytes.max == 1048576 and .overall.threads.mean == 4' <<<"$output"
	jq -e '.overall.start == "2026-11-29T08:00:00.000Z" and .overall.end == "2026-11-29T08:00:15.000Z"' <<<"$output"
	jq -e '.overall.hints == ["CPU-bound on one core: ~99% of one core for 100% of the run — more data-loader workers?"]' <<<"$output"
	jq -e '.processes[0] | .pid == 100 and .command == "python train.py --lr 0.1"' <<<"$output"
	run --separate-stderr tc analyze known.csv
	[ "$status" -eq 0 ]
	[[ $output == *"hint: CPU-bound on one core: ~99% of one core for 100% of the run"* ]]
}

@test "analyze: the whole sums the processes per tick and keeps the I/O of those that exited" {
	{
		echo "$HEADER"
		echo '2026-11-29T08:00:00.000Z,100,1,"trainer",R,,1000,2,0,0,,'
		echo '2026-11-29T08:00:00.000Z,200,100,"loader, worker ""0""",R,,500,1,5000,10,,'
		echo '2026-11-29T08:00:01.000Z,100,1,"trainer",R,50.0,1000,2,1000,0,,'
		echo '2026-11-29T08:00:01.000Z,200,100,"loader, worker ""0""",R,30.0,500,1,6000,10,,'
		echo '2026-11-29T08:00:02.000Z,100,1,"trainer",R,50.0,1000,2,2000,0,,'
		echo '2026-11-29T08:00:02.000Z,200,100,"loader, worker ""0""",R,30.0,500,1,9000,20,,'
		echo '2026-11-29T08:00:03.000Z,100,1,"trainer",R,50.0,1000,2,3000,0,,'
		echo '2026-11-29T08:00:04.000Z,100,1,"trainer",R,50.0,1000,2,4000,0,,'
	} >two.csv
	run --separate-stderr tc analyze two.csv --json
	[ "$status" -eq 0 ]
	jq -e '.overall | .samples == 5 and .read_bytes == 8000 and .write_bytes == 10' <<<"$output"
	jq -e '.overall.cpu_percent == {"min": 50, "mean": 65, "p95": 80, "max": 80}' <<<"$output"
	jq -e '.overall.cpu_seconds - 1.95 | fabs < 1e-9' <<<"$output"
	jq -e '.overall.procs | .min == 1 and .max == 2' <<<"$output"
	jq -e '.overall.rss_bytes | .min == 1000 and .max == 1500' <<<"$output"
	jq -e '[.processes[] | .pid] == [100, 200]' <<<"$output"
	jq -e '.processes[1] | .command == "loader, worker \"0\"" and .samples == 3 and .read_bytes == 4000' <<<"$output"
	jq -e '.processes[1].cpu_percent.mean == 30' <<<"$output"
}

@test "analyze: a truncated row, a foreign header, an empty or missing file fail with where" {
	write_csv 15 >cut.csv
	printf '2026-11-29T08:00:15.000Z,100,1,"python train.py --lr 0.1",R' >>cut.csv
	run --separate-stderr tc analyze cut.csv
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: cut.csv:17: expected 12 fields, got 5" ]
	[ -z "$output" ]
	# cut inside the quoted command
	write_csv 3 >cut2.csv
	printf '2026-11-29T08:00:15.000Z,100,1,"python tr' >>cut2.csv
	run --separate-stderr tc analyze cut2.csv
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: cut2.csv:5: expected 12 fields, got 4" ]
	write_csv 3 | sed '3s/,99.0,/,lots,/' >bad.csv
	run --separate-stderr tc analyze bad.csv
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: bad.csv:3: bad cpu_percent 'lots'" ]
	write_csv 3 | sed '1s/.*/time,cpu_percent,rss_bytes/' >foreign.csv
	run --separate-stderr tc analyze foreign.csv
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: foreign.csv:1: expected the header timestamp,pid,ppid,... written by trainctl monitor" ]
	: >empty.csv
	run --separate-stderr tc analyze empty.csv
	[ "$status" -eq 1 ]
	[[ $stderr == "trainctl: empty.csv: empty file"* ]]
	echo "$HEADER" >header.csv
	run --separate-stderr tc analyze header.csv
	[ "$status" -eq 1 ]
	[[ $stderr == "trainctl: header.csv: no samples"* ]]
	run --separate-stderr tc analyze nosuch.csv
	[ "$status" -eq 1 ]
	[ "$stderr" = "trainctl: analyze: cannot open nosuch.csv: No such file or directory" ]
	run --separate-stderr tc analyze
	[ "$status" -eq 2 ]
	run --separate-stderr tc analyze a.csv b.csv
	[ "$status" -eq 2 ]
	run --separate-stderr tc analyze known.csv --svg chart.svg
	[ "$status" -eq 2 ]
}
