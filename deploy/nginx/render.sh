#!/usr/bin/env bash
# Render the nginx configuration for agentfcgi from the templates beside this script.
#
# Writes $PREFIX/conf/nginx.conf (a standalone main config: pid, logs and temp files under
# $PREFIX) and $PREFIX/conf/agentfcgi.conf (the http-level site; a server install copies
# this one file into /etc/nginx/conf.d/). Creates $PREFIX/{conf,logs,tmp}, and the logs nginx
# writes there (error.log, and ACCESS_LOG when it is under $PREFIX/logs) with mode 0640.
#
# Environment (required first):
#   PREFIX        absolute folder for the rendered config, logs and temp files
#   UPSTREAMS     space-separated workers: unix:/abs/path.sock or HOST:PORT (127.0.0.1:9001)
#   TLS_CERT      certificate chain file (PEM)
#   TLS_KEY       private key file (PEM)
#   LISTEN_ADDR   address of both listeners              (127.0.0.1; 0.0.0.0 = all IPv4, [::] = all IPv6)
#   HTTPS_PORT    HTTPS port                             (8443)
#   HTTP_PORT     plain HTTP port, redirects to HTTPS    (8080)
#   SERVER_NAME   server_name of both servers            (_ : any)
#   DOCS_ROOT     static files, laid out like the URLs: openapi.json, docs/index.html,
#                 playground/index.html; missing ones go to the workers  ($PREFIX/docs)
#   ACCESS_LOG    access log path                        ($PREFIX/logs/access.log)
#   ACME_ROOT     webroot for /.well-known/acme-challenge/ on HTTP_PORT  ($PREFIX/acme)
#   NGINX_USER    if set, "user $NGINX_USER;" in nginx.conf (needed when nginx starts as root)
#   RATE          requests per client address            (20r/s)
#   KEY_RATE      requests per API key                   (50r/s)
#   BURST         burst allowed above either rate        (40)
#   MAX_STREAMS   open SSE streams per client address, 0 = no limit  (32)
#   KEY_STREAMS   streams, waits and joins in progress per API key on this host (SSE, /runs/wait, /join,
#                 /v1, /mcp), 0 = no limit  (64)
#   MAX_CONNS     requests in progress per client address on every route (each HTTP/2 stream
#                 counts, open streams too), 0 = no limit  (64)
#   READ_TIMEOUT  silence after which a stream is cut    (75s; the app pings every 15 s)
#   HEADER_TIMEOUT  a request's header must be complete within this (slow-loris)  (15s)
#   BODY_TIMEOUT  longest pause between two reads of a request body  (30s)
#   SEND_TIMEOUT  longest a client may read nothing of a response (60s; streams ping every 15 s)
#   HSTS_MAX_AGE  Strict-Transport-Security max-age, seconds  (31536000)
#   METRICS_ALLOW space-separated addresses/CIDRs allowed to GET /metrics, "all", or
#                 empty for nobody  (127.0.0.1 ::1)
#   CORS_ORIGINS  space-separated origins whose pages may call the API from a browser, exactly
#                 as browsers send them: scheme://host[:port], lower case, no path, no default
#                 port (https://chat.example.com http://localhost:3000). nginx answers their
#                 preflights itself and adds Access-Control-* headers for them only; never "*".
#                 Empty: no CORS headers at all  (empty)
#   CORS_MAX_AGE  seconds a browser may cache a preflight's answer (7200, Chromium's cap)
#   WORKER_CONNECTIONS  connections per nginx worker process; a proxied request or open stream takes
#                 two (4096)
#   RLIMIT_NOFILE open files per nginx worker process (8192)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "render.sh: $*" >&2; exit 1; }

: "${PREFIX:=}" "${UPSTREAMS:=}" "${TLS_CERT:=}" "${TLS_KEY:=}"
[[ -n $PREFIX ]] || die "PREFIX is required (absolute folder for conf/, logs/, tmp/)"
[[ -n $UPSTREAMS ]] || die "UPSTREAMS is required (e.g. \"unix:/run/agentfcgi/worker-1.sock unix:/run/agentfcgi/worker-2.sock\")"
[[ -n $TLS_CERT ]] || die "TLS_CERT is required (PEM certificate chain)"
[[ -n $TLS_KEY ]] || die "TLS_KEY is required (PEM private key)"
PREFIX=${PREFIX%/}
LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1}
HTTPS_PORT=${HTTPS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-8080}
SERVER_NAME=${SERVER_NAME:-_}
DOCS_ROOT=${DOCS_ROOT:-$PREFIX/docs}
DOCS_ROOT=${DOCS_ROOT%/}
ACCESS_LOG=${ACCESS_LOG:-$PREFIX/logs/access.log}
ACME_ROOT=${ACME_ROOT:-$PREFIX/acme}
ACME_ROOT=${ACME_ROOT%/}
NGINX_USER=${NGINX_USER:-}
RATE=${RATE:-20r/s}
KEY_RATE=${KEY_RATE:-50r/s}
BURST=${BURST:-40}
MAX_STREAMS=${MAX_STREAMS:-32}
MAX_CONNS=${MAX_CONNS:-64}
KEY_STREAMS=${KEY_STREAMS:-64}
READ_TIMEOUT=${READ_TIMEOUT:-75s}
HEADER_TIMEOUT=${HEADER_TIMEOUT:-15s}
BODY_TIMEOUT=${BODY_TIMEOUT:-30s}
SEND_TIMEOUT=${SEND_TIMEOUT:-60s}
HSTS_MAX_AGE=${HSTS_MAX_AGE:-31536000}
METRICS_ALLOW=${METRICS_ALLOW-127.0.0.1 ::1}
CORS_ORIGINS=${CORS_ORIGINS:-}
CORS_MAX_AGE=${CORS_MAX_AGE:-7200}
WORKER_CONNECTIONS=${WORKER_CONNECTIONS:-4096}
RLIMIT_NOFILE=${RLIMIT_NOFILE:-8192}

# ---- validation: values go into nginx syntax, so refuse anything that could break it ----
safe_word() { # name value: no whitespace, quotes, ; { } # $ or backslash
    case $2 in
        '' | *[[:space:]\;\{\}\"\'\#\$\\]*) die "$1 has an empty value or a character nginx would misread: '$2'" ;;
    esac
}
abs_path() { safe_word "$1" "$2"; case $2 in /*) ;; *) die "$1 must be an absolute path: '$2'" ;; esac; }
matches() { [[ $2 =~ $3 ]] || die "$1='$2' is not valid ($4)"; }

abs_path PREFIX "$PREFIX"
abs_path TLS_CERT "$TLS_CERT"
abs_path TLS_KEY "$TLS_KEY"
abs_path DOCS_ROOT "$DOCS_ROOT"
abs_path ACCESS_LOG "$ACCESS_LOG"
abs_path ACME_ROOT "$ACME_ROOT"
safe_word LISTEN_ADDR "$LISTEN_ADDR"
safe_word SERVER_NAME "$SERVER_NAME"
matches HTTPS_PORT "$HTTPS_PORT" '^[0-9]{1,5}$' 'a port number'
matches HTTP_PORT "$HTTP_PORT" '^[0-9]{1,5}$' 'a port number'
matches RATE "$RATE" '^[0-9]+r/[sm]$' 'like 20r/s or 600r/m'
matches KEY_RATE "$KEY_RATE" '^[0-9]+r/[sm]$' 'like 50r/s or 600r/m'
matches BURST "$BURST" '^[0-9]+$' 'a whole number'
matches MAX_STREAMS "$MAX_STREAMS" '^[0-9]+$' 'a whole number, 0 for no limit'
matches MAX_CONNS "$MAX_CONNS" '^[0-9]+$' 'a whole number, 0 for no limit'
matches KEY_STREAMS "$KEY_STREAMS" '^[0-9]+$' 'a whole number, 0 for no limit'
matches READ_TIMEOUT "$READ_TIMEOUT" '^[0-9]+(ms|s|m|h)?$' 'an nginx time like 75s or 5m'
matches HEADER_TIMEOUT "$HEADER_TIMEOUT" '^[0-9]+(ms|s|m|h)?$' 'an nginx time like 15s'
matches BODY_TIMEOUT "$BODY_TIMEOUT" '^[0-9]+(ms|s|m|h)?$' 'an nginx time like 30s'
matches SEND_TIMEOUT "$SEND_TIMEOUT" '^[0-9]+(ms|s|m|h)?$' 'an nginx time like 60s'
matches HSTS_MAX_AGE "$HSTS_MAX_AGE" '^[0-9]+$' 'seconds'
matches CORS_MAX_AGE "$CORS_MAX_AGE" '^[0-9]+$' 'seconds'
matches WORKER_CONNECTIONS "$WORKER_CONNECTIONS" '^[1-9][0-9]*$' 'a whole number'
matches RLIMIT_NOFILE "$RLIMIT_NOFILE" '^[1-9][0-9]*$' 'a whole number'
if [[ -n $NGINX_USER ]]; then
    matches NGINX_USER "$NGINX_USER" '^[a-z_][a-z0-9_-]*$' 'a user name'
fi
[[ $HTTPS_PORT != "$HTTP_PORT" ]] || die "HTTPS_PORT and HTTP_PORT are both $HTTPS_PORT"

# ---- derived values ----
upstream_servers=""
for u in $UPSTREAMS; do
    safe_word UPSTREAMS "$u"
    case $u in
        unix:/*) ;;
        *:*) matches UPSTREAMS "$u" '^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$' 'unix:/abs/path.sock or HOST:PORT' ;;
        *) die "UPSTREAMS entry '$u' is neither unix:/abs/path.sock nor HOST:PORT" ;;
    esac
    upstream_servers+="    server $u max_fails=1 fail_timeout=5s;"$'\n'
done
[[ -n $upstream_servers ]] || die "UPSTREAMS lists no worker"
upstream_servers=${upstream_servers%$'\n'}

user_line="# no user line: nginx runs as the user that starts it (NGINX_USER unset)"
[[ -z $NGINX_USER ]] || user_line="user $NGINX_USER;"

https_port_suffix=":$HTTPS_PORT"
[[ $HTTPS_PORT != 443 ]] || https_port_suffix=""

stream_limit_line="# no limit on open streams per address (MAX_STREAMS=0)"
[[ $MAX_STREAMS == 0 ]] || stream_limit_line="limit_conn agentfcgi_streams $MAX_STREAMS;"
key_stream_limit_line="# no limit on streams and waits per API key (KEY_STREAMS=0)"
[[ $KEY_STREAMS == 0 ]] || key_stream_limit_line="limit_conn agentfcgi_key_streams $KEY_STREAMS;"
conn_limit_line="# no limit on requests in progress per address (MAX_CONNS=0)"
[[ $MAX_CONNS == 0 ]] || conn_limit_line="limit_conn agentfcgi_conns $MAX_CONNS;"

metrics_allow_lines=""
for a in $METRICS_ALLOW; do
    safe_word METRICS_ALLOW "$a"
    matches METRICS_ALLOW "$a" '^(all|[0-9A-Fa-f.:]+(/[0-9]{1,3})?|unix:)$' 'addresses, CIDRs, unix: or all'
    metrics_allow_lines+="        allow $a;"$'\n'
done
metrics_allow_lines=${metrics_allow_lines%$'\n'}
[[ -n $metrics_allow_lines ]] || metrics_allow_lines="        # METRICS_ALLOW is empty: nobody may read /metrics through nginx"

# CORS: one exact-match regex per origin. An origin is compared as a string, so it must be
# spelled the way browsers serialize it, or it would silently never match.
cors_origin_lines=""
read -r -a cors_origins <<<"$CORS_ORIGINS" # split without globbing: "*" stays "*"
for o in "${cors_origins[@]}"; do
    case $o in
        '*' | null) die "CORS_ORIGINS: '$o' is not allowed; list the exact origins of the pages that call the API" ;;
        */) die "CORS_ORIGINS: '$o' ends with '/'; an origin has no path: '${o%/}'" ;;
        *[[:upper:]]*) die "CORS_ORIGINS: '$o' has capitals; browsers send origins in lower case" ;;
        https://*:443 | http://*:80) die "CORS_ORIGINS: '$o' names its scheme's default port, which browsers leave out of the origin" ;;
    esac
    matches CORS_ORIGINS "$o" '^https?://([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$' \
        'scheme://host[:port], like https://chat.example.com or http://localhost:3000'
    pattern=$(printf '%s' "$o" | sed -e 's/[].[]/\\&/g') # . [ ] literal in the regex
    cors_origin_lines+="    \"~^$pattern\$\" \"$o\";"$'\n'
done
cors_origin_lines=${cors_origin_lines%$'\n'}
cors_vary="Origin"
if [[ -z $cors_origin_lines ]]; then
    cors_origin_lines="    # CORS_ORIGINS is empty: no origin is allowed and no response carries CORS headers"
    cors_vary=""
fi

# ---- substitution ----
# Escape a value for the replacement side of s|...|...|: backslash, &, the | delimiter,
# and newlines (multi-line values become "\<newline>").
sed_escape() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g' -e '$!s/$/\\/'; }

script=$(mktemp)
trap 'rm -f "$script"' EXIT
add() { printf 's|@%s@|%s|g\n' "$1" "$(sed_escape "$2")" >>"$script"; }
add PREFIX "$PREFIX"
add USER_LINE "$user_line"
add LISTEN_ADDR "$LISTEN_ADDR"
add HTTPS_PORT "$HTTPS_PORT"
add HTTP_PORT "$HTTP_PORT"
add HTTPS_PORT_SUFFIX "$https_port_suffix"
add SERVER_NAME "$SERVER_NAME"
add TLS_CERT "$TLS_CERT"
add TLS_KEY "$TLS_KEY"
add DOCS_ROOT "$DOCS_ROOT"
add ACCESS_LOG "$ACCESS_LOG"
add ACME_ROOT "$ACME_ROOT"
add RATE "$RATE"
add KEY_RATE "$KEY_RATE"
add BURST "$BURST"
add READ_TIMEOUT "$READ_TIMEOUT"
add HEADER_TIMEOUT "$HEADER_TIMEOUT"
add BODY_TIMEOUT "$BODY_TIMEOUT"
add SEND_TIMEOUT "$SEND_TIMEOUT"
add HSTS_MAX_AGE "$HSTS_MAX_AGE"
add STREAM_LIMIT_LINE "$stream_limit_line"
add CONN_LIMIT_LINE "$conn_limit_line"
add KEY_STREAM_LIMIT_LINE "$key_stream_limit_line"
add METRICS_ALLOW_LINES "$metrics_allow_lines"
add UPSTREAM_SERVERS "$upstream_servers"
add CORS_ORIGIN_LINES "$cors_origin_lines"
add CORS_MAX_AGE "$CORS_MAX_AGE"
add CORS_VARY "$cors_vary"
add WORKER_CONNECTIONS "$WORKER_CONNECTIONS"
add RLIMIT_NOFILE "$RLIMIT_NOFILE"

mkdir -p "$PREFIX/conf" "$PREFIX/logs" "$PREFIX/tmp"
# The logs under the prefix, made before nginx opens them: nginx would create them 0644 (world-readable),
# and they hold clients' addresses and key ids, and the error log, for some errors, request lines with
# their query strings (docs/security.md). nginx appends to an existing file and keeps its mode: the
# owner (root, or the user that runs nginx) and its group may read them. Logs elsewhere (a server's
# /var/log/nginx) are the distribution's, 0640 already.
logs=("$PREFIX/logs/error.log")
[[ $ACCESS_LOG != "$PREFIX/logs/"* ]] || logs+=("$ACCESS_LOG")
touch "${logs[@]}"
chmod 0640 "${logs[@]}"

render() { # template output
    local tmp="$2.tmp.$$"
    sed -f "$script" "$here/$1" >"$tmp"
    if grep -n '@[A-Z_]*@' "$tmp" >&2; then
        rm -f "$tmp"
        die "$1: placeholder left unfilled (above)"
    fi
    mv -f "$tmp" "$2"
    echo "render.sh: wrote $2"
}
render nginx.conf.in "$PREFIX/conf/nginx.conf"
render agentfcgi.conf.in "$PREFIX/conf/agentfcgi.conf"
