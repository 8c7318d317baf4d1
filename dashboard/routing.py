"""WebSocket routes. Origins are checked against ALLOWED_HOSTS; the session is loaded so
that dashboard auth can admit staff only."""
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from .consumers import StatsConsumer

websocket_urlpatterns = [path("ws/stats", StatsConsumer.as_asgi())]

websocket_application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
