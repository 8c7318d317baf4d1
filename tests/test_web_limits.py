"""The production web command (the Procfile's web line, started as tests/support.py starts
every server) under hostile clients, DEBUG off (issue 9, "Bounded parsing"): headers
bounded in size, count and read time, bodies in read time, and the server still serving
everyone else afterwards. bench/web_servers.py measures the same against other servers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import psutil
import pytest
import websockets

from tests.support import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "tests-only-production-like-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "MSGBUFFER_API_KEYS_REQUIRED": "0",
    "MSGBUFFER_DASHBOARD_AUTH": "0",
    "MSGBUFFER_BODY_READ_TIMEOUT": "1",
}
HEADER_READ_TIMEOUT = 10.0  # seconds: the Procfile's --http1-header-read-timeout 10000
MIB = 1 << 20


@pytest.fixture
def web(processes, web_port):
    process = processes.web(web_port, **PRODUCTION)
    return process, web_port


def tree_rss(pid: int) -> int:
    """RSS of the web command and its children (granian serves from a child process)."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class PeakRss(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, tree_rss(pid), threading.Event()

    def run(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, tree_rss(self.pid))


def open_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closes `sock` within `seconds`, and what it sent before."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return True, received
        if not data:
            return True, received
        received += data
    return False, received


def healthy(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200


def test_web__32_mib_header__refused_within_2_s_and_rss_grows_under_50_mib(web):
    process, port = web
    sampler = PeakRss(process.pid)
    before = sampler.peak
    sampler.start()
    sock = open_socket(port)
    started = time.monotonic()
    answer = b""
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * (64 << 10)
        for _ in range((32 * MIB) // len(chunk)):
            sock.sendall(chunk)
        sock.sendall(b"\r\n\r\n")
        answer = sock.recv(200)
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused before all of it was sent
    refused_after = time.monotonic() - started
    sock.close()
    time.sleep(0.2)  # the sampler's last looks
    sampler.done.set()
    sampler.join()

    assert refused_after < 2.0
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer
    assert (sampler.peak - before) / MIB < 50
    assert healthy(port)


def test_web__more_than_100_header_lines__431(web):
    _, port = web
    sock = open_socket(port)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(150)) + b"\r\n")

    closed, received = closed_within(sock, 5)

    assert received.startswith(b"HTTP/1.1 431"), received
    assert healthy(port)


def test_web__half_sent_headers_and_idle_connections__closed_after_the_header_read_timeout(web):
    _, port = web
    half_headers = [open_socket(port) for _ in range(10)]
    for sock in half_headers:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    silent = [open_socket(port) for _ in range(10)]  # connected, never a byte
    started = time.monotonic()

    results = [closed_within(sock, HEADER_READ_TIMEOUT + 5) for sock in half_headers + silent]

    assert all(closed for closed, _ in results)
    assert time.monotonic() - started < HEADER_READ_TIMEOUT + 5
    assert healthy(port)


def test_web__half_sent_body__408_json_after_the_body_read_timeout_and_closed(web):
    _, port = web
    sock = open_socket(port)
    sock.sendall(
        b"POST /messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"user_id": 1'
    )
    started = time.monotonic()

    closed, received = closed_within(sock, 10)

    assert closed and time.monotonic() - started < 5  # MSGBUFFER_BODY_READ_TIMEOUT=1
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), received
    assert b'"error":"request_timeout"' in body
    assert healthy(port)


def test_web__slow_but_steady_body__accepted(web):
    # The deadline is per part, not per body: a slow link that keeps sending gets through.
    _, port = web
    body = b'{"user_id": 1, "channel_id": 2, "content": "sent in three parts"}'
    sock = open_socket(port)
    sock.sendall(
        b"POST /messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    )
    for start in range(0, len(body), 25):
        sock.sendall(body[start : start + 25])
        time.sleep(0.5)

    _, received = closed_within(sock, 10)

    assert received.startswith(b"HTTP/1.1 202"), received


def test_web__websocket_stats__served_by_the_production_command(web):
    _, port = web

    async def first_tick():
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stats", origin=f"http://127.0.0.1:{port}") as socket_:
            return await asyncio.wait_for(socket_.recv(), 10)

    assert '"type":"stats_update"' in asyncio.run(first_tick()).replace(" ", "")


def test_web__attacks_in_flight__ingest_still_answers(web):
    _, port = web
    slow = [open_socket(port) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")

    started = time.monotonic()
    response = httpx.post(
        f"http://127.0.0.1:{port}/messages", json={"user_id": 1, "channel_id": 2, "content": "still here"}, timeout=5
    )

    assert response.status_code == 202 and time.monotonic() - started < 1.0
    for sock in slow:
        sock.close()
    wait_for(lambda: healthy(port), timeout=5, message="the web process healthy")
