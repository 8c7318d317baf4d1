"""Prometheus exposition of the stats snapshot (GET /metrics)."""
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _SnapshotCollector:
    def __init__(self, snapshot: dict):
        self.snapshot = snapshot

    def collect(self):
        s = self.snapshot
        yield CounterMetricFamily("msgbuffer_messages_persisted", "Messages committed to the database", value=s["total_messages"])
        yield CounterMetricFamily("msgbuffer_batches", "Batches committed to the database", value=s["total_batches"])
        gauges = {
            "msgbuffer_queue_length": ("Messages waiting in Redis", "queue_length"),
            "msgbuffer_in_flight": ("Messages claimed by a worker, not yet settled", "in_flight"),
            "msgbuffer_dead_letters": ("Messages parked in the dead-letter list", "dead_letters"),
            "msgbuffer_persisted_per_second": ("Messages persisted per second over the last 10 s", "current_rps"),
            "msgbuffer_workers": ("Live RQ workers", "workers"),
            "msgbuffer_oldest_message_age_seconds": ("Age of the oldest waiting message", "oldest_message_age_s"),
            "msgbuffer_batch_size_average": ("Messages per committed batch, on average", "avg_batch_size"),
        }
        for name, (documentation, key) in gauges.items():
            yield GaugeMetricFamily(name, documentation, value=s[key])
        latency = GaugeMetricFamily(
            "msgbuffer_latency_milliseconds", "Accepted-to-committed latency over recent messages", labels=["quantile"]
        )
        for quantile, key in (("0.5", "p50_latency_ms"), ("0.95", "p95_latency_ms"), ("0.99", "p99_latency_ms")):
            latency.add_metric([quantile], s[key])
        yield latency


def render_metrics(snapshot: dict) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)
