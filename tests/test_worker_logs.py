"""What a worker prints (issue 11, "a quiet make run"): RQ's per-job lines at DEBUG, RQ's
warnings and errors as they were, and one status line per MSGBUFFER_STATUS_LOG_INTERVAL.

Real `manage.py rqworker` subprocesses with LOG_FORMAT=json, so each line's level and
logger are read, not guessed; the jobs are found by their ids, not by RQ's wording, so a
new RQ release that words its per-job lines differently still fails here.
"""

from __future__ import annotations

import json
import logging
import sys

import django_rq
import pytest
from rq.registry import FinishedJobRegistry

from messaging import buffer
from messaging.status_line import StatusLine, render
from tests.delivery import IngestClient, row_count, start_worker, wait_until_stored
from tests.support import child_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the worker subprocess must see committed rows

QUIET_WORKER = {"LOG_FORMAT": "json", "MSGBUFFER_STATUS_LOG_INTERVAL": "1"}


@pytest.fixture
def ingest():
    client = IngestClient()
    yield client
    client.close()


def events(processes, worker) -> list[dict]:
    found = []
    for line in processes.log(worker).splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # Django's own start-up text, if any
            continue
        if isinstance(event, dict) and "level" in event:
            found.append(event)
    return found


def finished_flush_job_ids() -> set[str]:
    queue = django_rq.get_queue("default")
    return set(FinishedJobRegistry(queue=queue).get_job_ids())


def lines_naming(job_ids: set[str], found: list[dict]) -> list[dict]:
    return [event for event in found if any(job_id in event["message"] for job_id in job_ids)]


def status_lines(found: list[dict]) -> list[dict]:
    return [event for event in found if event["logger"] == "messaging.status"]


def store(ingest, processes, count: int) -> None:
    for start in range(0, count, 100):
        ingest.post_bulk(min(100, count - start))
    wait_until_stored(row_count, count, timeout=30, processes=processes)


def test_worker__flush_jobs__rq_per_job_lines_not_info_and_a_status_line_with_the_figures(processes, clean_redis, ingest):
    worker = start_worker(processes, clean_redis, **QUIET_WORKER)

    store(ingest, processes, 120)
    jobs = wait_for(finished_flush_job_ids, timeout=15, message="a finished flush job")
    status = wait_for(
        lambda: [e for e in status_lines(events(processes, worker)) if e["total_messages"] == 120],
        timeout=20,
        message="a status line counting the 120 stored messages",
    )

    found = events(processes, worker)
    assert any(e["logger"] == "rq.worker" and e["level"] == "INFO" for e in found), "the worker's start is still INFO"
    assert not [e for e in lines_naming(jobs, found) if e["level"] != "DEBUG"], "a per-job line above DEBUG"
    line = status[-1]
    assert line["level"] == "INFO"
    assert (line["queue_length"], line["in_flight"], line["dead_letters"], line["workers"]) == (0, 0, 0, 1)
    assert line["message"].startswith("120 messages stored")
    assert "1 worker" in line["message"]


def test_worker__verbosity_2__per_job_lines_shown_at_debug(processes, clean_redis, ingest):
    argv = [sys.executable, "manage.py", "rqworker", "--worker-ttl", "15", "-v", "2"]
    before = set(clean_redis.zrange(buffer.WORKERS, 0, -1))
    worker = processes.start("worker", argv, child_env(**QUIET_WORKER))
    wait_for(lambda: set(clean_redis.zrange(buffer.WORKERS, 0, -1)) - before, timeout=30, message="the worker to start")

    store(ingest, processes, 60)
    jobs = wait_for(finished_flush_job_ids, timeout=15, message="a finished flush job")

    def job_ok_lines():
        return [e for e in lines_naming(jobs, events(processes, worker)) if "Job OK" in e["message"]]

    (job_ok, *_) = wait_for(job_ok_lines, timeout=10, message="RQ's 'Job OK' line at -v 2")
    assert (job_ok["level"], job_ok["logger"]) == ("DEBUG", "rq.worker")


def test_worker__failing_job__rq_error_still_logged(processes, clean_redis):
    worker = start_worker(processes, clean_redis, **QUIET_WORKER)

    job = django_rq.get_queue("default").enqueue("math.sqrt", -1)  # ValueError: math domain error

    def error_lines():
        return [e for e in lines_naming({job.id}, events(processes, worker)) if e["level"] in {"WARNING", "ERROR"}]

    found = wait_for(error_lines, timeout=20, message="RQ's error line for the failed job")
    assert any(e["logger"] == "rq.worker" for e in found)


def test_status_line__interval_0__never_logs(caplog):
    line = StatusLine(0)
    line.due_at = 0.0  # long past

    with caplog.at_level(logging.INFO, logger="messaging.status"):
        line.log_if_due()

    assert not caplog.records


def test_status_line__due__one_line_from_the_stats_then_not_before_the_interval(caplog, clean_redis):
    line = StatusLine(3600)
    line.due_at = 0.0

    with caplog.at_level(logging.INFO, logger="messaging.status"):
        line.log_if_due()
        line.log_if_due()

    (record,) = caplog.records
    assert (record.total_messages, record.queue_length, record.workers, record.stored_per_second) == (0, 0, 0, None)


def test_status_line__render__figures_in_words():
    text = render(
        {
            "total_messages": 1234567,
            "stored_per_second": 998.04,
            "queue_length": 12,
            "in_flight": 50,
            "oldest_message_age_s": 0.42,
            "dead_letters": 0,
            "workers": 2,
        }
    )

    assert text == (
        "1,234,567 messages stored (998.0/s since the last line); queue 12 waiting, 50 in flight, oldest 0.4 s; "
        "0 dead letters; 2 workers"
    )
