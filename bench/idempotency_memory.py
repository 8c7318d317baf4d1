"""Redis memory per million idempotency records: `python -m bench.idempotency_memory [N]`

Starts a private redis-server (the one `make run` uses: msgbuffer_site.embedded_redis, no
AOF), writes N records exactly as push.lua does for a POST /messages with an
Idempotency-Key (`SET msgbuffer:idem:<api key id>:one:<key> <the 202 body> EX <ttl>`, with a
UUID as the client's key and a real 202 body), and reads used_memory before and after
(INFO memory) and MEMORY USAGE of a sample of keys. Prints bytes per record and MiB per
million. A few seconds for the default N = 200,000.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import redis

from msgbuffer_site import embedded_redis

PREFIX = "msgbuffer:idem:"  # messaging/buffer/keys.py IDEMPOTENCY_PREFIX
TTL = 24 * 3600


def record(n: int) -> tuple[str, bytes]:
    body = orjson.dumps({"message_id": str(uuid.uuid4()), "status": "queued", "queued_at": datetime.now(UTC).isoformat()})
    return f"{PREFIX}{n % 50 + 1}:one:{uuid.uuid4()}", body


def main(count: int = 200_000) -> None:
    process, url = embedded_redis.start(Path(tempfile.mkdtemp(prefix="bench-idem-")), appendonly=False)
    try:
        client = redis.Redis.from_url(url)
        before = client.info("memory")["used_memory"]
        pipe = client.pipeline(transaction=False)
        sample = []
        for n in range(count):
            key, body = record(n)
            pipe.set(key, body, ex=TTL)
            if n % 1000 == 0:
                sample.append(key)
            if len(pipe) >= 5000:
                pipe.execute()
        pipe.execute()
        after = client.info("memory")["used_memory"]
        per_record = (after - before) / count
        usage = sum(client.memory_usage(key) for key in sample) / len(sample)
        key, body = record(0)
        print(f"records: {count:,}; key {len(key)} bytes, value {len(body)} bytes, TTL {TTL} s")
        print(f"used_memory: {before:,} -> {after:,} bytes: {per_record:.1f} bytes per record")
        print(f"MEMORY USAGE per key (sample of {len(sample)}): {usage:.1f} bytes")
        print(
            f"per million records: {per_record * 1e6 / 2**20:.1f} MiB (used_memory), {usage * 1e6 / 2**20:.1f} MiB (MEMORY USAGE)"
        )
        print(
            f"at 1,000 msg/s, every one with a key, a {TTL // 3600} h window holds {1000 * TTL / 1e6:.1f} M records: "
            f"{per_record * 1000 * TTL / 2**30:.2f} GiB"
        )
        client.close()
    finally:
        embedded_redis.stop(process)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
