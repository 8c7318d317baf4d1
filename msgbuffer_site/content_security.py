"""The Content-Security-Policy of the site's HTML pages: django-csp's CSPMiddleware with
settings.CONTENT_SECURITY_POLICY, changed only through the hook django-csp offers for it
(`get_policy_parts`) and Django's middleware protocol:

- HTML only. A policy governs what a rendered document may load; JSON answers render
  nothing, so they carry none. The routes served ahead of Django (messaging/edge.py)
  call this same `process_response`, so both paths share the rule and the fast path
  still answers with exactly Django's headers.
- connect-src also names the page's own WebSocket origin (ws://host or wss://host, as
  the dashboard's socket.js opens it). CSP3 lets 'self' cover it, and Chromium does; a
  browser that applies CSP2's matching (older Safari) needs it spelled out.
- Admin pages (and django-rq's, under them) get what their templates need:
  ADMIN_ADDITIONS says what and why (tests/test_page_security.py checks it against the
  installed templates).
- Async-native. CSPMiddleware is a MiddlewareMixin, which under ASGI runs both hooks
  through sync_to_async: two thread hops per request on every Django route. Both hooks
  are pure functions of the request, the response and settings (a lazy nonce, a header
  string), so they run on the event loop. bench/middleware_cost.py measures both
  (bench/README.md: the stock middleware ~7 % off a Django route, this one in the noise).
"""

from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

ADMIN_ADDITIONS = {
    # Django admin's change_list.html writes an inline <style> for lists without actions;
    # admin JavaScript only sets element.style (CSSOM), which CSP does not govern.
    "style-src": [UNSAFE_INLINE],
    # django-rq's job lists (jobs.html, failed_jobs.html, workers.html ... eight templates)
    # end with the same inline script that wires the select-all checkbox; its SHA-256
    # admits exactly that script. (django-rq's job detail page also has onclick row links:
    # they stay blocked, the "View" links beside them work.)
    "script-src": ["'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"],
}


def is_html(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


class PageCSPMiddleware(CSPMiddleware):
    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)
        response = await self.get_response(request)
        return self.process_response(request, response)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not is_html(response):
            return response
        return super().process_response(request, response)

    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        additions = {"connect-src": _own_websocket_origin(request)}
        if request.path_info.startswith(reverse("admin:index")):
            additions |= ADMIN_ADDITIONS
        # A view's own @csp_update, if any, comes on top of ours.
        parts.update = _merged(additions, parts.update or {})
        return parts


def _own_websocket_origin(request: HttpRequest) -> list[str]:
    try:
        host = request.get_host()
    except DisallowedHost:
        return []  # Django answers such a request with its 400 before any page renders
    return [f"{'wss' if request.is_secure() else 'ws'}://{host}"]


def _merged(ours: dict, theirs: dict) -> dict:
    return {name: [*ours.get(name, ()), *theirs.get(name, ())] for name in ours.keys() | theirs.keys()}
