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

from .openapi_parts import ANSWERS, REF, REQUESTS
from .openapi_paths import paths


@cache
def openapi_document() -> dict:
    _, definitions = models_json_schema(
        [(m, "validation") for m in REQUESTS] + [(m, "serialization") for m in ANSWERS], ref_template=REF
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
        "paths": paths(),
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
