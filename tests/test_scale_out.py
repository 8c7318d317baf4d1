"""Scale-out: two web processes and two workers on one Redis and one database.

A mixed load (single POSTs, bulk POSTs, /simulate, an Idempotency-Key replayed on both
web processes) goes through both web processes while a /ws/stats client watches each.
Afterwards every accepted message is exactly one row, the counters agree with the rows,
and both dashboards show the same totals and saw every committed batch.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db.models import Count
from websockets.sync.client import connect

from messaging import buffer
from messaging.conf import msgbuffer_settings
from messaging.models import Message
from msgbuffer_site.embedded_redis import free_port
from tests.support import wait_for

SINGLE_POSTS = 300
BULK_POSTS, BULK_SIZE = 12, 100
SIMULATE_CALLS, SIMULATE_COUNT = 4, 250
IDEMPOTENT_REPEATS = 6


class DashboardClient:
    """A /ws/stats client on its own thread, keeping what the dashboard would show."""

    def __init__(self, port: int):
        self.url, self.origin = f"ws://127.0.0.1:{port}/ws/stats", f"http://127.0.0.1:{port}"
        self.socket = None
        self.stats_updates = 0
        self.last_stats: dict | None = None
        self.batch_events: list[dict] = []
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()
        wait_for(lambda: self.socket is not None or self.errors, timeout=10, message=f"{self.url} open")
        assert not self.errors, self.errors

    def _listen(self) -> None:
        try:
            with connect(self.url, origin=self.origin, open_timeout=10) as socket:
                self.socket = socket
                for raw in socket:
                    message = json.loads(raw)
                    if message["type"] == "stats_update":
                        self.last_stats = message
                        self.stats_updates += 1
                    elif message["type"] == "batch_persisted":
                        self.batch_events.append(message)
        except Exception as exc:  # the assertions below report it
            self.errors.append(exc)

    def __repr__(self) -> str:  # what a timed-out wait reports
        total = self.last_stats and self.last_stats["total_messages"]
        return f"<dashboard {self.url}: {self.stats_updates} ticks, total {total}, {len(self.batch_events)} batches, errors {self.errors}>"

    def persisted_ids(self) -> list[str]:
        return [message_id for event in self.batch_events for message_id in event["ids"]]

    def close(self) -> None:
        self.socket.close()
        self._thread.join(5)


def wait_for_dashboards(dashboards: list[DashboardClient], condition, what: str) -> None:
    try:
        wait_for(lambda: all(condition(d) for d in dashboards), timeout=5, message=f"both dashboards showing {what}")
    except AssertionError as exc:  # say what each one showed when time ran out
        raise AssertionError(f"{exc}; {dashboards}") from None


def message(n: int) -> dict:
    return {"user_id": 1 + n % 97, "channel_id": 1 + n % 7, "content": f"scale-out message {n}"}


def drive_mixed_load(bases: list[str]) -> tuple[set[str], list[httpx.Response]]:
    """Send the whole mix through both web processes at once; returns (accepted ids, responses)."""
    clients = [httpx.Client(base_url=base, timeout=30) for base in bases]  # thread-safe, pooled connections

    def post(index: int, path: str, **kwargs) -> httpx.Response:
        return clients[index % len(clients)].post(path, **kwargs)

    calls = []
    calls += [(n, "/messages", {"json": message(n)}) for n in range(SINGLE_POSTS)]
    calls += [
        (n, "/messages/bulk", {"json": {"messages": [message(n * BULK_SIZE + i) for i in range(BULK_SIZE)]}})
        for n in range(BULK_POSTS)
    ]
    calls += [(n, "/simulate", {"json": {"count": SIMULATE_COUNT}}) for n in range(SIMULATE_CALLS)]
    # One client retrying one message through whichever web process its balancer picks.
    calls += [
        (n, "/messages", {"json": message(-1), "headers": {"Idempotency-Key": "scale-out-retry"}})
        for n in range(IDEMPOTENT_REPEATS)
    ]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda call: post(call[0], call[1], **call[2]), calls))
    finally:
        for client in clients:
            client.close()

    accepted: set[str] = set()
    for response in responses:
        body = response.json()
        accepted.update(body.get("message_ids") or [body["message_id"]])
    return accepted, responses


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_scale_out__two_webs_two_workers_mixed_load__stored_once_and_dashboards_agree(processes):
    ports = [free_port(), free_port()]
    for port in ports:
        processes.web(port)
    processes.worker()
    processes.worker()
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    wait_for(lambda: httpx.get(f"{bases[0]}/health", timeout=2).json()["workers"] == 2, timeout=20, message="two workers alive")
    dashboards = [DashboardClient(port) for port in ports]
    try:
        # Two ticks in, each web process has subscribed to batch events as well.
        wait_for(lambda: all(d.stats_updates >= 2 for d in dashboards), timeout=10, message="dashboards ticking")

        accepted, responses = drive_mixed_load(bases)

        assert [r.status_code for r in responses if r.status_code != 202] == []
        replays = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
        assert len(replays) == IDEMPOTENT_REPEATS - 1  # the key was honoured across both web processes
        expected = SINGLE_POSTS + BULK_POSTS * BULK_SIZE + SIMULATE_CALLS * SIMULATE_COUNT + 1
        assert len(accepted) == expected

        wait_for(lambda: Message.objects.count() >= expected, timeout=25, message=f"{expected} rows")
        wait_for(
            lambda: (s := buffer.read_state()).queue_length == 0 and s.in_flight == 0 and s.total_messages == expected,
            timeout=10,
            message="buffer settled",
        )
        rows = Message.objects.count()
        state = buffer.read_state()
        wait_for_dashboards(dashboards, lambda d: d.last_stats["total_messages"] == rows, f"the final total {rows}")
        wait_for_dashboards(
            dashboards, lambda d: len(d.batch_events) == state.total_batches, f"all {state.total_batches} batches"
        )
    finally:
        for dashboard in dashboards:
            dashboard.close()

    # Exactly once: rows are the accepted ids, none twice, and the counters agree.
    assert rows == len(accepted)
    assert {str(message_id) for message_id in Message.objects.values_list("message_id", flat=True)} == accepted
    assert list(Message.objects.values("message_id").annotate(n=Count("id")).filter(n__gt=1)) == []
    assert state.total_messages == rows
    assert state.dead_letters == 0

    # Both dashboards: the same final totals, and every committed batch exactly once.
    for dashboard in dashboards:
        assert dashboard.errors == []
        assert dashboard.last_stats["total_messages"] == rows
        assert dashboard.last_stats["total_batches"] == state.total_batches
        assert dashboard.last_stats["queue_length"] == 0
        ids = dashboard.persisted_ids()
        assert len(ids) == rows and set(ids) == accepted
        assert len({event["batch_id"] for event in dashboard.batch_events}) == state.total_batches
        assert all(event["batch_size"] <= msgbuffer_settings().BATCH_SIZE for event in dashboard.batch_events)
