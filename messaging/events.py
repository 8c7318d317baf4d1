"""Events that flush jobs announce to live dashboards (SPEC §6 `batch_persisted`).

ack.lua publishes the event on a Redis pub/sub channel in the same step that settles the
batch, so a batch is announced exactly when it is counted (never for a lease that was
lost) and costs no extra round trip. Each web process subscribes once and fans the event
out to its own WebSocket clients (dashboard/broadcaster.py).
"""

from datetime import datetime

import orjson


def batch_persisted(*, batch_id: str, message_ids: list[str], committed_at: datetime) -> bytes:
    return orjson.dumps(
        {
            "type": "batch_persisted",
            "batch_id": batch_id,
            "batch_size": len(message_ids),
            "ids": message_ids,
            "worker_timestamp": committed_at.isoformat(),
        }
    )
