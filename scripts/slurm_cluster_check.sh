#!/usr/bin/env bash
# Prove the workflow on a real SLURM cluster: start a throwaway single-node cluster on this machine
# (munge, MariaDB, slurmdbd, slurmctld, slurmd from Debian's packages; all state in a temporary
# folder), run a tiny configuration through `snakemake --executor slurm` with config/profiles/slurm,
# check the results and SLURM's accounting, and stop every daemon this script started.
#
# Needs root and Debian's packages (installed here if missing). Exits 0 with "SKIPPED: <why>" where
# they cannot be had. Usage: scripts/slurm_cluster_check.sh [results-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}

skip() { echo "SKIPPED: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root to start munge, MariaDB and the SLURM daemons"
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  command -v apt-get >/dev/null || skip "no apt-get to install slurm-wlm, slurmdbd, munge, mariadb-server"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server) \
    >/tmp/microexpr-slurm-apt.log 2>&1 || skip "could not install the packages (see /tmp/microexpr-slurm-apt.log)"
fi

# the SLURM executor plugin (extra `slurm`) for this run only: removed again if it was not there before,
# since its start-up probes slow every snakemake call on a machine whose SLURM has no controller
PLUGIN_ADDED=0
if ! "$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
  "$PY" -m pip install --quiet -e "$ROOT[slurm]" || skip "could not install the SLURM executor plugin (extra slurm)"
  PLUGIN_ADDED=1
fi

D=$(mktemp -d /tmp/microexpr-slurm.XXXXXX)
RESULTS=${1:-$D/results}
HOST=$(hostname -s)
PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 2
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  echo "stopped ${#PIDS[@]} daemons; state and logs in $D"
  if [ "$PLUGIN_ADDED" = 1 ]; then
    "$PY" -m pip uninstall --quiet -y snakemake-executor-plugin-slurm snakemake-executor-plugin-slurm-jobstep || true
  fi
}
trap stop_all EXIT

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "FAILED: $what did not come up"; tail -n 20 "$D"/*.log 2>/dev/null || true; exit 1
}

# munge: a fresh key for this throwaway cluster; the SLURM client tools only use munge's default socket
[ -S /run/munge/munge.socket.2 ] && skip "a munged is already running here; not touching a live cluster"
{ pgrep -x slurmctld || pgrep -x slurmd || pgrep -x slurmdbd; } >/dev/null && skip "SLURM daemons are already running here; not touching a live cluster"
mkdir -p "$D/munge" /run/munge && chmod 700 "$D/munge"
dd if=/dev/urandom bs=1 count=1024 of="$D/munge/munge.key" 2>/dev/null && chmod 400 "$D/munge/munge.key"
munged --force --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" --log-file="$D/munged.log" \
  --seed-file="$D/munge/seed" --num-threads=10
wait_for 10 munged test -S /run/munge/munge.socket.2
PIDS+=("$(cat "$D/munge/munged.pid")")

# MariaDB for slurmdbd (so that sacct works)
mkdir -p "$D/mysql" "$D/mysqld"
DBPORT=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
mariadb-install-db --user=root --datadir="$D/mysql" --auth-root-authentication-method=normal >"$D/mariadb-install.log" 2>&1
mariadbd --user=root --datadir="$D/mysql" --socket="$D/mysqld/mysqld.sock" --skip-networking=0 \
  --bind-address=127.0.0.1 --port="$DBPORT" --pid-file="$D/mysqld/mysqld.pid" >"$D/mariadb.log" 2>&1 &
PIDS+=("$!")
wait_for 60 MariaDB mariadb --socket="$D/mysqld/mysqld.sock" -uroot -e "select 1"
mariadb --socket="$D/mysqld/mysqld.sock" -uroot -e "CREATE DATABASE slurm_acct_db; CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

mkdir -p "$D/state" "$D/spool"
cat >"$D/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$D/slurmdbd.pid
LogFile=$D/slurmdbd.log
CONF
chmod 600 "$D/slurmdbd.conf"
cat >"$D/slurm.conf" <<CONF
ClusterName=microexpr
SlurmctldHost=$HOST
SlurmctldParameters=enable_configless
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
DefMemPerCPU=1000
NodeName=$HOST CPUs=$(nproc) RealMemory=$(( $(free -m | awk '/Mem:/ {print $2}') - 2000 )) State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$D/slurm.conf"

slurmdbd -D >"$D/slurmdbd.out" 2>&1 &
PIDS+=("$!")
wait_for 30 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster microexpr >/dev/null
slurmctld -D -f "$SLURM_CONF" >"$D/slurmctld.out" 2>&1 &
PIDS+=("$!")
wait_for 30 slurmctld scontrol ping
# configless: slurmd fetches the configuration from slurmctld and hands it to job steps (srun)
slurmd -D --conf-server "$HOST" >"$D/slurmd.out" 2>&1 &
PIDS+=("$!")
wait_for 30 "slurmd (node idle)" sh -c "sinfo -h -o %T | grep -q idle"
echo "cluster up: $(sinfo -h -o '%P %D %T %c CPUs')"

# the tiny workflow through the SLURM executor, with the project's profile and local overrides
START=$(date +%s)
tiny() {  # tiny [TARGET]: the tiny configuration through the SLURM executor
  "$PY" -m snakemake "$@" --profile config/profiles/slurm \
    --default-resources slurm_account=root slurm_partition=debug \
    --set-resources train_fold:cpus_per_task=1 \
    --slurm-init-seconds-before-status-checks 2 --jobs 4 --retries 0 --latency-wait 5 \
    --config "results=$RESULTS" name=slurm_tiny \
    "synthetic={subjects: 2, clips_per_subject: 3, height: 64, width: 56}" "images={size: 32}" \
    "train={width: 8, max_epochs: 2, patience: 5, batch_size: 16}" \
    "experiments={seeds: [0], samplers: [none, random]}"
}
tiny
# a study on the cluster: only the sampler 'none' folds are new (the 'random' run is the one above)
tiny ablation_sampler
ELAPSED=$(( $(date +%s) - START ))
[ -s "$RESULTS/slurm_tiny/experiments/ablation_sampler/report.html" ] || { echo "FAILED: no study page"; exit 1; }
echo "study: $(tail -n +2 "$RESULTS/slurm_tiny/experiments/ablation_sampler/summary.tsv" | cut -f1 | tr '\n' ' ')on the cluster"

REPORT=$(find "$RESULTS/slurm_tiny/reports" -name metrics.json | head -1)
[ -n "$REPORT" ] || { echo "FAILED: no report"; exit 1; }
"$PY" - "$REPORT" <<'PYCHECK'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["n_folds"] == 2 and m["n_clips"] == 6, m
print(f"report: {m['n_folds']} folds, {m['n_clips']} clips, pooled accuracy {m['pooled']['accuracy']:.3f}")
PYCHECK
JOBS=$(sacct -n -X -o JobID,JobName%40,State | grep -c COMPLETED || true)
echo "sacct: $JOBS SLURM jobs COMPLETED"
[ "$JOBS" -ge 1 ] || { echo "FAILED: sacct shows no completed job"; sacct -X; exit 1; }
echo "SLURM check passed in ${ELAPSED}s"
