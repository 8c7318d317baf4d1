"""Outages answer as JSON (SPEC §9 "Reads fail as JSON").

Django turns an exception in a view into its HTML technical 500 page with DEBUG on, and
into handler500's generic 500 with DEBUG off. An unreachable database or Redis is neither
a bug nor the client's fault: it is a 503 the client may retry (outages.py says which).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from . import outages


class DatabaseUnavailableMiddleware:
    """Maps a view's outage (outages.QueueUnavailable, DatabaseUnavailable, or Django's
    OperationalError/InterfaceError from code that is no service, such as the session
    lookup) to the JSON 503. Async-native: it adds no thread hop to a request (its only
    hook runs when a view has raised)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        return self.get_response(request)  # a coroutine under ASGI, awaited by Django

    def process_exception(self, request, exception):
        return outages.response_for(exception, request)
