"""Context figures, not targets: what Redis does with a bare LPUSH (redis-benchmark) and
what one uvicorn process serves with an app that does nothing (bare_asgi.py)."""

from __future__ import annotations

import csv
import io
import subprocess

from . import environment as env
from . import loadgen
from .systems import Process, http_up, wait_until


def redis_lpush(opts) -> dict:
    """LPUSH with 50 clients, unpipelined and pipelined 64, into msgbuffer's Redis db
    (key `mylist`, deleted afterwards)."""
    out = {}
    requests = 100_000 if opts.quick else 400_000
    for label, pipeline in (("lpush_ops_s", 1), ("lpush_p64_ops_s", 64)):
        argv = [
            "redis-benchmark",
            "-h",
            env.REDIS_HOST,
            "-p",
            str(env.REDIS_PORT),
            "--dbnum",
            str(env.MSGBUFFER_REDIS_DB),
            "-c",
            "50",
            "-n",
            str(requests * (1 if pipeline == 1 else 4)),
            "-P",
            str(pipeline),
            "-t",
            "lpush",
            "--csv",
        ]
        text = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
        rows = list(csv.reader(io.StringIO(text)))
        out[label] = float(rows[-1][1])
    subprocess.run(["redis-cli", "-n", str(env.MSGBUFFER_REDIS_DB), "DEL", "mylist"], capture_output=True)
    return out


def bare_asgi(opts) -> dict:
    if not env.port_free(env.BARE_PORT):
        raise RuntimeError(f"port {env.BARE_PORT} is taken")
    argv = [
        str(env.VENV_BIN / "uvicorn"),
        "bench.bare_asgi:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(env.BARE_PORT),
        "--no-access-log",
        "--lifespan",
        "off",
    ]
    server = Process("bare-asgi", argv, env.msgbuffer_env())
    try:
        wait_until(lambda: http_up(env.BARE_PORT, "/"), timeout=30, what="bare ASGI app")
        result = loadgen.wrk_post(f"http://127.0.0.1:{env.BARE_PORT}/messages", seconds=opts.seconds(10, 5))
    finally:
        server.stop()
    return {"bare_asgi_rps": result["rps"], "bare_asgi_p99_ms": result["p99_ms"]}
