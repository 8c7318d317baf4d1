"""The read routes (GET /health, /messages, /messages/<id>, /queue/status, /stats/history,
/metrics), served ahead of Django's request cycle like ingest: what every open dashboard
polls, what a client asks about the message it sent, what Prometheus scrapes.

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
views.py call, and an outage is outages.response_for's 503, as DatabaseUnavailableMiddleware
answers it.
tests/test_edge_conformance.py holds these routes to Django's answers too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.http import HttpResponse
from django.urls import Resolver404, get_resolver

from . import access, edge, history_view, outages, views
from .conf import msgbuffer_settings

log = logging.getLogger(__name__)

CACHE_ENTRIES = 256  # distinct paths and query strings kept; a client varying them gets no more


@dataclass(frozen=True, slots=True)
class Route:
    refusal: Callable  # async (request) -> the 401/403 for a caller who may not, or None
    answer: Callable  # (request, **the URL's kwargs) -> the answer for a caller who may
    partial: Callable | None  # the answer for one who may not (/health's status), or None: the refusal
    sync: bool  # run in a thread that recycles its database connection


# Keyed by the view Django's URLconf resolves the path to, so the paths, their converters
# (<uuid:message_id>) and the catch-all 404 stay urls.py's alone.
ROUTES = {
    views.health: Route(access.read_refusal, views.health_answer, functools.partial(views.health_answer, full=False), True),
    views.messages_collection: Route(access.read_refusal, views.messages_answer, None, False),
    views.message_detail: Route(access.read_refusal, views.message_detail_answer, None, True),
    views.queue_status: Route(access.read_refusal, views.queue_status_answer, None, True),
    history_view.stats_history: Route(access.read_refusal, history_view.stats_history_answer, None, True),
    views.metrics: Route(access.metrics_refusal, views.metrics_answer, None, True),
}


def route_for(path: str) -> tuple[Route, dict] | None:
    """The fast route for a GET of `path`, with the URL's kwargs; None: Django serves it."""
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return None
    route = ROUTES.get(match.func)
    return (route, match.kwargs) if route is not None else None


# (path, query string, whether the caller may) -> (expiry, answer)
CacheKey = tuple[str, bytes, bool]
_cache: OrderedDict[CacheKey, tuple[float, HttpResponse]] = OrderedDict()
_refreshing: dict[CacheKey, asyncio.Future] = {}


def _copy(response: HttpResponse) -> HttpResponse:
    """A fresh response with the view's own status, body and headers (the edge adds its
    headers to each copy, per request)."""
    fresh = HttpResponse(response.content, status=response.status_code)
    for name, value in response.items():
        fresh[name] = value
    return fresh


async def _view_response(request, route: Route, kwargs: dict, may: bool) -> HttpResponse:
    view = route.answer if may else route.partial
    try:
        return await (database_sync_to_async(view)(request, **kwargs) if route.sync else view(request, **kwargs))
    except Exception as exc:  # as Django's middleware and handler500 would answer
        response = outages.response_for(exc, request)
        if response is None:
            log.exception("GET %s failed", request.path)
            response = views.server_error(request)
        return response


async def polled_response(request, route: Route, kwargs: dict, query_string: bytes) -> HttpResponse:
    refusal = await route.refusal(request)
    if refusal is not None and route.partial is None:
        return refusal
    path = request.path
    key = (path, query_string, refusal is None)
    cached = _cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return _copy(cached[1])
    # One refresh per key at a time: the requests that arrive while it runs wait for it
    # instead of each asking the database (measured: p99 150-190 ms at wrk -c32 without).
    # shield: a client that hangs up does not cancel the answer the others wait for.
    refresh = _refreshing.get(key)
    if refresh is None:
        refresh = _refreshing[key] = asyncio.ensure_future(_refresh(request, route, kwargs, key))
    return _copy(await asyncio.shield(refresh))


async def _refresh(request, route: Route, kwargs: dict, key: CacheKey) -> HttpResponse:
    try:
        response = await _view_response(request, route, kwargs, key[2])
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
    async def __call__(self, scope, receive, send, route: Route, kwargs: dict) -> None:
        async def respond(request) -> HttpResponse:
            edge.attach_session(request)  # a dashboard's polls come with its staff session
            return await polled_response(request, route, kwargs, scope.get("query_string", b""))

        await edge.serve(scope, send, respond)
