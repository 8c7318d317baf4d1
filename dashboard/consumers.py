"""/ws/stats: live statistics for the dashboard (SPEC §6).

A thin edge: it admits the client (dashboard/access.py), joins the dashboards' group on
the channel layer, which brings the batch_persisted events a flush job announces from the
worker (messaging/events.py), and hands the client to this process's broadcaster, which
sends the stats_update ticks. It answers pings. It never reads Redis itself: N clients
cost the same Redis reads as one.
"""

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

from messaging.events import DASHBOARD_GROUP

from .access import may_watch_socket
from .broadcaster import broadcaster

PONG = '{"type":"pong"}'
# Close code for a refused handshake: the 4000-4999 range is ours; 4403 reads as HTTP 403.
FORBIDDEN = 4403


class StatsConsumer(AsyncWebsocketConsumer):
    joined = False

    async def connect(self):
        if not await may_watch_socket(self.scope):
            await self.close(code=FORBIDDEN)
            return
        await self.accept()
        self.joined = True
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await broadcaster().join(self)

    async def disconnect(self, code):
        if self.joined:
            await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)
            await broadcaster().leave(self)

    async def batch_persisted(self, event):
        """A group message from the layer: the event is the SPEC's message as it is."""
        await self.send(text_data=orjson.dumps(event).decode())

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = orjson.loads(text_data or bytes_data or b"")
        except orjson.JSONDecodeError:
            return  # not ours to answer: the protocol has no error message
        if isinstance(message, dict) and message.get("type") == "ping":
            await self.send(text_data=PONG)
