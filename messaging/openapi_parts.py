"""The pieces the OpenAPI document's operations are made of (openapi_paths.py): bodies,
answers, the refusals of access.py, the errors of a JSON body, and the shapes of an ingest
and of a read operation, so that every route states its statuses the same way."""

from . import schemas
from .errors import byte_size
from .ingest import MAX_IDEMPOTENCY_KEY_CHARS

REF = "#/components/schemas/{model}"
REQUESTS = (schemas.MessageIn, schemas.BulkIn, schemas.SimulateIn)
ANSWERS = (
    schemas.MessageOut,
    schemas.MessageQueuedOut,
    schemas.BulkQueuedOut,
    schemas.MessageStatusOut,
    schemas.HealthOut,
    schemas.QueueStatusOut,
    schemas.SimulateOut,
    schemas.ResetOut,
    schemas.HistoryOut,
    schemas.FlushStateOut,
)
CSRF_403 = "a staff session's write without Django's CSRF token in X-CSRFToken (error csrf_failed)"
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def body(model: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}


def answer(description: str, model: str, **extra) -> dict:
    return {"description": description, **body(model), **extra}


def error(description: str, *, retry_after: bool = False, **extra) -> dict:
    headers = {"headers": RETRY_AFTER} if retry_after else {}
    return {"description": description, **body("Error"), **headers, **extra}


def refusals(scope: str, *, csrf: bool = False) -> dict:
    """401, 403 and the 429 of a throttled address: what access.py answers a caller who may not."""
    also = f"; or {CSRF_403}" if csrf else ""
    return {
        "401": error(
            "unauthorized: no live API key in `Authorization: Bearer <key>` and no staff session, where one is "
            "needed (MSGBUFFER_API_KEYS_REQUIRED)",
            headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
        ),
        "403": error(f"forbidden: the API key lacks the `{scope}` scope{also}"),
        "429": error(
            "auth_throttled: this address presented too many refused API keys (MSGBUFFER_AUTH_FAILURE_LIMIT)",
            retry_after=True,
        ),
    }


def body_errors(path: str, limit: int) -> dict:
    """What a route that reads a JSON body answers for one it cannot take."""
    return {
        "400": error(
            "malformed_json (empty, not JSON, not UTF-8, NaN/Infinity, or nested over 200 deep), duplicate_key "
            "(a key twice in one object), invalid_body (not a JSON object), or invalid_idempotency_key "
            f"(not 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters; ingest only)"
        ),
        "408": error("request_timeout: a part of the body took longer than MSGBUFFER_BODY_READ_TIMEOUT to arrive"),
        "413": error(f"payload_too_large: the body is over {byte_size(limit)} ({path})"),
        "415": error("unsupported_media_type: Content-Type is not application/json"),
        "422": error("validation_error: {error, message, detail: [{field, message, index?}]}"),
    }


QUEUE_UNAVAILABLE = error("queue_unavailable: Redis cannot be reached", retry_after=True)
DATABASE_UNAVAILABLE = error(
    "database_unavailable: PostgreSQL cannot be reached, or no pooled connection came within DATABASE_POOL_TIMEOUT",
    retry_after=True,
)


def ingest_operation(summary: str, operation_id: str, request: str, answer: dict, path: str, limit: int) -> dict:
    return {
        "tags": ["ingest"],
        "operationId": operation_id,
        "summary": summary,
        "security": [{"bearerKey": []}, {}],
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {"required": True, **body(request)},
        "responses": {
            "202": answer,
            **body_errors(path, limit),
            **refusals("ingest"),
            "429": error(
                "rate_limited (this key's MSGBUFFER_RATE_LIMIT messages per second; nothing was queued) or "
                "auth_throttled (too many refused keys from this address)",
                retry_after=True,
            ),
            "503": error(
                "queue_full (MSGBUFFER_MAX_QUEUE messages wait) or queue_unavailable (Redis cannot be reached); "
                "nothing was queued",
                retry_after=True,
            ),
        },
    }


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    # Not only whitespace: HTTP strips a header value's surrounding blanks, so "  " arrives empty.
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS, "pattern": r"\S"},
    "description": "The same key within 24 h replays the first answer (with `Idempotent-Replayed: true`) and "
    f"queues nothing more. 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters, else 400 invalid_idempotency_key.",
}
REPLAYED = {"Idempotent-Replayed": {"description": "`true` on a replayed answer", "schema": {"type": "string"}}}
READER = [{"bearerKey": []}, {"sessionCookie": []}, {}]  # a `read` key or a staff session, when keys are required
OPERATOR = [{"bearerKey": []}, {"sessionCookie": []}]  # an `operate` key, or a staff session with Django's CSRF token


def read_operation(operation_id: str, summary: str, responses: dict, **extra) -> dict:
    return {
        "tags": ["reads"],
        "operationId": operation_id,
        "summary": summary,
        "security": READER,
        **extra,
        "responses": responses,
    }


def query_parameters(model=schemas.MessageListQuery) -> list[dict]:
    properties = model.model_json_schema()["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": prop, "description": prop.get("description", "")}
        for name, prop in properties.items()
    ]
