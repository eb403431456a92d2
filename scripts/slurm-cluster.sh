#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for tests. No systemd; run as root.
#
#   slurm-cluster.sh start    install (if missing), configure, start, wait until the node is idle
#   slurm-cluster.sh stop     scontrol shutdown, stop munged, wait until every daemon is gone
#   slurm-cluster.sh status   daemons, sinfo, squeue; exit 0 only when the node is usable
#
# Idempotent: `start` on a running cluster only checks it; `stop` on a stopped one does nothing.
# Environment knobs (all optional):
#   SLURM_CPUS=2            CPUs of the node (default: nproc)
#   SLURM_REAL_MEMORY=MB    memory of the node (default: 90% of MemTotal)
#   SLURM_DEF_MEM_PER_CPU=1000  memory of a job that asks for none (without it a job takes the whole node)
#   SLURM_MIN_JOB_AGE=300   seconds a finished job stays visible to squeue (the plugin's squeue
#                           status command needs >= 3 x --slurm-init-seconds-before-status-checks)
#   SLURM_PARTITION=cpu     name of the (only, default) partition
#   SLURM_START_TIMEOUT=60  seconds to wait for the node to become idle
#   SLURM_ACCOUNTING=0      1: also install and run MariaDB + slurmdbd (job accounting, so `sacct`
#                           works: the plugin's default status command, failure reasons,
#                           --slurm-efficiency-report). Not needed with --slurm-status-command squeue.
set -euo pipefail

CONF_DIR=/etc/slurm                 # SLURM_CONF is cleared by the jobstep plugin: must be the default path
CONF=$CONF_DIR/slurm.conf
STATE=/var/lib/slurm-localhost      # our pid files
LOG_DIR=/var/log/slurm
SPOOL_CTLD=/var/spool/slurmctld
SPOOL_D=/var/spool/slurmd
MUNGE_RUN=/run/munge
ACCOUNTING=${SLURM_ACCOUNTING:-0}
DBD_CONF=$CONF_DIR/slurmdbd.conf
MYSQL_RUN=/run/mysqld
DB_PASS_FILE=/etc/slurm/.slurmdbd-db-password

log() { printf '[slurm-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root"

node_name() { hostname -s; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sinfo >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    if ((${#missing[@]})); then
        log "installing slurm-wlm munge (missing: ${missing[*]})"
        export DEBIAN_FRONTEND=noninteractive
        # apt-get update only when the package lists do not know the package yet
        apt-cache show slurm-wlm >/dev/null 2>&1 || timeout -k 10 300 apt-get update -qq
        timeout -k 10 600 apt-get install -y -q --no-install-recommends slurm-wlm munge >&2
    fi
    if [[ $ACCOUNTING == 1 ]] && ! { command -v slurmdbd && command -v mariadbd; } >/dev/null; then
        log "installing slurmdbd mariadb-server"
        export DEBIAN_FRONTEND=noninteractive
        apt-cache show slurmdbd >/dev/null 2>&1 || timeout -k 10 300 apt-get update -qq
        # policy-rc.d exit 101: the packages' postinst must not start daemons via init scripts
        local policy_created=0
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            policy_created=1
        fi
        local rc=0
        timeout -k 10 600 apt-get install -y -q --no-install-recommends slurmdbd mariadb-server >&2 || rc=$?
        ((policy_created)) && rm -f /usr/sbin/policy-rc.d
        ((rc == 0)) || die "apt-get install slurmdbd mariadb-server failed ($rc)"
    fi
}

write_config() {
    local cpus mem defmem minage part host tmp
    cpus=${SLURM_CPUS:-$(nproc)}
    mem=${SLURM_REAL_MEMORY:-$(awk '/^MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)}
    defmem=${SLURM_DEF_MEM_PER_CPU:-1000}
    minage=${SLURM_MIN_JOB_AGE:-300}
    part=${SLURM_PARTITION:-cpu}
    host=$(node_name)
    local acct_lines="JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none"
    if [[ $ACCOUNTING == 1 ]]; then
        acct_lines="JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost"
    fi
    mkdir -p "$CONF_DIR" "$STATE" "$LOG_DIR" "$SPOOL_CTLD" "$SPOOL_D"
    tmp=$(mktemp "$CONF_DIR/.slurm.conf.XXXXXX")
    cat >"$tmp" <<EOF
# Written by slurm-cluster.sh: a one-node test cluster on localhost.
ClusterName=localcluster
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
${acct_lines}
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=${defmem}
MinJobAge=${minage}
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=${SPOOL_CTLD}
SlurmdSpoolDir=${SPOOL_D}
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmdTimeout=300
InactiveLimit=0
KillWait=10
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=${part} Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
    if [[ -f $CONF ]] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        return 1  # unchanged
    fi
    chmod 644 "$tmp"
    mv -f "$tmp" "$CONF"
    log "wrote $CONF (CPUs=$cpus RealMemory=$mem DefMemPerCPU=$defmem MinJobAge=$minage partition=$part)"
    return 0
}

pid_alive() {  # pid_alive FILE NAME: the pid in FILE runs a process called NAME
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ -d /proc/$pid ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
    # a killed daemon stays in /proc as a zombie until reaped: not alive
    local state
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [[ $state != Z && $state != X && -n $state ]]
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if pid_alive $MUNGE_RUN/munged.pid munged && munge_ok; then
        return
    fi
    mkdir -p $MUNGE_RUN /var/log/munge /var/lib/munge /etc/munge
    chown munge:munge $MUNGE_RUN /var/log/munge /var/lib/munge
    chmod 755 $MUNGE_RUN
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key
    chmod 700 /etc/munge
    chmod 600 /etc/munge/munge.key
    # --force: a socket left behind by a killed munged would otherwise stop it from starting
    runuser -u munge -- munged --force
    for _ in $(seq 50); do munge_ok && return; sleep 0.1; done
    die "munged does not answer (see /var/log/munge/munged.log)"
}

daemon_running() {  # daemon_running NAME
    pid_alive "$STATE/$1.pid" "$1"
}

start_daemon() {  # start_daemon NAME: NAME -D in the background, detached from this shell
    local name=$1
    daemon_running "$name" && return
    # setsid + nohup: the daemon outlives this script and its terminal
    setsid nohup "$name" -D >>"$LOG_DIR/$name.stdout" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid"
}

mariadb_ok() { mariadb-admin --protocol=socket ping >/dev/null 2>&1; }

start_accounting() {
    if ! mariadb_ok; then
        mkdir -p $MYSQL_RUN
        chown mysql:mysql $MYSQL_RUN
        [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >&2
        setsid nohup mariadbd --user=mysql --bind-address=127.0.0.1 \
            >>"$LOG_DIR/mariadbd.stdout" 2>&1 </dev/null &
        echo $! >"$STATE/mariadbd.pid"
        for _ in $(seq 100); do mariadb_ok && break; sleep 0.2; done
        mariadb_ok || die "MariaDB does not answer (see $LOG_DIR/mariadbd.stdout)"
    fi
    if [[ ! -s $DB_PASS_FILE ]]; then
        head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DB_PASS_FILE"
        chmod 600 "$DB_PASS_FILE"
    fi
    local pass tmp
    pass=$(<"$DB_PASS_FILE")
    mariadb --protocol=socket -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
        ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pass';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    tmp=$(mktemp "$CONF_DIR/.slurmdbd.conf.XXXXXX")
    printf '%s\n' \
        "AuthType=auth/munge" "DbdHost=localhost" "DbdAddr=127.0.0.1" "DbdPort=6819" \
        "SlurmUser=root" "StorageType=accounting_storage/mysql" "StorageHost=localhost" \
        "StorageUser=slurm" "StoragePass=${pass}" "StorageLoc=slurm_acct_db" \
        "PidFile=${STATE}/slurmdbd.pid" "LogFile=${LOG_DIR}/slurmdbd.log" "DebugLevel=info" >"$tmp"
    chmod 600 "$tmp"   # slurmdbd refuses a slurmdbd.conf that others can read
    mv -f "$tmp" "$DBD_CONF"
    if ! daemon_running slurmdbd; then
        setsid nohup slurmdbd -D >>"$LOG_DIR/slurmdbd.stdout" 2>&1 </dev/null &
        echo $! >"$STATE/slurmdbd.pid"
    fi
    for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
    sacctmgr -n list cluster >/dev/null 2>&1 || die "slurmdbd does not answer (see $LOG_DIR/slurmdbd.log)"
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx localcluster; then
        sacctmgr -i add cluster localcluster >&2
    fi
}

stop_accounting() {
    local pid
    if daemon_running slurmdbd; then
        pid=$(<"$STATE/slurmdbd.pid")
        kill -TERM "$pid"
        wait_gone slurmdbd 20 || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/slurmdbd.pid"
    if command -v mariadb-admin >/dev/null && mariadb_ok; then
        mariadb-admin --protocol=socket shutdown || true
        for _ in $(seq 100); do mariadb_ok || break; sleep 0.2; done
    fi
    rm -f "$STATE/mariadbd.pid"
}

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n1; }

wait_idle() {
    local deadline=$((SECONDS + ${SLURM_START_TIMEOUT:-60})) state=""
    while ((SECONDS < deadline)); do
        state=$(node_state || true)
        case $state in
            idle|mixed|allocated|completing) log "node $(node_name) is $state"; return 0 ;;
            drain*|down*|fail*|inval*|*"*")
                # ReturnToService=2 brings a node back by itself once it registers; nudge it once
                scontrol update NodeName="$(node_name)" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    log "node state after waiting: '${state}'"
    sinfo -N -l >&2 || true
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    die "node did not become idle"
}

cmd_start() {
    install_packages
    local changed=0
    write_config && changed=1
    start_munge
    if [[ $ACCOUNTING == 1 ]]; then start_accounting; else stop_accounting; fi
    if daemon_running slurmctld && daemon_running slurmd; then
        local running_acct conf_acct
        running_acct=$(scontrol show config | awk '/^AccountingStorageType/ {print $3}')
        conf_acct=$(awk -F= '/^AccountingStorageType/ {print $2}' "$CONF")
        if [[ $running_acct != "$conf_acct" ]]; then
            log "accounting changed ($running_acct -> $conf_acct): restarting slurmctld and slurmd"
            cmd_stop_slurm
            start_daemon slurmctld
            for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
            start_daemon slurmd
        elif ((changed)); then
            log "configuration changed: scontrol reconfigure"
            scontrol reconfigure
        else
            log "already running"
        fi
    else
        start_daemon slurmctld
        for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
        start_daemon slurmd
    fi
    wait_idle
}

wait_gone() {  # wait_gone NAME SECONDS
    local name=$1 n=$(( $2 * 10 ))
    for _ in $(seq "$n"); do daemon_running "$name" || return 0; sleep 0.1; done
    return 1
}

cmd_stop_slurm() {
    local name pid
    if daemon_running slurmctld; then
        scancel --quiet --user=root >/dev/null 2>&1 || true  # jobs first, so slurmd can end them
        scontrol shutdown >/dev/null 2>&1 || true           # stops slurmctld and every slurmd
    fi
    for name in slurmd slurmctld; do
        if ! wait_gone "$name" 20; then
            pid=$(<"$STATE/$name.pid")
            log "$name ($pid) still running: SIGTERM"
            kill -TERM "$pid" 2>/dev/null || true
            if ! wait_gone "$name" 10; then
                log "$name ($pid) still running: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        rm -f "$STATE/$name.pid"
    done
}

cmd_stop() {
    local pid
    cmd_stop_slurm
    stop_accounting
    if pid_alive $MUNGE_RUN/munged.pid munged; then
        pid=$(<$MUNGE_RUN/munged.pid)
        kill -TERM "$pid"
        for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    fi
    log "stopped"
}

cmd_status() {
    local rc=0 name
    for name in slurmctld slurmd; do
        if daemon_running "$name"; then echo "$name: running (pid $(<"$STATE/$name.pid"))"
        else echo "$name: stopped"; rc=1; fi
    done
    if pid_alive $MUNGE_RUN/munged.pid munged; then echo "munged: running (pid $(<$MUNGE_RUN/munged.pid))"
    else echo "munged: stopped"; rc=1; fi
    if grep -q '^AccountingStorageType=accounting_storage/slurmdbd' "$CONF" 2>/dev/null; then
        if daemon_running slurmdbd; then echo "slurmdbd: running (pid $(<"$STATE/slurmdbd.pid"))"
        else echo "slurmdbd: stopped"; rc=1; fi
        if mariadb_ok; then echo "mariadb: running"; else echo "mariadb: stopped"; rc=1; fi
    fi
    if ((rc == 0)); then
        sinfo -N -o '%N %P %T %c %m' || rc=1
        squeue -o '%i %j %T %M %R' || rc=1
        case $(node_state) in idle|mixed|allocated|completing) ;; *) rc=1 ;; esac
    fi
    return $rc
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
