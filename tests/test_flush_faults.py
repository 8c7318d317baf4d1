"""SPEC §5 invariants 1, 2 and 5 under faults: workers SIGKILLed mid-batch, PostgreSQL
stopped and restarted, workers racing, poison in the queue, a full queue, a zombie
worker settling a batch whose lease it lost, a flush job asked for but never enqueued.

Each test starts what it breaks (workers, web server, a private PostgreSQL cluster) and
checks the outcome and the exact rows: every accepted message_id stored once, nothing
else stored, total_messages equal to the row count, the buffer idle.
"""

import math
import random
import time

import django_rq
import httpx
import pytest
from django.db import connection
from rq.job import Job

from messaging import buffer, flush, jobs
from messaging.conf import msgbuffer_settings
from messaging.models import Message
from tests.delivery import (
    IngestClient,
    assert_stored_exactly_once,
    message_body,
    messages_table_locked,
    queued_entry,
    row_count,
    start_worker,
    stored_ids,
    wait_for_insert_blocked,
    wait_past_leases,
    wait_until_stored,
)
from tests.support import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ingest():
    client = IngestClient()
    yield client
    client.close()


def worker_logs(processes) -> str:
    return "\n".join(processes.log(p) for p in processes.running if "worker" in p.log_path)


def recovery_log_lines(processes) -> list[str]:
    return [line for line in worker_logs(processes).splitlines() if "expired claim" in line]


# ---------------------------------------------------------------------------
# a. Workers SIGKILLed
# ---------------------------------------------------------------------------
def test_flush__worker_sigkilled_mid_batch_repeatedly__every_message_stored_once(processes, clean_redis, ingest):
    total, kills = 10_000, 6
    lease_ms = msgbuffer_settings().CLAIM_LEASE * 1000
    rng = random.Random()
    worker = start_worker(processes, clean_redis)
    load = ingest.start_load(total=total, rate=700, per_request=20)

    for _ in range(kills):
        started_ms = redis_now_ms(clean_redis)
        # A claim made by this worker (a lease later than any an earlier worker could hold):
        # the kill lands before, during or after its INSERT, or between commit and ack.
        wait_for(
            lambda started_ms=started_ms: newest_lease_ms(clean_redis) > started_ms + lease_ms,
            timeout=30,
            interval=0.002,
            message="the worker to claim a batch",
        )
        time.sleep(rng.uniform(0, 0.004))  # fault injection: a random moment in the batch (a few ms long)
        processes.kill(worker)
        worker = start_worker(processes, clean_redis)

    load.result(timeout=120)
    wait_until_stored(row_count, total, timeout=60, processes=processes)
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches >= math.ceil(total / msgbuffer_settings().BATCH_SIZE)
    assert recovery_log_lines(processes), "no kill left a claim behind: the test did not exercise recovery"


def redis_now_ms(redis) -> float:
    seconds, microseconds = redis.time()
    return seconds * 1000 + microseconds / 1000


def newest_lease_ms(redis) -> float:
    newest = redis.zrange(buffer.LEASES, -1, -1, withscores=True)
    return newest[0][1] if newest else 0.0


def test_flush__worker_killed_holding_a_claim__restarted_worker_recovers_it_without_new_messages(processes, clean_redis, ingest):
    worker = start_worker(processes, clean_redis)
    with messages_table_locked():
        ingest.post_bulk(50)
        wait_for_insert_blocked(50)
        processes.kill(worker)  # dies holding the claim, its INSERT never committed
    assert clean_redis.zcard(buffer.LEASES) == 1

    start_worker(processes, clean_redis)  # nothing new is posted: only its start-up kick can help

    wait_until_stored(row_count, 50, timeout=msgbuffer_settings().CLAIM_LEASE + 10, processes=processes)
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches == 1
    assert recovery_log_lines(processes)


def test_flush__flush_job_asked_for_but_never_enqueued__a_running_worker_still_flushes(processes, clean_redis):
    """A web process that dies between push.lua (which sets the flush:queued flag) and
    enqueueing the RQ job leaves accepted messages that no job will come for."""
    start_worker(processes, clean_redis)
    wait_for(
        lambda: not clean_redis.exists(buffer.FLUSH_QUEUED, buffer.FLUSH_ACTIVE),
        timeout=10,
        message="the worker's start-up flush job to finish",
    )
    entries = [queued_entry(n) for n in range(3)]

    asked = buffer.push(entries)  # ...and the web process dies before enqueueing

    assert asked.accepted and asked.flush_job_requested
    wait_until_stored(row_count, 3, timeout=msgbuffer_settings().FLUSH_INTERVAL + 10, processes=processes)
    assert_stored_exactly_once([message_id for message_id, _ in entries], stored_ids())


def test_flush__flush_job_asked_for_but_never_enqueued__a_starting_worker_flushes(processes, clean_redis):
    entries = [queued_entry(n) for n in range(3)]
    assert buffer.push(entries).flush_job_requested  # nobody enqueues the job

    start_worker(processes, clean_redis)

    wait_until_stored(row_count, 3, timeout=msgbuffer_settings().FLUSH_INTERVAL + 10, processes=processes)
    assert_stored_exactly_once([message_id for message_id, _ in entries], stored_ids())


# ---------------------------------------------------------------------------
# b. PostgreSQL stopped and restarted
# ---------------------------------------------------------------------------
def test_flush__postgres_stopped_then_restarted__every_message_stored_once(private_postgres, processes, clean_redis, ingest):
    total, rate = 4000, 250  # 16 s of load, the outage in the middle of it
    start_worker(processes, clean_redis, DATABASE_URL=private_postgres.url)
    db = private_postgres.connect()
    load = ingest.start_load(total=total, rate=rate, per_request=10)

    wait_for(lambda: count_rows(db) >= 500, timeout=30, message="rows before the outage")
    db.close()
    private_postgres.stop("fast")  # disconnects the worker, aborting whatever it was writing
    accepted_before = len(ingest.accepted)
    # Down for about ten seconds of traffic: ingest keeps accepting, the worker keeps retrying.
    wait_for(
        lambda: len(ingest.accepted) >= accepted_before + 10 * rate,
        timeout=30,
        interval=0.1,
        message="ten seconds of traffic during the outage",
    )
    assert buffer.read_state().queue_length > 0
    private_postgres.start()

    load.result(timeout=60)
    db = private_postgres.connect()
    wait_until_stored(lambda: count_rows(db), total, timeout=60, processes=processes)
    rows = [row[0] for row in db.execute("SELECT message_id FROM messaging_message")]
    db.close()
    assert_stored_exactly_once(ingest.accepted, rows)
    assert "database unavailable" in worker_logs(processes)


def count_rows(db) -> int:
    return db.execute("SELECT count(*) FROM messaging_message").fetchone()[0]


# ---------------------------------------------------------------------------
# c. Workers racing
# ---------------------------------------------------------------------------
def test_flush__three_workers_racing__every_message_stored_once(processes, clean_redis, ingest):
    total = 6000
    for _ in range(3):
        start_worker(processes, clean_redis)

    ingest.start_load(total=total, rate=3000, per_request=50).result(timeout=60)

    wait_until_stored(row_count, total, timeout=60, processes=processes)
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches >= total // msgbuffer_settings().BATCH_SIZE
    if connection.vendor == "postgresql":
        # inserted_at is the transaction's start time: one value per committed batch.
        batches = Message.objects.values("inserted_at").distinct().count()
        assert state.total_batches == batches
    # A job is recorded as finished just after its last batch is settled.
    wait_for(lambda: len(workers_that_stored()) >= 2, timeout=10, message="two workers' jobs to have stored messages (a race)")


def test_flush__backlog_with_no_new_traffic__two_workers_drain_it_once(processes, clean_redis):
    """A backlog (after an outage, say) gets every worker, not only the one whose job
    found it (flush.buffer_drain's on_backlog, tested in-process in test_flush.py)."""
    total = 10_000
    for _ in range(2):
        start_worker(processes, clean_redis)  # both idle: nothing waits yet
    accepted = []
    for start in range(0, total, 1000):
        entries = [queued_entry(n) for n in range(start, start + 1000)]
        buffer.push(entries)
        accepted += [message_id for message_id, _ in entries]
    clean_redis.delete(buffer.FLUSH_QUEUED)
    assert jobs.request_flush_job()  # one job, as one accepted message would ask for

    wait_until_stored(row_count, total, timeout=60, processes=processes)
    assert_stored_exactly_once(accepted, stored_ids())
    # A job is recorded as finished just after its last batch is settled.
    wait_for(lambda: len(workers_that_stored()) == 2, timeout=10, message="both workers' jobs to have stored messages")


def workers_that_stored() -> set[str]:
    """Names of the workers whose finished flush jobs stored something (RQ keeps results)."""
    queue = django_rq.get_queue(msgbuffer_settings().RQ_QUEUE)
    jobs = Job.fetch_many(queue.finished_job_registry.get_job_ids(), connection=queue.connection)
    return {job.worker_name for job in jobs if job is not None and (job.return_value() or {}).get("stored")}


# ---------------------------------------------------------------------------
# d. Poison
# ---------------------------------------------------------------------------
POISON = {
    "not JSON": (b"this is not json {", "invalid message"),
    "JSON, not an object": (b"[1, 2, 3]", "invalid message"),
    "invalid UTF-8": (b'{"content": "\xff\xfe"}', "invalid message"),
    "missing fields": (b'{"user_id": 1}', "invalid message"),
    "user_id as a string": (queued_entry(0, user_id="12")[1], "user_id"),
    "float channel_id": (queued_entry(0, channel_id=1.5)[1], "channel_id"),
    "bool user_id": (queued_entry(0, user_id=True)[1], "user_id"),
    "user_id over 2^63-1": (queued_entry(0, user_id=2**63)[1], "user_id"),
    "NUL in content": (queued_entry(0, content="nul \x00 inside")[1], "content"),
    "lone surrogate": (queued_entry(0, content="x")[1].replace(b'"x"', b'"\\ud800"'), "invalid message"),
    "empty content": (queued_entry(0, content="   ")[1], "content"),
    "content over 2000 chars": (queued_entry(0, content="y" * 2001)[1], "content"),
    "bad message_id": (queued_entry(0, message_id="nope")[1], "message_id"),
    "created_at without a time zone": (queued_entry(0, created_at="2024-05-01T12:00:00")[1], "created_at"),
    "created_at out of range in UTC": (queued_entry(0, created_at="0001-01-01T00:00:00+05:00")[1], "created_at"),
}


def test_flush__poison_mixed_with_valid_messages__dead_lettered_with_reasons_and_valid_all_stored(processes, clean_redis):
    valid, pushed = [], []
    for n in range(60):  # poison scattered through two batches and the partial one after them
        message_id, payload = queued_entry(n)
        valid.append(message_id)
        pushed.append(payload)
        if n % 4 == 0 and n // 4 < len(POISON):
            pushed.append(list(POISON.values())[n // 4][0])
    for payload in pushed:
        buffer.push_raw(payload)

    start_worker(processes, clean_redis)  # its start-up kick flushes what push_raw queued

    wait_until_stored(row_count, len(valid), timeout=msgbuffer_settings().FLUSH_INTERVAL + 10, processes=processes)
    assert_stored_exactly_once(valid, stored_ids())
    # Dead letters hold payloads as text (bytes that are not UTF-8 as backslash escapes).
    dead = {entry["payload"]: entry for entry in buffer.dead_letter_list()}
    assert len(dead) == len(POISON) == buffer.read_state().dead_letters
    for name, (payload, reason_mentions) in POISON.items():
        key = payload.decode("utf-8", "backslashreplace")
        assert key in dead, f"{name}: not dead-lettered"
        assert reason_mentions in dead[key]["reason"], f"{name}: reason {dead[key]['reason']!r}"
    assert not clean_redis.llen(buffer.PENDING)


def test_flush__dead_letter_requeued__valid_one_stored_once_poison_parked_again(processes, clean_redis):
    good_id, good = queued_entry(1)
    poison = POISON["bool user_id"][0]
    for payload in (good, poison):
        buffer.push_raw(payload)
    claim = buffer.claim(full_only=False)
    # Park both as a flush job would (the good one refused, say, by an older release).
    buffer.ack(
        claim.batch_id,
        stored=0,
        message_ids=[],
        latencies_ms=[],
        dead_letters=[(good, "refused by the database: test"), (poison, "invalid message: test")],
    )
    parked = {entry["payload"]: entry["id"] for entry in buffer.dead_letter_list()}

    assert buffer.dead_letter_requeue(set(parked.values())) == 2
    start_worker(processes, clean_redis)

    wait_until_stored(row_count, 1, timeout=msgbuffer_settings().FLUSH_INTERVAL + 10, processes=processes)
    state = assert_stored_exactly_once([good_id], stored_ids())
    assert state.total_batches == 1
    (again,) = buffer.dead_letter_list()
    assert again["payload"] == poison.decode() and "user_id" in again["reason"]
    assert not buffer.is_queued(good_id)


# ---------------------------------------------------------------------------
# e. Queue full
# ---------------------------------------------------------------------------
def test_ingest__queue_at_max_queue__refuses_whole_requests_until_a_worker_drains(processes, web_port, clean_redis):
    processes.web(web_port, MSGBUFFER_MAX_QUEUE="100")  # and no worker yet
    accepted = []

    def post(path, count):
        body = {"messages": [message_body(n) for n in range(count)]} if path.endswith("bulk") else message_body(0)
        response = http.post(path, json=body)
        if response.status_code == 202:
            answer = response.json()
            accepted.extend(answer.get("message_ids") or [answer["message_id"]])
        return response

    def assert_queue_full(response):
        assert response.status_code == 503 and response.json()["error"] == "queue_full", response.text
        assert int(response.headers["Retry-After"]) > 0

    with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=10) as http:
        assert post("/messages/bulk", 60).status_code == 202
        assert_queue_full(post("/messages/bulk", 41))  # 60 + 41 > 100: none of the 41
        assert clean_redis.llen(buffer.PENDING) == 60
        assert post("/messages/bulk", 40).status_code == 202  # exactly 100
        assert_queue_full(post("/messages", 1))
        assert_queue_full(post("/messages/bulk", 1))
        assert clean_redis.llen(buffer.PENDING) == 100 == clean_redis.hlen(buffer.QUEUED_IDS) == len(accepted)

        start_worker(processes, clean_redis)
        wait_until_stored(row_count, 100, timeout=msgbuffer_settings().FLUSH_INTERVAL + 10, processes=processes)
        assert post("/messages", 1).status_code == 202
        assert post("/messages/bulk", 99).status_code == 202

    wait_until_stored(row_count, 200, timeout=msgbuffer_settings().FLUSH_INTERVAL + 10, processes=processes)
    assert_stored_exactly_once(accepted, stored_ids())


# ---------------------------------------------------------------------------
# f. Zombie workers
# ---------------------------------------------------------------------------
def test_flush__zombie_flushes_after_its_batch_was_recovered_and_stored__rows_and_counters_once(processes, clean_redis, ingest):
    ingest.post_bulk(30)
    stale = buffer.claim(full_only=False)  # the zombie's claim: it then stalls past its lease
    assert len(stale.payloads) == 30
    wait_past_leases(clean_redis)
    start_worker(processes, clean_redis)  # recovers the expired claim and stores it
    wait_until_stored(row_count, 30, timeout=10, processes=processes)

    outcome = flush.batch_flush(stale)  # the zombie wakes up and finishes its batch

    assert not outcome.settled
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches == 1


def test_flush__zombie_commits_before_the_recovered_copy_is_flushed__rows_and_counters_once(processes, clean_redis, ingest):
    ingest.post_bulk(30)
    stale = buffer.claim(full_only=False)
    wait_past_leases(clean_redis)
    assert buffer.requeue_expired() == (1, 30)  # recovered, as another worker's job would

    outcome = flush.batch_flush(stale)  # the zombie commits the rows, but may not count them

    assert not outcome.settled and row_count() == 30
    assert buffer.read_state().total_messages == 0
    start_worker(processes, clean_redis)  # flushes the recovered copy: no new rows, counted once
    wait_for(lambda: buffer.read_state().total_messages == 30, timeout=10, message="the recovered copy to be settled")
    wait_until_stored(row_count, 30, timeout=10, processes=processes)
    state = assert_stored_exactly_once(ingest.accepted, stored_ids())
    assert state.total_batches == 1
