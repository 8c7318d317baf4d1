"""Dead letters as work (issue 11) over both of their homes (issue 8): Redis holds the newest
MSGBUFFER_MAX_DEAD_LETTERS, PostgreSQL the rest, and admin filters by reason, counts per
reason, requeues or discards everything that matches, and exports it as JSON lines."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import override_settings

from messaging import buffer, dead_letters, flush
from messaging.models import DeadLetterOverflow, Message
from msgbuffer_site.embedded_redis import free_port
from tests.test_admin import DEAD_LETTERS, login

pytestmark = pytest.mark.django_db(transaction=True)

NOT_JSON = [f"not json {n}".encode() for n in range(5)]
NO_CHANNEL = [json.dumps({"user_id": n + 1}).encode() for n in range(3)]


@pytest.fixture
def admin_client_():
    return login(superuser=True)


@pytest.fixture
def two_reasons(clean_redis) -> tuple[str, str]:
    """5 + 3 poison of two reasons, dead-lettered by a real flush with room for 3 in Redis:
    Redis keeps the newest 3 (2 + 1), the database the other 5 (3 + 2)."""
    for payload in (NOT_JSON[0], NO_CHANNEL[0], NOT_JSON[1], NO_CHANNEL[1], NOT_JSON[2], NO_CHANNEL[2], *NOT_JSON[3:]):
        buffer.push_raw(payload)
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "BATCH_SIZE": 1, "MAX_DEAD_LETTERS": 3}):
        assert flush.buffer_drain(budget=30).finished
    not_json = next(e["reason"] for e in buffer.dead_letter_list() if e["payload"].startswith("not json"))
    no_channel = next(e["reason"] for e in buffer.dead_letter_list() if e["payload"].startswith("{"))
    return not_json, no_channel


def payloads_in_both_homes() -> list[str]:
    return sorted(e["payload"] for e in dead_letters.dead_letters_list(limit=1000))


def test_counts__per_reason_and_home(two_reasons):
    not_json, no_channel = two_reasons

    assert dead_letters.reason_counts() == {
        not_json: {"redis": 2, "database": 3},
        no_channel: {"redis": 1, "database": 2},
    }
    assert buffer.read_metric_counters().dead_lettered_by_reason == {not_json[:120]: 5, no_channel[:120]: 3}


def test_page__both_homes_listed_newest_first_with_counts(admin_client_, two_reasons):
    not_json, _ = two_reasons

    page = admin_client_.get(DEAD_LETTERS).content.decode()

    assert page.count('name="dead_letter"') == 8 and page.count("<td>database</td>") == 5
    assert page.index("not json 4") < page.index("not json 0")  # newest first across homes
    assert page.count('class="reason-count"') == 2 and "8 dead letters" in page


def test_filter__by_reason__only_those_listed_and_counted(admin_client_, two_reasons):
    _, no_channel = two_reasons

    page = admin_client_.get(DEAD_LETTERS, {"reason": no_channel}).content.decode()

    assert page.count('name="dead_letter"') == 3 and "not json" not in page.split('id="result_list"')[1]
    assert "3 dead letters" in page and 'name="reason"' in page


def test_requeue_matching__every_entry_with_the_reason_in_both_homes__queued_once_rest_untouched(admin_client_, two_reasons):
    _, no_channel = two_reasons

    response = admin_client_.post(DEAD_LETTERS, {"action": "requeue_matching", "reason": no_channel}, follow=True)

    assert "Requeued 3 dead letters" in response.content.decode()
    assert sorted(buffer.sync_client().lrange(buffer.PENDING, 0, -1)) == sorted(NO_CHANNEL)
    assert payloads_in_both_homes() == sorted(p.decode() for p in NOT_JSON)
    assert buffer.sync_client().exists(buffer.FLUSH_QUEUED)


def test_discard_matching__every_entry_with_the_reason__gone_rest_untouched(admin_client_, two_reasons):
    not_json, _ = two_reasons

    response = admin_client_.post(DEAD_LETTERS, {"action": "discard_matching", "reason": not_json}, follow=True)

    assert "Discarded 5 dead letters" in response.content.decode()
    assert payloads_in_both_homes() == sorted(p.decode() for p in NO_CHANNEL)
    assert buffer.sync_client().llen(buffer.PENDING) == 0 and DeadLetterOverflow.objects.count() == 2


def test_discard_matching__no_filter__everything_gone(admin_client_, two_reasons):
    admin_client_.post(DEAD_LETTERS, {"action": "discard_matching"})

    assert payloads_in_both_homes() == [] and DeadLetterOverflow.objects.count() == 0


def test_selected__one_from_each_home__taken(admin_client_, two_reasons):
    entries = dead_letters.dead_letters_list()
    chosen = {next(e["id"] for e in entries if e["home"] == home) for home in ("redis", "database")}

    response = admin_client_.post(DEAD_LETTERS, {"action": "discard", "dead_letter": sorted(chosen)}, follow=True)

    assert "Discarded 2 dead letters" in response.content.decode()
    assert len(payloads_in_both_homes()) == 6 and not chosen & {e["id"] for e in dead_letters.dead_letters_list()}


def test_requeue__valid_payload_from_the_database_home__stored_on_next_flush(admin_client_, clean_redis):
    message_id = str(uuid.uuid4())
    good = {
        "message_id": message_id,
        "user_id": 1,
        "channel_id": 2,
        "content": "fixed",
        "created_at": datetime.now(UTC).isoformat(),
    }
    entry = {"id": "c" * 32, "payload": json.dumps(good), "reason": "refused", "failed_at": "2026-01-01T00:00:00+00:00"}
    DeadLetterOverflow.objects.create(
        entry_id=entry["id"], reason="refused", failed_at=datetime.now(UTC), entry=json.dumps(entry)
    )

    admin_client_.post(DEAD_LETTERS, {"action": "requeue", "dead_letter": [entry["id"]]})
    assert clean_redis.hexists(buffer.QUEUED_IDS, message_id)  # GET /messages/<id> says queued meanwhile
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "BATCH_SIZE": 1}):
        assert flush.buffer_drain(budget=10).finished

    assert Message.objects.filter(message_id=message_id, content="fixed").exists()
    assert DeadLetterOverflow.objects.count() == 0


def test_requeue__redis_unreachable__error_shown_and_nothing_changes(admin_client_, two_reasons):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        buffer.reset_clients()
        response = admin_client_.post(DEAD_LETTERS, {"action": "requeue_matching"}, follow=True)
    buffer.reset_clients()

    assert response.status_code == 200 and "Stopped" in response.content.decode()
    assert DeadLetterOverflow.objects.count() == 5 and len(payloads_in_both_homes()) == 8


def test_export__matching_entries_as_json_lines(admin_client_, two_reasons):
    not_json, _ = two_reasons

    response = admin_client_.get(DEAD_LETTERS, {"export": "jsonl", "reason": not_json})

    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert sorted(line["payload"] for line in lines) == sorted(p.decode() for p in NOT_JSON)
    assert {line["reason"] for line in lines} == {not_json} and [line["home"] for line in lines].count("database") == 3
    assert {"id", "payload", "reason", "failed_at", "batch_id", "home"} <= set(lines[0])


def test_export__view_permission_exports_no_permission_forbidden(two_reasons):
    viewer = login(staff=True, permissions=("view_deadletter",))
    stranger = login(staff=True)

    exported = viewer.get(DEAD_LETTERS, {"export": "jsonl"})

    assert exported.status_code == 200 and len(b"".join(exported.streaming_content).splitlines()) == 8
    assert stranger.get(DEAD_LETTERS, {"export": "jsonl"}).status_code == 403
    assert viewer.post(DEAD_LETTERS, {"action": "discard_matching"}).status_code == 403
    assert len(payloads_in_both_homes()) == 8


def test_unknown_action__error_and_nothing_changes(admin_client_, two_reasons):
    response = admin_client_.post(DEAD_LETTERS, {"action": "drop_table"}, follow=True)

    assert "Unknown action" in response.content.decode() and len(payloads_in_both_homes()) == 8


def test_page__redis_unreachable__says_so_not_a_500(admin_client_, clean_redis):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        buffer.reset_clients()
        response = admin_client_.get(DEAD_LETTERS)
    buffer.reset_clients()

    assert response.status_code == 200 and "cannot be read now" in response.content.decode()
