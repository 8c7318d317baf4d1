"""ASGI applications for bench/ingest_routes.py: the same `handle_ingest` behind two
other edges than the one asgi.py uses.

- `django_only`: Django's ASGI handler for every request, so POST /messages reaches the
  async view in messaging/views.py (middleware stack, thread hops included).
- `channels_consumer`: a Channels AsyncHttpConsumer routed ahead of Django.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "msgbuffer_site.settings")
django_only = get_asgi_application()

from channels.generic.http import AsyncHttpConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from messaging import ingest  # noqa: E402


class IngestConsumer(AsyncHttpConsumer):
    async def handle(self, body):
        headers = dict(self.scope["headers"])
        key = headers.get(b"idempotency-key")
        reply = await ingest.handle_ingest(
            self.scope["path"],
            body,
            content_type=headers.get(b"content-type", b"").decode("latin-1"),
            idempotency_key=key.decode("latin-1") if key is not None else None,
        )
        await self.send_response(
            reply.status,
            reply.body,
            headers=[(b"content-type", b"application/json")] + [(k.encode(), v.encode()) for k, v in reply.headers],
        )


channels_consumer = ProtocolTypeRouter(
    {"http": URLRouter([path("messages", IngestConsumer.as_asgi()), path("messages/bulk", IngestConsumer.as_asgi())])}
)
