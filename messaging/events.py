"""Events that flush jobs announce to live dashboards (SPEC §6 `batch_persisted`), carried
by the Channels layer (settings.CHANNEL_LAYERS: channels-redis's pub/sub layer).

A flush job announces a batch with group_send to DASHBOARD_GROUP once buffer.ack has
settled it, so a batch is never announced for a lease that was lost. Every /ws/stats
consumer joins the group (dashboard/consumers.py); the layer subscribes each web process
to the group once, however many consumers it has, and hands the event to each of them.
An event is at most once: pub/sub keeps nothing for a process that is not listening.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

DASHBOARD_GROUP = "dashboard"
# How long the layer may take to publish one announcement before it is given up (seconds):
# the batch is stored and counted either way, dashboards only miss one feed entry.
ANNOUNCE_TIMEOUT = 2.0
# Announcements handed to the layer and not yet published; past this (Redis stalled) new
# ones are dropped rather than queued without bound in the worker's memory.
MAX_IN_FLIGHT = 100


def batch_persisted(*, batch_id: str, message_ids: list[str], committed_at: datetime) -> dict:
    """The event, as the layer carries it: its "type" names the consumer's handler too."""
    return {
        "type": "batch_persisted",
        "batch_id": batch_id,
        "batch_size": len(message_ids),
        "ids": message_ids,
        "worker_timestamp": committed_at.isoformat(),
    }


def announce(event: dict) -> None:
    """group_send `event` to every dashboard, from sync code (a flush job); never raises.

    The flush job does not wait for the publish: it goes on with the next batch while the
    layer's loop publishes, in the order announced (one loop, and the layer publishes
    under a lock that serves its waiters in turn).
    """
    if not _in_flight.acquire(blocking=False):
        log.warning("dashboard announcements backed up; batch %s not announced", event.get("batch_id"))
        return
    asyncio.run_coroutine_threadsafe(_group_send(event), _layer_loop()).add_done_callback(_announced)


async def _group_send(event: dict) -> None:
    async with asyncio.timeout(ANNOUNCE_TIMEOUT):
        await get_channel_layer().group_send(DASHBOARD_GROUP, event)


def _announced(future) -> None:
    _in_flight.release()
    if not future.cancelled() and (error := future.exception()) is not None:
        log.warning("a batch was stored but not announced to dashboards", exc_info=error)


# async_to_sync(group_send) would start a thread, an event loop and so a new layer with
# its own Redis connection (channels-redis keeps one layer per loop) for every batch:
# 2-3 ms each, against ~0.2 ms waited for on one loop kept for the process, and nothing
# once the flush job no longer waits.
_in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def _layer_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked child has no copy of the thread
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="channel-layer", daemon=True).start()
        return _loop
