"""WebSocket routes. Origins are checked against ALLOWED_HOSTS; the session is loaded so
that dashboard auth (dashboard/access.py) can admit staff only."""
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from .consumers import StatsConsumer

websocket_urlpatterns = [path("ws/stats", StatsConsumer.as_asgi())]


class AllowedHostsOriginValidator(OriginValidator):
    """Channels' AllowedHostsOriginValidator, but reading ALLOWED_HOSTS per connection.

    Channels copies the list once at import time, so override_settings in tests (and any
    code that sets ALLOWED_HOSTS after asgi.py is imported) would be ignored.
    """

    def __init__(self, application):
        super().__init__(application, allowed_origins=())

    @property
    def allowed_origins(self):
        hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not hosts:
            return ["localhost", "127.0.0.1", "[::1]"]  # what Django itself allows in DEBUG
        return hosts

    @allowed_origins.setter
    def allowed_origins(self, value):
        pass  # OriginValidator.__init__ assigns it; the property above is the source


websocket_application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
