"""The HTTP API's Django views: thin edges that parse, call one service or selector, and
render JSON. The ingest POSTs normally never get here (asgi.py routes them to
ingest.IngestASGIApp); when they do, they run the same `handle_ingest`.

API views are CSRF-exempt: they take JSON bodies (which a cross-site form cannot send)
and, where required, bearer keys rather than cookies.
"""
from __future__ import annotations

import functools
import inspect
import logging

import redis
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from . import api_keys, auth_throttle, errors, ingest, selectors, services, simulate
from .conf import msgbuffer_settings
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import metrics_exposition
from .openapi import openapi_document
from .schemas import MessageListQuery, SimulateIn
from .stats import stats_snapshot

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, **extra) -> JsonResponse:
    return JsonResponse(errors.error(code, message, **extra), status=status)


def _not_allowed(request: HttpRequest, methods: tuple[str, ...]) -> JsonResponse:
    choices = methods[0] if len(methods) == 1 else f"{', '.join(methods[:-1])} or {methods[-1]}"
    response = _error(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}; use {choices}")
    response["Allow"] = ", ".join(methods)
    return response


def allow(*methods: str):
    """Like require_http_methods, but the 405 is JSON (and HEAD rides with GET)."""
    methods = methods + (("HEAD",) if "GET" in methods else ())

    def decorator(view):
        if inspect.iscoroutinefunction(view):
            @functools.wraps(view)
            async def async_wrapper(request, *args, **kwargs):
                if request.method not in methods:
                    return _not_allowed(request, methods)
                return await view(request, *args, **kwargs)
            return csrf_exempt(async_wrapper)

        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return _not_allowed(request, methods)
            return view(request, *args, **kwargs)
        return csrf_exempt(wrapper)

    return decorator


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # unreadable: count the bytes instead


async def _ingest(request: HttpRequest) -> HttpResponse:
    client = auth_throttle.client_address(request)
    throttled = ingest.auth_throttled(client)
    if throttled is not None:
        return throttled.http_response()
    limit = ingest.body_limit(request.path)
    if _declared_length(request) > limit:
        return ingest.too_large(request.path).http_response()
    # request.read(), not request.body: the body property refuses anything over
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB) with a 400, below the bulk limit (8 MiB).
    body = request.read(limit + 1)
    reply = await ingest.handle_ingest(
        request.path,
        body,
        content_type=request.META.get("CONTENT_TYPE"),
        idempotency_key=request.headers.get("Idempotency-Key"),
        authorization=request.headers.get("Authorization"),
        client=client,
    )
    return reply.http_response()


async def _may_operate(request: HttpRequest) -> bool:
    """A valid API key, or a staff session (the dashboard's burst button, DELETE /reset)."""
    if (await api_keys.api_key_check(request.headers.get("Authorization"))).key_id is not None:
        return True
    user = await request.auser()
    return user.is_active and user.is_staff


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------
@allow("GET", "POST")
async def messages_collection(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return await _ingest(request)
    try:
        query = MessageListQuery.model_validate(request.GET.dict())
    except ValidationError as exc:
        return JsonResponse(errors.validation_error(exc), status=422)
    try:
        # database_sync_to_async recycles the thread's connection as a request would: this
        # view is also served ahead of Django (polled_reads.py), where no request signal does.
        rows = await database_sync_to_async(selectors.message_list)(
            limit=query.limit, channel_id=query.channel_id, user_id=query.user_id, before=query.before
        )
    except selectors.UnknownCursor:
        detail = [{"field": "before", "message": "must be the message_id of a stored message"}]
        return JsonResponse({"error": "validation_error", "message": f"before {detail[0]['message']}", "detail": detail}, status=422)
    return JsonResponse(rows, safe=False)


@allow("POST")
async def messages_bulk(request: HttpRequest) -> HttpResponse:
    return await _ingest(request)


@allow("GET")
def message_detail(request: HttpRequest, message_id) -> JsonResponse:
    try:
        status = selectors.message_status(message_id)
    except redis.RedisError:
        return _error(503, "queue_unavailable", "the queue cannot be reached to look for a queued message; retry later")
    if status is None:
        return _error(404, "not_found", "no message with this id is queued or stored")
    return JsonResponse(status)


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------
@allow("GET")
def health(request: HttpRequest) -> JsonResponse:
    database = selectors.database_status()
    try:
        snapshot = stats_snapshot()
        redis_status = "ok"
    except redis.RedisError as exc:
        snapshot, redis_status = None, f"unreachable: {exc.__class__.__name__}"
    failed = [part for part, status in (("redis", redis_status), ("database", database)) if status != "ok"]
    healthy = not failed
    body = {"status": "healthy" if healthy else "unhealthy", "redis": redis_status, "database": database}
    if failed:
        body["message"] = f"{' and '.join(failed)} unreachable"
    if snapshot is not None:
        body |= {
            "workers": snapshot["workers"],
            "queue_length": snapshot["queue_length"],
            "batch_threshold": snapshot["batch_threshold"],
            "batch_progress": snapshot["batch_progress"],
            "batches_pending": snapshot["batches_ready"],
        }
    return JsonResponse(body, status=200 if healthy else 503)


@allow("GET")
def queue_status(request: HttpRequest) -> JsonResponse:
    try:
        s = stats_snapshot()
    except redis.RedisError:
        return _error(503, "queue_unavailable", "the queue cannot be reached")
    keys = ("queue_length", "in_flight", "dead_letters", "batch_threshold", "batch_progress", "batches_ready", "last_batch", "workers")
    return JsonResponse({key: s[key] for key in keys} | {"oldest_message_age_s": s["oldest_message_age_s"]})


@allow("GET")
def metrics(request: HttpRequest) -> HttpResponse:
    try:
        body = metrics_exposition()
    except redis.RedisError:
        return _error(503, "queue_unavailable", "the queue cannot be reached")
    return HttpResponse(body, content_type=METRICS_CONTENT_TYPE)


@allow("POST")
async def simulate_traffic(request: HttpRequest) -> HttpResponse:
    if msgbuffer_settings().API_KEYS_REQUIRED and not await _may_operate(request):
        return ingest.unauthorized().http_response()
    limit = msgbuffer_settings().MAX_BODY_BYTES
    body = request.read(limit + 1)  # not request.body: its own limit answers with a 400 page
    if len(body) > limit:
        return _error(413, "payload_too_large", f"the request body is over the {errors.byte_size(limit)} limit of {request.path}")
    if body.strip():
        # JSON only, as on ingest: a cross-site form cannot send it without a CORS preflight.
        media_type = request.content_type.lower()
        if media_type != "application/json":
            return _error(415, "unsupported_media_type", f"Content-Type must be application/json, not {media_type or 'missing'}")
        data, refusal = ingest.parse_object(body)
        if refusal is not None:
            return refusal.http_response()
    else:
        data = {}
    try:
        count = SimulateIn.model_validate(data).count
    except ValidationError as exc:
        return JsonResponse(errors.validation_error(exc), status=422)
    message_ids: list[str] = []
    chunk = msgbuffer_settings().MAX_BULK_ITEMS
    messages = simulate.chat_messages(count)
    try:
        for start in range(0, count, chunk):
            accepted = await services.messages_accept(messages[start : start + chunk], bulk=True)
            message_ids += services.accepted_ids(accepted)
    except services.QueueFull:
        response = _error(503, "queue_full", f"the queue is full; {len(message_ids)} of {count} were queued", accepted=len(message_ids))
        response["Retry-After"] = "1"
        return response
    except (services.QueueUnavailable, redis.RedisError):
        return _error(503, "queue_unavailable", f"the queue cannot be reached; {len(message_ids)} of {count} were queued",
                      accepted=len(message_ids))
    return JsonResponse({"messages_count": len(message_ids), "message_ids": message_ids}, status=202)


@allow("DELETE")
async def reset(request: HttpRequest) -> JsonResponse:
    if not msgbuffer_settings().ALLOW_RESET:
        return _error(403, "forbidden", "reset is disabled (set MSGBUFFER_ALLOW_RESET=1 on a demo)")
    if not await _may_operate(request):
        return _error(403, "forbidden", "reset needs a staff session or an API key")
    try:
        return JsonResponse(await sync_to_async(services.buffer_reset)())
    except redis.RedisError:
        return _error(503, "queue_unavailable", "the queue cannot be reached; Redis was not reset")


# ---------------------------------------------------------------------------
# API description
# ---------------------------------------------------------------------------
@allow("GET")
def openapi_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


@allow("GET")
def api_docs(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/api_docs.html", {"document": openapi_document()})


# ---------------------------------------------------------------------------
# Errors as JSON for the API (Django would answer with HTML)
# ---------------------------------------------------------------------------
@csrf_exempt  # the catch-all route in urls.py: a POST to a wrong path is a 404, not a CSRF page
def not_found(request, exception=None) -> JsonResponse:
    return _error(404, "not_found", f"no such resource: {request.path}")


def server_error(request) -> JsonResponse:
    return _error(500, "server_error", "something went wrong on our side; it has been logged")


def bad_request(request, exception=None) -> JsonResponse:
    return _error(400, "bad_request", "the request could not be understood")
