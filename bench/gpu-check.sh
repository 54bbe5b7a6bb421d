#!/bin/bash
# On a machine with an NVIDIA GPU: build trainctl, show what it sees of the
# real GPUs next to nvidia-smi's view, then run a small CUDA job (PyTorch)
# under `trainctl run --gpus 1`, find it on the GPU with `gpu ps`, and stop it
# with `gpu kill`. Prints everything it saw; exits 1 if a step failed.
#
#   bench/gpu-check.sh            (uses a private TRAINCTL_HOME, removed at the end)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
T=$BUILD/trainctl
failed=0

step() {
	printf '\n== %s\n' "$*"
}

# check DESCRIPTION COMMAND...: run it, show its output, remember a failure.
check() {
	local what=$1
	shift
	step "$what"
	if ! "$@"; then
		echo "FAILED: $what"
		failed=1
	fi
}

step "build"
make -j"$(nproc)" BUILD="$BUILD" >/dev/null || {
	echo "FAILED: make"
	exit 1
}
echo "built $T"

unset TRAINCTL_NVML_LIB TRAINCTL_FAKE_NVML
TRAINCTL_HOME=$(mktemp -d "${TMPDIR:-/tmp}/trainctl-gpu-check.XXXXXX")
export TRAINCTL_HOME
trap '"$T" daemon stop >/dev/null 2>&1; rm -rf "$TRAINCTL_HOME"' EXIT

if command -v nvidia-smi >/dev/null; then
	check "nvidia-smi, for comparison" nvidia-smi \
		--query-gpu=index,name,uuid,pci.bus_id,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,power.limit \
		--format=csv
else
	step "nvidia-smi: not installed, nothing to compare with"
fi
check "trainctl gpu --json" "$T" gpu --json
check "trainctl gpu" "$T" gpu
check "trainctl gpu ps" "$T" gpu ps

step "a CUDA job under trainctl run --gpus 1"
if ! reason=$(python3 -c 'import torch, sys
if not torch.cuda.is_available(): sys.exit("torch %s has no usable CUDA device" % torch.__version__)' 2>&1); then
	echo "skipped: python3 with CUDA-enabled PyTorch is not available (${reason##*$'\n'})"
	exit "$failed"
fi

job_py=$TRAINCTL_HOME/cuda_job.py
cat >"$job_py" <<'PY'
import os, time, torch
print("CUDA_VISIBLE_DEVICES=%s" % os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
print("device: %s" % torch.cuda.get_device_name(0), flush=True)
x = torch.randn(8192, 8192, device="cuda")  # 256 MiB, and the matmuls keep the SMs busy
for epoch in range(1, 601):
    for _ in range(20):
        y = x @ x
    torch.cuda.synchronize()
    print("Epoch %d/600 norm=%.3f" % (epoch, y.norm().item()), flush=True)
    time.sleep(0.1)
PY

if ! id=$("$T" run --gpus 1 -n gpu-check -- python3 "$job_py"); then
	echo "FAILED: trainctl run --gpus 1"
	exit 1
fi
echo "job $id started"

# Wait (up to 120 s) until the job's process shows up on a GPU.
pid=
for _ in $(seq 1200); do
	pid=$("$T" gpu ps --json | python3 -c 'import json, sys
procs = [p for p in json.load(sys.stdin) if p["job"] and p["job"]["id"] == int(sys.argv[1])]
print(procs[0]["pid"] if procs else "")' "$id")
	[ -n "$pid" ] && break
	case "$("$T" show "$id" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')" in
	running | starting) sleep 0.1 ;;
	*) break ;;
	esac
done
check "the job's log so far" "$T" log "$id" -n 5
check "trainctl ls" "$T" ls
if [ -z "$pid" ]; then
	echo "FAILED: job $id never appeared in 'trainctl gpu ps' with its job id"
	failed=1
	"$T" stop "$id" -t 10s
else
	check "trainctl gpu (the job should be listed with its id)" "$T" gpu
	check "trainctl gpu kill $pid (stops job $id)" "$T" gpu kill -t 10s "$pid"
fi
check "trainctl show $id" "$T" show "$id"
if [ "$failed" -eq 0 ]; then
	step "all steps passed"
else
	step "some steps FAILED"
fi
exit "$failed"
