# shellcheck shell=bash
# A private one-host Slurm cluster for the tests: munged, slurmctld and slurmd with their own
# key, config, ports, sockets, spool and state directories under one work directory, so it
# neither needs nor disturbs a system Slurm or munge. Works as root without systemd or cgroups.
# Source it, then:
#   cluster_start DIR     start the daemons (DIR must exist); exports SLURM_CONF; fails with a
#                         message naming the log to read if the node does not come up
#   cluster_stop          stop what cluster_start started (safe to call twice, or after a failure)
# Needs Debian's slurmctld, slurmd, slurm-client and munge (scripts/setup installs them).

cluster_pids=()

cluster_fail() {
  echo "FAIL: slurm cluster: $*" >&2
  return 1
}

# A TCP port nobody is listening on, so two clusters on one machine do not collide.
cluster_free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cluster_start() {
  local dir=$1 host mem node port_ctld port_d state t tool
  export PATH=$PATH:/usr/sbin
  for tool in munged mungekey slurmctld slurmd sbatch scontrol sinfo squeue scancel; do
    command -v "$tool" >/dev/null ||
      { cluster_fail "$tool not found: install slurmctld slurmd slurm-client munge (scripts/setup)"; return 1; }
  done
  mkdir -p "$dir"/{munge,spool,state,log}
  chmod 700 "$dir" "$dir/munge"

  # munge: a fresh key and a private socket (AuthInfo below points Slurm at it).
  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" --force || {
    tail -n 5 "$dir/log/munged.log" >&2 2>/dev/null
    cluster_fail "munged did not start"
    return 1
  }
  cluster_pids+=("$(cat "$dir/munge/munged.pid")")

  # The node as slurmd sees it (name, CPUs, sockets, cores, threads, memory): a node configured
  # with more than it has would be drained.
  node=$(slurmd -C 2>&1 | sed -n 1p)
  [[ $node == NodeName=* ]] || { cluster_fail "slurmd -C failed: $node"; return 1; }
  host=${node%% *}
  host=${host#NodeName=}
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  node=${node/RealMemory=$mem/RealMemory=$((mem / 2))}
  port_ctld=$(cluster_free_port)
  port_d=$(cluster_free_port)
  cat >"$dir/slurm.conf" <<EOF
ClusterName=feddifftest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# Quick turnover for tests: kill 10 s after the time limit's SIGTERM, forget jobs after 10 min.
KillWait=10
MinJobAge=600
InactiveLimit=0
SlurmdTimeout=60
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=30 State=UP
EOF
  export SLURM_CONF=$dir/slurm.conf
  # Foreground daemons (-D) in the background: their pids are ours to stop, no pid-file races.
  slurmctld -D -i -f "$SLURM_CONF" >>"$dir/log/slurmctld.out" 2>&1 &
  cluster_pids+=($!)
  slurmd -D -f "$SLURM_CONF" >>"$dir/log/slurmd.out" 2>&1 &
  cluster_pids+=($!)

  for ((t = 0; t < 60; t++)); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null | sed -n 1p)
    [ "$state" = idle ] && return 0
    sleep 1
  done
  echo "--- sinfo: ${state:-no answer}; slurmctld.log:" >&2
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmctld.out" >&2 2>/dev/null
  echo "--- slurmd.log:" >&2
  tail -n 20 "$dir/log/slurmd.log" "$dir/log/slurmd.out" >&2 2>/dev/null
  cluster_fail "node $host not idle after 60 s"
}

cluster_stop() {
  local pid
  # Jobs first, so that no slurmstepd outlives the daemons it reports to.
  if [ ${#cluster_pids[@]} -gt 0 ] && scancel --quiet --full --user="$(id -un)" 2>/dev/null; then
    for _ in {1..20}; do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 1
    done
  fi
  for pid in "${cluster_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${cluster_pids[@]}"; do
    for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  cluster_pids=()
}
