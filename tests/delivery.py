"""End-to-end delivery helpers for the flush tests (SPEC §5): post through the real ASGI
application, start a worker and know when it listens, wait for quiescence, and check
that every accepted message is stored exactly once with counters equal to the rows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
from django.db import connection, transaction

from messaging import buffer
from tests.support import wait_for


def message_body(n: int) -> dict:
    return {"user_id": 1 + n % 7, "channel_id": 1 + n % 3, "content": f"flush test message {n}"}


class IngestClient:
    """Posts to the real ASGI application in this process (httpx.ASGITransport).

    Requests run on a private event loop in a thread, so the test thread stays free to
    watch the database, kill workers or stop PostgreSQL while a load is running.
    """

    def __init__(self):
        from msgbuffer_site.asgi import application

        # httpx logs every request at INFO: thousands of lines in a failing test's report.
        logging.getLogger("httpx").setLevel(logging.WARNING)

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ingest-client", daemon=True)
        self._thread.start()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver")
        self.accepted: list[str] = []  # every message_id answered 202 (appended on the loop's thread)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _post(self, path: str, body: dict) -> httpx.Response:
        response = await self.http.post(path, json=body)
        if response.status_code == 202:
            answer = response.json()
            self.accepted.extend(answer.get("message_ids") or [answer["message_id"]])
        return response

    def post(self, n: int = 0) -> httpx.Response:
        return self._run(self._post("/messages", message_body(n)))

    def post_bulk(self, count: int) -> httpx.Response:
        response = self._run(self._post("/messages/bulk", {"messages": [message_body(n) for n in range(count)]}))
        assert response.status_code == 202, response.text
        return response

    def start_load(self, *, total: int, rate: float, per_request: int = 10) -> concurrent.futures.Future:
        """Post `total` messages at `rate` messages/s in bulks of `per_request`, in the background.

        Paced against a schedule (not fixed sleeps), so the average rate holds even when
        one request is slow. The future's result is the elapsed time in seconds.
        """
        return asyncio.run_coroutine_threadsafe(self._load(total, rate, per_request), self.loop)

    async def _load(self, total: int, rate: float, per_request: int) -> float:
        started = time.monotonic()
        sent = 0
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + per_request)
            while sent < due:
                count = min(per_request, total - sent)
                body = {"messages": [message_body(sent + n) for n in range(count)]}
                response = await self._post("/messages/bulk", body)
                if response.status_code != 202:
                    raise AssertionError(f"load request refused: {response.status_code} {response.text}")
                sent += count
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        return time.monotonic() - started

    def close(self) -> None:
        async def shutdown():
            await self.http.aclose()
            await buffer.close_async_client()

        self._run(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def start_worker(processes, redis, **env):
    """Start `manage.py rqworker` and return once it has registered (it is listening)."""
    before = set(redis.zrange(buffer.WORKERS, 0, -1))
    worker = processes.worker(**env)
    wait_for(
        lambda: set(redis.zrange(buffer.WORKERS, 0, -1)) - before or worker.poll() is not None,
        timeout=30,
        message="the worker to start",
    )
    assert worker.poll() is None, f"worker exited at start:\n{processes.log(worker)}"
    return worker


def stored_ids() -> list:
    """message_id of every row in the tests' database."""
    from messaging.models import Message

    return list(Message.objects.values_list("message_id", flat=True))


def row_count() -> int:
    from messaging.models import Message

    return Message.objects.count()


def quiescent(state: buffer.BufferState) -> bool:
    """Nothing waits, nothing is claimed."""
    return state.queue_length == 0 and state.batches_in_flight == 0 and state.in_flight == 0


def wait_until_stored(count_rows, expected: int, *, timeout: float, processes=None) -> None:
    """Wait until `expected` rows exist and the buffer is quiescent (settled after commit)."""

    def done():
        return count_rows() >= expected and quiescent(buffer.read_state())

    try:
        wait_for(done, timeout=timeout, interval=0.1, message=f"{expected} rows and an idle buffer")
    except AssertionError as exc:
        state = buffer.read_state()
        logs = ""
        if processes is not None:
            logs = "\n".join(processes.log(p)[-3000:] for p in processes.running if "worker" in p.log_path)
        raise AssertionError(f"{exc}: rows={count_rows()} state={state}\n{logs}") from None


def assert_stored_exactly_once(accepted: list[str], stored: list) -> buffer.BufferState:
    """SPEC §5 invariants 1 and 2: rows == accepted, no duplicates, counters == rows."""
    stored_ids = [str(message_id) for message_id in stored]
    accepted_ids = [str(uuid.UUID(message_id)) for message_id in accepted]
    assert len(set(accepted_ids)) == len(accepted_ids), "ingest answered the same message_id twice"
    assert len(set(stored_ids)) == len(stored_ids), "duplicate message_id rows"
    missing = set(accepted_ids) - set(stored_ids)
    unexpected = set(stored_ids) - set(accepted_ids)
    assert not missing, f"{len(missing)} accepted message(s) lost, e.g. {sorted(missing)[:3]}"
    assert not unexpected, f"{len(unexpected)} row(s) never accepted, e.g. {sorted(unexpected)[:3]}"
    assert len(stored_ids) == len(accepted_ids)
    state = buffer.read_state()
    assert state.total_messages == len(stored_ids), f"total_messages {state.total_messages} != {len(stored_ids)} rows"
    assert quiescent(state), state
    return state


def wait_past_leases(redis) -> None:
    """Wait until every current claim lease has expired on Redis's clock (the scripts' clock)."""

    def redis_now_ms() -> float:
        seconds, microseconds = redis.time()
        return seconds * 1000 + microseconds / 1000

    leases = redis.zrange(buffer.LEASES, -1, -1, withscores=True)
    if leases:
        wait_for(lambda: redis_now_ms() > leases[0][1], timeout=30, message="the claim leases to expire")


@contextlib.contextmanager
def messages_table_locked():
    """Hold the message table's write lock: a worker's INSERT waits until the block ends.

    PostgreSQL: an EXCLUSIVE table lock (reads pass, inserts wait). SQLite: the database
    write lock, taken by a write statement in our transaction (IMMEDIATE mode).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("LOCK TABLE messaging_message IN EXCLUSIVE MODE")
            else:
                cursor.execute("DELETE FROM messaging_message WHERE id < 0")
        yield


def wait_for_insert_blocked(expected_in_flight: int) -> None:
    """Wait until a worker holds a claim of `expected_in_flight` messages and (where the
    database can show it) its INSERT waits on messages_table_locked()."""
    wait_for(lambda: buffer.read_state().in_flight == expected_in_flight, timeout=10, message="the worker to claim the batch")
    if connection.vendor == "postgresql":  # SQLite cannot show a waiting writer

        def insert_waiting() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'messaging_message'::regclass")
                return cursor.fetchone()[0] > 0

        wait_for(insert_waiting, timeout=10, message="the worker's INSERT to wait on the lock")


def queued_entry(n: int, **changes) -> tuple[str, bytes]:
    """(message_id, payload) as ingest queues it; `changes` replace fields (to make poison)."""
    message = {
        "message_id": str(uuid.uuid4()),
        **message_body(n),
        "created_at": datetime.now(UTC).isoformat(),
        **changes,
    }
    return message["message_id"], json.dumps(message).encode()
