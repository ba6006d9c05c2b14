#!/usr/bin/env bash
# Micro-benchmarks of the hot paths (bench/micro, ordo-one's package-benchmark): GET /ok and a 404's routing,
# POST /runs/wait and /runs/stream through Application.respond in process (no FastCGI, no nginx). Prints
# package-benchmark's table: wall clock and CPU per request, mallocs, retains, throughput.
#
#   bench/micro.sh                       # every benchmark
#   bench/micro.sh --filter 'runs/wait'  # more `swift package benchmark` options after the name
#
# A baseline to compare against: `bench/micro.sh baseline update main`, later `bench/micro.sh baseline compare main`.
# The first run builds the project again in release mode in bench/micro/.build (about as long as a release build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=/opt/swift/usr/bin:$PATH
cd "$here/micro"
# SwiftPM names a path dependency by its folder: the link gives the repository the name the manifest uses,
# whatever the clone's folder is called.
ln -sfn ../.. agentfcgi
if [[ ${1:-} == baseline ]]; then
    exec swift package --allow-writing-to-package-directory benchmark "$@"
fi
exec swift package benchmark --no-progress "$@"
