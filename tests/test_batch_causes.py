"""Why a batch was flushed (issue 11): claim.lua decides the cause (full, timer, recovered
after a lease expired), ack.lua counts it with the batch, and /metrics, the stats snapshot
and the dashboard show the split. Real Redis and database; the drain is flush.buffer_drain
itself, in this process.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import override_settings

from messaging import buffer, flush
from messaging.conf import msgbuffer_settings
from messaging.metrics import metrics_exposition
from messaging.models import Message
from messaging.schemas import MessageIn
from tests.delivery import message_body
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def queue(count: int) -> None:
    """Queue `count` storable messages as ingest would (its payload format)."""
    accepted_at = datetime.now(UTC).isoformat()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    entries = [(i, buffer.queued_payload(MessageIn(**message_body(n)), i, accepted_at)) for n, i in enumerate(ids)]
    assert buffer.push(entries).accepted


def settings_with(**msgbuffer) -> override_settings:
    return override_settings(MSGBUFFER={**settings.MSGBUFFER, **msgbuffer})


def causes_in_metrics() -> dict[str, float]:
    found = {}
    for line in metrics_exposition().decode().splitlines():
        if line.startswith("msgbuffer_batches_by_cause_total{"):
            cause = line.split('cause="', 1)[1].split('"', 1)[0]
            found[cause] = float(line.rsplit(" ", 1)[1])
    return found


def test_batch_causes__full_batch__counted_as_full():
    queue(msgbuffer_settings().BATCH_SIZE)

    outcome = flush.buffer_drain(budget=5)

    assert outcome.batches == 1 and Message.objects.count() == msgbuffer_settings().BATCH_SIZE
    assert buffer.read_state().batches_by_cause == {"full": 1, "timer": 0, "recovered": 0}
    assert causes_in_metrics() == {"full": 1.0, "timer": 0.0, "recovered": 0.0}


def test_batch_causes__partial_batch_whose_oldest_is_due__counted_as_timer():
    with settings_with(FLUSH_INTERVAL=0.2):
        queue(3)
        outcome = flush.buffer_drain(budget=5)

    assert outcome.batches == 1 and Message.objects.count() == 3
    assert causes_in_metrics() == {"full": 0.0, "timer": 1.0, "recovered": 0.0}


def test_batch_causes__batch_recovered_after_its_lease_expired__counted_as_recovered():
    with settings_with(CLAIM_LEASE=0.3, FLUSH_INTERVAL=0.2):
        queue(3)
        dead_workers_claim = buffer.claim(full_only=False)  # its worker dies: never acked
        assert dead_workers_claim is not None
        wait_for(lambda: buffer.next_lease_deadline() < time.time(), timeout=5, message="the lease expired")
        queue(2)  # newer traffic, behind the recovered messages

        outcome = flush.buffer_drain(budget=5)

    assert Message.objects.count() == 5
    state = buffer.read_state()
    # The recovered three (with the two that came after them, in one partial batch) went
    # because of the recovery; nothing stays marked as recovered afterwards.
    assert outcome.batches == 1
    assert state.batches_by_cause == {"full": 0, "timer": 0, "recovered": 1}
    assert causes_in_metrics() == {"full": 0.0, "timer": 0.0, "recovered": 1.0}
    assert not buffer.sync_client().exists(buffer.RECOVERED_WAITING)


def test_batch_causes__after_a_recovery__later_batches_count_under_their_own_cause():
    size = msgbuffer_settings().BATCH_SIZE
    with settings_with(CLAIM_LEASE=0.3):
        queue(size)
        buffer.claim(full_only=True)  # lost with its worker
        wait_for(lambda: buffer.next_lease_deadline() < time.time(), timeout=5, message="the lease expired")
        queue(size)

        outcome = flush.buffer_drain(budget=5)

    assert outcome.batches == 2 and Message.objects.count() == 2 * size
    assert buffer.read_state().batches_by_cause == {"full": 1, "timer": 0, "recovered": 1}


def test_batch_causes__a_batch_given_back_after_a_failed_flush__is_not_a_recovery():
    queue(msgbuffer_settings().BATCH_SIZE)
    buffer.release(buffer.claim(full_only=True).batch_id)  # what batch_flush does when the database is down

    flush.buffer_drain(budget=5)

    assert buffer.read_state().batches_by_cause == {"full": 1, "timer": 0, "recovered": 0}


def test_batch_causes__split_adds_up_to_total_batches_in_the_snapshot():
    with settings_with(FLUSH_INTERVAL=0.2):
        queue(msgbuffer_settings().BATCH_SIZE + 4)
        flush.buffer_drain(budget=5)

    state = buffer.read_state()
    assert sum(state.batches_by_cause.values()) == state.total_batches == 2
    assert state.batches_by_cause == {"full": 1, "timer": 1, "recovered": 0}
