"""messaging/logging.py: one JSON object per event, extras on top, never a failed log call."""

import json
import logging
import sys
import uuid

from django.test import RequestFactory

from messaging.logging import JsonFormatter


def render(message: str, *args, exc_info=None, **extra) -> dict:
    record = logging.LogRecord("messaging.flush", logging.WARNING, __file__, 1, message, args, exc_info)
    record.__dict__.update(extra)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def test_json_formatter__extras__top_level_fields():
    event = render("batch %s stored", "b-1", batch_id="b-1", message_ids=["m-1"], size=50)

    assert event["message"] == "batch b-1 stored"
    assert (event["level"], event["logger"]) == ("WARNING", "messaging.flush")
    assert (event["batch_id"], event["message_ids"], event["size"]) == ("b-1", ["m-1"], 50)


def test_json_formatter__values_json_cannot_encode__rendered_as_text():
    message_id = uuid.uuid4()

    event = render("queued", message_id=message_id, batch_ids={"b-2", "b-1"})

    assert event["message_id"] == str(message_id)
    assert event["batch_ids"] == ["b-1", "b-2"]


def test_json_formatter__django_request_extra__method_and_path():
    event = render("Not Found: /nope", request=RequestFactory().get("/nope"), status_code=404)

    assert (event["request"], event["status_code"]) == ("GET /nope", 404)


def test_json_formatter__uvicorn_colour_copy__dropped():
    assert "color_message" not in render("Started", color_message="\x1b[1mStarted\x1b[0m")


def test_json_formatter__exception__traceback_inside_the_line():
    try:
        raise ValueError("boom")
    except ValueError:
        event = render("flush failed", exc_info=sys.exc_info())

    assert event["exception"].startswith("Traceback") and "ValueError: boom" in event["exception"]
