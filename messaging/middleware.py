"""Database outages answer as JSON (SPEC §9 "Reads fail as JSON").

Django turns an exception in a view into its HTML technical 500 page with DEBUG on, and
into handler500's generic 500 with DEBUG off. An unreachable database or an exhausted
pool (psycopg_pool.PoolTimeout, which Django raises as OperationalError) is neither a bug
nor the client's fault: it is a 503 the client may retry.
"""
from __future__ import annotations

import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from . import errors

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def database_unavailable() -> JsonResponse:
    response = JsonResponse(
        errors.error("database_unavailable", "the database cannot be reached right now; retry later"), status=503
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def response_for_database_error(exception: BaseException, request) -> JsonResponse | None:
    """The 503 for an unreachable database or exhausted pool; None for any other error."""
    if isinstance(exception, (OperationalError, InterfaceError)):
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
        return database_unavailable()
    return None


class DatabaseUnavailableMiddleware:
    """Maps a view's OperationalError/InterfaceError to the JSON 503. Async-native: it adds
    no thread hop to a request (its only hook runs when a view has raised)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        return self.get_response(request)  # a coroutine under ASGI, awaited by Django

    def process_exception(self, request, exception):
        return response_for_database_error(exception, request)
