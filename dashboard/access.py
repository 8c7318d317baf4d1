"""Who may watch the dashboard: the page at / and the /ws/stats socket both ask `may_watch`.

SPEC §6: when dashboard auth is on, only a logged-in staff session (or a valid key) may
connect. The switch is `MSGBUFFER["DASHBOARD_AUTH"]`; until messaging/conf.py declares it,
it reads as off (the demo default), so this module is the one place the production
settings plug into.
"""
from __future__ import annotations

from messaging.conf import msgbuffer_settings


def dashboard_auth_required() -> bool:
    return bool(getattr(msgbuffer_settings(), "DASHBOARD_AUTH", False))


def may_watch(user) -> bool:
    """True if `user` (request.user, or scope["user"] on a socket) may see live stats."""
    if not dashboard_auth_required():
        return True
    return bool(user is not None and user.is_authenticated and user.is_staff)
