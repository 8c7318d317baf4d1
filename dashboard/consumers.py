"""/ws/stats: live statistics for the dashboard (SPEC §6).

A thin edge: it admits the client (dashboard/access.py), hands it to this process's
broadcaster, which sends the stats_update ticks and batch_persisted events, and answers
pings. It never reads Redis itself: N clients cost the same Redis reads as one.
"""

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

from .access import may_watch_socket
from .broadcaster import broadcaster

PONG = '{"type":"pong"}'
# Close code for a refused handshake: the 4000-4999 range is ours; 4403 reads as HTTP 403.
FORBIDDEN = 4403


class StatsConsumer(AsyncWebsocketConsumer):
    # No channel layer (settings configure none): ticks and events reach clients through
    # the in-process broadcaster. The alias stays None so that a layer configured later for
    # something else does not give every socket a layer channel (and a Redis receive loop,
    # torn down on every disconnect) that would serve nothing here.
    channel_layer_alias = None
    joined = False

    async def connect(self):
        if not await may_watch_socket(self.scope):
            await self.close(code=FORBIDDEN)
            return
        await self.accept()
        self.joined = True
        await broadcaster().join(self)

    async def disconnect(self, code):
        if self.joined:
            await broadcaster().leave(self)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = orjson.loads(text_data or bytes_data or b"")
        except orjson.JSONDecodeError:
            return  # not ours to answer: the protocol has no error message
        if isinstance(message, dict) and message.get("type") == "ping":
            await self.send(text_data=PONG)
