#!/usr/bin/env bash
# scripts/slurm-local-setup.sh — the project's dev cluster: a real single-node Slurm (munged +
# slurmctld + slurmd from the distribution's packages) on this machine, without systemd. The cluster
# resource's Slurm backend and tests/cluster run against it (docs/cluster.md).
#
# Usage (as root):
#   bash scripts/slurm-local-setup.sh                    # install if needed, configure, start, wait until the node is idle
#   bash scripts/slurm-local-setup.sh --check            # same, then run a smoke-test job
#   bash scripts/slurm-local-setup.sh --with-accounting  # also mariadb + slurmdbd so `sacct` works
#                                                        # (or SLURM_WITH_ACCOUNTING=1)
#   bash scripts/slurm-local-setup.sh status
#   bash scripts/slurm-local-setup.sh stop               # stop the daemons recorded in our PID files
#
# Idempotent: packages are installed only if missing, the config is rewritten only when it changed
# (the Slurm daemons are restarted then), daemons are started only when not running. About 12-16 s
# from scratch on Debian 12 (Slurm 22.05, munge 0.5.15), under a second when already up.
# Finished jobs stay visible to `scontrol show job` for an hour (MinJobAge=3600), so a retried
# Dagster run can reattach to a job that completed while no run watched it.
# Based on ../shared/tools/slurm-local-setup.sh (provided for this purpose).
set -euo pipefail

NODE="$(hostname -s)"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGDIR=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
DBD_PID=/run/slurmdbd.pid
MARIADB_PID=/run/mysqld/mysqld.pid
MARIADB_SOCK=/run/mysqld/mysqld.sock
WAIT_S="${SLURM_SETUP_WAIT_S:-60}"
ACCOUNTING="${SLURM_WITH_ACCOUNTING:-0}"
CHECK=0
DB_PASS=slurmdbpass   # local-only test cluster: mariadb listens on 127.0.0.1 and a unix socket only

log() { printf '[slurm-setup %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() {
  log "ERROR: $*"
  for f in "$LOGDIR/slurmctld.log" "$LOGDIR/slurmd.log" "$LOGDIR/slurmdbd.log"; do
    if [ -f "$f" ]; then echo "--- tail $f"; tail -n 20 "$f"; fi
  done
  exit 1
}

# pid_alive PIDFILE EXPECTED_COMM -> 0 if the pid in PIDFILE is alive and is that program
pid_alive() {
  local f=$1 comm=$2 pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc 0-9 <"$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  # Debian installs slurmctld-wlm / slurmd-wlm behind alternatives; comm may carry a suffix
  case "$(cat "/proc/$pid/comm")" in "$comm"*) return 0 ;; *) return 1 ;; esac
}

stop_one() {  # stop_one PIDFILE COMM : kill only the pid recorded in that pid file
  local f=$1 comm=$2 pid i
  if pid_alive "$f" "$comm"; then
    pid=$(tr -dc 0-9 <"$f"); log "stopping $comm (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$comm pid $pid did not exit; SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

do_stop() {
  stop_one "$SLURMD_PID" slurmd
  stop_one "$CTLD_PID" slurmctld
  stop_one "$DBD_PID" slurmdbd
  stop_one "$MARIADB_PID" mariadbd
  stop_one "$MUNGE_PID" munged
}

do_status() {
  local x
  for x in "$MUNGE_PID munged" "$MARIADB_PID mariadbd" "$DBD_PID slurmdbd" "$CTLD_PID slurmctld" "$SLURMD_PID slurmd"; do
    set -- $x
    if pid_alive "$1" "$2"; then echo "$2: running (pid $(cat "$1"))"; else echo "$2: not running"; fi
  done
  if command -v sinfo >/dev/null; then sinfo 2>&1 || true; fi
}

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }

install_pkgs() {
  local pkgs=""
  command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v munged >/dev/null || pkgs="slurmctld slurmd slurm-client munge"
  if [ "$ACCOUNTING" = 1 ] && ! { command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; }; then
    pkgs="$pkgs slurmdbd mariadb-server"
  fi
  if [ -z "$pkgs" ]; then log "packages already installed (slurmctld $(pkg_version slurmctld))"; return; fi
  log "installing:$pkgs (no recommends)"
  export DEBIAN_FRONTEND=noninteractive
  local try
  for try in 1 2 3; do   # retry: transient registry hiccups, or another apt holding a lock
    # shellcheck disable=SC2086
    if apt-get -o DPkg::Lock::Timeout=300 update -qq \
       && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $pkgs >/dev/null; then
      break
    fi
    [ "$try" = 3 ] && die "apt-get install$pkgs failed"
    log "apt-get failed (try $try); retrying in 5 s"; sleep 5
  done
  log "installed slurmctld $(pkg_version slurmctld), munge $(pkg_version munge)"
}

setup_munge() {
  local i
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then   # Debian's munge postinst normally creates it
    log "creating munge key"
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key /var/lib/munge /var/log/munge /run/munge
  chmod 0700 /etc/munge /var/log/munge; chmod 0400 /etc/munge/munge.key
  chmod 0711 /var/lib/munge; chmod 0755 /run/munge
  if pid_alive "$MUNGE_PID" munged; then log "munged already running (pid $(cat $MUNGE_PID))"
  else
    rm -f "$MUNGE_PID"
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged   # daemonizes; writes /run/munge/munged.pid
  fi
  for i in $(seq 1 50); do
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "munge self-test (munge -n | unmunge) failed"
}

write_conf() {
  local cpus mem_mb line tmp acct
  # hardware as slurmd detects it, e.g.
  # "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  line=$(slurmd -C | head -n1)
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$line")
  mem_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$line")
  [ -n "$cpus" ] && [ -n "$mem_mb" ] || die "could not parse 'slurmd -C' output: $line"
  mem_mb=$(( mem_mb * 90 / 100 ))   # headroom: a node reporting less than RealMemory gets drained
  line=$(sed -e "s/^NodeName=[^ ]*/NodeName=$NODE/" -e "s/RealMemory=[0-9]*/RealMemory=$mem_mb/" <<<"$line")
  if [ "$ACCOUNTING" = 1 ]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# generated by scripts/slurm-local-setup.sh - single-node dev cluster (mimo-pipeline)
ClusterName=localci
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without DefMemPerCPU every job is given the whole node's memory => jobs run one at a time
DefMemPerCPU=1024
SchedulerType=sched/backfill
# batch_sched_delay=0: batch jobs start ~0.4 s after submit instead of ~2.5 s
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
# reject impossible requests (e.g. -c 4 on a 2-CPU node) at submit time instead of leaving them PENDING forever
EnforcePartLimits=ALL
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$acct
JobCompType=jobcomp/none
# keep finished jobs visible to 'scontrol show job' for 1 h (sacct needs slurmdbd: --with-accounting)
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
$line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  mkdir -p /etc/slurm
  if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then rm -f "$tmp"; CONF_CHANGED=0
  else mv "$tmp" "$CONF"; chmod 0644 "$CONF"; CONF_CHANGED=1; log "wrote $CONF ($line)"; fi
}

start_accounting() {
  local i tmp
  [ "$ACCOUNTING" = 1 ] || return 0
  mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
  if pid_alive "$MARIADB_PID" mariadbd; then log "mariadbd already running (pid $(cat $MARIADB_PID))"
  else
    log "starting mariadbd (127.0.0.1 and $MARIADB_SOCK only)"
    setsid /usr/sbin/mariadbd --user=mysql --pid-file="$MARIADB_PID" --socket="$MARIADB_SOCK" \
      --bind-address=127.0.0.1 </dev/null >>"$LOGDIR/mariadbd.log" 2>&1 &
  fi
  for i in $(seq 1 $((WAIT_S * 5))); do
    if mysqladmin --socket="$MARIADB_SOCK" ping >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  mysqladmin --socket="$MARIADB_SOCK" ping >/dev/null 2>&1 || die "mariadb did not come up ($LOGDIR/mariadbd.log)"
  mysql --socket="$MARIADB_SOCK" -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  tmp=$(mktemp)
  printf '%s\n' "AuthType=auth/munge" "DbdHost=localhost" "DbdPort=6819" "SlurmUser=slurm" \
    "PidFile=$DBD_PID" "LogFile=$LOGDIR/slurmdbd.log" "DebugLevel=info" \
    "StorageType=accounting_storage/mysql" "StorageHost=localhost" "StorageUser=slurm" \
    "StoragePass=$DB_PASS" "StorageLoc=slurm_acct_db" >"$tmp"
  if [ -f "$DBD_CONF" ] && cmp -s "$tmp" "$DBD_CONF"; then rm -f "$tmp"
  else mv "$tmp" "$DBD_CONF"; log "wrote $DBD_CONF"; stop_one "$DBD_PID" slurmdbd; fi
  chown slurm:slurm "$DBD_CONF"; chmod 0600 "$DBD_CONF"
  if pid_alive "$DBD_PID" slurmdbd; then log "slurmdbd already running (pid $(cat $DBD_PID))"
  else log "starting slurmdbd"; /usr/sbin/slurmdbd; fi
  # sacctmgr talks to slurmdbd (needs slurm.conf with accounting_storage/slurmdbd, written above)
  for i in $(seq 1 $((WAIT_S * 5))); do
    if sacctmgr -n -P show cluster >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  sacctmgr -n -P show cluster >/dev/null 2>&1 || die "slurmdbd did not come up ($LOGDIR/slurmdbd.log)"
  if ! sacctmgr -n -P show cluster format=cluster | grep -qx localci; then
    log "registering cluster localci in slurmdbd"; sacctmgr -i add cluster localci >/dev/null
  fi
}

start_slurm() {
  local i
  mkdir -p "$STATE" "$SPOOL" "$LOGDIR"
  chown slurm:slurm "$STATE" "$LOGDIR"; chmod 0755 "$STATE" "$SPOOL" "$LOGDIR"
  if [ "${CONF_CHANGED:-0}" = 1 ] && { pid_alive "$CTLD_PID" slurmctld || pid_alive "$SLURMD_PID" slurmd; }; then
    log "config changed: restarting slurm daemons"
    stop_one "$SLURMD_PID" slurmd; stop_one "$CTLD_PID" slurmctld
  fi
  if pid_alive "$CTLD_PID" slurmctld; then log "slurmctld already running (pid $(cat $CTLD_PID))"
  else log "starting slurmctld"; /usr/sbin/slurmctld; fi
  for i in $(seq 1 $((WAIT_S * 5))); do
    if scontrol ping 2>/dev/null | grep -q 'is UP'; then break; fi
    sleep 0.2
  done
  scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld did not come up"
  if pid_alive "$SLURMD_PID" slurmd; then log "slurmd already running (pid $(cat $SLURMD_PID))"
  else log "starting slurmd"; /usr/sbin/slurmd; fi
}

wait_idle() {
  local st="" i
  for i in $(seq 1 $((WAIT_S * 5))); do
    st=$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true)
    case "$st" in
      idle|mixed|allocated|completing) log "node $NODE is $st"; return 0 ;;
      down*|drain*|fail*) log "node $NODE is $st; resuming"; scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.2
  done
  sinfo -R || true
  die "node $NODE not ready after ${WAIT_S}s (state '$st')"
}

smoke_test() {
  local d j st="" i
  d=$(mktemp -d /tmp/slurm-smoke.XXXXXX)
  j=$(sbatch --parsable -o "$d/out-%j.txt" --wrap 'echo "hello from $(hostname) job $SLURM_JOB_ID"')
  for i in $(seq 1 150); do
    st=$(scontrol show job "$j" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)
    case "$st" in *COMPLETED|*FAILED|*CANCELLED|*TIMEOUT|*NODE_FAIL|*OUT_OF_MEMORY) break ;; esac
    sleep 0.2
  done
  log "smoke job $j: $st: $(cat "$d/out-$j.txt" 2>/dev/null)"
  rm -rf "$d"
  [ "$st" = JobState=COMPLETED ] || die "smoke job did not complete"
  if [ "$ACCOUNTING" = 1 ]; then
    for i in $(seq 1 50); do
      if sacct -X -n -j "$j" -o State 2>/dev/null | grep -q COMPLETED; then break; fi
      sleep 0.2
    done
    log "sacct: $(sacct -X -n -P -j "$j" -o JobID,State,ExitCode 2>&1 | head -n1)"
  fi
}

main() {
  local a t0=$SECONDS
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons); try: sudo bash $0 $*"
  for a in "$@"; do
    case "$a" in
      stop) do_stop; return 0 ;;
      status) do_status; return 0 ;;
      --check) CHECK=1 ;;
      --with-accounting) ACCOUNTING=1 ;;
      *) die "unknown argument: $a" ;;
    esac
  done
  install_pkgs
  setup_munge
  mkdir -p "$LOGDIR"; chown slurm:slurm "$LOGDIR"
  write_conf
  start_accounting
  start_slurm
  wait_idle
  if [ "$CHECK" = 1 ]; then smoke_test; fi
  log "ready in $((SECONDS - t0))s: $(sinfo -h -o '%P %a %D %T %N' | head -n1)"
}

main "$@"
