"""/ws/stats: live statistics for the dashboard (SPEC §6)."""
import json

from channels.generic.websocket import AsyncWebsocketConsumer

from .broadcaster import broadcaster


class StatsConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        first = await broadcaster().join(self)
        await self.send(text_data=first.decode())

    async def disconnect(self, code):
        await broadcaster().leave(self)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "ping":
            await self.send(text_data='{"type": "pong"}')
