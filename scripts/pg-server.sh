#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests: Debian's postgresql package, run as the postgres user, on a free
# loopback port with trust authentication and fsync off (test data only), in a folder of its own.
#
#   eval "$(scripts/pg-server.sh start)"   # prints POSTGRES_URL=... and PG_DIR=...
#   scripts/pg-server.sh restart [SECONDS] # stops it (fast: sessions are cut), keeps it down SECONDS (0), starts it
#                                          # again on the same port with its data (the fault tests' outage)
#   scripts/pg-server.sh stop              # stops it (PG_DIR, else the last one started) and removes its folder
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
marker=$repo/.state/pg-dir
say() { echo "pg-server: $*" >&2; }

bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [[ -x $dir/initdb ]] || { say "initdb not found: apt-get install postgresql"; exit 1; }
    echo "$dir"
}

as_postgres() { su postgres -s /bin/sh -c "$*"; }

start_server() { # bin dir port
    as_postgres "'$1/pg_ctl' -D '$2/data' -l '$2/server.log' -w start -o \"-p $3 -k '$2' -c listen_addresses='*' -c fsync=off -c max_connections=200\"" >/dev/null ||
        { cat "$2/server.log" >&2; exit 1; }
}

case ${1:-} in
start)
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        say "installing postgresql (apt)"
        apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
    fi
    bin=$(bindir)
    dir=$(mktemp -d /tmp/agentfcgi-pg.XXXXXX)
    chown postgres:postgres "$dir"
    port=$(bash "$(dirname "${BASH_SOURCE[0]}")/free-port.sh")
    as_postgres "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync" >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # Also reachable from the test's network namespaces (10.77.0.0/16, the "other hosts" of the multi-host test).
    echo "host all all 10.77.0.0/16 trust" >>"$dir/data/pg_hba.conf"
    echo "$port" >"$dir/port"
    start_server "$bin" "$dir" "$port"
    as_postgres "'$bin/createdb' -h 127.0.0.1 -p $port agentfcgi"
    mkdir -p "$repo/.state"
    echo "$dir" >"$marker"
    say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
    echo "POSTGRES_URL=postgres://postgres@127.0.0.1:$port/agentfcgi?sslmode=disable"
    echo "PG_DIR=$dir"
    ;;
restart)
    dir=${PG_DIR:-$(cat "$marker" 2>/dev/null || true)}
    down=${2:-0}
    [[ $down =~ ^[0-9]+([.][0-9]+)?$ ]] || { say "restart: SECONDS must be a number, not '$down'"; exit 2; }
    [[ -n $dir && -f $dir/port ]] || { say "restart: no cluster of this script's (PG_DIR=$dir has no port file)"; exit 1; }
    bin=$(bindir)
    as_postgres "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" >/dev/null || { say "restart: the server did not stop"; exit 1; }
    say "stopped; down for $down s"
    sleep "$down"
    start_server "$bin" "$dir" "$(cat "$dir/port")"
    say "started again on port $(cat "$dir/port")"
    ;;
stop)
    dir=${PG_DIR:-$(cat "$marker" 2>/dev/null || true)}
    [[ -n $dir && -d $dir ]] || exit 0
    bin=$(bindir)
    su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$dir" "$marker"
    say "stopped"
    ;;
*)
    echo "usage: $0 start|restart [SECONDS]|stop" >&2
    exit 2
    ;;
esac
