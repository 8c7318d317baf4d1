"""Admin (SPEC §8): stored messages read-only and without a full COUNT(*), the dead
letters from Redis with their requeue and discard actions, and API keys."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from messaging import api_keys, buffer, flush
from messaging.models import ApiKey, Message

CHANGELIST = "/admin/messaging/message/"
DEAD_LETTERS = "/admin/messaging/deadletter/"
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def login(*, superuser: bool = False, staff: bool = True, permissions: tuple[str, ...] = ()) -> Client:
    user = get_user_model().objects.create_user(
        username=f"u{uuid.uuid4().hex[:8]}", password="x", is_staff=staff or superuser, is_superuser=superuser
    )
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="messaging", codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_():
    return login(superuser=True)


@pytest.fixture
def messages_stored():
    return Message.objects.bulk_create(
        Message(
            message_id=uuid.uuid4(),
            user_id=100 + n % 3,
            channel_id=7 + n % 2,
            content=f"note {n}: the deploy is green",
            created_at=T0 + timedelta(minutes=n),
        )
        for n in range(120)
    )


def listed_ids(response) -> set[str]:
    return set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", response.content.decode()))


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_message_changelist__superuser_with_rows__loads_newest_first(admin_client_, messages_stored):
    response = admin_client_.get(CHANGELIST)

    assert response.status_code == 200
    newest = max(messages_stored, key=lambda m: m.created_at)
    oldest = min(messages_stored, key=lambda m: m.created_at)
    page = response.content.decode()
    assert str(newest.message_id) in page and str(oldest.message_id) not in page  # 50 a page, newest first
    assert len(listed_ids(response)) == 50


@pytest.mark.django_db
def test_message_changelist__with_filters__loads(admin_client_, messages_stored):
    for query in (
        "created_at__gte=2026-01-01",
        "created_at__year=2026&created_at__month=3&created_at__day=1",
        "p=2",
        "q=deploy&p=1",
    ):
        assert admin_client_.get(f"{CHANGELIST}?{query}").status_code == 200, query


@pytest.mark.django_db
def test_message_changelist__unfiltered__no_full_count(admin_client_, messages_stored):
    if connection.vendor != "postgresql":
        pytest.skip("the estimated count reads PostgreSQL's catalog; SQLite demos are small")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client_.get(CHANGELIST)

    assert response.status_code == 200
    full_counts = [
        q["sql"]
        for q in queries.captured_queries
        if re.search(r"count\(\*\)", q["sql"], re.I)
        and "messaging_message" in q["sql"]
        and not re.search(r"\b(where|limit)\b", q["sql"], re.I)
    ]
    assert full_counts == []
    # nor anything that reads every row's date (a date hierarchy's links)
    assert not [q["sql"] for q in queries.captured_queries if re.search(r"date_trunc|DISTINCT", q["sql"], re.I)]


@pytest.mark.django_db
def test_message_changelist__estimate_says_millions__no_count_and_pages_offered(admin_client_, messages_stored):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner estimate")
    with connection.cursor() as cursor:  # what ANALYZE would record after a big load
        cursor.execute("UPDATE pg_class SET reltuples = 3000000 WHERE oid = 'messaging_message'::regclass")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client_.get(CHANGELIST)

    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if re.search(r"count\(", q["sql"], re.I)]
    assert "3000000" in response.content.decode().replace(",", "").replace("\u202f", "").replace("&nbsp;", "")


@pytest.mark.django_db
def test_message_search__many_matches__bounded_count_not_a_full_one(admin_client_, messages_stored, monkeypatch):
    """A search matching most of a big table is counted up to EXACT_UP_TO, then estimated
    (an exact COUNT(*) of 10 million matches took 5.6 s); a narrow one is counted exactly."""
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's planner's")
    from messaging.admin import EstimatedCountPaginator

    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", 60)

    with CaptureQueriesContext(connection) as queries:
        response = admin_client_.get(CHANGELIST, {"q": "deploy"})

    assert response.status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if re.search(r"count\(", q["sql"], re.I)]
    assert counts and all(re.search(r"\blimit 61\b", sql, re.I) for sql in counts), counts
    assert not any(re.search(r"order by", sql, re.I) for sql in counts), counts  # a sort would visit every match
    assert admin_client_.get(CHANGELIST, {"q": "deploy", "p": "2"}).status_code == 200  # at least 61: two pages
    narrow = admin_client_.get(CHANGELIST, {"q": "note 7:"})
    assert narrow.status_code == 200 and len(listed_ids(narrow)) == 1


@pytest.mark.django_db
def test_message_search__no_match__one_scan_of_the_table(admin_client_, messages_stored):
    """A content search no row matches scans the whole table (there is no trigram index);
    the changelist must not scan it a second time to fetch the rows of an empty page."""
    with CaptureQueriesContext(connection) as queries:
        response = admin_client_.get(CHANGELIST, {"q": "words no message holds"})

    assert response.status_code == 200 and listed_ids(response) == set()
    scans = [q["sql"] for q in queries.captured_queries if "messaging_message" in q["sql"]]
    assert len(scans) == 1, scans


@pytest.mark.django_db
def test_message_search__by_message_id__exactly_that_message(admin_client_, messages_stored):
    target = messages_stored[17]

    response = admin_client_.get(CHANGELIST, {"q": str(target.message_id)})

    assert response.status_code == 200
    assert listed_ids(response) == {str(target.message_id)}


@pytest.mark.django_db
def test_message_search__by_channel_id__that_channels_messages(admin_client_, messages_stored):
    Message.objects.create(message_id=uuid.uuid4(), user_id=1, channel_id=424242, content="the only one", created_at=T0)

    response = admin_client_.get(CHANGELIST, {"q": "424242"})

    assert response.status_code == 200
    assert "the only one" in response.content.decode()
    assert len(listed_ids(response)) == 1


@pytest.mark.django_db
def test_message_search__by_content_text__matching_messages(admin_client_, messages_stored):
    Message.objects.create(message_id=uuid.uuid4(), user_id=1, channel_id=1, content="Lunch is moved to 3pm", created_at=T0)

    response = admin_client_.get(CHANGELIST, {"q": "lunch IS moved"})

    assert response.status_code == 200
    assert "Lunch is moved to 3pm" in response.content.decode()
    assert len(listed_ids(response)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("term", ["99999999999999999999", "-5", "  ", "'; drop table x; --", "\x00"])
def test_message_search__odd_terms__page_loads(admin_client_, messages_stored, term):
    assert admin_client_.get(CHANGELIST, {"q": term}).status_code == 200


@pytest.mark.django_db
def test_message_change_page__superuser__read_only(admin_client_, messages_stored):
    message = messages_stored[0]
    change_url = f"{CHANGELIST}{message.pk}/change/"

    page = admin_client_.get(change_url)
    post = admin_client_.post(change_url, {"content": "edited"})
    add = admin_client_.get(f"{CHANGELIST}add/")
    delete = admin_client_.get(f"{CHANGELIST}{message.pk}/delete/")

    assert page.status_code == 200
    assert str(message.message_id) in page.content.decode()
    assert 'name="_save"' not in page.content.decode() and "deletelink" not in page.content.decode()
    assert post.status_code == 403 and add.status_code == 403 and delete.status_code == 403
    message.refresh_from_db()
    assert message.content == "note 0: the deploy is green"
    changelist = admin_client_.get(CHANGELIST).content.decode()
    assert f'href="{CHANGELIST}add/"' not in changelist and "delete_selected" not in changelist


# ---------------------------------------------------------------------------
# Dead letters
# ---------------------------------------------------------------------------
def dead_letters_from_poison(*payloads: bytes) -> list[dict]:
    """Push poison and flush in-process, so the dead letters are the real thing."""
    for payload in payloads:
        buffer.push_raw(payload)
    # A batch of one is a full batch: each message is claimed at once, none waits for
    # FLUSH_INTERVAL.
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "BATCH_SIZE": 1}):
        outcome = flush.buffer_drain(budget=10)
    assert outcome.finished and buffer.sync_client().llen(buffer.PENDING) == 0
    return buffer.dead_letter_list()


@pytest.mark.django_db
def test_dead_letters_page__entries_in_redis__listed_with_reason(admin_client_, clean_redis):
    entries = dead_letters_from_poison(b"not json at all", b'{"user_id": 1}')
    assert len(entries) == 2

    response = admin_client_.get(DEAD_LETTERS)

    assert response.status_code == 200
    page = response.content.decode()
    for entry in entries:
        assert f'value="{entry["id"]}"' in page
        assert entry["reason"].split(":")[0] in page
    assert "not json at all" in page
    assert "Dead letters" in admin_client_.get("/admin/").content.decode()


@pytest.mark.django_db
def test_dead_letters_page__none__says_so(admin_client_, clean_redis):
    response = admin_client_.get(DEAD_LETTERS)

    assert response.status_code == 200 and "No dead letters." in response.content.decode()


@pytest.mark.django_db
def test_dead_letters_requeue__selected_entry__back_on_pending_and_flush_asked(admin_client_, clean_redis):
    entries = dead_letters_from_poison(b"poison one", b"poison two")
    chosen = entries[0]

    response = admin_client_.post(DEAD_LETTERS, {"action": "requeue", "dead_letter": [chosen["id"]]}, follow=True)

    assert response.status_code == 200
    assert "Requeued 1 dead letter" in response.content.decode()
    assert clean_redis.lrange(buffer.PENDING, 0, -1) == [chosen["payload"].encode()]
    assert [e["id"] for e in buffer.dead_letter_list()] == [entries[1]["id"]]
    assert clean_redis.exists(buffer.FLUSH_QUEUED)  # a flush job was asked for: nothing else would move it


@pytest.mark.django_db
def test_dead_letters_requeue__valid_payload__stored_on_next_flush(admin_client_, clean_redis):
    good = {"message_id": str(uuid.uuid4()), "user_id": 1, "channel_id": 2, "content": "fixed", "created_at": T0.isoformat()}
    clean_redis.lpush(
        buffer.DEAD_LETTERS,
        json.dumps(
            {
                "id": "dl-1",
                "payload": json.dumps(good),
                "reason": "refused by the database",
                "failed_at": T0.isoformat(),
                "batch_id": "b",
            }
        ),
    )

    admin_client_.post(DEAD_LETTERS, {"action": "requeue", "dead_letter": ["dl-1"]})
    dead_letters_from_poison()  # flush

    assert list(Message.objects.values_list("message_id", "content")) == [(uuid.UUID(good["message_id"]), "fixed")]
    assert buffer.dead_letter_list() == []


@pytest.mark.django_db
def test_dead_letters_discard__selected_entries__removed(admin_client_, clean_redis):
    entries = dead_letters_from_poison(b"one", b"two", b"three")

    response = admin_client_.post(
        DEAD_LETTERS, {"action": "discard", "dead_letter": [entries[0]["id"], entries[2]["id"]]}, follow=True
    )

    assert "Discarded 2 dead letters" in response.content.decode()
    assert [e["id"] for e in buffer.dead_letter_list()] == [entries[1]["id"]]
    assert clean_redis.llen(buffer.PENDING) == 0


@pytest.mark.django_db
def test_dead_letters_action__nothing_selected__warns_and_changes_nothing(admin_client_, clean_redis):
    dead_letters_from_poison(b"one")

    response = admin_client_.post(DEAD_LETTERS, {"action": "requeue"}, follow=True)

    assert "Select" in response.content.decode()
    assert len(buffer.dead_letter_list()) == 1 and clean_redis.llen(buffer.PENDING) == 0


@pytest.mark.django_db
def test_dead_letters_page__non_staff_user__redirected_to_login(clean_redis):
    dead_letters_from_poison(b"secret payload")
    client = login(staff=False)

    response = client.get(DEAD_LETTERS)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert b"secret payload" not in client.get(DEAD_LETTERS, follow=True).content


@pytest.mark.django_db
def test_dead_letters__staff_without_permission__forbidden(clean_redis):
    entries = dead_letters_from_poison(b"secret payload")
    client = login(staff=True)

    page = client.get(DEAD_LETTERS)
    action = client.post(DEAD_LETTERS, {"action": "discard", "dead_letter": [entries[0]["id"]]})

    assert page.status_code == 403 and action.status_code == 403
    assert len(buffer.dead_letter_list()) == 1


@pytest.mark.django_db
def test_dead_letters__staff_with_view_permission_only__sees_but_cannot_act(clean_redis):
    entries = dead_letters_from_poison(b"visible payload")
    client = login(staff=True, permissions=("view_deadletter",))

    page = client.get(DEAD_LETTERS)
    action = client.post(DEAD_LETTERS, {"action": "discard", "dead_letter": [entries[0]["id"]]})

    assert page.status_code == 200 and "visible payload" in page.content.decode()
    assert "Requeue selected" not in page.content.decode()
    assert action.status_code == 403
    assert len(buffer.dead_letter_list()) == 1


# ---------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_api_key_add__superuser__key_shown_once_and_only_its_digest_stored(admin_client_):
    response = admin_client_.post("/admin/messaging/apikey/add/", {"name": "load generator", "scopes": ["ingest"]}, follow=True)

    assert response.status_code == 200
    [shown] = re.findall(r"mbk_[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}", response.content.decode())
    key = ApiKey.objects.get()
    assert key.name == "load generator" and key.is_active and key.scopes == "ingest"
    assert key.digest == api_keys.digest_of(shown) and shown not in (key.digest, key.prefix)
    assert shown.startswith(key.prefix)
    assert shown not in admin_client_.get(f"/admin/messaging/apikey/{key.pk}/change/").content.decode()


@pytest.mark.django_db
def test_api_key_add_form__scopes_default_to_ingest_and_read(admin_client_):
    page = admin_client_.get("/admin/messaging/apikey/add/").content.decode()

    checked = set(re.findall(r'<input type="checkbox" name="scopes" value="(\w+)"[^>]*checked', page))
    assert checked == {"ingest", "read"} and 'value="operate"' in page


@pytest.mark.django_db
def test_api_key_add__no_scope__form_error_no_key(admin_client_):
    response = admin_client_.post("/admin/messaging/apikey/add/", {"name": "nothing"})

    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.django_db(transaction=True)  # the key check reads the database from its own thread
def test_api_key_change__scopes_set__stored_listed_and_believed_at_once(admin_client_):
    key, raw = api_keys.api_key_create(name="ops")
    assert async_to_sync(api_keys.api_key_check)(f"Bearer {raw}").scopes == {"ingest", "read"}
    change = f"/admin/messaging/apikey/{key.pk}/change/"

    response = admin_client_.post(change, {"scopes": ["read", "operate"]}, follow=True)

    assert response.status_code == 200
    key.refresh_from_db()
    assert key.scopes == "read,operate" and key.name == "ops" and key.digest == api_keys.digest_of(raw)
    assert "read,operate" in admin_client_.get("/admin/messaging/apikey/").content.decode()
    assert async_to_sync(api_keys.api_key_check)(f"Bearer {raw}").scopes == {"read", "operate"}


@pytest.mark.django_db
def test_api_key_revoke_action__selected_key__revoked(admin_client_):
    key, _ = api_keys.api_key_create(name="old client")
    kept, _ = api_keys.api_key_create(name="new client")

    response = admin_client_.post("/admin/messaging/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True)

    assert "Revoked 1 key" in response.content.decode()
    key.refresh_from_db()
    kept.refresh_from_db()
    assert not key.is_active and kept.is_active
