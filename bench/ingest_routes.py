"""Is routing the ingest POSTs ahead of Django worth it? `python -m bench.ingest_routes`

Serves the same `handle_ingest` three ways from one uvicorn process and loads each with
wrk -t2 -c64 (the peer's post_message.lua), alternating a b c a b c:

  a. asgi.py as shipped: IngestASGIApp ahead of Django (msgbuffer_site.asgi:application)
  b. Django's ASGI handler -> the async view in messaging/views.py (bench.route_apps:django_only)
  c. a Channels AsyncHttpConsumer ahead of Django (bench.route_apps:channels_consumer)

No worker runs (the queue only grows; it is emptied between runs), so all three get the
same CPU. Prints req/s and p99 of each run and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from . import environment as env
from . import loadgen
from .systems import Msgbuffer, Process, http_up, wait_until

APPS = {
    "a_fast_path": "msgbuffer_site.asgi:application",
    "b_django_view": "bench.route_apps:django_only",
    "c_channels_consumer": "bench.route_apps:channels_consumer",
}


def measure(app: str, seconds: float) -> dict:
    argv = [
        str(env.VENV_BIN / "uvicorn"),
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(env.ROUTES_PORT),
        "--no-access-log",
        "--lifespan",
        "off",
    ]
    server = Process("routes", argv, env.msgbuffer_env())
    try:
        wait_until(lambda: http_up(env.ROUTES_PORT, "/health"), timeout=30, what=app)
        return loadgen.wrk_post(f"http://127.0.0.1:{env.ROUTES_PORT}/messages", seconds=seconds)
    finally:
        server.stop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_routes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    env.prepare(peer=False)
    msgbuffer = Msgbuffer()
    results = {name: [] for name in APPS}
    for round_ in range(args.rounds):
        for name, app in APPS.items():
            msgbuffer.reset()
            result = measure(app, args.seconds)
            print(
                f"[routes] round {round_ + 1} {name}: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.1f} ms, non2xx {result['non2xx']:.0f}",
                file=sys.stderr,
                flush=True,
            )
            results[name].append(result)
    msgbuffer.reset()
    base = statistics.median(r["rps"] for r in results["a_fast_path"])
    print("| edge | req/s (runs) | median req/s | vs fast path | median p99 ms |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        each = ", ".join(f"{r['rps']:.0f}" for r in runs)
        print(f"| {name} | {each} | {rps:.0f} | {rps / base:.2f} | {statistics.median(r['p99_ms'] for r in runs):.1f} |")


if __name__ == "__main__":
    main()
