#!/usr/bin/env bash
# Runs the Swift suites N times in a row and reports every test that failed in any run, with how often.
# A developer's tool for finding tests that depend on timing or scheduling; not part of the test command.
#
#   scripts/flaky.sh [N] [swift test args]     # N defaults to 5; e.g. scripts/flaky.sh 10 --filter LiveThreadTests
#
# Builds once, starts the model and PostgreSQL servers the suites need (as scripts/test.sh does), then runs the
# in-process suites (in parallel) and the live suites (one at a time) N times, keeping each run's XUnit report
# under .state/flaky/. Exits non-zero if any test failed in any run.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ -x /opt/swift/usr/bin/swift ]] && ! command -v swift >/dev/null 2>&1 && export PATH=/opt/swift/usr/bin:$PATH
runs=5
if [[ ${1:-} =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
out=$repo/.state/flaky
rm -rf "$out" && mkdir -p "$out"

swift build --build-tests --traits OTLP || exit 1
llm_env=$(bash scripts/llm-server.sh start) || exit 1
eval "$llm_env"
pg_env=$(bash scripts/pg-server.sh start) || { bash scripts/llm-server.sh stop; exit 1; }
eval "$pg_env"
export LLM_BASE_URL POSTGRES_URL PG_DIR
trap 'bash scripts/llm-server.sh stop >/dev/null 2>&1; PG_DIR=$PG_DIR bash scripts/pg-server.sh stop >/dev/null 2>&1' EXIT

for run in $(seq 1 "$runs"); do
    started=$SECONDS
    swift test --skip-build --traits OTLP --parallel --skip LiveTests --xunit-output "$out/run-$run-unit.xml" "$@" >"$out/run-$run-unit.log" 2>&1
    unit=$?
    swift test --skip-build --traits OTLP --no-parallel --filter LiveTests --xunit-output "$out/run-$run-live.xml" "$@" >"$out/run-$run-live.log" 2>&1
    live=$?
    echo "$unit" >"$out/run-$run-unit.exit"
    echo "$live" >"$out/run-$run-live.exit"
    echo "run $run: in-process exit $unit, live exit $live, $((SECONDS - started)) s"
done

# Swift Testing writes its report beside the XCTest one, as NAME-swift-testing.xml.
python3 - "$out" "$runs" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
from collections import Counter
out, runs = sys.argv[1], int(sys.argv[2])
failed, seen = Counter(), set()
for path in sorted(glob.glob(f"{out}/*.xml")):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        print(f"unreadable report {path}: {error}")
        failed[f"(report {path})"] += 1
        continue
    for case in root.iter("testcase"):
        name = f'{case.get("classname")}.{case.get("name")}'
        seen.add(name)
        if case.find("failure") is not None or case.find("error") is not None:
            failed[name] += 1
# A run that exited non-zero without a failing test in its report crashed or never wrote the report.
for path in sorted(glob.glob(f"{out}/*.exit")):
    status = open(path).read().strip()
    stem = path[:-len(".exit")]
    report = glob.glob(f"{stem}*.xml")
    has_failure = any(
        case.find("failure") is not None or case.find("error") is not None
        for xml in report for case in ET.parse(xml).getroot().iter("testcase")
    ) if report else False
    if status != "0" and not has_failure:
        failed[f"({stem.rsplit('/', 1)[-1]}: exit {status} with no failing test in its report; see {stem}.log)"] += 1
print(f"\n{len(seen)} tests, {runs} runs each")
if not failed:
    print("no test failed in any run")
for name, count in failed.most_common():
    print(f"FAILED {count}/{runs}: {name}")
sys.exit(1 if failed else 0)
PY
