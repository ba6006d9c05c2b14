# Sourced by the bench scripts that serve through scripts/run.sh: the worker binary, and waiting for the service.
# Expects $repo (the repository).

# AGENTFCGI_BIN, or a release build of it.
bench_binary() {
    if [[ -z ${AGENTFCGI_BIN:-} ]]; then
        (cd "$repo" && swift build -c release --product agentfcgi >&2)
        AGENTFCGI_BIN=$(cd "$repo" && swift build -c release --show-bin-path)/agentfcgi
    fi
    export AGENTFCGI_BIN
}

# bench_wait_ok URL CA PID LOG: until GET URL/ok answers; fails with the log's tail if the service died.
bench_wait_ok() {
    local url=$1 ca=$2 pid=$3 log=$4
    for _ in $(seq 1 150); do
        curl -fsS --cacert "$ca" -o /dev/null "$url/ok" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; return 1; }
        sleep 0.2
    done
    echo "bench: no answer from $url/ok" >&2
    return 1
}
