"""`python -m bench.web_servers [--rounds 2]`: which ASGI server the web process runs
(issue 9, "Bounded parsing"). Each candidate serves msgbuffer as the Procfile would
(DEBUG off, a worker running); the candidates are alternated round by round (A B C D A B
C D) so that the machine's drift spreads over all of them. Per candidate and round:

- ingest: wrk -t2 -c64 POST /messages (the peer's post_message.lua), req/s and p99;
- header: one GET whose header is 32 MiB: seconds until the server refuses it (an answer
  or a closed connection) and how far the web process's RSS grew (peak, sampled);
- slowloris: 20 connections that send half a header and then nothing, and 20 that send
  headers and half a body: seconds until the server has closed them all (or "open" after
  the wait).

Ports: BENCH_WEB_SERVERS_PORT (default 18500); databases as the other benches
(BENCH_MSGBUFFER_DB, BENCH_MSGBUFFER_REDIS_DB).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time

from . import environment as env
from . import loadgen
from .systems import Msgbuffer

PORT = int(os.environ.get("BENCH_WEB_SERVERS_PORT", "18500"))
APP = "msgbuffer_site.asgi:application"
HEADER_BYTES = 32 << 20
IDLE_CONNECTIONS = 20
IDLE_WAIT = 20.0  # seconds a half-sent request may stay open before it counts as "open"


UVICORN = ["uvicorn", APP, "--no-access-log", "--lifespan", "off", "--ws-per-message-deflate", "false"]
H11_LIMITS = ["--h11-max-incomplete-event-size", "16384", "--limit-concurrency", "1000", "--timeout-keep-alive", "5"]
CANDIDATES = {
    "uvicorn-httptools": UVICORN,
    "uvicorn-h11": [*UVICORN, "--http", "h11", *H11_LIMITS],
    # uvicorn's h11 parser plus the header read timeout it lacks (bench/h11_header_timeout.py).
    "uvicorn-h11-timeout": [*UVICORN, "--http", "bench.h11_header_timeout:H11WithHeaderTimeout", *H11_LIMITS],
    "hypercorn": ["hypercorn", APP, "--worker-class", "uvloop", "--read-timeout", "10", "--keep-alive", "5"],
    "granian": [
        "granian",
        "--interface",
        "asginl",
        "--loop",
        "uvloop",
        "--runtime-mode",
        "st",
        "--http",
        "1",
        "--backpressure",
        "2048",
        "--http1-buffer-size",
        "65536",
        "--http1-header-read-timeout",
        "10000",
        APP,
    ],
}


class Candidate(Msgbuffer):
    def __init__(self, name: str, argv: list[str]):
        self.name, self.argv, self.port = name, argv, PORT
        super().__init__()

    def web_argv(self) -> list[str]:
        program, *args = self.argv
        bind = (
            ["--bind", f"127.0.0.1:{self.port}"] if program == "hypercorn" else ["--host", "127.0.0.1", "--port", str(self.port)]
        )
        return [str(env.VENV_BIN / program), *args, *bind]


def _server_pid(web) -> int:
    """The process that serves requests: granian serves from a child of its main process."""
    import psutil

    process = psutil.Process(web.pid)
    children = process.children(recursive=True)
    return max(children, key=lambda p: p.memory_info().rss).pid if children else web.pid


class PeakRss:
    def __init__(self, pid: int):
        import psutil

        self.process = psutil.Process(pid)
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except Exception:
                return
            self._stop.wait(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / (1 << 20)


def header_attack(port: int, pid: int, size: int = HEADER_BYTES) -> dict:
    """One GET with a `size`-byte header: seconds until refused, the answer, RSS growth."""
    chunk = b"a" * (64 << 10)
    with PeakRss(pid) as rss:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(10)
        started = time.monotonic()
        status = "closed"
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            sent = 0
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
            head = sock.recv(200)
            status = head.split(b"\r\n", 1)[0].decode(errors="replace") if head else "closed"
        except (ConnectionResetError, BrokenPipeError):
            status = "reset"
        except TimeoutError:
            status = "no answer in 10 s"
        refused_after = time.monotonic() - started
        sock.close()
        time.sleep(0.3)  # let the sampler see what the server still holds
    return {"header_refused_s": refused_after, "header_answer": status, "header_rss_growth_mib": rss.growth_mib}


def _closed(sock: socket.socket) -> bool:
    try:
        while sock.recv(4096):  # an answer (408, 400 ...) before the close: read on
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def slowloris(port: int, wait: float = IDLE_WAIT) -> dict:
    """Seconds until the server has closed every half-sent request, per kind (watched together)."""
    prefixes = {
        "idle_header_closed_s": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        "idle_body_closed_s": b"POST /messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"user_id": 1',
    }
    open_: dict[str, list[socket.socket]] = {}
    for name, prefix in prefixes.items():
        open_[name] = []
        for _ in range(IDLE_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(prefix)
            sock.setblocking(False)
            open_[name].append(sock)
    started = time.monotonic()
    out: dict = {}
    while time.monotonic() - started < wait and len(out) < len(prefixes):
        for name, socks in open_.items():
            if name not in out:
                socks[:] = [sock for sock in socks if not _closed(sock) or sock.close()]
                if not socks:
                    out[name] = time.monotonic() - started
        time.sleep(0.1)
    for name, socks in open_.items():
        if name not in out:
            out[name] = f"{len(socks)} of {IDLE_CONNECTIONS} open after {wait:.0f} s"
            for sock in socks:
                sock.close()
    return out


def run_one(name: str, argv: list[str], seconds: float, attacks: bool) -> dict:
    system = Candidate(name, argv)
    try:
        system.reset()
        web = system.start_web()
        system.start_worker()
        result = loadgen.wrk_post(system.url + "/messages", seconds=seconds)
        out = {"rps": result["rps"], "p99_ms": result["p99_ms"], "non2xx": result["non2xx"]}
        if attacks:
            out.update(header_attack(system.port, _server_pid(web)))
            out.update(slowloris(system.port))
        return out
    finally:
        system.stop_all()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.web_servers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", default="", help="comma-separated candidates: " + ", ".join(CANDIDATES))
    parser.add_argument("--no-attacks", action="store_true", help="ingest figures only")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    candidates = {name: CANDIDATES[name] for name in names}
    env.prepare(peer=False)
    if "hypercorn" in candidates:
        env.ensure_python_package("hypercorn", "hypercorn")  # a rival only: not in requirements
    runs: dict[str, list[dict]] = {name: [] for name in candidates}
    for round_ in range(args.rounds):
        for name, words in candidates.items():
            print(f"[bench] round {round_ + 1}: {name} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            values = run_one(name, words, args.seconds, attacks=round_ == 0 and not args.no_attacks)
            print(f"[bench] {name}: {values}", file=sys.stderr, flush=True)
            runs[name].append(values)
    print("| server | req/s (rounds) | median | p99 ms (median) | 32 MiB header | RSS growth | half header | half body |")
    print("|---|---|---|---|---|---|---|---|")
    for name, values in runs.items():
        rps = [v["rps"] for v in values]
        first = values[0]

        def fmt(key, unit="s", first=first):
            value = first.get(key, "-")
            return f"{value:.1f} {unit}" if isinstance(value, float) else str(value)

        header = f"{first['header_answer']} after {first['header_refused_s']:.2f} s" if "header_answer" in first else "-"
        print(
            f"| {name} | {', '.join(f'{r:,.0f}' for r in rps)} | {statistics.median(rps):,.0f} | "
            f"{statistics.median(v['p99_ms'] for v in values):.1f} | {header} | {fmt('header_rss_growth_mib', 'MiB')} | "
            f"{fmt('idle_header_closed_s')} | {fmt('idle_body_closed_s')} |"
        )
    print(
        f"\n`python -m bench.web_servers --rounds {args.rounds}`; load average {os.getloadavg()[0]:.1f} at the end; {os.cpu_count()} cores."
    )


if __name__ == "__main__":
    main()
