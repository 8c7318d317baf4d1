"""RQ jobs: the edge between `manage.py rqworker` and the flush service.

A flush job drains the buffer for up to FLUSH_JOB_BUDGET seconds (flush.buffer_drain),
then requests a fresh job if work is left, so RQ's timeouts, heartbeats and warm
shutdown keep working.

One verb for "make sure a flush job exists": request. Requesting has two halves: the
buffer marks the job requested (a flag in Redis, so many askers make one job), then the
asker enqueues it on RQ. Ingest's push.lua marks it when a push needs a job (services.py
then enqueues); a draining job requests its successor, and while a backlog grows, help;
every worker requests one when it starts and, while idle, whenever work is left
unattended (worker.py): that recovers what a killed worker held, or a job whose asker died.

The housekeeping job (partitions ahead, retention) runs every HOUSEKEEPING_INTERVAL seconds on RQ's own
scheduler, which `rqworker --with-scheduler` (the Procfile's worker) forks and stops with
the worker; of several workers, one holds the scheduler's lock. RQ 3's cron
(`manage.py rqcron`) would be a process of its own, with no lock against a second copy;
rq.Repeat needs a finite count. So each run is one scheduled job whose id names its time
slot: every run first schedules the next slot, and every worker, when it starts and while
idle, schedules it if it is missing. Whoever gets there first, the slot's id makes it one job.
"""

import logging
import threading
import time
from datetime import UTC, datetime
from functools import cache

import django_rq
from django.db import close_old_connections
from rq.job import Job

from . import buffer, flush, partitions, retention
from .conf import msgbuffer_settings

log = logging.getLogger(__name__)

# The job's input from its worker: set on a warm shutdown (worker.FlushWorker.request_stop),
# so that a running drain stops after its batch.
stop_requested = threading.Event()


def flush_job() -> dict:
    """The RQ job: drain the buffer into the database."""
    close_old_connections()
    try:
        outcome = flush.buffer_drain(
            budget=msgbuffer_settings().FLUSH_JOB_BUDGET,
            should_stop=stop_requested.is_set,
            on_backlog=request_flush_job,  # a backlog with no new traffic: let idle workers join in
        )
    finally:
        close_old_connections()
    if not outcome.finished:
        request_flush_job()
    return {"batches": outcome.batches, "stored": outcome.stored, "finished": outcome.finished, "paused": outcome.paused}


# The job's name before it was renamed: RQ stores the function's dotted path in each job,
# so a job enqueued by the previous release (messaging.jobs.flush_pending) still runs.
flush_pending = flush_job


@cache
def _queue():
    return django_rq.get_queue(msgbuffer_settings().RQ_QUEUE)


def enqueue_requested_flush_job() -> None:
    """Put one flush job on the RQ queue; the caller has marked it requested."""
    budget = msgbuffer_settings().FLUSH_JOB_BUDGET
    _queue().enqueue(
        flush_job,
        job_timeout=int(budget * 6 + 60),  # a drain stops itself at its budget; this is the backstop
        result_ttl=60,
        failure_ttl=7 * 24 * 3600,
        description="msgbuffer: flush the Redis buffer into the database",
    )


def request_flush_job() -> bool:
    """Request a flush job unless one is already requested; True if one was enqueued."""
    if buffer.mark_flush_job_requested():
        enqueue_requested_flush_job()
        return True
    return False


def request_flush_job_if_unattended() -> bool:
    """Enqueue a flush job when work waits or is claimed and no job is active; True if one was.

    request_flush_job trusts the requested mark; this does not when RQ holds no job: the
    web process that marked it may have died (or failed to reach RQ) before enqueueing,
    and then no job would come until a new message arrived. Idle workers call this every
    few seconds (worker.py). A job too many is harmless: it finds nothing and finishes.
    """
    if not buffer.flush_work_unattended():
        return False
    if request_flush_job():
        return True
    if _queue().count == 0:  # marked requested, yet no job waits
        enqueue_requested_flush_job()
        return True
    return False


HOUSEKEEPING_JOB_PREFIX = "msgbuffer-housekeeping-"


def housekeeping_wanted() -> bool:
    conf = msgbuffer_settings()
    return bool(conf.RETENTION_DAYS or conf.PARTITION_BY)


def schedule_housekeeping(now: float | None = None) -> bool:
    """Make sure the next slot's housekeeping job is scheduled; True if this call did it."""
    interval = msgbuffer_settings().HOUSEKEEPING_INTERVAL
    slot = (int(time.time() if now is None else now) // interval + 1) * interval
    job_id = f"{HOUSEKEEPING_JOB_PREFIX}{slot}"
    queue = _queue()
    if Job.exists(job_id, connection=queue.connection):
        return False
    queue.enqueue_at(
        datetime.fromtimestamp(slot, UTC),
        housekeeping_job,
        job_id=job_id,
        job_timeout=int(msgbuffer_settings().FLUSH_JOB_BUDGET * 6 + 60),
        result_ttl=interval,
        failure_ttl=7 * 24 * 3600,
        description="msgbuffer: housekeeping (partitions ahead, retention)",
    )
    return True


def housekeeping_job() -> dict:
    """The scheduled RQ job: prune for one budget (as long as a flush job drains), then hand
    over to a fresh job if old rows are left, so that flush jobs queued meanwhile go first."""
    schedule_housekeeping()  # first: a run that fails or is killed does not end the schedule
    close_old_connections()
    try:
        partitions.create_ahead()
        outcome = retention.prune_messages(budget=msgbuffer_settings().FLUSH_JOB_BUDGET, should_stop=stop_requested.is_set)
    finally:
        close_old_connections()
    if not outcome.finished and outcome.removed and not stop_requested.is_set():
        _queue().enqueue(
            housekeeping_job, result_ttl=60, failure_ttl=7 * 24 * 3600, description="msgbuffer: housekeeping, continued"
        )
    return {"removed": outcome.removed, "finished": outcome.finished}
