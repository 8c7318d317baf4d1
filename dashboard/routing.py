"""WebSocket routes. A handshake must come from the site's own origin (dashboard/origin.py);
the session is loaded so that dashboard auth (dashboard/access.py) can admit staff only."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import path

from .consumers import StatsConsumer
from .origin import OwnOriginValidator

websocket_urlpatterns = [path("ws/stats", StatsConsumer.as_asgi())]

websocket_application = OwnOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
