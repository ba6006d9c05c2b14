#!/usr/bin/env bash
# Install what agentfcgi needs to build, run and test on Debian 12 (bookworm), if missing.
#
# Idempotent and quick the second time: each package is checked with dpkg first, and
# apt-get (update + install) runs only when something is missing. Needs root for that.
# Swift itself is not installed here: it must be on PATH or in /opt/swift/usr/bin.
# Used by scripts/run.sh and by the test command.
set -euo pipefail

say() { echo "deps: $*"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

need=(
    libfcgi-dev     # FastCGI library and headers (CFastCGI)
    libsqlite3-dev  # SQLite with FTS5, for GRDB (knowledge_search, later the store)
    pkg-config      # SwiftPM finds libfcgi through `pkg-config fcgi`
    nginx           # TLS front, rate limits, static docs
    openssl         # scripts/certs.sh
    curl            # readiness checks, examples
    ca-certificates # HTTPS to model providers
    python3-pip     # Python client checks (langgraph-sdk, openai)
    python3-venv    # their venv (scripts/pytest-live.sh)
    tzdata          # Python's zoneinfo in the cron tests (the server reads zones from Foundation's own ICU data)
)

missing=()
for pkg in "${need[@]}"; do
    case $pkg in
        nginx)
            # Any Debian nginx flavour will do.
            found=""
            for p in nginx nginx-light nginx-core nginx-full nginx-extras; do
                if installed "$p"; then found=$p; break; fi
            done
            if [[ -n $found ]] && command -v nginx >/dev/null 2>&1; then
                say "nginx ok ($found $(nginx -v 2>&1 | sed 's|.*nginx/||'))"
            else
                missing+=(nginx)
            fi
            ;;
        *)
            if installed "$pkg"; then say "$pkg ok"; else missing+=("$pkg"); fi
            ;;
    esac
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        say "missing: ${missing[*]}; run as root or: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    say "apt-get update (missing: ${missing[*]})"
    apt-get update -qq
    say "apt-get install -y --no-install-recommends ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for pkg in "${missing[@]}"; do
        installed "$pkg" || { say "$pkg did not install" >&2; exit 1; }
    done
    say "installed ${missing[*]}"
fi

if command -v swift >/dev/null 2>&1; then
    say "swift ok ($(command -v swift))"
elif [[ -x /opt/swift/usr/bin/swift ]]; then
    say "swift ok (/opt/swift/usr/bin/swift, not on PATH: export PATH=/opt/swift/usr/bin:\$PATH)"
else
    say "swift not found on PATH nor in /opt/swift/usr/bin: install a Swift 6 toolchain (swift.org) first" >&2
    exit 1
fi
