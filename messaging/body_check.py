"""An ingest body parsed (json_body.py) and validated (schemas.py): on the event loop when
it is small, in a parser process when it is big (issue 9).

Every JSON parser for CPython holds the GIL for the whole parse, so a thread does not
free the event loop: with jiter parsing a 7.5 MB body of 80,000 items (~25-50 ms) on a
thread, the loop thread still stood still for 27 ms at the median. A body of many small
values would stall every other request of its web process. Over OFF_LOOP_BYTES the body
goes to a parser process instead, which sends back either the refusal (status and
error body) or the messages as plain tuples; the loop turns them into MessageIn without
validating them a second time (`model_construct`). A refused body is parsed once, there.

One parser process per web process (`max_workers=1`): big bodies queue rather than take
both cores from the small ones. It is started on the first big body with `spawn` (the
web process has threads: a fork would copy their locks). This module imports nothing of
Django, so the parser process does not set Django up.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache

from pydantic import ValidationError

from . import errors, json_body
from .schemas import BulkIn, MessageIn

# Below this a parse costs the loop at most ~1.5 ms even for a flood of small values, and a
# legitimate bulk of 1,000 short messages (~95 KB) stays on the loop; above it the round
# trip to the parser process (~1-3 ms with the body's copy) is the smaller cost
# (bench/large_bodies.py, bench/json_parsing.py).
OFF_LOOP_BYTES = 256 << 10  # bytes

Refusal = tuple[int, dict]  # status, error body


def check(body: bytes, bulk: bool) -> tuple[list[MessageIn] | None, Refusal | None]:
    """The body's messages, or the refusal that says why there are none."""
    data, refused = json_body.parse_object(body)
    if refused is not None:
        return None, (400, errors.error(*refused))
    try:
        messages = BulkIn.model_validate(data).messages if bulk else [MessageIn.model_validate(data)]
    except ValidationError as exc:
        return None, (422, errors.validation_error(exc, items_field="messages" if bulk else None))
    return messages, None


def _check_in_parser_process(body: bytes, bulk: bool) -> tuple[list[tuple[int, int, str]] | None, Refusal | None]:
    messages, refusal = check(body, bulk)
    return ([(m.user_id, m.channel_id, m.content) for m in messages] if messages is not None else None), refusal


@cache
def _parser_process() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


async def checked(body: bytes, *, bulk: bool) -> tuple[list[MessageIn] | None, Refusal | None]:
    """`check(body, bulk)`, in the parser process when the body is over OFF_LOOP_BYTES."""
    if len(body) <= OFF_LOOP_BYTES:
        return check(body, bulk)
    loop = asyncio.get_running_loop()
    try:
        rows, refusal = await loop.run_in_executor(_parser_process(), _check_in_parser_process, body, bulk)
    except BrokenProcessPool:  # the parser process died (killed, out of memory): a new one, once
        _parser_process.cache_clear()
        rows, refusal = await loop.run_in_executor(_parser_process(), _check_in_parser_process, body, bulk)
    if refusal is not None:
        return None, refusal
    return [
        MessageIn.model_construct(user_id=user_id, channel_id=channel_id, content=content)
        for user_id, channel_id, content in rows
    ], None
