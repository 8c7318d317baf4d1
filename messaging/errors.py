"""msgbuffer's JSON error bodies, shared by the ASGI ingest path and the Django views.

Every error is a JSON object with an "error" code and a "message" for a human; nothing
answers with HTML or a traceback.
"""

from pydantic import ValidationError

# pydantic's messages speak of "Input"; ours name what the client must change.
_FRIENDLY = {
    "int_type": "must be a JSON integer",
    "int_parsing": "must be an integer",
    "string_type": "must be a JSON string",
    "string_unicode": "must not contain lone surrogates (an unpaired \\ud800-\\udfff escape)",
    "string_too_short": "must not be empty or whitespace only",
    "list_type": "must be a JSON array",
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "uuid_parsing": "must be a message_id (a UUID)",
    "uuid_type": "must be a message_id (a UUID)",
}


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _message(error: dict) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _FRIENDLY:
        return _FRIENDLY[kind]
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long (after stripping whitespace)"
    if kind == "too_short":
        return f"must hold at least {_items(ctx['min_length'])}"
    if kind == "too_long":
        return f"must hold at most {_items(ctx['max_length'])}, not {ctx['actual_length']}"
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    return error["msg"]


def validation_error(exc: ValidationError, *, items_field: str | None = None) -> dict:
    """422 body: {"error": "validation_error", "message", "detail": [{"field", "message"[, "index"]}]}.

    With items_field (bulk), an error inside the n-th item carries `"index": n`.
    """
    detail = []
    # The input is read (see _message) but never echoed: it may be megabytes long.
    for error in exc.errors(include_url=False):
        location = list(error["loc"])
        entry = {}
        if items_field and len(location) >= 2 and location[0] == items_field and isinstance(location[1], int):
            entry["index"] = location[1]
            location = location[2:]
        entry["field"] = ".".join(str(part) for part in location) or (items_field or "body")
        entry["message"] = _message(error)
        detail.append(entry)
    return {"error": "validation_error", "message": _summary(detail, items_field), "detail": detail}


def _summary(detail: list[dict], items_field: str | None) -> str:
    """The first problem in one sentence, e.g. "messages[7].user_id must be a JSON integer"."""
    first = detail[0]
    where = first["field"]
    if "index" in first:
        where = f"{items_field}[{first['index']}]" + ("" if where == items_field else f".{where}")
    more = f" (and {len(detail) - 1} more problem{'s' if len(detail) > 2 else ''}, see detail)" if len(detail) > 1 else ""
    return f"{where} {first['message']}{more}"


def error(code: str, message: str, **extra) -> dict:
    return {"error": code, "message": message, **extra}


def byte_size(n: int) -> str:
    """1048576 -> "1 MiB" (limits read better in MiB)."""
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"
