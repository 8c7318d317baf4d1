"""One stats reader per server process, fanned out to every connected /ws/stats client.

Each tick reads Redis once (stats.stats_snapshot_async) however many clients are
connected, and one pub/sub subscription per process relays batch_persisted events.
The loops run only while at least one client is connected.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref

import orjson

from messaging import buffer
from messaging.conf import msgbuffer_settings
from messaging.stats import stats_snapshot_async

log = logging.getLogger(__name__)

# A client that cannot take a message within this long misses it rather than holding up the rest.
SEND_TIMEOUT = 1.0


class StatsBroadcaster:
    def __init__(self):
        self.clients: set = set()
        self.last_update: bytes | None = None
        self.last_update_at = 0.0
        self.ticks = 0  # snapshots read from Redis (tests compare it with the client count)
        self._tasks: list[asyncio.Task] = []

    async def join(self, client) -> bytes:
        """Register a client; returns a stats_update to send it at once."""
        self.clients.add(client)
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._tick_loop()), asyncio.create_task(self._event_loop())]
        if self.last_update is None or time.monotonic() - self.last_update_at > msgbuffer_settings().STATS_INTERVAL:
            await self._read()
        return self.last_update

    async def leave(self, client) -> None:
        self.clients.discard(client)
        if not self.clients and self._tasks:
            tasks, self._tasks = self._tasks, []
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self) -> None:
        snapshot = await stats_snapshot_async()
        self.last_update = orjson.dumps({"type": "stats_update", **snapshot})
        self.last_update_at = time.monotonic()
        self.ticks += 1

    async def _fan_out(self, text: str) -> None:
        clients = list(self.clients)
        results = await asyncio.gather(
            *(asyncio.wait_for(client.send(text_data=text), SEND_TIMEOUT) for client in clients), return_exceptions=True
        )
        for client, result in zip(clients, results):
            if isinstance(result, Exception) and not isinstance(result, asyncio.TimeoutError):
                self.clients.discard(client)

    async def _tick_loop(self) -> None:
        interval = msgbuffer_settings().STATS_INTERVAL
        next_tick = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(next_tick - time.monotonic(), 0))
            next_tick += interval
            try:
                await self._read()
            except Exception:  # Redis hiccup: skip this tick, keep the clients
                log.warning("stats tick failed", exc_info=True)
                continue
            await self._fan_out(self.last_update.decode())

    async def _event_loop(self) -> None:
        while True:
            pubsub = buffer.events_subscription()
            try:
                await pubsub.subscribe(buffer.EVENTS)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        data = message["data"]
                        await self._fan_out(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event subscription lost; resubscribing", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


_broadcasters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StatsBroadcaster]" = weakref.WeakKeyDictionary()


def broadcaster() -> StatsBroadcaster:
    """The broadcaster of this process's event loop."""
    loop = asyncio.get_running_loop()
    found = _broadcasters.get(loop)
    if found is None:
        found = _broadcasters[loop] = StatsBroadcaster()
    return found
