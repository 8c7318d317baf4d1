"""The ingest hot path: POST /messages and POST /messages/bulk.

`handle_ingest` is plain async code from request bytes to a `Reply`. Two thin edges
call it: `IngestASGIApp`, which asgi.py routes ahead of Django (measured in
bench/ingest_routes.py: Django's ASGI handler costs a thread hop and the middleware
stack per request, several times the whole of this path), and the Django view in
views.py, so the API behaves the same when a request does reach Django (test client,
WSGI).

One Redis round trip per request: validation is local, and push.lua does the queue-full
check, the push, the idempotency record and the flush-job request at once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from pydantic import ValidationError

from . import errors, services
from .conf import msgbuffer_settings
from .schemas import BulkIn, MessageIn

MESSAGES_PATH = "/messages"
BULK_PATH = "/messages/bulk"
INGEST_PATHS = frozenset({MESSAGES_PATH, BULK_PATH})
MAX_IDEMPOTENCY_KEY_CHARS = 255


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def _json_reply(status: int, data: dict, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, orjson.dumps(data), headers or [])


def body_limit(path: str) -> int:
    conf = msgbuffer_settings()
    return conf.MAX_BULK_BODY_BYTES if path == BULK_PATH else conf.MAX_BODY_BYTES


def too_large(path: str) -> Reply:
    return _json_reply(413, errors.error("payload_too_large", f"request body is over {body_limit(path)} bytes"))


def _parse_json(body: bytes):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogates such as "\ud800", which are valid JSON; the
        # standard parser accepts them so that validation can answer 422, not 400.
        return json.loads(body)


async def handle_ingest(path: str, body: bytes, *, content_type: str | None, idempotency_key: str | None) -> Reply:
    """Validate and queue one POST to /messages or /messages/bulk."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return _json_reply(415, errors.error("unsupported_media_type", "send the body as application/json"))
    if len(body) > body_limit(path):
        return too_large(path)
    if idempotency_key is not None and not (0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS):
        return _json_reply(400, errors.error("invalid_idempotency_key", f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters"))
    try:
        data = _parse_json(body)
    except (ValueError, UnicodeDecodeError):
        return _json_reply(400, errors.error("malformed_json", "the body is not valid JSON"))
    if not isinstance(data, dict):
        return _json_reply(400, errors.error("invalid_body", "the body must be a JSON object"))

    bulk = path == BULK_PATH
    try:
        messages = BulkIn.model_validate(data).messages if bulk else [MessageIn.model_validate(data)]
    except ValidationError as exc:
        return _json_reply(422, errors.validation_error(exc, items_field="messages" if bulk else None))

    scoped_key = f"{'bulk' if bulk else 'one'}:{idempotency_key}" if idempotency_key else None
    try:
        accepted = await services.messages_accept(messages, bulk=bulk, idempotency_key=scoped_key)
    except services.QueueFull:
        return _json_reply(503, errors.error("queue_full", "the queue is full; retry later"), [("Retry-After", "1")])
    except services.QueueUnavailable:
        return _json_reply(503, errors.error("queue_unavailable", "the queue cannot be reached; retry later"), [("Retry-After", "5")])
    headers = [("Idempotent-Replayed", "true")] if accepted.replayed else []
    return Reply(202, accepted.body, headers)


class IngestASGIApp:
    """ASGI edge for the ingest routes: reads the body under its limit, renders a Reply."""

    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"]
        headers = {name: value for name, value in scope["headers"]}
        limit = body_limit(path)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            reply = too_large(path)
        else:
            chunks, size, more = [], 0, True
            while more:
                event = await receive()
                if event["type"] == "http.disconnect":
                    return
                chunk = event.get("body", b"")
                size += len(chunk)
                if size > limit:
                    break
                chunks.append(chunk)
                more = event.get("more_body", False)
            if size > limit:
                reply = too_large(path)
            else:
                idempotency_key = headers.get(b"idempotency-key")
                reply = await handle_ingest(
                    path,
                    b"".join(chunks),
                    content_type=headers.get(b"content-type", b"").decode("latin-1"),
                    idempotency_key=idempotency_key.decode("latin-1") if idempotency_key is not None else None,
                )
        await send({"type": "http.response.start", "status": reply.status, "headers": self._headers(reply, headers)})
        await send({"type": "http.response.body", "body": reply.body})

    @staticmethod
    def _headers(reply: Reply, request_headers: dict) -> list[tuple[bytes, bytes]]:
        out = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(reply.body)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        out += [(name.lower().encode(), value.encode()) for name, value in reply.headers]
        origin = request_headers.get(b"origin")
        # Django's CORS middleware never sees this path; answer with the same rule it applies.
        if origin is not None and origin.decode("latin-1") in settings.CORS_ALLOWED_ORIGINS:
            out += [(b"access-control-allow-origin", origin), (b"vary", b"origin")]
        return out
