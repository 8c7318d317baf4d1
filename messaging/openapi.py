"""The OpenAPI document, generated from the pydantic models that validate requests and
describe the answers (schemas.py).

It states every limit the server enforces, so that a schema-driven client or fuzzer
(`make fuzz`) meets no "valid request refused": the Idempotency-Key's length, the body
limits, JSON integers as JSON Schema counts them (schemas.py), and every status each
route can answer with its error codes. What a schema cannot say (that `before=` must name
a stored message) is said in the description of its documented 422.

Each route names who may call it (access.py; README "Who may call what"): its security
requirements are alternatives, `{}` meaning anonymous (allowed where keys are not
required, or on /health for its status-only answer).
"""

from functools import cache

from django.conf import settings
from pydantic.json_schema import models_json_schema

from . import schemas
from .conf import msgbuffer_settings
from .errors import byte_size
from .ingest import MAX_IDEMPOTENCY_KEY_CHARS

_REF = "#/components/schemas/{model}"
_REQUESTS = (schemas.MessageIn, schemas.BulkIn, schemas.SimulateIn)
_ANSWERS = (
    schemas.MessageOut,
    schemas.MessageQueuedOut,
    schemas.BulkQueuedOut,
    schemas.MessageStatusOut,
    schemas.HealthOut,
    schemas.QueueStatusOut,
    schemas.SimulateOut,
    schemas.ResetOut,
)
_CSRF_403 = "a staff session's write without Django's CSRF token in X-CSRFToken (error csrf_failed)"
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def _body(model: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}}


def _answer(description: str, model: str, **extra) -> dict:
    return {"description": description, **_body(model), **extra}


def _error(description: str, *, retry_after: bool = False, **extra) -> dict:
    headers = {"headers": _RETRY_AFTER} if retry_after else {}
    return {"description": description, **_body("Error"), **headers, **extra}


def _refusals(scope: str, *, csrf: bool = False) -> dict:
    """401, 403 and the 429 of a throttled address: what access.py answers a caller who may not."""
    also = f"; or {_CSRF_403}" if csrf else ""
    return {
        "401": _error(
            "unauthorized: no live API key in `Authorization: Bearer <key>` and no staff session, where one is "
            "needed (MSGBUFFER_API_KEYS_REQUIRED)",
            headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
        ),
        "403": _error(f"forbidden: the API key lacks the `{scope}` scope{also}"),
        "429": _error(
            "auth_throttled: this address presented too many refused API keys (MSGBUFFER_AUTH_FAILURE_LIMIT)",
            retry_after=True,
        ),
    }


def _body_errors(path: str, limit: int) -> dict:
    """What a route that reads a JSON body answers for one it cannot take."""
    return {
        "400": _error(
            "malformed_json (empty, not JSON, not UTF-8, NaN/Infinity, or nested over 200 deep), duplicate_key "
            "(a key twice in one object), invalid_body (not a JSON object), or invalid_idempotency_key "
            f"(not 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters; ingest only)"
        ),
        "408": _error("request_timeout: a part of the body took longer than MSGBUFFER_BODY_READ_TIMEOUT to arrive"),
        "413": _error(f"payload_too_large: the body is over {byte_size(limit)} ({path})"),
        "415": _error("unsupported_media_type: Content-Type is not application/json"),
        "422": _error("validation_error: {error, message, detail: [{field, message, index?}]}"),
    }


_QUEUE_UNAVAILABLE = _error("queue_unavailable: Redis cannot be reached", retry_after=True)
_DATABASE_UNAVAILABLE = _error(
    "database_unavailable: PostgreSQL cannot be reached, or no pooled connection came within DATABASE_POOL_TIMEOUT",
    retry_after=True,
)


def _ingest(summary: str, operation_id: str, request: str, answer: dict, path: str, limit: int) -> dict:
    return {
        "tags": ["ingest"],
        "operationId": operation_id,
        "summary": summary,
        "security": [{"bearerKey": []}, {}],
        "parameters": [_IDEMPOTENCY_KEY],
        "requestBody": {"required": True, **_body(request)},
        "responses": {
            "202": answer,
            **_body_errors(path, limit),
            **_refusals("ingest"),
            "429": _error(
                "rate_limited (this key's MSGBUFFER_RATE_LIMIT messages per second; nothing was queued) or "
                "auth_throttled (too many refused keys from this address)",
                retry_after=True,
            ),
            "503": _error(
                "queue_full (MSGBUFFER_MAX_QUEUE messages wait) or queue_unavailable (Redis cannot be reached); "
                "nothing was queued",
                retry_after=True,
            ),
        },
    }


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    # Not only whitespace: HTTP strips a header value's surrounding blanks, so "  " arrives empty.
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS, "pattern": r"\S"},
    "description": "The same key within 24 h replays the first answer (with `Idempotent-Replayed: true`) and "
    f"queues nothing more. 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters, else 400 invalid_idempotency_key.",
}
_REPLAYED = {"Idempotent-Replayed": {"description": "`true` on a replayed answer", "schema": {"type": "string"}}}
_READER = [{"bearerKey": []}, {"sessionCookie": []}, {}]  # a `read` key or a staff session, when keys are required
_OPERATOR = [{"bearerKey": []}, {"sessionCookie": []}]  # an `operate` key, or a staff session with Django's CSRF token


def _read(operation_id: str, summary: str, responses: dict, **extra) -> dict:
    return {
        "tags": ["reads"],
        "operationId": operation_id,
        "summary": summary,
        "security": _READER,
        **extra,
        "responses": responses,
    }


def _query_parameters() -> list[dict]:
    properties = schemas.MessageListQuery.model_json_schema()["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": prop, "description": prop.get("description", "")}
        for name, prop in properties.items()
    ]


def _paths() -> dict:
    conf = msgbuffer_settings()
    return {
        "/messages": {
            "post": _ingest(
                "Accept one message",
                "postMessage",
                "MessageIn",
                _answer("Queued", "MessageQueuedOut", headers=_REPLAYED),
                "/messages",
                conf.MAX_BODY_BYTES,
            ),
            "get": _read(
                "listMessages",
                "Stored messages, newest first",
                {
                    "200": {
                        "description": "A JSON list",
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": {"$ref": _REF.format(model="MessageOut")}}}
                        },
                    },
                    **_refusals("read"),
                    "422": _error(
                        "validation_error: a parameter out of range, or `before` names no stored message "
                        "(detail field `before`: page with the message_id of a row this list returned)"
                    ),
                    "503": _DATABASE_UNAVAILABLE,
                },
                parameters=_query_parameters(),
            ),
        },
        "/messages/bulk": {
            "post": _ingest(
                "Accept 1..1000 messages, all or nothing",
                "postMessagesBulk",
                "BulkIn",
                _answer("All queued", "BulkQueuedOut", headers=_REPLAYED),
                "/messages/bulk",
                conf.MAX_BULK_BODY_BYTES,
            ),
        },
        "/messages/{message_id}": {
            "get": _read(
                "getMessage",
                "Where a message is: queued or persisted",
                {
                    "200": _answer("queued (only its id) or persisted (the stored row)", "MessageStatusOut"),
                    **_refusals("read"),
                    "404": _error("not_found: no message with this id is queued or stored"),
                    "503": _error(
                        "database_unavailable or queue_unavailable (PostgreSQL or Redis cannot be reached)", retry_after=True
                    ),
                },
                parameters=[
                    {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
                ],
            ),
        },
        "/health": {
            "get": {
                **_read(
                    "getHealth",
                    "Health of Redis, the database and the workers",
                    {
                        "200": _answer("healthy", "HealthOut"),
                        "503": _answer("unhealthy: `message` names the failed part", "HealthOut"),
                    },
                ),
                "description": "With keys required, a caller who may not read (anonymous, a refused key, a throttled "
                "address) gets only `{status}` and the code: probes need no key.",
            }
        },
        "/queue/status": {
            "get": _read(
                "getQueueStatus",
                "Queue, in-flight, dead letters, batch progress, last batch",
                {"200": _answer("status", "QueueStatusOut"), **_refusals("read"), "503": _QUEUE_UNAVAILABLE},
            )
        },
        "/metrics": {
            "get": {
                **_read(
                    "getMetrics",
                    "Prometheus text format",
                    {
                        "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                        **_refusals("read"),
                        "503": _QUEUE_UNAVAILABLE,
                    },
                ),
                "description": "Anonymous only with MSGBUFFER_METRICS_PUBLIC, or keys not required.",
                "security": [{"bearerKey": []}, {"metricsToken": []}, {"sessionCookie": []}, {}],
            }
        },
        "/simulate": {
            "post": {
                "tags": ["operations"],
                "operationId": "simulateTraffic",
                "summary": "Generate realistic chat traffic",
                "description": "An `operate` key or a staff session when keys are required; counts against the "
                "caller's rate limit (a count over the limit is refused whole). An empty body asks for 100.",
                "security": _OPERATOR + [{}],
                "requestBody": {"required": False, **_body("SimulateIn")},
                "responses": {
                    "202": _answer("Queued", "SimulateOut"),
                    **_body_errors("/simulate", conf.MAX_BODY_BYTES),
                    **_refusals("operate", csrf=True),
                    "429": _error(
                        "rate_limited (with `accepted`: how many were queued before the limit) or auth_throttled",
                        retry_after=True,
                    ),
                    "503": _error("queue_full (with `accepted`) or queue_unavailable", retry_after=True),
                },
            }
        },
        "/reset": {
            "delete": {
                "tags": ["operations"],
                "operationId": "resetEverything",
                "summary": "Demo only: delete every stored message and every buffer key",
                "description": "An `operate` key or a staff session (with Django's CSRF token), keys required or not.",
                "security": _OPERATOR,
                "responses": {
                    "200": _answer("What was deleted", "ResetOut"),
                    **_refusals("operate", csrf=True),
                    "403": _error(
                        f"forbidden: reset is disabled (MSGBUFFER_ALLOW_RESET), the key lacks `operate`, or {_CSRF_403}"
                    ),
                    "503": _error("queue_unavailable or database_unavailable", retry_after=True),
                },
            }
        },
    }


@cache
def openapi_document() -> dict:
    _, definitions = models_json_schema(
        [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _ANSWERS], ref_template=_REF
    )
    components = definitions["$defs"]
    problem = {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}
    problem["properties"]["index"] = {"type": "integer", "description": "bulk only: the item's position in `messages`"}
    components["Error"] = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "a stable code, e.g. validation_error, queue_full"},
            "message": {"type": "string", "description": "for a human"},
            "detail": {
                "type": "array",
                "items": problem | {"required": ["field", "message"]},
                "description": "validation_error only",
            },
            "accepted": {"type": "integer", "description": "/simulate's 429 and 503: how many were queued"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "msgbuffer",
            "version": "1.0.0",
            "description": "Write-behind message buffer: Redis in front, PostgreSQL behind. Every error is JSON "
            "(`Error`). On every route: 400 for a Host not in DJANGO_ALLOWED_HOSTS, 405 (with `Allow`) for "
            "another method, 500 `server_error` for a bug.",
        },
        "tags": [
            {"name": "ingest", "description": "Clients send messages (an `ingest` key)"},
            {"name": "reads", "description": "Stored messages and the buffer's state (a `read` key or staff)"},
            {"name": "operations", "description": "The demo's controls (an `operate` key or staff)"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key issued in admin or by `manage.py apikey create`, held to its scopes: "
                    "ingest, read, operate",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": settings.SESSION_COOKIE_NAME,
                    "description": "A logged-in staff user's session (admin login). Writes made with it also need "
                    "Django's CSRF token in X-CSRFToken, from the csrftoken cookie (/docs sends it)",
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "MSGBUFFER_METRICS_TOKEN, for a Prometheus scraper (/metrics only)",
                },
            },
        },
    }
