"""SPEC §1: `python manage.py runserver` serves HTTP and WebSockets (daphne's runserver).

Only the development settings (settings/local.py, DJANGO_DEBUG on) load daphne's app (it
costs every process about 40 MiB), so check the command itself still does both.
"""

import asyncio
import json
import sys

import httpx
import pytest
import websockets

from tests.support import child_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_runserver__started__serves_http_and_the_stats_socket(processes, web_port):
    argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{web_port}", "--noreload"]
    server = processes.start("runserver", argv, child_env(DJANGO_DEBUG="1"))
    health = wait_for(lambda: httpx.get(f"http://127.0.0.1:{web_port}/health", timeout=2), timeout=30, message="runserver")

    async def first_socket_message():
        async with websockets.connect(f"ws://127.0.0.1:{web_port}/ws/stats", origin=f"http://127.0.0.1:{web_port}") as socket:
            return json.loads(await asyncio.wait_for(socket.recv(), 10))

    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert asyncio.run(first_socket_message())["type"] == "stats_update"
    assert "Daphne" in processes.log(server)
