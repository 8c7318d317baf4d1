"""/ws/stats under many clients: is Redis read once per tick per process, whatever the
number of dashboards, and does every client still get its ticks on time?

    python -m bench.ws_stats [--clients 1000] [--seconds 30] [--url ws://127.0.0.1:PORT/ws/stats] [--api-key KEY]

Without --url it starts one web process as the Procfile does (granian) on a free port,
against REDIS_URL or, when that is unset, the machine's Redis db 13, and stops it at the
end. With --url it measures the server already listening there. `run()` is the same for
bench/__main__.py. Every client connects (at most CONNECT_AT_ONCE at a time), then the
window of `seconds` is measured, then everything closes: the run is bounded in time.

Figures:
  ticks_per_client_per_s  stats_update messages a client received per second (mean, and the slowest client)
  tick_lag_p99_ms         receive time minus the tick's own timestamp, 99th percentile over every tick
  web_redis_cmds_per_s    commands the web process sent to Redis per second: MONITOR, filtered to the
                          web process's own Redis connections (so other users of the server don't count)
  server_cmds_per_s       INFO total_commands_processed delta per second, minus the bench's own: every
                          client of the Redis server (workers included), for context
  web_rss_mib             the web process's RSS (psutil): before the clients, and the peak with them
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import psutil
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
CONNECT_AT_ONCE = 100  # handshakes in flight at a time (a burst of 1,000 SYNs overflows the backlog)
CONNECT_TIMEOUT = 60.0  # seconds for every client to connect and get its first tick
START_TIMEOUT = 30.0  # seconds for the web process to serve its first tick
CLOSE_TIMEOUT = 10.0


@dataclass
class Client:
    ticks: int = 0  # stats_update messages inside the window
    lags_ms: list[float] = field(default_factory=list)
    stamps: list[str] = field(default_factory=list)  # each tick's timestamp, to group clients' lags by tick


@dataclass
class Fleet:
    """The connected clients' sockets, and whether all of them are in."""

    expected: int
    sockets: list = field(default_factory=list)
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False

    def joined(self, socket) -> None:
        self.sockets.append(socket)
        if len(self.sockets) == self.expected:
            self.all_connected.set()


@dataclass
class Window:
    """The measured interval; clients count only what arrives inside it."""

    open: bool = False
    started: float = 0.0
    ended: float = 0.0


# ---------------------------------------------------------------------------
# The web process under test
# ---------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _procfile_web_argv(port: int) -> list[str]:
    """The Procfile's web command (what `make run` and deployments start), on 127.0.0.1:`port`."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    words = shlex.split(line.removeprefix("web:"))
    argv = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("--host", "--port"):
            skip = True
            continue
        argv.append(word)
    if argv[0] not in ("granian", "uvicorn"):
        raise RuntimeError(f"the Procfile's web line starts neither granian nor uvicorn: {line!r}")
    return [sys.executable, "-m", *argv, "--host", "127.0.0.1", "--port", str(port)]


def _start_web(redis_url: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = dict(os.environ)
    env["REDIS_URL"] = redis_url
    env["PYTHONUNBUFFERED"] = "1"
    if env.get("DJANGO_DEBUG", "0").lower() not in {"1", "true", "yes", "on"}:
        # Production settings, as a deployment runs them; the key only has to be non-default.
        env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        env.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    # The figure is the fan-out, not the login: anonymous clients may watch this server.
    env.setdefault("MSGBUFFER_DASHBOARD_AUTH", "0")
    argv = _procfile_web_argv(port)
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-ws-web-{port}.log", "wb")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process, port


def _stop_web(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening_pid(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def _serving_pid(pid: int | None) -> int | None:
    """granian serves from a child of the process it starts as: that child's RSS and Redis
    connections are the web process's (uvicorn has no child: `pid` itself)."""
    if pid is None:
        return None
    children = psutil.Process(pid).children()
    return children[0].pid if len(children) == 1 else pid


def _redis_ports(pid: int, redis_port: int) -> set[int]:
    """Local ports of `pid`'s connections to Redis: how MONITOR tells its commands apart."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {conn.laddr.port for conn in conns if conn.raddr and conn.raddr.port == redis_port}


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------
def _headers(api_key: str | None) -> dict:
    """A key for a server whose dashboard auth is on (SPEC §6: staff session or key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def _client(
    url: str, origin: str, headers: dict, record: Client, window: Window, gate: asyncio.Semaphore, fleet: Fleet
) -> None:
    async with gate:
        # ping_interval=None: browsers send no pings; compression is negotiated as browsers do.
        socket = await connect(
            url, origin=origin, additional_headers=headers, ping_interval=None, open_timeout=CONNECT_TIMEOUT, max_queue=None
        )
        await socket.recv()  # the stats_update sent at once on connect
    fleet.joined(socket)
    try:
        async for raw in socket:
            received = time.time()
            if not window.open:
                continue
            message = orjson.loads(raw)
            if message.get("type") != "stats_update":
                continue
            record.ticks += 1
            stamped = datetime.fromisoformat(message["timestamp"]).timestamp()
            record.lags_ms.append((received - stamped) * 1000)
            record.stamps.append(message["timestamp"])
    except Exception:
        if not fleet.closing:
            raise


async def _count_monitor(redis_url: str, ports: set[int], counted: list[int], armed: asyncio.Event) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with client.monitor() as monitor:
            armed.set()
            async for command in monitor.listen():
                if command["client_type"] == "tcp" and int(command["client_port"]) in ports:
                    counted[0] += 1
    finally:
        await client.aclose()


async def _measure(url: str, clients: int, seconds: float, redis_url: str, web_pid: int | None, api_key: str | None) -> dict:
    parts = urlsplit(url)
    origin = f"http://{parts.netloc}"
    redis_port = urlsplit(redis_url).port or 6379
    window = Window()
    records = [Client() for _ in range(clients)]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    fleet = Fleet(expected=clients)
    web = psutil.Process(web_pid) if web_pid else None
    rss_idle = web.memory_info().rss if web else None

    connect_started = time.monotonic()
    tasks = [asyncio.create_task(_client(url, origin, _headers(api_key), record, window, gate, fleet)) for record in records]
    failed_early = asyncio.ensure_future(asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION))
    await asyncio.wait(
        [asyncio.ensure_future(fleet.all_connected.wait()), failed_early],
        timeout=CONNECT_TIMEOUT,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if not fleet.all_connected.is_set():
        failures = [task.exception() for task in tasks if task.done() and task.exception()]
        for task in tasks:
            task.cancel()
        raise RuntimeError(
            f"{len(fleet.sockets)}/{clients} clients connected within {CONNECT_TIMEOUT}s; first failure: {failures[:1]}"
        )
    connect_seconds = time.monotonic() - connect_started

    info = aioredis.Redis.from_url(redis_url)
    counted = [0]
    armed = asyncio.Event()
    ports = _redis_ports(web_pid, redis_port) if web_pid else set()
    monitor = asyncio.create_task(_count_monitor(redis_url, ports, counted, armed))
    await asyncio.wait_for(armed.wait(), 10)
    rss_peak = 0
    cpu_before = web.cpu_times() if web else None
    own_cpu_before = psutil.Process().cpu_times()

    commands_before = (await info.info("stats"))["total_commands_processed"]
    window.open, window.started = True, time.monotonic()
    deadline = window.started + seconds
    while (left := deadline - time.monotonic()) > 0:
        if web:
            rss_peak = max(rss_peak, web.memory_info().rss)
            ports |= _redis_ports(web_pid, redis_port)  # a connection opened mid-window counts too
        await asyncio.sleep(min(left, 1.0))
    window.open, window.ended = False, time.monotonic()
    commands_after = (await info.info("stats"))["total_commands_processed"]
    elapsed = window.ended - window.started
    cpu_after = web.cpu_times() if web else None
    own_cpu_after = psutil.Process().cpu_times()

    monitor.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await monitor
    await info.aclose()

    fleet.closing = True
    await asyncio.wait([asyncio.create_task(socket.close()) for socket in fleet.sockets], timeout=CLOSE_TIMEOUT)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    per_client = [record.ticks / elapsed for record in records]
    lags = sorted(lag for record in records for lag in record.lags_ms)
    by_tick: dict[str, list[float]] = {}
    for record in records:
        for stamp, lag in zip(record.stamps, record.lags_ms):
            by_tick.setdefault(stamp, []).append(lag)
    # How long one tick takes to reach every client: the server's fan-out plus the clients' own queueing.
    spreads = sorted(max(tick) - min(tick) for tick in by_tick.values() if len(tick) == clients)
    own_commands = 1  # the first INFO is counted inside the window; the second is not yet
    result = {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "connect_s": round(connect_seconds, 2),
        "ticks_per_client_per_s": statistics.fmean(per_client),
        "ticks_per_client_per_s_min": min(per_client),
        "tick_lag_p50_ms": _percentile(lags, 0.50),
        "tick_lag_p99_ms": _percentile(lags, 0.99),
        "tick_lag_max_ms": lags[-1] if lags else float("nan"),
        "tick_first_lag_p50_ms": _percentile(sorted(min(tick) for tick in by_tick.values()), 0.50),
        "tick_spread_p50_ms": _percentile(spreads, 0.50),
        "server_cmds_per_s": (commands_after - commands_before - own_commands) / elapsed,
        # The clients share one process: near 100% means the lag figures include its own queueing.
        "bench_cpu_percent": 100 * _cpu_seconds(own_cpu_before, own_cpu_after) / elapsed,
    }
    if web:
        result["web_redis_cmds_per_s"] = counted[0] / elapsed if ports else float("nan")
        result["web_rss_idle_mib"] = rss_idle / 2**20
        result["web_rss_mib"] = max(rss_peak, web.memory_info().rss) / 2**20
        result["web_cpu_percent"] = 100 * _cpu_seconds(cpu_before, cpu_after) / elapsed
    return result


def _cpu_seconds(before, after) -> float:
    return (after.user + after.system) - (before.user + before.system)


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _first_tick(url: str, process: subprocess.Popen | None, api_key: str | None) -> None:
    origin = f"http://{urlsplit(url).netloc}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the web process exited with {process.returncode} (log in $TMPDIR/bench-ws-web-*.log)")
        try:
            async with connect(url, origin=origin, additional_headers=_headers(api_key), open_timeout=5) as socket:
                await asyncio.wait_for(socket.recv(), 5)
                return
        except Exception:  # not listening yet, or not serving ticks yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def _raise_open_files_limit(clients: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients * 2 + 256  # the web process (a child) inherits it: both ends of every socket
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def run(
    clients: int = 1000,
    seconds: float = 30.0,
    url: str | None = None,
    *,
    redis_url: str | None = None,
    api_key: str | None = None,
) -> dict:
    """Measure /ws/stats with `clients` connected for `seconds`; returns the figures.

    `url` is a ws:// URL of a running server; without it, a web process is started (and
    stopped) here against `redis_url`, REDIS_URL, or the machine's Redis db 13, with
    dashboard auth off. A server with dashboard auth on needs `api_key` (or
    MSGBUFFER_DASHBOARD_AUTH=0 in its environment).
    """
    api_key = api_key or os.environ.get("BENCH_WS_API_KEY")
    redis_url = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    _raise_open_files_limit(clients)
    process = None
    if url is None:
        process, port = _start_web(redis_url)
        url = f"ws://127.0.0.1:{port}/ws/stats"
    try:
        return _run_loop(_measure_started(url, clients, seconds, redis_url, process, api_key))
    finally:
        if process is not None:
            _stop_web(process)


async def _measure_started(url, clients, seconds, redis_url, process, api_key) -> dict:
    await _first_tick(url, process, api_key)
    pid = _serving_pid(process.pid if process is not None else _listening_pid(urlsplit(url).port))
    return await _measure(url, clients, seconds, redis_url, pid, api_key)


def _run_loop(coroutine):
    try:
        import uvloop  # the client side must not be the bottleneck it measures
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--url", help="ws:// URL of a running server (default: start one)")
    parser.add_argument("--api-key", help="for a server with dashboard auth on (or set BENCH_WS_API_KEY)")
    args = parser.parse_args(argv)
    result = run(args.clients, args.seconds, args.url, api_key=args.api_key)
    print(f"/ws/stats: {result['clients']} clients for {result['seconds']} s (all connected in {result['connect_s']} s)")
    rows = [
        (
            "ticks per client per second",
            f"{result['ticks_per_client_per_s']:.3f} (slowest client {result['ticks_per_client_per_s_min']:.3f})",
        ),
        (
            "tick lag behind its timestamp",
            f"p50 {result['tick_lag_p50_ms']:.1f} ms, p99 {result['tick_lag_p99_ms']:.1f} ms, max {result['tick_lag_max_ms']:.1f} ms",
        ),
        (
            "  first client / all clients",
            f"first client p50 {result['tick_first_lag_p50_ms']:.1f} ms; one tick reaches all clients in {result['tick_spread_p50_ms']:.1f} ms (p50)",
        ),
        ("Redis commands/s, web process", f"{result.get('web_redis_cmds_per_s', float('nan')):.1f}"),
        (
            "Redis commands/s, whole server",
            f"{result['server_cmds_per_s']:.1f} (every client of the server, minus the bench's own)",
        ),
    ]
    if "web_rss_mib" in result:
        rows.append(
            (
                "web process RSS",
                f"{result['web_rss_mib']:.1f} MiB (idle before the clients: {result['web_rss_idle_mib']:.1f} MiB)",
            )
        )
        rows.append(("web process CPU", f"{result['web_cpu_percent']:.0f}% of one core"))
    rows.append(("bench clients' CPU", f"{result['bench_cpu_percent']:.0f}% of one core (one process for all clients)"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
