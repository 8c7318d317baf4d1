"""Per-message cost of validating one POST /messages body: `python -m bench.validation`

Compares, on the same parsed dict (and on the raw bytes where the library can parse
too), with timeit:
  - pydantic: messaging.schemas.MessageIn (what ingest uses) — model_validate(dict) and
    model_validate_json(bytes)
  - a hand-written validator applying the same rules (SPEC §4)
  - msgspec Structs with the same constraints (installed into the venv for this bench
    only; the application does not use it)
Also the worker side: QueuedMessage.model_validate_json per queued payload (flush.py).
"""

import os
import timeit
import uuid
from datetime import UTC, datetime

import orjson

from . import environment as env

MAX_BIGINT = 2**63 - 1
BODY = b'{"user_id": 42, "channel_id": 7, "content": "benchmark message content, roughly fifty characters"}'


def hand_validate(data) -> tuple[int, int, str]:
    """The SPEC §4 rules, by hand: returns the clean values or raises ValueError."""
    if not isinstance(data, dict):
        raise ValueError("body")
    user_id, channel_id, content = data.get("user_id"), data.get("channel_id"), data.get("content")
    for value in (user_id, channel_id):
        if type(value) is not int or not 1 <= value <= MAX_BIGINT:
            raise ValueError("id")
    if type(content) is not str:
        raise ValueError("content")
    content = content.strip()
    if not 1 <= len(content) <= 2000 or "\x00" in content:
        raise ValueError("content")
    content.encode("utf-8")  # raises on a lone surrogate
    return user_id, channel_id, content


def main() -> None:
    env.ensure_python_package("msgspec", "msgspec")
    env.django_setup()
    from typing import Annotated

    import msgspec

    from messaging.buffer import QueuedMessage
    from messaging.schemas import MessageIn

    PositiveBigInt = Annotated[int, msgspec.Meta(ge=1, le=MAX_BIGINT)]

    class MsgspecIn(msgspec.Struct, forbid_unknown_fields=False):
        user_id: PositiveBigInt
        channel_id: PositiveBigInt
        content: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]  # strip and NUL checks stay by hand

    def msgspec_validate(data):
        message = msgspec.convert(data, MsgspecIn, strict=True)
        content = message.content.strip()
        if not content or "\x00" in content:
            raise ValueError("content")
        return message

    decoder = msgspec.json.Decoder(MsgspecIn)

    def msgspec_decode(body):
        message = decoder.decode(body)
        content = message.content.strip()
        if not content or "\x00" in content:
            raise ValueError("content")
        return message

    data = orjson.loads(BODY)
    queued = orjson.dumps({"message_id": str(uuid.uuid4()), **data, "created_at": datetime.now(UTC).isoformat()})
    cases = [
        ("orjson.loads (parse only, for scale)", lambda: orjson.loads(BODY)),
        ("pydantic MessageIn.model_validate(dict)", lambda: MessageIn.model_validate(data)),
        ("pydantic MessageIn.model_validate_json(bytes)", lambda: MessageIn.model_validate_json(BODY)),
        ("orjson.loads + pydantic model_validate (ingest today)", lambda: MessageIn.model_validate(orjson.loads(BODY))),
        ("hand-written validator(dict)", lambda: hand_validate(data)),
        ("orjson.loads + hand-written", lambda: hand_validate(orjson.loads(BODY))),
        ("msgspec.convert(dict)", lambda: msgspec_validate(data)),
        ("msgspec Decoder(bytes) (parse + validate)", lambda: msgspec_decode(BODY)),
        ("worker: QueuedMessage.model_validate_json(payload)", lambda: QueuedMessage.model_validate_json(queued)),
        ("worker: orjson.loads(payload) only", lambda: orjson.loads(queued)),
    ]
    number = int(os.environ.get("BENCH_VALIDATION_NUMBER", "200000"))
    print("| validation of one message | µs per message (best of 5) |")
    print("|---|---|")
    for name, call in cases:
        best = min(timeit.repeat(call, number=number, repeat=5)) / number
        print(f"| {name} | {best * 1e6:.2f} |")


if __name__ == "__main__":
    main()
