"""Retention (issue 8): `manage.py prune_messages` and the scheduled housekeeping job remove
the messages older than MSGBUFFER_RETENTION_DAYS, in chunks, without making ingest or the
flush wait, and /metrics shows what they removed."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from messaging import buffer, jobs
from messaging.metrics import metrics_exposition
from messaging.models import Message
from messaging.retention import prune_messages
from msgbuffer_site.embedded_redis import free_port
from tests.delivery import start_worker
from tests.support import ROOT, child_env, database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # subprocesses must see committed rows

OLD_ROWS = 20_000


def store(count: int, *, age: timedelta, content: str = "retention test") -> None:
    """`count` stored messages accepted `age` ago (one a second apart, the newest first)."""
    now = datetime.now(UTC)
    rows = [
        Message(
            message_id=uuid.uuid4(),
            user_id=1 + n % 7,
            channel_id=1 + n % 3,
            content=f"{content} {n}",
            created_at=now - age - timedelta(seconds=n),
            inserted_at=now,
        )
        for n in range(count)
    ]
    Message.objects.bulk_create(rows, batch_size=2000)


def older_than(days: int) -> int:
    return Message.objects.filter(created_at__lt=datetime.now(UTC) - timedelta(days=days)).count()


def relation_size(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s)", [table])
        return cursor.fetchone()[0]


def retention(**values):
    return override_settings(MSGBUFFER={**settings.MSGBUFFER, **values})


def metric(name: str) -> float:
    for line in metrics_exposition().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.slow
def test_prune_command__20000_rows_40_days_old__removes_exactly_those_while_posts_get_202(processes, clean_redis):
    store(OLD_ROWS, age=timedelta(days=40))
    store(300, age=timedelta(days=29, hours=23), content="just inside")
    store(200, age=timedelta(minutes=5), content="recent")
    port = free_port()
    processes.web(port)
    start_worker(processes, clean_redis)
    answers: list[int] = []

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

        def post() -> None:
            answers.append(client.post("/messages", json={"user_id": 1, "channel_id": 1, "content": "during"}).status_code)

        post()
        prune = subprocess.Popen(
            [sys.executable, "manage.py", "prune_messages"],
            cwd=ROOT,
            env=child_env(MSGBUFFER_RETENTION_DAYS="30"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        # Post until the prune has ended; note the answers given while its chunks were deleting
        # (buffer.RETENTION_RUNNING is set from just before its first chunk to its end).
        during = []
        while prune.poll() is None:
            deleting = clean_redis.exists(buffer.RETENTION_RUNNING)
            post()
            if deleting and clean_redis.exists(buffer.RETENTION_RUNNING):
                during.append(answers[-1])
        post()
    output = prune.stdout.read().decode()

    assert prune.returncode == 0, output
    assert f"removed {OLD_ROWS} messages" in output
    assert set(answers) == {202}, answers
    assert during and set(during) == {202}, during
    assert older_than(30) == 0
    assert Message.objects.filter(content__startswith="just inside").count() == 300
    assert Message.objects.filter(content__startswith="recent").count() == 200
    wait_for(
        lambda: Message.objects.filter(content="during").count() == len(answers),
        timeout=15,
        message="the posts made during the prune to be stored",
    )
    assert metric("msgbuffer_retention_removed_total") == OLD_ROWS
    assert metric("msgbuffer_retention_running") == 0


def test_prune__in_chunks__removes_older_rows_only_and_metrics_count_them():
    store(1050, age=timedelta(days=8))
    store(40, age=timedelta(days=6))

    with retention(RETENTION_DAYS=7, PRUNE_CHUNK_ROWS=100):
        outcome = prune_messages()

    assert (outcome.removed, outcome.finished) == (1050, True)
    assert Message.objects.count() == 40
    progress = buffer.read_retention_progress()
    assert (progress.removed_total, progress.run_removed, progress.running) == (1050, 1050, False)
    assert progress.last_finished_at > time.time() - 60
    assert metric("msgbuffer_retention_removed_total") == 1050


def test_prune__a_fraction_of_a_day__keeps_minutes():
    """MSGBUFFER_RETENTION_DAYS takes a decimal, so a trial or a soak sees retention act
    within minutes (bench/figures.py's soak keeps ten)."""
    from messaging.conf import from_environment

    store(30, age=timedelta(minutes=20))
    store(20, age=timedelta(minutes=5))

    with retention(**from_environment({"MSGBUFFER_RETENTION_DAYS": "0.01"})):  # 14.4 minutes
        outcome = prune_messages()

    assert outcome.removed == 30
    assert Message.objects.count() == 20


def test_prune__caught_up__vacuums_so_that_new_rows_reuse_the_space():
    """A DELETE frees no space until a VACUUM passes; the prune runs one once it caught up,
    so a table whose rows expire as fast as new ones come stays the same size, whether
    autovacuum is lazy (its default waits for a fifth of the table to be dead) or off."""
    if connection.vendor != "postgresql":
        pytest.skip("VACUUM and relation sizes are PostgreSQL's")
    store(3000, age=timedelta(days=8))
    store(200, age=timedelta(days=1), content="recent")  # the last pages stay: VACUUM cannot just cut the file short
    size = relation_size("messaging_message")

    with retention(RETENTION_DAYS=7):
        outcome = prune_messages()
    store(3000, age=timedelta(hours=1), content="the next day's")

    assert (outcome.removed, outcome.finished) == (3000, True)
    assert outcome.vacuum_seconds is not None
    assert relation_size("messaging_message") <= size


def test_prune__retention_off__removes_nothing():
    store(10, age=timedelta(days=4000))

    with retention(RETENTION_DAYS=0):
        outcome = prune_messages()

    assert (outcome.cutoff, outcome.removed) == (None, 0)
    assert Message.objects.count() == 10


def test_prune__budget_spent__stops_and_says_old_rows_remain():
    store(500, age=timedelta(days=3))

    with retention(RETENTION_DAYS=1, PRUNE_CHUNK_ROWS=100):
        outcome = prune_messages(budget=0.0)  # not even one chunk
        assert (outcome.removed, outcome.finished) == (0, False)
        outcome = prune_messages(should_stop=lambda: Message.objects.count() <= 200)

    assert (outcome.removed, outcome.finished) == (300, False)
    assert Message.objects.count() == 200


def test_prune__table_locked__gives_up_within_its_lock_timeout():
    if connection.vendor != "postgresql":
        pytest.skip("lock_timeout is PostgreSQL's; SQLite has one writer at a time and no lock queue")
    store(50, age=timedelta(days=3))

    with psycopg.connect(database_url()) as other, other.transaction():
        other.execute("LOCK TABLE messaging_message IN SHARE MODE")  # conflicts with DELETE's ROW EXCLUSIVE
        started = time.monotonic()
        with retention(RETENTION_DAYS=1, PRUNE_LOCK_TIMEOUT_MS=50):
            outcome = prune_messages()
        took = time.monotonic() - started

    assert (outcome.removed, outcome.finished) == (0, False)
    assert took < 3  # 4 tries of 50 ms and their back-off, not a wait for the lock
    assert Message.objects.count() == 50


def test_prune_command__retention_off__says_so(capsys):
    from django.core.management import call_command

    with retention(RETENTION_DAYS=0):
        call_command("prune_messages")

    assert "retention is off" in capsys.readouterr().out


def test_schedule_housekeeping__one_job_per_slot_however_many_ask(clean_redis):
    with retention(RETENTION_DAYS=30, HOUSEKEEPING_INTERVAL=600):
        jobs._queue.cache_clear()
        now = time.time()
        assert jobs.schedule_housekeeping(now) is True
        assert jobs.schedule_housekeeping(now) is False
        scheduled = jobs._queue().scheduled_job_registry.get_job_ids()

    assert scheduled == [f"{jobs.HOUSEKEEPING_JOB_PREFIX}{(int(now) // 600 + 1) * 600}"]


@pytest.mark.slow
def test_housekeeping__worker_with_scheduler__prunes_on_its_own(processes, clean_redis):
    store(300, age=timedelta(days=10))
    store(5, age=timedelta(days=1))

    processes.start(
        "worker",
        [sys.executable, "manage.py", "rqworker", "--worker-ttl", "15", "--with-scheduler"],
        child_env(MSGBUFFER_RETENTION_DAYS="2", MSGBUFFER_HOUSEKEEPING_INTERVAL="1"),
    )

    wait_for(lambda: Message.objects.count() == 5, timeout=30, message="the scheduled housekeeping to prune")
    assert buffer.read_retention_progress().removed_total == 300


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"RETENTION_DAYS": -1}, "msgbuffer.E030"),
        ({"HOUSEKEEPING_INTERVAL": 0}, "msgbuffer.E031"),
        ({"PARTITION_BY": "week"}, "msgbuffer.E013"),
    ],
)
def test_settings__retention_and_partitioning_out_of_range__are_check_errors(values, error):
    from messaging.apps import check_msgbuffer_settings

    with retention(**values):
        assert error in {found.id for found in check_msgbuffer_settings()}
    assert error not in {found.id for found in check_msgbuffer_settings()}
