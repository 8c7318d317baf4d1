"""The JSON rules for request bodies, each body parsed once (issue 9).

A body is UTF-8 JSON without NaN or Infinity, without a key twice in one object (a
proxy that reads the first value and msgbuffer, which would read the last, must never
disagree), nested at most 200 deep (jiter's recursion limit; a schema-valid body nests
3). Lone surrogates such as "\\ud800" are valid JSON: they pass, so that validation can
answer 422 rather than 400.

jiter (pydantic's JSON parser) refuses duplicate keys itself (catch_duplicate_keys) in
its one pass, at about orjson's speed; orjson keeps the last of two equal keys without a
word, so with orjson the check would be a second pass. jiter, like orjson, refuses lone
surrogates: only for that refusal, recognised by jiter's own words for it, the body goes
to the standard library's scanner, the one parser that accepts them, with the same
duplicate check as an object_pairs_hook. Every other refusal is final: nothing is parsed
twice to be refused. Measured (`python -m bench.json_parsing`): see bench/README.md.

Numbers with a fraction or an exponent are kept exactly as written (jiter's LosslessFloat,
the standard library's Decimal), never rounded to a float: 9007199254740993.0 is a whole
number, which schemas.py takes as the integer it is (SPEC §4's JSON integers, as JSON
Schema counts them).

Django-free (only the standard library and jiter), so that body_check.py's parser
process can import it.
"""

from __future__ import annotations

import json
from decimal import Decimal

import jiter


class DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise DuplicateKey(f"the key {key!r} appears twice in one object")
    return obj


def _not_json_constant(name: str):
    raise ValueError(f"{name} is not JSON")


_SURROGATE_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_not_json_constant, parse_float=Decimal)
# jiter's string decoder raises these two only for a surrogate escape without its pair.
_LONE_SURROGATE = ("lone leading surrogate in hex escape", "unexpected end of hex escape")
_DUPLICATE = "Detected duplicate key"


def parse(body: bytes):
    """The body's JSON value. Raises DuplicateKey, UnicodeDecodeError (not UTF-8) or
    ValueError (not JSON, too deep)."""
    try:
        return jiter.from_json(
            body, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys", float_mode="lossless-float"
        )
    except ValueError as exc:
        reason = str(exc)
        if reason.startswith(_DUPLICATE):
            raise DuplicateKey(reason) from None
        if not reason.startswith(_LONE_SURROGATE):
            raise
    return _parse_with_surrogates(body)


def _parse_with_surrogates(body: bytes):
    # Decode strictly first: json.loads(bytes) would guess UTF-16/32.
    try:
        return _SURROGATE_DECODER.decode(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("arrays or objects are nested too deeply") from None


_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    jiter.LosslessFloat: "a number",
    Decimal: "a number",
    bool: "a boolean",
    type(None): "null",
}


def parse_object(body: bytes) -> tuple[dict | None, tuple[str, str] | None]:
    """The body as a JSON object, or the (error code, message) of the 400 that says why not."""
    if not body.strip():
        return None, ("malformed_json", "the body is empty; send a JSON object")
    try:
        data = parse(body)
    except UnicodeDecodeError:
        return None, ("malformed_json", "the body is not valid UTF-8")
    except DuplicateKey as exc:
        return None, ("duplicate_key", f"the body is ambiguous: {exc}")
    except ValueError as exc:
        return None, ("malformed_json", f"the body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        return None, ("invalid_body", f"the body must be a JSON object, not {_JSON_KINDS.get(type(data), 'not an object')}")
    return data, None
