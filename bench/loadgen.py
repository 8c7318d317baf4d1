"""Load generators, each run as a separate process on loopback.

- `wrk_post`: closed-loop maximum throughput with wrk (the peer's post_message.lua, or a
  generated script for other bodies). Prints wrk's own latency percentiles.
- `paced_post`: open-loop load at a fixed rate, for "p99 at a given rate" figures. wrk2
  is not packaged here and wrk is closed-loop (each connection waits for its answer, so a
  slow server is offered less load and hides its queueing: coordinated omission). This
  generator gives every request a scheduled send time (rate spread evenly over the
  connections, as wrk2 does) and measures latency from that scheduled time, so a request
  delayed behind a slow one counts its wait. It runs in its own process, on uvloop, with
  a hand-written HTTP/1.1 keep-alive client (a few µs per request), so it can hold a few
  thousand requests/s on one core.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import environment as env

RESULT = re.compile(r"RESULT (.*)")


def wrk_post(url: str, *, seconds: float, threads: int = 2, connections: int = 64, script: Path = env.POST_MESSAGE_LUA) -> dict:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    match = RESULT.search(out)
    if not match:
        raise RuntimeError(f"wrk printed no RESULT line:\n{out}")
    return {key: float(value) for key, value in (pair.split("=") for pair in match.group(1).split())}


def wrk_body_script(body: str, directory: Path = env.LOG_DIR) -> Path:
    """A copy of post_message.lua posting `body` instead of its one message."""
    lua = env.POST_MESSAGE_LUA.read_text()
    lua = re.sub(r"wrk\.body = .*", lambda _m: "wrk.body = " + json.dumps(body), lua, count=1)
    path = Path(tempfile.mkstemp(prefix="bench-body-", suffix=".lua", dir=directory)[1])
    path.write_text(lua)
    return path


# ---------------------------------------------------------------------------
# Open-loop paced load (runs as `python -m bench.loadgen <json config>`)
# ---------------------------------------------------------------------------
@dataclass
class PacedResult:
    sent: int = 0
    statuses: dict = field(default_factory=dict)
    latencies_ms: list = field(default_factory=list)
    errors: int = 0
    late_starts: int = 0  # requests that left > 1 ms after their scheduled time


async def _connection(host, port, request: bytes, schedule, result: PacedResult, stop_at: float):
    reader = writer = None
    for scheduled in schedule:
        now = time.perf_counter()
        if scheduled > stop_at:
            break
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
        elif now - scheduled > 0.001:
            result.late_starts += 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
        result.sent += 1
    if writer is not None:
        writer.close()


async def _paced(config: dict) -> PacedResult:
    host, port, path = config["host"], config["port"], config["path"]
    body = config["body"].encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    rate, seconds, connections = config["rate"], config["seconds"], config["connections"]
    start = time.perf_counter() + 0.2
    stop_at = start + seconds
    interval = connections / rate

    def schedule(k):
        i = 0
        while True:
            yield start + (k / rate) + i * interval
            i += 1

    result = PacedResult()
    await asyncio.gather(*(_connection(host, port, request, schedule(k), result, stop_at) for k in range(connections)))
    return result


def _summary(result: PacedResult, seconds: float) -> dict:
    ordered = sorted(result.latencies_ms)

    def pct(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    return {
        "sent": result.sent,
        "rate": result.sent / seconds,
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "errors": result.errors,
        "late_starts": result.late_starts,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": ordered[-1] if ordered else float("nan"),
    }


def paced_post(url: str, *, rate: float, seconds: float, body: str, connections: int = 32) -> subprocess.Popen:
    """Start the paced generator in its own process; `paced_result(proc)` collects its summary."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    config = {
        "host": parts.hostname,
        "port": parts.port,
        "path": parts.path,
        "body": body,
        "rate": rate,
        "seconds": seconds,
        "connections": connections,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", json.dumps(config)], cwd=env.ROOT, stdout=subprocess.PIPE, text=True
    )


def paced_result(process: subprocess.Popen, timeout: float) -> dict:
    out, _ = process.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    config = json.loads(sys.argv[1])
    try:
        import uvloop

        result = uvloop.run(_paced(config))
    except ImportError:
        result = asyncio.run(_paced(config))
    print(json.dumps(_summary(result, config["seconds"])))


if __name__ == "__main__":
    main()
