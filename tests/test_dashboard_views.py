"""The dashboard page at / (SPEC §7): served whole by the project (no CDN), and staff-only
when dashboard auth is on. The page's behaviour is tested in a browser
(tests/test_dashboard_browser.py); this file checks what the server hands it."""

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

DASHBOARD_AUTH = override_settings(MSGBUFFER={**settings.MSGBUFFER, "DASHBOARD_AUTH": True})
EXTERNAL = re.compile(r"""(?:src|href)=["'](?:https?:)?//""")


def test_dashboard_page__auth_off__renders_with_its_config(client):
    page = client.get("/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="dashboard-config"' in html
    assert '"batchSize": 50' in html
    assert EXTERNAL.findall(html) == []  # works offline: nothing loaded from elsewhere


def test_dashboard_page__scripts_and_styles__all_served_locally(client):
    html = client.get("/").content.decode()
    assets = re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html)
    main = next(asset for asset in assets if asset.endswith("main.js"))
    modules = re.findall(r"""from "\./([\w.]+)";""", b"".join(client.get(main).streaming_content).decode())

    assert len(modules) >= 5
    for path in assets + [main.rsplit("/", 1)[0] + "/" + module for module in modules]:
        assert client.get(path).status_code == 200, path


@DASHBOARD_AUTH
def test_dashboard_page__auth_on_and_anonymous__sent_to_login(client):
    page = client.get("/")

    assert page.status_code == 302
    assert page["Location"].startswith("/admin/login/?next=/")


@DASHBOARD_AUTH
@pytest.mark.django_db
def test_dashboard_page__auth_on_and_staff__renders(client):
    client.force_login(get_user_model().objects.create_user(username="ops", password="unused-here", is_staff=True))

    assert client.get("/").status_code == 200
