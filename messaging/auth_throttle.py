"""Throttle a client address that keeps presenting refused API keys (issue 9).

After AUTH_FAILURE_LIMIT refused keys from one address within AUTH_FAILURE_WINDOW seconds
of its first, the address gets 429 until that window ends, before any key work: a key
guesser's cost to us is bounded per address, whatever shape of key it sends.

Per process and in memory, so it costs no Redis round trip: an address may try
AUTH_FAILURE_LIMIT keys per window on each web process. At most MAX_CLIENTS addresses are
remembered (least recently refused forgotten first), so memory is bounded whatever the
number of attacking addresses.

The address is the ASGI server's idea of the client (`REMOTE_ADDR`, from the scope's
`client`). Behind a proxy that is the proxy, so every client shares one budget, unless
the server is told to trust the proxy's X-Forwarded-For (uvicorn `--proxy-headers`,
`--forwarded-allow-ips`); we never read that header ourselves, as anyone can send one.
A client with a valid key behind an address that is throttled waits too: a shared
address sending many bad keys is not a case we optimize for.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from django.http import HttpRequest
from prometheus_client import Counter

from .conf import msgbuffer_settings

MAX_CLIENTS = 10_000

# Counted in this process rather than with the other refusals in Redis: refusing a bad
# key must not cost a round trip to anything (/metrics shows this process's count).
REFUSED = Counter("msgbuffer_auth_refused", "Requests refused for their API key in this process, by reason", ["reason"])

_windows: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address -> (window start, refusals)


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or ""  # no client in the scope (a Unix socket): one shared budget


def retry_after(client: str) -> int | None:
    """Seconds the client must wait, or None if it may present a key."""
    conf = msgbuffer_settings()
    entry = _windows.get(client)
    if entry is None or not conf.AUTH_FAILURE_LIMIT:
        return None
    started, refusals = entry
    remaining = started + conf.AUTH_FAILURE_WINDOW - time.monotonic()
    if remaining <= 0:
        del _windows[client]
        return None
    if refusals < conf.AUTH_FAILURE_LIMIT:
        return None
    _windows.move_to_end(client)  # a client still hammering stays remembered
    return max(1, math.ceil(remaining))


def refused(client: str | None) -> None:
    """Charge a refused key: counted for /metrics (here, not in Redis: a refusal costs no
    round trip to anything) and, with a client address, against its window."""
    REFUSED.labels("unauthorized").inc()
    if client is not None:
        note_refusal(client)


def note_refusal(client: str) -> None:
    conf = msgbuffer_settings()
    now = time.monotonic()
    started, refusals = _windows.get(client, (now, 0))
    if started + conf.AUTH_FAILURE_WINDOW <= now:
        started, refusals = now, 0
    _windows[client] = (started, refusals + 1)
    _windows.move_to_end(client)
    while len(_windows) > MAX_CLIENTS:
        _windows.popitem(last=False)


def forget() -> None:
    _windows.clear()
