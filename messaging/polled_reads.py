"""The read routes every open dashboard polls (GET /health, GET /messages, GET
/queue/status), served ahead of Django's request cycle like ingest.

Why: through Django's ASGI handler each request makes about seven thread hops through
MiddlewareMixin middleware and the request signals, and answered ~250 req/s on /health
(issue 12, `make bench ARGS="--peer --only reads"`). Here a request costs at most one
hop, for the view's own database or Redis work, and none when the answer is in the
per-process cache: each route's answer is kept for MSGBUFFER_READ_CACHE_SECONDS (0.5), so a thousand tabs
polling every 2 s cost the database and Redis what one tab costs. Reads may be that
much older than the newest commit; the flush itself runs every 2 s.

Nothing else differs from Django: the request passes edge.py's Django rules (hosts, SSL
redirect, security headers, CORS), the answers come from the same views in views.py,
and a database outage is middleware.database_unavailable()'s 503.
tests/test_edge_conformance.py holds these routes to Django's answers too.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from channels.db import database_sync_to_async
from django.http import HttpResponse

from . import edge, middleware, views
from .conf import msgbuffer_settings

log = logging.getLogger(__name__)

CACHE_ENTRIES = 256  # distinct query strings kept; a client varying them gets no more

# path -> the view, and whether it is sync (run in a thread that recycles its connection)
ROUTES = {
    "/health": (views.health, True),
    "/messages": (views.messages_collection, False),
    "/queue/status": (views.queue_status, True),
}
POLLED_PATHS = frozenset(ROUTES)

_cache: "OrderedDict[tuple[str, bytes], tuple[float, HttpResponse]]" = OrderedDict()
_refreshing: "dict[tuple[str, bytes], asyncio.Future]" = {}


def _copy(response: HttpResponse) -> HttpResponse:
    """A fresh response with the view's own status, body and headers (the edge adds its
    headers to each copy, per request)."""
    fresh = HttpResponse(response.content, status=response.status_code)
    for name, value in response.items():
        fresh[name] = value
    return fresh


async def _view_response(request, path: str) -> HttpResponse:
    view, sync = ROUTES[path]
    try:
        return await (database_sync_to_async(view)(request) if sync else view(request))
    except Exception as exc:  # as Django's middleware and handler500 would answer
        response = middleware.response_for_database_error(exc, request)
        if response is None:
            log.exception("GET %s failed", path)
            response = views.server_error(request)
        return response


async def polled_response(request, path: str, query_string: bytes) -> HttpResponse:
    key = (path, query_string)
    cached = _cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return _copy(cached[1])
    # One refresh per key at a time: the requests that arrive while it runs wait for it
    # instead of each asking the database (measured: p99 150-190 ms at wrk -c32 without).
    # shield: a client that hangs up does not cancel the answer the others wait for.
    refresh = _refreshing.get(key)
    if refresh is None:
        refresh = _refreshing[key] = asyncio.ensure_future(_refresh(request, path, key))
    return _copy(await asyncio.shield(refresh))


async def _refresh(request, path: str, key: tuple[str, bytes]) -> HttpResponse:
    try:
        response = await _view_response(request, path)
        _cache[key] = (time.monotonic() + msgbuffer_settings().READ_CACHE_SECONDS, response)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
        return response
    finally:
        _refreshing.pop(key, None)


def forget_cached_reads() -> None:
    _cache.clear()
    _refreshing.clear()


class PolledReadsASGIApp:
    async def __call__(self, scope, receive, send) -> None:
        async def respond(request) -> HttpResponse:
            return await polled_response(request, scope["path"], scope.get("query_string", b""))

        await edge.serve(scope, send, respond)
