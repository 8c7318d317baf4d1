"""Throughput history (messaging/buffer/history.py, ack.lua) and GET /stats/history,
against the real Redis: the buffer directly, the route in-process, and a real web server
and worker as subprocesses, restarted in between."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.test import override_settings

from messaging import buffer, polled_reads
from tests.support import wait_for
from tests.test_buffer import ack_all, push_many

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_reads():
    polled_reads.forget_cached_reads()
    yield
    polled_reads.forget_cached_reads()


def settle(count: int) -> list[str]:
    entries = push_many(count)
    claim = buffer.claim(full_only=False)
    ids = [message_id for message_id, _ in entries]
    assert ack_all(claim, ids=ids)
    return ids


def totals(points, field: str) -> int:
    return sum(point[field] if isinstance(point, dict) else getattr(point, field) for point in points)


# ---------------------------------------------------------------------------
# The buffer: ack.lua writes both rings, history.lua reads them
# ---------------------------------------------------------------------------
def test_history__batches_settled__every_range_counts_them(clean_redis):
    settle(3)
    settle(5)
    push_many(2)  # accepted, still waiting

    for range_name in buffer.HISTORY_RANGES:
        history = buffer.read_history(range_name)
        assert (totals(history.buckets, "persisted"), totals(history.buckets, "batches")) == (8, 2), range_name
        assert totals(history.buckets, "accepted") == 8  # the 2 waiting count with the next batch
        assert history.buckets[-1].queue_length == 0
        assert history.buckets[-1].p95_latency_ms == 12.5
        assert history.end - history.start == buffer.HISTORY_RANGES[range_name][1] * history.resolution_s
        assert all(history.start <= b.start < history.end for b in history.buckets)

    settle(1)  # claims the 2 waiting with it: batch of 3
    assert totals(buffer.read_history("1m").buckets, "accepted") == 11


def test_history__a_slot_from_an_older_lap__is_overwritten_not_added_to(clean_redis):
    settle(1)
    [bucket] = buffer.read_history("1m").buckets
    slot = bucket.start % 3600
    an_hour_ago = f"{bucket.start - 3600} 999 9 9 999.0 999"
    clean_redis.hset("msgbuffer:history:1s", slot, an_hour_ago)
    assert buffer.read_history("1m").buckets == []  # that lap is not part of the last minute

    settle(2)
    [bucket] = buffer.read_history("1m").buckets
    assert (bucket.persisted, bucket.batches) == (2, 1)  # not 999 + 2: the old lap was replaced


def test_history__first_look_on_an_old_install__counts_only_what_it_can_account_for(clean_redis):
    clean_redis.set(buffer.ACCEPTED_TOTAL, 1_000_000)  # accepted before history existed
    settle(3)
    push_many(2)
    settle(1)  # stores 3 (the 2 waiting and its own)

    assert totals(buffer.read_history("1m").buckets, "accepted") == 6  # not a million in one bucket


def test_history__demo_reset__history_goes_with_everything_else(clean_redis):
    settle(2)
    buffer.reset()

    assert all(buffer.read_history(range_name).buckets == [] for range_name in buffer.HISTORY_RANGES)


def test_history__switched_off__nothing_is_written(clean_redis):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "HISTORY": False}):
        settle(4)

    assert buffer.read_state().total_messages == 4
    assert all(buffer.read_history(range_name).buckets == [] for range_name in buffer.HISTORY_RANGES)
    assert not clean_redis.keys("msgbuffer:history:*")


# ---------------------------------------------------------------------------
# The route, in-process
# ---------------------------------------------------------------------------
async def test_stats_history__default_range__an_hour_of_seconds(api):
    from asgiref.sync import sync_to_async

    await sync_to_async(settle)(6)
    answer = await api.get("/stats/history")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["range"], body["resolution_s"], body["end"] - body["start"]) == ("1h", 1, 3600)
    assert body["end"] - 1 == body["now"]
    assert totals(body["points"], "persisted") == 6
    assert set(body["points"][0]) == {"t", "persisted", "accepted", "batches", "queue_length", "p95_latency_ms"}


@pytest.mark.parametrize("query", ["range=2h", "range=", "range=1M", "range=7d&range=x"])
async def test_stats_history__unknown_range__422_json_like_other_query_errors(api, query):
    answer = await api.get(f"/stats/history?{query}")

    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "validation_error" and body["detail"][0]["field"] == "range"


async def test_stats_history__in_the_openapi_document(api):
    operation = (await api.get("/openapi.json")).json()["paths"]["/stats/history"]["get"]

    assert {"200", "401", "403", "422", "503"} <= set(operation["responses"])
    assert operation["parameters"][0]["schema"]["enum"] == ["1m", "1h", "24h", "7d"]


# ---------------------------------------------------------------------------
# Real servers: traffic, then a web restart
# ---------------------------------------------------------------------------
def test_stats_history__web_restarted__points_still_there(processes, web_port):
    processes.worker()
    web = processes.web(web_port)
    base = f"http://127.0.0.1:{web_port}"
    messages = [{"user_id": 1 + n, "channel_id": 1, "content": f"history {n}"} for n in range(120)]
    assert httpx.post(f"{base}/messages/bulk", json={"messages": messages}, timeout=10).status_code == 202

    def stored(range_name: str):
        body = httpx.get(f"{base}/stats/history?range={range_name}", timeout=5).json()
        return body if totals(body["points"], "persisted") == 120 else None

    before = wait_for(lambda: stored("1m"), timeout=20, message="120 messages in the last minute's history")
    assert totals(before["points"], "accepted") == 120 and totals(before["points"], "batches") >= 3
    processes.kill(web)
    processes.web(web_port)

    for range_name in ("1m", "1h", "24h", "7d"):
        after = stored(range_name)
        assert after is not None, range_name
        assert totals(after["points"], "accepted") == 120
    refused = httpx.get(f"{base}/stats/history?range=forever", timeout=5)
    assert refused.status_code == 422 and refused.json()["error"] == "validation_error"
