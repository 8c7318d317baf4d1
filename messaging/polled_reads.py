"""The read routes every open dashboard polls (GET /health, GET /messages, GET
/queue/status), served ahead of Django's request cycle like ingest.

Why: through Django's ASGI handler each request makes about seven thread hops through
MiddlewareMixin middleware and the request signals, and answered ~250 req/s on /health
(issue 12, `make bench ARGS="--peer --only reads"`). Here a request costs at most one
hop, for the view's own database or Redis work, and none when the answer is in the
per-process cache: each route's answer is kept for MSGBUFFER_READ_CACHE_SECONDS (0.5), so a thousand tabs
polling every 2 s cost the database and Redis what one tab costs. Reads may be that
much older than the newest commit; the flush itself runs every 2 s.

Who may read is decided first, for every request, before the cache is looked at
(access.read_refusal, with the session attached as Django's middleware would): a refused
caller gets its 401/403 and never a cached answer. The cache is keyed by audience too:
/health has a full answer for a caller who may read and a status-only one for anyone
else, and neither is ever handed to the other.

Nothing else differs from Django: the request passes edge.py's Django rules (hosts, SSL
redirect, security headers, CORS), the answers come from the same functions the views in
views.py call, and a database outage is middleware.database_unavailable()'s 503.
tests/test_edge_conformance.py holds these routes to Django's answers too.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict

from channels.db import database_sync_to_async
from django.http import HttpResponse

from . import access, edge, middleware, views
from .conf import msgbuffer_settings

log = logging.getLogger(__name__)

CACHE_ENTRIES = 256  # distinct query strings kept; a client varying them gets no more

# path -> (the answer for a caller who may read, the answer for one who may not or None
# for a refusal), and whether they are sync (run in a thread that recycles its connection)
ROUTES = {
    "/health": (views.health_answer, functools.partial(views.health_answer, full=False), True),
    "/messages": (views.messages_answer, None, False),
    "/queue/status": (views.queue_status_answer, None, True),
}
POLLED_PATHS = frozenset(ROUTES)

# (path, query string, whether the caller may read) -> (expiry, answer)
CacheKey = tuple[str, bytes, bool]
_cache: "OrderedDict[CacheKey, tuple[float, HttpResponse]]" = OrderedDict()
_refreshing: "dict[CacheKey, asyncio.Future]" = {}


def _copy(response: HttpResponse) -> HttpResponse:
    """A fresh response with the view's own status, body and headers (the edge adds its
    headers to each copy, per request)."""
    fresh = HttpResponse(response.content, status=response.status_code)
    for name, value in response.items():
        fresh[name] = value
    return fresh


async def _view_response(request, path: str, may_read: bool) -> HttpResponse:
    full, partial, sync = ROUTES[path]
    view = full if may_read else partial
    try:
        return await (database_sync_to_async(view)(request) if sync else view(request))
    except Exception as exc:  # as Django's middleware and handler500 would answer
        response = middleware.response_for_database_error(exc, request)
        if response is None:
            log.exception("GET %s failed", path)
            response = views.server_error(request)
        return response


async def polled_response(request, path: str, query_string: bytes) -> HttpResponse:
    refusal = await access.read_refusal(request)
    if refusal is not None and ROUTES[path][1] is None:
        return refusal
    key = (path, query_string, refusal is None)
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


async def _refresh(request, path: str, key: CacheKey) -> HttpResponse:
    try:
        response = await _view_response(request, path, key[2])
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
            edge.attach_session(request)  # a dashboard's polls come with its staff session
            return await polled_response(request, scope["path"], scope.get("query_string", b""))

        await edge.serve(scope, send, respond)
