"""Every route of the OpenAPI document (openapi.py), with every status it can answer,
from the pieces in openapi_parts.py."""

from . import schemas
from .conf import msgbuffer_settings
from .openapi_parts import (
    CSRF_403,
    DATABASE_UNAVAILABLE,
    OPERATOR,
    QUEUE_UNAVAILABLE,
    REF,
    REPLAYED,
    answer,
    body,
    body_errors,
    error,
    ingest_operation,
    query_parameters,
    read_operation,
    refusals,
)

PAUSE_SUMMARY = "Stop claiming batches; ingest goes on accepting up to MSGBUFFER_MAX_QUEUE, batches already claimed are stored"
RESUME_SUMMARY = "Claim again, and request a flush job for what waits"


def _flush_control(operation_id: str, summary: str, if_unavailable: str) -> dict:
    return {
        "tags": ["operations"],
        "operationId": operation_id,
        "summary": summary,
        "description": "An `operate` key or a staff session (with Django's CSRF token); never anonymous.",
        "security": OPERATOR,
        "responses": {
            "200": answer("the flush's state now", "FlushStateOut"),
            **refusals("operate", csrf=True),
            "503": error(f"queue_unavailable: {if_unavailable}", retry_after=True),
        },
    }


def paths() -> dict:
    conf = msgbuffer_settings()
    return {
        "/messages": {
            "post": ingest_operation(
                "Accept one message",
                "postMessage",
                "MessageIn",
                answer("Queued", "MessageQueuedOut", headers=REPLAYED),
                "/messages",
                conf.MAX_BODY_BYTES,
            ),
            "get": read_operation(
                "listMessages",
                "Stored messages, newest first",
                {
                    "200": {
                        "description": "A JSON list",
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": {"$ref": REF.format(model="MessageOut")}}}
                        },
                    },
                    **refusals("read"),
                    "422": error(
                        "validation_error: a parameter out of range, or `before` names no stored message "
                        "(detail field `before`: page with the message_id of a row this list returned)"
                    ),
                    "503": DATABASE_UNAVAILABLE,
                },
                parameters=query_parameters(),
            ),
        },
        "/messages/bulk": {
            "post": ingest_operation(
                "Accept 1..1000 messages, all or nothing",
                "postMessagesBulk",
                "BulkIn",
                answer("All queued", "BulkQueuedOut", headers=REPLAYED),
                "/messages/bulk",
                conf.MAX_BULK_BODY_BYTES,
            ),
        },
        "/messages/{message_id}": {
            "get": read_operation(
                "getMessage",
                "Where a message is: queued or persisted",
                {
                    "200": answer("queued (only its id) or persisted (the stored row)", "MessageStatusOut"),
                    **refusals("read"),
                    "404": error("not_found: no message with this id is queued or stored"),
                    "503": error(
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
                **read_operation(
                    "getHealth",
                    "Health of Redis, the database and the workers",
                    {
                        "200": answer("healthy, or degraded (Redis memory past 90 % of maxmemory)", "HealthOut"),
                        "503": answer("unhealthy: `message` names the failed part", "HealthOut"),
                    },
                ),
                "description": "With keys required, a caller who may not read (anonymous, a refused key, a throttled "
                "address) gets only `{status}` and the code: probes need no key.",
            }
        },
        "/queue/status": {
            "get": read_operation(
                "getQueueStatus",
                "Queue, in-flight, dead letters, batch progress, last batch",
                {"200": answer("status", "QueueStatusOut"), **refusals("read"), "503": QUEUE_UNAVAILABLE},
            )
        },
        "/stats/history": {
            "get": read_operation(
                "getStatsHistory",
                "Throughput history: per second for 1m and 1h, per minute for 24h and 7d (kept 7 days)",
                {
                    "200": answer("the range's buckets, oldest first", "HistoryOut"),
                    **refusals("read"),
                    "422": error("validation_error: a range other than 1m, 1h, 24h or 7d"),
                    "503": QUEUE_UNAVAILABLE,
                },
                parameters=query_parameters(schemas.HistoryQuery),
            )
        },
        "/flush/pause": {"post": _flush_control("pauseFlush", PAUSE_SUMMARY, "the flush was not paused")},
        "/flush/resume": {"post": _flush_control("resumeFlush", RESUME_SUMMARY, "the flush may not have resumed")},
        "/metrics": {
            "get": {
                **read_operation(
                    "getMetrics",
                    "Prometheus text format",
                    {
                        "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                        **refusals("read"),
                        "503": QUEUE_UNAVAILABLE,
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
                "security": OPERATOR + [{}],
                "requestBody": {"required": False, **body("SimulateIn")},
                "responses": {
                    "202": answer("Queued", "SimulateOut"),
                    **body_errors("/simulate", conf.MAX_BODY_BYTES),
                    **refusals("operate", csrf=True),
                    "429": error(
                        "rate_limited (with `accepted`: how many were queued before the limit) or auth_throttled",
                        retry_after=True,
                    ),
                    "503": error("queue_full (with `accepted`) or queue_unavailable", retry_after=True),
                },
            }
        },
        "/reset": {
            "delete": {
                "tags": ["operations"],
                "operationId": "resetEverything",
                "summary": "Demo only: delete every stored message and every buffer key",
                "description": "An `operate` key or a staff session (with Django's CSRF token), keys required or not.",
                "security": OPERATOR,
                "responses": {
                    "200": answer("What was deleted", "ResetOut"),
                    **refusals("operate", csrf=True),
                    "403": error(f"forbidden: reset is disabled (MSGBUFFER_ALLOW_RESET), the key lacks `operate`, or {CSRF_403}"),
                    "503": error("queue_unavailable or database_unavailable", retry_after=True),
                },
            }
        },
    }
