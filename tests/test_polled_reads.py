"""messaging/polled_reads.py: the per-process cache of what every dashboard polls."""
import pytest
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
    with override_settings(MSGBUFFER={"READ_CACHE_SECONDS": 30.0}):
        first = (await api.get("/queue/status")).json()
        await api.post("/messages", json=MESSAGE, headers=JSON)
        second = (await api.get("/queue/status")).json()
        other_query = (await api.get("/queue/status?x=1")).json()  # a distinct query is its own entry

    assert first["queue_length"] == second["queue_length"] == 0
    assert other_query["queue_length"] == 1


@pytest.mark.django_db(transaction=True)
async def test_polled_reads__cache_off__every_read_fresh(api):
    with override_settings(MSGBUFFER={"READ_CACHE_SECONDS": 0.0}):
        await api.get("/queue/status")
        await api.post("/messages", json=MESSAGE, headers=JSON)
        assert (await api.get("/queue/status")).json()["queue_length"] == 1


@pytest.mark.django_db(transaction=True)
async def test_polled_reads__many_distinct_queries__cache_bounded(api):
    with override_settings(MSGBUFFER={"READ_CACHE_SECONDS": 30.0}):
        for n in range(polled_reads.CACHE_ENTRIES + 20):
            await api.get(f"/messages?limit=1&n={n}")

    assert len(polled_reads._cache) == polled_reads.CACHE_ENTRIES
