"""The read and operations endpoints of SPEC §4 — GET /messages, GET /messages/<id>,
/health, /queue/status, /simulate, /reset, /metrics, /openapi.json, /docs — driven through
the real ASGI application in-process.

Rows come from the ORM (list tests) or from a real flush (buffer_drain in-process).
The ASGI application reads the database from a thread: transaction=True throughout.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory, override_settings
from openapi_spec_validator import validate as validate_openapi
from prometheus_client.parser import text_string_to_metric_families

from messaging import api_keys, buffer, flush
from messaging.models import Message
from messaging.schemas import BulkIn, MessageIn, SimulateIn
from msgbuffer_site.embedded_redis import free_port

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"Content-Type": "application/json"}
MESSAGE_FIELDS = {"message_id", "user_id", "channel_id", "content", "created_at", "inserted_at"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def flush_now():
    """Flush whatever waits, in-process, without waiting FLUSH_INTERVAL for a partial batch."""

    def drain():
        with override_settings(MSGBUFFER={**settings.MSGBUFFER, "FLUSH_INTERVAL": 0.0}):
            return flush.buffer_drain(budget=30)

    return sync_to_async(drain)


@pytest.fixture
def redis_unreachable():
    """Point the application at a port where no Redis listens, for one test."""
    override = override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    override.enable()
    buffer.reset_clients()
    yield
    override.disable()
    buffer.reset_clients()


def rows(specs: list[tuple[int, int, int]]) -> list[Message]:
    """Create messages from (seconds after T0, user_id, channel_id); returns them as stored."""
    created = Message.objects.bulk_create(
        Message(
            message_id=uuid.uuid4(),
            user_id=user,
            channel_id=channel,
            content=f"message {n}",
            created_at=T0 + timedelta(seconds=second),
        )
        for n, (second, user, channel) in enumerate(specs)
    )
    return list(Message.objects.filter(message_id__in=[m.message_id for m in created]))


def newest_first(messages: list[Message]) -> list[str]:
    return [str(m.message_id) for m in sorted(messages, key=lambda m: (m.created_at, m.id), reverse=True)]


def assert_json_error(response: httpx.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error and body["message"], body
    return body


# ---------------------------------------------------------------------------
# GET /messages
# ---------------------------------------------------------------------------
async def test_list_messages__no_parameters__newest_first_50_with_the_spec_fields(api):
    stored = await sync_to_async(rows)([(second, 1, 1) for second in range(60)])

    response = await api.get("/messages")

    assert response.status_code == 200
    listed = response.json()
    assert isinstance(listed, list) and len(listed) == 50
    assert [item["message_id"] for item in listed] == newest_first(stored)[:50]
    assert all(set(item) == MESSAGE_FIELDS for item in listed)
    first = listed[0]
    assert first["content"] == "message 59" and first["user_id"] == 1 and first["channel_id"] == 1
    assert datetime.fromisoformat(first["created_at"]) == T0 + timedelta(seconds=59)
    assert datetime.fromisoformat(first["inserted_at"]).utcoffset() is not None


@pytest.mark.parametrize("limit", [1, 7, 500])
async def test_list_messages__limit_in_range__that_many_rows(api, limit):
    await sync_to_async(rows)([(second, 1, 1) for second in range(limit + 3)])

    response = await api.get("/messages", params={"limit": limit})

    assert response.status_code == 200 and len(response.json()) == limit


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=2.5",
        "channel_id=abc",
        "channel_id=0",
        "user_id=-5",
        f"user_id={2**63}",
        "before=not-a-uuid",
        "before=123",
    ],
)
async def test_list_messages__bad_parameter__422_naming_it(api, query):
    response = await api.get(f"/messages?{query}")

    body = assert_json_error(response, 422, "validation_error")
    assert [entry["field"] for entry in body["detail"]] == [query.split("=")[0]]


async def test_list_messages__before_unknown_message__422(api):
    await sync_to_async(rows)([(0, 1, 1)])

    response = await api.get("/messages", params={"before": str(uuid.uuid4())})

    body = assert_json_error(response, 422, "validation_error")
    assert body["detail"][0]["field"] == "before"


async def test_list_messages__channel_and_user_filters__only_matching_rows(api):
    stored = await sync_to_async(rows)([(second, second % 3 + 1, second % 2 + 1) for second in range(30)])

    by_channel = (await api.get("/messages", params={"channel_id": 2})).json()
    by_user = (await api.get("/messages", params={"user_id": 3})).json()
    by_both = (await api.get("/messages", params={"channel_id": 2, "user_id": 3})).json()
    by_nobody = (await api.get("/messages", params={"user_id": 99})).json()

    assert [m["message_id"] for m in by_channel] == newest_first([m for m in stored if m.channel_id == 2])
    assert [m["message_id"] for m in by_user] == newest_first([m for m in stored if m.user_id == 3])
    assert [m["message_id"] for m in by_both] == newest_first([m for m in stored if m.channel_id == 2 and m.user_id == 3])
    assert by_nobody == []


@pytest.mark.parametrize("params", [{}, {"channel_id": 1}], ids=["all", "one-channel"])
async def test_list_messages__paging_with_before__every_row_once_in_order(api, params):
    # Many rows share a created_at (a bulk request stamps all its messages alike): the
    # cursor must break ties, or a page boundary inside a tie skips or repeats rows.
    stored = await sync_to_async(rows)([(second // 4, 1, second % 2 + 1) for second in range(103)])
    expected = newest_first([m for m in stored if params.get("channel_id") in (None, m.channel_id)])

    seen, before = [], None
    while True:
        page = (await api.get("/messages", params={**params, "limit": 10, **({"before": before} if before else {})})).json()
        if not page:
            break
        seen += [item["message_id"] for item in page]
        before = page[-1]["message_id"]
        assert len(seen) <= len(expected)

    assert seen == expected


# ---------------------------------------------------------------------------
# GET /messages/<message_id>
# ---------------------------------------------------------------------------
async def test_message_detail__queued_then_flushed__queued_then_persisted(api, flush_now):
    accepted = await api.post("/messages", json={"user_id": 5, "channel_id": 6, "content": "  where am I  "})
    message_id = accepted.json()["message_id"]

    queued = await api.get(f"/messages/{message_id}")
    outcome = await flush_now()
    persisted = await api.get(f"/messages/{message_id}")

    assert queued.status_code == 200 and queued.json() == {"status": "queued", "message_id": message_id}
    assert outcome.stored == 1
    assert persisted.status_code == 200
    body = persisted.json()
    assert body["status"] == "persisted"
    assert {k: body[k] for k in ("message_id", "user_id", "channel_id", "content")} == {
        "message_id": message_id,
        "user_id": 5,
        "channel_id": 6,
        "content": "where am I",
    }
    assert datetime.fromisoformat(body["created_at"]) == datetime.fromisoformat(accepted.json()["queued_at"])
    assert set(body) == MESSAGE_FIELDS | {"status"}


async def test_message_detail__unknown_id__404_json(api):
    response = await api.get(f"/messages/{uuid.uuid4()}")

    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize("path", ["/messages/not-a-uuid", "/messages/123", "/messages/bulk/x"])
async def test_message_detail__not_a_uuid__404_json(api, path):
    assert_json_error(await api.get(path), 404, "not_found")


async def test_message_detail__redis_unreachable__503_json(api, redis_unreachable):
    assert_json_error(await api.get(f"/messages/{uuid.uuid4()}"), 503, "queue_unavailable")


# ---------------------------------------------------------------------------
# GET /health and GET /queue/status
# ---------------------------------------------------------------------------
async def test_health__redis_and_database_up__200_healthy_shape(api):
    await api.post("/messages/bulk", json={"messages": [{"user_id": 1, "channel_id": 1, "content": "x"}] * 53})

    response = await api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert {
        "status",
        "redis",
        "database",
        "workers",
        "queue_length",
        "batch_threshold",
        "batch_progress",
        "batches_pending",
    } <= set(body)
    assert body["status"] == "healthy" and body["redis"] == "ok" and body["database"] == "ok"
    assert body["queue_length"] == 53 and body["batch_threshold"] == 50
    assert body["batch_progress"] == 3 and body["batches_pending"] == 1
    assert isinstance(body["workers"], int)


async def test_health__redis_unreachable__503_unhealthy_naming_redis(api, redis_unreachable):
    response = await api.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["redis"] != "ok" and "unreachable" in body["redis"]
    assert body["database"] == "ok"
    assert "redis" in body["message"]


def test_health__database_unreachable__503_unhealthy_naming_the_database(processes, web_port):
    # A web process of its own, pointed at a port where no PostgreSQL listens.
    # A short pool timeout: the pool waits that long for a connection before giving up.
    processes.web(web_port, DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere", DATABASE_POOL_TIMEOUT="0.3")

    response = httpx.get(f"http://127.0.0.1:{web_port}/health", timeout=10)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and body["database"].startswith("unreachable") and body["redis"] == "ok"


@pytest.mark.parametrize("debug", ["1", "0"])
@pytest.mark.parametrize("path", ["/messages?limit=5", "/messages/8c4f3a52-6f1e-4d7a-9a43-1f0e2b3c4d5e"])
def test_reads__database_unreachable__json_503_database_unavailable(processes, web_port, path, debug):
    # DEBUG on would answer Django's HTML technical 500 page without the middleware.
    processes.web(
        web_port,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        DATABASE_POOL_TIMEOUT="0.3",
        DJANGO_DEBUG=debug,
        DJANGO_SECRET_KEY="x" * 50,
        MSGBUFFER_API_KEYS_REQUIRED="0",
        DJANGO_SECURE_SSL_REDIRECT="0",
    )

    response = httpx.get(f"http://127.0.0.1:{web_port}{path}", timeout=10)

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "database_unavailable"
    assert response.headers["retry-after"]


async def test_health__head_request__200_no_body(api):
    response = await api.head("/health")

    assert response.status_code == 200 and response.content == b""


async def test_queue_status__after_traffic_and_a_flush__spec_shape(api, flush_now):
    empty = (await api.get("/queue/status")).json()
    await api.post("/messages/bulk", json={"messages": [{"user_id": 1, "channel_id": 1, "content": "x"}] * 60})
    waiting = (await api.get("/queue/status")).json()
    await flush_now()
    flushed = (await api.get("/queue/status")).json()

    keys = {
        "queue_length",
        "in_flight",
        "dead_letters",
        "batch_threshold",
        "batch_progress",
        "batches_ready",
        "last_batch",
        "workers",
    }
    for body in (empty, waiting, flushed):
        assert keys <= set(body)
        assert set(body["last_batch"]) == {"batch_id", "size", "completed_at"}
    assert empty["queue_length"] == 0 and empty["last_batch"] == {"batch_id": None, "size": None, "completed_at": None}
    assert (waiting["queue_length"], waiting["batch_progress"], waiting["batches_ready"]) == (60, 10, 1)
    assert flushed["queue_length"] == 0 and flushed["in_flight"] == 0 and flushed["dead_letters"] == 0
    assert flushed["last_batch"]["size"] == 10  # the full batch of 50 went first, then the rest
    assert datetime.fromisoformat(flushed["last_batch"]["completed_at"]).utcoffset() is not None


async def test_queue_status__redis_unreachable__503_json(api, redis_unreachable):
    assert_json_error(await api.get("/queue/status"), 503, "queue_unavailable")


@pytest.mark.parametrize("path", ["/queue/status", "/metrics", f"/messages/{uuid.uuid4()}"])
def test_django_views__redis_unreachable__the_same_503_as_ahead_of_django(redis_unreachable, path):
    """Through Django's own handler (the test client), with DEBUG off: the middleware maps the
    services' QueueUnavailable as polled_reads.py does."""
    with override_settings(DEBUG=False):
        response = Client().get(path)

    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == "queue_unavailable" and response["Retry-After"].isdigit()


# ---------------------------------------------------------------------------
# POST /simulate
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 250, 10_000])
async def test_simulate__count_in_range__202_and_messages_queued(api, clean_redis, count):
    response = await api.post("/simulate", json={"count": count})

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["messages_count"] == count and len(set(body["message_ids"])) == count
    queued = [json.loads(raw) for raw in reversed(clean_redis.lrange(buffer.PENDING, 0, -1))]
    assert [p["message_id"] for p in queued] == body["message_ids"]
    assert all(MessageIn.model_validate(p) and " " in p["content"] for p in queued)  # realistic, valid chat lines


async def test_simulate__no_body__default_count(api, clean_redis):
    response = await api.post("/simulate")

    assert response.status_code == 202
    assert response.json()["messages_count"] == SimulateIn().count == clean_redis.llen(buffer.PENDING)


@pytest.mark.parametrize("count", [0, -1, 10_001, "5", 2.5, True, None])
async def test_simulate__count_out_of_range_or_not_an_integer__422_nothing_queued(api, clean_redis, count):
    response = await api.post("/simulate", json={"count": count})

    body = assert_json_error(response, 422, "validation_error")
    assert body["detail"][0]["field"] == "count"
    assert clean_redis.llen(buffer.PENDING) == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(b'{"count": 1, "count": 10000}', "duplicate_key", id="duplicate-key"),
        pytest.param(b'{"count": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "malformed_json", id="nested-5000-deep"),
    ],
)
async def test_simulate__ingest_json_rules__400_nothing_queued(api, clean_redis, body, error):
    response = await api.post("/simulate", content=body, headers=JSON)

    assert_json_error(response, 400, error)
    assert clean_redis.llen(buffer.PENDING) == 0


@pytest.mark.parametrize("body", [b"{", b"[1]", b"\xff"])
async def test_simulate__body_not_a_json_object__400(api, clean_redis, body):
    response = await api.post("/simulate", content=body, headers=JSON)

    assert response.status_code == 400 and response.json()["error"] in {"malformed_json", "invalid_body"}
    assert clean_redis.llen(buffer.PENDING) == 0


async def test_simulate__body_over_1_mib__413_json(api, clean_redis):
    response = await api.post("/simulate", content=b'{"count": 1}' + b" " * (3 << 20), headers=JSON)

    assert_json_error(response, 413, "payload_too_large")
    assert clean_redis.llen(buffer.PENDING) == 0


async def test_simulate__form_body__415(api, clean_redis):
    response = await api.post("/simulate", content=b"count=5", headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert_json_error(response, 415, "unsupported_media_type")
    assert clean_redis.llen(buffer.PENDING) == 0


@pytest.mark.parametrize("content_type", ["text/plain", None])
async def test_simulate__not_json__415_in_ingest_words(api, clean_redis, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    simulated = await api.post("/simulate", content=b'{"count": 5}', headers=headers)
    ingested = await api.post("/messages", content=b'{"user_id": 1, "channel_id": 1, "content": "x"}', headers=headers)

    assert assert_json_error(simulated, 415, "unsupported_media_type") == assert_json_error(
        ingested, 415, "unsupported_media_type"
    )
    assert clean_redis.llen(buffer.PENDING) == 0


async def test_simulate__keys_required__needs_an_operate_key_or_a_staff_session(api, clean_redis):
    _, raw = await sync_to_async(api_keys.api_key_create)(name="bench", scopes=["operate"])
    _, ingest_only = await sync_to_async(api_keys.api_key_create)(name="client")  # no --scope: ingest,read
    staff = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    visitor = await sync_to_async(session_cookie)(is_staff=False, csrf=True)
    api_keys.forget_cached_keys()

    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": True}):
        anonymous = await api.post("/simulate", json={"count": 3})
        not_staff = await api.post("/simulate", json={"count": 3}, headers=visitor)
        without_scope = await api.post("/simulate", json={"count": 3}, headers={"Authorization": f"Bearer {ingest_only}"})
        with_key = await api.post("/simulate", json={"count": 3}, headers={"Authorization": f"Bearer {raw}"})
        with_staff = await api.post("/simulate", json={"count": 3}, headers=staff)

    assert_json_error(anonymous, 401, "unauthorized")
    assert_json_error(not_staff, 401, "unauthorized")
    assert "operate" in assert_json_error(without_scope, 403, "forbidden")["message"]
    assert with_key.status_code == with_staff.status_code == 202
    assert clean_redis.llen(buffer.PENDING) == 6


async def test_simulate__redis_unreachable__503_json(api, redis_unreachable):
    response = await api.post("/simulate", json={"count": 5})

    assert assert_json_error(response, 503, "queue_unavailable")["accepted"] == 0
    assert response.headers["Retry-After"].isdigit()


# ---------------------------------------------------------------------------
# DELETE /reset
# ---------------------------------------------------------------------------
def session_cookie(*, is_staff: bool, csrf: bool = False) -> dict:
    """A logged-in session's Cookie header; with `csrf`, also a CSRF cookie and the
    X-CSRFToken a page would send with it (Django's own get_token makes both)."""
    user = get_user_model().objects.create_user(username=f"u{uuid.uuid4().hex[:8]}", password="x", is_staff=is_staff)
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    if not csrf:
        return {"Cookie": cookie}
    page = RequestFactory().get("/")
    token = get_token(page)
    return {"Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={page.META['CSRF_COOKIE']}", "X-CSRFToken": token}


def reset_enabled(enabled: bool):
    return override_settings(MSGBUFFER={**settings.MSGBUFFER, "ALLOW_RESET": enabled})


async def test_reset__disabled__403_even_for_staff(api, clean_redis):
    staff = await sync_to_async(session_cookie)(is_staff=True)
    await sync_to_async(rows)([(0, 1, 1)])

    with reset_enabled(False):
        response = await api.delete("/reset", headers=staff)

    assert_json_error(response, 403, "forbidden")
    assert await Message.objects.acount() == 1


@pytest.mark.parametrize("who", ["anonymous", "non-staff"])
async def test_reset__enabled_without_staff_session__401(api, clean_redis, who):
    headers = {} if who == "anonymous" else await sync_to_async(session_cookie)(is_staff=False, csrf=True)
    await api.post("/messages", json={"user_id": 1, "channel_id": 1, "content": "keep me"})

    with reset_enabled(True):
        response = await api.delete("/reset", headers=headers)

    assert_json_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert clean_redis.llen(buffer.PENDING) == 1


async def test_reset__enabled_with_staff_session__200_counts_and_everything_emptied(api, clean_redis, flush_now):
    staff = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    await api.post("/messages/bulk", json={"messages": [{"user_id": 1, "channel_id": 1, "content": "stored"}] * 4})
    await flush_now()
    await api.post("/messages/bulk", json={"messages": [{"user_id": 1, "channel_id": 1, "content": "waiting"}] * 3})
    await sync_to_async(buffer.push_raw)(b"poison")
    clean_redis.lpush(buffer.DEAD_LETTERS, json.dumps({"id": "d1", "payload": "x", "reason": "test"}))

    with reset_enabled(True):
        response = await api.delete("/reset", headers=staff)

    assert response.status_code == 200, response.text
    assert response.json() == {"deleted_rows": 4, "dropped_queued": 4, "dropped_dead_letters": 1}
    assert await Message.objects.acount() == 0
    assert clean_redis.llen(buffer.PENDING) == 0 and clean_redis.llen(buffer.DEAD_LETTERS) == 0
    assert clean_redis.get(buffer.TOTAL_MESSAGES) is None and clean_redis.hlen(buffer.QUEUED_IDS) == 0


async def test_reset__enabled_with_operate_key__200(api, clean_redis):
    _, raw = await sync_to_async(api_keys.api_key_create)(name="ops", scopes=["operate"])
    await api.post("/messages", json={"user_id": 1, "channel_id": 1, "content": "x"})

    with reset_enabled(True):
        wrong = await api.delete("/reset", headers={"Authorization": "Bearer mb_wrong"})
        response = await api.delete("/reset", headers={"Authorization": f"Bearer {raw}"})

    assert_json_error(wrong, 401, "unauthorized")
    assert response.status_code == 200 and response.json()["dropped_queued"] == 1
    assert clean_redis.llen(buffer.PENDING) == 0


# ---------------------------------------------------------------------------
# GET /metrics
# ---------------------------------------------------------------------------
def _samples(text: str) -> dict[str, float]:
    return {
        sample.name + (json.dumps(sample.labels, sort_keys=True) if sample.labels else ""): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics__after_traffic__prometheus_values_move(api, flush_now):
    before = await api.get("/metrics")
    await api.post("/messages/bulk", json={"messages": [{"user_id": 1, "channel_id": 1, "content": "m"}] * 7})
    waiting = _samples((await api.get("/metrics")).text)
    await flush_now()
    after = _samples((await api.get("/metrics")).text)

    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    initial = _samples(before.text)
    assert initial["msgbuffer_messages_persisted_total"] == 0 and initial["msgbuffer_queue_length"] == 0
    assert waiting["msgbuffer_queue_length"] == 7
    assert after["msgbuffer_queue_length"] == 0
    assert after["msgbuffer_messages_persisted_total"] == 7 and after["msgbuffer_batches_total"] == 1
    assert after["msgbuffer_messages_accepted_total"] == 7
    assert after["msgbuffer_latency_milliseconds_count"] == 7 and after["msgbuffer_latency_milliseconds_sum"] > 0
    assert after['msgbuffer_latency_milliseconds_bucket{"le": "+Inf"}'] == 7
    assert after["msgbuffer_batch_size_messages_count"] == 1 and after["msgbuffer_batch_size_messages_sum"] == 7
    assert after['msgbuffer_batch_size_messages_bucket{"le": "5"}'] == 0
    assert after['msgbuffer_batch_size_messages_bucket{"le": "10"}'] == 1


async def test_metrics__refusals_and_dead_letters__counted_by_reason(api, flush_now):
    await api.post("/messages", json={"user_id": True, "channel_id": 1, "content": "m"})
    await api.post("/messages", content=b"[]", headers={"Content-Type": "application/json"})
    buffer.push_raw(b"not json at all")
    await flush_now()
    after = _samples((await api.get("/metrics")).text)

    assert after['msgbuffer_ingest_rejected_total{"reason": "validation_error"}'] == 1
    assert after['msgbuffer_ingest_rejected_total{"reason": "invalid_body"}'] == 1
    assert after["msgbuffer_messages_dead_lettered_total"] == 1
    assert after["msgbuffer_dead_letters"] == 1


async def test_metrics__redis_unreachable__503_json(api, redis_unreachable):
    assert_json_error(await api.get("/metrics"), 503, "queue_unavailable")


# ---------------------------------------------------------------------------
# GET /openapi.json and /docs
# ---------------------------------------------------------------------------
async def test_openapi__document__valid_and_built_from_the_validating_models(api):
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    validate_openapi(document)
    schemas = document["components"]["schemas"]
    message_in = schemas["MessageIn"]["properties"]
    assert message_in["user_id"]["minimum"] == 1 and message_in["user_id"]["maximum"] == 2**63 - 1
    assert message_in["channel_id"]["minimum"] == 1 and message_in["channel_id"]["maximum"] == 2**63 - 1
    assert message_in["content"]["maxLength"] == 2000 and message_in["content"]["minLength"] == 1
    assert schemas["BulkIn"]["properties"]["messages"]["maxItems"] == 1000
    assert schemas["BulkIn"]["properties"]["messages"]["minItems"] == 1
    assert schemas["SimulateIn"]["properties"]["count"]["maximum"] == 10_000
    # The same pydantic models that validate requests, not a hand-written copy.
    for model in (MessageIn, SimulateIn):
        assert schemas[model.__name__]["properties"] == model.model_json_schema()["properties"]
    assert schemas["BulkIn"]["required"] == BulkIn.model_json_schema()["required"]
    paths = document["paths"]
    assert {
        "/messages",
        "/messages/bulk",
        "/messages/{message_id}",
        "/health",
        "/queue/status",
        "/simulate",
        "/reset",
        "/metrics",
    } <= set(paths)
    assert paths["/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/MessageIn")
    assert {"202", "400", "401", "413", "415", "422", "503"} <= set(paths["/messages/bulk"]["post"]["responses"])
    assert document["components"]["securitySchemes"]["bearerKey"]["scheme"] == "bearer"


async def test_docs__page__200_html_loading_swagger_ui_from_this_site(api):
    response = await api.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # The explorer's files come from the installed package's static files, its settings from the page.
    assert 'src="/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"' in response.text
    assert 'src="/static/messaging/api_docs.js"' in response.text
    assert 'data-openapi-url="/openapi.json"' in response.text
    # (tests/test_docs_browser.py drives it in Chromium.)


# ---------------------------------------------------------------------------
# Unknown paths
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("POST", "/messages/"), ("GET", "/messages/bulk/extra"), ("DELETE", "/api/v2/x")]
)
async def test_unknown_path__404_json(api, method, path, debug):
    with override_settings(DEBUG=debug):
        response = await api.request(method, path)

    body = assert_json_error(response, 404, "not_found")
    assert path in body["message"]
