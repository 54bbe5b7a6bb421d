#!/usr/bin/env bats
# README.md cannot drift from the program. Its commands are the lines of its
# ```sh blocks and the "$ " lines of its other fenced blocks (a trailing
# backslash continues a line); tests/cli/readme-commands extracts them.
#
# 1. Every trainctl invocation among them must be accepted by the real
#    binary's option parser: run with --help added after its options (before
#    "--", where run's COMMAND begins), trainctl parses every option before
#    it and prints help instead of acting, so a renamed command or option
#    exits 2 and fails here. This covers what cannot run in CI too: systemctl
#    and sbatch around it, a real GPU, a terminal.
# 2. The "$ " transcripts, whose output in the README is real, run in order
#    in a private TRAINCTL_HOME, with train-sim and trainctl on PATH, four
#    fake GPUs (tests/fake-nvml), every --epoch-time shortened to 0.05 s and
#    jobs sampled every 200 ms.
#    Each must exit 0, except those in SKIP (never run here) and EXPECTED
#    (run, and must not be a usage error), each with the reason.

load helpers

README="$ROOT/README.md"
EXTRACT="$ROOT/tests/cli/readme-commands"

# Transcript commands not run, matched as a prefix, with the reason.
declare -gA SKIP=(
	["trainctl top"]="needs a terminal (tests/cli/top.bats drives it in one)"
)

# Transcript commands that run but may fail here, with the reason.
declare -gA EXPECTED=(
	["trainctl gpu kill 17659"]="17659 is a pid of the machine the output was captured on; here it is no GPU process and is refused"
	["trainctl pause exp"]="the shortened hung-job example may already have ended"
)

setup() {
	setup_home
}

teardown() {
	teardown_home
}

# prefix_in ARRAY_NAME COMMAND: the key of the array that prefixes COMMAND.
prefix_in() {
	local -n table=$1
	local key
	for key in "${!table[@]}"; do
		if [[ $2 == "$key"* ]]; then
			echo "$key"
			return 0
		fi
	done
	return 1
}

# help_position ARGS...: where --help goes so that trainctl parses every
# option first: before "--" (run's COMMAND), else after the last option and
# the word after it (its value, or an operand), else after the command name.
help_position() {
	local i last=0 n=$#
	local -a a=("$@")
	for ((i = 0; i < n; i++)); do
		[ "${a[i]}" = -- ] && {
			echo "$i"
			return
		}
		if [[ ${a[i]} == -* ]]; then
			last=$((i + 1))
			[[ $last -lt $n && ${a[last]} != -* ]] && last=$((last + 1))
		fi
	done
	echo $((last > 0 ? last : 1))
}

@test "readme: the extraction finds the README's commands" {
	run "$EXTRACT" trainctl "$README"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 40 ]
	[[ $output == *$'\trun -n exp '* ]]
	[[ $output == *$'\tgpu kill '* ]]
	run "$EXTRACT" transcript "$README"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 20 ]
	# A key of SKIP or EXPECTED that no longer matches anything is stale.
	local key
	for key in "${!SKIP[@]}" "${!EXPECTED[@]}"; do
		[[ $output == *$'\t'"$key"* ]] || {
			echo "stale entry in readme.bats: $key" >&2
			return 1
		}
	done
}

@test "readme: every trainctl command line is accepted by the option parser" {
	local number quoted args i bad=0
	while IFS=$'\t' read -r number quoted; do
		eval "args=($quoted)"
		i=$(help_position "${args[@]}")
		args=("${args[@]:0:i}" --help "${args[@]:i}")
		run "$TRAINCTL" "${args[@]}" </dev/null
		if [ "$status" -ne 0 ] || [[ $output != Usage:* ]]; then
			echo "README.md:$number: trainctl $quoted: exit $status: ${lines[0]}" >&2
			bad=$((bad + 1))
		fi
	done < <("$EXTRACT" trainctl "$README")
	[ "$bad" -eq 0 ]
}

@test "readme: a renamed option fails the parser check" {
	run "$TRAINCTL" stop exp --grace 20s --help
	[ "$status" -eq 2 ]
	[[ $output == *"unknown option '--grace'"* ]]
}

@test "readme: the transcripts run against train-sim" {
	local gpus="$BATS_TEST_TMPDIR/gpus.txt" i number cmd key bad=0
	for i in 0 1 2 3; do
		echo "gpu $i name=\"NVIDIA A100-SXM4-40GB\" mem_total=40G"
	done >"$gpus"
	use_fake_gpus "$gpus"
	# Sampled more often than by default: the shortened jobs last seconds.
	export TRAINCTL_SAMPLE_INTERVAL=200ms
	export PATH="$BUILD:$PATH"
	while IFS=$'\t' read -r number cmd; do
		if key=$(prefix_in SKIP "$cmd"); then
			echo "README.md:$number: skipped: ${SKIP[$key]}"
			continue
		fi
		cmd=$(sed -E 's/--epoch-time [0-9.]+/--epoch-time 0.05/g' <<<"$cmd")
		run timeout 60 bash -o pipefail -c "$cmd" </dev/null
		if key=$(prefix_in EXPECTED "$cmd"); then
			[ "$status" -ne 2 ] && [ "$status" -ne 124 ] && continue
		elif [ "$status" -eq 0 ]; then
			continue
		fi
		echo "README.md:$number: $cmd: exit $status: $output" >&2
		bad=$((bad + 1))
	done < <("$EXTRACT" transcript "$README")
	[ "$bad" -eq 0 ]
}
