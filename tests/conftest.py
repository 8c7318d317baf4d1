import pytest
import redis
from django.conf import settings
from django.test import override_settings

from messaging import api_keys, auth_throttle, buffer, jobs
from messaging.conf import msgbuffer_settings
from msgbuffer_site.embedded_redis import free_port
from tests import pgcluster
from tests.support import Processes


@pytest.fixture(autouse=True)
def clean_redis():
    """Every test starts with an empty Redis database and fresh client caches (and no
    client address throttled for the refused keys of earlier tests, nor keys they cached)."""
    buffer.reset_clients()
    auth_throttle.forget()
    api_keys.forget_cached_keys()
    msgbuffer_settings.cache_clear()
    jobs._queue.cache_clear()
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
async def api():
    """An HTTP client for the real ASGI application (asgi.py's routing included), in-process."""
    import httpx
    from asgiref.sync import sync_to_async
    from django.db import connections

    import msgbuffer_site.asgi

    transport = httpx.ASGITransport(app=msgbuffer_site.asgi.application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    # Django runs sync views (and sync_to_async runs our ORM calls) in asgiref's shared
    # thread, whose connection outlives the test (CONN_MAX_AGE) and would keep the test
    # database from being dropped at the end of the session.
    await sync_to_async(connections.close_all)()


@pytest.fixture
def processes(tmp_path):
    """Start web servers and workers as subprocesses; all are stopped after the test."""
    running = Processes(tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of our own, migrated: this test stops it, so it cannot be the
    machine's server (and it runs the same on the SQLite pass)."""
    reason = pgcluster.missing_reason()
    if reason:
        pytest.skip(reason)
    cluster = pgcluster.PgCluster()
    try:
        cluster.start()
        cluster.create_and_migrate()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def web_port():
    return free_port()


@pytest.fixture(scope="session", autouse=True)
def close_stray_database_sessions(django_db_setup, django_db_blocker):
    """Let pytest-django drop the test database at the end.

    Sync views run in asgiref's worker thread and keep that thread's connection open;
    PostgreSQL refuses to drop a database with sessions still on it.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture
def keys_required():
    """MSGBUFFER_API_KEYS_REQUIRED on, with no key decision cached from before."""
    api_keys.forget_cached_keys()
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": True}):
        yield
    api_keys.forget_cached_keys()
