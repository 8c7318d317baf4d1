"""The dashboard page (SPEC §7). It renders the shell; the data arrives over /ws/stats
and from the JSON API, which the page's scripts poll."""

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.views.decorators.http import require_safe

from messaging.conf import msgbuffer_settings

from .access import may_watch

# How often the page polls /health and GET /messages (seconds).
POLL_INTERVAL = 2.0
FEED_SIZE = 30  # messages shown in the live feed


@require_safe
def index(request):
    if not may_watch(request.user):
        return redirect_to_login(request.get_full_path(), login_url="admin:login")
    conf = msgbuffer_settings()
    config = {
        "batchSize": conf.BATCH_SIZE,
        "statsInterval": conf.STATS_INTERVAL,
        "pollInterval": POLL_INTERVAL,
        "feedSize": FEED_SIZE,
        # A staff user's burst counts against RATE_LIMIT per second (POST /simulate).
        "maxBurst": min(conf.MAX_SIMULATE, conf.RATE_LIMIT) if conf.RATE_LIMIT else conf.MAX_SIMULATE,
    }
    return render(request, "dashboard/index.html", {"config": config, "batch_size": conf.BATCH_SIZE})
