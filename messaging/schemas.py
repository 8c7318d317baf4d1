"""The shapes of msgbuffer's input, as pydantic models: they validate every request (and,
through the buffer's QueuedMessage, messaging/buffer/message_format.py, every message a
worker takes off the queue), and /openapi.json is generated from them.

Validation rules (SPEC §4): ids are JSON integers in 1..2^63-1 (no booleans, fractions,
strings or null); content is a string, stripped, 1..2000 characters, with no NUL and no
lone surrogate (PostgreSQL can store neither). Unknown fields are ignored.

"A JSON integer" is what JSON Schema, and so /openapi.json, calls one: any number whose
value is whole, so 617.0 and 6.17e2 are the integer 617 (JSON has one number type, and a
schema cannot tell 617.0 from 617; a schema-driven client or fuzzer sends either). They
are taken exactly, from the digits as written (json_body.py parses them losslessly):
9007199254740993.0 is 9007199254740993, never a rounded float. 617.5 is refused.

The answers' shapes are models here too (the *Out models): /openapi.json documents them,
and tests/test_openapi_honest.py holds the routes' real answers to them.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from jiter import LosslessFloat
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

MAX_BIGINT = 2**63 - 1
CONTENT_MAX_CHARS = 2000


def _storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # pydantic-core refuses them first (string_unicode); kept as the rule's statement
        raise ValueError("must not contain lone surrogates") from None
    return value


# Past this a whole number is out of every field's range: it is clamped here, before int()
# (1e999999999 must not become a billion-digit int), and the field's own bound refuses it.
_WHOLE_NUMBER_BOUND = 2**64


def _whole_number(value: object) -> object:
    """A number written with a fraction or an exponent whose value is whole, as the exact
    int; anything else as it came, for strict int validation to judge (booleans, strings,
    617.5 are refused there)."""
    if value.__class__ is int:  # nearly every id: at once (this runs for each id of a bulk)
        return value
    if isinstance(value, LosslessFloat):
        value = value.as_decimal()
    elif isinstance(value, float):
        value = Decimal(value)  # exact: a float validated from Python, not from a body
    if not isinstance(value, Decimal) or not value.is_finite():
        return value
    if value.adjusted() >= 20:  # |value| >= 1e20: whole, and over any bound
        return _WHOLE_NUMBER_BOUND if value > 0 else -_WHOLE_NUMBER_BOUND
    if value != value.to_integral_value():
        return value
    return int(value)


# Before strict int validation: a JSON integer, however it is written.
WholeNumber = BeforeValidator(_whole_number)
PositiveBigInt = Annotated[int, Field(strict=True, ge=1, le=MAX_BIGINT), WholeNumber]
# What strip_whitespace strips (pydantic-core trims Unicode's White_Space, as Rust's
# str::trim does; Python's isspace adds U+001C..U+001F), spelled out so that the pattern
# below means the same to every regex dialect.
_STRIPPED = r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
Content = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=CONTENT_MAX_CHARS),
    AfterValidator(_storable_text),
    # In the schema: no NUL, and something left after the strip (else 422).
    Field(json_schema_extra={"pattern": rf"^[^\u0000]*[^\u0000{_STRIPPED}][^\u0000]*$"}),
]


class MessageIn(BaseModel):
    """A message as a client posts it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: PositiveBigInt
    channel_id: PositiveBigInt
    content: Content


class BulkIn(BaseModel):
    """POST /messages/bulk: all messages are accepted, or none."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    messages: Annotated[list[MessageIn], Field(min_length=1, max_length=1000)]


class SimulateIn(BaseModel):
    """POST /simulate: how many realistic chat messages to generate."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    count: Annotated[int, Field(strict=True, ge=1, le=10_000), WholeNumber] = 100


class MessageOut(BaseModel):
    """A stored message as GET /messages returns it."""

    message_id: UUID
    user_id: int
    channel_id: int
    content: str
    created_at: datetime
    inserted_at: datetime


class MessageListQuery(BaseModel):
    """GET /messages query string (strings from the URL, so not strict)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: Annotated[int, Field(ge=1, le=500)] = 50
    channel_id: Annotated[int, Field(ge=1, le=MAX_BIGINT)] | None = None
    user_id: Annotated[int, Field(ge=1, le=MAX_BIGINT)] | None = None
    before: Annotated[
        UUID | None,
        Field(description="The message_id of a stored message: rows older than it. One that names no stored message: 422."),
    ] = None


# ---------------------------------------------------------------------------
# Answers (for /openapi.json; extra fields may be added, so none forbids them)
# ---------------------------------------------------------------------------
def _left_out(description: str | None = None):
    """A field some answers leave out (never null): optional, with no `default: null` in the schema."""
    return Field(None, description=description, json_schema_extra=lambda schema: schema.pop("default", None))


class MessageQueuedOut(BaseModel):
    """202 from POST /messages."""

    message_id: UUID
    status: Literal["queued"]
    queued_at: datetime


class BulkQueuedOut(BaseModel):
    """202 from POST /messages/bulk: the ids in the order of the messages."""

    accepted: int
    message_ids: list[UUID]


class MessageStatusOut(BaseModel):
    """GET /messages/<id>: queued (only its id is known) or persisted (the stored row)."""

    status: Literal["queued", "persisted"]
    message_id: UUID
    user_id: int = _left_out()
    channel_id: int = _left_out()
    content: str = _left_out()
    created_at: datetime = _left_out()
    inserted_at: datetime = _left_out()


class RedisMemoryOut(BaseModel):
    """/health's view of Redis memory (stats.redis_memory_report)."""

    used_bytes: int
    maxmemory_bytes: int = Field(description="0: no maxmemory (then never degraded)")
    used_percent: float | None = Field(description="null without a maxmemory")
    degraded: bool = Field(description="used_percent at or past 90 (conf.REDIS_MEMORY_DEGRADED)")


class HealthOut(BaseModel):
    """GET /health. Only `status` for a caller who may not read, when keys are required.
    Degraded (still 200) when Redis's memory passes 90 % of its maxmemory."""

    status: Literal["healthy", "degraded", "unhealthy"]
    redis: str = _left_out('"ok", or "unreachable: <error>"')
    database: str = _left_out('"ok", or "unreachable: <error>"')
    message: str = _left_out("unhealthy or degraded only: what failed, or how full Redis is")
    redis_memory: RedisMemoryOut = _left_out("left out when Redis is unreachable")
    workers: int = _left_out()
    queue_length: int = _left_out()
    batch_threshold: int = _left_out()
    batch_progress: int = _left_out()
    batches_pending: int = _left_out()


class LastBatchOut(BaseModel):
    batch_id: str | None
    size: int | None
    completed_at: str | None


class QueueStatusOut(BaseModel):
    """GET /queue/status."""

    queue_length: int
    in_flight: int
    dead_letters: int
    batch_threshold: int
    batch_progress: int
    batches_ready: int
    last_batch: LastBatchOut
    workers: int
    oldest_message_age_s: float
    paused: bool = Field(description="true while the flush is paused (POST /flush/pause): nothing is claimed")


class SimulateOut(BaseModel):
    """202 from POST /simulate."""

    messages_count: int
    message_ids: list[UUID]


class ResetOut(BaseModel):
    """200 from DELETE /reset."""

    deleted_rows: int
    dropped_queued: int
    dropped_dead_letters: int


class FlushStateOut(BaseModel):
    """200 from POST /flush/pause and /flush/resume."""

    paused: bool
    changed: bool = Field(description="false when the flush already was in that state")
    flush_job_requested: bool = _left_out("resume only: a flush job was requested for what waits")


class HistoryQuery(BaseModel):
    """GET /stats/history query string."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    range: Literal["1m", "1h", "24h", "7d"] = "1h"


class HistoryPoint(BaseModel):
    """One bucket of throughput history: a second (1m, 1h) or a minute (24h, 7d)."""

    t: int = Field(description="the bucket's start, unix seconds")
    persisted: int = Field(description="messages stored in the bucket")
    accepted: int = Field(
        description="messages accepted since the batch before: counted as each batch settles, so what arrives "
        "while no batch settles is counted in the next bucket that has one"
    )
    batches: int = Field(description="batches settled in the bucket")
    queue_length: int = Field(description="messages waiting when the bucket's last batch settled")
    p95_latency_ms: float = Field(description="the worst p95 accepted->stored latency of the bucket's batches")


class HistoryOut(BaseModel):
    """GET /stats/history: the buckets of one range, oldest first. A bucket in which no
    batch settled is absent: nothing was stored in it."""

    range: Literal["1m", "1h", "24h", "7d"]
    resolution_s: int = Field(description="1 for 1m and 1h, 60 for 24h and 7d")
    start: int = Field(description="the range's first bucket's start, unix seconds (Redis's clock)")
    end: int = Field(description="the end of the current bucket, unix seconds")
    now: int = Field(description="when it was read, unix seconds: the current bucket is still filling")
    points: list[HistoryPoint]
