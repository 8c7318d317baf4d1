"""Events that flush jobs announce to live dashboards (SPEC §6 `batch_persisted`).

Published once per committed batch on a Redis pub/sub channel (buffer.publish_event):
one command per batch whatever the number of dashboards; each web process subscribes
once and fans the event out to its own WebSocket clients (dashboard/broadcaster.py).
"""
import logging
from datetime import datetime

import orjson
import redis

from . import buffer

log = logging.getLogger(__name__)


def batch_persisted(*, batch_id: str, message_ids: list[str], committed_at: datetime) -> None:
    event = {
        "type": "batch_persisted",
        "batch_id": batch_id,
        "batch_size": len(message_ids),
        "ids": message_ids,
        "worker_timestamp": committed_at.isoformat(),
    }
    try:
        buffer.publish_event(orjson.dumps(event))
    except redis.RedisError:  # a missed live event must never fail a committed batch
        log.warning("could not publish batch_persisted for %s", batch_id, exc_info=True)
