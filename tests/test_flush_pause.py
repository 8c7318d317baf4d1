"""Pausing and resuming the flush (issue 11): POST /flush/pause and /flush/resume, the
`paused` flag in /queue/status, /metrics and the /ws/stats tick, and what claim.lua and
push.lua do while it is set.

The end-to-end test runs a real web server (the Procfile's) and a real `manage.py
rqworker` as subprocesses against the tests' Redis and database.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import override_settings
from websockets.sync.client import connect

import msgbuffer_site.asgi
from messaging import access, api_keys, buffer, flush
from messaging.conf import msgbuffer_settings
from messaging.schemas import MessageIn
from tests.delivery import message_body, row_count, start_worker
from tests.support import wait_for
from tests.test_api_endpoints import assert_json_error, session_cookie
from tests.test_dashboard_browser import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)  # subprocesses must see the keys and rows


@pytest.fixture(autouse=True)
def fresh_caches():
    api_keys.forget_cached_keys()
    access.forget_cached_sessions()
    yield
    api_keys.forget_cached_keys()
    access.forget_cached_sessions()


def queue(count: int) -> None:
    """Queue `count` storable messages as ingest would (its payload format)."""
    accepted_at = datetime.now(UTC).isoformat()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    entries = [(i, buffer.queued_payload(MessageIn(**message_body(n)), i, accepted_at)) for n, i in enumerate(ids)]
    assert buffer.push(entries).accepted


async def post(path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=msgbuffer_site.asgi.application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(path, **kwargs)


async def new_key(*scopes: str) -> str:
    return (await sync_to_async(api_keys.api_key_create)(name="pause-test", scopes=scopes))[1]


def production() -> override_settings:
    return override_settings(DEBUG=False, MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": True})


# ---------------------------------------------------------------------------
# The buffer while paused
# ---------------------------------------------------------------------------
def test_pause__claims_nothing_and_pushes_ask_for_no_job__resume_claims_again(clean_redis):
    assert buffer.flush_pause() is True
    assert buffer.flush_pause() is False  # already paused

    result = buffer.push([(f"m{n}", b"{}") for n in range(msgbuffer_settings().BATCH_SIZE * 2)])

    assert result.accepted and not result.flush_job_requested
    assert not clean_redis.exists(buffer.FLUSH_QUEUED)
    clean_redis.set(buffer.FLUSH_ACTIVE, "1")  # a running job's flag: its claim ends it
    with pytest.raises(buffer.FlushPaused):
        buffer.claim(full_only=True)
    assert not clean_redis.exists(buffer.FLUSH_ACTIVE)
    assert clean_redis.llen(buffer.PENDING) == msgbuffer_settings().BATCH_SIZE * 2
    assert buffer.read_state().paused is True
    assert buffer.flush_work_unattended() is False  # idle workers do not keep asking

    assert buffer.flush_resume() is True
    assert buffer.read_state().paused is False
    assert buffer.flush_work_unattended() is True
    assert len(buffer.claim(full_only=True).payloads) == msgbuffer_settings().BATCH_SIZE


def test_pause__while_a_batch_is_claimed__that_batch_is_stored_and_acked_then_the_drain_ends(clean_redis):
    queue(msgbuffer_settings().BATCH_SIZE * 3)
    in_flight = buffer.claim(full_only=True)
    buffer.flush_pause()

    outcome = flush.batch_flush(in_flight)  # the claim made before the pause finishes
    drained = flush.buffer_drain(budget=5)

    assert outcome.settled
    assert drained.paused and drained.finished and drained.batches == 0
    state = buffer.read_state()
    assert (state.total_batches, state.in_flight, state.queue_length) == (1, 0, msgbuffer_settings().BATCH_SIZE * 2)


def test_pause__then_the_demo_reset__stays_paused(clean_redis):
    queue(3)
    buffer.flush_pause()

    buffer.reset()

    assert clean_redis.llen(buffer.PENDING) == 0
    assert buffer.read_state().paused is True


# ---------------------------------------------------------------------------
# Who may pause
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/flush/pause", "/flush/resume"])
@pytest.mark.parametrize("keys_required", [True, False], ids=["keys required", "keys not required"])
async def test_flush_control__anonymous__401_and_nothing_changes(clean_redis, path, keys_required):
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "API_KEYS_REQUIRED": keys_required}):
        response = await post(path)

    assert_json_error(response, 401, "unauthorized")
    assert not clean_redis.exists(buffer.FLUSH_PAUSED)


async def test_flush_control__key_without_the_operate_scope__403(clean_redis):
    raw = await new_key("ingest", "read")
    with production():
        response = await post("/flush/pause", headers={"Authorization": f"Bearer {raw}"})

    assert "`operate`" in assert_json_error(response, 403, "forbidden")["message"]
    assert not clean_redis.exists(buffer.FLUSH_PAUSED)


async def test_flush_control__operate_key__pauses_and_resumes_with_json_answers(clean_redis):
    headers = {"Authorization": f"Bearer {await new_key('operate')}"}
    with production():
        paused = await post("/flush/pause", headers=headers)
        again = await post("/flush/pause", headers=headers)
        resumed = await post("/flush/resume", headers=headers)

    assert (paused.status_code, paused.json()) == (200, {"paused": True, "changed": True})
    assert again.json() == {"paused": True, "changed": False}
    assert resumed.status_code == 200
    assert resumed.json() == {"paused": False, "changed": True, "flush_job_requested": False}  # nothing waits
    assert not clean_redis.exists(buffer.FLUSH_PAUSED)


async def test_flush_control__staff_session__needs_the_csrf_token(clean_redis):
    without = await sync_to_async(session_cookie)(is_staff=True)
    with_token = await sync_to_async(session_cookie)(is_staff=True, csrf=True)
    with production():
        refused = await post("/flush/pause", headers=without)
        assert not clean_redis.exists(buffer.FLUSH_PAUSED)
        done = await post("/flush/pause", headers=with_token)

    assert_json_error(refused, 403, "csrf_failed")
    assert done.status_code == 200 and clean_redis.exists(buffer.FLUSH_PAUSED)


async def test_flush_control__get__405_json(clean_redis):
    transport = httpx.ASGITransport(app=msgbuffer_site.asgi.application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/flush/pause")

    assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


# ---------------------------------------------------------------------------
# End to end: a real web server and a real worker
# ---------------------------------------------------------------------------
class StatsWatcher:
    """The latest stats_update a /ws/stats client received, on its own thread."""

    def __init__(self, port: int):
        self.latest: dict | None = None
        self.errors: list[BaseException] = []
        self._url, self._origin = f"ws://127.0.0.1:{port}/ws/stats", f"http://127.0.0.1:{port}"
        self._socket = None
        threading.Thread(target=self._listen, daemon=True).start()
        wait_for(lambda: self.latest is not None or self.errors, timeout=10, message="the first stats_update")
        assert not self.errors, self.errors

    def _listen(self) -> None:
        try:
            with connect(self._url, origin=self._origin, open_timeout=10) as socket:
                self._socket = socket
                for raw in socket:
                    message = json.loads(raw)
                    if message["type"] == "stats_update":
                        self.latest = message
        except Exception as exc:
            self.errors.append(exc)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()


def metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.slow
def test_pause__real_web_and_worker__accepts_while_paused_then_resume_stores_all(processes, clean_redis, web_port):
    raw = api_keys.api_key_create(name="operator", scopes=("operate",))[1]
    operator = {"Authorization": f"Bearer {raw}"}
    base = f"http://127.0.0.1:{web_port}"
    processes.web(web_port)
    start_worker(processes, clean_redis)
    watcher = StatsWatcher(web_port)
    count = msgbuffer_settings().BATCH_SIZE * 2 + 7  # full batches and a partial one
    try:
        assert httpx.post(f"{base}/flush/pause", timeout=5).status_code == 401  # never anonymous
        paused = httpx.post(f"{base}/flush/pause", headers=operator, timeout=5)
        assert paused.status_code == 200 and paused.json()["paused"] is True

        with httpx.Client(base_url=base, timeout=10) as client:
            answers = [client.post("/messages", json=message_body(n)).status_code for n in range(count)]
        assert answers == [202] * count

        def status() -> dict:
            return httpx.get(f"{base}/queue/status", timeout=5).json()

        wait_for(lambda: status()["queue_length"] == count, timeout=10, message=f"{count} messages waiting")
        # Long enough for the partial batch to have been due: a running flush would have taken everything.
        wait_for(
            lambda: status()["oldest_message_age_s"] > msgbuffer_settings().FLUSH_INTERVAL + 1,
            timeout=15,
            message="the oldest message overdue",
        )
        now = status()
        assert (now["paused"], now["queue_length"], now["in_flight"]) == (True, count, 0)
        assert row_count() == 0
        wait_for(lambda: watcher.latest["paused"] is True, timeout=5, message="the dashboard tick saying paused")
        assert watcher.latest["queue_depth"] == count
        assert metric(base, "msgbuffer_flush_paused") == 1.0

        resumed = httpx.post(f"{base}/flush/resume", headers=operator, timeout=5)
        assert resumed.status_code == 200
        assert resumed.json() == {"paused": False, "changed": True, "flush_job_requested": True}
        wait_for(lambda: row_count() == count, timeout=15, message=f"{count} rows after resume")
        wait_for(
            lambda: (s := status())["queue_length"] == 0 and s["in_flight"] == 0 and not s["paused"],
            timeout=5,
            message="the queue drained",
        )
        wait_for(lambda: watcher.latest["paused"] is False, timeout=5, message="the dashboard tick saying resumed")
        assert metric(base, "msgbuffer_flush_paused") == 0.0
        assert buffer.read_state().total_messages == count
    finally:
        watcher.close()


# ---------------------------------------------------------------------------
# The dashboard: the state for everyone, the button for staff
# ---------------------------------------------------------------------------
@pytest.fixture
def staff_session_cookie() -> str:
    """Made before Playwright's event loop starts in this thread (the ORM refuses inside one)."""
    return session_cookie(is_staff=True)["Cookie"].split("=", 1)[1]


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard__staff_pauses_then_resumes__queue_card_shows_the_growth(
    staff_session_cookie,  # first: it uses the ORM, which refuses to run once Playwright's loop does
    browser,  # noqa: F811  (the fixture imported above)
    processes,
    clean_redis,
    web_port,
):
    base = f"http://127.0.0.1:{web_port}"
    start_worker(processes, clean_redis)
    processes.web(web_port)
    staff, anonymous = browser.new_context(), browser.new_context()
    staff.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": staff_session_cookie, "url": base}])
    page, visitor = staff.new_page(), anonymous.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(base + "/")
        visitor.goto(base + "/")  # dashboard auth is off with DEBUG: anyone may watch, not press
        page.wait_for_selector('#flush-state[data-state="ok"]', timeout=15_000)
        visitor.wait_for_selector('#flush-state[data-state="ok"]', timeout=15_000)
        assert visitor.query_selector("#flush-button") is None

        with page.expect_response("**/flush/pause") as paused:
            page.click("#flush-button")
        assert paused.value.status == 200
        page.wait_for_selector('#queue-card[data-paused="true"]', timeout=5_000)
        visitor.wait_for_selector('#flush-state[data-state="warn"]', timeout=5_000)  # the next tick tells everyone
        assert page.inner_text("#flush-button") == "Resume flush"

        messages = [message_body(n) for n in range(60)]
        assert httpx.post(f"{base}/messages/bulk", json={"messages": messages}, timeout=10).status_code == 202
        wait_for(lambda: "+60 since paused" in page.inner_text("#queue-growth"), timeout=10, message="the growth shown")
        assert page.get_attribute("#queue-depth", "data-value") == "60"
        assert buffer.read_state().total_messages == 0
        wait_for(lambda: page.inner_text("#queue-depth").strip() == "60", timeout=5, message="the count-up settled")
        screenshot = settings.VAR_DIR / "screenshots" / "dashboard-paused.png"
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)

        with page.expect_response("**/flush/resume") as resumed:
            page.click("#flush-button")
        assert resumed.value.status == 200
        wait_for(lambda: page.get_attribute("#total-messages", "data-value") == "60", timeout=15, message="60 stored")
        page.wait_for_selector('#queue-card[data-paused="false"]', timeout=5_000)
        assert page.is_hidden("#queue-growth")
        assert errors == []
    finally:
        staff.close()
        anonymous.close()
