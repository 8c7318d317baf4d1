"""/ws/stats (SPEC §6): every message type, the tick cadence, origin checks, and the
per-process broadcaster's promise that N clients cost the same Redis reads as one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client as HttpClient
from django.test import override_settings

from dashboard.broadcaster import broadcaster
from messaging import buffer, flush, services
from messaging.api_keys import api_key_create, api_key_revoke, forget_cached_keys
from messaging.models import Message
from messaging.schemas import MessageIn
from msgbuffer_site.asgi import application

# Channels closes stale database connections around each consumer handler (in its sync
# thread), and the flush test commits from a thread: both need the real, committed database.
pytestmark = pytest.mark.django_db(transaction=True)

SPEC_FIELDS = (
    "total_messages",
    "current_rps",
    "messages_per_second",
    "queue_depth",
    "queue_length",
    "total_batches",
    "avg_batch_size",
    "batch_threshold",
    "batch_progress",
    "batch_progress_percent",
    "batches_ready",
    "in_flight",
    "dead_letters",
    "avg_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "workers",
)
# What a browser sends from a page on the site itself: its Host, and the page's origin.
SAME_ORIGIN = [(b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000")]
# The default tick (SPEC §2), pinned so an MSGBUFFER_STATS_INTERVAL in the environment
# cannot change what the cadence test checks.
DEFAULT_TICK = override_settings(MSGBUFFER={**settings.MSGBUFFER, "STATS_INTERVAL": 0.5})


DASHBOARD_AUTH = override_settings(MSGBUFFER={**settings.MSGBUFFER, "DASHBOARD_AUTH": True})


@pytest.fixture(autouse=True)
async def close_sync_thread_connections():
    """Channels reads sessions and keys in its sync thread; close that thread's database
    connection after each test, or PostgreSQL refuses to drop the test database."""
    yield
    await sync_to_async(connections.close_all)()


def communicator(headers=SAME_ORIGIN) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/stats", headers=headers)


@contextlib.asynccontextmanager
async def connected(count: int = 1):
    """`count` accepted /ws/stats clients, each disconnected afterwards."""
    clients = [communicator() for _ in range(count)]
    try:
        for client in clients:
            accepted, _ = await client.connect(timeout=5)
            assert accepted
        yield clients
    finally:
        for client in clients:
            with contextlib.suppress(asyncio.CancelledError):  # a failed receive already stopped it
                await client.disconnect()


async def receive_until(client: WebsocketCommunicator, message_type: str, *, timeout: float) -> dict:
    """The first message of `message_type`, skipping others (the stats ticks keep coming)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {message_type} within {timeout}s"
        message = await client.receive_json_from(timeout=remaining)
        if message["type"] == message_type:
            return message


async def accept(count: int) -> list[str]:
    messages = [MessageIn(user_id=7, channel_id=3, content=f"hello {n}") for n in range(count)]
    return services.accepted_ids(await services.messages_accept(messages, bulk=True))


async def wait_until(condition, *, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {message}"
        await asyncio.sleep(0.02)


def is_json_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------
# stats_update
# ---------------------------------------------------------------------------
async def test_stats_socket__client_connects__stats_update_at_once_with_every_spec_field():
    await accept(3)  # three messages waiting: the snapshot must show them

    async with connected() as (client,):
        update = await client.receive_json_from(timeout=2)

    assert update["type"] == "stats_update"
    missing = [field for field in SPEC_FIELDS + ("timestamp",) if field not in update]
    assert missing == []
    not_numbers = {field: update[field] for field in SPEC_FIELDS if not is_json_number(update[field])}
    assert not_numbers == {}
    assert (update["queue_length"], update["queue_depth"], update["batch_progress"]) == (3, 3, 3)
    assert update["batch_threshold"] == 50
    stamped = datetime.fromisoformat(update["timestamp"].replace("Z", "+00:00"))
    assert stamped.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamped) < timedelta(seconds=5)


@DEFAULT_TICK
async def test_stats_socket__default_interval__eight_to_twelve_updates_in_five_seconds():
    received = 0
    async with connected() as (client,):
        deadline = time.monotonic() + 5.0
        while (remaining := deadline - time.monotonic()) > 0:
            # receive_nothing peeks without a timeout: a receive that times out cancels the app
            if await client.receive_nothing(timeout=min(remaining, 0.05), interval=0.005):
                continue
            message = await client.receive_json_from()
            received += message["type"] == "stats_update"

    assert 8 <= received <= 12


# ---------------------------------------------------------------------------
# batch_persisted and pong
# ---------------------------------------------------------------------------
def flush_one_batch() -> flush.BatchOutcome:
    """What a flush job does for one batch, in this thread (the test's loop keeps running)."""
    try:
        claim = buffer.claim(full_only=False)
        assert claim is not None
        return flush.batch_flush(claim)
    finally:
        connection.close()


def stored_ids() -> list[str]:
    try:
        return sorted(str(message_id) for message_id in Message.objects.values_list("message_id", flat=True))
    finally:
        connection.close()  # a thread's connection left open would block dropping the test database


async def _has_subscriber(numsub) -> bool:
    [(_, count)] = await numsub()
    return count > 0


async def test_stats_socket__batch_committed__batch_persisted_with_its_ids():
    ids = await accept(5)

    async with connected() as (client,):
        # An event published before the broadcaster subscribes reaches nobody: wait for it.
        subscribers = lambda: buffer.async_client().pubsub_numsub(buffer.EVENTS)  # noqa: E731
        await wait_until(lambda: _has_subscriber(subscribers), timeout=5, message="the events subscription")
        outcome = await asyncio.to_thread(flush_one_batch)
        event = await receive_until(client, "batch_persisted", timeout=5)

    assert event["batch_id"] == outcome.batch_id
    assert event["batch_size"] == 5
    assert sorted(event["ids"]) == sorted(ids)
    assert datetime.fromisoformat(event["worker_timestamp"]).utcoffset() == timedelta(0)
    assert await asyncio.to_thread(stored_ids) == sorted(ids)


async def test_stats_socket__client_pings__pong():
    async with connected() as (client,):
        await client.send_json_to({"type": "ping"})
        assert await receive_until(client, "pong", timeout=2) == {"type": "pong"}


async def test_stats_socket__unknown_or_malformed_message__ignored_and_still_answers_pings():
    async with connected() as (client,):
        await client.send_to(text_data="not json")
        await client.send_json_to({"type": "subscribe"})
        await client.send_json_to({"type": "ping"})
        assert await receive_until(client, "pong", timeout=2) == {"type": "pong"}


# ---------------------------------------------------------------------------
# Origins
# ---------------------------------------------------------------------------
async def origin_admitted(
    origin: bytes, *, host: bytes = b"localhost:8000", scheme: str = "ws", extra: list[tuple[bytes, bytes]] = ()
) -> bool:
    client = WebsocketCommunicator(application, "/ws/stats", headers=[(b"host", host), (b"origin", origin), *extra])
    client.scope["scheme"] = scheme  # what uvicorn puts in the scope (wss behind a TLS proxy it trusts)
    accepted, _ = await client.connect(timeout=5)
    with contextlib.suppress(asyncio.CancelledError):
        await client.disconnect()
    return accepted


@override_settings(ALLOWED_HOSTS=["localhost", "127.0.0.1"])
async def test_stats_socket__foreign_origin__refused():
    assert await origin_admitted(b"http://evil.example") is False
    assert await origin_admitted(b"http://127.0.0.1:8000", host=b"127.0.0.1:8000") is True


@DASHBOARD_AUTH
@override_settings(ALLOWED_HOSTS=["localhost", "127.0.0.1"])
async def test_stats_socket__staff_session_from_another_port_or_scheme__refused():
    # A staff member's browser carries their cookie to any page's socket: only the site's
    # own origin (scheme, host and port) may use it.
    staff = [(b"cookie", await sync_to_async(session_cookie)(staff=True))]

    assert await origin_admitted(b"http://localhost:8000", extra=staff) is True
    assert await origin_admitted(b"http://localhost:3000", extra=staff) is False
    assert await origin_admitted(b"http://localhost", extra=staff) is False
    assert await origin_admitted(b"https://localhost:8000", extra=staff) is False
    assert await origin_admitted(b"http://127.0.0.1:8000", extra=staff) is False  # another host, though allowed
    assert await origin_admitted(b"null", extra=staff) is False


@override_settings(ALLOWED_HOSTS=["localhost"])
async def test_stats_socket__no_origin_or_foreign_host__refused():
    no_origin = WebsocketCommunicator(application, "/ws/stats", headers=[(b"host", b"localhost:8000")])
    accepted, _ = await no_origin.connect(timeout=5)

    assert accepted is False
    # The Host must be allowed too: an attacker's DNS name pointing here is not the site.
    assert await origin_admitted(b"http://evil.example:8000", host=b"evil.example:8000") is False


@override_settings(ALLOWED_HOSTS=["msgbuffer.example"], SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
async def test_stats_socket__behind_tls_proxy__https_page_origin_admitted():
    host = b"msgbuffer.example"
    assert await origin_admitted(b"https://msgbuffer.example", host=host, scheme="wss") is True
    assert await origin_admitted(b"http://msgbuffer.example", host=host, scheme="wss") is False
    # A proxy that speaks plain HTTP to uvicorn but says so in X-Forwarded-Proto, as Django reads it.
    forwarded = [(b"x-forwarded-proto", b"https")]
    assert await origin_admitted(b"https://msgbuffer.example", host=host, extra=forwarded) is True


@override_settings(
    ALLOWED_HOSTS=["msgbuffer.example"], CSRF_TRUSTED_ORIGINS=["https://ops.msgbuffer.example", "https://*.dash.example"]
)
async def test_stats_socket__csrf_trusted_origins__admitted_as_django_admits_their_posts():
    host = b"msgbuffer.example"
    assert await origin_admitted(b"https://ops.msgbuffer.example", host=host) is True
    assert await origin_admitted(b"https://eu.dash.example", host=host) is True
    assert await origin_admitted(b"http://ops.msgbuffer.example", host=host) is False
    assert await origin_admitted(b"https://ops.msgbuffer.example:8443", host=host) is False


# ---------------------------------------------------------------------------
# Dashboard auth (on unless DEBUG): staff sessions and API keys only
# ---------------------------------------------------------------------------
def session_cookie(*, staff: bool) -> bytes:
    user = get_user_model().objects.create_user(username=f"watcher-{staff}", password="unused-here", is_staff=staff)
    browser = HttpClient()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


def new_api_key(*, revoked: bool) -> str:
    key, raw = api_key_create(name="dashboard monitor")
    if revoked:
        api_key_revoke(key=key)
    forget_cached_keys()
    return raw


async def handshake(*extra_headers: tuple[bytes, bytes]) -> bool:
    client = communicator(headers=SAME_ORIGIN + list(extra_headers))
    accepted, _ = await client.connect(timeout=5)
    with contextlib.suppress(asyncio.CancelledError):
        await client.disconnect()
    return accepted


@DASHBOARD_AUTH
async def test_stats_socket__auth_on_and_anonymous__refused():
    assert await handshake() is False


@DASHBOARD_AUTH
async def test_stats_socket__auth_on__staff_session_admitted_and_non_staff_refused():
    staff = await sync_to_async(session_cookie)(staff=True)
    non_staff = await sync_to_async(session_cookie)(staff=False)

    assert await handshake((b"cookie", staff)) is True
    assert await handshake((b"cookie", non_staff)) is False


@DASHBOARD_AUTH
async def test_stats_socket__auth_on__live_api_key_admitted_and_revoked_refused():
    live = await sync_to_async(new_api_key)(revoked=False)
    revoked = await sync_to_async(new_api_key)(revoked=True)

    assert await handshake((b"authorization", f"Bearer {live}".encode())) is True
    assert await handshake((b"authorization", f"Bearer {revoked}".encode())) is False
    assert await handshake((b"authorization", b"Bearer mb_not-a-key")) is False


# ---------------------------------------------------------------------------
# One Redis read per tick per process, whatever the number of clients
# ---------------------------------------------------------------------------
async def count_redis_work(clients: list[WebsocketCommunicator], ticks: int) -> tuple[int, int]:
    """(snapshot reads, Redis commands on our database) while each client gets `ticks` more updates.

    Commands are counted with MONITOR, filtered to this test's database so that other
    users of a shared Redis server are not counted.
    """
    our_db = buffer.sync_client().connection_pool.connection_kwargs.get("db", 0)
    commands = 0
    monitor_client = aioredis.Redis.from_url(settings.REDIS_URL)
    ready = asyncio.Event()

    async def watch():
        nonlocal commands
        async with monitor_client.monitor() as monitor:
            ready.set()
            async for command in monitor.listen():
                commands += command["db"] == our_db

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(ready.wait(), 5)
        for client in clients:  # start counting from a clean slate of received ticks
            while not await client.receive_nothing(timeout=0.01):
                await client.receive_from()
        reads_before = broadcaster().ticks
        for client in clients:
            for _ in range(ticks):
                await receive_until(client, "stats_update", timeout=5)
        reads = broadcaster().ticks - reads_before
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
        await monitor_client.aclose()
    return reads, commands


@DEFAULT_TICK
async def test_stats_broadcaster__twenty_clients__same_redis_reads_per_tick_as_one():
    ticks = 6
    async with connected(1) as clients:
        reads_one, commands_one = await count_redis_work(clients, ticks)
    async with connected(20) as clients:
        reads_twenty, commands_twenty = await count_redis_work(clients, ticks)

    # One snapshot read per tick, not one per client (20 clients polling would be 20x).
    assert reads_one <= ticks + 1
    assert reads_twenty <= ticks + 1
    assert commands_one > 0
    # The same Redis commands, give or take one tick's pipeline at the window's edges.
    per_read = commands_one / max(reads_one, 1)
    assert commands_twenty <= commands_one + 2 * per_read + 2


async def test_stats_socket__clients_connect_and_leave__websocket_gauge_follows():
    from dashboard.broadcaster import WEBSOCKET_CLIENTS

    before = WEBSOCKET_CLIENTS._value.get()
    async with connected(3):
        during = WEBSOCKET_CLIENTS._value.get()
    assert during - before == 3
    assert WEBSOCKET_CLIENTS._value.get() == before  # connected() waits for each disconnect
