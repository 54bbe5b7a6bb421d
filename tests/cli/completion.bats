#!/usr/bin/env bats
# Shell completion: the bash script from `trainctl completion bash`, loaded
# into a bash and driven the way readline does (COMP_WORDS, COMP_CWORD),
# completes commands, options, signal names, and job ids and names.

load helpers

setup() {
	setup_home
	tc completion bash >"$BATS_TEST_TMPDIR/trainctl.bash"
}

teardown() {
	teardown_home
}

# complete WORD...: what the completion offers for the last word, one a line, sorted.
complete_words() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _trainctl
		printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$BATS_TEST_TMPDIR/trainctl.bash" "$TRAINCTL" "$@"
}

@test "the bash script registers itself for trainctl" {
	run bash -c 'source "$1"; complete -p trainctl' _ "$BATS_TEST_TMPDIR/trainctl.bash"
	[ "$status" -eq 0 ]
	[ "$output" = "complete -F _trainctl trainctl" ]
}

@test "commands, from the command table (hidden ones left out)" {
	run complete_words ''
	[[ $output == *$'\nrun\n'* ]]
	[[ $output == *$'\nsystemd-unit\n'* ]]
	[[ $output != *shim* ]]
	# Every command --help lists is offered.
	for c in $(tc --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}'); do
		grep -qx "$c" <<<"$output"
	done
	run complete_words st
	[ "$output" = $'start\nstats\nstop' ]
}

@test "options of the command, and signal names after a signal option" {
	run complete_words stop --
	[[ $output == *$'--signal\n'* ]]
	[[ $output == *$'--all\n'* ]]
	[[ $output == *'--help'* ]]
	run complete_words run --stop-s
	[ "$output" = "--stop-signal" ]
	run complete_words kill 1 -s T
	[[ $output == *$'TERM\n'* ]]
	[[ $output == *TRAP* ]]
	run complete_words stop 1 --signal SIGIN
	[ "$output" = INT ]
	run complete_words daemon s
	[ "$output" = $'status\nstop' ]
	run complete_words completion ''
	[ "$output" = $'bash\nzsh' ]
}

@test "job ids and names come from the daemon, which completion never starts" {
	run complete_words stop ''
	[ -z "$output" ]
	[ -z "$(daemon_pid)" ] || ! alive "$(daemon_pid)"
	start -n trainer -- sleep 1000
	start -n tester -- true
	run complete_words stop t
	[ "$output" = $'tester\ntrainer' ]
	run complete_words log ''
	[[ $output == *$'1\n2\n'* ]]
}

@test "zsh gets the same completion through bashcompinit; a bad shell is a usage error" {
	tc completion zsh | head -2 | grep -qx 'autoload -U +X bashcompinit && bashcompinit'
	tc completion zsh | grep -q '^complete -F _trainctl trainctl$'
	run --separate-stderr tc completion fish
	[ "$status" -eq 2 ]
	[ "$stderr" = "trainctl: completion: unknown shell 'fish' (expected bash or zsh)" ]
}
