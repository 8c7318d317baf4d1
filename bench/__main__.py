"""`python -m bench` (`make bench`, `make bench ARGS="--peer --pairs 3"`): run the issue-5
figures against msgbuffer and print a table; with --peer, run the peer in the same
session, alternating msgbuffer and peer (A B A B ...), and print each pair's ratio and
their median.

  --only ingest,drain    a subset (figures: see --list)
  --quick                shorter runs, fewer samples (a smoke test, not figures to quote)
  --pairs N              pairs for the headline figures (default 3)
  --slow-pairs N         pairs for the slow ones: lone, ws, sigkill (default 1)
  --json PATH            also write every raw value as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
from datetime import UTC, datetime

from . import baselines
from . import environment as env
from .figures import FIGURES, RUNS, Context, Options
from .systems import Msgbuffer, Peer

BASELINES = {"redis": baselines.redis_lpush, "bare_asgi": baselines.bare_asgi}


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


# /ws/stats metrics come from bench/ws_stats.py; the issue-5 targets by their names.
WS_TARGETS = {
    "ticks_per_client_per_s": (">= 1.95/s", lambda v, r: v >= 1.95),
    "ticks_per_client_per_s_min": (">= 1.95/s", lambda v, r: v >= 1.95),
    "tick_lag_p99_ms": ("<= 100 ms", lambda v, r: v <= 100),
    "web_redis_cmds_per_s": ("<= 10/s", lambda v, r: v <= 10),
    "web_rss_mib": ("<= 150 MiB", lambda v, r: v <= 150),
}


def _ws_target(name: str):
    return WS_TARGETS.get(name, ("", None))


def run(args) -> dict:
    opts = Options(
        quick=args.quick,
        pairs=args.pairs,
        slow_pairs=args.slow_pairs,
        ws_clients=args.ws_clients,
        soak_seconds=args.soak_seconds,
        soak_retention_minutes=args.soak_retention_minutes,
        drain_workers=args.drain_workers,
    )
    ctx = Context()
    wanted = args.only.split(",") if args.only else [f.key for f in FIGURES if f.default] + list(BASELINES)
    unknown = set(wanted) - set(RUNS) - set(BASELINES)
    if unknown:
        raise SystemExit(f"unknown figure(s): {', '.join(sorted(unknown))}; known: {', '.join(list(RUNS) + list(BASELINES))}")
    env.prepare(peer=args.peer)
    msgbuffer = Msgbuffer(MSGBUFFER_CLAIM_LEASE="3")  # the SIGKILL figure waits for one lease to expire
    peer = Peer() if args.peer else None
    report = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(), "figures": {}, "baselines": {}}
    try:
        for figure in FIGURES:
            if figure.key not in wanted:
                continue
            pairs = opts.slow_pairs if figure.slow else opts.pairs
            if opts.quick:
                pairs = 1
            runs = {"msgbuffer": [], "peer": []}
            for i in range(pairs):
                for system in (msgbuffer, peer if figure.with_peer else None):
                    if system is None:
                        continue
                    load = os.getloadavg()[0]
                    _say(f"{figure.key}: {system.name} run {i + 1}/{pairs} (load average {load:.1f})")
                    started = time.monotonic()
                    try:
                        values = RUNS[figure.key](system, opts, ctx)
                    except Exception as exc:
                        values = {"error": f"{exc.__class__.__name__}: {exc}"}
                        _say(f"{figure.key}: {system.name} failed: {values['error']}")
                        traceback.print_exc()
                    finally:
                        system.stop_all()
                    shown = {k: v for k, v in values.items() if not k.startswith("_")}  # "_samples": a series, for --json
                    _say(f"{figure.key}: {system.name} {shown} ({time.monotonic() - started:.0f}s)")
                    values["_load"] = load  # the machine is shared: a busy neighbour shows here
                    runs[system.name].append(values)
                if not (peer and figure.with_peer) and not figure.slow and i == 0 and not args.repeat_solo:
                    break  # a msgbuffer-only figure needs no pairs
            report["figures"][figure.key] = runs
        for key, baseline in BASELINES.items():
            if key in wanted:
                _say(f"baseline {key}")
                try:
                    report["baselines"].update(baseline(opts))
                except Exception as exc:
                    report["baselines"][key] = f"error: {exc}"
    finally:
        msgbuffer.stop_all()
        if peer:
            peer.stop_all()
    return report


def _machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=env.ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "messaging", "dashboard", "msgbuffer_site"))
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit + (" + uncommitted changes" if dirty else ""),
    }


def render(report: dict, *, peer: bool) -> str:
    lines = []
    head = (
        ["figure", "metric", "msgbuffer", "peer", "ratios (mb/peer, per pair)", "median ratio", "target", "met"]
        if peer
        else ["figure", "metric", "msgbuffer", "target", "met"]
    )
    rows = [head]
    notes = []
    for figure in FIGURES:
        runs = report["figures"].get(figure.key)
        if runs is None:
            continue
        mb_runs, peer_runs = runs["msgbuffer"], runs["peer"]
        for run in mb_runs + peer_runs:
            for key in ("error", "skipped"):
                if key in run:
                    notes.append(f"{figure.key}: {run[key]}")
        metrics = figure.metrics
        if not metrics:  # ws: whatever bench.ws_stats returned
            names = []
            for run in mb_runs + peer_runs:
                names += [k for k, v in run.items() if isinstance(v, (int, float)) and k not in names and not k.startswith("_")]
            metrics = [(name, *_ws_target(name)) for name in names]
        else:
            metrics = [(m.name, m.target, m.check) for m in metrics]
        for name, target, check in metrics:
            mb_values = [run.get(name) for run in mb_runs]
            peer_values = [run.get(name) for run in peer_runs]
            mb = _median(mb_values)
            pv = _median(peer_values)
            ratios = [
                a / b for a, b in zip(mb_values, peer_values) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
            ]
            ratio = _median(ratios)
            met = "-" if check is None or mb is None else ("yes" if _check(check, mb, ratio) else "NO")
            mb_text = _fmt(mb) + (f" ({', '.join(_fmt(v) for v in mb_values)})" if len(mb_values) > 1 else "")
            if peer:
                pv_text = _fmt(pv) + (f" ({', '.join(_fmt(v) for v in peer_values)})" if len(peer_values) > 1 else "")
                rows.append(
                    [figure.key, name, mb_text, pv_text, ", ".join(_fmt(r) for r in ratios) or "-", _fmt(ratio), target, met]
                )
            else:
                rows.append([figure.key, name, mb_text, target, met])
    for name, value in report["baselines"].items():
        rows.append(["baseline", name, _fmt(value)] + (["", "", "", "context", "-"] if peer else ["context", "-"]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    lines.append("")
    lines.append("How each figure is measured:")
    for figure in FIGURES:
        if figure.key in report["figures"]:
            lines.append(f"- {figure.key}: {figure.how}")
    if report["baselines"]:
        lines.append(
            "- baseline: redis-benchmark -c50 -t lpush (unpipelined, -P 64); bench/bare_asgi.py under wrk -t2 -c64, one uvicorn process"
        )
    loads = [run["_load"] for runs in report["figures"].values() for side in runs.values() for run in side if "_load" in run]
    if loads:
        lines.append(
            f"- load average (1 min) at the start of each run: {min(loads):.1f}..{max(loads):.1f} (2 cores; other work shares the machine)"
        )
    for note in notes:
        lines.append(f"- note: {note}")
    m = report["machine"]
    lines.append(
        f"Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}, Linux {m['kernel']}; "
        f"code {m.get('commit', '?')}; started {report['started']}"
    )
    return "\n".join(lines)


def _check(check, value, ratio) -> bool:
    try:
        return bool(check(value, ratio))
    except TypeError:
        return False


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peer", action="store_true", help="also run the peer, alternating A B A B")
    parser.add_argument("--only", default="", help="comma-separated figures")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--slow-pairs", type=int, default=1)
    parser.add_argument("--repeat-solo", action="store_true", help="repeat msgbuffer-only figures --pairs times")
    parser.add_argument("--ws-clients", type=int, default=1000)
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument(
        "--soak-retention-minutes", type=float, default=10.0, help="msgbuffer's MSGBUFFER_RETENTION_DAYS in the soak; 0: off"
    )
    parser.add_argument("--drain-workers", type=int, default=1, help="workers in the drain figure (issue 5 asks for one)")
    parser.add_argument("--json", default="", help="write the raw values here")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for figure in FIGURES:
            print(f"{figure.key:16} {figure.title}{'' if figure.default else ' (not in the default set)'}")
        for key in BASELINES:
            print(f"{key:16} baseline")
        return
    report = run(args)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1, default=str)
    print(render(report, peer=args.peer))


if __name__ == "__main__":
    main()
