"""messaging/buffer/ and its Lua scripts, against the tests' real Redis.

Each test drives the buffer operations directly (no worker, no web server) and checks
the Redis keys they leave behind, so that a flush test failing elsewhere can be traced
to the buffer or ruled out.
"""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from messaging import buffer
from messaging.schemas import MessageIn
from tests.delivery import wait_past_leases
from tests.support import wait_for

SHORT_LEASE = 0.3  # seconds: lease-expiry tests wait for it, so keep it small


def entry(n: int) -> tuple[str, bytes]:
    """One (message_id, payload) pair as ingest queues it."""
    message_id = str(uuid.uuid4())
    message = MessageIn(user_id=1, channel_id=1, content=f"message {n}")
    return message_id, buffer.queued_payload(message, message_id, datetime.now(UTC).isoformat())


def push_many(count: int) -> list[tuple[str, bytes]]:
    entries = [entry(n) for n in range(count)]
    assert buffer.push(entries).accepted
    return entries


def pending_oldest_first(redis) -> list[bytes]:
    """The waiting payloads, oldest (rightmost) first."""
    return list(reversed(redis.lrange(buffer.PENDING, 0, -1)))


@pytest.fixture
def msgbuffer_conf(settings):
    """Override MSGBUFFER settings for one test (conf.py's cache follows setting_changed)."""

    def apply(**overrides):
        settings.MSGBUFFER = {**settings.MSGBUFFER, **overrides}

    return apply


@pytest.fixture
def short_lease(msgbuffer_conf):
    msgbuffer_conf(CLAIM_LEASE=SHORT_LEASE)


# ---------------------------------------------------------------------------
# push.lua
# ---------------------------------------------------------------------------
def test_push__several_messages__queued_in_order_and_known_as_queued(clean_redis):
    entries = [entry(n) for n in range(3)]

    result = buffer.push(entries)

    assert result.accepted and not result.queue_full and result.queue_length == 3
    assert pending_oldest_first(clean_redis) == [payload for _, payload in entries]
    assert all(buffer.is_queued(message_id) for message_id, _ in entries)


def test_push__would_pass_max_queue__refuses_the_whole_request(clean_redis, msgbuffer_conf):
    msgbuffer_conf(MAX_QUEUE=5)
    first = push_many(3)

    refused = buffer.push([entry(n) for n in range(3)])  # 3 + 3 > 5: none of the three

    assert refused.queue_full and not refused.accepted and refused.queue_length == 3
    assert pending_oldest_first(clean_redis) == [payload for _, payload in first]
    assert clean_redis.hlen(buffer.QUEUED_IDS) == 3
    assert buffer.push([entry(n) for n in range(2)]).accepted  # exactly MAX_QUEUE fits
    assert buffer.push([entry(0)]).queue_full
    assert clean_redis.llen(buffer.PENDING) == 5


def test_push__same_idempotency_key__replays_first_answer_and_queues_nothing(clean_redis):
    first = buffer.push([entry(0)], idempotency_key="k1", response=b'{"first": true}')

    replay = buffer.push([entry(1)], idempotency_key="k1", response=b'{"second": true}')

    assert first.accepted and first.replayed_response is None
    assert not replay.accepted and replay.replayed_response == b'{"first": true}'
    assert clean_redis.llen(buffer.PENDING) == 1
    assert 0 < clean_redis.ttl(buffer.IDEMPOTENCY_PREFIX + "k1") <= 24 * 3600


def test_push__first_message__asks_for_one_flush_job_only(clean_redis):
    assert buffer.push([entry(0)]).flush_job_requested
    assert not buffer.push([entry(1)]).flush_job_requested  # a job is already asked for

    buffer.flush_job_started()  # the job runs: it is active, no longer waiting

    assert not buffer.push([entry(2)]).flush_job_requested  # the active job will take it


def test_push__full_batch_while_a_job_is_active__wakes_it_and_asks_for_a_helper(clean_redis):
    buffer.flush_job_started()
    push_many(49)
    assert clean_redis.llen(buffer.WAKEUP) == 0

    result = buffer.push([entry(49)])

    assert clean_redis.llen(buffer.WAKEUP) == 1
    assert result.flush_job_requested  # a full batch waits: another worker may help


# ---------------------------------------------------------------------------
# claim.lua
# ---------------------------------------------------------------------------
def test_claim__full_only_with_a_partial_batch__claims_nothing(clean_redis):
    push_many(49)

    assert buffer.claim(full_only=True) is None
    assert clean_redis.llen(buffer.PENDING) == 49
    assert clean_redis.zcard(buffer.LEASES) == 0


def test_claim__full_only_with_more_than_a_batch__claims_the_oldest_fifty(clean_redis):
    entries = push_many(120)

    claim = buffer.claim(full_only=True)

    assert claim.payloads == [payload for _, payload in entries[:50]]
    assert claim.messages_left == 70
    assert int(clean_redis.get(buffer.IN_FLIGHT)) == 50
    assert clean_redis.zscore(buffer.LEASES, claim.batch_id) is not None
    assert clean_redis.lrange(buffer.CLAIM_PREFIX + claim.batch_id, 0, -1) == claim.payloads


def test_claim__partial__takes_everything_waiting_oldest_first(clean_redis):
    entries = push_many(7)

    claim = buffer.claim(full_only=False)

    assert claim.payloads == [payload for _, payload in entries]
    assert claim.messages_left == 0
    assert buffer.claim(full_only=False) is None


# ---------------------------------------------------------------------------
# ack.lua
# ---------------------------------------------------------------------------
def ack_all(claim: buffer.Claim, *, ids: list[str], dead_letters=()) -> bool:
    return buffer.ack(
        claim.batch_id,
        stored=len(ids),
        message_ids=ids,
        latencies_ms=[12.5] * len(ids),
        dead_letters=list(dead_letters),
    )


def test_ack__live_lease__settles_the_batch_and_counts_it_once(clean_redis):
    entries = push_many(3)
    claim = buffer.claim(full_only=False)
    ids = [message_id for message_id, _ in entries]

    assert ack_all(claim, ids=ids)
    assert not ack_all(claim, ids=ids)  # a second ack of the same batch counts nothing

    state = buffer.read_state()
    assert (state.total_messages, state.total_batches, state.in_flight, state.batches_in_flight) == (3, 1, 0, 0)
    assert state.latencies_ms == [12.5] * 3
    assert state.current_rps > 0
    assert state.last_batch["batch_id"] == claim.batch_id and state.last_batch["size"] == "3"
    assert not clean_redis.exists(buffer.CLAIM_PREFIX + claim.batch_id)
    assert not any(buffer.is_queued(message_id) for message_id in ids)


def test_ack__lease_expired_and_batch_requeued__is_a_no_op_that_counts_nothing(clean_redis, short_lease):
    entries = push_many(3)
    claim = buffer.claim(full_only=False)
    wait_for(lambda: buffer.requeue_expired() == (1, 3), timeout=5, message="the lease to expire and be recovered")

    settled = ack_all(claim, ids=[message_id for message_id, _ in entries])

    assert not settled
    state = buffer.read_state()
    assert (state.total_messages, state.total_batches, state.current_rps, state.latencies_ms) == (0, 0, 0.0, [])
    assert state.in_flight == 0 and state.batches_in_flight == 0
    assert pending_oldest_first(clean_redis) == [payload for _, payload in entries]
    assert all(buffer.is_queued(message_id) for message_id, _ in entries)  # still waiting to be stored


def test_ack__lease_expired_but_not_yet_recovered__the_holder_still_settles_once(clean_redis, short_lease):
    # Nobody took the batch back, so the late holder's commit is the only one: it counts.
    entries = push_many(2)
    claim = buffer.claim(full_only=False)
    wait_past_leases(clean_redis)

    assert ack_all(claim, ids=[message_id for message_id, _ in entries])
    assert buffer.requeue_expired() == (0, 0)
    assert buffer.read_state().total_messages == 2 and clean_redis.llen(buffer.PENDING) == 0


def test_ack__with_dead_letters__parks_them_with_their_reason(clean_redis):
    entries = push_many(2)
    claim = buffer.claim(full_only=False)

    assert ack_all(claim, ids=[entries[0][0]], dead_letters=[(entries[1][1], "refused: test")])

    (dead,) = buffer.dead_letter_list()
    assert dead["payload"] == entries[1][1].decode() and dead["reason"] == "refused: test"
    assert dead["batch_id"] == claim.batch_id and dead["id"] and dead["failed_at"]
    assert buffer.read_state().total_messages == 1


# ---------------------------------------------------------------------------
# requeue.lua
# ---------------------------------------------------------------------------
def test_requeue_expired__several_expired_batches__restores_the_original_order(clean_redis, short_lease):
    entries = push_many(120)
    claims = [buffer.claim(full_only=True), buffer.claim(full_only=True)]
    assert all(claims)

    wait_past_leases(clean_redis)

    assert buffer.requeue_expired() == (2, 100)  # in one call: the order between batches matters
    assert pending_oldest_first(clean_redis) == [payload for _, payload in entries]
    assert buffer.read_state().in_flight == 0
    assert not any(clean_redis.exists(buffer.CLAIM_PREFIX + claim.batch_id) for claim in claims)


def test_requeue_expired__live_lease__leaves_it_alone(clean_redis):
    push_many(3)
    claim = buffer.claim(full_only=False)

    assert buffer.requeue_expired() == (0, 0)
    assert clean_redis.zscore(buffer.LEASES, claim.batch_id) is not None


def test_release__failed_flush__gives_the_batch_back_as_the_oldest(clean_redis):
    entries = push_many(60)
    claim = buffer.claim(full_only=True)
    push_many(1)

    assert buffer.release(claim.batch_id) == 50
    assert buffer.release(claim.batch_id) == 0  # already given back

    assert pending_oldest_first(clean_redis)[:60] == [payload for _, payload in entries]
    assert buffer.read_state().in_flight == 0 and clean_redis.zcard(buffer.LEASES) == 0


# ---------------------------------------------------------------------------
# finish.lua
# ---------------------------------------------------------------------------
def test_flush_job_may_finish__only_when_nothing_waits_and_nothing_is_claimed(clean_redis):
    push_many(1)
    buffer.flush_job_started()
    assert not buffer.flush_job_may_finish()

    claim = buffer.claim(full_only=False)
    assert not buffer.flush_job_may_finish()  # a claim is still out

    ack_all(claim, ids=[])
    assert buffer.flush_job_may_finish()
    assert not clean_redis.exists(buffer.FLUSH_ACTIVE)


# ---------------------------------------------------------------------------
# Dead letters
# ---------------------------------------------------------------------------
def dead_letter(clean_redis, payload: bytes, reason: str = "test") -> dict:
    """Park a payload the way a flush job does: claimed, then settled as a dead letter."""
    buffer.push_raw(payload)
    claim = buffer.claim(full_only=False)
    ack_all(claim, ids=[], dead_letters=[(payload, reason)])
    return buffer.dead_letter_list()[0]


def test_dead_letter_requeue__puts_the_payload_back_as_the_oldest_and_queued(clean_redis):
    message_id, payload = entry(0)
    parked = dead_letter(clean_redis, payload)
    newer = push_many(2)

    assert buffer.dead_letter_requeue({parked["id"]}) == 1
    assert buffer.dead_letter_requeue({parked["id"]}) == 0  # gone from the list: not twice

    assert buffer.dead_letter_list() == []
    assert pending_oldest_first(clean_redis) == [payload] + [p for _, p in newer]
    assert buffer.is_queued(message_id)


def test_dead_letter_discard__removes_only_the_named_ones(clean_redis):
    first = dead_letter(clean_redis, b"not json")
    second = dead_letter(clean_redis, b"[1, 2]")

    assert buffer.dead_letter_discard({first["id"], "no-such-id"}) == 1

    assert [dead["id"] for dead in buffer.dead_letter_list()] == [second["id"]]
    assert clean_redis.llen(buffer.PENDING) == 0


# ---------------------------------------------------------------------------
# The queued-message format (message_format.py)
# ---------------------------------------------------------------------------
def test_queued_payload__exactly_queued_messages_fields__reads_back_as_written():
    message_id, accepted = str(uuid.uuid4()), datetime.now(UTC)
    payload = buffer.queued_payload(MessageIn(user_id=3, channel_id=4, content="hi"), message_id, accepted.isoformat())

    assert set(json.loads(payload)) == set(buffer.QueuedMessage.model_fields)
    queued = buffer.QueuedMessage.model_validate_json(payload)
    assert (str(queued.message_id), queued.user_id, queued.channel_id, queued.content, queued.created_at) == (
        message_id,
        3,
        4,
        "hi",
        accepted,
    )
    assert buffer.accepted_at(payload) == accepted


@pytest.mark.parametrize("payload", [b"not json", b"[1]", b"{}", b'{"created_at": 5}', b'{"created_at": "yesterday"}'])
def test_accepted_at__unreadable_payload__none(payload):
    assert buffer.accepted_at(payload) is None


def test_lua_scripts__name_no_field_of_a_queued_message_or_dead_letter():
    """They are given the names by Python (dead_letter_take.lua's ARGV), so a renamed field
    cannot leave a script reading the old one."""
    fields = set(buffer.QueuedMessage.model_fields) | {"payload"}
    scripts = sorted(Path(buffer.__file__).with_name("lua").glob("*.lua"))

    assert scripts
    for script in scripts:
        code = "\n".join(line.split("--", 1)[0] for line in script.read_text().splitlines())
        assert [field for field in fields if f"'{field}'" in code or f'"{field}"' in code] == [], script.name
