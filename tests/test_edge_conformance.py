"""One edge (SPEC §9): the ingest fast path answers as a Django route would on everything
that is not the payload.

The same hostile requests go to POST /messages twice: through asgi.py's application
(served ahead of Django by messaging/edge.py + ingest.py) and through a Django ASGI
handler loaded with the same settings, which routes the same path to views.messages_collection. Status, headers and
body must agree.
"""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings

import msgbuffer_site.asgi

ALLOWED = "msgbuffer.example"
ALLOWED_ORIGIN = "https://app.msgbuffer.example"
# Refused payload (422): both routes answer the same body and queue nothing.
INVALID = b'{"user_id": 1, "channel_id": 2}'
VALID = b'{"user_id": 1, "channel_id": 2, "content": "hello"}'

PRODUCTION_LIKE = dict(
    DEBUG=False,
    ALLOWED_HOSTS=[ALLOWED],
    CORS_ALLOWED_ORIGINS=[ALLOWED_ORIGIN],
    SECURE_SSL_REDIRECT=False,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    SECURE_HSTS_SECONDS=31536000,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
    SECURE_HSTS_PRELOAD=True,
)

CASES = {
    "foreign host": ({"host": "evil.example"}, INVALID, {}),
    "foreign host with ssl redirect": ({"host": "evil.example"}, INVALID, {"SECURE_SSL_REDIRECT": True}),
    "allowed host": ({"host": ALLOWED}, INVALID, {}),
    "allowed host, valid payload": ({"host": ALLOWED}, VALID, {}),
    "foreign origin": ({"host": ALLOWED, "origin": "https://evil.example"}, INVALID, {}),
    "allowed origin": ({"host": ALLOWED, "origin": ALLOWED_ORIGIN}, INVALID, {}),
    "allowed origin, valid payload": ({"host": ALLOWED, "origin": ALLOWED_ORIGIN}, VALID, {}),
    "http with ssl redirect on": ({"host": ALLOWED}, INVALID, {"SECURE_SSL_REDIRECT": True}),
    "https behind a proxy": ({"host": ALLOWED, "x-forwarded-proto": "https"}, INVALID, {"SECURE_SSL_REDIRECT": True}),
    "https, allowed origin": ({"host": ALLOWED, "x-forwarded-proto": "https", "origin": ALLOWED_ORIGIN}, INVALID, {}),
    "host with a port": ({"host": f"{ALLOWED}:8443"}, INVALID, {}),
    "keys required, foreign host": ({"host": "evil.example"}, VALID, {"MSGBUFFER": {"API_KEYS_REQUIRED": True}}),
    "keys required, no key": ({"host": ALLOWED}, VALID, {"MSGBUFFER": {"API_KEYS_REQUIRED": True}}),
}

# Differ by nature, not by rule: a 202 carries a fresh message_id and time; it must be there all the same.
VARYING = {"content-length"}


async def _post(app, headers: dict, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/messages", content=body, headers={"content-type": "application/json", **headers})


def _comparable(response: httpx.Response) -> dict:
    """Every header; for those in VARYING, only whether it is there."""
    return {name: (value if name not in VARYING else "(present)") for name, value in response.headers.items()}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(CASES))
async def test_edge__hostile_request__answers_as_django_does(case):
    headers, body, extra = CASES[case]
    with override_settings(**(PRODUCTION_LIKE | extra)):
        edge = await _post(msgbuffer_site.asgi.application, headers, body)
        # A fresh handler: Django's middleware reads settings when it is loaded.
        django = await _post(ASGIHandler(), headers, body)

    assert edge.status_code == django.status_code, (edge.text, django.text)
    assert _comparable(edge) == _comparable(django)
    if body is INVALID or edge.status_code != 202:
        assert edge.content == django.content


@pytest.mark.django_db(transaction=True)
async def test_edge__foreign_host__400_json_before_the_key_is_checked(clean_redis):
    with override_settings(**PRODUCTION_LIKE, MSGBUFFER={"API_KEYS_REQUIRED": True}):
        response = await _post(msgbuffer_site.asgi.application, {"host": "evil.example"}, VALID)

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert clean_redis.llen("pending_messages") == 0


@pytest.mark.django_db(transaction=True)
async def test_edge__http_with_ssl_redirect__301_to_https_nothing_queued(clean_redis):
    with override_settings(**PRODUCTION_LIKE | {"SECURE_SSL_REDIRECT": True}):
        response = await _post(msgbuffer_site.asgi.application, {"host": ALLOWED}, VALID)

    assert response.status_code == 301
    assert response.headers["location"] == f"https://{ALLOWED}/messages"
    assert clean_redis.llen("pending_messages") == 0


@pytest.mark.django_db(transaction=True)
async def test_edge__preflight__same_answer_on_both_routes():
    headers = {"host": ALLOWED, "origin": ALLOWED_ORIGIN, "access-control-request-method": "POST"}
    with override_settings(**PRODUCTION_LIKE):
        answers = []
        for app in (msgbuffer_site.asgi.application, ASGIHandler()):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
                answers.append(await client.options("/messages", headers=headers))

    edge, django = answers
    assert edge.status_code == django.status_code == 200
    assert _comparable(edge) == _comparable(django)
    assert edge.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


READ_CASES = {
    "foreign host": {"host": "evil.example"},
    "allowed host": {"host": ALLOWED},
    "allowed origin": {"host": ALLOWED, "origin": ALLOWED_ORIGIN},
    "foreign origin": {"host": ALLOWED, "origin": "https://evil.example"},
    "https behind a proxy": {"host": ALLOWED, "x-forwarded-proto": "https"},
}
SSL_REDIRECT = {"SECURE_SSL_REDIRECT": True, "SECURE_REDIRECT_EXEMPT": [r"^health$"]}
# Every read route served ahead of Django (polled_reads.ROUTES); an unknown message id is a 404 on both.
READ_PATHS = ["/health", "/messages?limit=5", "/messages/6f1c1e0e-4c7a-4d39-9a56-0a0d4e1f2b3c", "/queue/status", "/metrics"]


def _moves(path: str, answer: httpx.Response) -> bool:
    """An answer whose body moves between two requests by nature: /metrics' counters,
    /health's live worker count (not its status-only answer), never a refusal."""
    return answer.status_code == 200 and (path == "/metrics" or path == "/health" and "workers" in answer.text)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", READ_PATHS)
@pytest.mark.parametrize("ssl_redirect", [False, True])
@pytest.mark.parametrize("case", list(READ_CASES))
async def test_edge__polled_read__answers_as_django_does(case, path, ssl_redirect):
    headers = READ_CASES[case]
    answers = []
    with override_settings(**PRODUCTION_LIKE | (SSL_REDIRECT if ssl_redirect else {})):
        for app in (msgbuffer_site.asgi.application, ASGIHandler()):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
                answers.append(await client.get(path, headers=headers))

    edge, django = answers
    assert edge.status_code == django.status_code, (edge.text, django.text)
    assert _comparable(edge) == _comparable(django)
    if not _moves(path, edge):
        assert edge.content == django.content


def _callers() -> dict[str, dict]:
    """Request headers for each kind of caller: keys, sessions (Django's own login)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from messaging import api_keys

    def session(is_staff: bool) -> dict:
        user = get_user_model().objects.create_user(username=f"edge-{is_staff}", password="x", is_staff=is_staff)
        client = Client()
        client.force_login(user)
        return {"cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}

    return {
        "anonymous": {},
        "read key": {"authorization": f"Bearer {api_keys.api_key_create(name='reader')[1]}"},
        "ingest-only key": {"authorization": f"Bearer {api_keys.api_key_create(name='writer', scopes=['ingest'])[1]}"},
        "unknown key": {"authorization": "Bearer mb_not-a-key"},
        "staff session": session(True),
        "non-staff session": session(False),
        "expired session cookie": {"cookie": f"{settings.SESSION_COOKIE_NAME}=abcdefgh12345678nosuchsession"},
    }


CALLERS = [
    "anonymous",
    "read key",
    "ingest-only key",
    "unknown key",
    "staff session",
    "non-staff session",
    "expired session cookie",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", READ_PATHS)
@pytest.mark.parametrize("caller", CALLERS)
async def test_edge__polled_read_by_caller_keys_required__answers_as_django_does(caller, path):
    from asgiref.sync import sync_to_async

    from messaging import access, api_keys, polled_reads

    headers = {"host": ALLOWED, **(await sync_to_async(_callers)())[caller]}
    answers = []
    polled_reads.forget_cached_reads()
    with override_settings(
        **PRODUCTION_LIKE, MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": True, "READ_CACHE_SECONDS": 30.0}
    ):
        for app in (msgbuffer_site.asgi.application, ASGIHandler(), msgbuffer_site.asgi.application):
            if len(answers) < 2:  # the first two with no key or session known; the third from every cache
                api_keys.forget_cached_keys(), access.forget_cached_sessions()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
                answers.append(await client.get(path, headers=headers))

    edge, django, cached = answers
    for answer in (edge, cached):
        assert answer.status_code == django.status_code, (answer.text, django.text)
        assert _comparable(answer) == _comparable(django)
        if not _moves(path, edge):
            assert answer.content == django.content
