"""Django's own rules for the routes served ahead of Django (SPEC §9 "One edge").

The ingest POSTs skip Django's request cycle for speed (asgi.py, bench/ingest_routes.py),
but must answer as a Django route would on everything that is not the payload. Nothing
here re-states those rules: an `HttpRequest` is built from the ASGI scope and handed to
the very middleware objects that settings.MIDDLEWARE runs, called directly (no thread
hop: they are pure functions of the request and settings) in the order Django runs them:

1. SecurityMiddleware.process_request: the SECURE_SSL_REDIRECT redirect (which validates
   the Host first, as Django does).
2. request.get_host(): ALLOWED_HOSTS, where CommonMiddleware checks it, so a foreign
   Host is a 400 before any API key is looked at.
3. Where a route may be called with a session cookie, SessionMiddleware's
   process_request (attach_session).
4. The response gets CommonMiddleware's Content-Length, then passes XFrameOptionsMiddleware,
   SessionMiddleware (Vary: Cookie), the Content-Security-Policy middleware (HTML only, so
   nothing on these JSON answers: msgbuffer_site/content_security.py), django-cors-headers'
   CorsMiddleware and
   SecurityMiddleware's process_response, innermost first.

tests/test_edge_conformance.py sends the same hostile requests through this edge and
through Django's own handler and compares status and headers.
"""

from __future__ import annotations

import io
import logging
from functools import cache

from corsheaders.middleware import CorsMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import get_resolver

from msgbuffer_site.content_security import PageCSPMiddleware

log = logging.getLogger("django.security.DisallowedHost")


def _never_called(request):  # the edge calls the middleware's hooks, not the chain
    raise AssertionError("the edge calls middleware hooks directly")


@cache
def _middleware() -> tuple[SecurityMiddleware, CorsMiddleware, XFrameOptionsMiddleware, PageCSPMiddleware]:
    # SecurityMiddleware reads its settings once, in __init__: rebuilt when settings change.
    return (
        SecurityMiddleware(_never_called),
        CorsMiddleware(_never_called),
        XFrameOptionsMiddleware(_never_called),
        PageCSPMiddleware(_never_called),
    )


@cache
def _session_middleware() -> SessionMiddleware:
    # SessionMiddleware imports SESSION_ENGINE in __init__.
    return SessionMiddleware(_never_called)


@receiver(setting_changed)
def _settings_changed(**kwargs):
    _middleware.cache_clear()
    _session_middleware.cache_clear()


def edge_request(scope: dict) -> HttpRequest:
    """The request as Django would see it (headers, scheme, host); the body is read by the
    caller under its own limit, so none is attached."""
    return ASGIRequest(scope, io.BytesIO())


def attach_session(request: HttpRequest) -> None:
    """`request.session`, as SessionMiddleware sets it (no I/O: the session is read when
    first used). Only the routes that may be called with a session cookie need it (the
    polled reads). Not AuthenticationMiddleware's lazy `request.user`: it closes over the
    request, a reference cycle per request that only the garbage collector frees (measured:
    17 cyclic objects a request, gen-0 collections of 30 ms every ~5,000 requests and a
    p99 of 30-50 ms on cached reads, 6 ms without); access.py asks get_user() itself."""
    _session_middleware().process_request(request)


def edge_refusal(request: HttpRequest) -> HttpResponseBase | None:
    """What Django answers before any view runs, or None to go on."""
    security, cors, _, _ = _middleware()
    try:
        redirect = security.process_request(request)
    except DisallowedHost as exc:
        # Raised inside SecurityMiddleware, the outermost layer: Django answers the 400
        # with no middleware's headers at all.
        return _bad_request(request, exc)
    if redirect is not None:
        return security.process_response(request, redirect)
    try:
        request.get_host()
    except DisallowedHost as exc:
        # Raised where CommonMiddleware looks: the layers outside it add their headers.
        return security.process_response(request, cors.add_response_headers(request, _bad_request(request, exc)))
    return None


def _bad_request(request: HttpRequest, exc: DisallowedHost) -> HttpResponseBase:
    log.error("%s", exc)  # the line and logger Django's response_for_exception uses
    return get_resolver().resolve_error_handler(400)(request, exc)  # urls.handler400


def edge_response(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The view's response with every header Django's middleware would add."""
    security, cors, xframe, csp = _middleware()
    if not response.has_header("Content-Length"):
        # What CommonMiddleware adds (without it the server would answer chunked).
        response.headers["Content-Length"] = str(len(response.content))
    response = xframe.process_response(request, response)
    # Vary: Cookie when the session was read (a no-op on a request without a session); the
    # edge never modifies a session, so this saves nothing.
    response = _session_middleware().process_response(request, response)
    response = csp.process_response(request, response)
    response = cors.add_response_headers(request, response)
    return security.process_response(request, response)


async def serve(scope, send, respond) -> None:
    """Answer one request ahead of Django: Django's refusals first, else
    `await respond(request)` (None: the client went away) with Django's headers added."""
    request = edge_request(scope)
    response = edge_refusal(request)
    if response is None:
        response = await respond(request)
        if response is None:
            return
        response = edge_response(request, response)
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    # Cookies live apart from the headers (SessionMiddleware deletes a dead session's):
    # sent as ASGIHandler.send_response sends them.
    headers += [(b"set-cookie", cookie.output(header="").encode("ascii").strip()) for cookie in response.cookies.values()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
