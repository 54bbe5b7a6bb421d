#!/usr/bin/env bats
# Terminal scenarios: attach through a real terminal (a private tmux server
# per test: send-keys to type, capture-pane to read the screen), send, the
# detach key, read-only clients, and run --attach / --wait.

load helpers

setup() {
	setup_home
	TMUX_SOCK="$BATS_TEST_TMPDIR/tmux.sock"
	unset TRAINCTL_DETACH_KEY
}

teardown() {
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
	teardown_home
}

# tm ARGS...: tmux on this test's private server.
tm() {
	tmux -S "$TMUX_SOCK" "$@"
}

# term NAME COMMAND: a detached 100x30 terminal running COMMAND (then a shell),
# in this test's home. The command's exit status is shown as <exit N>.
term() {
	tm new-session -d -s "$1" -x 100 -y 30 -e "TRAINCTL_HOME=$TRAINCTL_HOME" \
		"$2; echo \"<exit \$?>\"; exec bash --norc --noprofile"
}

screen() {
	tm capture-pane -p -t "$1"
}

screen_has() {
	screen "$1" | grep -qF -- "$2"
}

# A job that says ready, then answers each line it reads with got:LINE.
echo_job() {
	start "$@" --sh 'echo ready; while read -r line; do echo "got:$line"; done'
	wait_for 5 log_has "$ID" ready
}

@test "attach replays the job's recent output, then shows what it prints next" {
	start --sh 'for i in $(seq 1 50); do echo "line $i"; done; while read -r l; do echo "got:$l"; done'
	wait_for 5 log_has "$ID" 'line 50'
	term a "$TRAINCTL attach $ID"
	wait_for 5 screen_has a 'line 50'
	screen_has a 'line 45'
	tc send "$ID" hello
	wait_for 5 screen_has a 'got:hello'
}

@test "keystrokes reach the job; ctrl-\\ detaches, leaves it running and the terminal sane" {
	echo_job
	term a "$TRAINCTL attach $ID"
	wait_for 5 screen_has a ready
	tm send-keys -t a 'typed text' Enter
	wait_for 5 log_has "$ID" 'got:typed text'
	tm send-keys -t a 'C-\'
	wait_for 5 screen_has a "[detached from job $ID]"
	wait_for 5 screen_has a '<exit 0>'
	[ "$(job_field "$ID" state)" = running ]
	# The shell after attach has a cooked terminal again: canonical mode and echo on.
	tm send-keys -t a "stty -a > '$BATS_TEST_TMPDIR/stty'" Enter
	wait_for 5 eval "grep -q icanon '$BATS_TEST_TMPDIR/stty'"
	grep -qw icanon "$BATS_TEST_TMPDIR/stty"
	grep -qw echo "$BATS_TEST_TMPDIR/stty"
	run ! grep -qw -- -icanon "$BATS_TEST_TMPDIR/stty"
}

@test "the job follows the window size on attach and on every resize" {
	start --sh 'echo ready; while read -r l; do echo "size:$(stty size)"; done'
	wait_for 5 log_has "$ID" ready
	term a "$TRAINCTL attach $ID"
	wait_for 5 screen_has a ready
	tm send-keys -t a Enter
	wait_for 5 log_has "$ID" 'size:30 100'
	tm resize-window -t a -x 120 -y 40
	wait_for 5 eval "[ \"\$(tm display -p -t a '#{window_width}')\" = 120 ]"
	tm send-keys -t a Enter
	wait_for 5 log_has "$ID" 'size:40 120'
}

@test "two attached terminals see the same output; a read-only one cannot type" {
	echo_job
	term a "$TRAINCTL attach $ID"
	term b "$TRAINCTL attach -r $ID"
	wait_for 5 screen_has a ready
	wait_for 5 screen_has b ready
	tm send-keys -t b 'from-readonly' Enter
	tm send-keys -t a 'from-a' Enter
	wait_for 5 screen_has a 'got:from-a'
	wait_for 5 screen_has b 'got:from-a'
	run ! log_has "$ID" 'from-readonly'
}

@test "the detach key can be changed with --detach-key and TRAINCTL_DETACH_KEY" {
	echo_job
	term a "$TRAINCTL attach --detach-key ctrl-a $ID"
	wait_for 5 screen_has a ready
	tm send-keys -t a 'C-a'
	wait_for 5 screen_has a "[detached from job $ID]"
	term b "TRAINCTL_DETACH_KEY='^]' $TRAINCTL attach $ID"
	wait_for 5 screen_has b ready
	tm send-keys -t b 'C-]'
	wait_for 5 screen_has b "[detached from job $ID]"
	run --separate-stderr tc attach --detach-key x "$ID"
	[ "$status" -eq 2 ]
	[[ $stderr == *"invalid detach key 'x'"* ]]
}

@test "attach ends with the job, saying how it ended" {
	start --sh 'echo ready; read -r l; exit 4'
	wait_for 5 log_has "$ID" ready
	term a "$TRAINCTL attach $ID"
	wait_for 5 screen_has a ready
	tm send-keys -t a Enter
	wait_for 5 screen_has a "[job $ID ended: failed (exit 4)]"
	wait_for 5 screen_has a '<exit 0>'
}

@test "run --attach starts the job attached and exits with its status when it ends" {
	term a "$TRAINCTL run -a -n ra --sh 'echo ready; read -r x; echo \"x=\$x\"; exit 3'"
	wait_for 5 screen_has a ready
	tm send-keys -t a foo Enter
	wait_for 5 screen_has a 'x=foo'
	wait_for 5 screen_has a '<exit 3>'
	[ "$(job_field ra state)" = failed ]
}

@test "attach refuses finished jobs and jobs without a terminal, saying what to do" {
	start --sh 'exit 0'
	wait_for 5 job_state_is "$ID" succeeded
	run --separate-stderr tc attach -r "$ID"
	[ "$status" -eq 1 ]
	[[ $stderr == *"has ended (succeeded)"*"trainctl log $ID"* ]]
	start --no-pty --sh 'sleep 60'
	run --separate-stderr tc attach -r "$ID"
	[ "$status" -eq 1 ]
	[[ $stderr == *"--no-pty"*"log -f"*"send"* ]]
	run --separate-stderr tc attach "$ID" </dev/null
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
}

@test "send writes a line to a --no-pty job's stdin, and to a terminal job" {
	start --no-pty --sh 'while read -r l; do echo "got:$l"; done'
	tc send "$ID" 'one two'
	wait_for 5 log_has "$ID" 'got:one two'
	echo_job
	tc send "$ID" three
	wait_for 5 log_has "$ID" 'got:three'
	run --separate-stderr tc send "$ID"
	[ "$status" -eq 2 ]
	start --sh 'exit 0'
	wait_for 5 job_state_is "$ID" succeeded
	run --separate-stderr tc send "$ID" x
	[ "$status" -eq 1 ]
	[[ $stderr == *"not running"* ]]
}

@test "run --wait exits with the job's status" {
	run tc run -w -- sh -c 'sleep 0.3; exit 6'
	[ "$status" -eq 6 ]
	run tc run --wait -- true
	[ "$status" -eq 0 ]
	run --separate-stderr tc run -a -w -- true
	[ "$status" -eq 2 ]
}

@test "run --wait draws a live progress line on a terminal" {
	term a "$TRAINCTL run -w -n pw -- $(sim --epochs 30 --epoch-time 0.1)"
	wait_for 10 screen_has a '/30'
	wait_for 10 screen_has a '<exit 0>'
	[ "$(job_field pw state)" = succeeded ]
}

@test "Ctrl-C while run --wait waits asks: n stops waiting and leaves the job, y stops it" {
	term a "$TRAINCTL run -w -n keep -- $(sim --epochs 1000 --epoch-time 0.1)"
	wait_for 10 screen_has a '/1000'
	tm send-keys -t a C-c
	wait_for 5 screen_has a 'Stop job'
	tm send-keys -t a n Enter
	wait_for 5 screen_has a '<exit 130>'
	[ "$(job_field keep state)" = running ]
	term b "$TRAINCTL run -w -n halt -- $(sim --epochs 1000 --epoch-time 0.1)"
	wait_for 10 screen_has b '/1000'
	tm send-keys -t b C-c
	wait_for 5 screen_has b 'Stop job'
	tm send-keys -t b y Enter
	wait_for 10 screen_has b '<exit 0>'
	[ "$(job_field halt state)" = stopped ]
}
