#!/bin/bash
# A private single-node Slurm cluster for the tests, in a directory of its own:
#   tests/slurm/cluster.sh start DIR    start munged, slurmctld and slurmd
#   tests/slurm/cluster.sh stop DIR     stop them again
#   tests/slurm/cluster.sh check        exit 0 when Slurm and munge are installed
# After start, DIR/env holds the SLURM_CONF to export to every Slurm command.
# munged gets its own key and socket under DIR; the daemons listen on free
# private ports; nothing of the machine's own Slurm or munge setup is used.
# The node has two fake GPUs (character devices like /dev/null, which is what
# gres.conf accepts) and the partitions "debug" (the default) and "short".
set -eu

PROGRAMS="munged mungekey sbatch squeue scontrol scancel sinfo slurmctld slurmd"

check() {
	local p
	for p in $PROGRAMS; do
		PATH="$PATH:/usr/sbin:/sbin" command -v "$p" >/dev/null || {
			echo "$p not found (install slurmctld slurmd slurm-client munge)"
			return 1
		}
	done
}

# A TCP port nobody listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {
	local dir=$1 ctld_port slurmd_port
	ctld_port=$(free_port)
	slurmd_port=$(free_port)
	while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
	cat >"$dir/slurm.conf" <<CONF
ClusterName=trainctl-test
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=3600
KillWait=10
ReturnToService=2
GresTypes=gpu
NodeName=node1 NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=2 RealMemory=1000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=node1 MaxTime=1 State=UP
CONF
	cat >"$dir/gres.conf" <<CONF
NodeName=node1 Name=gpu File=$dir/dev/gpu[0-1]
CONF
}

start() {
	local dir=$1 deadline
	check >&2 || exit 1
	export PATH="$PATH:/usr/sbin:/sbin"
	mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/dev"
	# munged refuses a socket below a directory others cannot traverse.
	chmod 0755 "$dir" "$dir/munge"
	d=$dir
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		chmod o+x "$d" 2>/dev/null || true
	done
	for i in 0 1; do
		[ -c "$dir/dev/gpu$i" ] || mknod "$dir/dev/gpu$i" c 1 3
	done
	mungekey --create --keyfile "$dir/munge/munge.key" --force 2>/dev/null ||
		dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
	chmod 0400 "$dir/munge/munge.key"
	munged --force --socket "$dir/munge/munge.socket" --key-file "$dir/munge/munge.key" \
		--pid-file "$dir/munge/munged.pid" --log-file "$dir/munge/munged.log" \
		--seed-file "$dir/munge/munged.seed"
	write_conf "$dir"
	export SLURM_CONF="$dir/slurm.conf"
	echo "export SLURM_CONF='$dir/slurm.conf'" >"$dir/env"
	slurmctld -f "$SLURM_CONF"
	slurmd -f "$SLURM_CONF" -N node1
	deadline=$((SECONDS + 30))
	until sinfo -h -o '%T' 2>/dev/null | grep -qE '^idle'; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "the test cluster did not come up in 30s; its logs:" >&2
			tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd.log "$dir/munge/munged.log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

# Stop a daemon by its pid file and wait until it is gone.
stop_pidfile() {
	local file=$1 pid deadline
	[ -f "$file" ] || return 0
	pid=$(cat "$file")
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || return 0
	deadline=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill -9 "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.05
	done
}

stop() {
	local dir=$1
	export SLURM_CONF="$dir/slurm.conf"
	# Jobs still running end with the cluster.
	[ -f "$SLURM_CONF" ] && scancel --full -s KILL -u "$(id -un)" 2>/dev/null || true
	stop_pidfile "$dir/slurmd.pid"
	stop_pidfile "$dir/slurmctld.pid"
	stop_pidfile "$dir/munge/munged.pid"
}

case "${1:-}" in
start) start "$2" ;;
stop) stop "$2" ;;
check) check ;;
*)
	echo "usage: $0 start|stop DIR, or $0 check" >&2
	exit 2
	;;
esac
