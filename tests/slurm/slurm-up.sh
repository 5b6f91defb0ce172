#!/usr/bin/env bash
# Starts a one-node SLURM from Debian's packages (munged, slurmctld, slurmd) in a
# scratch directory, without systemd, bound to loopback, and waits until the node is
# idle. The daemons run as the calling user (root or not). Prints the directory;
# source DIR/env for SLURM_CONF. Stop with slurm-down.sh DIR.
# Usage: tests/slurm/slurm-up.sh [DIR]
set -euo pipefail
dir=${1:-$(mktemp -d /tmp/rsdat-slurm-XXXXXX)}
mkdir -p "$dir"/{state,spool,log,munge}
chmod 700 "$dir" "$dir/munge"
node=$(hostname -s)

for tool in munged slurmctld slurmd sinfo sbatch; do
  command -v "$tool" >/dev/null || { echo "slurm-up: $tool is missing (apt install munge slurmctld slurmd slurm-client)" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [[ "$slurmd_port" == "$ctld_port" ]]; do slurmd_port=$(free_port); done

# munge: a fresh key, a private socket.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"

# The node as slurmd sees it, with room for a scheduler and a few workers on two cores.
memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
memory=$(( memory > 16000 ? 16000 : memory ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=rsdattest
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
AuthType=auth/munge
AuthInfo=socket=${dir}/munge/munge.socket
CredType=cred/munge
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
KillWait=5
MinJobAge=30
InactiveLimit=0
MessageTimeout=10
PlugStackConfig=${dir}/plugstack.conf
NodeName=${node} NodeAddr=127.0.0.1 CPUs=8 RealMemory=${memory} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
CONF
: > "$dir/plugstack.conf"
cat > "$dir/env" <<ENV
export SLURM_CONF=${dir}/slurm.conf
ENV

slurmctld -f "$dir/slurm.conf" -i
slurmd -f "$dir/slurm.conf"
export SLURM_CONF=$dir/slurm.conf
for _ in $(seq 1 120); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
  if [[ "$state" == "idle" ]]; then
    echo "$dir"
    exit 0
  fi
  sleep 0.5
done
echo "slurm-up: the node did not become idle (state '${state:-none}'); logs in $dir/log" >&2
tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1
