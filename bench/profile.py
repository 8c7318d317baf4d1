"""Profile msgbuffer's hot paths under load with py-spy: `python -m bench.profile [ingest,drain,stats]`

- ingest: the uvicorn process while wrk -t2 -c64 posts single messages
- drain: the worker while it drains 100k queued messages
- stats: the uvicorn process with N /ws/stats clients connected (the stats tick and fan-out)

py-spy samples from outside (no code change, ~no overhead); it is installed into the
venv on first use (a profiling tool, never imported by the application). Each profile is
written as collapsed stacks (flamegraph input) and as SVG under --out, and summarised
here: the functions with the most samples on top of the stack (self) and anywhere on
it (inclusive), as a share of all samples.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from . import environment as env
from . import loadgen
from .systems import Msgbuffer, wait_until

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def summarise(raw_path: Path, top: int = 15) -> str:
    self_counts, incl_counts, total = Counter(), Counter(), 0
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")[1:]]  # [0] is the process/thread
        if not frames:
            continue
        total += n
        self_counts[frames[-1]] += n
        for frame in set(frames):
            incl_counts[frame] += n
    lines = [f"{raw_path.name}: {total} samples"]
    lines.append("  self (top of stack):")
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in self_counts.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in incl_counts.most_common(top * 2)]
    return "\n".join(lines)


def _record(pid: int, seconds: float, out: Path, *, native: bool = False) -> subprocess.Popen:
    py_spy = env.VENV_BIN / "py-spy"
    argv = [str(py_spy), "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250", "--nonblocking"]
    if native:
        argv.append("--native")
    raw = subprocess.Popen(
        argv + ["--format", "raw", "-o", str(out.with_suffix(".txt"))], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return raw


def profile_ingest(system: Msgbuffer, out: Path, seconds: float) -> Path:
    system.stop_all()
    system.reset()
    web = system.start_web()
    system.start_worker()
    spy = _record(web.pid, seconds, out / "ingest")
    loadgen.wrk_post(system.url + "/messages", seconds=seconds + 2)
    spy.wait(60)
    system.stop_all()
    return out / "ingest.txt"


def profile_drain(system: Msgbuffer, out: Path, count: int) -> Path:
    system.stop_all()
    system.reset()
    system.queue_raw(count)
    worker = system.start_worker(wait=False)
    wait_until(lambda: system.persisted_counter() > 0, timeout=60, what="the first batch", interval=0.01)
    spy = _record(worker.pid, 8, out / "drain")
    spy.wait(60)
    system.stop_all()
    return out / "drain.txt"


async def _ws_clients(url: str, origin: str, clients: int, seconds: float) -> int:
    import websockets

    received = 0

    async def one():
        nonlocal received
        async with websockets.connect(url, origin=origin, open_timeout=30) as ws:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(ws.recv(), timeout=max(deadline - time.monotonic(), 0.01))
                    received += 1
                except TimeoutError:
                    break

    await asyncio.gather(*(one() for _ in range(clients)), return_exceptions=True)
    return received


def profile_stats(system: Msgbuffer, out: Path, clients: int, seconds: float) -> Path:
    system.stop_all()
    system.reset()
    web = system.start_web()
    system.start_worker()
    result = {}

    def load():
        result["received"] = asyncio.run(_ws_clients(system.ws_url, system.url, clients, seconds + 10))

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(6)  # let every client connect first
    spy = _record(web.pid, seconds, out / "stats")
    spy.wait(seconds + 60)
    thread.join()
    system.stop_all()
    print(f"[profile] stats: {clients} clients received {result.get('received')} messages", file=sys.stderr)
    return out / "stats.txt"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("which", nargs="?", default="ingest,drain,stats")
    parser.add_argument("--out", default=str(env.LOG_DIR / "profiles"))
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--ws-clients", type=int, default=1000)
    args = parser.parse_args(argv)
    env.prepare(peer=False)
    if not (env.VENV_BIN / "py-spy").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    system = Msgbuffer()
    try:
        for which in args.which.split(","):
            if which == "ingest":
                path = profile_ingest(system, out, args.seconds)
            elif which == "drain":
                path = profile_drain(system, out, 100_000)
            elif which == "stats":
                path = profile_stats(system, out, args.ws_clients, args.seconds)
            else:
                raise SystemExit(f"unknown profile {which}")
            print(summarise(path))
            print()
    finally:
        system.stop_all()


if __name__ == "__main__":
    main()
