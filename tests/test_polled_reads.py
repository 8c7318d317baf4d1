"""messaging/polled_reads.py: the per-process cache of what every dashboard polls."""

import pytest
from django.conf import settings
from django.test import override_settings

from messaging import polled_reads

JSON = {"Content-Type": "application/json"}
MESSAGE = {"user_id": 1, "channel_id": 2, "content": "hello"}


@pytest.fixture(autouse=True)
def empty_cache():
    polled_reads.forget_cached_reads()
    yield
    polled_reads.forget_cached_reads()


@pytest.mark.django_db(transaction=True)
async def test_polled_reads__within_the_cache_time__same_answer_without_asking_redis(api):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "READ_CACHE_SECONDS": 30.0}):
        first = (await api.get("/queue/status")).json()
        await api.post("/messages", json=MESSAGE, headers=JSON)
        second = (await api.get("/queue/status")).json()
        other_query = (await api.get("/queue/status?x=1")).json()  # a distinct query is its own entry

    assert first["queue_length"] == second["queue_length"] == 0
    assert other_query["queue_length"] == 1


@pytest.mark.django_db(transaction=True)
async def test_polled_reads__cache_off__every_read_fresh(api):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "READ_CACHE_SECONDS": 0.0}):
        await api.get("/queue/status")
        await api.post("/messages", json=MESSAGE, headers=JSON)
        assert (await api.get("/queue/status")).json()["queue_length"] == 1


@pytest.mark.django_db(transaction=True)
async def test_polled_reads__many_distinct_queries__cache_bounded(api):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "READ_CACHE_SECONDS": 30.0}):
        for n in range(polled_reads.CACHE_ENTRIES + 20):
            await api.get(f"/messages?limit=1&n={n}")

    assert len(polled_reads._cache) == polled_reads.CACHE_ENTRIES


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["keyed", "anonymous"])
async def test_polled_reads__keys_required__cache_never_crosses_audiences(api, first):
    from asgiref.sync import sync_to_async

    from messaging import api_keys

    _, raw = await sync_to_async(api_keys.api_key_create)(name="reader")
    keyed = {"Authorization": f"Bearer {raw}"}
    answers = {}
    with override_settings(DEBUG=False, MSGBUFFER={"API_KEYS_REQUIRED": True, "READ_CACHE_SECONDS": 30.0}):
        for who in ([first] + [w for w in ("keyed", "anonymous") if w != first]) * 2:  # each from the cache the second time
            for path in ("/health", "/queue/status", "/messages?limit=1"):
                response = await api.get(path, headers=keyed if who == "keyed" else {})
                answers.setdefault((who, path), set()).add((response.status_code, response.content))

    assert all(len(seen) == 1 for seen in answers.values())  # the second round agrees with the first
    [(status, body)] = answers[("anonymous", "/health")]
    assert status == 200 and body == b'{"status": "healthy"}'
    [(status, body)] = answers[("keyed", "/health")]
    assert status == 200 and b'"queue_length"' in body
    for path in ("/queue/status", "/messages?limit=1"):
        assert {status for status, _ in answers[("anonymous", path)]} == {401}
        assert {status for status, _ in answers[("keyed", path)]} == {200}
    assert {key[2] for key in polled_reads._cache} == {True, False}  # /health's two answers, kept apart


async def _asgi_get(path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One GET straight through asgi.py's application (no test client in between)."""
    import msgbuffer_site.asgi

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await msgbuffer_site.asgi.application(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cookie", [False, True])
async def test_polled_reads__leave_no_cyclic_garbage(clean_redis, cookie):
    """Garbage in reference cycles waits for the collector, and with gc's thresholds raised
    (asgi.py) each gen-0 collection took ~30 ms: the p99 of the cached reads (issue 12)."""
    import gc

    headers = [(b"cookie", f"{settings.SESSION_COOKIE_NAME}=abcdefgh12345678nosuchsession".encode())] if cookie else []
    for path in ("/health", "/messages", "/queue/status"):  # warm: imports, caches, pools
        await _asgi_get(path, headers)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        statuses = [await _asgi_get(path, headers) for _ in range(20) for path in ("/health", "/messages", "/queue/status")]
        gc.collect()
        garbage = [type(found).__name__ for found in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()

    assert set(statuses) == {200}
    assert garbage == []
