# Shared helpers for the bats scenarios. Each test gets its own
# TRAINCTL_HOME under $BATS_TEST_TMPDIR, and teardown kills every process
# that carries that home in its environment (daemon, shims, jobs and their
# descendants all inherit it), then waits until they are gone.

bats_require_minimum_version 1.5.0

ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
BUILD="${BUILD:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
TRAINCTL="${TRAINCTL:-$BUILD/trainctl}"
TRAIN_SIM="${TRAIN_SIM:-$BUILD/train-sim}"

# Every test: a private home, a work directory, and $CK, a per-test path put
# on train-sim command lines so that their processes can be found by it.
setup_home() {
	[ -x "$TRAINCTL" ] || {
		echo "trainctl not built at $TRAINCTL (run make)" >&2
		return 1
	}
	export TRAINCTL_HOME="$BATS_TEST_TMPDIR/home"
	# No configuration file of the user's may change what a test sees.
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
	unset TRAINCTL_CONFIG
	CK="$BATS_TEST_TMPDIR/ck"
	mkdir -p "$BATS_TEST_TMPDIR/work"
	cd "$BATS_TEST_TMPDIR/work"
}

# sim ARGS...: the train-sim command line, marked with this test's $CK.
sim() {
	echo "$TRAIN_SIM" --checkpoint-dir "$CK" "$@"
}

# start ARGS...: trainctl run ARGS, which must succeed; the id goes to $ID.
# start ARGS...: run a job, ID its id, once it is past starting (its pid known).
start() {
	ID=$(tc run "$@")
	[[ $ID =~ ^[0-9]+$ ]]
	wait_for 10 job_past_starting "$ID"
}

job_past_starting() {
	[ "$(job_field "$1" state)" != starting ]
}

job_ended() {
	case "$(job_field "$1" state)" in
	succeeded | failed | stopped | cancelled | lost) return 0 ;;
	*) return 1 ;;
	esac
}

# stat_field PID N: field N (1-based, as in proc(5)) of /proc/PID/stat.
stat_field() {
	local stat rest
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	read -r -a rest <<<"$rest"
	echo "${rest[$(($2 - 3))]}"
}

tc() {
	"$TRAINCTL" "$@"
}

# Is PID a live process? A zombie counts as dead.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds or time runs out.
wait_for() {
	local limit=$1
	shift
	local deadline=$((SECONDS + limit))
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out after ${limit}s waiting for: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# Live pids whose environment carries this test's TRAINCTL_HOME.
home_pids() {
	local f pid
	for f in $(grep -lzxF "TRAINCTL_HOME=$TRAINCTL_HOME" /proc/[0-9]*/environ 2>/dev/null); do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[ "$pid" = "$$" ] && continue
		alive "$pid" && echo "$pid"
	done
	return 0
}

# Live pids whose command line contains STRING.
pids_matching() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		if { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -- "$1"; then
			alive "$pid" && echo "$pid"
		fi
	done
	return 0
}

no_home_pids() {
	[ -z "$(home_pids)" ]
}

# The cgroup subtree of this home's jobs: trainctl/<FNV-1a of the home path>
# (as lib/cgroup.c names it), under each cgroup hierarchy.
home_cgroup_name() {
	local h=2166136261 i c
	for ((i = 0; i < ${#TRAINCTL_HOME}; i++)); do
		printf -v c '%d' "'${TRAINCTL_HOME:i:1}"
		h=$(((h ^ (c & 255)) * 16777619 & 0xffffffff))
	done
	printf 'trainctl/%08x\n' "$h"
}

# Jobs killed with SIGKILL leave their cgroups behind: remove this home's.
remove_home_cgroups() {
	local name dir
	name=$(home_cgroup_name)
	for dir in /sys/fs/cgroup/"$name" /sys/fs/cgroup/*/"$name"; do
		[ -d "$dir" ] || continue
		rmdir "$dir"/job-* "$dir" 2>/dev/null || true
	done
}

teardown_home() {
	local pids
	[ -n "${TRAINCTL_HOME:-}" ] || return 0
	pids=$(home_pids)
	[ -n "$pids" ] && kill -9 $pids 2>/dev/null
	wait_for 10 no_home_pids || true
	remove_home_cgroups
}

# job_field JOB FIELD: one field of the job's JSON object (raw).
job_field() {
	tc show "$1" --json | jq -r ".$2"
}

job_state_is() {
	[ "$(job_field "$1" state)" = "$2" ]
}

# Does the job's log contain TEXT?
log_has() {
	tc log "$1" | grep -qF -- "$2"
}

# tally FAULT COUNT [LOST]: record an injected fault that the test survived,
# for docs/RELIABILITY.md (scripts/reliability-report reads $BUILD/faults.tsv).
tally() {
	printf '%s\t%s\t%s\n' "$1" "$2" "${3:-nothing}" >>"$BUILD/faults.tsv"
}

daemon_pid() {
	cat "$TRAINCTL_HOME/run/daemon.lock" 2>/dev/null
}

daemon_dead() {
	! alive "$1"
}

not_alive() {
	! alive "$1"
}

# No process of this home is left but the daemon (no shim, no job).
only_daemon_left() {
	# Collect first: a `sort` still reading would itself carry the home.
	local home daemons
	home=$(home_pids)
	daemons=$(daemon_pids)
	[ "$(sort <<<"$home")" = "$(sort <<<"$daemons")" ]
}

# The parent pid of PID (field 4 of /proc/PID/stat).
ppid_of() {
	local stat
	stat=$(cat "/proc/$1/stat") || return 1
	stat=${stat##*) }
	set -- $stat
	echo "$2"
}

# Live daemon processes for this home ("trainctl daemon --foreground").
daemon_pids() {
	local pid
	for pid in $(home_pids); do
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'daemon --foreground'; then
			echo "$pid"
		fi
	done
}

# Kill the daemon with SIGKILL and wait until it is dead.
crash_daemon() {
	local pid
	pid=$(daemon_pid)
	[ -n "$pid" ] && alive "$pid"
	kill -9 "$pid"
	wait_for 5 daemon_dead "$pid"
	CRASHED_PID=$pid
}


# use_fake_gpus FILE: GPU commands use the fake NVML (tests/fake-nvml), which
# describes GPUs and their processes from FILE (read again at every snapshot).
use_fake_gpus() {
	export TRAINCTL_NVML_LIB="$BUILD/tests/fake-nvml/libnvidia-ml.so.1"
	export TRAINCTL_FAKE_NVML="$1"
}
