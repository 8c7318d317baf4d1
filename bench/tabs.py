"""Dashboard tabs and API readers as background load (issue 12's soak).

A tab does what the page does: one /ws/stats socket, and GET /health + GET
/messages?limit=20 every 2 s. A reader polls GET /messages?limit=20 once a second (a script or a service behind the API).
Runs an asyncio loop on a thread of its own until stopped; counts answers, 5xx and
transport errors, WebSocket ticks, and keeps poll latencies.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import websockets

# httpx logs every request at INFO; the bench process logs at INFO (Django's settings).
logging.getLogger("httpx").setLevel(logging.WARNING)


class TabsAndReaders:
    def __init__(self, base_url: str, *, tabs: int = 100, readers: int = 32, origin: str | None = None):
        self.base_url, self.tabs, self.readers = base_url, tabs, readers
        self.origin = origin or base_url
        self.answers = self.server_errors = self.transport_errors = self.ticks = 0
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def summary(self) -> dict:
        ordered = sorted(self.latencies)
        p99 = ordered[int(len(ordered) * 0.99)] * 1000 if ordered else float("nan")
        return {"answers": self.answers, "server_errors": self.server_errors, "transport_errors": self.transport_errors,
                "ticks": self.ticks, "poll_p99_ms": p99}

    async def _get(self, client: httpx.AsyncClient, path: str) -> None:
        started = time.monotonic()
        try:
            status = (await client.get(path)).status_code
        except httpx.HTTPError:
            self.transport_errors += 1
            return
        self.answers += 1
        self.server_errors += status >= 500
        if len(self.latencies) < 2_000_000:
            self.latencies.append(time.monotonic() - started)

    async def _tab(self, n: int, client: httpx.AsyncClient) -> None:
        ws_url = self.base_url.replace("http://", "ws://") + "/ws/stats"
        await asyncio.sleep(n * 2 / self.tabs)
        while not self._stop.is_set():
            try:
                async with websockets.connect(ws_url, origin=self.origin, open_timeout=30) as socket:
                    reader = asyncio.ensure_future(self._count_ticks(socket))
                    while not self._stop.is_set():
                        await self._get(client, "/health")
                        await self._get(client, "/messages?limit=20")
                        await asyncio.sleep(2)
                    reader.cancel()
            except (OSError, websockets.WebSocketException):
                self.transport_errors += 1
                await asyncio.sleep(1)

    async def _count_ticks(self, socket) -> None:
        async for frame in socket:
            self.ticks += '"stats_update"' in frame

    async def _reader(self, n: int, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(n / self.readers)
        while not self._stop.is_set():
            await self._get(client, "/messages?limit=20")
            await asyncio.sleep(1)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.tabs + self.readers)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30, limits=limits) as client:
            tasks = [asyncio.ensure_future(self._tab(n, client)) for n in range(self.tabs)]
            tasks += [asyncio.ensure_future(self._reader(n, client)) for n in range(self.readers)]
            while not self._stop.is_set():
                await asyncio.sleep(0.2)
            await asyncio.gather(*tasks, return_exceptions=True)
