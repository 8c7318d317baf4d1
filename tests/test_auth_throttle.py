"""A client address that keeps presenting refused keys is throttled (messaging/auth_throttle.py,
issue 9): 429 with Retry-After on both ingest edges, until its window ends."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import AsyncClient, Client, override_settings

from messaging import api_keys, auth_throttle
from tests.support import wait_for

VALID = {"user_id": 1, "channel_id": 2, "content": "hello"}
LIMIT, WINDOW = 3, 1.0


@pytest.fixture
def throttled_settings():
    api_keys.forget_cached_keys()
    conf = {**settings.MSGBUFFER, "API_KEYS_REQUIRED": True, "AUTH_FAILURE_LIMIT": LIMIT, "AUTH_FAILURE_WINDOW": WINDOW}
    with override_settings(MSGBUFFER=conf, DEBUG=False):
        yield
    api_keys.forget_cached_keys()


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.django_db(transaction=True)
async def test_ingest__refused_keys_past_the_limit__429_even_with_a_valid_key(api, clean_redis, throttled_settings):
    _, valid = await sync_to_async(api_keys.api_key_create)(name="client")

    refused = [(await api.post("/messages", json=VALID, headers=bearer("mbk_guess"))).status_code for _ in range(LIMIT)]
    throttled = await api.post("/messages/bulk", json={"messages": [VALID]}, headers=bearer("mbk_guess"))
    with_valid_key = await api.post("/messages", json=VALID, headers=bearer(valid))  # same address: it waits too

    assert refused == [401] * LIMIT
    assert throttled.status_code == 429 and throttled.headers["content-type"] == "application/json"
    assert throttled.json()["error"] == "auth_throttled" and throttled.json()["message"]
    assert 1 <= int(throttled.headers["retry-after"]) <= WINDOW
    assert with_valid_key.status_code == 429
    assert clean_redis.llen("pending_messages") == 0


@pytest.mark.django_db(transaction=True)
def test_ingest__throttled_address__forgotten_after_the_window(clean_redis, throttled_settings):
    _, valid = api_keys.api_key_create(name="client")
    client = Client()
    for _ in range(LIMIT):
        assert client.post("/messages", VALID, content_type="application/json", headers=bearer("mbk_guess")).status_code == 401
    assert client.post("/messages", VALID, content_type="application/json", headers=bearer(valid)).status_code == 429

    wait_for(
        lambda: client.post("/messages", VALID, content_type="application/json", headers=bearer(valid)).status_code == 202,
        timeout=WINDOW + 5,
        interval=0.1,
        message="the valid key accepted once the window ended",
    )


@pytest.mark.django_db(transaction=True)
async def test_django_view__refused_keys_past_the_limit__429_before_the_body_is_read(throttled_settings):
    client = AsyncClient()  # Django's own request cycle: views._ingest
    for _ in range(LIMIT):
        assert (await client.post("/messages", VALID, content_type="application/json", headers=bearer("mb_x"))).status_code == 401

    response = await client.post("/messages", b"not even json", content_type="text/plain", headers=bearer("mb_x"))

    assert response.status_code == 429 and response.json()["error"] == "auth_throttled"
    assert response["Retry-After"].isdigit()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "method, path",
    [("GET", "/messages"), ("GET", "/queue/status"), ("GET", "/metrics"), ("POST", "/simulate"), ("GET", "/health")],
)
async def test_other_routes__refused_keys_past_the_limit__429_there_and_on_ingest(
    api, clean_redis, throttled_settings, method, path
):
    """Every route that takes a key charges a refused one (access.caller), ahead of Django or not."""
    for _ in range(LIMIT):
        answer = await api.request(method, path, json={} if method == "POST" else None, headers=bearer("mbk_guess"))
        assert answer.status_code == (200 if path == "/health" else 401), answer.text  # /health: status only, anonymous

    throttled = await api.request(method, path, json={} if method == "POST" else None, headers=bearer("mbk_guess"))
    on_ingest = await api.post("/messages", json=VALID, headers=bearer("mbk_guess"))

    if path == "/health":  # anonymous by contract: a throttled caller still learns healthy or not
        assert throttled.status_code == 200 and throttled.json() == {"status": "healthy"}
    else:
        assert throttled.status_code == 429 and throttled.json()["error"] == "auth_throttled"
    assert on_ingest.status_code == 429


@override_settings(MSGBUFFER={**settings.MSGBUFFER, "AUTH_FAILURE_LIMIT": 2, "AUTH_FAILURE_WINDOW": 60})
def test_throttle__addresses_are_counted_apart__and_memory_is_bounded():
    for _ in range(2):
        auth_throttle.note_refusal("192.0.2.1")
    auth_throttle.note_refusal("192.0.2.2")

    assert auth_throttle.retry_after("192.0.2.1") and auth_throttle.retry_after("192.0.2.2") is None
    for n in range(auth_throttle.MAX_CLIENTS + 10):
        auth_throttle.note_refusal(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
    assert len(auth_throttle._windows) == auth_throttle.MAX_CLIENTS
    assert auth_throttle.retry_after("192.0.2.1") is None  # least recently refused: forgotten first


@override_settings(MSGBUFFER={**settings.MSGBUFFER, "AUTH_FAILURE_LIMIT": 0})
def test_throttle__limit_0__never_throttles():
    for _ in range(100):
        auth_throttle.note_refusal("192.0.2.1")
    assert auth_throttle.retry_after("192.0.2.1") is None


@pytest.mark.django_db(transaction=True)
async def test_ingest__behind_a_trusted_proxy__the_forwarded_address_is_throttled_not_the_proxy(
    api, clean_redis, throttled_settings
):
    """asgi.py believes X-Forwarded-For from FORWARDED_ALLOW_IPS (127.0.0.1, the test client's
    address) and skips granian's wrapper when there is none: both ways set the right address."""
    one, other = {"X-Forwarded-For": "198.51.100.1"}, {"X-Forwarded-For": "198.51.100.2"}
    for _ in range(LIMIT):
        assert (await api.post("/messages", json=VALID, headers=bearer("mbk_guess") | one)).status_code == 401

    assert (await api.post("/messages", json=VALID, headers=bearer("mbk_guess") | one)).status_code == 429
    assert (await api.post("/messages", json=VALID, headers=bearer("mbk_guess") | other)).status_code == 401
    assert (await api.post("/messages", json=VALID, headers=bearer("mbk_guess"))).status_code == 401  # the proxy itself
