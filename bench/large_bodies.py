"""`python -m bench.large_bodies`: does parsing a big body stall everyone else (issue 9)?

msgbuffer runs as it ships (the Procfile's web line, a worker). An open-loop client
posts single messages at a steady rate (bench/loadgen.py: latency from each request's
scheduled time) twice: alone, then while two clients loop POSTs of a 7.5 MB bulk body of
80,000 small messages (refused 422 after the parse: over 1,000 items). The figure is
the single messages' p50/p99 in each phase, and how many big bodies were parsed.

Before/after: run it in a checkout of the older code with the same Procfile.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time

import orjson

from . import environment as env
from . import loadgen
from .figures import ONE_MESSAGE
from .systems import CONTENT, Msgbuffer

PORT = int(os.environ.get("BENCH_LARGE_BODIES_PORT", "18510"))
BIG_ITEMS = 80_000  # 7.5 MB: under the 8 MiB bulk limit, so it is read and parsed


def _looper(port: int, body: bytes, stop: threading.Event, counts: dict) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        try:
            conn.request("POST", "/messages/bulk", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            counts[response.status] = counts.get(response.status, 0) + 1
        except (OSError, http.client.HTTPException):
            counts["error"] = counts.get("error", 0) + 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def run(rate: float, seconds: float) -> dict:
    system = Msgbuffer()
    system.port = PORT
    big = orjson.dumps({"messages": [{"user_id": 42, "channel_id": 7, "content": CONTENT}] * BIG_ITEMS})
    out = {"big_body_bytes": len(big)}
    try:
        system.reset()
        system.start_web()
        system.start_worker()
        for phase in ("alone", "with_two_big_loopers"):
            stop, counts, loopers = threading.Event(), {}, []
            if phase != "alone":
                loopers = [threading.Thread(target=_looper, args=(PORT, big, stop, counts), daemon=True) for _ in range(2)]
                for thread in loopers:
                    thread.start()
                time.sleep(1.0)  # both are parsing by now
            paced = loadgen.paced_post(f"{system.url}/messages", rate=rate, seconds=seconds, body=ONE_MESSAGE, connections=8)
            result = loadgen.paced_result(paced, timeout=seconds + 60)
            stop.set()
            for thread in loopers:
                thread.join(60)
            out[phase] = {
                "p50_ms": result["p50_ms"],
                "p99_ms": result["p99_ms"],
                "max_ms": result["max_ms"],
                "statuses": result["statuses"],
                "big_bodies": counts,
            }
    finally:
        system.stop_all()
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.large_bodies", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="single messages per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    env.prepare(peer=False)
    print(json.dumps(run(args.rate, args.seconds), indent=1))
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
