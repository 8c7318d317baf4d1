"""RQ jobs: the edge between `manage.py rqworker` and the flush service.

A flush job drains the buffer for up to FLUSH_JOB_BUDGET seconds (flush.buffer_drain),
then hands over to a fresh job if work is left, so RQ's timeouts, heartbeats and warm
shutdown keep working. Ingest asks for a job when none is active (push.lua), and every
worker asks for one when it starts and, while idle, whenever work is left unattended
(worker.py): that recovers what a killed worker held, or a job whose asker died.
"""
import logging
from functools import cache

import django_rq
from django.db import close_old_connections

from . import buffer, flush
from .conf import msgbuffer_settings

log = logging.getLogger(__name__)


def flush_pending() -> dict:
    """The RQ job: drain the buffer into the database."""
    from .worker import stop_requested

    close_old_connections()
    try:
        outcome = flush.buffer_drain(
            budget=msgbuffer_settings().FLUSH_JOB_BUDGET,
            should_stop=stop_requested.is_set,
            on_backlog=flush_kick,  # a backlog with no new traffic: let idle workers join in
        )
    finally:
        close_old_connections()
    if not outcome.finished:
        flush_kick()
    return {"batches": outcome.batches, "stored": outcome.stored, "finished": outcome.finished}


@cache
def _queue():
    return django_rq.get_queue(msgbuffer_settings().RQ_QUEUE)


def enqueue_flush_job() -> None:
    """Put one flush job on the RQ queue (callers hold the flush:queued flag)."""
    budget = msgbuffer_settings().FLUSH_JOB_BUDGET
    _queue().enqueue(
        flush_pending,
        job_timeout=int(budget * 6 + 60),  # a drain stops itself at its budget; this is the backstop
        result_ttl=60,
        failure_ttl=7 * 24 * 3600,
        description="msgbuffer: flush the Redis buffer into the database",
    )


def flush_kick() -> bool:
    """Ask for a flush job unless one already waits; True if one was enqueued."""
    if buffer.flush_job_request():
        enqueue_flush_job()
        return True
    return False


def flush_recover() -> bool:
    """Enqueue a flush job when work waits or is claimed and no job is active; True if one was.

    flush_kick trusts the flush:queued flag; this does not when RQ holds no job: the web
    process that set the flag may have died (or failed to reach RQ) before enqueueing, and
    then no job would come until a new message arrived. Idle workers call this every few
    seconds (worker.py). A job too many is harmless: it finds nothing and finishes.
    """
    if not buffer.flush_work_unattended():
        return False
    if flush_kick():
        return True
    if _queue().count == 0:  # the flag says a job was asked for, yet none waits
        enqueue_flush_job()
        return True
    return False
