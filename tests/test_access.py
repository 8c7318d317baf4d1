"""messaging/access.py: who may call what (README "Who may call what"), with DEBUG off and
API keys required, through the routes served ahead of Django (asgi.py's application) and
through Django's own handler alike.

Keys come from the real services (and `manage.py apikey`), sessions from Django's login;
Redis and PostgreSQL are the real ones.
"""

from __future__ import annotations

import uuid
from io import StringIO

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.management import call_command
from django.test import override_settings

import msgbuffer_site.asgi
from messaging import access, api_keys, buffer, polled_reads
from tests.test_api_endpoints import assert_json_error, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "scrape-" + "t" * 40
READ_PATHS = ["/messages?limit=5", "/queue/status", "/stats/history?range=1m", f"/messages/{uuid.uuid4()}", "/metrics"]
MESSAGE = {"user_id": 1, "channel_id": 2, "content": "hello"}


def production(**msgbuffer) -> override_settings:
    return override_settings(DEBUG=False, MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": True, **msgbuffer})


@pytest.fixture(autouse=True)
def fresh_caches():
    for forget in (api_keys.forget_cached_keys, access.forget_cached_sessions, polled_reads.forget_cached_reads):
        forget()
    yield
    for forget in (api_keys.forget_cached_keys, access.forget_cached_sessions, polled_reads.forget_cached_reads):
        forget()


@pytest.fixture(params=["ahead of Django", "through Django"])
def app(request):
    """asgi.py's application (GET /health, /messages, /queue/status served by
    polled_reads.py), or Django's own ASGI handler for every route."""
    return request.param


async def call(app: str, method: str, path: str, **kwargs) -> httpx.Response:
    # A fresh Django handler inside the override: its middleware reads settings when loaded.
    asgi = msgbuffer_site.asgi.application if app == "ahead of Django" else ASGIHandler()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://testserver") as client:
        return await client.request(method, path, **kwargs)


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


async def new_key(*scopes: str) -> str:
    return (await sync_to_async(api_keys.api_key_create)(name="test", **({"scopes": scopes} if scopes else {})))[1]


def served(response: httpx.Response) -> bool:
    """Answered as to a caller who may read (the detail of an unknown id is its 404)."""
    return response.status_code in (200, 404) and (response.status_code == 200 or response.json()["error"] == "not_found")


# ---------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", READ_PATHS)
async def test_reads__anonymous__401_json_with_www_authenticate(app, path):
    with production():
        response = await call(app, "GET", path)

    assert_json_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer realm="msgbuffer"'


@pytest.mark.parametrize("path", READ_PATHS)
async def test_reads__key_without_the_read_scope__403(app, path):
    raw = await new_key("ingest")
    with production():
        response = await call(app, "GET", path, headers=bearer(raw))

    assert "`read`" in assert_json_error(response, 403, "forbidden")["message"]


@pytest.mark.parametrize("path", READ_PATHS)
async def test_reads__read_key__served(app, path):
    raw = await new_key()  # no scopes named: ingest,read
    with production():
        response = await call(app, "GET", path, headers=bearer(raw))

    assert served(response), response.text


@pytest.mark.parametrize("path", READ_PATHS)
async def test_reads__staff_session__served_non_staff_401(app, path):
    staff = await sync_to_async(session_cookie)(is_staff=True)
    visitor = await sync_to_async(session_cookie)(is_staff=False)
    with production():
        as_staff = await call(app, "GET", path, headers=staff)
        as_visitor = await call(app, "GET", path, headers=visitor)

    assert served(as_staff), as_staff.text
    assert_json_error(as_visitor, 401, "unauthorized")


@pytest.mark.parametrize("path", READ_PATHS)
async def test_reads__keys_not_required__open_to_anyone(app, path):
    with override_settings(DEBUG=False, MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": False}):
        assert served(await call(app, "GET", path))


async def test_reads__stored_messages__anonymous_sees_none_of_them(app, api):
    raw = await new_key()
    await api.post("/messages", json={"user_id": 7, "channel_id": 8, "content": "private words"}, headers=bearer(raw))
    await sync_to_async(buffer_drain)()
    with production():
        anonymous = await call(app, "GET", "/messages?limit=500&user_id=7")
        keyed = await call(app, "GET", "/messages?limit=500&user_id=7", headers=bearer(raw))

    assert anonymous.status_code == 401 and "private words" not in anonymous.text
    assert [row["content"] for row in keyed.json()] == ["private words"]


def buffer_drain():
    from messaging import flush

    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "FLUSH_INTERVAL": 0.0}):
        flush.buffer_drain(budget=30)


# ---------------------------------------------------------------------------
# /health
# ---------------------------------------------------------------------------
async def test_health__anonymous__status_only(app):
    with production():
        response = await call(app, "GET", "/health")

    assert response.status_code == 200 and response.json() == {"status": "healthy"}


async def test_health__key_or_staff__full_body(app):
    raw = await new_key()
    staff = await sync_to_async(session_cookie)(is_staff=True)
    with production():
        keyed = await call(app, "GET", "/health", headers=bearer(raw))
        as_staff = await call(app, "GET", "/health", headers=staff)

    for response in (keyed, as_staff):
        assert response.status_code == 200
        assert {"status", "redis", "database", "workers", "queue_length", "batch_threshold"} <= set(response.json())


async def test_health__anonymous_redis_unreachable__503_unhealthy_without_detail(app):
    from msgbuffer_site.embedded_redis import free_port

    with production(), override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        buffer.reset_clients()
        response = await call(app, "GET", "/health")
    buffer.reset_clients()

    assert response.status_code == 503 and response.json() == {"status": "unhealthy"}


# ---------------------------------------------------------------------------
# /metrics
# ---------------------------------------------------------------------------
async def test_metrics__scrape_token__served_wrong_token_401(app):
    with production(METRICS_TOKEN=TOKEN):
        right = await call(app, "GET", "/metrics", headers=bearer(TOKEN))
        wrong = await call(app, "GET", "/metrics", headers=bearer(TOKEN[:-1] + "x"))
        no_token = await call(app, "GET", "/metrics")

    assert right.status_code == 200 and "msgbuffer_queue_length" in right.text
    assert_json_error(wrong, 401, "unauthorized")
    assert_json_error(no_token, 401, "unauthorized")


async def test_metrics__public__served_to_anyone(app):
    with production(METRICS_PUBLIC=True):
        response = await call(app, "GET", "/metrics")

    assert response.status_code == 200 and "msgbuffer_queue_length" in response.text


def test_check__short_metrics_token__error():
    from messaging.apps import check_msgbuffer_settings

    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "METRICS_TOKEN": "short"}):
        assert "msgbuffer.E009" in {found.id for found in check_msgbuffer_settings()}
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "METRICS_TOKEN": TOKEN}):
        assert "msgbuffer.E009" not in {found.id for found in check_msgbuffer_settings()}


# ---------------------------------------------------------------------------
# Scopes on the writes
# ---------------------------------------------------------------------------
async def test_ingest__key_without_the_ingest_scope__403_nothing_queued(app, clean_redis):
    raw = await new_key("read")
    with production():
        one = await call(app, "POST", "/messages", json=MESSAGE, headers=bearer(raw))
        bulk = await call(app, "POST", "/messages/bulk", json={"messages": [MESSAGE]}, headers=bearer(raw))

    assert "`ingest`" in assert_json_error(one, 403, "forbidden")["message"]
    assert_json_error(bulk, 403, "forbidden")
    assert clean_redis.llen(buffer.PENDING) == 0


async def test_reset__key_created_without_scope__403_nothing_reset(app, clean_redis):
    out = StringIO()
    await sync_to_async(call_command)("apikey", "create", "client", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    with production(ALLOW_RESET=True):
        await call(app, "POST", "/messages", json=MESSAGE, headers=bearer(raw))
        response = await call(app, "DELETE", "/reset", headers=bearer(raw))

    assert "`operate`" in assert_json_error(response, 403, "forbidden")["message"]
    assert clean_redis.llen(buffer.PENDING) == 1


# ---------------------------------------------------------------------------
# CSRF on cookie-authenticated writes
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("body", [{"json": {"count": 2}}, {}], ids=["json body", "empty body"])
async def test_simulate__staff_cookie_without_csrf_token__403_nothing_queued(app, clean_redis, body):
    staff = await sync_to_async(session_cookie)(is_staff=True)
    with production():
        response = await call(app, "POST", "/simulate", headers=staff, **body)

    assert "CSRF" in assert_json_error(response, 403, "csrf_failed")["message"]
    assert clean_redis.llen(buffer.PENDING) == 0


async def test_simulate__staff_cookie_with_csrf_token__202(app, clean_redis):
    staff = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    with production():
        response = await call(app, "POST", "/simulate", json={"count": 2}, headers=staff)

    assert response.status_code == 202, response.text
    assert clean_redis.llen(buffer.PENDING) == 2


async def test_simulate__staff_cookie_csrf_token_from_another_origin__403(app, clean_redis):
    staff = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    with production():
        response = await call(app, "POST", "/simulate", json={"count": 2}, headers={**staff, "Origin": "https://evil.example"})

    assert "Origin" in assert_json_error(response, 403, "csrf_failed")["message"]
    assert clean_redis.llen(buffer.PENDING) == 0


async def test_reset__staff_cookie_without_csrf_token__403_then_with_it_200(app, clean_redis):
    staff = await sync_to_async(session_cookie)(is_staff=True)
    with_token = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    with production(ALLOW_RESET=True):
        await call(app, "POST", "/simulate", json={"count": 1}, headers=with_token)
        refused = await call(app, "DELETE", "/reset", headers=staff)
        assert clean_redis.llen(buffer.PENDING) == 1
        done = await call(app, "DELETE", "/reset", headers=with_token)

    assert_json_error(refused, 403, "csrf_failed")
    assert done.status_code == 200 and done.json()["dropped_queued"] == 1


async def test_simulate__operate_key__no_csrf_token_needed(app, clean_redis):
    raw = await new_key("operate")
    with production():
        response = await call(app, "POST", "/simulate", headers=bearer(raw))

    assert response.status_code == 202, response.text


async def test_admin_login__csrf_failure__still_djangos_html_page():
    with production():
        response = await call("through Django", "POST", "/admin/login/", data={"username": "x", "password": "y"})

    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------------------
# /simulate and the rate limit
# ---------------------------------------------------------------------------
async def test_simulate__over_the_rate_limit__429_whole_for_key_and_staff(app, clean_redis):
    raw = await new_key("operate")
    staff = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    with production(RATE_LIMIT=1000):
        keyed = await call(app, "POST", "/simulate", json={"count": 1001}, headers=bearer(raw))
        as_staff = await call(app, "POST", "/simulate", json={"count": 1001}, headers=staff)

    for response in (keyed, as_staff):
        assert assert_json_error(response, 429, "rate_limited")["accepted"] == 0
        assert response.headers["retry-after"] == "1"
    assert clean_redis.llen(buffer.PENDING) == 0


async def test_simulate__staff__counts_against_the_staff_users_own_limit(app, clean_redis):
    staff = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    with production(RATE_LIMIT=1000):
        response = await call(app, "POST", "/simulate", json={"count": 5}, headers=staff)

    assert response.status_code == 202
    [counter] = clean_redis.keys(buffer.RATE_PREFIX + "staff-*")
    assert int(clean_redis.get(counter)) == 5


# ---------------------------------------------------------------------------
# The matrix, as the OpenAPI document states it
# ---------------------------------------------------------------------------
async def test_openapi__security_schemes_and_refusals_on_each_guarded_route(api):
    document = (await api.get("/openapi.json")).json()

    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerKey"]["scheme"] == schemes["metricsToken"]["scheme"] == "bearer"
    assert schemes["sessionCookie"] == {
        **schemes["sessionCookie"],
        "type": "apiKey",
        "in": "cookie",
        "name": settings.SESSION_COOKIE_NAME,
    }
    paths = document["paths"]
    guarded = [
        ("/messages", "get"),
        ("/messages/{message_id}", "get"),
        ("/queue/status", "get"),
        ("/stats/history", "get"),
        ("/metrics", "get"),
        ("/messages", "post"),
        ("/messages/bulk", "post"),
        ("/simulate", "post"),
        ("/reset", "delete"),
        ("/flush/pause", "post"),
        ("/flush/resume", "post"),
    ]
    for path, method in guarded:
        operation = paths[path][method]
        assert {"401", "403"} <= set(operation["responses"]), (path, method)
        assert {"bearerKey": []} in operation["security"], (path, method)
    assert {"metricsToken": []} in paths["/metrics"]["get"]["security"]
    for never_anonymous in ("/reset", "/flush/pause", "/flush/resume"):
        assert {} not in next(iter(paths[never_anonymous].values()))["security"], never_anonymous
    assert "429" in paths["/simulate"]["post"]["responses"]
