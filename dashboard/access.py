"""Who may watch the dashboard: the page at / asks `may_watch`, /ws/stats asks
`may_watch_socket`.

SPEC §6: when dashboard auth is on (MSGBUFFER["DASHBOARD_AUTH"], on unless DEBUG), only a
logged-in staff session or a valid API key may connect. Browsers cannot put headers on a
WebSocket, so they come with their session cookie; a script or a monitor may present a
key as `Authorization: Bearer <key>` on the handshake instead.
"""

from __future__ import annotations

from messaging.api_keys import api_key_check
from messaging.conf import msgbuffer_settings


def dashboard_auth_required() -> bool:
    return msgbuffer_settings().DASHBOARD_AUTH


def _is_staff(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_staff)


def may_watch(user) -> bool:
    """True if `user` (request.user) may see the dashboard page."""
    return not dashboard_auth_required() or _is_staff(user)


async def may_watch_socket(scope) -> bool:
    """True if this /ws/stats handshake may be accepted (scope["user"] comes from AuthMiddleware)."""
    if not dashboard_auth_required() or _is_staff(scope.get("user")):
        return True
    authorization = dict(scope.get("headers") or ()).get(b"authorization")
    if authorization is None:
        return False
    return (await api_key_check(authorization.decode("latin-1"))).allows("read")  # the stats are a read
