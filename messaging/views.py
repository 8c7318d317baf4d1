"""The HTTP API's Django views: thin edges that parse, call one service or selector, and
render JSON. The ingest POSTs normally never get here (asgi.py routes them to
ingest.IngestASGIApp); when they do, they run the same `handle_ingest`.

Outages are not caught here: services and selectors raise outages.QueueUnavailable or
DatabaseUnavailable, and DatabaseUnavailableMiddleware (or polled_reads.py, ahead of
Django) answers with outages.py's JSON 503.

Who may call each view is access.py's to say (README "Who may call what"). API views are
CSRF-exempt for Django's middleware, so that a key-authenticated call needs no token; a
write authenticated by a staff session cookie passes Django's CSRF check all the same
(access.operator).

GET /health, GET /messages and GET /queue/status are also served ahead of Django
(polled_reads.py): their answers are the `*_answer` functions below, which both paths call
once the caller is known.
"""

from __future__ import annotations

import functools
import inspect
import logging

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from csp.decorators import csp_update
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from . import access, auth_throttle, errors, ingest, selectors, services
from .conf import msgbuffer_settings
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .openapi import openapi_document
from .schemas import MessageListQuery, SimulateIn
from .stats import redis_memory_report

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


def _body(request: HttpRequest) -> tuple[bytes, HttpResponse | None]:
    """The body under its route's limit (ingest.body_limit), or ingest's 413 for it."""
    limit = ingest.body_limit(request.path)
    if _declared_length(request) > limit:
        return b"", ingest.too_large(request.path).http_response()
    # request.read(), not request.body: the body property refuses anything over
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB) with a 400, below the bulk limit (8 MiB).
    body = request.read(limit + 1)
    if len(body) > limit:
        return b"", ingest.too_large(request.path).http_response()
    return body, None


async def _answer_if_allowed(request: HttpRequest, refusal_of, answer, *args) -> HttpResponse:
    """The caller's refusal (access.py), else the sync `answer` in a thread that recycles
    its database connection as a request would."""
    refusal = await refusal_of(request)
    if refusal is not None:
        return refusal
    return await database_sync_to_async(answer)(request, *args)


async def _ingest(request: HttpRequest) -> HttpResponse:
    client = auth_throttle.client_address(request)
    throttled = ingest.auth_throttled(client)
    if throttled is not None:
        return throttled.http_response()
    body, refusal = _body(request)
    if refusal is not None:
        return refusal
    reply = await ingest.handle_ingest(
        request.path,
        body,
        content_type=request.META.get("CONTENT_TYPE"),
        idempotency_key=request.headers.get("Idempotency-Key"),
        authorization=request.headers.get("Authorization"),
        client=client,
    )
    return reply.http_response()


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------
@allow("GET", "POST")
async def messages_collection(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return await _ingest(request)
    refusal = await access.read_refusal(request)
    if refusal is not None:
        return refusal
    return await messages_answer(request)


async def messages_answer(request: HttpRequest) -> HttpResponse:
    """GET /messages for a caller who may read."""
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
        return JsonResponse(
            {"error": "validation_error", "message": f"before {detail[0]['message']}", "detail": detail}, status=422
        )
    return JsonResponse(rows, safe=False)


@allow("POST")
async def messages_bulk(request: HttpRequest) -> HttpResponse:
    return await _ingest(request)


@allow("GET")
async def message_detail(request: HttpRequest, message_id) -> JsonResponse:
    return await _answer_if_allowed(request, access.read_refusal, message_detail_answer, message_id)


def message_detail_answer(request: HttpRequest, message_id) -> JsonResponse:
    """GET /messages/<id> for a caller who may read."""
    status = selectors.message_status(message_id)
    if status is None:
        return _error(404, "not_found", "no message with this id is queued or stored")
    return JsonResponse(status)


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------
@allow("GET")
async def health(request: HttpRequest) -> JsonResponse:
    full = await access.read_refusal(request) is None
    return await database_sync_to_async(health_answer)(request, full=full)


def health_answer(request: HttpRequest, *, full: bool = True) -> JsonResponse:
    """GET /health: the full body for a caller who may read; anyone else (with keys required)
    learns only the status and the code. Degraded (still 200: everything works) when Redis's
    memory passes REDIS_MEMORY_DEGRADED of maxmemory, before ingest starts answering 503."""
    database = selectors.database_status()
    try:
        snapshot, memory, redis_status = selectors.queue_stats(), selectors.redis_memory(), "ok"
    except services.QueueUnavailable as exc:  # /health reports it, in its own body
        snapshot, memory, redis_status = None, None, f"unreachable: {exc.kind}"
    failed = [part for part, status in (("redis", redis_status), ("database", database)) if status != "ok"]
    report = redis_memory_report(memory) if memory is not None else None
    memory_high = report is not None and report["degraded"]
    status = "unhealthy" if failed else "degraded" if memory_high else "healthy"
    code = 503 if failed else 200
    if not full:
        return JsonResponse({"status": status}, status=code)
    body = {"status": status, "redis": redis_status, "database": database}
    if failed:
        body["message"] = f"{' and '.join(failed)} unreachable"
    elif memory_high:
        body["message"] = f"Redis memory at {report['used_percent']}% of maxmemory: ingest is refused when it is full"
    if report is not None:
        body["redis_memory"] = report
    if snapshot is not None:
        body |= {
            "workers": snapshot["workers"],
            "queue_length": snapshot["queue_length"],
            "batch_threshold": snapshot["batch_threshold"],
            "batch_progress": snapshot["batch_progress"],
            "batches_pending": snapshot["batches_ready"],
        }
    return JsonResponse(body, status=code)


@allow("GET")
async def queue_status(request: HttpRequest) -> JsonResponse:
    return await _answer_if_allowed(request, access.read_refusal, queue_status_answer)


def queue_status_answer(request: HttpRequest) -> JsonResponse:
    """GET /queue/status for a caller who may read."""
    s = selectors.queue_stats()
    keys = (
        "queue_length",
        "in_flight",
        "dead_letters",
        "batch_threshold",
        "batch_progress",
        "batches_ready",
        "last_batch",
        "workers",
        "paused",
    )
    return JsonResponse({key: s[key] for key in keys} | {"oldest_message_age_s": s["oldest_message_age_s"]})


@allow("GET")
async def metrics(request: HttpRequest) -> HttpResponse:
    return await _answer_if_allowed(request, access.metrics_refusal, metrics_answer)


def metrics_answer(request: HttpRequest) -> HttpResponse:
    """GET /metrics for a caller who may scrape."""
    return HttpResponse(selectors.metrics_page(), content_type=METRICS_CONTENT_TYPE)


@allow("POST")
async def simulate_traffic(request: HttpRequest) -> HttpResponse:
    who = await access.operator(request, required=msgbuffer_settings().API_KEYS_REQUIRED)
    if who.refusal is not None:
        return who.refusal
    body, refusal = _body(request)
    if refusal is not None:
        return refusal
    data, reply = {}, None  # an empty body asks for the default count
    if body.strip():  # any other is held to ingest's rules and words
        data, reply = ingest.json_object(request.path, body, content_type=request.META.get("CONTENT_TYPE"))
    if reply is not None:
        return reply.http_response()
    try:
        count = SimulateIn.model_validate(data).count
    except ValidationError as exc:
        return JsonResponse(errors.validation_error(exc), status=422)
    # The caller's rate limit, as on ingest: a key's, or the staff user's own.
    rate_limit = msgbuffer_settings().RATE_LIMIT
    limited = who.key_id is not None or who.staff_user_id is not None
    if limited and rate_limit and count > rate_limit:  # could never pass: refused whole, like a bulk push
        return _rate_limited(rate_limit, accepted=0, count=count)
    try:
        message_ids = await services.traffic_simulate(count, api_key_id=who.key_id, staff_user_id=who.staff_user_id)
    except services.RateLimited as exc:
        # This second's budget ran out part-way (it was partly spent before): say how much went.
        return _rate_limited(rate_limit, accepted=exc.accepted, count=count)
    except services.QueueFull as exc:
        response = _error(503, "queue_full", f"the queue is full; {exc.accepted} of {count} were queued", accepted=exc.accepted)
        response["Retry-After"] = "1"
        return response
    return JsonResponse({"messages_count": len(message_ids), "message_ids": message_ids}, status=202)


def _rate_limited(limit: int, *, accepted: int, count: int) -> JsonResponse:
    queued = f"; {accepted} of {count} were queued" if accepted else "; nothing was queued"
    response = _error(429, "rate_limited", f"you may send {limit} messages per second{queued}", accepted=accepted)
    response["Retry-After"] = "1"
    return response


@allow("DELETE")
async def reset(request: HttpRequest) -> JsonResponse:
    if not msgbuffer_settings().ALLOW_RESET:
        return _error(403, "forbidden", "reset is disabled (set MSGBUFFER_ALLOW_RESET=1 on a demo)")
    # Always: an `operate` key or a staff session, keys required or not.
    who = await access.operator(request, required=True)
    if who.refusal is not None:
        return who.refusal
    return JsonResponse(await sync_to_async(services.buffer_reset)())


# ---------------------------------------------------------------------------
# API description
# ---------------------------------------------------------------------------
@allow("GET")
def openapi_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


# Swagger UI's stylesheet draws its icons (select arrows, checkboxes) as data: images; a
# data: image runs no script, and this is the only page that gets them.
@allow("GET")
@csp_update({"img-src": ["data:"]})
def api_docs(request: HttpRequest) -> HttpResponse:
    """The interactive explorer (Swagger UI, from drf-spectacular-sidecar) over /openapi.json."""
    return render(request, "messaging/api_docs.html")


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


def csrf_failure(request, reason="") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: JSON on the API, Django's own page in the admin."""
    if request.path.startswith(reverse("admin:index")):
        return django_csrf_failure(request, reason=reason)
    return _error(
        403,
        "csrf_failed",
        f"a write made with a session cookie needs Django's CSRF token (X-CSRFToken header, from the csrftoken cookie): {reason}",
    )
