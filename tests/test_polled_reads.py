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
