"""A deadline on reading each HTTP request body (issue 9, "Bounded parsing").

The web server bounds how long a client may take to send its headers (granian's
--http1-header-read-timeout, Procfile) but not its body: a client that declares 100
bytes and sends 10 would hold its connection, and a slot under --backpressure, for as
long as it likes. `with_body_deadline(app)` wraps the HTTP application (asgi.py): while
the body is incomplete, each `receive()` must bring the next part within
MSGBUFFER_BODY_READ_TIMEOUT seconds. Past that the client gets a 408 (JSON,
`Connection: close`) and the application is told that the client went away
(`http.disconnect`), which Django's handler and the edges (ingest.py) already treat as
an aborted request; anything the application still sends is dropped.

Once the body is complete, `receive()` passes through untouched: Django waits on it for
the disconnect while the view runs.
"""

from __future__ import annotations

import orjson

from . import deadlines, errors
from .conf import msgbuffer_settings


def _timeout_reply(seconds: float) -> tuple[dict, dict]:
    body = orjson.dumps(errors.error("request_timeout", f"the request body did not arrive within {seconds:g} s"))
    start = {
        "type": "http.response.start",
        "status": 408,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def with_body_deadline(app):
    async def deadline_app(scope, receive, send):
        seconds = msgbuffer_settings().BODY_READ_TIMEOUT
        body_done = timed_out = started = answered = False

        async def bounded_receive():
            nonlocal body_done, timed_out, answered
            if timed_out:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            try:
                async with deadlines.within(seconds):  # no timer per request: deadlines.py
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not started:  # an application that answered early (a 413, say) keeps its answer
                    answered = True
                    for reply in _timeout_reply(seconds):
                        await send(reply)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message):
            nonlocal started
            if answered:
                return  # the 408 went out: the application's answer comes too late
            started = True
            await send(message)

        await app(scope, bounded_receive, guarded_send)

    return deadline_app
