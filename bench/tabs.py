"""Dashboard tabs and API readers as background load (issue 12's soak).

A tab does what the page does: one /ws/stats socket, and GET /health + GET
/messages?limit=20 + GET /stats/history?range=1m (its chart, issue 11) every 2 s. A reader polls GET /messages?limit=20 once a second (a script or a service behind the API).
Runs an asyncio loop on a thread of its own until stopped; counts answers, 5xx and
transport errors, WebSocket ticks, and keeps poll latencies. With processes > 1 the tabs
and readers are spread over that many client processes: one Python process parsing
2,000 frames/s and issuing 1,000 polls/s is itself the bottleneck (measured: 1,000 tabs
from one process gave a poll p99 of 22 s while the server had CPU to spare; with httpx
and its per-client TLS context even two processes could not).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from urllib.parse import urlsplit

import websockets


def _share(total: int, processes: int, n: int) -> int:
    return total // processes + (n < total % processes)


def _run_share(base_url: str, tabs: int, readers: int, origin: str, stop, results) -> None:
    """One client process's share of the load, until `stop` is set."""
    with TabsAndReaders(base_url, tabs=tabs, readers=readers, origin=origin) as load:
        stop.wait()
    results.put((load.answers, load.server_errors, load.transport_errors, load.ticks, load.latencies))


class TabsAndReaders:
    def __init__(self, base_url: str, *, tabs: int = 100, readers: int = 32, origin: str | None = None, processes: int = 1):
        self.base_url, self.tabs, self.readers = base_url, tabs, readers
        self.origin = origin or base_url
        self.processes = processes
        self.answers = self.server_errors = self.transport_errors = self.ticks = 0
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._children: list = []

    def __enter__(self):
        if self.processes == 1:
            self._thread.start()
            return self
        spawn = multiprocessing.get_context("spawn")  # the bench process has threads: no fork
        self._child_stop, self._results = spawn.Event(), spawn.Queue()
        for n in range(self.processes):
            share = (_share(self.tabs, self.processes, n), _share(self.readers, self.processes, n))
            child = spawn.Process(
                target=_run_share, args=(self.base_url, *share, self.origin, self._child_stop, self._results), daemon=True
            )
            child.start()
            self._children.append(child)
        return self

    def __exit__(self, *exc):
        if self.processes == 1:
            self._stop.set()
            self._thread.join(timeout=30)
            return
        self._child_stop.set()
        for _ in self._children:
            answers, server_errors, transport_errors, ticks, latencies = self._results.get(timeout=60)
            self.answers += answers
            self.server_errors += server_errors
            self.transport_errors += transport_errors
            self.ticks += ticks
            self.latencies += latencies
        for child in self._children:
            child.join(timeout=10)

    def summary(self, *, settled_after: float | None = None) -> dict:
        """With settled_after (a time.time()), also the p99 of the polls sent after it."""

        def p99(latencies):
            ordered = sorted(latencies)
            return ordered[int(len(ordered) * 0.99)] * 1000 if ordered else float("nan")

        found = {
            "answers": self.answers,
            "server_errors": self.server_errors,
            "transport_errors": self.transport_errors,
            "ticks": self.ticks,
            "poll_p99_ms": p99(latency for _, latency in self.latencies),
        }
        if settled_after is not None:
            found["settled_poll_p99_ms"] = p99(latency for sent, latency in self.latencies if sent >= settled_after)
        return found

    async def _get(self, connection: KeepAlive, path: str) -> None:
        sent, started = time.time(), time.monotonic()
        try:
            status = await connection.get(path)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, KeyError):
            self.transport_errors += 1
            await connection.close()
            return
        self.answers += 1
        self.server_errors += status >= 500
        if len(self.latencies) < 2_000_000:
            self.latencies.append((sent, time.monotonic() - started))

    async def _tab(self, n: int) -> None:
        ws_url = self.base_url.replace("http://", "ws://") + "/ws/stats"
        await asyncio.sleep(n * 2 / self.tabs)
        connection = KeepAlive(self.base_url)
        while not self._stop.is_set():
            try:
                async with websockets.connect(ws_url, origin=self.origin, open_timeout=30) as socket:
                    reader = asyncio.ensure_future(self._count_ticks(socket))
                    while not self._stop.is_set():
                        await self._get(connection, "/health")
                        await self._get(connection, "/messages?limit=20")
                        await self._get(connection, "/stats/history?range=1m")
                        await asyncio.sleep(2)
                    reader.cancel()
            except (OSError, websockets.WebSocketException):
                self.transport_errors += 1
                await asyncio.sleep(1)
        await connection.close()

    async def _count_ticks(self, socket) -> None:
        async for frame in socket:
            self.ticks += '"stats_update"' in frame

    async def _reader(self, n: int) -> None:
        await asyncio.sleep(n / self.readers)
        connection = KeepAlive(self.base_url)
        while not self._stop.is_set():
            await self._get(connection, "/messages?limit=20")
            await asyncio.sleep(1)
        await connection.close()

    async def _main(self) -> None:
        tasks = [asyncio.ensure_future(self._tab(n)) for n in range(self.tabs)]
        tasks += [asyncio.ensure_future(self._reader(n)) for n in range(self.readers)]
        while not self._stop.is_set():
            await asyncio.sleep(0.2)
        await asyncio.gather(*tasks, return_exceptions=True)


class KeepAlive:
    """One keep-alive HTTP/1.1 connection, as a browser tab holds, for GETs of answers that
    carry a Content-Length (all of msgbuffer's and the peer's JSON answers do). httpx costs
    several times more client CPU per request, and on two cores the clients' CPU is taken
    from the server under test."""

    def __init__(self, base_url: str):
        host_port = urlsplit(base_url).netloc
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        self.request_head = f"Host: {host_port}\r\nAccept: application/json\r\n\r\n".encode()
        self.reader = self.writer = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.request_head)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
        await self.reader.readexactly(int(fields["content-length"]))  # KeyError: not a JSON answer we know
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None
