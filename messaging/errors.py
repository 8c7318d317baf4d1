"""msgbuffer's JSON error bodies, shared by the ASGI ingest path and the Django views.

Every error is a JSON object with an "error" code; nothing answers with HTML or a
traceback.
"""
from pydantic import ValidationError

_FRIENDLY = {
    "int_type": "must be a JSON integer",
    "string_type": "must be a JSON string",
    "string_too_short": "must not be empty or whitespace only",
    "list_type": "must be a JSON array",
    "missing": "is required",
    "model_type": "must be a JSON object",
}


def validation_error(exc: ValidationError, *, items_field: str | None = None) -> dict:
    """422 body: {"error": "validation_error", "detail": [{"field", "message"[, "index"]}]}.

    With items_field (bulk), an error inside the n-th item carries `"index": n`.
    """
    detail = []
    for error in exc.errors(include_url=False, include_input=False):
        location = list(error["loc"])
        entry = {}
        if items_field and len(location) >= 2 and location[0] == items_field and isinstance(location[1], int):
            entry["index"] = location[1]
            location = location[2:]
        message = _FRIENDLY.get(error["type"], error["msg"])
        if error["type"] == "value_error":
            message = error["msg"].removeprefix("Value error, ")
        entry["field"] = ".".join(str(part) for part in location) or (items_field or "body")
        entry["message"] = message
        detail.append(entry)
    return {"error": "validation_error", "detail": detail}


def error(code: str, message: str, **extra) -> dict:
    return {"error": code, "message": message, **extra}
