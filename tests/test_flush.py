"""messaging/flush.py end to end (SPEC §5, invariants 2, 3, 4 and 6): messages posted
through the real ASGI application, flushed by a real `manage.py rqworker` subprocess
into the tests' database. Every test checks the exact rows as well as the outcome.

Fault scenarios (killed workers, PostgreSQL down, poison, races) are in
test_flush_faults.py.
"""

import time

import orjson
import pytest

from messaging import buffer
from messaging.conf import msgbuffer_settings
from messaging.models import Message
from tests.delivery import (
    IngestClient,
    assert_stored_exactly_once,
    messages_table_locked,
    row_count,
    start_worker,
    stored_ids,
    wait_for_insert_blocked,
    wait_until_stored,
)
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the worker subprocess must see committed rows


@pytest.fixture
def ingest():
    client = IngestClient()
    yield client
    client.close()


@pytest.fixture
def worker(processes, clean_redis):
    return start_worker(processes, clean_redis)


@pytest.fixture
def batch_events(clean_redis):
    """Collects the batch_persisted events that flush jobs publish once per settled batch."""
    subscription = clean_redis.pubsub()
    subscription.subscribe(buffer.EVENTS)
    received = []

    def collect() -> list[dict]:
        # Subscribe confirmations come back as messages too: read until the line is quiet.
        while (message := subscription.get_message(timeout=0.1)) is not None:
            if message["type"] == "message":
                received.append(orjson.loads(message["data"]))
        return received

    yield collect
    subscription.close()


def test_flush__lone_message__stored_within_flush_interval_plus_half_a_second(worker, ingest):
    deadline = msgbuffer_settings().FLUSH_INTERVAL + 0.5  # SPEC §5.3: a correctness deadline

    response = ingest.post()
    answered = time.monotonic()

    assert response.status_code == 202
    message_id = response.json()["message_id"]
    wait_for(
        lambda: Message.objects.filter(message_id=message_id).exists(),
        timeout=deadline,
        interval=0.02,
        message="the lone message to be stored",
    )
    assert time.monotonic() - answered <= deadline
    wait_until_stored(row_count, 1, timeout=5)
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches == 1


def test_flush__full_batch_posted_at_once__stored_as_one_batch_without_waiting(worker, ingest, batch_events):
    batch_size = msgbuffer_settings().BATCH_SIZE

    ingest.post_bulk(batch_size)
    answered = time.monotonic()

    # Well under the flush interval: a full batch must not wait for it.
    wait_until_stored(row_count, batch_size, timeout=msgbuffer_settings().FLUSH_INTERVAL * 0.75)
    assert time.monotonic() - answered < msgbuffer_settings().FLUSH_INTERVAL
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches == 1
    assert [event["batch_size"] for event in batch_events()] == [batch_size]


def test_flush__120_messages__batches_of_50_50_then_20_after_the_interval(worker, ingest, batch_events):
    conf = msgbuffer_settings()

    posted = time.monotonic()  # before acceptance: the partial batch may not go before posted + interval
    ingest.post_bulk(120)

    wait_for(lambda: row_count() >= 100, timeout=conf.FLUSH_INTERVAL * 0.75, message="two full batches at once")
    assert row_count() == 100, "the last 20 must wait for the flush interval, not go at once"
    assert buffer.read_state().queue_length == 20
    wait_until_stored(row_count, 120, timeout=conf.FLUSH_INTERVAL + 0.5)
    assert time.monotonic() - posted >= conf.FLUSH_INTERVAL
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches == 3
    events = batch_events()
    assert [event["batch_size"] for event in events] == [50, 50, 20]
    assert sorted(i for event in events for i in event["ids"]) == sorted(ingest.accepted)


def test_flush__steady_load_over_1000_per_second__average_batch_at_least_45(worker, ingest, batch_events):
    rate, total = 1500, 6000  # four seconds of load

    elapsed = ingest.start_load(total=total, rate=rate).result(timeout=60)

    assert total / elapsed >= 1000, f"the load generator managed only {total / elapsed:.0f} msg/s"
    wait_until_stored(row_count, total, timeout=30)
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    sizes = [event["batch_size"] for event in batch_events()]
    assert len(sizes) == state.total_batches and sum(sizes) == total
    assert max(sizes) <= msgbuffer_settings().BATCH_SIZE
    assert total / state.total_batches >= 45, f"average batch {total / state.total_batches:.1f}: {sizes}"


def test_flush__counters__move_only_after_the_batch_commits(worker, ingest, clean_redis):
    """Hold the table's write lock so the worker's insert waits, then look at every counter."""
    with messages_table_locked():
        ingest.post_bulk(50)
        wait_for_insert_blocked(50)

        before = buffer.read_state()
        assert (before.total_messages, before.total_batches, before.current_rps) == (0, 0, 0.0)
        assert before.latencies_ms == [] and before.last_batch == {}
        assert clean_redis.llen(buffer.DEAD_LETTERS) == 0
    # The lock goes with our transaction: the worker's insert proceeds and commits.

    wait_until_stored(row_count, 50, timeout=5)
    after = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert after.total_batches == 1 and after.current_rps > 0
    assert len(after.latencies_ms) == 50
    assert after.last_batch["size"] == "50" and after.last_batch["batch_id"]


@pytest.mark.parametrize(("waiting", "expect_call"), [(100, False), (150, True)])
def test_buffer_drain__two_full_batches_behind_the_claimed_one__asks_for_helpers(waiting, expect_call):
    """The draining job asks for another job (jobs.request_flush_job) only while a real backlog
    waits: two full batches behind the one it just claimed."""
    from messaging import flush
    from tests.delivery import queued_entry

    buffer.push([queued_entry(n) for n in range(waiting)])
    calls = []

    outcome = flush.buffer_drain(budget=30, on_backlog=lambda: calls.append(buffer.read_state().queue_length))

    assert outcome.stored == waiting and Message.objects.count() == waiting
    assert bool(calls) is expect_call
    assert all(left >= 2 * msgbuffer_settings().BATCH_SIZE for left in calls)
