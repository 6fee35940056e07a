#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test-suite, on loopback only, with trust auth and no durability.
#
#   bash scripts/postgres.sh start   # install Debian's postgresql if needed, init + start; last stdout line: URL
#   bash scripts/postgres.sh url     # the URL of the running server (exit 1 when it is not running)
#   bash scripts/postgres.sh status  # exit 0 when the server on WORKBENCH_PG_DIR runs
#   bash scripts/postgres.sh stop    # stop that server (-m fast), nothing else
#
# WORKBENCH_PG_DIR (default /tmp/workbench-pg) is the cluster's data folder; its unix socket and log live in it.
# WORKBENCH_PG_PORT (default 54329) is the port tried first; when something else listens there, the next free one
# is taken. The URL is postgresql://workbench@127.0.0.1:PORT/workbench (role workbench is a superuser).
# As root, the server runs as Debian's `postgres` user, so the folder's parent must be traversable by that user.
# Everything but the URL goes to stderr.
set -euo pipefail

PG_DIR="${WORKBENCH_PG_DIR:-/tmp/workbench-pg}"
PG_DIR="${PG_DIR%/}"
PG_PORT="${WORKBENCH_PG_PORT:-54329}"
ROLE=workbench
DATABASE=workbench

say() { echo "postgres.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# Run a command as the cluster's owner: `postgres` when we are root (pg_ctl and initdb refuse root), else ourselves.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# The newest /usr/lib/postgresql/*/bin with initdb and pg_ctl, or the one matching an existing cluster's version.
find_bin() {
    local want="" dir
    [[ -f "$PG_DIR/PG_VERSION" ]] && want="$(cat "$PG_DIR/PG_VERSION" 2>/dev/null || true)"
    if [[ -n "$want" ]]; then
        dir="/usr/lib/postgresql/$want/bin"
        [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]] && echo "$dir" && return 0
        return 1
    fi
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]] && echo "$dir" && return 0
    done
    return 1
}

install_postgres() {
    local sudo=() started=$SECONDS
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null || die "PostgreSQL is not installed and we are not root: apt-get install postgresql"
        sudo=(sudo)
    fi
    say "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show postgresql >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -qq >&2
    fi
    if ! "${sudo[@]}" apt-get install -y -qq postgresql >&2; then
        # stale package lists (a 404 on download): refresh once and try again
        "${sudo[@]}" apt-get update -qq >&2
        "${sudo[@]}" apt-get install -y -qq postgresql >&2
    fi
    say "installed postgresql in $((SECONDS - started)) s"
}

# Port of the running server, from postmaster.pid (line 4), or nothing.
running_port() {
    [[ -f "$PG_DIR/postmaster.pid" ]] || return 1
    as_owner "$BIN/pg_ctl" status -D "$PG_DIR" >/dev/null 2>&1 || return 1
    local port
    port="$(sed -n 4p "$PG_DIR/postmaster.pid" 2>/dev/null || true)"
    [[ "$port" =~ ^[0-9]+$ ]] || return 1
    as_owner "$BIN/pg_isready" -q -h "$PG_DIR" -p "$port" -t 5 || return 1
    echo "$port"
}

url_for() { echo "postgresql://$ROLE@127.0.0.1:$1/$DATABASE"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local port=$PG_PORT
    for _ in $(seq 1 200); do
        port_in_use "$port" || {
            echo "$port"
            return 0
        }
        port=$((port + 1))
    done
    die "no free port in $PG_PORT..$port"
}

init_cluster() {
    if [[ -e "$PG_DIR" && -n "$(ls -A "$PG_DIR" 2>/dev/null)" ]]; then
        die "$PG_DIR exists and is not a PostgreSQL cluster: remove it or set WORKBENCH_PG_DIR"
    fi
    mkdir -p "$PG_DIR"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
    as_owner test -w "$PG_DIR" || die "the postgres user cannot write $PG_DIR (is its parent folder private?)"
    local out
    if ! out="$(as_owner "$BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust --encoding=UTF8 --no-locale \
        --no-instructions 2>&1)"; then
        echo "$out" >&2
        die "initdb failed"
    fi
    cat >"$PG_DIR/pg_hba.conf" <<'EOF'
# throwaway test cluster (scripts/postgres.sh): trust on the unix socket and 127.0.0.1 only
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
EOF
    cat >>"$PG_DIR/postgresql.conf" <<EOF

# --- scripts/postgres.sh: a throwaway test server (the port is given on pg_ctl's command line)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DIR/pg_hba.conf" "$PG_DIR/postgresql.conf"
    say "initialised a cluster in $PG_DIR"
}

# A postmaster.pid whose PID is gone or is no postgres process (after a machine restart, say) blocks a start.
clear_stale_pid() {
    [[ -f "$PG_DIR/postmaster.pid" ]] || return 0
    local pid
    pid="$(head -n 1 "$PG_DIR/postmaster.pid" 2>/dev/null || true)"
    if [[ ! "$pid" =~ ^[0-9]+$ ]] || [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != postgres ]]; then
        say "removing the stale postmaster.pid (PID $pid)"
        rm -f "$PG_DIR/postmaster.pid"
    fi
}

ensure_role_and_database() {
    as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$1" -U postgres -d postgres >&2 <<EOF
SELECT 'CREATE ROLE $ROLE LOGIN SUPERUSER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')
\gexec
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE')
\gexec
EOF
}

cmd_start() {
    local started=$SECONDS port
    # one start at a time per folder
    exec 9>"$PG_DIR.lock"
    flock 9
    if ! BIN="$(find_bin)"; then
        if [[ -f "$PG_DIR/PG_VERSION" ]] && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
            die "$PG_DIR holds a PostgreSQL $(cat "$PG_DIR/PG_VERSION") cluster, whose binaries are not installed"
        fi
        install_postgres
        BIN="$(find_bin)" || die "no initdb/pg_ctl under /usr/lib/postgresql/*/bin after installing postgresql"
    fi
    if port="$(running_port)"; then
        ensure_role_and_database "$port"
        url_for "$port"
        return 0
    fi
    # a unix socket's path is at most 107 bytes
    ((${#PG_DIR} + 20 <= 107)) || die "WORKBENCH_PG_DIR is too long for a unix socket path: $PG_DIR"
    [[ -f "$PG_DIR/PG_VERSION" ]] || init_cluster
    clear_stale_pid
    port="$(free_port)"
    # 9>&-: the server must not inherit (and so hold forever) the lock taken above
    if ! as_owner "$BIN/pg_ctl" start -D "$PG_DIR" -w -t 60 -l "$PG_DIR/postgres.log" -o "-p $port" >/dev/null 9>&-; then
        tail -n 30 "$PG_DIR/postgres.log" >&2 || true
        die "the server did not start (log: $PG_DIR/postgres.log)"
    fi
    ensure_role_and_database "$port"
    say "PostgreSQL $("$BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$port, data in $PG_DIR" \
        "(ready in $((SECONDS - started)) s)"
    url_for "$port"
}

cmd_stop() {
    [[ -f "$PG_DIR/PG_VERSION" ]] || return 0
    BIN="$(find_bin)" || return 0
    if as_owner "$BIN/pg_ctl" status -D "$PG_DIR" >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" stop -D "$PG_DIR" -m fast -w -t 60 >&2
    fi
}

cmd_url() {
    local port
    BIN="$(find_bin)" || die "PostgreSQL is not installed: bash scripts/postgres.sh start"
    port="$(running_port)" || die "no server runs on $PG_DIR: bash scripts/postgres.sh start"
    url_for "$port"
}

cmd_status() {
    local port
    BIN="$(find_bin)" || die "PostgreSQL is not installed"
    port="$(running_port)" || die "no server runs on $PG_DIR"
    say "running on 127.0.0.1:$port, data in $PG_DIR"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
url) cmd_url ;;
status) cmd_status ;;
*) die "usage: bash scripts/postgres.sh start|stop|url|status" ;;
esac
