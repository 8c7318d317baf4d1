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
from django.contrib.auth import get_user_model
from django.test import Client

from tests.support import wait_for

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
# Records every Content-Security-Policy violation of the page (Playwright's init scripts
# run outside the page's policy). Chromium also logs each one as a console error.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`));
"""


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
    policy: str = ""  # the page's Content-Security-Policy header

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.cspViolations")


@pytest.fixture
def dashboard(browser, processes, web_port):
    """A worker, a web server on `web_port`, and the dashboard open in a page."""
    processes.worker()
    opened = Dashboard(page=browser.new_page(viewport={"width": 1440, "height": 1000}), web=processes.web(web_port))
    opened.page.on(
        "console", lambda message: opened.errors.append(f"console: {message.text}") if message.type == "error" else None
    )
    opened.page.on("pageerror", lambda error: opened.errors.append(f"page error: {error}"))
    opened.page.add_init_script(RECORD_CSP_VIOLATIONS)
    opened.policy = opened.page.goto(f"http://127.0.0.1:{web_port}/").headers.get("content-security-policy", "")
    yield opened
    opened.page.close()


def until(page, expression: str, *, timeout_ms: int) -> None:
    """Wait until `expression` is true in the page. Not page.wait_for_function: that
    compiles its predicate with eval inside the page, which the page's policy (no
    'unsafe-eval') refuses; page.evaluate goes through the DevTools protocol instead."""
    wait_for(lambda: page.evaluate(expression), timeout=timeout_ms / 1000, message=expression)


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

    until(page, "Number(document.getElementById('total-messages').dataset.value) === 60", timeout_ms=15_000)
    until(page, "Number(document.getElementById('throughput-chart').dataset.peak) > 0", timeout_ms=15_000)
    assert int(page.get_attribute("#throughput-chart", "data-points")) > points_before
    assert page.get_attribute("#throughput-chart .chart-line", "d").count("L") > 1
    until(page, "document.getElementById('total-messages').textContent.trim() === '60'", timeout_ms=5_000)  # the count-up settles
    assert figure(page, "total-batches") >= 2  # 50 at once, the last 10 after the flush interval

    # The burst control: its ids enter the feed as queued and turn persisted with their batch.
    page.click('.presets button[data-count="10"]')
    with page.expect_response("**/simulate") as response:
        page.click("#burst-button")
    burst_ids = response.value.json()["message_ids"]
    assert len(burst_ids) == 10
    statuses = "ids => ids.map(id => document.querySelector(`#feed li[data-id='${id}']`)?.dataset.status)"
    until(page, f"({statuses})({burst_ids!r}).every(s => s === 'queued' || s === 'persisted')", timeout_ms=5_000)
    until(page, f"({statuses})({burst_ids!r}).every(s => s === 'persisted')", timeout_ms=15_000)
    until(page, "Number(document.getElementById('total-messages').dataset.value) === 70", timeout_ms=10_000)
    filled = "ids => ids.every(id => document.querySelector(`#feed li[data-id='${id}'][data-filled]`))"
    until(page, f"({filled})({burst_ids!r})", timeout_ms=10_000)  # GET /messages filled in their content

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert dashboard.errors == []
    # The socket, the polls and the burst all ran under the strict policy, which blocked nothing.
    assert "script-src 'self'" in dashboard.policy and "connect-src 'self'" in dashboard.policy
    assert dashboard.csp_violations() == []


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
    until(page, f"document.getElementById('last-update').textContent !== {updated!r}", timeout_ms=5_000)


@pytest.fixture
def operator():
    """A staff user, made before Playwright's event loop runs in this thread."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="operator", password="a long test password", is_staff=True)


def test_dashboard__production_staff_login__polls_and_burst_pass_auth_and_csrf(operator, browser, processes, web_port):
    """DEBUG off, keys required: the staff user logs in through the admin, the page's polls
    ride on the session, and the burst's POST /simulate carries Django's CSRF token."""
    production = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "MSGBUFFER_API_KEYS_REQUIRED": "1",
        "MSGBUFFER_DASHBOARD_AUTH": "1",
        "LOG_FORMAT": "text",
    }
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


@pytest.fixture
def staff_session() -> str:
    """A staff session in the tests' database (made before Playwright's loop starts: the ORM
    refuses to run inside one)."""
    client = Client()
    client.force_login(get_user_model().objects.create_user(username="csp-operator", is_staff=True, is_superuser=True))
    return client.cookies["sessionid"].value


def test_admin__login_and_rq_pages__no_csp_violation(staff_session, browser, processes, web_port):
    processes.web(web_port)
    base = f"http://127.0.0.1:{web_port}"
    anonymous, staff = browser.new_context(), browser.new_context()
    staff.add_cookies([{"name": "sessionid", "value": staff_session, "url": base}])
    errors = []
    visited = {}
    for context, path in (
        (anonymous, "/admin/login/"),
        (staff, "/admin/"),
        (staff, "/admin/rq/queues/0/"),
        (staff, "/admin/messaging/message/"),
        (staff, "/admin/messaging/deadletter/"),
        (staff, "/docs"),
    ):
        page = context.new_page()
        # Admin pages link no favicon: the browser's own /favicon.ico try is a 404, not an error of the page.
        page.on(
            "console",
            lambda message, path=path: (
                errors.append(f"{path}: {message.text}")
                if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")
                else None
            ),
        )
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        response = page.goto(base + path)
        page.wait_for_load_state("load")
        visited[path] = (
            response.status,
            bool(response.headers.get("content-security-policy")),
            page.evaluate("window.cspViolations"),
        )
        page.close()
    anonymous.close()
    staff.close()

    assert visited == {path: (200, True, []) for path in visited}
    assert errors == []


def test_dashboard__history_range_switch__chart_starts_filled_and_switches(dashboard, web_port):
    """The chart is drawn from GET /stats/history: after a reload it shows what was stored
    before, and each range button redraws it from its own range."""
    page = dashboard.page
    messages = [{"user_id": n + 1, "channel_id": 1, "content": f"history in the browser {n}"} for n in range(100)]
    assert httpx.post(f"http://127.0.0.1:{web_port}/messages/bulk", json={"messages": messages}, timeout=10).status_code == 202
    stored = "Number(document.getElementById('throughput-chart').dataset.peak) > 0"
    until(page, stored, timeout_ms=15_000)

    page.reload()  # a fresh page: nothing of the old one's state but what the server kept
    page.wait_for_selector('#throughput-chart[data-range="1m"]', timeout=10_000)
    until(page, stored, timeout_ms=5_000)
    assert page.get_attribute('#chart-range button[data-range="1m"]', "aria-pressed") == "true"

    for range_name in ("1h", "24h", "7d"):
        with page.expect_response(f"**/stats/history?range={range_name}") as answer:
            page.click(f'#chart-range button[data-range="{range_name}"]')
        assert answer.value.status == 200
        page.wait_for_selector(f'#throughput-chart[data-range="{range_name}"]', timeout=5_000)
        until(page, f"{stored} && Number(document.getElementById('throughput-chart').dataset.points) > 0", timeout_ms=5_000)
        assert page.get_attribute(f'#chart-range button[data-range="{range_name}"]', "aria-pressed") == "true"
        assert page.get_attribute("#throughput-chart .chart-line", "d").count("L") > 100

    page.click('#chart-range button[data-range="1h"]')
    page.wait_for_selector('#throughput-chart[data-range="1h"]', timeout=5_000)
    page.screenshot(path=str(SCREENSHOT.with_name("dashboard-history.png")), full_page=True)
    page.reload()  # the chosen range is remembered
    page.wait_for_selector('#throughput-chart[data-range="1h"]', timeout=10_000)
    assert dashboard.errors == []
    assert dashboard.csp_violations() == []
