"""One stats reader per server process, fanned out to every connected /ws/stats client.

Each tick reads Redis once (stats.stats_snapshot_async) however many clients are
connected, and one pub/sub subscription per process relays the batch_persisted events
that flush jobs publish (messaging/events.py). The loops run only while at least one
client is connected. The original design polled Redis once per client; with a thousand
dashboards open that was a thousand snapshot reads every half second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref

import orjson
from prometheus_client import Gauge

from messaging import buffer, deadlines
from messaging.conf import msgbuffer_settings
from messaging.stats import stats_snapshot_async

log = logging.getLogger(__name__)

# Per process (this is the one figure /metrics cannot read from Redis): scrape each web
# process, or sum over them, to count every connected dashboard.
WEBSOCKET_CLIENTS = Gauge("msgbuffer_websocket_clients", "/ws/stats clients connected to this web process")

# A client that cannot take a message within this long misses it rather than holding up
# the others (seconds). Dead connections are closed by the server's own ping timeout.
SEND_TIMEOUT = 2.0
# Pause before subscribing again after the pub/sub connection dropped (seconds).
RESUBSCRIBE_AFTER = 1.0


class StatsBroadcaster:
    def __init__(self):
        self.clients: set = set()
        self.ticks = 0  # snapshots read from Redis: tests compare it with the client count
        self._latest: str | None = None
        self._latest_at = 0.0
        self._reading: asyncio.Task | None = None
        self._busy: set = set()  # clients still sending an earlier tick
        self._loops: list[asyncio.Task] = []
        self._deliveries: set[asyncio.Task] = set()

    async def join(self, client) -> None:
        """Send `client` a stats_update at once, then every tick and every event."""
        if client not in self.clients:
            self.clients.add(client)
            WEBSOCKET_CLIENTS.inc()
        if not self._loops:
            self._loops = [asyncio.create_task(self._tick_loop()), asyncio.create_task(self._event_loop())]
        try:
            update = await self._fresh_update()
        except Exception:  # Redis down: the client gets the first tick that succeeds
            log.warning("stats read for a new client failed", exc_info=True)
            return
        await client.send(text_data=update)

    async def leave(self, client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            WEBSOCKET_CLIENTS.dec()
        self._busy.discard(client)
        if not self.clients and self._loops:
            await self._stop()

    async def _stop(self) -> None:
        tasks = [*self._loops, *self._deliveries]
        self._loops = []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ reading
    async def _fresh_update(self) -> str:
        """The latest stats_update, read again if older than one interval.

        Clients connecting at the same moment share one read rather than each making one.
        """
        if self._latest is not None and time.monotonic() - self._latest_at <= msgbuffer_settings().STATS_INTERVAL:
            return self._latest
        return await self._read()

    async def _read(self) -> str:
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_once())
            self._reading.add_done_callback(self._read_done)
        return await asyncio.shield(self._reading)

    def _read_done(self, task: asyncio.Task) -> None:
        self._reading = None
        if not task.cancelled():
            task.exception()  # mark it retrieved: the awaiting callers log it

    async def _read_once(self) -> str:
        snapshot = await stats_snapshot_async()
        self.ticks += 1
        self._latest = orjson.dumps({"type": "stats_update", **snapshot}).decode()
        self._latest_at = time.monotonic()
        return self._latest

    # ------------------------------------------------------------------ loops
    async def _tick_loop(self) -> None:
        interval = msgbuffer_settings().STATS_INTERVAL
        next_tick = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(next_tick - time.monotonic(), 0))
            next_tick += interval
            if next_tick < time.monotonic():  # stalled (a slow read): skip missed ticks, don't burst
                next_tick = time.monotonic() + interval
            try:
                update = await self._read()
            except Exception:  # a Redis hiccup: skip this tick, keep the clients
                log.warning("stats tick failed", exc_info=True)
                continue
            self._deliver(update, skip_busy=True)

    async def _event_loop(self) -> None:
        while True:
            pubsub = buffer.events_subscription()
            try:
                await pubsub.subscribe(buffer.EVENTS)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        data = message["data"]
                        self._deliver(data.decode() if isinstance(data, bytes) else data, skip_busy=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event subscription lost; subscribing again", exc_info=True)
                await asyncio.sleep(RESUBSCRIBE_AFTER)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    # ------------------------------------------------------------------ fan-out
    def _deliver(self, text: str, *, skip_busy: bool) -> None:
        """Send `text` to every client without making the loops wait for slow ones.

        A stats tick skips a client still busy with the previous one (it gets the next,
        fresher tick); an event is queued for everyone, since each one carries new ids.
        """
        clients = [client for client in self.clients if not (skip_busy and client in self._busy)]
        if clients:
            task = asyncio.create_task(self._fan_out(clients, text, is_tick=skip_busy))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _fan_out(self, clients: list, text: str, *, is_tick: bool) -> None:
        if is_tick:
            self._busy.update(clients)
        try:
            results = await asyncio.gather(*(self._send(client, text) for client in clients), return_exceptions=True)
        finally:
            if is_tick:
                self._busy.difference_update(clients)
        for client, result in zip(clients, results):
            if isinstance(result, Exception) and not isinstance(result, TimeoutError):
                if client in self.clients:  # its connection is gone; disconnect() may never come
                    self.clients.discard(client)
                    WEBSOCKET_CLIENTS.dec()

    @staticmethod
    async def _send(client, text: str) -> None:
        # A deadline that arms no timer (messaging/deadlines.py): 2,000 sends a second with
        # 1,000 dashboards open; wait_for would add a task to each.
        async with deadlines.within(SEND_TIMEOUT):
            await client.send(text_data=text)


_broadcasters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StatsBroadcaster]" = weakref.WeakKeyDictionary()


def broadcaster() -> StatsBroadcaster:
    """The broadcaster of this process's event loop."""
    loop = asyncio.get_running_loop()
    found = _broadcasters.get(loop)
    if found is None:
        found = _broadcasters[loop] = StatsBroadcaster()
    return found
