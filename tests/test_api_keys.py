"""API keys carry a signature (messaging/api_keys.py, issue 9): a key we did not issue is
refused without a database query; keys from before signing keep working while live;
rotating SECRET_KEY keeps keys working through SECRET_KEY_FALLBACKS."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signing
from django.test import override_settings

from messaging import api_keys
from messaging.models import ApiKey
from tests.support import ROOT, child_env, wait_for

JSON = {"Content-Type": "application/json"}
VALID = {"user_id": 1, "channel_id": 2, "content": "hello"}
OTHER_SECRET = "another-deployments-secret-key-0123456789abcdef"


def legacy_key() -> str:
    """A key as api_key_create made them before signing."""
    return api_keys.LEGACY_PREFIX + secrets.token_urlsafe(32)


def forged_keys(n: int) -> list[str]:
    """Keys that look like ours: right prefix and shape, wrong tag; tags made with another
    SECRET_KEY; unsigned keys of the old shape; and plain junk."""
    kinds = [
        lambda: f"{api_keys.KEY_PREFIX}{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}",
        lambda: signing.Signer(key=OTHER_SECRET, salt=api_keys.SIGNING_SALT, sep=".").sign(
            api_keys.KEY_PREFIX + secrets.token_urlsafe(32)
        ),
        legacy_key,
        lambda: "mb_" + secrets.token_hex(8),
    ]
    return [kinds[i % len(kinds)]() for i in range(n)]


async def post(api, raw: str) -> int:
    return (await api.post("/messages", json=VALID, headers={"Authorization": f"Bearer {raw}"})).status_code


@pytest.mark.django_db
def test_api_key_create__key_carries_its_tag__only_the_digest_stored():
    key, raw = api_keys.api_key_create(name="client")

    assert raw.startswith(api_keys.KEY_PREFIX) and api_keys.issued_by_us(raw)
    assert key.digest == api_keys.digest_of(raw) and raw not in (key.prefix, key.digest)
    body, tag = raw.rsplit(".", 1)
    assert not api_keys.issued_by_us(f"{body}.{tag[::-1]}")
    assert not api_keys.issued_by_us(body)


@pytest.mark.django_db(transaction=True)
async def test_check__secret_key_rotated__key_works_while_the_old_secret_is_a_fallback(api, keys_required):
    _, raw = await sync_to_async(api_keys.api_key_create)(name="client")
    old = settings.SECRET_KEY

    with override_settings(SECRET_KEY=OTHER_SECRET, SECRET_KEY_FALLBACKS=[old]):
        assert await post(api, raw) == 202
    with override_settings(SECRET_KEY=OTHER_SECRET, SECRET_KEY_FALLBACKS=[]):
        assert await post(api, raw) == 401  # the tag, not the cache, decides


@pytest.mark.django_db(transaction=True)
async def test_check__legacy_unsigned_key__works_until_revoked(api, keys_required):
    raw = legacy_key()
    key = await ApiKey.objects.acreate(name="old client", prefix=raw[:10], digest=api_keys.digest_of(raw))

    assert await post(api, raw) == 202
    await sync_to_async(api_keys.api_key_revoke)(key=key)
    api_keys.forget_cached_keys()  # what admin does; other processes within CACHE_SECONDS
    assert await post(api, raw) == 401


@pytest.mark.django_db(transaction=True)
async def test_check__forged_keys__refused_without_a_lookup(api, keys_required):
    await sync_to_async(api_keys.api_key_create)(name="signed client")  # no unsigned key is live
    forged = forged_keys(8)

    assert [await post(api, raw) for raw in forged] == [401] * len(forged)
    # A lookup leaves its answer in the per-digest cache: none was made.
    assert not any(api_keys.digest_of(raw) in api_keys._cache for raw in forged)


# ---------------------------------------------------------------------------
# A production-like server (DEBUG off, keys required) and its database's transactions
# ---------------------------------------------------------------------------
def manage(url: str, *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=child_env(DATABASE_URL=url, **PRODUCTION),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "p" * 50,
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "MSGBUFFER_API_KEYS_REQUIRED": "1",
}


def transactions(cluster) -> int:
    """Commits and rollbacks so far in the msgbuffer database. A backend reports its
    counts when it exits at the latest, so read this with the web process stopped."""
    with cluster.connect() as conn:
        return conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


def other_backends(cluster) -> int:
    """Sessions on the msgbuffer database besides this one (autovacuum's come and go)."""
    with cluster.connect() as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()[0]


@pytest.mark.slow
@pytest.mark.parametrize("throttle", ["off", "on, an unsigned key live"])
def test_web__500_requests_with_random_keys__under_50_transactions(private_postgres, processes, web_port, throttle):
    limit = 20 if throttle.startswith("on") else 0
    valid = manage(private_postgres.url, "apikey", "create", "client")
    if limit:
        # Unsigned keys keep working through a lookup while one is live: the throttle is then
        # what bounds a key guesser's queries.
        raw = legacy_key()
        manage(
            private_postgres.url,
            "shell",
            "-c",
            "from messaging import api_keys; from messaging.models import ApiKey; "
            f"ApiKey.objects.create(name='old', prefix={raw[:10]!r}, digest=api_keys.digest_of({raw!r}))",
        )
    wait_for(lambda: other_backends(private_postgres) == 0, timeout=15, message="the commands' connections closed")
    before = transactions(private_postgres)
    web = processes.web(web_port, DATABASE_URL=private_postgres.url, MSGBUFFER_AUTH_FAILURE_LIMIT=str(limit), **PRODUCTION)

    with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=10) as client:
        answers = [client.post("/messages", json=VALID, headers={"Authorization": f"Bearer {raw}"}) for raw in forged_keys(500)]
    processes.kill(web, signal.SIGTERM)  # its sessions report their counts as they end
    wait_for(lambda: other_backends(private_postgres) == 0, timeout=15, message="the web process's sessions ended")
    spent = transactions(private_postgres) - before

    statuses = [answer.status_code for answer in answers]
    assert spent < 50, f"{spent} transactions for 500 refused keys"
    if limit:
        assert statuses == [401] * limit + [429] * (500 - limit)
        throttled = answers[-1]
        assert throttled.json()["error"] == "auth_throttled" and throttled.json()["message"]
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
    else:
        assert statuses == [401] * 500
        assert answers[0].json()["error"] == "unauthorized"
        # and the key that was issued still works
        processes.web(web_port, DATABASE_URL=private_postgres.url, **PRODUCTION)
        assert (
            httpx.post(
                f"http://127.0.0.1:{web_port}/messages", json=VALID, headers={"Authorization": f"Bearer {valid}"}, timeout=10
            ).status_code
            == 202
        )


@pytest.mark.slow
def test_web__key_from_apikey_create__accepted__revoked__refused_within_the_cache_lifetime(private_postgres, processes, web_port):
    processes.web(web_port, DATABASE_URL=private_postgres.url, **PRODUCTION)
    raw = manage(private_postgres.url, "apikey", "create", "client")

    def status() -> int:
        return httpx.post(
            f"http://127.0.0.1:{web_port}/messages", json=VALID, headers={"Authorization": f"Bearer {raw}"}, timeout=10
        ).status_code

    assert status() == 202  # and now cached by the web process
    manage(private_postgres.url, "apikey", "revoke", "client")
    wait_for(lambda: status() == 401, timeout=api_keys.CACHE_SECONDS + 5, interval=0.5, message="the revoked key refused")
