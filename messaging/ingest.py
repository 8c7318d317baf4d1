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

import logging
from dataclasses import dataclass, field

import orjson
from django.http import HttpResponse

from . import api_keys, auth_throttle, body_check, buffer, edge, errors, json_body, outages, services
from .conf import msgbuffer_settings

MESSAGES_PATH = "/messages"
BULK_PATH = "/messages/bulk"
INGEST_PATHS = frozenset({MESSAGES_PATH, BULK_PATH})
MAX_IDEMPOTENCY_KEY_CHARS = 255
INGEST_SCOPE = "ingest"  # what a key needs to call these routes (models.SCOPES)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    def http_response(self) -> HttpResponse:
        response = HttpResponse(self.body, status=self.status, content_type="application/json")
        for name, value in self.headers:
            response[name] = value
        return response


def _json_reply(status: int, data: dict, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, orjson.dumps(data), headers or [])


def body_limit(path: str) -> int:
    conf = msgbuffer_settings()
    return conf.MAX_BULK_BODY_BYTES if path == BULK_PATH else conf.MAX_BODY_BYTES


def too_large(path: str) -> Reply:
    limit = body_limit(path)
    return _json_reply(
        413, errors.error("payload_too_large", f"the request body is over the {errors.byte_size(limit)} limit of {path}")
    )


def body_refusal(path: str, body: bytes, content_type: str | None) -> Reply | None:
    """The refusal of a body before its JSON is read, or None: JSON only (a cross-site form
    cannot send it without a CORS preflight), under the route's limit."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        sent = f"not {media_type}" if media_type else "and none was sent"
        return _json_reply(415, errors.error("unsupported_media_type", f"Content-Type must be application/json, {sent}"))
    if len(body) > body_limit(path):
        return too_large(path)
    return None


def json_object(path: str, body: bytes, *, content_type: str | None) -> tuple[dict | None, Reply | None]:
    """The body as a JSON object under ingest's rules (body_refusal, then json_body.py's),
    or the reply that says why it is not one: for a route that takes an object other than
    messages (POST /simulate)."""
    refusal = body_refusal(path, body, content_type)
    if refusal is not None:
        return None, refusal
    data, refused = json_body.parse_object(body)
    return data, (_json_reply(400, errors.error(*refused)) if refused is not None else None)


def unauthorized() -> Reply:
    return _json_reply(
        401,
        errors.error("unauthorized", "send a valid API key as `Authorization: Bearer <key>` (keys are issued in admin)"),
        [("WWW-Authenticate", 'Bearer realm="msgbuffer"')],
    )


def missing_scope(scope: str) -> Reply:
    """A live key that may not do this (models.SCOPES)."""
    return _json_reply(
        403,
        errors.error(
            "forbidden",
            f"this API key lacks the `{scope}` scope (see the key in admin, or `manage.py apikey create NAME --scope ...`)",
        ),
    )


def auth_throttled(client: str) -> Reply | None:
    """The 429 for a client address that presented too many refused keys (auth_throttle.py),
    or None. The edges ask before reading the body: a throttled client costs no work."""
    seconds = auth_throttle.retry_after(client)
    if seconds is None:
        return None
    auth_throttle.REFUSED.labels("auth_throttled").inc()
    return _json_reply(
        429,
        errors.error("auth_throttled", f"too many requests with refused API keys from this address; retry in {seconds} s"),
        [("Retry-After", str(seconds))],
    )


async def handle_ingest(
    path: str,
    body: bytes,
    *,
    content_type: str | None,
    idempotency_key: str | None,
    authorization: str | None = None,
    client: str | None = None,
) -> Reply:
    """Validate and queue one POST to /messages or /messages/bulk. `client` (the edges'
    auth_throttle.client_address) is charged for a refused key."""
    reply = await _handle_ingest(
        path, body, content_type=content_type, idempotency_key=idempotency_key, authorization=authorization
    )
    if reply.status == 401:
        auth_throttle.refused(client)
    elif reply.status >= 400:
        reason = orjson.loads(reply.body).get("error", str(reply.status))
        if reason != "queue_unavailable":  # with Redis away there is nowhere to count it
            await buffer.count_rejected_async(reason)  # /metrics: msgbuffer_ingest_rejected_total{reason}
    return reply


async def _handle_ingest(
    path: str, body: bytes, *, content_type: str | None, idempotency_key: str | None, authorization: str | None
) -> Reply:
    check = await api_keys.api_key_check(authorization)
    if check.key_id is None and msgbuffer_settings().API_KEYS_REQUIRED:
        return unauthorized()
    if check.key_id is not None and not check.allows(INGEST_SCOPE):
        return missing_scope(INGEST_SCOPE)
    key_id = check.key_id
    refusal = body_refusal(path, body, content_type)
    if refusal is not None:
        return refusal
    if idempotency_key is not None and not (0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS):
        return _json_reply(
            400, errors.error("invalid_idempotency_key", f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters")
        )
    bulk = path == BULK_PATH
    messages, refused = await body_check.checked(body, bulk=bulk)  # big bodies: in the parser process
    if refused is not None:
        return _json_reply(*refused)

    try:
        accepted = await services.messages_accept(messages, bulk=bulk, idempotency_key=idempotency_key, api_key_id=key_id)
    except services.QueueFull:
        return _json_reply(503, errors.error("queue_full", "the queue is full; retry later"), [("Retry-After", "1")])
    except services.RateLimited:
        limit = msgbuffer_settings().RATE_LIMIT
        return _json_reply(
            429, errors.error("rate_limited", f"this API key may send {limit} messages per second"), [("Retry-After", "1")]
        )
    except services.QueueUnavailable as exc:  # nothing was queued
        log.warning("ingest refused, Redis unavailable: %s", exc)
        status, error, headers = outages.answer_for(exc)
        return _json_reply(status, error, list(headers.items()))
    headers = [("Idempotent-Replayed", "true")] if accepted.replayed else []
    return Reply(202, accepted.body, headers)


class IngestASGIApp:
    """ASGI edge for the ingest routes: Django's rules first (edge.py), then the body
    under its limit, then the Reply with the headers Django's middleware would add."""

    async def __call__(self, scope, receive, send) -> None:
        async def respond(request) -> HttpResponse | None:
            try:
                reply = await self._reply(scope, receive, auth_throttle.client_address(request))
            except Exception:
                # Never the server's bare text 500: the same JSON answer Django's handler500 gives.
                log.exception("ingest failed")
                reply = _json_reply(500, errors.error("server_error", "something went wrong on our side; it has been logged"))
            return reply.http_response() if reply is not None else None  # None: the client went away

        await edge.serve(scope, send, respond)

    async def _reply(self, scope, receive, client: str) -> Reply | None:
        throttled = auth_throttled(client)
        if throttled is not None:
            return throttled
        path = scope["path"]
        headers = dict(scope["headers"])
        limit = body_limit(path)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return too_large(path)  # refuse before the client sends the bytes
        chunks, size, more = [], 0, True
        while more:  # chunked bodies carry no length: count as they arrive
            event = await receive()
            if event["type"] == "http.disconnect":
                return None
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large(path)
            chunks.append(chunk)
            more = event.get("more_body", False)
        idempotency_key = headers.get(b"idempotency-key")
        authorization = headers.get(b"authorization")
        return await handle_ingest(
            path,
            b"".join(chunks),
            content_type=headers.get(b"content-type", b"").decode("latin-1"),
            idempotency_key=idempotency_key.decode("latin-1") if idempotency_key is not None else None,
            authorization=authorization.decode("latin-1") if authorization is not None else None,
            client=client,
        )
