"""The JSON rules for request bodies, in one parser and one pass (issue 9).

A body is UTF-8 JSON (json.loads(bytes) would guess UTF-16/32), without NaN or Infinity,
without a key twice in one object (a proxy that reads the first value and msgbuffer,
which would read the last, must never disagree), nested no deeper than Python's
recursion limit allows json's scanner (about 1,000 levels; a schema-valid body nests 3).
Lone surrogates such as "\\ud800" are valid JSON: they pass here, so that validation can
answer 422 rather than 400.

Why the standard library's scanner rather than orjson: it is the only parser that
accepts lone surrogates, and with an object_pairs_hook it sees each object's pairs as it
builds them, so the duplicate check is part of the one parse. orjson refuses lone
surrogates (which forced a second parse of every body it refused), keeps the last of two
equal keys without a word, and any check after it is a second pass. Measured
(`python -m bench.json_parsing`, µs): one 93-byte message 1.3 here, orjson alone 0.2, orjson
plus a check 1.5; a bulk of 1,000 small messages 501, 128, 632; an 8 MiB bulk 11,652,
9,193, 16,708. Against ~190 µs of server time per POST, the hot path pays ~1 µs.

Big bodies are parsed on a thread (`parse_off_loop`): the scanner holds the GIL, but the
event loop gets it back every switch interval instead of waiting for the whole parse.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from functools import cache

# Above this a parse takes ~0.4 ms or more and a thread hop (~30-60 µs) is worth it; below
# it the hop would cost more than the loop loses (bench/json_parsing.py).
OFF_LOOP_BYTES = 64 << 10  # bytes
# Parses running at once off the loop: the machine's cores (2); more queue rather than
# hold more bodies' parse trees in memory at once.
PARSER_THREADS = 2


class DuplicateKey(ValueError):
    pass


class TooDeep(ValueError):
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


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_not_json_constant)


def parse(body: bytes):
    """The body's JSON value. Raises UnicodeDecodeError (not UTF-8), DuplicateKey, TooDeep,
    or ValueError (not JSON)."""
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except RecursionError:
        raise TooDeep("arrays or objects are nested too deeply") from None


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=PARSER_THREADS, thread_name_prefix="json-body")


async def parse_off_loop(function, body: bytes):
    """`function(body)`, on a parser thread when the body is big enough for that to pay."""
    if len(body) <= OFF_LOOP_BYTES:
        return function(body)
    return await asyncio.get_running_loop().run_in_executor(_executor(), function, body)
