#!/usr/bin/env bats
# trainctl plot: charts of a job's samples in the terminal (braille or ASCII)
# and as SVG. Most scenarios plot a samples reply saved in a file (--input),
# written here with jq: 50 samples two seconds apart, CPU rising to 195%,
# memory growing, I/O counters known every fifth sample, no GPU. The last
# ones plot a live job through the daemon.

load helpers

setup() {
	setup_home
	SAMPLES="$BATS_TEST_TMPDIR/samples.json"
	write_samples 50 'sim <&> "q"' >"$SAMPLES"
}

teardown() {
	teardown_home
}

# write_samples N NAME: a samples reply for job 7 named NAME with N samples.
write_samples() {
	jq -n --argjson n "$1" --arg name "$2" '{
		v: 1, ok: true,
		job: { id: 7, name: $name, state: "running", started_at: "2026-01-01T10:00:00.000Z" },
		samples: [range($n) as $i | [
			1767261600000 + $i * 2000,
			(if $i < 25 then $i * 8 else 195 end),
			(100 + $i * 4) * 1048576,
			4 + ($i % 3),
			3,
			(if $i % 5 == 0 then $i * 1048576 else null end),
			(if $i % 5 == 0 then $i * 524288 else null end),
			null,
			null
		]]
	}'
}

# fails STATUS ARGS...: trainctl plot ARGS must exit STATUS with nothing on
# stdout and one "trainctl: " line on stderr.
fails() {
	local want=$1
	shift
	run --separate-stderr "$TRAINCTL" plot "$@"
	echo "status $status, stdout: $output, stderr: $stderr"
	[ "$status" -eq "$want" ]
	[ -z "$output" ]
	[[ $stderr == "trainctl: "* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

# Has the text a braille character (U+2801..U+28FF: E2 A0 81 .. E2 A3 BF)?
has_braille() {
	printf '%s' "$1" | LC_ALL=C grep -qP '\xe2[\xa0-\xa3][\x80-\xbf]'
}

# The widest line of the text after its header line, in characters (UTF-8).
max_width() {
	printf '%s\n' "$1" | tail -n +2 | LC_ALL=C sed 's/[\x80-\xbf]//g' |
		LC_ALL=C awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }'
}

@test "plot draws a braille chart with panel titles, value and time labels" {
	run --separate-stderr tc plot --input "$SAMPLES" --width 80
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ ${lines[0]} == 'job 7 (sim <&> "q"): 1m38s from '* ]]
	[[ $output == *$'\nCPU  last 195%  max 195%\n'* ]]
	[[ $output == *$'\n195% ┤'* ]]
	[[ $output == *$'\n  0% ┤'* ]]
	[[ $output == *$'\nMemory (RSS)  last 296M  max 296M\n'* ]]
	[[ $output == *$'\n296M ┤'* ]]
	[[ $output == *$'\n  0B ┤'* ]]
	[[ $output == *$'\n      0s '*' 30s '*' 1m '*' 1m30s'* ]]
	has_braille "$output"
	# no line wider than asked, and the widest as wide
	[ "$(max_width "$output")" -eq 80 ]
}

@test "plot --ascii uses no byte above 0x7f, and draws with * . | -" {
	run --separate-stderr tc plot --input "$SAMPLES" --ascii --width 60
	[ "$status" -eq 0 ]
	[ "$(printf '%s' "$output" | LC_ALL=C tr -d '\000-\177' | wc -c)" -eq 0 ]
	[[ $output == *'*'* ]]
	[[ $output == *'.'* ]]
	[[ $output == *$'\n     |'* ]]
	[[ $output == *'+------'* ]]
	[[ $output == *$'\nCPU  last 195%'* ]]
	# the job's name loses its bytes above 0x7f too
	write_samples 50 'caf'$'\xc3\xa9' >"$BATS_TEST_TMPDIR/accent.json"
	run tc plot --input "$BATS_TEST_TMPDIR/accent.json" --ascii
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == 'job 7 (caf??): '* ]]
}

@test "plot --width and --height shape each panel" {
	run --separate-stderr tc plot --input "$SAMPLES" --width 40 --height 3 --metric cpu
	[ "$status" -eq 0 ]
	[ "$(max_width "$output")" -eq 40 ]
	# header, blank, title, 3 rows, time axis, time labels
	[ "${#lines[@]}" -eq 7 ]
	[ "$(printf '%s\n' "$output" | grep -c '[┤│]')" -eq 3 ]
}

@test "plot --metric picks the panels; io is a rate of bytes per second" {
	run --separate-stderr tc plot --input "$SAMPLES" -m io,threads --metric procs,io
	[ "$status" -eq 0 ]
	[[ $output == *$'\nDisk I/O (read + write)  last 768K/s  max 768K/s\n'* ]]
	[[ $output == *$'\n768K/s ┤'* ]]
	[[ $output == *$'\nThreads  last 5  max 6\n'* ]]
	[[ $output == *$'\nProcesses  last 3  max 3\n'* ]]
	[[ $output != *CPU* ]]
	[ "$(printf '%s\n' "$output" | grep -c 'Disk I/O')" -eq 1 ]
}

@test "plot leaves out GPU panels without values, with a note" {
	run --separate-stderr tc plot --input "$SAMPLES" --metric cpu,gpu
	[ "$status" -eq 0 ]
	[[ $output == *$'\nCPU  last'* ]]
	[[ $output != *GPU* ]]
	[[ $stderr == 'trainctl: note: no GPU utilization values for job 7 '*'NVML'* ]]
	# nothing left to plot is an error
	fails 1 --input "$SAMPLES" --metric gpu,gpumem
	[[ $stderr == *'no GPU utilization values for job 7'* ]]
}

@test "plot --svg writes a well-formed SVG with the job's name, its panels and polylines" {
	command -v xmllint >/dev/null || skip "xmllint not installed (apt-get install libxml2-utils)"
	run --separate-stderr tc plot --input "$SAMPLES" --svg chart.svg --metric cpu,mem,io
	[ "$status" -eq 0 ]
	[ "$output" = chart.svg ]
	[ -z "$stderr" ]
	xmllint --noout chart.svg
	head -1 chart.svg | grep -qF '<?xml version="1.0" encoding="UTF-8"?>'
	grep -qE '<svg xmlns="http://www.w3.org/2000/svg" width="[0-9]+" height="[0-9]+" viewBox="0 0 [0-9]+ [0-9]+"' chart.svg
	[ "$(grep -c '<polyline' chart.svg)" -eq 3 ]
	grep -qF '>job 7 (sim &lt;&amp;&gt; &quot;q&quot;)</text>' chart.svg
	grep -qF '>CPU</text>' chart.svg
	grep -qF '>Memory (RSS)</text>' chart.svg
	grep -qF '>Disk I/O (read + write)</text>' chart.svg
	grep -qF '>200%</text>' chart.svg
	grep -qF '>1m30s</text>' chart.svg
	grep -qF '>elapsed time</text>' chart.svg
	# the title reads back as the job's name
	[ "$(xmllint --xpath 'string(//*[local-name()="title"])' chart.svg)" = 'job 7 (sim <&> "q")' ]
}

@test "plot --svg - writes the SVG to standard output" {
	command -v xmllint >/dev/null || skip "xmllint not installed (apt-get install libxml2-utils)"
	run --separate-stderr tc plot --input "$SAMPLES" --svg -
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == '<?xml '* ]]
	[[ $output == *'<polyline'* ]]
	printf '%s\n' "$output" | xmllint --noout -
}

@test "plot --svg decimates a long series to at most 2000 points" {
	command -v xmllint >/dev/null || skip "xmllint not installed (apt-get install libxml2-utils)"
	write_samples 20000 long >"$BATS_TEST_TMPDIR/long.json"
	run --separate-stderr tc plot --input "$BATS_TEST_TMPDIR/long.json" --svg long.svg -m cpu
	[ "$status" -eq 0 ]
	xmllint --noout long.svg
	points=$(grep -o 'points="[^"]*"' long.svg | tr -cd ',' | wc -c)
	[ "$points" -le 2000 ] && [ "$points" -ge 1000 ]
}

@test "plot --input takes a bare samples array too, titled with the file's name" {
	jq .samples "$SAMPLES" >bare.json
	run --separate-stderr tc plot --input bare.json --ascii
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == 'bare.json: 1m38s from '* ]]
	[[ $output == *$'\nCPU  last 195%'* ]]
}

@test "plot with one sample says so instead of drawing" {
	write_samples 1 one >"$BATS_TEST_TMPDIR/one.json"
	run --separate-stderr tc plot --input "$BATS_TEST_TMPDIR/one.json"
	[ "$status" -eq 0 ]
	[[ $output == *$'\nCPU: 0% (one sample so far; a chart needs two)\n'* ]]
	[[ $output == *$'\nMemory (RSS): 100M (one sample so far; a chart needs two)'* ]]
}

@test "plot refuses bad input with one clear message" {
	fails 2 --input "$SAMPLES" --metric cpu,disk
	[[ $stderr == "trainctl: plot: unknown metric 'disk' (valid: cpu, mem, pss, io, threads, procs, gpu, gpumem)" ]]
	fails 2 --input "$SAMPLES" --metric ''
	fails 2 --input "$SAMPLES" --width 10
	[[ $stderr == *"bad --width '10'"* ]]
	fails 2 --input "$SAMPLES" --width wide
	fails 2 --input "$SAMPLES" --height 0
	fails 2 --input "$SAMPLES" --bogus
	fails 2
	[[ $stderr == *'give JOB or --input FILE'* ]]
	fails 2 7 --input "$SAMPLES"
	fails 1 --input "$SAMPLES" --svg "$BATS_TEST_TMPDIR/no/such/dir/x.svg"
	[[ $stderr == "trainctl: plot: cannot write $BATS_TEST_TMPDIR/no/such/dir/x.svg: No such file or directory" ]]
	fails 1 --input "$BATS_TEST_TMPDIR/missing.json"
	[[ $stderr == *"cannot read $BATS_TEST_TMPDIR/missing.json"* ]]
	echo 'not json' >"$BATS_TEST_TMPDIR/bad.json"
	fails 1 --input "$BATS_TEST_TMPDIR/bad.json"
	[[ $stderr == *'is not JSON'* ]]
	echo '{"v":1,"ok":true,"samples":[[1,2]]}' >"$BATS_TEST_TMPDIR/short.json"
	fails 1 --input "$BATS_TEST_TMPDIR/short.json"
	jq '.samples[3][0] = 5' "$SAMPLES" >"$BATS_TEST_TMPDIR/unordered.json"
	fails 1 --input "$BATS_TEST_TMPDIR/unordered.json"
	[[ $stderr == *'has samples out of time order or range (sample 4: time_ms 5)' ]]
	echo '{"v":1,"ok":true,"job":{"id":3,"name":"sim"},"samples":[]}' >"$BATS_TEST_TMPDIR/empty.json"
	fails 1 --input "$BATS_TEST_TMPDIR/empty.json"
	[ "$stderr" = "trainctl: plot: $BATS_TEST_TMPDIR/empty.json holds no samples" ]
}

# ---- against the daemon ------------------------------------------------------

# Skip when the daemon does not answer "samples" requests yet.
need_samples() {
	run --separate-stderr tc plot 1
	if [[ $stderr == *"unknown request"* || $stderr == *"keeps no samples"* ]]; then
		skip "this daemon has no samples request"
	fi
}

@test "plot charts a live job from the daemon's samples" {
	export TRAINCTL_SAMPLE_INTERVAL=250ms
	start -n live -- $(sim --cpu-burn --leak-mb 4 --workers 2 --epochs 100000 --epoch-time 0.1)
	need_samples
	wait_for 20 eval '[ "$(tc stats live --csv | tail -n +2 | wc -l)" -ge 6 ]'
	run --separate-stderr tc plot live --width 72 -m cpu,mem,procs
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "job $ID (live): "* ]]
	[[ $output == *$'\nCPU  last '* ]]
	[[ $output == *$'\nMemory (RSS)  last '* ]]
	[[ $output == *$'\nProcesses  last '*'max 3'* ]]
	has_braille "$output"
	run --separate-stderr tc plot "$ID" --svg live.svg
	[ "$status" -eq 0 ]
	if command -v xmllint >/dev/null; then xmllint --noout live.svg; fi
	grep -qF '>job '"$ID"' (live)</text>' live.svg
	tc stop live
}

@test "plot of a job without samples yet, and of no such job" {
	# sampled hourly, the first sample is an hour away
	export TRAINCTL_SAMPLE_INTERVAL=1h
	start -n fresh -- $(sim --epochs 100000 --epoch-time 0.1)
	need_samples
	fails 1 fresh
	[ "$stderr" = "trainctl: no samples for job $ID (fresh) yet: the daemon samples every 2s (by default)" ]
	fails 1 nosuch
	tc stop fresh
}
