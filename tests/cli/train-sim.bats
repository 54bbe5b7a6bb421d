#!/usr/bin/env bats
# Scenarios for tools/train-sim, the fake training job the trainctl tests drive.
# Every run gets --checkpoint-dir "$CK" (a per-test path); that argument is the
# marker teardown uses to find and kill the run, its workers and its orphans
# via /proc/*/cmdline. Waits poll a condition with a deadline; none sleep blind.

bats_require_minimum_version 1.5.0

load helpers

setup() {
    SIM="${TRAIN_SIM:-$BATS_TEST_DIRNAME/../../build/train-sim}"
    [[ -x $SIM ]] || { echo "train-sim not built at $SIM (run make)" >&2; return 1; }
    CK="$BATS_TEST_TMPDIR/ck"
    OUT="$BATS_TEST_TMPDIR/stdout"
    ERR="$BATS_TEST_TMPDIR/stderr"
    cd "$BATS_TEST_TMPDIR"
}

teardown() {
    local pid
    for pid in $(marked_pids); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait_for 5 no_marked_pids
}

# ---- helpers -----------------------------------------------------------------

# Pids of live processes whose command line has "$CK" as an argument
# (zombies have an empty cmdline, so they never match).
marked_pids() {
    local f arg args
    for f in /proc/[0-9]*/cmdline; do
        mapfile -d '' -t args 2>/dev/null <"$f" || continue
        for arg in "${args[@]}"; do
            if [[ $arg == "$CK" ]]; then
                f=${f#/proc/}
                echo "${f%/cmdline}"
                break
            fi
        done
    done
}

no_marked_pids() { [[ -z $(marked_pids) ]]; }
marked_count_is() { [[ $(marked_pids | wc -l) -eq $1 ]]; }

# A process counts as alive unless it is gone or a zombie (PID 1 here never
# reaps orphans, so dead orphans linger as Z): helpers.bash's alive.
is_dead() { ! alive "$1"; }

cpu_ticks() { echo $(($(stat_field "$1" 14) + $(stat_field "$1" 15))); }

# start_sim ARGS...: run train-sim in the background, output to $OUT/$ERR.
start_sim() {
    "$SIM" --checkpoint-dir "$CK" "$@" >"$OUT" 2>"$ERR" 3>&- &
    SIM_PID=$!
}

# wait_exit PID [SECONDS]: wait for PID to end; its status goes to EXIT_STATUS.
wait_exit() {
    wait_for "${2:-10}" is_dead "$1"
    EXIT_STATUS=0
    wait "$1" || EXIT_STATUS=$?
}

out_has() { grep -q -- "$1" "$OUT"; }
epoch_count() { grep -c '^Epoch ' "$OUT" || true; }
epoch_count_above() { (($(epoch_count) > $1)); }
epoch_lines() { grep '^Epoch ' "$1" || true; }
last_epoch() { epoch_lines "$OUT" | tail -n 1 | sed 's|^Epoch \([0-9]*\)/.*|\1|'; }

# ---- runs to completion --------------------------------------------------------

@test "a normal run prints every epoch in order, then Training complete, and exits 0" {
    run --separate-stderr "$SIM" --checkpoint-dir "$CK" --epochs 5 --epoch-time 0
    [ "$status" -eq 0 ]
    [[ ${lines[0]} =~ ^train-sim:\ pid\ [0-9]+,\ 5\ epochs$ ]]
    [ "${#lines[@]}" -eq 7 ]
    for n in 1 2 3 4 5; do
        [[ ${lines[$n]} =~ ^Epoch\ $n/5\ loss=[0-9]+\.[0-9]{4}$ ]]
    done
    [ "${lines[6]}" = "Training complete" ]
    [ -z "$stderr" ]
    [ ! -e "$CK" ]
}

@test "loss follows 2.5*exp(-0.05*N) plus small non-negative noise, deterministically per seed" {
    "$SIM" --checkpoint-dir "$CK" --epochs 80 --epoch-time 0 --seed 3 >a
    "$SIM" --checkpoint-dir "$CK" --epochs 80 --epoch-time 0 --seed 3 >b
    "$SIM" --checkpoint-dir "$CK" --epochs 80 --epoch-time 0 --seed 4 >c
    [ "$(epoch_lines a)" = "$(epoch_lines b)" ]
    [ "$(epoch_lines a)" != "$(epoch_lines c)" ]
    [ "$(epoch_lines a | wc -l)" -eq 80 ]
    epoch_lines a | awk -F'[ /=]' '{
        d = $5 - 2.5 * exp(-0.05 * $2)
        if ($5 < 0 || d < -0.0001 || d > 0.0101) { print "bad loss: " $0; bad = 1 }
    } END { exit bad }'
}

@test "--epoch-time paces the epochs" {
    local t0 t1
    t0=$(date +%s%N)
    "$SIM" --checkpoint-dir "$CK" --epochs 3 --epoch-time 0.2 >"$OUT"
    t1=$(date +%s%N)
    (((t1 - t0) / 1000000 >= 550))
    [ "$(epoch_count)" -eq 3 ]
}

# ---- checkpoints ---------------------------------------------------------------

@test "--checkpoint-every K writes valid JSON checkpoints every K epochs and leaves no tmp files" {
    run --separate-stderr "$SIM" --checkpoint-dir "$CK" --epochs 7 --epoch-time 0 --checkpoint-every 3 --seed 5
    [ "$status" -eq 0 ]
    [ "$(ls -A "$CK" | tr '\n' ' ')" = "checkpoint_epoch_3.json checkpoint_epoch_6.json " ]
    [ "${lines[4]}" = "Saved checkpoint $CK/checkpoint_epoch_3.json" ]
    [ "${lines[8]}" = "Saved checkpoint $CK/checkpoint_epoch_6.json" ]
    for n in 3 6; do
        jq -e --argjson n "$n" '.epoch == $n and .epochs == 7 and .seed == 5
            and (.loss | type) == "number" and (.rng | type) == "number"' "$CK/checkpoint_epoch_$n.json"
        loss=$(jq -r '.loss' "$CK/checkpoint_epoch_$n.json")
        grep -qx "Epoch $n/7 loss=$(printf '%.4f' "$loss")" <<<"$output"
    done
}

@test "--checkpoint-dir is created with its missing parents" {
    run "$SIM" --checkpoint-dir "$CK/a/b/" --epochs 2 --epoch-time 0 --checkpoint-every 1
    [ "$status" -eq 0 ]
    [ -f "$CK/a/b/checkpoint_epoch_1.json" ]
    [ -f "$CK/a/b/checkpoint_epoch_2.json" ]
    grep -qx "Saved checkpoint $CK/a/b/checkpoint_epoch_2.json" <<<"$output"
}

# ---- signals -------------------------------------------------------------------

@test "SIGTERM mid-run saves a checkpoint of the last completed epoch and exits 0" {
    start_sim --epochs 100000 --epoch-time 0.05
    wait_for 10 out_has '^Epoch 3/'
    kill -TERM "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    n=$(last_epoch)
    [ "$(tail -n 1 "$OUT")" = "Received SIGTERM, checkpoint saved to $CK/checkpoint_epoch_$n.json" ]
    jq -e --argjson n "$n" '.epoch == $n and .epochs == 100000' "$CK/checkpoint_epoch_$n.json"
    [ "$(ls -A "$CK")" = "checkpoint_epoch_$n.json" ]
}

@test "SIGINT also saves a checkpoint and exits 0" {
    start_sim --epochs 100000 --epoch-time 0.05
    wait_for 10 out_has '^Epoch 2/'
    kill -INT "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    n=$(last_epoch)
    [ "$(tail -n 1 "$OUT")" = "Received SIGINT, checkpoint saved to $CK/checkpoint_epoch_$n.json" ]
    [ -f "$CK/checkpoint_epoch_$n.json" ]
}

@test "SIGTERM during a long first epoch is handled promptly, without a checkpoint" {
    start_sim --epochs 3 --epoch-time 1000
    wait_for 10 out_has '^train-sim: pid'
    kill -TERM "$SIM_PID"
    wait_exit "$SIM_PID" 2
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$OUT")" = "Received SIGTERM before the first epoch, no checkpoint" ]
    [ ! -e "$CK" ]
}

@test "--ignore-term survives SIGTERM, says so, keeps training, and dies on SIGKILL" {
    start_sim --epochs 100000 --epoch-time 0.05 --ignore-term
    wait_for 10 out_has '^Epoch 2/'
    kill -TERM "$SIM_PID"
    wait_for 10 out_has '^Ignoring SIGTERM$'
    n=$(epoch_count)
    wait_for 10 epoch_count_above $((n + 2))
    alive "$SIM_PID"
    kill -KILL "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 137 ]
    [ ! -e "$CK" ]
}

@test "--ignore-term still stops with a checkpoint on SIGINT" {
    start_sim --epochs 100000 --epoch-time 0.05 --ignore-term
    wait_for 10 out_has '^Epoch 2/'
    kill -INT "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    out_has '^Received SIGINT, checkpoint saved to '
}

# ---- resume --------------------------------------------------------------------

@test "resuming a SIGTERM checkpoint continues at the next epoch with identical losses" {
    "$SIM" --checkpoint-dir "$CK" --epochs 60 --epoch-time 0 --seed 42 >reference
    start_sim --epochs 60 --epoch-time 0.05 --seed 42
    wait_for 10 out_has '^Epoch 3/'
    kill -TERM "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    n=$(last_epoch)
    epoch_lines "$OUT" >first
    run --separate-stderr "$SIM" --checkpoint-dir "$CK" --resume "$CK/checkpoint_epoch_$n.json" --epoch-time 0
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "Resumed from $CK/checkpoint_epoch_$n.json at epoch $n" ]
    [[ ${lines[2]} == "Epoch $((n + 1))/60 loss="* ]]
    [ "${lines[-1]}" = "Training complete" ]
    epoch_lines <(echo "$output") >second
    [ "$(cat first second)" = "$(epoch_lines reference)" ]
}

@test "--crash-at exits 1 on a fresh run, and a run resumed from a checkpoint gets past it" {
    "$SIM" --checkpoint-dir "$CK" --epochs 6 --epoch-time 0 >reference
    run --separate-stderr "$SIM" --checkpoint-dir "$CK" --epochs 6 --epoch-time 0 --checkpoint-every 2 --crash-at 4
    [ "$status" -eq 1 ]
    [ "$stderr" = "Simulated crash at epoch 4" ]
    [ "$(epoch_lines <(echo "$output") | tail -n 1 | cut -d' ' -f2)" = "3/6" ]
    run --separate-stderr "$SIM" --checkpoint-dir "$CK" --epochs 6 --epoch-time 0 --checkpoint-every 2 --crash-at 4 \
        --resume "$CK/checkpoint_epoch_2.json"
    [ "$status" -eq 0 ]
    [ "${lines[-1]}" = "Training complete" ]
    [ "$(epoch_lines <(echo "$output"))" = "$(epoch_lines reference | tail -n 4)" ]
}

@test "--crash-always crashes resumed runs too" {
    "$SIM" --checkpoint-dir "$CK" --epochs 6 --epoch-time 0 --checkpoint-every 2 >/dev/null
    run --separate-stderr "$SIM" --checkpoint-dir "$CK" --epoch-time 0 --crash-at 4 --crash-always \
        --resume "$CK/checkpoint_epoch_2.json"
    [ "$status" -eq 1 ]
    [ "$stderr" = "Simulated crash at epoch 4" ]
    [ "$(epoch_lines <(echo "$output") | cut -d' ' -f2)" = "3/6" ]
}

# ---- process trees -------------------------------------------------------------

@test "--workers 3 forks 3 same-cmdline children that are gone after a SIGTERM'd clean exit" {
    start_sim --epochs 100000 --epoch-time 0.05 --workers 3
    wait_for 10 out_has '^Started 3 workers:'
    marked_count_is 4
    for pid in $(marked_pids); do
        [ "$pid" = "$SIM_PID" ] && continue
        [ "$(stat_field "$pid" 4)" = "$SIM_PID" ]
        cmp "/proc/$pid/cmdline" "/proc/$SIM_PID/cmdline"
    done
    wait_for 10 out_has '^Epoch 2/'
    kill -TERM "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    out_has '^Received SIGTERM, checkpoint saved to '
    no_marked_pids
}

@test "workers outlive a SIGKILLed parent (cleaning them up is the supervisor's job)" {
    start_sim --epochs 100000 --epoch-time 0.05 --workers 2
    wait_for 10 out_has '^Started 2 workers:'
    workers=$(marked_pids | grep -vx "$SIM_PID")
    kill -KILL "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 137 ]
    [ "$(echo "$workers" | wc -l)" -eq 2 ]
    for pid in $workers; do
        alive "$pid"
        [ "$(stat_field "$pid" 4)" != "$SIM_PID" ]
    done
}

@test "workers ignoring SIGTERM are SIGKILLed and reaped when training completes" {
    local t0 t1
    t0=$(date +%s%N)
    "$SIM" --checkpoint-dir "$CK" --epochs 2 --epoch-time 0 --workers 2 --ignore-term >"$OUT" 3>&-
    t1=$(date +%s%N)
    [ "$(tail -n 1 "$OUT")" = "Training complete" ]
    (((t1 - t0) / 1000000 >= 900))   # the 1 s grace period before SIGKILL
    no_marked_pids
}

@test "--orphan leaves a setsid()ed process in its own session that survives the parent" {
    start_sim --epochs 100000 --epoch-time 0.05 --orphan
    wait_for 10 out_has '^Started orphan pid'
    orphan=$(sed -n 's/^Started orphan pid \([0-9]*\).*/\1/p' "$OUT")
    [ -n "$orphan" ]
    [ "$(stat_field "$orphan" 6)" = "$orphan" ]   # session id
    [ "$(stat_field "$orphan" 4)" != "$SIM_PID" ] # reparented by the double fork
    cmp "/proc/$orphan/cmdline" "/proc/$SIM_PID/cmdline"
    kill -TERM "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    alive "$orphan"
    kill -KILL "$orphan"
    wait_for 5 is_dead "$orphan"
}

# ---- hangs, leaks, CPU, output volume -------------------------------------------

@test "--hang-at stops all output without using CPU; SIGTERM then exits 0 without a checkpoint" {
    start_sim --epochs 100000 --epoch-time 0.02 --hang-at 3 --print-rate 5000
    wait_for 10 out_has '^Hanging at epoch 3$'
    [ "$(last_epoch)" = 2 ]
    size=$(stat -c %s "$OUT")
    ticks=$(cpu_ticks "$SIM_PID")
    for i in $(seq 10); do   # a 0.5 s observation window
        sleep 0.05
        [ "$(stat -c %s "$OUT")" -eq "$size" ]
    done
    (($(cpu_ticks "$SIM_PID") - ticks <= 10))
    kill -TERM "$SIM_PID"
    wait_exit "$SIM_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$OUT")" = "Terminated while hung" ]
    run ! grep -q '^Received' "$OUT"
    [ ! -e "$CK" ]
}

@test "--leak-mb grows resident memory every epoch" {
    start_sim --epochs 100000 --epoch-time 0.05 --leak-mb 8
    wait_for 10 out_has '^Epoch 4/'
    rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SIM_PID/status")
    ((rss_kb >= 4 * 8 * 1024))
}

@test "--cpu-burn keeps the main process and its workers busy" {
    start_sim --epochs 100000 --epoch-time 0.2 --cpu-burn --workers 1
    wait_for 10 out_has '^Epoch 3/'
    worker=$(marked_pids | grep -vx "$SIM_PID")
    # >= 0.6 s of wall time has passed; ask for a loose 0.2 s of CPU each.
    (($(cpu_ticks "$SIM_PID") >= 20))
    (($(cpu_ticks "$worker") >= 20))
}

@test "--print-rate prints numbered ~100-byte data lines at roughly the requested rate, smoothly" {
    "$SIM" --checkpoint-dir "$CK" --epochs 4 --epoch-time 0.25 --print-rate 20000 >"$OUT"
    grep '^data ' "$OUT" >data
    bytes=$(wc -c <data)
    ((bytes >= 20000 * 30 / 100 && bytes <= 20000 * 3))
    awk '$2 != NR || $1 != "data" || length($0) < 90 || length($0) > 110 { print "bad: " $0; exit 1 }' data
    # Paced across the epoch, not dumped once per epoch.
    before_first_epoch=$(sed '/^Epoch 1\//q' "$OUT" | grep -c '^data ')
    ((before_first_epoch >= 10))
    [ "$(tail -n 1 "$OUT")" = "Training complete" ]
}

# ---- usage ---------------------------------------------------------------------

@test "--help lists every option and exits 0" {
    run "$SIM" --help
    [ "$status" -eq 0 ]
    for opt in --epochs --epoch-time --checkpoint-every --checkpoint-dir --resume --crash-at \
        --crash-always --hang-at --leak-mb --ignore-term --workers --orphan --cpu-burn \
        --print-rate --seed --help; do
        grep -qe "^ *\(-h, \)\?$opt " <<<"$output"
    done
}

@test "bad --epochs values exit 2 naming the option and the value" {
    run --separate-stderr "$SIM" --epochs abc
    [ "$status" -eq 2 ]
    [ "$stderr" = "train-sim: --epochs: expected a positive integer, got 'abc'" ]
    run --separate-stderr "$SIM" --epochs 0
    [ "$status" -eq 2 ]
    [[ $stderr == "train-sim: --epochs: "*"'0'" ]]
    run --separate-stderr "$SIM" --epochs
    [ "$status" -eq 2 ]
    [[ $stderr == "train-sim: --epochs: "* ]]
    [ -z "$output" ]
}

@test "other bad numbers exit 2 naming the option" {
    for args in "--epoch-time -1" "--epoch-time x" "--checkpoint-every -2" "--workers 5000" \
        "--leak-mb 1.5" "--seed -1" "--crash-at 0" "--hang-at z" "--print-rate 1k"; do
        run --separate-stderr "$SIM" $args
        [ "$status" -eq 2 ]
        [[ $stderr == "train-sim: ${args%% *}: expected "* ]]
    done
}

@test "an unknown option or a stray argument exits 2 naming it" {
    run --separate-stderr "$SIM" --bogus
    [ "$status" -eq 2 ]
    [[ $stderr == train-sim:*"'--bogus'"* ]]
    run --separate-stderr "$SIM" stray
    [ "$status" -eq 2 ]
    [[ $stderr == train-sim:*"'stray'"* ]]
    run --separate-stderr "$SIM" --crash-always
    [ "$status" -eq 2 ]
    [[ $stderr == "train-sim: --crash-always: "* ]]
}

@test "--resume of a missing or unparseable file exits 2 naming the file" {
    run --separate-stderr "$SIM" --resume /nonexistent
    [ "$status" -eq 2 ]
    [[ $stderr == "train-sim: --resume: "*"'/nonexistent'"* ]]
    [ -z "$output" ]
    echo 'not json at all' >garbage.json
    run --separate-stderr "$SIM" --resume garbage.json
    [ "$status" -eq 2 ]
    [[ $stderr == "train-sim: --resume: "*"'garbage.json'"* ]]
    echo '{"epoch": 3, "epochs": 5, "loss": 1.0, "seed": 1}' >norng.json
    run --separate-stderr "$SIM" --resume norng.json
    [ "$status" -eq 2 ]
    [[ $stderr == *'"rng"'* ]]
}
