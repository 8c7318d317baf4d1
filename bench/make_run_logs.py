"""`python -m bench.make_run_logs`: how many lines does `make run` print (issue 11)?

Starts `python -m msgbuffer_site.launch` (what `make run` runs) as on a fresh machine: no
DATABASE_URL, no REDIS_URL, so SQLite and an embedded Redis in a temporary var/ dir. Once
the banner is out it counts the lines printed in an idle window, then in a window of
paced load (bench/loadgen.py, open loop, single POST /messages), and prints both as
lines per minute, with a sample of what was printed.

Before/after: `--tree DIR` runs the launcher of another checkout (e.g. `git archive REV |
tar -x -C DIR`) with this venv; the count is taken the same way.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import loadgen
from .figures import ONE_MESSAGE

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_MAKE_RUN_PORT", "19710"))
BANNER = "msgbuffer: dashboard at"


class Launch:
    def __init__(self, tree: Path, var_dir: Path, port: int):
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "DJANGO_DEBUG", "DJANGO_SECRET_KEY"}
        }
        env.update(PORT=str(port), MSGBUFFER_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "msgbuffer_site.launch"],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for_banner(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(BANNER in line for _, line in self.lines):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("no banner:\n" + "\n".join(line for _, line in self.lines))
            time.sleep(0.1)

    def between(self, start: float, end: float) -> list[str]:
        return [line for at, line in self.lines if start <= at < end]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _window(lines: list[str], seconds: float) -> dict:
    # The shape of a line without its varying parts (times, ids, numbers), to show what repeats.
    kinds = collections.Counter(_shape(line) for line in lines)
    return {
        "lines": len(lines),
        "lines_per_minute": round(len(lines) * 60.0 / seconds, 1),
        "most_common": kinds.most_common(6),
    }


def _shape(line: str) -> str:
    words = line.split()
    # honcho prefixes "HH:MM:SS worker.1 | "; the text formatter adds a date and a time
    kept = [w for w in words[:12] if not any(ch.isdigit() for ch in w)]
    return " ".join(kept)[:90]


def run(tree: Path, idle_seconds: float, load_seconds: float, rate: float, settle: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="make-run-logs-") as var_dir:
        launch = Launch(tree, Path(var_dir), PORT)
        try:
            launch.wait_for_banner(120)
            time.sleep(settle)  # the worker's start-up lines come after the banner
            idle_start = time.monotonic()
            time.sleep(idle_seconds)
            load_start = time.monotonic()
            gen = loadgen.paced_post(f"http://127.0.0.1:{PORT}/messages", rate=rate, seconds=load_seconds, body=ONE_MESSAGE)
            sent = loadgen.paced_result(gen, timeout=load_seconds + 60)
            load_end = time.monotonic()
            return {
                "tree": str(tree),
                "idle": _window(launch.between(idle_start, load_start), load_start - idle_start),
                "load": {
                    **_window(launch.between(load_start, load_end), load_end - load_start),
                    "rate": round(sent["rate"], 1),
                    "statuses": sent["statuses"],
                },
                "start_up": [line for at, line in launch.lines if at < idle_start][-12:],
            }
        finally:
            launch.stop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.make_run_logs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose launcher runs (default: this one)")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="POST /messages per second during the load window")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after the banner before counting")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.tree.resolve(), args.idle_seconds, args.load_seconds, args.rate, args.settle), indent=1))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)


if __name__ == "__main__":
    main()
