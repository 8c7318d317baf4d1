"""The shapes of msgbuffer's input, as pydantic models: they validate every request (and,
through the buffer's QueuedMessage, messaging/buffer/message_format.py, every message a
worker takes off the queue), and /openapi.json is generated from them.

Validation rules (SPEC §4): ids are JSON integers in 1..2^63-1 (no booleans, floats,
strings or null); content is a string, stripped, 1..2000 characters, with no NUL and no
lone surrogate (PostgreSQL can store neither). Unknown fields are ignored.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

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


PositiveBigInt = Annotated[int, Field(strict=True, ge=1, le=MAX_BIGINT)]
Content = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=CONTENT_MAX_CHARS),
    AfterValidator(_storable_text),
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

    count: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 100


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
    before: UUID | None = None


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
