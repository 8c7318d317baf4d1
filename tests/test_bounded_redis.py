"""Redis stays bounded (issue 8): dead letters past MSGBUFFER_MAX_DEAD_LETTERS move to
PostgreSQL (DeadLetterOverflow), the idempotency window is a setting, and Redis's memory
shows in /metrics and /health before it is full."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings
from django.core import checks
from django.test import override_settings

from messaging import buffer, dead_letters, flush, services
from messaging.buffer import queued_payload
from messaging.models import DeadLetterOverflow, Message
from messaging.schemas import MessageIn
from msgbuffer_site import embedded_redis
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def good_payload() -> tuple[str, bytes]:
    message_id = str(uuid.uuid4())
    message = MessageIn(user_id=1, channel_id=2, content="behind the poison")
    return message_id, queued_payload(message, message_id, datetime.now(UTC).isoformat())


def drain(**conf) -> flush.DrainOutcome:
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, **conf}):
        outcome = flush.buffer_drain(budget=60)
    assert outcome.finished
    return outcome


def redis_dead_letter_ids(client) -> set[str]:
    return {json.loads(raw)["id"] for raw in client.lrange(buffer.DEAD_LETTERS, 0, -1)}


def test_cap__300_poison_then_a_good_message__redis_holds_100_the_database_200_and_the_message_is_stored(clean_redis):
    for n in range(300):
        buffer.push_raw(f"poison {n}".encode())
    message_id, payload = good_payload()
    buffer.push_raw(payload)

    drain(MAX_DEAD_LETTERS=100)

    assert clean_redis.llen(buffer.DEAD_LETTERS) == 100
    assert clean_redis.llen(buffer.DEAD_LETTER_OVERFLOW) == 0
    assert Message.objects.filter(message_id=message_id).exists()
    kept = set(DeadLetterOverflow.objects.values_list("entry_id", flat=True))
    in_redis = redis_dead_letter_ids(clean_redis)
    assert len(kept) == 200 and not kept & in_redis
    # Redis keeps the newest: the poison pushed last.
    payloads = {json.loads(raw)["payload"] for raw in clean_redis.lrange(buffer.DEAD_LETTERS, 0, -1)}
    assert payloads == {f"poison {n}" for n in range(200, 300)}
    assert {json.loads(row.entry)["payload"] for row in DeadLetterOverflow.objects.all()} == {f"poison {n}" for n in range(200)}
    counters = buffer.read_metric_counters()
    assert counters.dead_lettered == 300 and counters.dead_letters_moved == 200


def test_cap__never_passed_while_draining(clean_redis):
    """ack.lua trims in the same step that adds, so no reader ever sees more than the cap."""
    for n in range(120):
        buffer.push_raw(f"poison {n}".encode())
    seen = []
    settle = buffer.ack

    def ack_and_look(*args, **kwargs):
        settled = settle(*args, **kwargs)
        seen.append(clean_redis.llen(buffer.DEAD_LETTERS))
        return settled

    flush.buffer.ack = ack_and_look
    try:
        drain(MAX_DEAD_LETTERS=10, BATCH_SIZE=50)
    finally:
        flush.buffer.ack = settle
    assert seen and max(seen) <= 10
    assert DeadLetterOverflow.objects.count() == 110


def test_move__interrupted_after_commit__entry_kept_once_and_dropped_from_redis(clean_redis):
    """A crash between the copy to PostgreSQL and the removal from Redis: the next move
    neither loses nor doubles it."""
    entry = json.dumps({"id": "a" * 32, "payload": "x", "reason": "r", "failed_at": "2026-01-01T00:00:00+00:00"})
    clean_redis.lpush(buffer.DEAD_LETTER_OVERFLOW, entry)
    DeadLetterOverflow.objects.create(entry_id="a" * 32, reason="r", failed_at=datetime.now(UTC), entry=entry)

    assert dead_letters.move_overflow() == 1

    assert DeadLetterOverflow.objects.count() == 1 and clean_redis.llen(buffer.DEAD_LETTER_OVERFLOW) == 0


def test_move__nul_bytes_in_payload_and_reason__kept(clean_redis):
    entry = json.dumps({"id": "b" * 32, "payload": "nul\x00here", "reason": "bad\x00key", "failed_at": "garbage"})
    clean_redis.lpush(buffer.DEAD_LETTER_OVERFLOW, entry)

    assert dead_letters.move_overflow() == 1

    row = DeadLetterOverflow.objects.get()
    assert json.loads(row.entry)["payload"] == "nul\x00here" and row.reason == "bad\ufffdkey"


@pytest.mark.parametrize(
    ("name", "value"), [("IDEMPOTENCY_TTL", 0), ("IDEMPOTENCY_TTL", 31 * 24 * 3600), ("MAX_DEAD_LETTERS", 0)]
)
def test_settings__out_of_range__system_check_error(name, value):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, name: value}):
        errors = [e for e in checks.run_checks() if e.id.startswith("msgbuffer.E")]
    assert any(f"MSGBUFFER_{name}" in e.msg for e in errors)


async def test_idempotency_ttl__setting__is_the_key_expiry(api, clean_redis):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "IDEMPOTENCY_TTL": 120}):
        response = await api.post(
            "/messages", json={"user_id": 1, "channel_id": 2, "content": "hi"}, headers={"Idempotency-Key": "ttl-check"}
        )
    assert response.status_code == 202
    assert 110 <= clean_redis.ttl(buffer.IDEMPOTENCY_PREFIX + "-:one:ttl-check") <= 120


@pytest.fixture
def small_redis(tmp_path):
    """A redis-server of our own whose maxmemory we may set (the shared one is not ours)."""
    process, url = embedded_redis.start(tmp_path / "redis", appendonly=False)
    override = override_settings(REDIS_URL=url)
    override.enable()
    buffer.reset_clients()
    client = redis.Redis.from_url(url)
    yield client
    client.close()
    override.disable()
    buffer.reset_clients()
    embedded_redis.stop(process)


async def test_health__redis_memory_past_90_percent__degraded_200_then_healthy(api, small_redis):
    used = int(small_redis.info("memory")["used_memory"])
    small_redis.config_set("maxmemory", int(used / 0.95))

    degraded = await api.get("/health")
    small_redis.config_set("maxmemory", used * 4)
    healthy = await api.get("/health", params={"again": 1})  # another cache entry

    assert degraded.status_code == 200 and degraded.json()["status"] == "degraded"
    assert "Redis memory" in degraded.json()["message"] and degraded.json()["redis_memory"]["degraded"] is True
    assert healthy.status_code == 200 and healthy.json()["status"] == "healthy"
    assert 20 < healthy.json()["redis_memory"]["used_percent"] < 30


async def test_health__degraded_for_an_anonymous_caller__status_only_and_200(api, small_redis, keys_required):
    small_redis.config_set("maxmemory", int(int(small_redis.info("memory")["used_memory"]) / 0.95))

    response = await api.get("/health")

    assert response.status_code == 200 and response.json() == {"status": "degraded"}


async def test_health__no_maxmemory__healthy_and_says_no_limit(api, small_redis):
    small_redis.config_set("maxmemory", 0)

    body = (await api.get("/health")).json()

    assert body["status"] == "healthy" and body["redis_memory"]["maxmemory_bytes"] == 0
    assert body["redis_memory"]["used_percent"] is None and body["redis_memory"]["degraded"] is False


async def test_metrics__redis_memory_and_dead_letters_by_reason(api, small_redis):
    small_redis.config_set("maxmemory", 64 << 20)
    small_redis.hset("msgbuffer:metrics:dead_lettered_by_reason", "invalid message: x", 3)

    text = (await api.get("/metrics")).text

    gauges = dict(line.split(" ", 1) for line in text.splitlines() if line.startswith("msgbuffer_redis_"))
    assert float(gauges["msgbuffer_redis_maxmemory_bytes"]) == 64 << 20
    assert float(gauges["msgbuffer_redis_used_memory_bytes"]) > 0
    assert 'msgbuffer_messages_dead_lettered_by_reason_total{reason="invalid message: x"} 3.0' in text


def test_metrics_by_reason__past_100_reasons__the_rest_counted_as_other(clean_redis):
    for n in range(105):
        buffer.push_raw(f"p{n}".encode())
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "BATCH_SIZE": 200}):
        claim = buffer.claim(full_only=False)
        assert buffer.ack(
            claim.batch_id,
            stored=0,
            message_ids=[],
            latencies_ms=[],
            dead_letters=[(payload, f"reason {n} " + "x" * 200) for n, payload in enumerate(claim.payloads)],
        )

    by_reason = buffer.read_metric_counters().dead_lettered_by_reason
    assert len(by_reason) == 101 and by_reason["other"] == 5
    assert max(len(reason) for reason in by_reason) == 120


def test_reset__dead_letters_in_the_database_too(clean_redis):
    entry = json.dumps({"id": "d" * 32, "payload": "x", "reason": "r", "failed_at": "2026-01-01T00:00:00+00:00"})
    DeadLetterOverflow.objects.create(entry_id="d" * 32, reason="r", failed_at=datetime.now(UTC), entry=entry)
    clean_redis.lpush(buffer.DEAD_LETTERS, entry)

    answer = services.buffer_reset()  # DELETE /reset's work (its access rules: test_api_endpoints.py)

    assert answer["dropped_dead_letters"] == 2
    assert DeadLetterOverflow.objects.count() == 0 and clean_redis.llen(buffer.DEAD_LETTERS) == 0


def test_cap__a_real_worker_with_the_environment_variable__same_outcome(processes, clean_redis):
    """The issue's case end to end: `MSGBUFFER_MAX_DEAD_LETTERS=100` read from the
    environment by `manage.py rqworker`, 300 poison straight into pending_messages, then a
    good message: Redis holds 100, the database the other 200, the message is stored."""
    for n in range(300):
        buffer.push_raw(f"poison {n}".encode())
    message_id, payload = good_payload()
    buffer.push_raw(payload)
    processes.worker(MSGBUFFER_MAX_DEAD_LETTERS="100")
    peak = []

    def settled():
        peak.append(clean_redis.llen(buffer.DEAD_LETTERS))
        return Message.objects.filter(message_id=message_id).exists() and DeadLetterOverflow.objects.count() == 200

    wait_for(settled, timeout=60, message="the worker to drain the poison and store the message")
    assert max(peak) <= 100 and clean_redis.llen(buffer.DEAD_LETTERS) == 100
    assert clean_redis.llen(buffer.DEAD_LETTER_OVERFLOW) == 0 and clean_redis.llen(buffer.PENDING) == 0
