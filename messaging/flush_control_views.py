"""POST /flush/pause and POST /flush/resume: an operator stops the flush while ingest goes
on accepting (issue 11), then lets it drain what piled up.

Who may call them is access.operator's to say, always required, keys required or not (a
pause stops delivery for everyone, so it is never anonymous): an `operate` key, or a staff
session whose write carries Django's CSRF token. The answers are JSON; the state is
`paused` in /queue/status, /metrics and the /ws/stats tick.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse

from . import access, services
from .views import allow


@allow("POST")
async def flush_pause(request: HttpRequest) -> JsonResponse:
    who = await access.operator(request, required=True)
    if who.refusal is not None:
        return who.refusal
    return JsonResponse(await sync_to_async(services.flush_pause)())


@allow("POST")
async def flush_resume(request: HttpRequest) -> JsonResponse:
    who = await access.operator(request, required=True)
    if who.refusal is not None:
        return who.refusal
    return JsonResponse(await sync_to_async(services.flush_resume)())
