#!/usr/bin/env bash
# Run agentfcgi on this machine: N FastCGI workers behind nginx, HTTPS on 127.0.0.1.
# Stop with Ctrl-C (or SIGTERM): nginx stops taking requests, the workers drain, exit 0.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/run.sh            (as root on a fresh Debian 12 machine, or as a user)
       scripts/run.sh restart    restart the workers of the running service one at a time, without downtime
       scripts/run.sh reload     render nginx's configuration again and reload nginx

Installs missing packages (scripts/deps.sh), builds the release binary, makes a local
CA and certificate, starts the workers and nginx, and waits until Ctrl-C.

`restart` (or SIGUSR2 to the running script) restarts each worker in turn: nginx is reloaded
without it, it drains (--drain-timeout) and exits, the new process starts on its socket and must
answer GET /ok there (scripts/worker-ok.py), and nginx is reloaded with it. Background runs the old
process still had go back to the queue; open event streams end and their clients resume them with
Last-Event-ID (docs/deploy.md, section 7). Run it after editing agents.yaml or rebuilding the binary
(it does not build: `swift build -c release --product agentfcgi` first).
`reload` (or SIGUSR1) reloads nginx alone. Both need the environment of the start (AGENTFCGI_STATE)
and print how it went; the running script logs each step.

Environment:
  WORKERS=2                   worker processes, one unix socket each
  HTTPS_PORT=8443             HTTPS port on 127.0.0.1
  HTTP_PORT=8080              plain HTTP port on 127.0.0.1 (redirects to HTTPS)
  CONFIG=<repo>/agents.yaml   agent configuration passed to every worker
  AGENTFCGI_STATE=<repo>/.state/run
  AGENTFCGI_DATABASE=<state>/data/agentfcgi.sqlite   or postgres://user@host:port/db for workers on several hosts
                              sockets, certificates, nginx config, docs and logs
  AGENTFCGI_BIN=              a prebuilt agentfcgi binary; skips `swift build`
  TRAITS=                     package traits for the build: OTLP adds the trace exporter (swift-otel), which
                              --otlp-endpoint needs; left out by default (a minute less of first build)
  WORKER_ARGS=                more options for every worker (space-separated), e.g. (with TRAITS=OTLP)
                              "--otlp-endpoint http://127.0.0.1:4318/v1/traces --trace-sample-ratio 1"
  RATE, KEY_RATE, BURST, MAX_STREAMS, KEY_STREAMS, MAX_CONNS, READ_TIMEOUT, HEADER_TIMEOUT, BODY_TIMEOUT,
  SEND_TIMEOUT, HSTS_MAX_AGE, METRICS_ALLOW,
  CORS_ORIGINS, CORS_MAX_AGE  passed on to deploy/nginx/render.sh (see that file); e.g.
                              CORS_ORIGINS="http://localhost:3000" for a browser app there

The workers' environment (model provider keys, ...) is this script's environment.

As root, the workers run as the system user agentfcgi (made if missing, as docs/deploy.md makes it for the
systemd units), without capabilities. It owns <state>/data (the database) and <state>/sockets, which only it
and nginx's workers (www-data) may enter; it cannot read the TLS and CA keys, the API key or the webhook secret.
EOF
}
command=start
case ${1:-} in
    -h | --help) usage; exit 0 ;;
    '') ;;
    restart | reload) command=$1 ;;
    *) usage >&2; exit 2 ;;
esac

say() { echo "run: $*"; }
die() { echo "run: $*" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORKERS=${WORKERS:-2}
HTTPS_PORT=${HTTPS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-8080}
CONFIG=${CONFIG:-$REPO/agents.yaml}
STATE=${AGENTFCGI_STATE:-$REPO/.state/run}
AGENTFCGI_BIN=${AGENTFCGI_BIN:-}

[[ $WORKERS =~ ^[1-9][0-9]?$ ]] || die "WORKERS must be 1..99, not '$WORKERS'"
[[ $HTTPS_PORT =~ ^[0-9]+$ && $HTTP_PORT =~ ^[0-9]+$ ]] || die "HTTPS_PORT and HTTP_PORT must be numbers"
[[ $CONFIG == /* ]] || CONFIG=$PWD/$CONFIG
[[ -f $CONFIG ]] || die "no agent configuration at $CONFIG (set CONFIG=path/to/agents.yaml)"

# ---- restart / reload: ask the running script, and wait for its answer ----
# It writes "<its pid> <number> done|failed <what>" to run/control.status after each restart or reload.
if [[ $command != start ]]; then
    pid=$(cat "$STATE/run/run.pid" 2>/dev/null) || die "no running scripts/run.sh for $STATE (no $STATE/run/run.pid)"
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then die "scripts/run.sh (pid $pid) is not running"; fi
    before=$(cat "$STATE/run/control.status" 2>/dev/null || true)
    signal=USR2
    [[ $command == reload ]] && signal=USR1
    kill -s "$signal" "$pid"
    say "asked scripts/run.sh (pid $pid) to $command (SIG$signal); its output says how each step goes"
    deadline=$((SECONDS + 60 + 90 * WORKERS))
    while true; do
        now=$(cat "$STATE/run/control.status" 2>/dev/null || true)
        [[ $now != "$before" && $now == "$pid "* ]] && break
        kill -0 "$pid" 2>/dev/null || die "scripts/run.sh (pid $pid) exited"
        ((SECONDS < deadline)) || die "no answer from scripts/run.sh (pid $pid) within $((60 + 90 * WORKERS)) s"
        sleep 0.2
    done
    read -r _ _ result what <<<"$now"
    say "$result: $what"
    [[ $result == "done" ]]
    exit
fi

umask 022 # nginx's workers (www-data) read the docs and traverse the state folder
root=false
[[ $(id -u) -eq 0 ]] && root=true

# ---- 1. packages and toolchain ----
"$REPO/scripts/deps.sh"
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH=/opt/swift/usr/bin:$PATH
fi

# ---- 2. build ----
if [[ -n $AGENTFCGI_BIN ]]; then
    [[ -x $AGENTFCGI_BIN ]] || die "AGENTFCGI_BIN=$AGENTFCGI_BIN is not an executable"
    BIN=$(cd "$(dirname "$AGENTFCGI_BIN")" && pwd)/$(basename "$AGENTFCGI_BIN")
    say "using $BIN (AGENTFCGI_BIN; no build)"
else
    traits=()
    [[ -n ${TRAITS:-} ]] && traits=(--traits "$TRAITS")
    say "swift build -c release --product agentfcgi ${traits[*]} (the first build takes several minutes)"
    (cd "$REPO" && swift build -c release --product agentfcgi "${traits[@]}")
    BIN=$(cd "$REPO" && swift build -c release --show-bin-path)/agentfcgi
    [[ -x $BIN ]] || die "the build did not produce $BIN"
fi

# ---- 3. state folder and certificates ----
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
[[ $STATE != / && $STATE != "$REPO" && $STATE != "${HOME:-/}" ]] ||
    die "AGENTFCGI_STATE=$STATE: use a folder of its own (its docs/ and run/ are rewritten)"
mkdir -p "$STATE/run" "$STATE/sockets" "$STATE/nginx" "$STATE/certs" "$STATE/docs" "$STATE/logs" "$STATE/data"
"$REPO/scripts/certs.sh" "$STATE/certs"

# ---- the workers' user ----
# As root, the workers run as an unprivileged system user, the one deploy/systemd/agentfcgi@.service runs them as
# (docs/deploy.md makes it the same way): a worker that is taken over by a request holds no more than that user
# may. scripts/launch.sh starts them (and as_worker runs a command) as that user, without any capability, new
# privilege (setuid) or supplementary group; it execs in place, so the pid run.sh records is the worker's own.
launch=$REPO/scripts/launch.sh
worker_user=agentfcgi
as_worker=()
worker_user_option=()
if $root; then
    if ! id -u "$worker_user" >/dev/null 2>&1; then
        say "adding the system user $worker_user (no login, no home) for the workers"
        group=(--user-group)
        getent group "$worker_user" >/dev/null && group=(--gid "$worker_user")
        useradd --system "${group[@]}" --home-dir /var/lib/agentfcgi --no-create-home \
            --shell /usr/sbin/nologin "$worker_user" || id -u "$worker_user" >/dev/null 2>&1 ||
            die "could not add the user $worker_user"
    fi
    [[ $(id -u "$worker_user") -ne 0 ]] || die "the user $worker_user has uid 0; the workers must not run as root"
    worker_group=$(id -gn "$worker_user")
    as_worker=("$launch" as "$worker_user" --)
    worker_user_option=(--user "$worker_user")
fi

# ---- processes: started here, stopped by the traps below ----
WORKER_PIDS=()  # index i-1: worker i's process
WORKER_SOCKS=() # index i-1: the socket it listens on
NGINX_PID=""
stopping=""

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

await_exit() { # seconds pid...: wait until they have exited, at most that long
    local deadline=$((SECONDS + $1)) pid
    shift
    for pid in "$@"; do
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    done
}

stop_all() {
    [[ -z $stopping ]] || return 0
    stopping=1
    set +e
    local pid live=()
    if alive "$NGINX_PID"; then
        say "stopping nginx (pid $NGINX_PID, graceful)"
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
    fi
    for pid in "${WORKER_PIDS[@]}"; do
        alive "$pid" && live+=("$pid") && kill -TERM "$pid" 2>/dev/null || true
    done
    if ((${#live[@]})); then
        say "stopping workers (pids ${live[*]}); they drain open requests for up to 10 s"
        await_exit 15 "${live[@]}"
        for pid in "${live[@]}"; do
            if alive "$pid"; then
                say "worker pid $pid still running after 15 s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            wait "$pid" 2>/dev/null || true
        done
    fi
    if alive "$NGINX_PID"; then
        await_exit 20 "$NGINX_PID"
        if alive "$NGINX_PID"; then
            say "nginx still running after 20 s: SIGTERM"
            kill -TERM "$NGINX_PID" 2>/dev/null
            await_exit 5 "$NGINX_PID"
        fi
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -f "$STATE"/run/worker-*.pid "$STATE/run/run.pid"
}
on_signal() {
    trap - INT TERM HUP
    echo
    say "$1: stopping"
    stop_all
    say "stopped"
    exit 0
}
on_exit() {
    local rc=$?
    stop_all
    exit "$rc"
}
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP
trap on_exit EXIT
# Asked for by `scripts/run.sh restart` and `reload`; done by the loop at the end, not inside the trap.
restart_wanted=""
reload_wanted=""
trap 'restart_wanted=1' USR2
trap 'reload_wanted=1' USR1

# A run killed with SIGKILL leaves its workers and nginx behind; stop those (only
# processes whose command line names this state folder) before starting anew.
stop_leftover() { # pidfile what marker
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$3"; then
        say "stopping $2 (pid $pid) left over from an earlier run"
        kill -TERM "$pid" 2>/dev/null || true
        await_exit 15 "$pid"
        alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}
stop_leftover "$STATE/nginx/logs/nginx.pid" nginx "-p $STATE/nginx"
for f in "$STATE"/run/worker-*.pid; do
    [[ -e $f ]] || continue
    n=${f##*/worker-}
    n=${n%.pid}
    stop_leftover "$f" "worker $n" "--listen unix:$STATE/"
done

# What the workers may reach (as root; as a user, the workers are that user and nginx too). Nothing that run.sh
# (root) writes lies in a folder the workers may write: a worker taken over could plant a link there.
if $root; then
    # The worker user and nginx's workers (www-data) must get through every folder above the state folder, the
    # binary and the configuration.
    for path in "$STATE" "$(dirname "$BIN")" "$(dirname "$CONFIG")"; do
        d=$path
        while [[ $d != / ]]; do
            if [[ $(stat -c %A "$d") != *[xt] ]]; then
                say "chmod o+x $d (so $worker_user and www-data can reach $path)"
                chmod o+x "$d"
            fi
            d=$(dirname "$d")
        done
    done
    # The database: the worker user's alone (files of earlier runs made as root become its own; -h: a link is
    # changed itself, never what it points to).
    chown -R -h "$worker_user:$worker_group" "$STATE/data"
    chmod 0700 "$STATE/data"
    # The sockets: made by the workers (mode 0666), reached through this folder, which only the workers (owner) and
    # nginx's workers (group www-data, search only) may enter, as systemd's agentfcgi@.socket allows them.
    chown "$worker_user:www-data" "$STATE/sockets"
    chmod 0710 "$STATE/sockets"
    # Logs: run.sh opens them (the workers write to the descriptor they inherit); not for other users.
    chmod 0750 "$STATE/logs"
    "${as_worker[@]}" test -x "$BIN" || die "the user $worker_user cannot run $BIN"
    "${as_worker[@]}" test -r "$CONFIG" || die "the user $worker_user cannot read $CONFIG"
fi

# ---- 4. workers ----
# A first API key for the local demo (admin, tenant "demo"), kept in the state folder; a new one when the
# database no longer has it.
database=${AGENTFCGI_DATABASE:-$STATE/data/agentfcgi.sqlite}
if $root && [[ $database != *://* ]]; then
    # SQLite writes the file and, beside it, its -wal and -shm files: the folder must be the worker user's too.
    for f in "$(dirname "$database")" "$database" "$database-wal" "$database-shm"; do
        [[ ! -e $f ]] || "${as_worker[@]}" test -w "$f" ||
            die "the workers run as $worker_user and cannot write $f (chown $worker_user $f, or leave AGENTFCGI_DATABASE unset)"
    done
fi
# The key commands run as the workers' user too, so that a database (and -wal, -shm) they create is its own.
key_id=$(sed -n 's/^afk_\([0-9a-f]\{12\}\)_.*/\1/p' "$STATE/api-key" 2>/dev/null || true)
if [[ -z $key_id ]] || ! "${as_worker[@]}" "$BIN" keys list --database "$database" | grep -q "^$key_id  active"; then
    (umask 077 && "${as_worker[@]}" "$BIN" keys create --database "$database" --name local-demo --tenant demo \
        --scopes admin --quiet >"$STATE/api-key")
    say "created an API key for this demo: $STATE/api-key"
fi
API_KEY=$(cat "$STATE/api-key")

# The webhook signing secret (agents.yaml names the variable): kept in the state folder across runs.
if [[ -z ${AGENTFCGI_WEBHOOK_SECRET:-} ]]; then
    if [[ ! -s $STATE/webhook-secret ]]; then
        (umask 077 && "$BIN" webhook-secret >"$STATE/webhook-secret")
    fi
    AGENTFCGI_WEBHOOK_SECRET=$(cat "$STATE/webhook-secret")
fi
export AGENTFCGI_WEBHOOK_SECRET
# As root the sockets' folder admits only the workers and www-data (above), so the sockets themselves are 0666: the
# workers' user is not in group www-data and cannot give them that group. As a user, nginx is that user too.
socket_mode=0660
$root && socket_mode=0666
# Each worker writes its metrics under data/metrics, so that whichever answers /metrics shows them all.
args=(--config "$CONFIG" --socket-mode "$socket_mode" --database "$database" --metrics-dir "$STATE/data/metrics")
# shellcheck disable=SC2206 # split on spaces, as documented
[[ -n ${WORKER_ARGS:-} ]] && args+=($WORKER_ARGS)
# Starts worker $1 on socket $2 (scripts/launch.sh: a stale socket is removed, umask 077, the workers' user); its
# pid in started_pid. setsid: Ctrl-C reaches this script, which stops the workers in order.
start_worker() {
    local i=$1 sock=$2 log=$STATE/logs/worker-$1.log
    say "worker $i: $BIN serve --listen unix:$sock --worker-name $i ${args[*]}  (log: $log)"
    setsid "$launch" worker "${worker_user_option[@]}" --log "$log" -- \
        "$BIN" serve --listen "unix:$sock" --worker-name "$i" "${args[@]}" </dev/null &
    started_pid=$!
}

# Waits until worker $1 (pid $3) answers GET /ok on its socket $2, as nginx would reach it, for at most $4 seconds.
await_worker() {
    "$launch" await-worker "$2" "$3" "$4" && return
    echo "run: worker $1: last lines of $STATE/logs/worker-$1.log:" >&2
    tail -n 20 "$STATE/logs/worker-$1.log" >&2
    return 1
}

for i in $(seq 1 "$WORKERS"); do
    start_worker "$i" "$STATE/sockets/worker-$i.sock" || exit 1
    WORKER_PIDS+=("$started_pid")
    WORKER_SOCKS+=("$STATE/sockets/worker-$i.sock")
    echo "$started_pid" >"$STATE/run/worker-$i.pid"
done
for i in $(seq 1 "$WORKERS"); do
    await_worker "$i" "${WORKER_SOCKS[$((i - 1))]}" "${WORKER_PIDS[$((i - 1))]}" 30 || exit 1
done
say "$WORKERS worker(s) listening in $STATE/sockets${as_worker:+, as user $worker_user}"

# ---- 5. nginx ----
# As root, nginx's workers run as www-data (the master keeps the TLS key, read as root); they reach the sockets and
# the docs through the folders opened above.
nginx_user=""
$root && nginx_user=www-data

rm -rf "$STATE/docs"
mkdir -p "$STATE/docs"
if [[ -d $REPO/deploy/docs ]]; then
    cp -R "$REPO/deploy/docs/." "$STATE/docs/"
fi
# The spec of this very configuration, and the Swagger UI / Redoc builds (from PyPI, no CDN) for /docs.
"$BIN" openapi --config "$CONFIG" >"$STATE/docs/openapi.json"
bash "$REPO/scripts/docs-assets.sh" "$STATE/docs" >/dev/null || say "docs assets unavailable: /docs will not render"
chmod -R a+rX "$STATE/docs"

# The site for the workers' sockets of the moment (a restart moves each to another socket).
# A worker being restarted ($resting: its number) is left out.
resting=""
render_nginx() {
    local upstreams="" n
    for n in $(seq 1 "$WORKERS"); do
        [[ $n == "$resting" ]] || upstreams+="${upstreams:+ }unix:${WORKER_SOCKS[$((n - 1))]}"
    done
    # scripts/launch.sh renders it (deploy/nginx/render.sh) and has nginx check it.
    PREFIX=$STATE/nginx UPSTREAMS=$upstreams TLS_CERT=$STATE/certs/server.crt \
        TLS_KEY=$STATE/certs/server.key DOCS_ROOT=$STATE/docs NGINX_USER=$nginx_user \
        HTTPS_PORT=$HTTPS_PORT HTTP_PORT=$HTTP_PORT LISTEN_ADDR=127.0.0.1 \
        ACCESS_LOG=$STATE/nginx/logs/access.log \
        "$launch" nginx-config
}
render_nginx || die "nginx's configuration for $STATE/nginx could not be rendered (above)"
say "nginx: $STATE/nginx/conf/nginx.conf  (logs: $STATE/nginx/logs/)"
echo "=== $(date -Is) scripts/run.sh: scripts/launch.sh nginx $STATE/nginx" >>"$STATE/logs/nginx.log"
setsid "$launch" nginx "$STATE/nginx" >>"$STATE/logs/nginx.log" 2>&1 </dev/null &
NGINX_PID=$!

# ---- 6. ready? ----
base=https://127.0.0.1:$HTTPS_PORT
if ! "$launch" await-url "$base/ok" "$STATE/certs/ca.crt" "$NGINX_PID" 10; then
    echo "run: last lines of the nginx logs:" >&2
    tail -n 10 "$STATE/logs/nginx.log" "$STATE/nginx/logs/error.log" >&2 2>/dev/null || true
    exit 1
fi

ca=$STATE/certs/ca.crt
[[ $ca == "$PWD"/* ]] && ca=${ca#"$PWD"/}
# Docs pages appear once their static files are in place (the OpenAPI/docs work adds them).
docs_lines=""
[[ -f $STATE/docs/docs/index.html ]] && docs_lines+="  docs       $base/docs/"$'\n'
[[ -f $STATE/docs/playground/index.html ]] && docs_lines+="  playground $base/playground/"$'\n'
[[ -f $STATE/docs/openapi.json ]] && docs_lines+="  OpenAPI    $base/openapi.json"$'\n'
cors_line=""
[[ -z ${CORS_ORIGINS:-} ]] || cors_line="  CORS       browser pages at $CORS_ORIGINS may call the API"$'\n'
cat <<EOF

agentfcgi is running: $WORKERS worker(s) behind nginx.
  API base   $base/
  health     $base/ok
  info       $base/info
  agents     $base/agents/search (POST)
${docs_lines}${cors_line}  HTTP       http://127.0.0.1:$HTTP_PORT/ redirects to HTTPS
  CA         $ca   (trust it: curl --cacert, SSL_CERT_FILE, REQUESTS_CA_BUNDLE)
  logs       $STATE/logs/worker-N.log, $STATE/nginx/logs/access.log and error.log
${as_worker:+  workers    run as user $worker_user; the database is its own, the keys and secrets are not readable by it
}  API key    $API_KEY   (admin; also in $STATE/api-key)
  webhooks   signed with the secret in $STATE/webhook-secret (AGENTFCGI_WEBHOOK_SECRET)

Try (every call but /ok, /info and /metrics needs the key):
  key=\$(cat $STATE/api-key)
  curl --cacert $ca -N $base/runs/stream -H "X-Api-Key: \$key" -H 'Content-Type: application/json' -d '{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"Hello there"}]}}'
  curl --cacert $ca $base/runs/wait -H "X-Api-Key: \$key" -H 'Content-Type: application/json' -d '{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"Hello there"}]}}'
  curl --cacert $ca -N $base/runs/stream -H "X-Api-Key: \$key" -H 'Content-Type: application/json' -d '{"assistant_id":"assistant","input":{"messages":[{"role":"user","content":"what is 12*(3+4)?"}]}}'
  curl --cacert $ca $base/threads -H "X-Api-Key: \$key" -H 'Content-Type: application/json' -d '{"thread_id":"demo"}'
  curl --cacert $ca -N $base/threads/demo/runs/stream -H "X-Api-Key: \$key" -H 'Content-Type: application/json' -d '{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"Remember me"}]}}'
  curl --cacert $ca $base/threads/demo/state -H "X-Api-Key: \$key"

Stop with Ctrl-C.
EOF

# ---- 7. restarts and reloads (scripts/run.sh restart | reload) ----
echo "$$" >"$STATE/run/run.pid"
controls=0
report() { # done|failed what: for the `restart` or `reload` that waits
    controls=$((controls + 1))
    echo "$$ $controls $1 $2" >"$STATE/run/control.status"
    if [[ $1 == "done" ]]; then say "$2"; else echo "run: $2" >&2; fi
}

nginx_workers() { ps -o pid=,args= --ppid "$NGINX_PID" 2>/dev/null | awk '/worker process/ {print $1}'; }

# Renders the site again and reloads nginx; returns once nginx's old workers take no new request (they finish the
# ones they have: open streams until worker_shutdown_timeout, 15 s). Then a worker that left the configuration
# gets nothing more, and may stop without a request reaching its socket as it closes.
reload_nginx() {
    local old pid deadline
    if ! render_nginx; then
        echo "run: nginx keeps its old configuration" >&2
        return 1
    fi
    old=$(nginx_workers)
    kill -HUP "$NGINX_PID" || return 1
    deadline=$((SECONDS + 15))
    for pid in $old; do
        # nginx names a worker that takes no more connections "nginx: worker process is shutting down".
        while [[ -e /proc/$pid ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'shutting down'; do
            if ((SECONDS >= deadline)); then
                echo "run: nginx's worker $pid is still taking requests 15 s after the reload; see $STATE/nginx/logs/error.log" >&2
                return 1
            fi
            sleep 0.05
        done
    done
}

# One worker at a time: nginx stops sending to it (a reload), it drains and exits, a new process starts on its
# socket and answers GET /ok there, and nginx sends to it again (a reload). No request reaches a worker whose
# socket is closing, and the others serve meanwhile. (The new process cannot start before the old one exits: a
# worker's name is held by one live process, for its metrics file.) With one worker there is no other to serve
# meanwhile: requests that arrive between its exit and its successor's start get 502.
rolling_restart() {
    local i n old sock
    say "restart: $WORKERS worker(s), one at a time ($BIN)"
    for n in $(seq 1 "$WORKERS"); do
        i=$((n - 1))
        old=${WORKER_PIDS[$i]}
        sock=${WORKER_SOCKS[$i]}
        if alive "$old"; then
            if ((WORKERS > 1)); then
                resting=$n
                if ! reload_nginx; then
                    resting=""
                    render_nginx >/dev/null
                    report failed "restart: nginx did not reload without worker $n; it serves on (pid $old)"
                    return
                fi
            fi
            say "worker $n: nginx no longer sends to it; stopping pid $old (it drains)"
            kill -TERM "$old" 2>/dev/null
            await_exit 20 "$old"
            if alive "$old"; then
                say "worker $n: pid $old still running after 20 s: SIGKILL"
                kill -KILL "$old" 2>/dev/null
                await_exit 5 "$old"
            fi
        fi
        if ! start_worker "$n" "$sock" || ! await_worker "$n" "$sock" "$started_pid" 60; then
            # Left out of nginx's configuration (the next restart tries again); the others serve.
            WORKER_PIDS[i]=$started_pid
            report failed "restart: the new worker $n did not start or answer (see its log); nginx sends to the others"
            return
        fi
        WORKER_PIDS[i]=$started_pid
        echo "$started_pid" >"$STATE/run/worker-$n.pid"
        unset "gone[$i]"
        resting=""
        if ! reload_nginx; then
            report failed "restart: nginx did not reload with the new worker $n (pid $started_pid)"
            return
        fi
        say "worker $n: pid $started_pid answers on $sock and nginx sends to it"
    done
    # The agents may have changed: the published spec lists them.
    "$BIN" openapi --config "$CONFIG" >"$STATE/docs/openapi.json.new" 2>/dev/null &&
        chmod a+r "$STATE/docs/openapi.json.new" && mv "$STATE/docs/openapi.json.new" "$STATE/docs/openapi.json"
    report "done" "restart: $WORKERS worker(s) restarted (pids ${WORKER_PIDS[*]}), nginx reloaded"
}

# ---- 8. wait: until a signal (traps above), nginx exits, or the last worker exits ----
# A worker that dies is reported and not restarted (until the next `restart`): nginx sends its requests to the others.
declare -A gone=()
while true; do
    if [[ -n $restart_wanted ]]; then
        restart_wanted=""
        set +e
        rolling_restart
        set -e
    fi
    if [[ -n $reload_wanted ]]; then
        reload_wanted=""
        if reload_nginx; then report "done" "reload: nginx reloaded"; else report failed "reload: nginx did not reload"; fi
    fi
    # A short wait that a signal ends at once (a trapped signal interrupts `wait`, not a foreground `sleep`).
    sleep 1 &
    wait $! 2>/dev/null || true
    alive "$NGINX_PID" || die "nginx exited; see $STATE/logs/nginx.log and $STATE/nginx/logs/error.log"
    left=0
    lost=""
    for i in "${!WORKER_PIDS[@]}"; do
        if alive "${WORKER_PIDS[$i]}"; then
            left=$((left + 1))
        elif [[ -z ${gone[$i]:-} ]]; then
            gone[$i]=1
            lost=1
            echo "run: worker $((i + 1)) (pid ${WORKER_PIDS[$i]}) exited; see $STATE/logs/worker-$((i + 1)).log" >&2
        fi
    done
    ((left > 0)) || die "no worker left"
    [[ -z $lost ]] || say "$left of $WORKERS worker(s) still serving"
done
