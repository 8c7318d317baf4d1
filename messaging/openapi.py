"""The OpenAPI document, generated from the pydantic models that validate requests.

Each route names who may call it (access.py; README "Who may call what"): its security
requirements are alternatives, `{}` meaning anonymous (allowed where keys are not
required, or on /health for its status-only answer).
"""

from functools import cache

from django.conf import settings
from pydantic.json_schema import models_json_schema

from .schemas import BulkIn, MessageIn, MessageListQuery, MessageOut, SimulateIn

_REF = "#/components/schemas/{model}"


def _json(schema_name: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(model=schema_name)}}}}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}


_UNAUTHORIZED = _error(
    "No live API key in `Authorization: Bearer <key>` and no staff session, where one is needed "
    "(MSGBUFFER_API_KEYS_REQUIRED); with `WWW-Authenticate: Bearer`"
)


def _forbidden(scope: str, also: str = "") -> dict:
    return _error(f"The API key lacks the `{scope}` scope{also}")


_ERRORS = {
    "400": _error(
        "malformed_json (not JSON, not UTF-8, or nested over 200 deep), duplicate_key (a key twice in one object), "
        "or invalid_body (not a JSON object)"
    ),
    "408": _error(
        "request_timeout: a part of the body took longer than MSGBUFFER_BODY_READ_TIMEOUT to arrive; the connection closes"
    ),
    "401": _UNAUTHORIZED,
    "403": _forbidden("ingest"),
    "413": _error("Body over the size limit"),
    "415": _error("Content-Type is not application/json"),
    "422": _error("Schema errors: {error: validation_error, detail: [{field, message, index?}]}"),
    "429": _error(
        "rate_limited (this key's messages per second) or auth_throttled (too many refused keys from this address); see Retry-After"
    ),
    "503": _error("queue_full (with Retry-After) or queue_unavailable; nothing was accepted"),
}


def _query_parameters() -> list[dict]:
    schema = MessageListQuery.model_json_schema()
    return [{"name": name, "in": "query", "required": False, "schema": prop} for name, prop in schema["properties"].items()]


@cache
def openapi_document() -> dict:
    _, definitions = models_json_schema(
        [(m, "validation") for m in (MessageIn, BulkIn, SimulateIn)] + [(MessageOut, "serialization")],
        ref_template=_REF,
    )
    schemas = definitions["$defs"]
    problem = {
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "message": {"type": "string"},
            "index": {"type": "integer", "description": "bulk only: the position of the item in `messages`"},
        },
        "required": ["field", "message"],
    }
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "a stable code, e.g. validation_error, queue_full"},
            "message": {"type": "string", "description": "for a human"},
            "detail": {"type": "array", "items": problem, "description": "validation_error only"},
        },
        "required": ["error", "message"],
    }
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 255},
        "description": "The same key within 24 h returns the first answer and queues nothing more.",
    }
    # Keys are required when MSGBUFFER_API_KEYS_REQUIRED is on (the default without DEBUG).
    key_or_none = [{"bearerKey": []}, {}]
    reader = [{"bearerKey": []}, {"sessionCookie": []}, {}]  # a `read` key or a staff session, when keys are required
    operator = [{"bearerKey": []}, {"sessionCookie": []}]  # an `operate` key, or a staff session with Django's CSRF token
    refused_read = {"401": _UNAUTHORIZED, "403": _forbidden("read")}
    refused_operate = {
        "401": _UNAUTHORIZED,
        "403": _forbidden("operate", "; or a staff session's write without its CSRF token (error csrf_failed)"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "msgbuffer",
            "version": "1.0.0",
            "description": "Write-behind message buffer: Redis in front, PostgreSQL behind.",
        },
        "paths": {
            "/messages": {
                "post": {
                    "summary": "Accept one message",
                    "security": key_or_none,
                    "parameters": [idempotency],
                    "requestBody": {"required": True, **_json("MessageIn")},
                    "responses": {"202": {"description": "Queued: {message_id, status: queued, queued_at}"}, **_ERRORS},
                },
                "get": {
                    "summary": "Stored messages, newest first",
                    "security": reader,
                    "parameters": _query_parameters(),
                    "responses": {
                        "200": {
                            "description": "A JSON list",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"$ref": _REF.format(model="MessageOut")}}
                                }
                            },
                        },
                        **refused_read,
                        "422": _ERRORS["422"],
                    },
                },
            },
            "/messages/bulk": {
                "post": {
                    "summary": "Accept 1..1000 messages, all or nothing",
                    "security": key_or_none,
                    "parameters": [idempotency],
                    "requestBody": {"required": True, **_json("BulkIn")},
                    "responses": {"202": {"description": "{accepted, message_ids}"}, **_ERRORS},
                },
            },
            "/messages/{message_id}": {
                "get": {
                    "summary": "Where a message is: queued or persisted",
                    "security": reader,
                    "parameters": [
                        {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
                    ],
                    "responses": {
                        "200": {"description": "{status: queued|persisted, ...}"},
                        **refused_read,
                        "404": _error("Unknown message"),
                    },
                },
            },
            "/health": {
                "get": {
                    "summary": "Health of Redis, the database and the workers; with keys required, an anonymous "
                    "caller gets only {status} (and the code)",
                    "security": reader,
                    "responses": {
                        "200": {"description": "healthy, or degraded (Redis memory past 90 % of maxmemory)"},
                        "503": {"description": "unhealthy"},
                    },
                }
            },
            "/queue/status": {
                "get": {
                    "summary": "Queue, in-flight, dead letters, batch progress, last batch",
                    "security": reader,
                    "responses": {"200": {"description": "status"}, **refused_read, "503": _error("queue_unavailable")},
                }
            },
            "/simulate": {
                "post": {
                    "summary": "Generate realistic chat traffic (an `operate` key or a staff session when keys are required); "
                    "counts against the caller's rate limit",
                    "security": operator + [{}],
                    "requestBody": {"required": False, **_json("SimulateIn")},
                    "responses": {
                        "202": {"description": "{messages_count, message_ids}"},
                        **_ERRORS,
                        **refused_operate,
                        "429": _error("rate_limited, with Retry-After and `accepted`"),
                    },
                }
            },
            "/reset": {
                "delete": {
                    "summary": "Demo only: delete everything (an `operate` key or a staff session)",
                    "security": operator,
                    "responses": {"200": {"description": "counts"}, **refused_operate},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text format (anonymous only with MSGBUFFER_METRICS_PUBLIC, or keys not required)",
                    "security": [{"bearerKey": []}, {"metricsToken": []}, {"sessionCookie": []}, {}],
                    "responses": {"200": {"description": "metrics"}, **refused_read, "503": _error("queue_unavailable")},
                }
            },
        },
        "components": {
            "schemas": schemas,
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
                    "Django's CSRF token in X-CSRFToken, from the csrftoken cookie",
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "MSGBUFFER_METRICS_TOKEN, for a Prometheus scraper (/metrics only)",
                },
            },
        },
    }
