"""Connections to Redis: one pool per process for sync code, one per event loop for async
code; through the sentinels when settings.REDIS_SENTINEL names them."""

from __future__ import annotations

import asyncio
import weakref
from functools import cache

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings

from .. import deadlines

REPLY_TIMEOUT = 10.0  # seconds one command may wait on Redis before it counts as an outage


def _sentinel_master(sentinel_class, **client_options):
    """A client for the master the sentinels name now (settings.REDIS_SENTINEL); it asks
    again after a failover."""
    conf = settings.REDIS_SENTINEL
    sentinel = sentinel_class(conf["sentinels"], sentinel_kwargs=conf["sentinel_kwargs"], **conf["connection_kwargs"])
    return sentinel.master_for(conf["master_name"], **client_options)


@cache
def sync_client() -> redis.Redis:
    options = {"health_check_interval": 30, "socket_timeout": 10}
    if getattr(settings, "REDIS_SENTINEL", None):
        return _sentinel_master(redis.sentinel.Sentinel, **options)
    return redis.Redis.from_url(settings.REDIS_URL, **options)


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def async_client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        # socket_timeout=None, not redis-py 8's default of 5 s: for it redis-py arms
        # asyncio.wait_for around every send and asyncio.timeout around every read
        # (messaging/deadlines.py has the figures). Each
        # async round trip is bounded by `bounded()` instead; connecting keeps its own
        # timeout, and TCP keepalive notices a peer that vanished under a pub/sub
        # subscription, which waits without a deadline.
        options = {
            "max_connections": 256,
            "socket_timeout": None,
            "socket_connect_timeout": REPLY_TIMEOUT,
            "socket_keepalive": True,
        }
        if getattr(settings, "REDIS_SENTINEL", None):
            client = _sentinel_master(aioredis.sentinel.Sentinel, **options)
        else:
            client = aioredis.Redis.from_url(settings.REDIS_URL, **options)
        _async_clients[loop] = client
    return client


def bounded() -> deadlines.within:
    """`async with bounded():` around one async round trip: TimeoutError (an OSError, so
    an outage to outages.py) past REPLY_TIMEOUT, as socket_timeout gives the sync client."""
    return deadlines.within(REPLY_TIMEOUT)


async def close_async_client() -> None:
    """Close the running event loop's connection pool (a loop that is about to end)."""
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def reset_clients() -> None:
    """Forget cached connections (tests point REDIS_URL elsewhere)."""
    sync_client.cache_clear()
    _async_clients.clear()


def text(value) -> str:
    """A Redis reply (bytes) as text, whatever bytes it holds."""
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)
