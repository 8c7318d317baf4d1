"""The admin and the HTML pages (issue 9): the Content-Security-Policy of every page, and
admin login throttling (django-axes). A real web server (uvicorn, DEBUG off) on the tests'
database; the test process makes users and sessions in that database and asks django-axes
what it stored."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from msgbuffer_site.content_security import ADMIN_ADDITIONS
from tests.support import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-and-correct-password-9"
COOLOFF_SECONDS = 3
# Production, except that the test speaks plain HTTP to uvicorn (no TLS proxy here).
PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_SECURE_SSL_REDIRECT": "0", "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}


class Browser:
    """An HTTP client that keeps cookies the way a browser on https would: with DEBUG off
    every cookie is Secure, which httpx's cookie jar would not send back over plain HTTP."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.cookies:
            headers["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = self.http.request(method, path, headers=headers, **kwargs)
        for line in response.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def log_in(self, username: str, password: str) -> httpx.Response:
        form = self.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        return self.request(
            "POST", "/admin/login/?next=/admin/", data={"username": username, "password": password, "csrfmiddlewaretoken": token}
        )


def policy(response: httpx.Response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers["content-security-policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";") if part.strip())}


def make_staff(username: str = "operator"):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True, is_superuser=True)


def staff_browser(base_url: str) -> Browser:
    """A browser with a staff session made in the shared database."""
    client = Client()
    client.force_login(make_staff())
    browser = Browser(base_url)
    browser.cookies["sessionid"] = client.cookies["sessionid"].value
    return browser


def inline_script_hashes(html: str) -> set[str]:
    """The CSP source that admits each inline script that runs (JSON data blocks do not)."""
    found = set()
    for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S):
        if "src=" in attributes or 'type="application/json"' in attributes:
            continue
        found.add("'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'")
    return found


# ---------------------------------------------------------------------------
# Content-Security-Policy
# ---------------------------------------------------------------------------
def test_csp__debug_off__every_html_page_has_a_strict_policy_and_json_none(processes, web_port):
    base = f"http://127.0.0.1:{web_port}"
    processes.web(web_port, **PRODUCTION)
    browser = staff_browser(base)

    pages = {path: browser.get(path) for path in ("/", "/docs", "/admin/")}
    pages["/admin/login/"] = httpx.get(f"{base}/admin/login/", timeout=10)  # anonymous: staff are sent on

    assert {path: response.status_code for path, response in pages.items()} == {
        "/": 200,
        "/docs": 200,
        "/admin/": 200,
        "/admin/login/": 200,
    }
    for path, response in pages.items():
        found = policy(response)
        assert found["default-src"] == ["'none'"], path  # so no plugins (object-src), fonts, frames, media
        assert found["script-src"][0] == "'self'" and "'unsafe-inline'" not in found["script-src"], path
        assert found["connect-src"] == ["'self'", f"ws://127.0.0.1:{web_port}"], path
        assert (found["frame-ancestors"], found["base-uri"], found["form-action"]) == (["'none'"], ["'none'"], ["'self'"]), path
    for path in ("/", "/docs"):  # the site's own pages: no inline style either
        assert policy(pages[path])["style-src"] == ["'self'"], path
        assert inline_script_hashes(pages[path].text) == set(), path

    # JSON answers carry none, ahead of Django (edge.py) or through it.
    for path in ("/health", "/messages?limit=1", "/openapi.json", "/queue/status", "/no-such-page"):
        assert "content-security-policy" not in httpx.get(f"{base}{path}", timeout=10).headers, path


def test_csp__admin_and_django_rq_pages__every_inline_script_admitted_by_the_policy(processes, web_port):
    # The admin's additions name django-rq's inline script by hash: a django-rq upgrade
    # that changes it fails here, not silently in an operator's browser.
    processes.web(web_port, **PRODUCTION)
    browser = staff_browser(f"http://127.0.0.1:{web_port}")

    seen = set()
    for path in (
        "/admin/",
        "/admin/rq/",
        "/admin/rq/queues/0/",
        "/admin/rq/queues/0/failed/",
        "/admin/rq/workers/0/",
        "/admin/messaging/message/",
        "/admin/auth/user/",
        "/admin/axes/accessattempt/",
    ):
        response = browser.get(path)
        assert response.status_code == 200, path
        script_src = policy(response)["script-src"]
        assert inline_script_hashes(response.text) <= set(script_src), path
        assert "'unsafe-inline'" not in script_src, path
        seen |= inline_script_hashes(response.text)
    assert seen == set(ADMIN_ADDITIONS["script-src"])  # the check above did look at django-rq's script


# ---------------------------------------------------------------------------
# Admin login throttling
# ---------------------------------------------------------------------------
def attempts_within_cooloff() -> bool:
    """What django-axes counts: failures younger than the cool-off."""
    return AccessAttempt.objects.filter(attempt_time__gt=timezone.now() - timedelta(seconds=COOLOFF_SECONDS)).exists()


def test_admin_login__right_password_after_twenty_wrong__refused_until_the_lockout_ends(processes, web_port):
    make_staff()
    processes.web(web_port, AXES_COOLOFF_SECONDS=str(COOLOFF_SECONDS), **PRODUCTION)
    browser = Browser(f"http://127.0.0.1:{web_port}")

    wrong = [browser.log_in("operator", f"wrong-{n}").status_code for n in range(20)]
    locked = browser.log_in("operator", PASSWORD)

    # The default limit (AXES_FAILURE_LIMIT=10): nine re-rendered forms, then the lockout.
    assert wrong == [200] * 9 + [429] * 11
    assert locked.status_code == 429
    assert "sessionid" not in browser.cookies
    assert locked.headers["content-type"].startswith("text/html")  # a page, in the admin's look
    assert "Too many failed logins" in locked.text and 'href="/static/admin/css/base.css"' in locked.text
    assert policy(locked)["default-src"] == ["'none'"]
    assert browser.get("/admin/").status_code == 302  # not logged in

    wait_for(lambda: not attempts_within_cooloff(), timeout=COOLOFF_SECONDS + 10, message="the lockout to end")
    admitted = browser.log_in("operator", PASSWORD)

    assert (admitted.status_code, admitted.headers["location"]) == (302, "/admin/")
    assert browser.get("/admin/").status_code == 200


def test_admin_login__locked_out__operator_unlocks_with_axes_reset(processes, web_port):
    make_staff()
    processes.web(web_port, **PRODUCTION)  # the default cool-off: 15 minutes
    browser = Browser(f"http://127.0.0.1:{web_port}")
    for n in range(10):
        browser.log_in("operator", f"wrong-{n}")
    assert browser.log_in("operator", PASSWORD).status_code == 429

    call_command("axes_reset")

    assert browser.log_in("operator", PASSWORD).status_code == 302
