"""Prometheus exposition (GET /metrics).

The msgbuffer_* figures are cluster-wide: they come from Redis (the stats snapshot and
the counters and histograms that push.lua and ack.lua keep), so every web process
answers the same and scraping any one of them is enough. Process figures (Python,
WebSocket clients of the answering process) come from prometheus_client's default
registry.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from . import buffer
from .buffer import BATCH_SIZE_BUCKETS, LATENCY_MS_BUCKETS, MetricCounters, RedisMemory, RetentionProgress
from .stats import stats_snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _histogram(name: str, documentation: str, stored: dict[str, float], bounds: tuple[float, ...]) -> HistogramMetricFamily:
    cumulative, buckets = 0.0, []
    for bound in [*map(str, bounds), "+Inf"]:
        cumulative += stored.get(bound, 0.0)
        buckets.append((bound, cumulative))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=stored.get("sum", 0.0))


class _ClusterCollector:
    def __init__(self, snapshot: dict, counters: MetricCounters, retention: RetentionProgress, memory: RedisMemory | None):
        self.snapshot = snapshot
        self.counters = counters
        self.retention = retention
        self.memory = memory

    def collect(self):
        s, c = self.snapshot, self.counters
        yield CounterMetricFamily("msgbuffer_messages_accepted", "Messages accepted by ingest (202)", value=c.accepted)
        rejected = CounterMetricFamily("msgbuffer_ingest_rejected", "Ingest requests refused, by reason", labels=["reason"])
        for reason, count in sorted(c.rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield CounterMetricFamily("msgbuffer_messages_persisted", "Messages committed to the database", value=s["total_messages"])
        yield CounterMetricFamily("msgbuffer_batches", "Batches committed to the database", value=s["total_batches"])
        causes = CounterMetricFamily(
            "msgbuffer_batches_by_cause",
            "Batches committed, by why they went when they did: full, timer (the oldest message was due), "
            "recovered (after a lease expired)",
            labels=["cause"],
        )
        for cause, count in s["batches_by_cause"].items():
            causes.add_metric([cause], count)
        yield causes
        yield CounterMetricFamily(
            "msgbuffer_messages_dead_lettered", "Messages moved to the dead-letter list", value=c.dead_lettered
        )
        by_reason = CounterMetricFamily(
            "msgbuffer_messages_dead_lettered_by_reason",
            "Messages dead-lettered, by reason (first 120 characters; past 100 reasons: other)",
            labels=["reason"],
        )
        for reason, count in sorted(c.dead_lettered_by_reason.items()):
            by_reason.add_metric([reason], count)
        yield by_reason
        yield CounterMetricFamily(
            "msgbuffer_dead_letters_moved_to_database",
            "Dead letters moved from Redis to PostgreSQL past MSGBUFFER_MAX_DEAD_LETTERS",
            value=c.dead_letters_moved,
        )
        if self.memory is not None:
            yield GaugeMetricFamily(
                "msgbuffer_redis_used_memory_bytes", "Redis used_memory (INFO memory)", value=self.memory.used
            )
            yield GaugeMetricFamily(
                "msgbuffer_redis_maxmemory_bytes", "Redis maxmemory (0: no limit)", value=self.memory.maxmemory
            )
        errors = CounterMetricFamily("msgbuffer_flush_errors", "Flush attempts that failed, by kind", labels=["kind"])
        for kind, count in sorted(c.flush_errors.items()):
            errors.add_metric([kind], count)
        yield errors
        yield _histogram(
            "msgbuffer_batch_size_messages", "Messages per committed batch", c.batch_size_histogram, BATCH_SIZE_BUCKETS
        )
        yield _histogram(
            "msgbuffer_latency_milliseconds", "Accepted-to-committed latency per message", c.latency_histogram, LATENCY_MS_BUCKETS
        )
        gauges = {
            "msgbuffer_queue_length": ("Messages waiting in Redis", "queue_length"),
            "msgbuffer_in_flight": ("Messages claimed by a worker, not yet settled", "in_flight"),
            "msgbuffer_dead_letters": ("Dead letters held in Redis now (at most MSGBUFFER_MAX_DEAD_LETTERS)", "dead_letters"),
            "msgbuffer_persisted_per_second": ("Messages persisted per second over the last 10 s", "current_rps"),
            "msgbuffer_workers": ("Live RQ workers", "workers"),
            "msgbuffer_oldest_message_age_seconds": ("Age of the oldest waiting message", "oldest_message_age_s"),
        }
        for name, (documentation, key) in gauges.items():
            yield GaugeMetricFamily(name, documentation, value=s[key])
        yield GaugeMetricFamily(
            "msgbuffer_flush_paused", "1 while the flush is paused (POST /flush/pause)", value=int(s["paused"])
        )
        r = self.retention
        yield CounterMetricFamily("msgbuffer_retention_removed", "Messages removed by retention", value=r.removed_total)
        yield GaugeMetricFamily("msgbuffer_retention_running", "1 while a prune runs", value=int(r.running))
        yield GaugeMetricFamily(
            "msgbuffer_retention_run_removed", "Messages the running (or the last) prune removed", value=r.run_removed
        )
        yield GaugeMetricFamily(
            "msgbuffer_retention_last_finished_timestamp_seconds",
            "When the last prune ended (0: never)",
            value=r.last_finished_at,
        )


def render_metrics(
    snapshot: dict, counters: MetricCounters, retention: RetentionProgress, memory: RedisMemory | None = None
) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ClusterCollector(snapshot, counters, retention, memory))
    return generate_latest(registry) + generate_latest(prometheus_client.REGISTRY)


def metrics_exposition() -> bytes:
    """The /metrics page: one stats snapshot plus the counters, read from Redis."""
    return render_metrics(
        stats_snapshot(), buffer.read_metric_counters(), buffer.read_retention_progress(), buffer.read_redis_memory()
    )
