"""Who may call which route (README "Who may call what"): an API key, held to its scopes,
or a staff session; and Django's CSRF check on the writes a session makes.

Every route asks here, whether Django serves it (views.py) or the edge does
(polled_reads.py asks before its cache, so an answer cached for one caller never reaches
another). Keys are checked by api_keys. Sessions are Django's: SessionMiddleware sets
`request.session` (edge.attach_session runs its process_request on the edge), and the
user is read with django.contrib.auth.get_user() in database_sync_to_async, as Channels'
AuthMiddleware does, so the lookup recycles its thread's database connection the way a
request would (SPEC §9).
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from . import api_keys, auth_throttle, ingest
from .conf import msgbuffer_settings
from .models import SCOPES

INGEST, READ, OPERATE = SCOPES

# A staff session, once its user has been read, is believed for this long by this
# process: a thousand dashboard tabs polling every 2 s would otherwise cost two queries
# (session, user) per poll, which the polled-read cache exists to avoid. A logout in this
# process forgets it at once; a logout elsewhere, or a demotion, takes effect within it,
# as a revoked key does (api_keys.CACHE_SECONDS).
STAFF_SESSION_SECONDS = 10.0
STAFF_SESSION_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling. `refusal` is the 401/403 to answer, or None to go on."""

    refusal: HttpResponse | None = None
    key_id: int | None = None  # the API key that authenticated the request
    staff_user_id: int | None = None  # or the staff user whose session cookie did

    @property
    def by_session(self) -> bool:
        return self.key_id is None and self.staff_user_id is not None


async def caller(request: HttpRequest, scope: str, *, required: bool) -> Caller:
    """The key behind the request if it allows `scope` (403 if it does not), else a staff
    session; neither is a 401 when `required`, an anonymous caller otherwise."""
    authorization = request.headers.get("Authorization")
    if authorization:
        # An address that keeps presenting refused keys is throttled on every route, as on
        # ingest (auth_throttle.py): before any key work.
        client = auth_throttle.client_address(request)
        throttled = ingest.auth_throttled(client)
        if throttled is not None:
            return Caller(refusal=throttled.http_response())
        check = await api_keys.api_key_check(authorization)
        if check.key_id is not None:
            if check.allows(scope):
                return Caller(key_id=check.key_id)
            return Caller(refusal=ingest.missing_scope(scope).http_response())
        if required:  # a refused key, where keys are required: charged as ingest charges it
            auth_throttle.refused(client)
    staff_user_id = await staff_session_user_id(request)
    if staff_user_id is not None:
        return Caller(staff_user_id=staff_user_id)
    return Caller(refusal=ingest.unauthorized().http_response() if required else None)


async def read_refusal(request: HttpRequest) -> HttpResponse | None:
    """GET /messages, /messages/<id>, /queue/status, /stats/history (and /health's full answer): with keys
    required, a `read` key or a staff session."""
    if not msgbuffer_settings().API_KEYS_REQUIRED:
        return None
    return (await caller(request, READ, required=True)).refusal


async def metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """/metrics: public when keys are not required or MSGBUFFER_METRICS_PUBLIC is on; else
    the scrape token, a `read` key or a staff session."""
    conf = msgbuffer_settings()
    if conf.METRICS_PUBLIC or not conf.API_KEYS_REQUIRED:
        return None
    if conf.METRICS_TOKEN:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        # Constant time: the comparison must not tell a guesser how much of the token is right.
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), conf.METRICS_TOKEN.encode()):
            return None
    return (await caller(request, READ, required=True)).refusal


async def operator(request: HttpRequest, *, required: bool) -> Caller:
    """DELETE /reset and POST /simulate: an `operate` key, or a staff session whose request
    passes Django's CSRF check (a key cannot be sent by a cross-site page; a cookie can)."""
    who = await caller(request, OPERATE, required=required)
    if who.by_session:
        refusal = csrf_refusal(request)
        if refusal is not None:
            return Caller(refusal=refusal)
    return who


def csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """CsrfViewMiddleware's own check, as csrf_protect would run it (the API views are
    csrf_exempt so that key-authenticated calls need no token). Its refusal is
    settings.CSRF_FAILURE_VIEW's answer: views.csrf_failure, JSON."""
    return CsrfViewMiddleware(_never_called).process_view(request, None, (), {})


def _never_called(request):  # only process_view is used
    raise AssertionError("csrf_refusal calls CsrfViewMiddleware.process_view only")


_staff_sessions: OrderedDict[str, tuple[float, int]] = OrderedDict()


async def staff_session_user_id(request: HttpRequest) -> int | None:
    """The id of the active staff user whose session this request carries, else None."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return None  # no session to read: anonymous, without a thread hop
    session_key = request.session.session_key
    cached = _staff_sessions.get(session_key)
    if cached is not None and cached[0] > time.monotonic():
        # The answer depends on the session as surely as if it had been read: marked so,
        # SessionMiddleware adds `Vary: Cookie` just as it does after get_user().
        request.session.accessed = True
        return cached[1]
    user_id = await database_sync_to_async(_staff_user_id)(request)
    if user_id is not None:  # only staff are kept: random cookies cannot fill the cache
        _staff_sessions[session_key] = (time.monotonic() + STAFF_SESSION_SECONDS, user_id)
        _staff_sessions.move_to_end(session_key)
        while len(_staff_sessions) > STAFF_SESSION_ENTRIES:
            _staff_sessions.popitem(last=False)
    return user_id


def _staff_user_id(request: HttpRequest) -> int | None:
    user = auth.get_user(request)  # what AuthenticationMiddleware's request.user would be: the session, then the user
    return user.pk if user.is_active and user.is_staff else None


@receiver(user_logged_out)
def _forget_logged_out(sender, request, **kwargs):
    if request is not None and getattr(request, "session", None) is not None:
        _staff_sessions.pop(request.session.session_key, None)


def forget_cached_sessions() -> None:
    _staff_sessions.clear()
