from django.shortcuts import render

from messaging.conf import msgbuffer_settings


def index(request):
    conf = msgbuffer_settings()
    return render(request, "dashboard/index.html", {"batch_size": conf.BATCH_SIZE, "stats_interval": conf.STATS_INTERVAL})
