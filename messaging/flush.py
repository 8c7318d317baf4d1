"""Flushing the buffer into PostgreSQL: claim a batch, insert it with `bulk_create` in one
transaction, then settle it in Redis. RQ jobs (jobs.py) call `buffer_drain`.

A batch holds at most BATCH_SIZE messages. A full batch is flushed as soon as it waits;
a partial one once its oldest message has waited FLUSH_INTERVAL. Counters move only
after commit (buffer.ack), and only for the holder of a live lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)
from pydantic import ValidationError

from . import buffer, dead_letters, events
from .buffer import QueuedMessage
from .conf import msgbuffer_settings
from .models import Message
from .outages import DatabaseUnavailable  # the batch could not be written, not the messages' fault

log = logging.getLogger(__name__)

# Back-off while the database is unreachable, doubling up to the cap (seconds).
DB_RETRY_FIRST = 0.2
DB_RETRY_MAX = 5.0
# How often a draining job renews its signs of life and looks for expired leases (seconds).
HOUSEKEEPING_EVERY = 0.5


# The data's fault, not the database's: the database refused a value (DataError,
# IntegrityError), or the driver could not adapt one before sending it (ValueError,
# TypeError, OverflowError). Such a batch is split to dead-letter the culprit; anything
# else escaping a flush would requeue the same batch after its lease, for ever.
REFUSED_DATA = (DataError, IntegrityError, ValueError, TypeError, OverflowError)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    batch_id: str
    stored: int
    dead_lettered: int
    settled: bool  # False: our lease had expired; whoever flushes the requeued copy counts it


@dataclass(frozen=True, slots=True)
class DrainOutcome:
    batches: int
    stored: int
    finished: bool  # nothing waits and nothing is claimed, or the flush is paused: no successor job is needed
    paused: bool = False  # stopped because an operator paused the flush (resume requests a job)


def _decode(claim: buffer.Claim) -> tuple[list[QueuedMessage], list[tuple[bytes, str]]]:
    """Split a claim into storable messages (one per message_id) and poison with reasons."""
    messages: dict = {}
    poison = []
    for payload in claim.payloads:
        try:
            message = QueuedMessage.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            poison.append((payload, f"invalid message: {where + ': ' if where else ''}{first['msg']}"))
            continue
        problem = _created_at_problem(message.created_at)
        if problem:
            poison.append((payload, f"invalid message: created_at: {problem}"))
            continue
        messages.setdefault(message.message_id, message)
    return list(messages.values()), poison


def _created_at_problem(created_at: datetime) -> str | None:
    """Why created_at cannot be stored as a UTC time, or None.

    Ingest always writes an aware UTC time. A naive one (written by something else) has no
    defined instant, and one that leaves datetime's range when moved to UTC makes the
    SQLite adapter raise; either used to crash the flush after commit (computing latency)
    or before it, so the batch was requeued and crashed again, for ever.
    """
    if created_at.utcoffset() is None:
        return "a time zone is required"
    try:
        created_at.astimezone(UTC)
    except OverflowError:
        return "out of range once converted to UTC"
    return None


def _rows(messages: list[QueuedMessage], inserted_at: datetime) -> list[Message]:
    return [
        Message(
            message_id=m.message_id,
            user_id=m.user_id,
            channel_id=m.channel_id,
            content=m.content,
            created_at=m.created_at,
            inserted_at=inserted_at,
        )
        for m in messages
    ]


def _insert(messages: list[QueuedMessage]) -> list[tuple[QueuedMessage, str]]:
    """Insert in one transaction; returns messages the database refused, with reasons.

    Conflicts on message_id are ignored: a requeued batch that was already committed
    inserts nothing twice. If the database refuses the batch for its data, each message
    is retried under its own savepoint to find the poison and store the rest.
    """
    # inserted_at is given, one value per batch, not left to the column's default: Django
    # would resolve a Now() expression once per row, a quarter of the worker's time (bench/).
    inserted_at = datetime.now(UTC)
    try:
        with transaction.atomic():
            Message.objects.bulk_create(_rows(messages, inserted_at), ignore_conflicts=True)
        return []
    except REFUSED_DATA as exc:
        log.warning("batch refused by the database (%s); isolating the poison", exc)
    refused = []
    with transaction.atomic():
        for message in messages:
            try:
                with transaction.atomic():
                    Message.objects.bulk_create(_rows([message], inserted_at), ignore_conflicts=True)
            except REFUSED_DATA as exc:
                refused.append((message, f"refused by the database: {exc}".strip()))
    return refused


def batch_flush(claim: buffer.Claim) -> BatchOutcome:
    """Store one claimed batch and settle it. Raises DatabaseUnavailable after giving the
    claim back to the queue."""
    messages, poison = _decode(claim)
    try:
        refused = _insert(messages) if messages else []
    except (OperationalError, InterfaceError, DatabaseError) as exc:
        buffer.release(claim.batch_id)
        buffer.count_flush_error("database_unavailable")
        close_old_connections()
        raise DatabaseUnavailable(str(exc)) from exc
    committed = datetime.now(UTC)
    refused_ids = {message.message_id for message, _ in refused}
    stored = [m for m in messages if m.message_id not in refused_ids] if refused else messages
    poison += [(message.model_dump_json().encode(), reason) for message, reason in refused]
    latencies = [(committed - m.created_at).total_seconds() * 1000 for m in stored]
    stored_ids = [str(m.message_id) for m in stored]
    settled = buffer.ack(
        claim.batch_id,
        stored=len(stored),
        message_ids=[str(m.message_id) for m in messages] if refused else stored_ids,
        latencies_ms=latencies,
        dead_letters=poison,
        event=events.batch_persisted(batch_id=claim.batch_id, message_ids=stored_ids, committed_at=committed) if stored else None,
        cause=claim.cause,
    )
    # DEBUG: at full speed this is a few hundred lines a second; metrics carry the totals.
    log.debug(
        "batch %s committed: %d stored, %d dead-lettered%s",
        claim.batch_id,
        len(stored),
        len(poison),
        "" if settled else " (lease lost: not counted here)",
        extra={
            "batch_id": claim.batch_id,
            "stored": len(stored),
            "dead_lettered": len(poison),
            "settled": settled,
            "message_ids": stored_ids,
        },
    )
    if poison:
        log.warning(
            "batch %s: %d message(s) dead-lettered",
            claim.batch_id,
            len(poison),
            extra={"batch_id": claim.batch_id, "reasons": sorted({reason for _, reason in poison})},
        )
        dead_letters.move_overflow()  # past MSGBUFFER_MAX_DEAD_LETTERS: to PostgreSQL
    return BatchOutcome(claim.batch_id, len(stored), len(poison), settled)


def _due_in(now: float) -> float | None:
    """Seconds until the oldest waiting message is due for a partial flush (None: none waits)."""
    oldest = buffer.oldest_accepted_at()
    if oldest is None:
        return None
    return oldest.timestamp() + msgbuffer_settings().FLUSH_INTERVAL - now


def buffer_drain(
    *, budget: float, should_stop: Callable[[], bool] = lambda: False, on_backlog: Callable[[], object] = lambda: None
) -> DrainOutcome:
    """Flush batches for up to `budget` seconds, or until nothing waits and nothing is claimed.

    Full batches go at once; a partial batch waits (blocking on the wake-up list, so a
    batch that fills meanwhile goes at once too) until its oldest message is due. While
    two or more full batches wait behind the one just claimed, `on_backlog` is called (at
    most every HOUSEKEEPING_EVERY seconds) so that idle workers can be asked to join in.
    """
    started = time.monotonic()
    buffer.flush_job_started()
    batches = stored = 0
    retry_in = DB_RETRY_FIRST
    housekeeping_at = backlog_called_at = 0.0
    while not should_stop() and time.monotonic() - started < budget:
        if time.monotonic() >= housekeeping_at:
            buffer.flush_job_alive()
            dead_letters.move_overflow()  # what a job that died between ack and move left
            recovered = buffer.requeue_expired()
            if recovered[0]:
                log.warning(
                    "requeued %d expired claim(s) holding %d message(s)",
                    *recovered,
                    extra={"batches": recovered[0], "messages": recovered[1]},
                )
            housekeeping_at = time.monotonic() + HOUSEKEEPING_EVERY

        try:
            claim = buffer.claim(full_only=True)
            if claim is None:
                due_in = _due_in(time.time())
                if due_in is None:
                    if buffer.flush_job_may_finish():
                        return DrainOutcome(batches, stored, finished=True)
                    lease_at = buffer.next_lease_deadline()  # another worker's claim: outlive it
                    buffer.wait_for_work(min(HOUSEKEEPING_EVERY, max((lease_at or 0) - time.time(), 0.01)))
                    continue
                if due_in > 0:
                    buffer.wait_for_work(min(due_in, HOUSEKEEPING_EVERY))
                    continue
                claim = buffer.claim(full_only=False)
                if claim is None:
                    continue
        except buffer.FlushPaused:
            # The batches this job had claimed are stored and acked; nothing more is claimed.
            log.info("flush paused: the flush job stops", extra={"batches": batches, "stored": stored})
            return DrainOutcome(batches, stored, finished=True, paused=True)
        if (
            claim.messages_left >= 2 * msgbuffer_settings().BATCH_SIZE
            and time.monotonic() - backlog_called_at >= HOUSEKEEPING_EVERY
        ):
            on_backlog()
            backlog_called_at = time.monotonic()
        try:
            outcome = batch_flush(claim)
        except DatabaseUnavailable as exc:
            log.error(
                "database unavailable, batch %s requeued; retrying in %.1fs: %s",
                claim.batch_id,
                retry_in,
                exc,
                extra={"batch_id": claim.batch_id, "retry_in_s": retry_in},
            )
            time.sleep(retry_in)
            retry_in = min(retry_in * 2, DB_RETRY_MAX)
            continue
        retry_in = DB_RETRY_FIRST
        batches += 1
        stored += outcome.stored
    return DrainOutcome(batches, stored, finished=False)
