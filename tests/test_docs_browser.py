"""/docs, the interactive explorer (Swagger UI from drf-spectacular-sidecar's static
files, messaging/static/messaging/api_docs.js), in headless Chromium against a real web
server: every operation rendered, try-it-out answered by the running instance, with an
API key (Authorize) and with a staff session's CSRF token, and not one request to another
host."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from messaging import api_keys
from tests.test_dashboard_browser import RECORD_CSP_VIOLATIONS, browser, until  # noqa: F401  (browser: the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOT = settings.VAR_DIR / "screenshots" / "docs.png"
PRODUCTION_SECRET = "docs-browser-test-secret-" + "s" * 40
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": PRODUCTION_SECRET,
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "MSGBUFFER_API_KEYS_REQUIRED": "1",
    "LOG_FORMAT": "text",
}
VIEWPORT = {"width": 1280, "height": 1000}
LIVE_STATUS = ".live-responses-table .response .response-col_status"


class DocsPage:
    """/docs open in a page that records every request it makes, its console errors and
    the policy violations it reports."""

    def __init__(self, context, base: str):
        self.base = base
        self.page = context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.add_init_script(RECORD_CSP_VIOLATIONS)
        self.page.goto(f"{base}/docs")
        self.page.wait_for_selector(".opblock", timeout=20_000)

    def execute(self, tag: str, operation_id: str, *, body: str | None = None) -> str:
        """Expand the operation, press "Try it out" and "Execute": the status the page shows."""
        operation = self.page.locator(f"#operations-{tag}-{operation_id}")
        operation.locator(".opblock-summary").click()
        operation.locator(".try-out__btn").click()
        if body is not None:
            operation.locator("textarea.body-param__text").fill(body)
        operation.locator("button.execute").click()
        status = operation.locator(LIVE_STATUS)
        status.wait_for(timeout=15_000)
        return status.inner_text().strip()

    def authorize(self, scheme: str, value: str) -> None:
        self.page.click("button.authorize")
        dialog = self.page.locator(".auth-container", has=self.page.locator(f"h4:has-text('{scheme}')"))
        dialog.locator("input").fill(value)
        dialog.locator("button[type=submit]").click()
        self.page.click("button.btn-done")

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.base + "/")]

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.cspViolations")


def test_docs__explorer__every_operation_rendered_and_try_it_out_health_answers_200__nothing_from_another_host(
    browser,  # noqa: F811
    processes,
    web_port,
):
    processes.web(web_port)
    base = f"http://127.0.0.1:{web_port}"
    document = httpx.get(f"{base}/openapi.json", timeout=10).json()
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    context = browser.new_context(viewport=VIEWPORT)
    docs = DocsPage(context, base)

    until(docs.page, f"document.querySelectorAll('.opblock').length === {len(operations)}", timeout_ms=10_000)
    rendered = docs.page.eval_on_selector_all(
        ".opblock",
        "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent.toLowerCase(),"
        " b.querySelector('.opblock-summary-path').dataset.path])",
    )
    assert {tuple(pair) for pair in rendered} == operations
    assert docs.execute("reads", "getHealth") == "200"
    # Expanded, the operation lists every documented answer of the route.
    documented = docs.page.eval_on_selector_all(
        "#operations-reads-getHealth .responses-table:not(.live-responses-table) tr.response",
        "rows => rows.map(row => row.dataset.code)",
    )
    assert documented == list(document["paths"]["/health"]["get"]["responses"])
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    docs.page.screenshot(path=str(SCREENSHOT), full_page=True)

    assert docs.foreign_requests() == []
    assert f"{base}/openapi.json" in docs.requests and f"{base}/health" in docs.requests
    assert docs.errors == [] and docs.csp_violations() == []
    context.close()


@pytest.fixture
def read_key() -> str:
    """A `read` key signed with the production server's secret (made before Playwright's loop)."""
    with override_settings(SECRET_KEY=PRODUCTION_SECRET):
        return api_keys.api_key_create(name="docs-reader", scopes=["read"])[1]


@pytest.fixture
def staff_session() -> str:
    """A staff session the production server can read (sessions are signed with its secret)."""
    with override_settings(SECRET_KEY=PRODUCTION_SECRET):
        client = Client()
        client.force_login(get_user_model().objects.create_user(username="docs-operator", is_staff=True))
        return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_docs__keys_required__authorize_sends_the_key_and_a_staff_sessions_write_its_csrf_token(
    read_key,
    staff_session,  # both before the browser: the ORM refuses to run inside Playwright's loop
    browser,  # noqa: F811
    processes,
    web_port,
):
    processes.worker(**PRODUCTION)
    processes.web(web_port, **PRODUCTION)
    base = f"http://127.0.0.1:{web_port}"
    assert httpx.get(f"{base}/queue/status", timeout=10).status_code == 401  # anonymous: refused

    with_key = browser.new_context(viewport=VIEWPORT)
    docs = DocsPage(with_key, base)
    docs.authorize("bearerKey", read_key)
    assert docs.execute("reads", "getQueueStatus") == "200"
    assert docs.errors == [] and docs.foreign_requests() == []
    with_key.close()

    # A staff session's POST /simulate passes Django's CSRF check only with the token
    # (403 csrf_failed without it): api_docs.js adds it.
    staff = browser.new_context(viewport=VIEWPORT)
    staff.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": staff_session, "url": base}])
    docs = DocsPage(staff, base)
    without_token = "fetch('/simulate', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'})"
    assert docs.page.evaluate(f"{without_token}.then(response => response.status)") == 403  # the control
    docs.errors.clear()  # Chromium logs the control's 403 as a console error
    assert docs.execute("operations", "simulateTraffic", body='{"count": 3}') == "202"
    assert docs.errors == [] and docs.foreign_requests() == [] and docs.csp_violations() == []
    staff.close()
