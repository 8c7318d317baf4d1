"""URL routes. The ingest POSTs are also served ahead of Django (see asgi.py)."""

from django.contrib import admin
from django.urls import include, path, re_path

from messaging import flush_control_views, history_view, views

urlpatterns = [
    path("", include("dashboard.urls")),
    path("messages", views.messages_collection, name="messages"),
    path("messages/bulk", views.messages_bulk, name="messages-bulk"),
    path("messages/<uuid:message_id>", views.message_detail, name="message-detail"),
    path("health", views.health, name="health"),
    path("queue/status", views.queue_status, name="queue-status"),
    path("stats/history", history_view.stats_history, name="stats-history"),
    path("metrics", views.metrics, name="metrics"),
    path("simulate", views.simulate_traffic, name="simulate"),
    path("reset", views.reset, name="reset"),
    path("flush/pause", flush_control_views.flush_pause, name="flush-pause"),
    path("flush/resume", flush_control_views.flush_resume, name="flush-resume"),
    path("openapi.json", views.openapi_json, name="openapi-json"),
    path("docs", views.api_docs, name="api-docs"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    # Last: any other path is a JSON 404, with DEBUG on too (handler404 only serves
    # DEBUG off, and `make run` runs the demo with DEBUG on).
    re_path(r"", views.not_found),
]

handler400 = "messaging.views.bad_request"
handler404 = "messaging.views.not_found"
handler500 = "messaging.views.server_error"
