"""/ws/stats admits a handshake only from the site's own origin(s).

"Is this Origin the site's own?" is the question Django's CSRF check already answers for
every unsafe request: the request's own scheme and Host (the Host validated against
ALLOWED_HOSTS), or one of CSRF_TRUSTED_ORIGINS (where `https://*.example.com` admits the
subdomains). Channels' OriginValidator and AllowedHostsOriginValidator compare host names
only, so a page on `http://localhost:<another port>` (another local app, any of a
developer's dev servers) could open a staff member's socket with their cookie. Rather
than re-stating Django's rule, the handshake is turned into the HttpRequest Django would
build for it and CsrfViewMiddleware's own origin check is asked. That check is a private
method: Django is pinned (requirements.txt) and tests/test_stats_consumer.py covers it.
"""

from __future__ import annotations

import io

from channels.security.websocket import WebsocketDenier
from django.core.handlers.asgi import ASGIRequest
from django.middleware.csrf import CsrfViewMiddleware

# The page's origin has the HTTP scheme that its socket's scheme upgrades.
HTTP_SCHEME = {"ws": "http", "wss": "https"}


def _never_called(request):  # only the middleware's origin check is used
    raise AssertionError("only CsrfViewMiddleware._origin_verified is called")


def is_own_origin(scope: dict) -> bool:
    """True if the handshake's Origin is the site's own (no Origin: False, as Channels has it)."""
    http_scope = {**scope, "type": "http", "method": "GET", "scheme": HTTP_SCHEME.get(scope.get("scheme") or "ws", "http")}
    request = ASGIRequest(http_scope, io.BytesIO())
    if "HTTP_ORIGIN" not in request.META:
        return False
    # A fresh middleware per handshake: it reads CSRF_TRUSTED_ORIGINS once per instance.
    return CsrfViewMiddleware(_never_called)._origin_verified(request)


class OwnOriginValidator:
    """ASGI middleware: the application for a handshake from the site's own origin,
    Channels' WebsocketDenier (HTTP 403 to the handshake) for any other."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if is_own_origin(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
