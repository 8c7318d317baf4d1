"""GET /stats/history: throughput history for the dashboard's chart and for operators
(the figures are kept by the buffer, messaging/buffer/history.py).

A read like /queue/status: the same caller (access.read_refusal), and also served ahead of
Django by polled_reads.py, whose cache keeps one answer per range per process for
MSGBUFFER_READ_CACHE_SECONDS however many tabs poll it.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from pydantic import ValidationError

from . import access, errors, selectors, views
from .schemas import HistoryOut, HistoryPoint, HistoryQuery


@views.allow("GET")
async def stats_history(request: HttpRequest) -> JsonResponse:
    refusal = await access.read_refusal(request)
    if refusal is not None:
        return refusal
    return await sync_to_async(stats_history_answer)(request)  # Redis only: no database connection to recycle


def stats_history_answer(request: HttpRequest) -> JsonResponse:
    """GET /stats/history for a caller who may read; 422 for a range it does not know, as
    GET /messages answers a bad query parameter."""
    try:
        query = HistoryQuery.model_validate(request.GET.dict())
    except ValidationError as exc:
        return JsonResponse(errors.validation_error(exc), status=422)
    history = selectors.throughput_history(query.range)
    answer = HistoryOut(
        range=query.range,
        resolution_s=history.resolution_s,
        start=history.start,
        end=history.end,
        now=history.now,
        points=[
            HistoryPoint(
                t=b.start,
                persisted=b.persisted,
                accepted=b.accepted,
                batches=b.batches,
                queue_length=b.queue_length,
                p95_latency_ms=b.p95_latency_ms,
            )
            for b in history.buckets
        ],
    )
    return JsonResponse(answer.model_dump(mode="json"))
