"""The dashboard served from `collectstatic`'s hashed files with DEBUG off, as the
Dockerfile builds it: every ES module import names a hashed file (msgbuffer_site/
static_storage.py), and the page runs from them in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.support import ROOT, child_env
from tests.test_dashboard_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IMPORT = re.compile(r"""\b(?:import|from)\s*["'](\./[^"']+)["']""")
HASHED = re.compile(r"\.[0-9a-f]{12}\.js$")


@pytest.fixture
def collected(tmp_path):
    """collectstatic into a STATIC_ROOT of the test's own, with production settings."""
    env = child_env(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="collected-static-test-" + "k" * 40,
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        MSGBUFFER_API_KEYS_REQUIRED="0",
        MSGBUFFER_DASHBOARD_AUTH="0",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    return env, tmp_path / "static", manifest


def test_collectstatic__module_imports__name_the_hashed_modules(collected):
    _, root, manifest = collected
    modules = {name: hashed for name, hashed in manifest.items() if name.startswith("dashboard/js/")}
    assert set(modules) >= {"dashboard/js/main.js", "dashboard/js/api.js", "dashboard/js/gauge.js"}

    for hashed in modules.values():
        imported = IMPORT.findall((root / hashed).read_text())
        assert all(HASHED.search(path) for path in imported), (hashed, imported)
        # and each one is the very file the manifest names for that module
        for path in imported:
            target = f"dashboard/js/{path.removeprefix('./')}"
            assert target in manifest.values(), (hashed, path)
    main = (root / modules["dashboard/js/main.js"]).read_text()
    assert f'"./{modules["dashboard/js/api.js"].rsplit("/", 1)[1]}"' in main


def test_collectstatic__dashboard_from_the_hashed_files__runs_with_debug_off(collected, browser, processes, web_port):  # noqa: F811
    env, _, manifest = collected
    processes.web(web_port, **{key: value for key, value in env.items() if key.startswith(("DJANGO_", "MSGBUFFER_"))})
    page = browser.new_page()
    errors, scripts = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response", lambda response: scripts.append((response.url, response.status)) if response.url.endswith(".js") else None
    )
    try:
        page.goto(f"http://127.0.0.1:{web_port}/")
        page.wait_for_selector('#connection-badge[data-state="connected"]', timeout=15_000)  # the socket is live
        page.wait_for_selector('#health-redis[data-state="ok"]', timeout=10_000)  # the polls answer (api.js)
    finally:
        page.close()

    assert errors == []
    fetched = {url.split("/static/", 1)[1]: status for url, status in scripts}
    assert fetched and all(status == 200 for status in fetched.values()), fetched
    assert all(HASHED.search(path) for path in fetched), fetched  # no unhashed module was asked for
    assert {manifest["dashboard/js/main.js"], manifest["dashboard/js/api.js"]} <= set(fetched)


def test_collectstatic__docs_from_the_hashed_files__explorer_runs_with_debug_off(collected, browser, processes, web_port):  # noqa: F811
    """/docs's Swagger UI (drf-spectacular-sidecar's files) and its init module, hashed by
    collectstatic and served by WhiteNoise."""
    env, root, manifest = collected
    swagger = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    # The storage's module-import rewriting left the bundle byte for byte as shipped.
    assert (root / manifest[swagger]).read_bytes() == (root / swagger).read_bytes()
    processes.web(web_port, **{key: value for key, value in env.items() if key.startswith(("DJANGO_", "MSGBUFFER_"))})
    page = browser.new_page()
    errors, fetched = [], {}
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: fetched.__setitem__(response.url, response.status))
    try:
        page.goto(f"http://127.0.0.1:{web_port}/docs")
        page.wait_for_selector("#operations-reads-getHealth", timeout=20_000)  # rendered from /openapi.json
    finally:
        page.close()

    assert errors == []
    static = {url.split("/static/", 1)[1]: status for url, status in fetched.items() if "/static/" in url}
    assert all(status == 200 for status in static.values()), static
    assert {manifest[swagger], manifest["messaging/api_docs.js"], manifest["messaging/api_docs.css"]} <= set(static)
