"""Listening to the dashboards' group on the channel layer as a /ws/stats consumer does,
for tests that check what flush jobs announce (messaging/events.py)."""

from __future__ import annotations

import asyncio
import threading
import time

import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from django.conf import settings

from messaging.events import DASHBOARD_GROUP


async def dashboard_group_heard(timeout: float = 5.0) -> None:
    """Wait until Redis counts a subscriber on the dashboards' group: pub/sub keeps nothing,
    so an event announced before a web process has subscribed reaches nobody."""
    # The layer's own name for the group's pub/sub channel (its loop layer's method).
    channel = get_channel_layer()._get_group_channel_name(DASHBOARD_GROUP)
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + timeout
    try:
        while not (await client.pubsub_numsub(channel))[0][1]:
            assert time.monotonic() < deadline, f"no subscriber on {channel} within {timeout}s"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


class GroupListener:
    """A member of the dashboards' group, on its own event loop in a thread (for sync tests)."""

    def __init__(self):
        self.received: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-group-listener", daemon=True)
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self._joined = threading.Event()
        if not self._joined.wait(10) and self._task.done():
            self._task.result()  # raise what stopped it

    async def _listen(self) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(DASHBOARD_GROUP, channel)
        await dashboard_group_heard()
        self._joined.set()
        while True:
            self.received.append(await layer.receive(channel))

    def collect(self, quiet: float = 0.2) -> list[dict]:
        """What arrived so far, once nothing new has come for `quiet` seconds."""
        while True:
            count = len(self.received)
            time.sleep(quiet)
            if len(self.received) == count:
                return list(self.received)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()  # channels-redis closes the loop's layer (and its connection) here
