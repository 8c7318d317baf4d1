"""`python -m bench.json_parsing`: what the JSON rules of messaging/json_body.py cost
(issue 9), best of 5, µs per body:

- orjson.loads alone (no duplicate check: what ingest did before);
- orjson.loads, then json.loads with a pairs hook as the duplicate check (two passes);
- json.loads with the pairs hook alone (one pass, the standard library);
- json_body.parse: jiter with catch_duplicate_keys (one pass; what ingest does);
- and the cost of json_body.parse_off_loop's thread hop, by body size, on uvloop.

Bodies: one message (the hot path), a bulk of 1,000 small messages, an 8 MiB bulk of
1,000 messages of 8,000 characters.
"""

from __future__ import annotations

import asyncio
import json
import time
import timeit

import orjson

from messaging import json_body

CONTENT = "benchmark message content, roughly fifty characters"


def _bodies() -> dict[str, bytes]:
    return {
        "one message": orjson.dumps({"user_id": 42, "channel_id": 7, "content": CONTENT}),
        "bulk, 1,000 small": orjson.dumps(
            {"messages": [{"user_id": i, "channel_id": 7, "content": CONTENT} for i in range(1000)]}
        ),
        "bulk, 8 MiB": orjson.dumps({"messages": [{"user_id": i, "channel_id": 7, "content": "x" * 8000} for i in range(1000)]}),
        "100,000 items, 8.9 MB (refused by validation)": orjson.dumps(
            {"messages": [{"user_id": 42, "channel_id": 7, "content": CONTENT}] * 100_000}
        ),
    }


def _us(function, body: bytes) -> float:
    number = max(1, int(0.05 / max(1e-7, timeit.timeit(lambda: function(body), number=1))))
    return min(timeit.repeat(lambda: function(body), number=number, repeat=5)) / number * 1e6


_CHECK = json.JSONDecoder(object_pairs_hook=json_body._object)


def _json_with_hook(body: bytes):
    return _CHECK.decode(body.decode())


def _orjson_then_check(body: bytes):
    orjson.loads(body)
    return _json_with_hook(body)


async def _hops() -> list[tuple[int, float, float]]:
    out = []
    for items in (10, 100, 300, 700, 1000):
        body = orjson.dumps({"messages": [{"user_id": i, "channel_id": 7, "content": CONTENT} for i in range(items)]})
        executor = json_body._executor()
        loop = asyncio.get_running_loop()
        rounds = 300
        started = time.perf_counter()
        for _ in range(rounds):
            json_body.parse(body)
        inline = (time.perf_counter() - started) / rounds * 1e6
        started = time.perf_counter()
        for _ in range(rounds):
            await loop.run_in_executor(executor, json_body.parse, body)
        threaded = (time.perf_counter() - started) / rounds * 1e6
        out.append((len(body), inline, threaded))
    return out


def main() -> None:
    print("| body | bytes | orjson alone | orjson + duplicate check | json + pairs hook | json_body.parse (jiter) |")
    print("|---|---|---|---|---|---|")
    for name, body in _bodies().items():
        print(
            f"| {name} | {len(body):,} | {_us(orjson.loads, body):,.1f} | {_us(_orjson_then_check, body):,.1f} | "
            f"{_us(_json_with_hook, body):,.1f} | {_us(json_body.parse, body):,.1f} |"
        )
    lone = orjson.dumps({"user_id": 42, "channel_id": 7, "content": CONTENT})[:-2] + b'\\ud800"}'
    print(
        f"\nA lone surrogate (jiter refuses, json parses; 422 follows): {_us(json_body.parse, lone):,.1f} µs for {len(lone)} bytes"
    )
    try:
        import uvloop

        hops = uvloop.run(_hops())
    except ImportError:
        hops = asyncio.run(_hops())
    print("\n| bulk body | parse on the loop µs | via a parser thread µs | hop µs |")
    print("|---|---|---|---|")
    for size, inline, threaded in hops:
        print(f"| {size:,} B | {inline:,.1f} | {threaded:,.1f} | {threaded - inline:,.1f} |")


if __name__ == "__main__":
    main()
