"""Turns the raw outputs of bench/run.sh into one table with ratios and pass/fail lines.

    report.py OUT_DIR ROUNDS KEY=LABEL ...

Reads OUT_DIR/wrk/KEY.rN.txt (wrk --latency output, N = 1..ROUNDS) for each target and
OUT_DIR/streams.json (bench/streams.py) if it exists. With several rounds each column is the median.
Prints the table and writes it to OUT_DIR/results.txt. Standard library only.

A/B run (AGENTFCGI_BASELINE_BIN): the targets include agentfcgi-baseline-ok and agentfcgi-baseline-runs-wait,
the streams runs are OUT_DIR/streams/{agentfcgi,agentfcgi-baseline}.rN.json, and a second table gives the
medians of both binaries and the ratios new/baseline (the environment's AB_NEW_BIN and AB_BASELINE_BIN name them).
"""

import json
import os
import re
import statistics
import sys

# The targets the checks compare (keys as bench/run.sh names them).
C_OK, FASTAPI_OK, FASTAPI_WAIT = "fcgi-c-ok", "fastapi-ok", "fastapi-runs-wait"
AGENT_OK, AGENT_WAIT = "agentfcgi-ok", "agentfcgi-runs-wait"
BASE_OK, BASE_WAIT = "agentfcgi-baseline-ok", "agentfcgi-baseline-runs-wait"

# #25's targets; the GET /ok one against FastAPI is the first benchmark issue's.
MIN_VS_C = 0.90
MIN_VS_FASTAPI = 4.0
MIN_WAIT_VS_FASTAPI = 2.5
MIN_WAIT_CPU_VS_FASTAPI = 4.0  # FastAPI's backend CPU per /runs/wait over agentfcgi's: a quarter or less
MIN_STREAMS = 10000
MAX_KIB_PER_STREAM = 24.0
AB_TOLERANCE = 0.05  # A/B: new/baseline within 1 +- this

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(path: str) -> dict:
    with open(path) as f:
        text = f.read()
    result = {"rps": float("nan"), "p50": float("nan"), "p99": float("nan"), "requests": 0, "non2xx": 0, "errors": 0}
    if m := re.search(r"Requests/sec:\s+([0-9.]+)", text):
        result["rps"] = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", text, re.M):
        result["p50"] = to_ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", text, re.M):
        result["p99"] = to_ms(m.group(1))
    if m := re.search(r"(\d+) requests in", text):
        result["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        result["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        result["errors"] = sum(int(g) for g in m.groups())
    return result


def parse_cpu(path: str) -> dict:
    """CPU seconds that nginx's workers and the backend processes spent during one wrk run."""
    result = {"nginx": float("nan"), "backend": float("nan"), "split": []}
    if not os.path.exists(path):
        return result
    ticks, clk = {}, 100
    with open(path) as f:
        for line in f:
            name, *fields = line.split()
            if name == "clk_tck":
                clk = int(fields[0])
                continue
            ticks[name] = {pid: int(t) for pid, t in (field.split("=") for field in fields)}
    for side in ("nginx", "backend"):
        before, after = ticks.get(f"{side}_before", {}), ticks.get(f"{side}_after", {})
        deltas = [after[pid] - before[pid] for pid in after if pid in before]
        result[side] = sum(deltas) / clk if deltas else float("nan")
        if side == "backend":
            total = sum(deltas)
            busy = [d for d in deltas if d > 0]  # uvicorn's idle helper process is left out
            result["split"] = [round(100 * d / total) for d in busy] if total > 0 and len(busy) > 1 else []
    return result


def median(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def streams_lines(s: dict, title: str) -> list:
    """The concurrent-streams section for one bench/streams.py result."""
    lines = []
    opened = s.get("open_at_measure", 0)
    per = s.get("kib_per_stream", float("nan"))
    lines.append("")
    lines.append(f"concurrent SSE streams, {title} ({'HTTPS' if s.get('tls') else 'plain HTTP'} through nginx):")
    lines.append(f"  streams open:          {opened} of {s.get('target_streams')} "
                 f"(opened in {s.get('open_seconds')} s, errors: {sum(s.get('errors', {}).values())})"
                 f"   target >= {MIN_STREAMS}   {verdict(opened >= MIN_STREAMS)}")
    lines.append(f"  worker RSS before:     {s['rss_before_kib'] / 1024:8.1f} MiB  (threads {s.get('threads_before')})")
    lines.append(f"  worker RSS with them:  {s['rss_with_streams_kib'] / 1024:8.1f} MiB  "
                 f"(threads {s.get('threads_with_streams')}, fds {s.get('worker_fds_with_streams')})")
    lines.append(f"  per stream:            {per:8.2f} KiB   target <= {MAX_KIB_PER_STREAM:.0f} KiB   "
                 f"{verdict(opened > 0 and per <= MAX_KIB_PER_STREAM)}")
    lines.append(f"  worker RSS after close:{s['rss_after_close_kib'] / 1024:8.1f} MiB  "
                 f"(threads {s.get('threads_after_close')}, fds {s.get('worker_fds_after_close')})")
    for n, wave in enumerate(s.get("later_waves", []), start=2):
        lines.append(f"  wave {n} (same count):  {wave['open_at_measure']} open, RSS {wave['rss_with_streams_kib'] / 1024:.1f} MiB "
                     f"with them, {wave['rss_after_close_kib'] / 1024:.1f} MiB after close "
                     f"(fds {wave.get('worker_fds_after_close')})")
    if s.get("errors"):
        for reason, count in s["errors"].items():
            lines.append(f"  open error x{count}: {reason}")
    if "cancelled_logged" in s:
        lines.append(f"  worker logged run.cancelled for {s['cancelled_logged']} of {s.get('started_logged')} "
                     f"started streams after the client closed them")
    return lines


def ab_lines(out: str, rounds: int, rows: dict) -> list:
    """A/B of two agentfcgi builds (AGENTFCGI_BASELINE_BIN): the medians of both, new/baseline, and the verdict."""
    lines = ["", f"A/B: agentfcgi new against baseline, medians of {rounds} interleaved round(s); "
                 f"target: new/baseline within {1 - AB_TOLERANCE:.2f}-{1 + AB_TOLERANCE:.2f}x"]
    for role, var in (("new", "AB_NEW_BIN"), ("baseline", "AB_BASELINE_BIN")):
        if os.environ.get(var):
            lines.append(f"  {role + ':':<10}{os.environ[var]}")

    # (metric, new median, baseline median, new per round, baseline per round, digits, judged, higher is better)
    metrics = []
    for name, new, base in (("GET /ok", AGENT_OK, BASE_OK), ("POST /runs/wait", AGENT_WAIT, BASE_WAIT)):
        if new not in rows or base not in rows:
            continue
        a, b = rows[new], rows[base]
        metrics.append((f"{name} req/s", a["rps"], b["rps"], a["rps_all"], b["rps_all"], 0, True, True))
        metrics.append((f"{name} CPU us/req (nginx+backend)", a["total_us"], b["total_us"],
                        a["total_us_all"], b["total_us_all"], 1, True, False))
        metrics.append((f"{name} backend CPU us/req (info)", a["backend_us"], b["backend_us"],
                        a["backend_us_all"], b["backend_us_all"], 1, False, False))

    streams = {}
    for which in ("agentfcgi", "agentfcgi-baseline"):
        runs = []
        for r in range(1, rounds + 1):
            path = os.path.join(out, "streams", f"{which}.r{r}.json")
            if os.path.exists(path):
                with open(path) as f:
                    runs.append((r, json.load(f)))
        streams[which] = runs
    new_runs, base_runs = streams["agentfcgi"], streams["agentfcgi-baseline"]
    if new_runs and base_runs:
        count = new_runs[0][1].get("target_streams")
        kib_new = [s.get("kib_per_stream", float("nan")) for _, s in new_runs]
        kib_base = [s.get("kib_per_stream", float("nan")) for _, s in base_runs]
        metrics.append((f"KiB per stream ({count} streams)", median(kib_new), median(kib_base), kib_new, kib_base, 2, True,
                        False))

    if not metrics:
        lines.append("  (no baseline measurements)")
        return lines
    width = max(len(m[0]) for m in metrics)
    header = (f"  {'metric':<{width}}  {'new':>8}  {'baseline':>8}  {'new/base':>8}  {'within 5%':<11}  "
              f"rounds new | baseline")
    lines.append(header)
    lines.append("  " + "-" * (len(header) - 2))
    for name, a, b, a_all, b_all, digits, judged, higher_better in metrics:
        ratio = a / b if b and b == b and a == a else float("nan")
        if not judged:
            mark = "-"
        elif abs(ratio - 1) <= AB_TOLERANCE:
            mark = "yes"
        else:
            mark = "no: better" if (ratio > 1) == higher_better else "no: WORSE"
        spread = f"{'/'.join(f'{v:.{digits}f}' for v in a_all)} | {'/'.join(f'{v:.{digits}f}' for v in b_all)}"
        lines.append(f"  {name:<{width}}  {a:>8.{digits}f}  {b:>8.{digits}f}  {ratio:>7.3f}x  {mark:<11}  {spread}")
    lines.append("  req/s: higher is better; CPU and KiB: lower is better. CPU per request is nginx's workers' plus the")
    lines.append("  backend processes' CPU time over the requests of each measured run; its median is over the rounds.")

    # The streams run of each binary whose KiB per stream is the median, in full.
    for which, runs in (("agentfcgi", new_runs), ("agentfcgi-baseline", base_runs)):
        if not runs:
            continue
        ranked = sorted(runs, key=lambda rs: rs[1].get("kib_per_stream", float("inf")))
        r, s = ranked[len(ranked) // 2]
        role = "new" if which == "agentfcgi" else "baseline"
        lines += streams_lines(s, f"one agentfcgi worker, {role}, round {r} of {len(runs)} (its median)")
    return lines


def main() -> int:
    out, rounds, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    targets = [pair.split("=", 1) for pair in pairs]
    rows = {}
    for key, label in targets:
        runs = []
        for r in range(1, rounds + 1):
            path = os.path.join(out, "wrk", f"{key}.r{r}.txt")
            if os.path.exists(path):
                run = parse_wrk(path)
                cpu = parse_cpu(path[:-4] + ".cpu")
                per = run["requests"] or 1
                run["nginx_us"] = cpu["nginx"] * 1e6 / per
                run["backend_us"] = cpu["backend"] * 1e6 / per
                run["split"] = cpu["split"]
                runs.append(run)
        if not runs:
            continue
        rows[key] = {
            "label": label,
            "rps": median(r["rps"] for r in runs),
            "rps_all": [r["rps"] for r in runs],
            "nginx_us": median(r["nginx_us"] for r in runs),
            "backend_us": median(r["backend_us"] for r in runs),
            # nginx + backend CPU per request, per round and its median (the A/B table compares these).
            "total_us_all": [r["nginx_us"] + r["backend_us"] for r in runs],
            "total_us": median(r["nginx_us"] + r["backend_us"] for r in runs),
            "backend_us_all": [r["backend_us"] for r in runs],
            "split": runs[-1]["split"],
            "p50": median(r["p50"] for r in runs),
            "p99": median(r["p99"] for r in runs),
            "non2xx": sum(r["non2xx"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
        }

    lines = []
    width = max([len(label) for _, label in targets] + [6])
    header = (f"{'target':<{width}}  {'req/s':>7}  {'rounds':>13}  {'p50 ms':>6}  {'p99 ms':>6}  {'non-2xx':>7}  "
              f"{'errors':>6}  {'nginx us/req':>12}  {'backend us/req':>14}  {'split %':>7}")
    lines.append(header)
    lines.append("-" * len(header))
    for key, _ in targets:
        if key not in rows:
            continue
        row = rows[key]
        spread = "/".join(f"{v / 1000:.1f}k" for v in row["rps_all"]) if len(row["rps_all"]) > 1 else "-"
        backend = "-" if row["backend_us"] != row["backend_us"] else f"{row['backend_us']:.0f}"
        split = "/".join(str(p) for p in row["split"]) or "-"
        lines.append(f"{row['label']:<{width}}  {row['rps']:>7.0f}  {spread:>13}  {row['p50']:>6.2f}  {row['p99']:>6.2f}  "
                     f"{row['non2xx']:>7}  {row['errors']:>6}  {row['nginx_us']:>12.0f}  {backend:>14}  {split:>7}")
    lines.append("")
    lines.append("req/s and latencies: medians over the rounds (each round's req/s in 'rounds'); errors: wrk socket errors;")
    lines.append("us/req: CPU time of nginx's workers / of the backend processes per request (split: per backend process).")
    lines.append("")

    def ratio(a, b):
        if a in rows and b in rows and rows[b]["rps"] > 0:
            return rows[a]["rps"] / rows[b]["rps"]
        return float("nan")

    vs_c = ratio(AGENT_OK, C_OK)
    vs_fastapi = ratio(AGENT_OK, FASTAPI_OK)
    wait_vs = ratio(AGENT_WAIT, FASTAPI_WAIT)
    lines.append(f"agentfcgi GET /ok / C libfcgi responder:         {vs_c:5.2f}x   "
                 f"target >= {MIN_VS_C:.2f}x   {verdict(vs_c >= MIN_VS_C)}")
    lines.append(f"agentfcgi GET /ok / FastAPI GET /ok:             {vs_fastapi:5.2f}x   "
                 f"target >= {MIN_VS_FASTAPI:.2f}x   {verdict(vs_fastapi >= MIN_VS_FASTAPI)}")
    lines.append(f"agentfcgi POST /runs/wait / FastAPI /runs/wait:  {wait_vs:5.2f}x   "
                 f"target >= {MIN_WAIT_VS_FASTAPI:.2f}x   {verdict(wait_vs >= MIN_WAIT_VS_FASTAPI)}")

    def cpu_ratio(a, b):
        if a in rows and b in rows and rows[a]["backend_us"] > 0:
            return rows[b]["backend_us"] / rows[a]["backend_us"]
        return float("nan")

    wait_cpu = cpu_ratio(AGENT_WAIT, FASTAPI_WAIT)
    lines.append(f"backend CPU per request, FastAPI / agentfcgi:    GET /ok {cpu_ratio(AGENT_OK, FASTAPI_OK):4.1f}x, "
                 f"POST /runs/wait {wait_cpu:4.1f}x   target >= {MIN_WAIT_CPU_VS_FASTAPI:.1f}x on /runs/wait   "
                 f"{verdict(wait_cpu >= MIN_WAIT_CPU_VS_FASTAPI)}   (nginx's and wrk's share left out)")
    bad = [rows[k]["label"] for k in rows if rows[k]["non2xx"] or rows[k]["errors"]]
    if bad:
        lines.append(f"WARNING: non-2xx responses or socket errors for: {', '.join(bad)} (see {out}/wrk/)")

    streams_path = os.path.join(out, "streams.json")
    if os.path.exists(streams_path):
        with open(streams_path) as f:
            lines += streams_lines(json.load(f), "one agentfcgi worker")

    if BASE_OK in rows or BASE_WAIT in rows or os.path.isdir(os.path.join(out, "streams")):
        lines += ab_lines(out, rounds, rows)

    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "results.txt"), "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
