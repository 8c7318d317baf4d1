"""ASGI entry point: HTTP (Django, with the ingest POSTs routed ahead of it) and
WebSockets (Channels).

Django must be set up before anything imports models or consumers, so
get_asgi_application() runs first and the project imports follow it.
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "msgbuffer_site.settings")
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from dashboard.routing import websocket_application  # noqa: E402
from messaging.ingest import INGEST_PATHS, IngestASGIApp  # noqa: E402

ingest_http = IngestASGIApp()


async def http_application(scope, receive, send):
    # The hot path skips Django's request cycle: see messaging/ingest.py and
    # bench/ingest_routes.py for why and by how much.
    if scope["method"] == "POST" and scope["path"] in INGEST_PATHS:
        return await ingest_http(scope, receive, send)
    return await django_http(scope, receive, send)


application = ProtocolTypeRouter({"http": http_application, "websocket": websocket_application})
