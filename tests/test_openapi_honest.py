"""/openapi.json tells the truth (messaging/openapi.py): each limit the server enforces is
in the schema, each answer a route gives is documented for it, and the answers have the
documented shapes (schemas.py's *Out models). `make fuzz` checks the same from outside,
with schemathesis; these are the cases it found, kept."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import override_settings

from messaging import api_keys, ingest, polled_reads, schemas
from messaging.openapi import openapi_document
from tests.test_api_endpoints import flush_now  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"Content-Type": "application/json"}
MESSAGE = {"user_id": 1, "channel_id": 2, "content": "hello"}


@pytest.fixture(autouse=True)
def fresh_reads():
    polled_reads.forget_cached_reads()


def operation(path: str, method: str) -> dict:
    return openapi_document()["paths"][path][method]


def documented_model(path: str, method: str, status: str) -> type:
    """The *Out model the document names for this answer."""
    reference = operation(path, method)["responses"][status]["content"]["application/json"]["schema"]["$ref"]
    return getattr(schemas, reference.rsplit("/", 1)[1])


def assert_answer_as_documented(response, path: str, method: str) -> None:
    status = str(response.status_code)
    assert status in operation(path, method)["responses"], (path, method, status, response.text)
    model = documented_model(path, method, status)
    answer = response.json()
    assert set(answer) <= set(model.model_fields), (model.__name__, set(answer) - set(model.model_fields))
    model.model_validate(answer)


# ---------------------------------------------------------------------------
# Limits the server enforces, stated in the schema
# ---------------------------------------------------------------------------
async def test_idempotency_key__schema_states_1_to_255__and_the_server_takes_exactly_those(api, clean_redis):
    [header] = operation("/messages", "post")["parameters"]
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, ingest.MAX_IDEMPOTENCY_KEY_CHARS)

    longest = await api.post("/messages", json=MESSAGE, headers={"Idempotency-Key": "k" * 255})
    too_long = await api.post("/messages", json=MESSAGE, headers={"Idempotency-Key": "k" * 256})

    assert_answer_as_documented(longest, "/messages", "post")
    assert too_long.status_code == 400 and too_long.json()["error"] == "invalid_idempotency_key"
    assert "invalid_idempotency_key" in operation("/messages", "post")["responses"]["400"]["description"]


async def test_simulate__count_a_whole_number_written_1289_0__accepted_as_the_schemas_integer_is(api, clean_redis):
    # JSON Schema's "integer" admits 12.0; so does the server (schemas.py), exactly.
    assert schemas.SimulateIn.model_json_schema()["properties"]["count"]["type"] == "integer"

    response = await api.post("/simulate", content=b'{"count": 12.0}', headers=JSON)

    assert_answer_as_documented(response, "/simulate", "post")
    assert response.json()["messages_count"] == 12


async def test_list_messages__before_names_no_stored_message__the_documented_422(api):
    response = await api.get("/messages", params={"before": "e3e70682-c209-1cac-a29f-6fbed82c07cd"})

    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["detail"]] == ["before"]
    documented = operation("/messages", "get")
    assert "`before` names no stored message" in documented["responses"]["422"]["description"]
    [before] = [parameter for parameter in documented["parameters"] if parameter["name"] == "before"]
    assert "422" in before["description"]


# ---------------------------------------------------------------------------
# Answers as documented
# ---------------------------------------------------------------------------
async def test_answers__each_route_in_its_documented_shape(api, clean_redis, flush_now):  # noqa: F811
    queued = await api.post("/messages", json=MESSAGE)
    assert_answer_as_documented(queued, "/messages", "post")
    message_id = queued.json()["message_id"]
    assert_answer_as_documented(await api.get(f"/messages/{message_id}"), "/messages/{message_id}", "get")
    bulk = await api.post("/messages/bulk", json={"messages": [MESSAGE, MESSAGE]})
    assert_answer_as_documented(bulk, "/messages/bulk", "post")
    await flush_now()

    assert_answer_as_documented(await api.get(f"/messages/{message_id}"), "/messages/{message_id}", "get")
    assert_answer_as_documented(await api.get("/health"), "/health", "get")
    assert_answer_as_documented(await api.get("/queue/status"), "/queue/status", "get")
    listed = await api.get("/messages")
    assert listed.status_code == 200 and len(listed.json()) == 3
    for row in listed.json():
        schemas.MessageOut.model_validate(row)
    _, operator = await sync_to_async(api_keys.api_key_create)(name="resetter", scopes=["operate"])
    with override_settings(MSGBUFFER={**settings.MSGBUFFER, "ALLOW_RESET": True}):
        reset = await api.delete("/reset", headers={"Authorization": f"Bearer {operator}"})
    assert_answer_as_documented(reset, "/reset", "delete")


@pytest.mark.parametrize(
    ("method", "path", "request_kwargs", "documented_path"),
    [
        ("post", "/messages", {"content": b"{", "headers": JSON}, "/messages"),  # 400
        ("post", "/messages", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, "/messages"),  # 415
        ("post", "/messages", {"json": {**MESSAGE, "user_id": 0}}, "/messages"),  # 422
        ("post", "/messages/bulk", {"json": {"messages": []}}, "/messages/bulk"),  # 422
        ("post", "/messages", {"content": b" " * ((1 << 20) + 1), "headers": JSON}, "/messages"),  # 413
        ("post", "/simulate", {"json": {"count": 0}}, "/simulate"),  # 422
        ("get", "/messages", {"params": {"limit": 501}}, "/messages"),  # 422
        ("get", "/messages/e3e70682-c209-1cac-a29f-6fbed82c07cd", {}, "/messages/{message_id}"),  # 404
        ("delete", "/reset", {}, "/reset"),  # 403: disabled
    ],
)
async def test_refusals__each_status_documented_for_its_route_with_the_error_body(
    api, method, path, request_kwargs, documented_path
):
    response = await getattr(api, method)(path, **request_kwargs)

    responses = operation(documented_path, method)["responses"]
    assert str(response.status_code) in responses, (path, response.status_code, response.text)
    assert responses[str(response.status_code)]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    body = response.json()
    assert {"error", "message"} <= set(body) and set(body) <= {"error", "message", "detail", "accepted"}


@pytest.mark.parametrize("content", ["x", "  x  ", "\u3000", " \t\n", "a\x00b", "\x1c", "\u2028x\u2029", "\U0001f600"], ids=repr)
async def test_content__schema_pattern_and_the_server_agree(api, clean_redis, content):
    """content's pattern states what validation refuses beyond the lengths: a NUL, or
    nothing left once stripped (found by make fuzz: a schema-valid NUL refused)."""
    pattern = openapi_document()["components"]["schemas"]["MessageIn"]["properties"]["content"]["pattern"]

    response = await api.post("/messages", json={**MESSAGE, "content": content})

    assert response.status_code == (202 if re.search(pattern, content) else 422), response.text
