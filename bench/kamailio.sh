#!/usr/bin/env bash
# Start and stop Kamailio 5.6 as the presence server presencecloud is
# benchmarked against (config: bench/kamailio.cfg).
#
#   bench/kamailio.sh start sqlite|memory PORT WORKDIR
#       Starts Kamailio in the background on 127.0.0.1:PORT (UDP and TCP),
#       pid file WORKDIR/kamailio.pid, log WORKDIR/kamailio.log, SQLite file
#       WORKDIR/presence.db (re-created from the packaged schema at every
#       start; in memory mode it is only opened at startup, never written).
#       Prints the pid once Kamailio answers an OPTIONS on UDP and accepts a
#       TCP connection.
#   bench/kamailio.sh stop WORKDIR
#       SIGTERM, then SIGKILL after 10 s; the main process takes its
#       children down with it.
#   bench/kamailio.sh mem WORKDIR
#       Memory of all Kamailio processes: count, sum of VmRSS, sum of Pss
#       (Pss splits the shared-memory segment between the processes that
#       touched it; the VmRSS sum counts it once per process).
#
# Environment: KAMAILIO_SHM_MB (shared memory, default 256),
# KAMAILIO_PKG_MB (private memory per process, default 8), KAMAILIO_WORKERS
# (override workers per transport; defaults: sqlite 1, memory 2),
# KAMAILIO_SQLITE_JOURNAL (sqlite mode journal mode, default WAL),
# KAMAILIO_PRES_TIMER (expiry sweep period in s; sqlite 300, memory 30),
# KAMAILIO_CFG (config file), KAMAILIO_SCHEMA_DIR (SQLite schema files).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cfg=${KAMAILIO_CFG:-$here/kamailio.cfg}
schema_dir=${KAMAILIO_SCHEMA_DIR:-/usr/share/kamailio/db_sqlite}
shm_mb=${KAMAILIO_SHM_MB:-256}
pkg_mb=${KAMAILIO_PKG_MB:-8}

die() { echo "kamailio.sh: $*" >&2; exit 1; }
usage() {
    echo "usage: $0 start sqlite|memory PORT WORKDIR" >&2
    echo "       $0 stop WORKDIR" >&2
    echo "       $0 mem WORKDIR" >&2
    exit 2
}
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found ($2)"; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# The pid in WORKDIR/kamailio.pid if that process is a running kamailio.
running_pid() {
    local pidfile=$1/kamailio.pid pid comm
    [ -f "$pidfile" ] || return 1
    pid=$(tr -dc '0-9' < "$pidfile")
    alive "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [ "$comm" = kamailio ] || return 1
    echo "$pid"
}

# One OPTIONS over UDP (expects 200) and one TCP connect, to 127.0.0.1:PORT.
probe() {
    python3 - "$1" <<'EOF'
import os, socket, sys
port = int(sys.argv[1])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(0.5)
u.bind(("127.0.0.1", 0))
lport = u.getsockname()[1]
tag = "%d-%d" % (os.getpid(), lport)
msg = ("OPTIONS sip:probe@127.0.0.1:%d SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-probe-%s;rport\r\n"
       "Max-Forwards: 70\r\n"
       "From: <sip:probe@127.0.0.1>;tag=%s\r\n"
       "To: <sip:probe@127.0.0.1>\r\n"
       "Call-ID: probe-%s@127.0.0.1\r\n"
       "CSeq: 1 OPTIONS\r\n"
       "Content-Length: 0\r\n\r\n") % (port, lport, tag, tag, tag)
try:
    u.sendto(msg.encode(), ("127.0.0.1", port))
    if not u.recv(65535).startswith(b"SIP/2.0 200"):
        sys.exit(1)
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
except OSError:
    sys.exit(1)
EOF
}

start() {
    [ $# -eq 3 ] || usage
    local mode=$1 port=$2 workdir=$3
    case $mode in sqlite|memory) ;; *) die "mode must be sqlite or memory, not '$mode'" ;; esac
    case $port in ''|*[!0-9]*) die "PORT must be a number, not '$port'" ;; esac
    [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "PORT out of range: $port"
    need kamailio "apt-get install kamailio kamailio-presence-modules kamailio-sqlite-modules"
    need sqlite3 "apt-get install sqlite3"
    need python3 "used for the readiness probe"
    need ss "iproute2"
    [ -r "$cfg" ] || die "config not readable: $cfg"
    local f
    for f in standard-create.sql presence-create.sql; do
        [ -r "$schema_dir/$f" ] || die "SQLite schema $schema_dir/$f missing (package kamailio-sqlite-modules?)"
    done

    mkdir -p "$workdir" || die "cannot create $workdir"
    workdir=$(cd "$workdir" && pwd)
    local pidfile=$workdir/kamailio.pid log=$workdir/kamailio.log db=$workdir/presence.db
    local old
    if old=$(running_pid "$workdir"); then
        die "already running in $workdir (pid $old); stop it first"
    fi
    rm -f "$pidfile"
    if ss -Hlnu "sport = :$port" | grep -q . || ss -Hlnt "sport = :$port" | grep -q .; then
        die "port $port is already in use (UDP or TCP)"
    fi

    # Fresh database from the packaged schema: the version table (standard)
    # and presentity, active_watchers, watchers, xcap, pua (presence).
    rm -f "$db" "$db-journal" "$db-wal" "$db-shm"
    cat "$schema_dir/standard-create.sql" "$schema_dir/presence-create.sql" \
        | sqlite3 "$db" || die "creating $db failed"
    if [ "$mode" = sqlite ]; then
        # WAL (persistent in the file) with SQLite's default synchronous=FULL,
        # as presencecloud opens its store. KAMAILIO_SQLITE_JOURNAL=DELETE
        # keeps SQLite's default rollback journal.
        local journal=${KAMAILIO_SQLITE_JOURNAL:-WAL}
        case $journal in DELETE|TRUNCATE|PERSIST|MEMORY|WAL|OFF) ;;
            *) die "KAMAILIO_SQLITE_JOURNAL must be DELETE, TRUNCATE, PERSIST, MEMORY, WAL or OFF" ;;
        esac
        sqlite3 "$db" "PRAGMA journal_mode=$journal;" > /dev/null \
            || die "setting journal_mode=$journal on $db failed"
    fi

    local defs=(-A "LISTEN_PORT=$port" -A "DBURL=\"sqlite://$db\"")
    [ "$mode" = sqlite ] && defs+=(-A WITH_SQLITE)
    if [ -n "${KAMAILIO_PRES_TIMER:-}" ]; then
        case $KAMAILIO_PRES_TIMER in ''|*[!0-9]*) die "KAMAILIO_PRES_TIMER must be a number of seconds" ;; esac
        defs+=(-A "PRES_TIMER=$KAMAILIO_PRES_TIMER")
    fi
    if [ -n "${KAMAILIO_WORKERS:-}" ]; then
        case $KAMAILIO_WORKERS in ''|*[!0-9]*) die "KAMAILIO_WORKERS must be a number" ;; esac
        defs+=(-A "WORKERS=$KAMAILIO_WORKERS")
    fi

    kamailio -c -f "$cfg" "${defs[@]}" > "$workdir/kamailio-check.log" 2>&1 \
        || die "config check failed, see $workdir/kamailio-check.log"

    # -DD: the main process stays in the foreground (not daemonized) but
    # still forks its workers; -E: log to stderr, i.e. to kamailio.log.
    : > "$log"
    kamailio -f "$cfg" "${defs[@]}" -P "$pidfile" -Y "$workdir" -w / \
        -m "$shm_mb" -M "$pkg_mb" -DD -E < /dev/null >> "$log" 2>&1 &
    local pid=$!

    local i=0
    while :; do
        if ! alive "$pid"; then
            tail -n 20 "$log" >&2 || true
            die "kamailio exited during startup, see $log"
        fi
        if probe "$port"; then
            break
        fi
        i=$((i + 1))
        if [ "$i" -ge 40 ]; then
            kill -TERM "$pid" 2>/dev/null || true
            die "kamailio (pid $pid) does not answer on 127.0.0.1:$port after 20 s, stopped; see $log"
        fi
        sleep 0.5
    done
    [ -s "$pidfile" ] || echo "$pid" > "$pidfile"
    echo "$pid"
}

stop() {
    [ $# -eq 1 ] || usage
    local workdir=$1 pid i
    [ -d "$workdir" ] || die "no such WORKDIR: $workdir"
    if ! pid=$(running_pid "$workdir"); then
        rm -f "$workdir/kamailio.pid"
        echo "kamailio.sh: not running in $workdir" >&2
        return 0
    fi
    local children
    children=$(pgrep -P "$pid" || true)
    kill -TERM "$pid"
    i=0
    while alive "$pid" && [ "$i" -lt 40 ]; do sleep 0.25; i=$((i + 1)); done
    if alive "$pid"; then
        echo "kamailio.sh: pid $pid ignored SIGTERM for 10 s, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # Workers normally exit with the main process; kill any left behind.
    local c
    for c in $children; do
        if alive "$c" && [ "$(cat "/proc/$c/comm" 2>/dev/null || true)" = kamailio ]; then
            kill -KILL "$c" 2>/dev/null || true
        fi
    done
    rm -f "$workdir/kamailio.pid"
    echo "stopped $pid"
}

mem() {
    [ $# -eq 1 ] || usage
    local pid p n=0 rss=0 pss=0 v
    pid=$(running_pid "$1") || die "not running in $1"
    for p in $pid $(pgrep -P "$pid" || true); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        [ -n "$v" ] || continue
        rss=$((rss + v))
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        pss=$((pss + ${v:-0}))
        n=$((n + 1))
    done
    echo "processes=$n rss_kb=$rss pss_kb=$pss"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
    start) start "$@" ;;
    stop) stop "$@" ;;
    mem) mem "$@" ;;
    *) usage ;;
esac
