#!/usr/bin/env bats
# trainctl top, driven in a real terminal: a private tmux server per test
# (send-keys to type, capture-pane to read the screen), against real
# train-sim jobs of a private home.

load helpers

setup() {
	setup_home
	TMUX_SOCK="$BATS_TEST_TMPDIR/tmux.sock"
	unset TRAINCTL_DETACH_KEY NO_COLOR
}

teardown() {
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
	teardown_home
}

tm() {
	tmux -S "$TMUX_SOCK" "$@"
}

# Kill the tmux server and wait until it is gone: a new session started while
# it is still shutting down reaches the dying server ("server exited unexpectedly").
tm_kill() {
	tm kill-server 2>/dev/null || true
	wait_for 20 eval '! tm ls >/dev/null 2>&1'
}

# top_term [COLS ROWS [ARGS]]: trainctl top in a detached terminal, then a
# shell; its exit status shows as <exit N>.
top_term() {
	tm new-session -d -s top -x "${1:-120}" -y "${2:-40}" -e "TRAINCTL_HOME=$TRAINCTL_HOME" \
		-e "LANG=C.UTF-8" "$TRAINCTL top ${3:-}; echo \"<exit \$?>\"; exec bash --norc --noprofile"
}

screen() {
	tm capture-pane -p -t top
}

screen_has() {
	screen | grep -qF -- "$1"
}

screen_lacks() {
	! screen_has "$1"
}

keys() {
	tm send-keys -t top "$@"
}

# sim_job NAME: a train-sim run that lasts, with progress.
sim_job() {
	start -n "$1" -- $(sim --epochs 1000 --epoch-time 0.2)
	wait_for 30 log_has "$ID" 'Epoch 2/1000'
}

# The line of the table that shows job ID.
row_of() {
	screen | grep -E "^ +$1 " | head -1
}

row_has() {
	row_of "$1" | grep -qF -- "$2"
}

pid_state() {
	stat_field "$1" 3
}

@test "top lists the running jobs with their state and progress, and the machine" {
	sim_job alpha
	a=$ID
	sim_job beta
	b=$ID
	top_term
	wait_for 30 screen_has 'beta'
	wait_for 30 row_has "$a" '%'
	row_has "$a" alpha
	row_has "$a" running
	row_has "$b" beta
	screen_has 'Mem['
	screen_has 'Load average:'
	screen_has 'Jobs: 2 running'
	# the detail pane: the selected job's log lines
	wait_for 30 screen_has 'Epoch 3/1000'
}

@test "s asks, then stops the selected job gracefully; n cancels" {
	sim_job victim
	top_term
	wait_for 30 row_has "$ID" running
	keys s
	wait_for 20 screen_has "Stop (gracefully) job $ID (victim)? [y/N]"
	keys n
	wait_for 20 screen_has cancelled
	job_state_is "$ID" running
	keys s
	wait_for 20 screen_has "Stop (gracefully) job $ID (victim)?"
	keys y
	wait_for 45 screen_has "$ID (victim): stopped"
	[ "$(tc ls -a --json | jq -r ".[] | select(.id == $ID) | .state")" = stopped ]
	wait_for 30 row_has "$ID" stopped
}

@test "p pauses the selected job (its processes stop) and p again resumes it" {
	sim_job pausable
	pid=$(job_field "$ID" pid)
	top_term
	wait_for 30 row_has "$ID" running
	keys p
	wait_for 30 job_state_is "$ID" paused
	[ "$(pid_state "$pid")" = T ]
	wait_for 30 row_has "$ID" paused
	keys p
	wait_for 30 job_state_is "$ID" running
	[ "$(pid_state "$pid")" != T ]
}

@test "K asks, then kills the selected job" {
	sim_job killable
	pid=$(job_field "$ID" pid)
	top_term
	wait_for 30 row_has "$ID" running
	keys K
	wait_for 20 screen_has "Kill (SIGKILL) job $ID (killable)?"
	keys y
	wait_for 30 job_ended "$ID"
	! alive "$pid"
}

# The header, the table's header and the footer are all on screen.
sane_layout() {
	screen_has 'Mem[' && screen_has 'NAME' && screen_has 'STATE' && screen_has 'Quit' &&
		screen_has 'Jobs:'
}

@test "the layout adapts to 80x24 and 200x60" {
	sim_job resized
	top_term 100 30
	wait_for 30 row_has "$ID" running
	tm resize-window -t top -x 80 -y 24
	wait_for 20 sane_layout
	[ "$(screen | wc -l)" -eq 24 ]
	row_has "$ID" resized
	tm resize-window -t top -x 200 -y 60
	wait_for 20 screen_has COMMAND
	sane_layout
	row_has "$ID" train-sim
	[ "$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 200 ]
}

@test "q quits and gives the terminal back" {
	top_term
	wait_for 30 screen_has 'Jobs:'
	[ "$(tm display -p -t top '#{alternate_on}')" = 1 ]
	keys q
	wait_for 20 screen_has '<exit 0>'
	[ "$(tm display -p -t top '#{alternate_on}')" = 0 ]
	screen_lacks 'Jobs:'
}

@test "a restarted daemon: top says it is reconnecting, then shows the jobs again" {
	sim_job survivor
	top_term
	wait_for 30 row_has "$ID" running
	old=$(daemon_pid)
	kill -9 "$old"
	wait_for 30 screen_has 'reconnecting to the daemon'
	wait_for 45 screen_lacks 'reconnecting'
	wait_for 30 row_has "$ID" running
	new=$(daemon_pid)
	[ -n "$new" ] && [ "$new" != "$old" ]
}

@test "/ filters by name, Esc clears the filter" {
	sim_job apple
	a=$ID
	sim_job banana
	b=$ID
	top_term
	wait_for 30 row_has "$b" banana
	keys / ban
	wait_for 20 screen_has 'filter: ban'
	wait_for 20 eval '[ -z "$(row_of "$a")" ]'
	row_has "$b" banana
	keys Enter Escape
	wait_for 20 row_has "$a" apple
}

@test "< and > change the sort column; the table follows it" {
	start -n zeta -- $(sim --epochs 1000 --epoch-time 0.2)
	start -n alpha -- $(sim --epochs 1000 --epoch-time 0.2)
	top_term
	wait_for 30 screen_has 'alpha'
	wait_for 20 screen_has 'sort: ID'
	# by id: zeta (started first) comes first
	[ "$(screen | grep -oE 'zeta|alpha' | head -1)" = zeta ]
	keys '>'
	wait_for 20 screen_has 'sort: NAME'
	[ "$(screen | grep -oE 'zeta|alpha' | head -1)" = alpha ]
	keys I
	wait_for 20 screen_has 'sort: NAME ▼'
	[ "$(screen | grep -oE 'zeta|alpha' | head -1)" = zeta ]
}

@test "l shows the log with search; q comes back" {
	start -n logged --sh 'for i in $(seq 1 300); do echo "line $i"; done; echo needle-here; for i in $(seq 301 600); do echo "line $i"; done; sleep 600'
	wait_for 30 log_has "$ID" 'line 600'
	top_term
	wait_for 30 row_has "$ID" logged
	keys l
	wait_for 20 screen_has "log of job $ID (logged)"
	wait_for 20 screen_has 'line 600'
	keys / needle Enter
	wait_for 20 screen_has 'needle-here'
	screen_lacks 'line 600'
	keys q
	wait_for 20 screen_has 'Jobs:'
}

@test "500 jobs: the table scrolls to the last and back to the first" {
	for i in $(seq 1 500); do
		tc run --sh true >/dev/null
	done
	wait_for 60 eval '[ "$(tc ls --json | jq length)" -eq 0 ]'
	top_term
	wait_for 30 screen_has 'Jobs: 500 finished'
	row_has 1 succeeded
	[ -z "$(row_of 500)" ]
	keys G
	wait_for 20 row_has 500 succeeded
	[ -z "$(row_of 1)" ]
	keys g
	wait_for 20 row_has 1 succeeded
}

@test "a attaches to the selected job; detaching comes back to top" {
	start -n talk --sh 'echo ready; while read -r line; do echo "got:$line"; done'
	wait_for 30 log_has "$ID" ready
	top_term
	wait_for 30 row_has "$ID" talk
	keys a
	wait_for 20 screen_lacks 'Jobs:'
	keys 'hello' Enter
	wait_for 20 log_has "$ID" 'got:hello'
	keys 'C-\'
	wait_for 20 screen_has "detached from job $ID (talk)"
	screen_has NAME
	job_state_is "$ID" running
}

@test "d shows the diagnose report of the selected job" {
	sim_job sick
	top_term
	wait_for 30 row_has "$ID" running
	keys d
	wait_for 20 screen_has "trainctl diagnose $ID (sick)"
	wait_for 45 screen_lacks 'running,'
	keys q
	wait_for 20 screen_has 'Jobs:'
}

@test "top refuses a bad delay and a missing terminal" {
	run -2 tc top -d nonsense
	[[ $output == *"invalid --delay 'nonsense'"* ]]
	run -2 tc top -d 0
	run -2 tc top --delay 5x
	run -1 tc top </dev/null
	[[ $output == *"top needs a terminal"* ]]
	run -2 tc top extra
	run -0 tc top --help
	[[ $output == *"--delay DUR"* ]]
}

# Does the screen use a foreground colour (SGR 30-37)? 39 is the default colour.
screen_coloured() {
	tm capture-pane -p -e -t top | grep -qE $'\e\\[([0-9]+;)*3[0-7](;[0-9]+)*m'
}

@test "--no-color and NO_COLOR draw without colours" {
	sim_job plain
	top_term
	wait_for 30 row_has "$ID" running
	screen_coloured
	tm_kill
	top_term 120 40 --no-color
	wait_for 30 row_has "$ID" running
	! screen_coloured
	tm_kill
	tm new-session -d -s top -x 120 -y 40 -e "TRAINCTL_HOME=$TRAINCTL_HOME" -e NO_COLOR=1 "$TRAINCTL top"
	wait_for 30 row_has "$ID" running
	! screen_coloured
}

# Does the daemon's machine reply list GPUs (from the fake NVML)?
daemon_reports_gpus() {
	python3 - "$TRAINCTL_HOME/run/daemon.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"op":"machine"}\n')
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.exit(0 if json.loads(buf).get("gpus") else 1)
PY
}

@test "with GPUs (fake NVML), one line per GPU shows the fake's numbers, live" {
	cat >"$BATS_TEST_TMPDIR/gpus" <<-'EOF'
		gpu 0 name="NVIDIA A100-SXM4-40GB" mem_total=40G mem_used=1G util=35 temp=54 power=210 power_limit=400
		gpu 1 name="NVIDIA A100-SXM4-40GB" mem_total=40G mem_used=12G util=87 temp=61 power=305 power_limit=400
	EOF
	use_fake_gpus "$BATS_TEST_TMPDIR/gpus"
	sim_job gpujob
	wait_for 30 daemon_reports_gpus || skip "this daemon does not report GPUs in its machine reply"
	top_term
	wait_for 30 screen_has 'GPU1'
	screen | grep 'GPU0' | grep -F 'A100-SXM4-40GB' | grep -F '35%]' | grep -F '1.0G/40G' |
		grep -F '54°C' | grep -qF '210W/400W'
	screen | grep 'GPU1' | grep -F '87%]' | grep -F '12G/40G' | grep -qF '305W/400W'
	sed -i 's/util=87/util=99/' "$BATS_TEST_TMPDIR/gpus"
	wait_for 45 eval "screen | grep GPU1 | grep -qF '99%]'"
}

@test "without GPUs there are no GPU lines and no GPU column" {
	sim_job cpuonly
	top_term
	wait_for 30 screen_has 'Load average:'
	screen_lacks 'GPU0'
	! screen | grep -E '^ +ID' | grep -qw GPU
}
