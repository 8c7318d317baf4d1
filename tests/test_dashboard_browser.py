"""The dashboard (SPEC §7) end to end in headless Chromium: a real web server and worker
as subprocesses, the page driven by Playwright through Debian's chromium (no browser
download: `playwright install` is never run)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.conf import settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = settings.VAR_DIR / "screenshots" / "dashboard.png"


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Dashboard:
    page: object
    web: subprocess.Popen
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions


@pytest.fixture
def dashboard(browser, processes, web_port):
    """A worker, a web server on `web_port`, and the dashboard open in a page."""
    processes.worker()
    opened = Dashboard(page=browser.new_page(viewport={"width": 1440, "height": 1000}), web=processes.web(web_port))
    opened.page.on("console", lambda message: opened.errors.append(f"console: {message.text}") if message.type == "error" else None)
    opened.page.on("pageerror", lambda error: opened.errors.append(f"page error: {error}"))
    opened.page.goto(f"http://127.0.0.1:{web_port}/")
    yield opened
    opened.page.close()


def figure(page, element_id: str) -> float:
    """The figure a card shows once its count-up animation ends (kept in data-value)."""
    return float(page.get_attribute(f"#{element_id}", "data-value"))


def test_dashboard__sixty_messages_posted__cards_chart_and_feed_move(dashboard, web_port):
    page = dashboard.page
    page.wait_for_selector('#connection-badge[data-state="connected"]', timeout=15_000)
    page.wait_for_selector('#health-redis[data-state="ok"]', timeout=10_000)
    assert figure(page, "total-messages") == 0
    points_before = int(page.get_attribute("#throughput-chart", "data-points"))

    messages = [{"user_id": n + 1, "channel_id": 1 + n % 3, "content": f"browser test message {n}"} for n in range(60)]
    answer = httpx.post(f"http://127.0.0.1:{web_port}/messages/bulk", json={"messages": messages}, timeout=10)
    assert answer.status_code == 202

    page.wait_for_function("Number(document.getElementById('total-messages').dataset.value) === 60", timeout=15_000)
    page.wait_for_function("Number(document.getElementById('throughput-chart').dataset.peak) > 0", timeout=15_000)
    assert int(page.get_attribute("#throughput-chart", "data-points")) > points_before
    assert page.get_attribute("#throughput-chart .chart-line", "d").count("L") > 1
    page.wait_for_function("document.getElementById('total-messages').textContent.trim() === '60'", timeout=5_000)  # the count-up settles
    assert figure(page, "total-batches") >= 2  # 50 at once, the last 10 after the flush interval

    # The burst control: its ids enter the feed as queued and turn persisted with their batch.
    page.click('.presets button[data-count="10"]')
    with page.expect_response("**/simulate") as response:
        page.click("#burst-button")
    burst_ids = response.value.json()["message_ids"]
    assert len(burst_ids) == 10
    statuses = "ids => ids.map(id => document.querySelector(`#feed li[data-id='${id}']`)?.dataset.status)"
    page.wait_for_function(f"({statuses})({burst_ids!r}).every(s => s === 'queued' || s === 'persisted')", timeout=5_000)
    page.wait_for_function(f"({statuses})({burst_ids!r}).every(s => s === 'persisted')", timeout=15_000)
    page.wait_for_function("Number(document.getElementById('total-messages').dataset.value) === 70", timeout=10_000)
    filled = "ids => ids.every(id => document.querySelector(`#feed li[data-id='${id}'][data-filled]`))"
    page.wait_for_function(f"({filled})({burst_ids!r})", timeout=10_000)  # GET /messages filled in their content

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert dashboard.errors == []


def test_dashboard__web_process_restarted__page_reconnects_by_itself(dashboard, processes, web_port):
    page = dashboard.page
    page.wait_for_selector('#connection-badge[data-state="connected"]', timeout=15_000)
    assert dashboard.errors == []

    processes.kill(dashboard.web)
    page.wait_for_selector('#connection-badge[data-state="reconnecting"]', timeout=15_000)
    processes.web(web_port)

    # The first retry comes about 3 s after the drop, then 6 s later: well inside this.
    page.wait_for_selector('#connection-badge[data-state="connected"]', timeout=30_000)
    updated = page.inner_text("#last-update")
    page.wait_for_function(f"document.getElementById('last-update').textContent !== {updated!r}", timeout=5_000)



@pytest.fixture
def operator():
    """A staff user, made before Playwright's event loop runs in this thread."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="operator", password="a long test password", is_staff=True)


def test_dashboard__production_staff_login__polls_and_burst_pass_auth_and_csrf(operator, browser, processes, web_port):
    """DEBUG off, keys required: the staff user logs in through the admin, the page's polls
    ride on the session, and the burst's POST /simulate carries Django's CSRF token."""
    production = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_SECURE_SSL_REDIRECT": "0",
                  "MSGBUFFER_API_KEYS_REQUIRED": "1", "MSGBUFFER_DASHBOARD_AUTH": "1", "LOG_FORMAT": "text"}
    processes.worker(**production)
    processes.web(web_port, **production)
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused = []
    page.on("response", lambda response: refused.append(response.url) if response.status in (401, 403) else None)

    page.goto(f"http://localhost:{web_port}/")  # the login page first
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a long test password")
    page.click("input[type=submit]")
    page.wait_for_selector('#health-workers[data-state="ok"]', timeout=15_000)  # /health's full body: the worker count
    page.fill("#burst-count", "10")
    with page.expect_response("**/simulate") as response:
        page.click("#burst-button")

    assert response.value.status == 202, response.value.text()
    assert len(response.value.json()["message_ids"]) == 10
    assert refused == [] and errors == []
    page.close()
