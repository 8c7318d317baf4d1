"""The smallest ASGI app that reads a POST body and answers 202 with a JSON body: the
ceiling one uvicorn process sets on any ingest route (context for the ingest figures)."""

BODY = b'{"status":"queued"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        event = await receive()
        more = event.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
