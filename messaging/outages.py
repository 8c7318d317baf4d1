"""The two outages a request can meet, Redis (the queue) and PostgreSQL (the database):
the errors services and selectors raise for them, and the JSON 503 each one answers with
(SPEC §4 "Nothing is half-accepted", §9 "Reads fail as JSON").

Services and selectors turn a driver's error into QueueUnavailable or DatabaseUnavailable
(`translated`); the edges never catch a driver's error. `response_for` is the one place
that maps an outage to its answer: DatabaseUnavailableMiddleware calls it for the Django
views, polled_reads.py for the reads served ahead of Django, ingest.py (through
`answer_for`) for its Reply.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import redis
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from . import errors

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# Redis: unreachable, out of memory, a read-only replica after a failover... Django's
# database errors: unreachable, or an exhausted pool (psycopg_pool.PoolTimeout, which
# Django raises as OperationalError). Neither is a bug nor the client's fault.
QUEUE_ERRORS = (redis.RedisError, OSError)
DATABASE_ERRORS = (OperationalError, InterfaceError)


class QueueUnavailable(Exception):
    """Redis could not be reached, or refused: what was asked of it was not done.

    `consequence` ends the client's message ("the queue cannot be reached; <consequence>");
    `accepted`, when set, says how many messages were queued before the outage.
    """

    def __init__(self, message: str = "", *, kind: str = "", consequence: str = "retry later", accepted: int | None = None):
        super().__init__(message)
        self.kind = kind or self.__class__.__name__  # the driver's error class, for /health
        self.consequence = consequence
        self.accepted = accepted


class DatabaseUnavailable(Exception):
    """The database could not be reached (or its pool had no free connection)."""


@contextmanager
def translated(*, consequence: str = "retry later"):
    """Raise a driver's outage as QueueUnavailable or DatabaseUnavailable. A decorator for
    a sync service or selector, or `with translated():` around the calls in async code."""
    try:
        yield
    except QUEUE_ERRORS as exc:
        raise QueueUnavailable(str(exc), kind=exc.__class__.__name__, consequence=consequence) from exc
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailable(str(exc)) from exc


def answer_for(exception: BaseException) -> tuple[int, dict, dict[str, str]] | None:
    """(status, JSON body, headers) for an outage; None for any other error."""
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exception, QueueUnavailable):
        extra = {"accepted": exception.accepted} if exception.accepted is not None else {}
        return 503, errors.error("queue_unavailable", f"the queue cannot be reached; {exception.consequence}", **extra), retry
    if isinstance(exception, (DatabaseUnavailable, *DATABASE_ERRORS)):
        return 503, errors.error("database_unavailable", "the database cannot be reached right now; retry later"), retry
    return None


def response_for(exception: BaseException, request) -> JsonResponse | None:
    """The JSON 503 for an outage met while answering `request`; None for any other error."""
    answer = answer_for(exception)
    if answer is None:
        return None
    status, body, headers = answer
    log.warning("%s on %s %s: %s", body["error"], request.method, request.path, exception)
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response
