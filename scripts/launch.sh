#!/usr/bin/env bash
# The one way agentfcgi's workers and nginx are started: by scripts/run.sh (the service, its restarts), bench/run.sh
# and the live tests (Tests/LiveTests/LiveCluster.swift, Tests/Python). Each caller decides how many and when; this
# decides how. `worker` and `nginx` exec in place, so the pid the caller holds is the process's own.
#
#   scripts/launch.sh worker [--user NAME] [--log FILE] -- BINARY serve ARGS...
#       Starts one worker. With --listen unix:PATH among ARGS, a socket left by a killed worker is removed, and one
#       another process listens on is refused. umask 077: the database files it makes are its user's alone. --user
#       (as root): runs as that user, without capabilities, new privileges or other groups. --log: appends a line
#       naming the command, then the worker's output, to FILE. Standard input and descriptors 3 and up are left as
#       the caller gave them (socket activation passes the socket there).
#   scripts/launch.sh as NAME -- COMMAND ARGS...
#       Runs a command as the workers' user, as `worker --user` does (the key commands before a start).
#   scripts/launch.sh nginx-config
#       Renders nginx's configuration (deploy/nginx/render.sh; its environment) and has nginx check it.
#       EXTRA_SITE: a file appended to the rendered site (more servers, for the benchmark's comparison targets).
#   scripts/launch.sh nginx PREFIX
#       Starts nginx in the foreground on the configuration rendered in PREFIX; error log in PREFIX/logs.
#   scripts/launch.sh await-worker SOCKET PID SECONDS
#       Waits until the worker PID answers GET /ok on its socket, as nginx would reach it (scripts/worker-ok.py).
#   scripts/launch.sh await-url URL CA PID SECONDS
#       Waits until URL answers 2xx over HTTPS trusting CA, while the process PID (nginx) lives.
# Each wait prints why it gave up (the process exited, or the time ran out) and exits 1.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "launch.sh: $*" >&2; exit 1; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# The privileges a worker gives up, as deploy/systemd/agentfcgi@.service's unit gives them up.
as_user() { # name command...
    local name=$1 group home
    shift
    [[ $(id -u) -eq 0 ]] || die "--user $name needs root"
    id -u "$name" >/dev/null 2>&1 || die "no user $name"
    [[ $(id -u "$name") -ne 0 ]] || die "the user $name has uid 0; workers must not run as root"
    group=$(id -gn "$name")
    home=$(getent passwd "$name" | cut -d: -f6)
    exec setpriv --reuid="$name" --regid="$group" --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
        env HOME="$home" USER="$name" LOGNAME="$name" "$@"
}

listening() { # socket path: does a process listen on it?
    command -v ss >/dev/null 2>&1 || return 1
    ss -xlnH 2>/dev/null | awk '{print $5}' | grep -qxF -- "$1"
}

worker() {
    local user="" log="" arg socket=""
    while (($#)); do
        case $1 in
            --user) user=${2:?--user needs a name}; shift 2 ;;
            --log) log=${2:?--log needs a file}; shift 2 ;;
            --) shift; break ;;
            *) die "worker: unknown option $1 (the worker's command follows --)" ;;
        esac
    done
    (($# >= 2)) || die "worker: give the worker's command after --: BINARY serve ARGS..."
    [[ -x $1 ]] || die "worker: $1 is not an executable"
    local previous=""
    for arg in "$@"; do
        [[ $previous == --listen && $arg == unix:* ]] && socket=${arg#unix:}
        [[ $arg == --listen=unix:* ]] && socket=${arg#--listen=unix:}
        previous=$arg
    done
    if [[ -n $socket && -S $socket ]]; then
        listening "$socket" && die "another process listens on $socket; stop it first"
        rm -f "$socket" # stale, from a killed worker: nobody listens on it
    fi
    if [[ -n $log ]]; then
        echo "=== $(date -Is) launch.sh: $*${user:+ (as user $user)}" >>"$log"
        exec >>"$log" 2>&1
    fi
    umask 077
    if [[ -n $user ]]; then as_user "$user" "$@"; fi
    exec "$@"
}

nginx_config() {
    local prefix=${PREFIX:?PREFIX is required (see deploy/nginx/render.sh)}
    bash "$repo/deploy/nginx/render.sh" >/dev/null
    if [[ -n ${EXTRA_SITE:-} ]]; then
        [[ -r $EXTRA_SITE ]] || die "EXTRA_SITE=$EXTRA_SITE is not readable"
        { printf '\n# Appended by scripts/launch.sh from %s\n' "$EXTRA_SITE"; cat "$EXTRA_SITE"; } >>"$prefix/conf/agentfcgi.conf"
    fi
    nginx -t -q -p "$prefix" -c "$prefix/conf/nginx.conf" -e "$prefix/logs/error.log" ||
        die "nginx rejected $prefix/conf/nginx.conf"
}

await_worker() { # socket pid seconds
    local deadline=$((SECONDS + $3))
    until [[ -S $1 ]] && python3 "$repo/scripts/worker-ok.py" "$1" 2 2>/dev/null; do
        alive "$2" || die "the worker (pid $2) for $1 exited"
        ((SECONDS < deadline)) || die "the worker (pid $2) did not answer GET /ok on $1 within $3 s"
        sleep 0.1
    done
}

await_url() { # url ca pid seconds
    local deadline=$((SECONDS + $4))
    until curl -fsS --cacert "$2" --max-time 2 -o /dev/null "$1" 2>/dev/null; do
        alive "$3" || die "the process (pid $3) that should answer $1 exited"
        ((SECONDS < deadline)) || die "no answer from $1 within $4 s"
        sleep 0.1
    done
}

command=${1:-}
(($#)) && shift
case $command in
    worker) worker "$@" ;;
    as)
        (($# >= 3)) && [[ $2 == -- ]] || die "as: scripts/launch.sh as NAME -- COMMAND ARGS..."
        name=$1
        shift 2
        as_user "$name" "$@"
        ;;
    nginx-config) nginx_config ;;
    nginx)
        (($# == 1)) || die "nginx: scripts/launch.sh nginx PREFIX"
        exec nginx -p "$1" -c "$1/conf/nginx.conf" -e "$1/logs/error.log" -g 'daemon off;'
        ;;
    await-worker) (($# == 3)) || die "await-worker SOCKET PID SECONDS"; await_worker "$@" ;;
    await-url) (($# == 4)) || die "await-url URL CA PID SECONDS"; await_url "$@" ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) die "usage: scripts/launch.sh worker|as|nginx-config|nginx|await-worker|await-url ... (--help)" ;;
esac
