"""A worker's periodic status line: what `make run` and `docker compose logs worker` show
instead of RQ's four lines per flush job (those are DEBUG: messaging/logging.py).

Each worker prints one every MSGBUFFER_STATUS_LOG_INTERVAL seconds (60; 0: none), from one
Redis read (the stats snapshot: cluster-wide figures, so N workers print N alike lines).
The worker checks whether one is due each time RQ has it heartbeat (worker.py): every few
seconds while idle, between jobs while busy, so a line may come up to one flush job's
budget (10 s) late. With LOG_FORMAT=json the figures are fields of the event too.
"""

from __future__ import annotations

import logging
import time

from .stats import stats_snapshot

log = logging.getLogger("messaging.status")


class StatusLine:
    def __init__(self, interval: float):
        self.interval = interval
        self.due_at = time.monotonic() + interval
        self.previous: tuple[float, int] | None = None  # (when, total_messages) of the last line

    def log_if_due(self) -> None:
        now = time.monotonic()
        if self.interval <= 0 or now < self.due_at:
            return
        self.due_at = now + self.interval
        try:
            snapshot = stats_snapshot()
        except Exception:  # a log line must never stop the worker; RQ reports Redis trouble itself
            log.warning("status line skipped: the stats could not be read", exc_info=True)
            return
        total = snapshot["total_messages"]
        rate = (total - self.previous[1]) / (now - self.previous[0]) if self.previous else None
        self.previous = (now, total)
        figures = {
            "total_messages": total,
            "stored_per_second": round(rate, 1) if rate is not None else None,
            "queue_length": snapshot["queue_length"],
            "in_flight": snapshot["in_flight"],
            "oldest_message_age_s": snapshot["oldest_message_age_s"],
            "dead_letters": snapshot["dead_letters"],
            "workers": snapshot["workers"],
        }
        log.info(render(figures), extra=figures)


def render(f: dict) -> str:
    rate = f" ({f['stored_per_second']:,.1f}/s since the last line)" if f["stored_per_second"] is not None else ""
    return (
        f"{f['total_messages']:,} messages stored{rate}; queue {f['queue_length']:,} waiting, "
        f"{f['in_flight']:,} in flight, oldest {f['oldest_message_age_s']:.1f} s; "
        f"{f['dead_letters']:,} dead letters; {f['workers']} worker{'s' if f['workers'] != 1 else ''}"
    )
