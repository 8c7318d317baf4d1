"""ASGI entry point: HTTP (Django, with the ingest POSTs routed ahead of it) and
WebSockets (Channels).

Django must be set up before anything imports models or consumers, so
get_asgi_application() runs first and the project imports follow it.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "msgbuffer_site.settings")
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from granian.utils.proxies import wrap_asgi_with_proxy_headers  # noqa: E402

from dashboard.routing import websocket_application  # noqa: E402
from messaging.body_deadline import with_body_deadline  # noqa: E402
from messaging.conf import msgbuffer_settings  # noqa: E402
from messaging.ingest import INGEST_PATHS, IngestASGIApp  # noqa: E402
from messaging.polled_reads import PolledReadsASGIApp, route_for  # noqa: E402

# An ASGI server runs no system checks: a MSGBUFFER_* value that does not parse stops it
# here, naming the variable, rather than failing every request.
msgbuffer_settings()

ingest_http = IngestASGIApp()
polled_reads_http = PolledReadsASGIApp()


async def http_application(scope, receive, send):
    # The hot path skips Django's request cycle: see messaging/ingest.py and
    # bench/ingest_routes.py for why and by how much.
    if scope["method"] == "POST" and scope["path"] in INGEST_PATHS:
        return await ingest_http(scope, receive, send)
    # The read routes, likewise (messaging/polled_reads.py); HEAD and the rest stay with Django.
    if scope["method"] == "GET" and (fast := route_for(scope["path"])) is not None:
        return await polled_reads_http(scope, receive, send, *fast)
    return await django_http(scope, receive, send)


# granian bounds the headers (size, count, read time; Procfile), the body's read time is
# bounded here (messaging/body_deadline.py).
router = ProtocolTypeRouter({"http": with_body_deadline(http_application), "websocket": websocket_application})
# X-Forwarded-For/-Proto from the proxies in FORWARDED_ALLOW_IPS set the client address
# and scheme, as uvicorn did by itself before granian (granian leaves it to this wrapper).
proxied = wrap_asgi_with_proxy_headers(router, os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))


async def application(scope, receive, send):
    # A coroutine function, so that every server (daphne for runserver, uvicorn in bench/)
    # sees an ASGI 3 application: the wrapper above is a plain function. The wrapper changes
    # nothing without an X-Forwarded-For, but parses the client's address first: skipped
    # then (2.5 % of an ingest request's instructions, bench/ingest_instructions.py).
    if any(name == b"x-forwarded-for" for name, _ in scope.get("headers", ())):
        return await proxied(scope, receive, send)
    return await router(scope, receive, send)


# Everything imported so far lives as long as the process: move it out of the garbage
# collector's sight, and collect less often. With 1,000 dashboards connected, full
# collections took 100-130 ms each and were the p99 of tick lag (bench/ws_stats.py).
gc.collect()
gc.freeze()
gc.set_threshold(100_000, 50, 1000)
