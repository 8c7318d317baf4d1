"""POST /messages and POST /messages/bulk (SPEC §4), driven through the real ASGI
application in-process, and through Django's own view path (views.messages_collection),
which runs the same ingest.handle_ingest.

Every refused request must answer JSON with its status and queue nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import httpx
import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import AsyncClient, Client, override_settings

import msgbuffer_site.asgi
from messaging import api_keys, buffer
from msgbuffer_site import embedded_redis
from msgbuffer_site.embedded_redis import free_port

MAX_BIGINT = 2**63 - 1
MIB = 1 << 20
JSON = {"Content-Type": "application/json"}
VALID = {"user_id": 1, "channel_id": 2, "content": "hello"}
MISSING = object()


def message(**changes) -> dict:
    body = dict(VALID)
    for name, value in changes.items():
        if value is MISSING:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def encode(data) -> bytes:
    # json.dumps writes a lone surrogate as the escape "\ud800": valid JSON text.
    return json.dumps(data).encode()


def queued_payloads(r: redis.Redis) -> list[dict]:
    """What waits in the buffer, oldest first."""
    return [json.loads(raw) for raw in reversed(r.lrange(buffer.PENDING, 0, -1))]


def assert_nothing_queued(r: redis.Redis) -> None:
    assert r.llen(buffer.PENDING) == 0
    assert r.hlen(buffer.QUEUED_IDS) == 0
    assert not list(r.scan_iter(match=buffer.IDEMPOTENCY_PREFIX + "*"))


def assert_json_error(response: httpx.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    if error == "validation_error":
        assert body["detail"], body
        for entry in body["detail"]:
            assert isinstance(entry["field"], str) and entry["field"]
            assert isinstance(entry["message"], str) and entry["message"]
    else:
        assert isinstance(body["message"], str) and body["message"]
    return body


# ---------------------------------------------------------------------------
# The validation matrix
# ---------------------------------------------------------------------------
def _id_cases(field: str):
    return [
        pytest.param(encode(message(**{field: True})), JSON, 422, field, id=f"{field}-true"),
        pytest.param(encode(message(**{field: False})), JSON, 422, field, id=f"{field}-false"),
        pytest.param(encode(message(**{field: 1.5})), JSON, 422, field, id=f"{field}-float-1.5"),
        # Not whole, though a float would round it to 1.0: the digits as written are judged.
        pytest.param(
            encode(message(**{field: 7})).replace(b"7", b"1.0000000000000000001"), JSON, 422, field, id=f"{field}-not-quite-1"
        ),
        pytest.param(encode(message(**{field: "1"})), JSON, 422, field, id=f"{field}-string"),
        pytest.param(encode(message(**{field: None})), JSON, 422, field, id=f"{field}-null"),
        pytest.param(encode(message(**{field: 0})), JSON, 422, field, id=f"{field}-zero"),
        pytest.param(encode(message(**{field: -1})), JSON, 422, field, id=f"{field}-negative"),
        pytest.param(encode(message(**{field: 2**63})), JSON, 422, field, id=f"{field}-2**63"),
        pytest.param(encode(message(**{field: 2**64})), JSON, 422, field, id=f"{field}-2**64"),
        pytest.param(encode(message(**{field: [1]})), JSON, 422, field, id=f"{field}-array"),
        pytest.param(encode(message(**{field: MISSING})), JSON, 422, field, id=f"{field}-missing"),
    ]


BAD_MESSAGES = [
    *_id_cases("user_id"),
    *_id_cases("channel_id"),
    pytest.param(encode(message(content=MISSING)), JSON, 422, "content", id="content-missing"),
    pytest.param(encode(message(content=5)), JSON, 422, "content", id="content-number"),
    pytest.param(encode(message(content=None)), JSON, 422, "content", id="content-null"),
    pytest.param(encode(message(content=["x"])), JSON, 422, "content", id="content-array"),
    pytest.param(encode(message(content="")), JSON, 422, "content", id="content-empty"),
    pytest.param(encode(message(content="   \n\t ")), JSON, 422, "content", id="content-whitespace"),
    pytest.param(encode(message(content="x" * 2001)), JSON, 422, "content", id="content-2001-chars"),
    pytest.param(encode(message(content=" " + "x" * 2001 + " ")), JSON, 422, "content", id="content-2001-after-strip"),
    pytest.param(encode(message(content="a\x00b")), JSON, 422, "content", id="content-nul"),
    pytest.param(encode(message(content="a\ud800b")), JSON, 422, "content", id="content-lone-high-surrogate"),
    pytest.param(encode(message(content="\udc00")), JSON, 422, "content", id="content-lone-low-surrogate"),
    pytest.param(b'{"user_id": 1, "channel_id": 2, "content": "x"', JSON, 400, "malformed_json", id="truncated-json"),
    pytest.param(b"{user_id: 1}", JSON, 400, "malformed_json", id="not-json"),
    pytest.param(b"", JSON, 400, "malformed_json", id="empty-body"),
    pytest.param(b'{"user_id": NaN, "channel_id": 2, "content": "x"}', JSON, 400, "malformed_json", id="nan-is-not-json"),
    pytest.param(b'{"user_id": 1, "channel_id": 2, "content": "\xff\xfe"}', JSON, 400, "malformed_json", id="invalid-utf8"),
    pytest.param(json.dumps(VALID).encode("utf-16"), JSON, 400, "malformed_json", id="utf16-body"),
    # Issue 9: each refused in the one parse (messaging/json_body.py), never a 500.
    pytest.param(
        b'{"user_id": 1, "channel_id": 2, "content": "a", "content": "b"}', JSON, 400, "duplicate_key", id="duplicate-key"
    ),
    pytest.param(
        b'{"user_id": 1, "channel_id": 2, "content": "a", "\\u0063ontent": "b"}',
        JSON,
        400,
        "duplicate_key",
        id="duplicate-key-spelled-with-an-escape",
    ),
    pytest.param(
        b'{"user_id": 1, "channel_id": 2, "content": "x", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        JSON,
        400,
        "malformed_json",
        id="nested-5000-deep",
    ),
    pytest.param(
        b'{"user_id": 1, "channel_id": 2, "content": "x", "extra": ' + b'{"a": ' * 1025 + b"1" + b"}" * 1026,
        JSON,
        400,
        "malformed_json",
        id="objects-nested-1025-deep",
    ),
    pytest.param(b"[1, 2, 3]", JSON, 400, "invalid_body", id="json-array"),
    pytest.param(encode([VALID]), JSON, 400, "invalid_body", id="json-array-of-messages"),
    pytest.param(b"42", JSON, 400, "invalid_body", id="json-number"),
    pytest.param(b'"hello"', JSON, 400, "invalid_body", id="json-string"),
    pytest.param(b"null", JSON, 400, "invalid_body", id="json-null"),
    pytest.param(encode(VALID), {}, 415, "unsupported_media_type", id="no-content-type"),
    pytest.param(encode(VALID), {"Content-Type": "text/plain"}, 415, "unsupported_media_type", id="text-plain"),
    pytest.param(
        b"user_id=1&channel_id=2&content=x",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        id="form",
    ),
    pytest.param(
        encode(VALID), {"Content-Type": "multipart/form-data; boundary=x"}, 415, "unsupported_media_type", id="multipart"
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "expected"), BAD_MESSAGES)
async def test_post_message__invalid_input__json_error_and_nothing_queued(api, clean_redis, body, headers, status, expected):
    response = await api.post("/messages", content=body, headers=headers)

    if status == 422:
        detail = assert_json_error(response, 422, "validation_error")["detail"]
        assert expected in {entry["field"] for entry in detail}, detail
        assert all("index" not in entry for entry in detail)
    else:
        assert_json_error(response, status, expected)
    assert_nothing_queued(clean_redis)


def _bulk(*items) -> bytes:
    return encode({"messages": list(items)})


BAD_BULKS = [
    pytest.param(encode({"messages": []}), 422, ("messages", None), id="zero-items"),
    pytest.param(_bulk(*[VALID] * 1001), 422, ("messages", None), id="1001-items"),
    pytest.param(encode({}), 422, ("messages", None), id="messages-missing"),
    pytest.param(encode({"messages": VALID}), 422, ("messages", None), id="messages-an-object"),
    pytest.param(encode({"messages": None}), 422, ("messages", None), id="messages-null"),
    pytest.param(_bulk(*[VALID] * 7, message(user_id=True), *[VALID] * 2), 422, ("user_id", 7), id="bad-bool-at-7-of-10"),
    pytest.param(_bulk(*[VALID] * 3, message(content="  "), *[VALID] * 6), 422, ("content", 3), id="blank-content-at-3-of-10"),
    pytest.param(_bulk(*[VALID] * 9, message(channel_id=MISSING)), 422, ("channel_id", 9), id="missing-field-at-9-of-10"),
    pytest.param(_bulk(message(content="\ud800"), *[VALID] * 9), 422, ("content", 0), id="surrogate-at-0-of-10"),
    pytest.param(_bulk(VALID, 5), 422, ("messages", 1), id="item-not-an-object"),
    pytest.param(
        b'{"messages": [' + encode(VALID) + b', {"user_id": 1, "channel_id": 2, "content": "a", "content": "b"}]}',
        400,
        "duplicate_key",
        id="duplicate-key-in-item-1",
    ),
    pytest.param(b'{"messages": [], "messages": [' + encode(VALID) + b"]}", 400, "duplicate_key", id="duplicate-messages-key"),
    pytest.param(b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "malformed_json", id="nested-5000-deep"),
    pytest.param(b'{"messages": [', 400, "malformed_json", id="truncated-json"),
    pytest.param(encode([VALID]), 400, "invalid_body", id="json-array"),
    pytest.param(b"7", 400, "invalid_body", id="json-number"),
]


@pytest.mark.parametrize(("body", "status", "expected"), BAD_BULKS)
async def test_post_bulk__invalid_input__json_error_and_nothing_queued(api, clean_redis, body, status, expected):
    response = await api.post("/messages/bulk", content=body, headers=JSON)

    if status == 422:
        field, index = expected
        detail = assert_json_error(response, 422, "validation_error")["detail"]
        assert any(entry["field"] == field and entry.get("index") == index for entry in detail), detail
    else:
        assert_json_error(response, status, expected)
    assert_nothing_queued(clean_redis)


async def test_post_bulk__body_over_the_parser_process_threshold__same_answers_as_on_the_loop(api, clean_redis):
    # Over body_check.OFF_LOOP_BYTES the body is parsed and validated in the parser process.
    from messaging.body_check import OFF_LOOP_BYTES

    items = [message(content=f"{i} " + "x" * 400) for i in range(1000)]
    big_valid = _bulk(*items)
    big_duplicate = big_valid[:-1] + b', "messages": []}'
    big_too_many = _bulk(*[VALID] * (OFF_LOOP_BYTES // len(encode(VALID)) + 1))
    big_bad_item = _bulk(*items[:500], message(user_id=0), *items[501:])
    assert min(map(len, (big_valid, big_duplicate, big_too_many, big_bad_item))) > OFF_LOOP_BYTES

    assert_json_error(await api.post("/messages/bulk", content=big_duplicate, headers=JSON), 400, "duplicate_key")
    assert_json_error(await api.post("/messages/bulk", content=big_too_many, headers=JSON), 422, "validation_error")
    detail = assert_json_error(await api.post("/messages/bulk", content=big_bad_item, headers=JSON), 422, "validation_error")[
        "detail"
    ]
    assert [(entry["index"], entry["field"]) for entry in detail] == [(500, "user_id")]
    assert_nothing_queued(clean_redis)
    accepted = await api.post("/messages/bulk", content=big_valid, headers=JSON)

    assert accepted.status_code == 202, accepted.text
    assert [(p["user_id"], p["channel_id"], p["content"]) for p in queued_payloads(clean_redis)] == [
        (item["user_id"], item["channel_id"], item["content"]) for item in items
    ]


async def test_post_bulk__several_bad_items__each_error_names_its_index(api, clean_redis):
    items = [VALID] * 10
    items[2], items[5] = message(user_id="2"), message(content="")

    response = await api.post("/messages/bulk", content=_bulk(*items), headers=JSON)

    detail = assert_json_error(response, 422, "validation_error")["detail"]
    assert sorted((entry["index"], entry["field"]) for entry in detail) == [(2, "user_id"), (5, "content")]
    assert_nothing_queued(clean_redis)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_post_bulk__non_json_content_type__415(api, clean_redis, content_type):
    headers = {"Content-Type": content_type} if content_type else {}

    response = await api.post("/messages/bulk", content=_bulk(VALID), headers=headers)

    assert_json_error(response, 415, "unsupported_media_type")
    assert_nothing_queued(clean_redis)


# ---------------------------------------------------------------------------
# What is accepted, and how it is stored in the buffer
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "stored"),
    [
        pytest.param(
            message(user_id=MAX_BIGINT, channel_id=MAX_BIGINT),
            message(user_id=MAX_BIGINT, channel_id=MAX_BIGINT),
            id="ids-2**63-1",
        ),
        pytest.param(message(user_id=1, channel_id=1), message(user_id=1, channel_id=1), id="ids-1"),
        pytest.param(message(content="x" * 2000), message(content="x" * 2000), id="content-2000-chars"),
        pytest.param(message(content="  " + "x" * 2000 + "\n"), message(content="x" * 2000), id="content-2000-after-strip"),
        pytest.param(message(content="  x  "), message(content="x"), id="content-stripped"),
        pytest.param(message(content="héllo 👋 \U0001f600"), message(content="héllo 👋 \U0001f600"), id="content-non-ascii"),
        pytest.param({**VALID, "extra": {"nested": True}, "message_id": "ignored"}, VALID, id="unknown-fields-ignored"),
    ],
)
async def test_post_message__valid_input__202_and_queued_once(api, clean_redis, body, stored):
    response = await api.post("/messages", content=encode(body), headers={"Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 202, response.text
    answer = response.json()
    assert set(answer) == {"message_id", "status", "queued_at"}
    assert answer["status"] == "queued"
    assert datetime.fromisoformat(answer["queued_at"]).utcoffset() is not None
    [payload] = queued_payloads(clean_redis)
    assert payload["message_id"] == answer["message_id"] == str(uuid.UUID(answer["message_id"]))
    assert {key: payload[key] for key in ("user_id", "channel_id", "content")} == stored
    assert clean_redis.hexists(buffer.QUEUED_IDS, answer["message_id"])


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        pytest.param("617.0", 617, id="fraction"),
        pytest.param("6.17e2", 617, id="exponent"),
        pytest.param("9007199254740993.0", 9007199254740993, id="past-float-precision"),
        pytest.param("9.223372036854775807E18", MAX_BIGINT, id="2**63-1"),
    ],
)
async def test_post_message__ids_whole_numbers_written_with_fraction_or_exponent__queued_as_those_exact_integers(
    api, clean_redis, written, stored
):
    """JSON Schema's "integer" (/openapi.json) is any whole number, however it is written
    (schemas.py): such ids are accepted, exactly, never rounded through a float."""
    body = f'{{"user_id": {written}, "channel_id": {written}, "content": "x"}}'.encode()

    response = await api.post("/messages", content=body, headers=JSON)

    assert response.status_code == 202, response.text
    [payload] = queued_payloads(clean_redis)
    assert (payload["user_id"], payload["channel_id"]) == (stored, stored)


@pytest.mark.parametrize("written", ["1e999999999", "9.223372036854775808e18", "-1e999999999", "1e-999999999"])
async def test_post_message__id_a_number_out_of_range_or_not_whole__422_nothing_queued(api, clean_redis, written):
    body = f'{{"user_id": {written}, "channel_id": 1, "content": "x"}}'.encode()

    body = assert_json_error(await api.post("/messages", content=body, headers=JSON), 422, "validation_error")
    assert [entry["field"] for entry in body["detail"]] == ["user_id"]
    assert_nothing_queued(clean_redis)


async def test_post_bulk__1000_items__202_all_queued_in_order(api, clean_redis):
    items = [message(user_id=i + 1, content=f"  message {i}  ") for i in range(1000)]

    response = await api.post("/messages/bulk", content=_bulk(*items), headers=JSON)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 1000 and len(set(answer["message_ids"])) == 1000
    queued = queued_payloads(clean_redis)
    assert [p["message_id"] for p in queued] == answer["message_ids"]
    assert [(p["user_id"], p["content"]) for p in queued] == [(i + 1, f"message {i}") for i in range(1000)]
    assert clean_redis.hlen(buffer.QUEUED_IDS) == 1000


# ---------------------------------------------------------------------------
# Body size limits: 1 MiB for /messages, 8 MiB for /messages/bulk
# ---------------------------------------------------------------------------
def _padded(body: bytes, size: int) -> bytes:
    """Valid JSON of exactly `size` bytes: whitespace after the object is allowed."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


async def _chunked(body: bytes, chunk: int = 64 * 1024):
    # An async iterator makes httpx send no Content-Length: the server must count.
    for start in range(0, len(body), chunk):
        yield body[start : start + chunk]


LIMITS = [
    pytest.param("/messages", 1 * MIB, encode(VALID), id="messages"),
    pytest.param("/messages/bulk", 8 * MIB, _bulk(*[VALID] * 1000), id="bulk"),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("path", "limit", "body"), LIMITS)
async def test_post__body_one_byte_over_limit__413_and_nothing_queued(api, clean_redis, path, limit, body, chunked):
    oversized = _padded(body, limit + 1)

    response = await api.post(path, content=_chunked(oversized) if chunked else oversized, headers=JSON)

    body = assert_json_error(response, 413, "payload_too_large")
    assert str(limit) in body["message"] or f"{limit // MIB} MiB" in body["message"]
    assert_nothing_queued(clean_redis)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("path", "limit", "body"), LIMITS)
async def test_post__body_exactly_at_limit__accepted(api, clean_redis, path, limit, body, chunked):
    exact = _padded(body, limit)

    response = await api.post(path, content=_chunked(exact) if chunked else exact, headers=JSON)

    assert response.status_code == 202, response.text
    assert clean_redis.llen(buffer.PENDING) == (1 if path == "/messages" else 1000)


async def test_post_message__declared_length_over_limit__413_before_reading_body(clean_redis):
    # A client announcing 10 MiB is refused without the server waiting for the bytes.
    sent = []

    async def receive():
        sent.append(1)
        return {"type": "http.request", "body": b"{}", "more_body": True}

    events = []

    async def send(event):
        events.append(event)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/messages",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(10 * MIB).encode())],
        "query_string": b"",
        "asgi": {"version": "3.0"},
    }
    await msgbuffer_site.asgi.application(scope, receive, send)

    assert events[0]["status"] == 413 and not sent
    assert json.loads(events[1]["body"])["error"] == "payload_too_large"


# ---------------------------------------------------------------------------
# Methods: 405 as JSON with an Allow header, on every route
# ---------------------------------------------------------------------------
WRONG_METHODS = [
    ("PUT", "/messages", {"GET", "POST"}),
    ("DELETE", "/messages", {"GET", "POST"}),
    ("PATCH", "/messages", {"GET", "POST"}),
    ("GET", "/messages/bulk", {"POST"}),
    ("PUT", "/messages/bulk", {"POST"}),
    ("POST", f"/messages/{uuid.UUID(int=1)}", {"GET"}),
    ("DELETE", f"/messages/{uuid.UUID(int=1)}", {"GET"}),
    ("POST", "/health", {"GET"}),
    ("POST", "/queue/status", {"GET"}),
    ("POST", "/metrics", {"GET"}),
    ("GET", "/simulate", {"POST"}),
    ("GET", "/reset", {"DELETE"}),
    ("POST", "/reset", {"DELETE"}),
    ("POST", "/openapi.json", {"GET"}),
    ("POST", "/docs", {"GET"}),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
async def test_route__wrong_method__405_json_with_allow_header(api, clean_redis, method, path, allowed):
    response = await api.request(method, path, content=encode(VALID), headers=JSON)

    body = assert_json_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["allow"].split(",")} >= allowed
    assert method not in response.headers["allow"]
    assert method in body["message"]
    assert_nothing_queued(clean_redis)


# ---------------------------------------------------------------------------
# Idempotency-Key
# ---------------------------------------------------------------------------
async def test_post_message__same_idempotency_key_twice__same_answer_queued_once(api, clean_redis):
    headers = {**JSON, "Idempotency-Key": "order-17"}

    first = await api.post("/messages", content=encode(VALID), headers=headers)
    again = await api.post("/messages", content=encode(message(content="a retry")), headers=headers)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert [p["message_id"] for p in queued_payloads(clean_redis)] == [first.json()["message_id"]]


async def test_post_message__different_idempotency_keys__queued_twice(api, clean_redis):
    first = await api.post("/messages", content=encode(VALID), headers={**JSON, "Idempotency-Key": "a"})
    second = await api.post("/messages", content=encode(VALID), headers={**JSON, "Idempotency-Key": "b"})

    assert first.status_code == second.status_code == 202
    assert first.json()["message_id"] != second.json()["message_id"]
    assert clean_redis.llen(buffer.PENDING) == 2


async def test_post_bulk__same_idempotency_key_twice__same_answer_queued_once(api, clean_redis):
    headers = {**JSON, "Idempotency-Key": "batch-9"}
    body = _bulk(*[VALID] * 5)

    first = await api.post("/messages/bulk", content=body, headers=headers)
    again = await api.post("/messages/bulk", content=body, headers=headers)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and first.json()["accepted"] == 5
    assert clean_redis.llen(buffer.PENDING) == 5


async def test_post__same_key_on_single_and_bulk__scoped_per_route(api, clean_redis):
    headers = {**JSON, "Idempotency-Key": "shared"}

    single = await api.post("/messages", content=encode(VALID), headers=headers)
    bulk = await api.post("/messages/bulk", content=_bulk(VALID, VALID), headers=headers)

    assert single.status_code == bulk.status_code == 202
    assert set(bulk.json()) == {"accepted", "message_ids"}
    assert clean_redis.llen(buffer.PENDING) == 3


async def test_post_message__refused_request_with_key__key_not_consumed(api, clean_redis):
    headers = {**JSON, "Idempotency-Key": "k1"}

    refused = await api.post("/messages", content=encode(message(user_id=0)), headers=headers)
    accepted = await api.post("/messages", content=encode(VALID), headers=headers)

    assert refused.status_code == 422
    assert accepted.status_code == 202 and "idempotent-replayed" not in accepted.headers
    assert clean_redis.llen(buffer.PENDING) == 1


@pytest.mark.parametrize("key", ["", "k" * 256], ids=["empty", "256-chars"])
async def test_post_message__unusable_idempotency_key__400(api, clean_redis, key):
    response = await api.post("/messages", content=encode(VALID), headers={**JSON, "Idempotency-Key": key})

    assert_json_error(response, 400, "invalid_idempotency_key")
    assert_nothing_queued(clean_redis)


# ---------------------------------------------------------------------------
# Redis unreachable or refusing writes: 503, nothing half-accepted, never a 500
# ---------------------------------------------------------------------------
@pytest.fixture
def redis_at():
    """Point the application at another Redis for the test; restore the real one after."""
    overrides = []

    def point(url: str):
        override = override_settings(REDIS_URL=url)
        override.enable()
        overrides.append(override)
        buffer.reset_clients()

    yield point
    for override in reversed(overrides):
        override.disable()
    buffer.reset_clients()


@pytest.mark.parametrize(("path", "body"), [("/messages", encode(VALID)), ("/messages/bulk", _bulk(VALID, VALID))])
async def test_post__redis_unreachable__503_queue_unavailable(api, clean_redis, redis_at, path, body):
    redis_at(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there

    response = await api.post(path, content=body, headers={**JSON, "Idempotency-Key": "while-down"})

    assert_json_error(response, 503, "queue_unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert_nothing_queued(clean_redis)


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of our own that a test may kill or starve."""
    process, url = embedded_redis.start(tmp_path / "redis", appendonly=False)
    yield process, url
    embedded_redis.stop(process)


async def test_post__redis_killed_after_accepting__503_then_nothing_more_queued(api, redis_at, private_redis):
    process, url = private_redis
    redis_at(url)
    accepted = await api.post("/messages", content=encode(VALID), headers=JSON)
    assert accepted.status_code == 202

    embedded_redis.stop(process)
    response = await api.post("/messages/bulk", content=_bulk(VALID, VALID), headers=JSON)

    assert_json_error(response, 503, "queue_unavailable")


async def test_post__redis_out_of_memory__503_and_nothing_queued(api, redis_at, private_redis):
    _, url = private_redis
    starved = redis.Redis.from_url(url)
    starved.config_set("maxmemory", 1)  # every write is refused with an OOM error
    redis_at(url)

    response = await api.post("/messages/bulk", content=_bulk(VALID, VALID), headers=JSON)

    assert_json_error(response, 503, "queue_unavailable")
    starved.config_set("maxmemory", 0)
    assert starved.llen(buffer.PENDING) == 0 and starved.hlen(buffer.QUEUED_IDS) == 0
    starved.close()


async def test_post_message__queue_at_max__503_queue_full_with_retry_after(api, clean_redis):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "MAX_QUEUE": 3}):
        assert (await api.post("/messages/bulk", content=_bulk(VALID, VALID), headers=JSON)).status_code == 202
        too_many = await api.post("/messages/bulk", content=_bulk(VALID, VALID), headers=JSON)
        last = await api.post("/messages", content=encode(VALID), headers=JSON)
        full = await api.post("/messages", content=encode(VALID), headers=JSON)

    assert_json_error(too_many, 503, "queue_full")
    assert last.status_code == 202
    assert_json_error(full, 503, "queue_full")
    assert int(full.headers["retry-after"]) > 0
    assert clean_redis.llen(buffer.PENDING) == 3


# ---------------------------------------------------------------------------
# Django's own view path runs the same handle_ingest
# ---------------------------------------------------------------------------
@pytest.mark.django_db
async def test_django_view__post_message__same_answers_as_asgi_path(clean_redis):
    client = AsyncClient()

    accepted = await client.post("/messages", encode(message(content="  via django  ")), content_type="application/json")
    invalid = await client.post("/messages", encode(message(user_id=True)), content_type="application/json")
    malformed = await client.post("/messages", b"{", content_type="application/json")
    not_json = await client.post("/messages", encode(VALID), content_type="text/plain")
    too_large = await client.post("/messages", _padded(encode(VALID), MIB + 1), content_type="application/json")

    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["field"] == "user_id"
    assert malformed.status_code == 400 and malformed.json()["error"] == "malformed_json"
    assert not_json.status_code == 415 and not_json.json()["error"] == "unsupported_media_type"
    assert too_large.status_code == 413 and too_large.json()["error"] == "payload_too_large"
    assert [p["content"] for p in queued_payloads(clean_redis)] == ["via django"]


@pytest.mark.django_db
async def test_django_view__bulk_of_several_mib__accepted_up_to_the_8_mib_limit(clean_redis):
    # Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB) must not undercut the API's own limit.
    items = [message(content="y" * 1990)] * 1000  # about 2 MB of content, > 2.5 MiB padded
    body = _padded(_bulk(*items), 6 * MIB)

    response = await AsyncClient().post("/messages/bulk", body, content_type="application/json")
    over = await AsyncClient().post("/messages/bulk", _padded(_bulk(VALID), 8 * MIB + 1), content_type="application/json")

    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1000
    assert over.status_code == 413 and over.json()["error"] == "payload_too_large"
    assert clean_redis.llen(buffer.PENDING) == 1000


@pytest.mark.django_db
async def test_django_view__unreadable_content_length__body_counted_not_500(clean_redis):
    response = await AsyncClient().post(
        "/messages", encode(VALID), content_type="application/json", headers={"Content-Length": "abc"}
    )

    assert response.status_code == 202, response.content
    assert clean_redis.llen(buffer.PENDING) == 1


@pytest.mark.django_db
async def test_django_view__idempotency_key__replays_first_answer(clean_redis):
    client = AsyncClient()
    headers = {"Idempotency-Key": "django-1"}

    first = await client.post("/messages/bulk", _bulk(VALID), content_type="application/json", headers=headers)
    again = await client.post("/messages/bulk", _bulk(VALID), content_type="application/json", headers=headers)

    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert clean_redis.llen(buffer.PENDING) == 1


@pytest.mark.django_db
async def test_django_view__redis_unreachable__503_queue_unavailable(clean_redis, redis_at):
    redis_at(f"redis://127.0.0.1:{free_port()}/0")

    response = await AsyncClient().post("/messages", encode(VALID), content_type="application/json")

    assert response.status_code == 503 and response.json()["error"] == "queue_unavailable"


@pytest.mark.django_db
def test_django_view__sync_test_client__post_message_queued(clean_redis):
    response = Client().post("/messages", encode(VALID), content_type="application/json")

    assert response.status_code == 202, response.content
    assert [p["message_id"] for p in queued_payloads(clean_redis)] == [response.json()["message_id"]]


# ---------------------------------------------------------------------------
# API keys (MSGBUFFER_API_KEYS_REQUIRED, on by default without DEBUG)
# ---------------------------------------------------------------------------
async def _key(name: str, *, revoked: bool = False) -> str:
    key, raw = await sync_to_async(api_keys.api_key_create)(name=name)
    if revoked:
        await sync_to_async(api_keys.api_key_revoke)(key=key)
    return raw


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/messages", "/messages/bulk"])
@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer mb_not-a-key", "Basic dXNlcjpwYXNz", "valid-without-scheme", "revoked"]
)
async def test_post__keys_required_without_a_live_key__401_and_nothing_queued(
    api, clean_redis, keys_required, path, authorization
):
    if authorization == "valid-without-scheme":
        authorization = await _key("client")
    elif authorization == "revoked":
        authorization = f"Bearer {await _key('old client', revoked=True)}"
    headers = {**JSON, **({"Authorization": authorization} if authorization is not None else {})}

    response = await api.post(path, content=encode(VALID) if path == "/messages" else _bulk(VALID), headers=headers)

    assert_json_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_nothing_queued(clean_redis)


@pytest.mark.django_db(transaction=True)
async def test_post__keys_required_with_a_live_key__202_on_both_paths(api, clean_redis, keys_required):
    headers = {"Authorization": f"Bearer {await _key('client')}"}

    single = await api.post("/messages", content=encode(VALID), headers={**JSON, **headers})
    bulk = await api.post("/messages/bulk", content=_bulk(VALID, VALID), headers={**JSON, **headers})
    via_django = await AsyncClient().post("/messages", encode(VALID), content_type="application/json", headers=headers)
    refused_via_django = await AsyncClient().post("/messages", encode(VALID), content_type="application/json")

    assert single.status_code == bulk.status_code == via_django.status_code == 202
    assert refused_via_django.status_code == 401 and refused_via_django.json()["error"] == "unauthorized"
    assert clean_redis.llen(buffer.PENDING) == 4


@pytest.mark.django_db(transaction=True)
async def test_post__key_revoked_in_admin__refused_from_then_on(api, clean_redis, keys_required):
    key, raw = await sync_to_async(api_keys.api_key_create)(name="client")
    headers = {**JSON, "Authorization": f"Bearer {raw}"}
    assert (await api.post("/messages", content=encode(VALID), headers=headers)).status_code == 202

    await sync_to_async(api_keys.api_key_revoke)(key=key)
    api_keys.forget_cached_keys()  # what the admin action does; other processes within CACHE_SECONDS

    assert (await api.post("/messages", content=encode(VALID), headers=headers)).status_code == 401
    assert clean_redis.llen(buffer.PENDING) == 1


@override_settings(SECURE_HSTS_SECONDS=3600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_HSTS_PRELOAD=False)
async def test_ingest__over_https__carries_the_security_headers_django_would_add(clean_redis):
    transport = httpx.ASGITransport(app=msgbuffer_site.asgi.application)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.post("/messages", json=VALID, headers={"Origin": settings.CORS_ALLOWED_ORIGINS[0]})
    assert response.status_code == 202, response.text
    assert response.headers["strict-transport-security"] == "max-age=3600; includeSubDomains"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == settings.SECURE_REFERRER_POLICY
    assert "Retry-After" in response.headers["access-control-expose-headers"]


# ---------------------------------------------------------------------------
# Rate limit per API key (MSGBUFFER_RATE_LIMIT messages per second)
# ---------------------------------------------------------------------------
def _early_in_a_second() -> None:
    """Start a burst in the first half of a wall-clock second, so it stays in one window."""
    import time

    from tests.support import wait_for

    wait_for(lambda: time.time() % 1 < 0.5, timeout=2, interval=0.01, message="the start of a second")


@pytest.mark.django_db(transaction=True)
async def test_post__key_over_its_rate_limit__429_with_retry_after_and_nothing_queued(api, clean_redis, keys_required):
    fast, slow = await _key("fast client"), await _key("other client")
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": True, "RATE_LIMIT": 5}):
        _early_in_a_second()
        answers = [
            await api.post("/messages", content=encode(VALID), headers={**JSON, "Authorization": f"Bearer {fast}"})
            for _ in range(7)
        ]
        bulk_over = await api.post(
            "/messages/bulk", content=_bulk(*[VALID] * 6), headers={**JSON, "Authorization": f"Bearer {slow}"}
        )
        other = await api.post("/messages", content=encode(VALID), headers={**JSON, "Authorization": f"Bearer {slow}"})

    assert [a.status_code for a in answers] == [202] * 5 + [429] * 2
    assert_json_error(answers[-1], 429, "rate_limited")
    assert answers[-1].headers["retry-after"] == "1"
    assert_json_error(bulk_over, 429, "rate_limited")  # six messages never fit in five: refused whole
    assert other.status_code == 202  # each key has its own budget
    assert clean_redis.llen(buffer.PENDING) == 6


@pytest.mark.django_db(transaction=True)
async def test_post__same_idempotency_key_from_two_api_keys__each_gets_its_own_answer(api, clean_redis, keys_required):
    first, second = await _key("client a"), await _key("client b")
    answers = [
        await api.post(
            "/messages", content=encode(VALID), headers={**JSON, "Authorization": f"Bearer {raw}", "Idempotency-Key": "order-1"}
        )
        for raw in (first, second, first)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert answers[0].json()["message_id"] != answers[1].json()["message_id"]
    assert answers[2].json() == answers[0].json()
    assert clean_redis.llen(buffer.PENDING) == 2


async def test_post__refused__counted_by_reason_for_metrics(api, clean_redis):
    await api.post("/messages", content=encode(message(user_id="1")), headers=JSON)
    await api.post("/messages", content=b"{not json", headers=JSON)
    await api.post("/messages", content=encode(VALID), headers={"Content-Type": "text/plain"})
    assert clean_redis.hgetall(buffer.REJECTED_TOTAL) == {
        b"validation_error": b"1",
        b"malformed_json": b"1",
        b"unsupported_media_type": b"1",
    }
