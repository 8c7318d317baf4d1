"""The two /metrics histograms kept in Redis (ack.lua adds to them as each batch settles,
metrics.py renders them): their bucket bounds, and what one batch adds."""

from __future__ import annotations

BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 40, 45, 50, 100, 250, 500, 1000)  # messages
LATENCY_MS_BUCKETS = (5, 10, 25, 50, 100, 150, 250, 500, 1000, 2000, 2500, 5000, 10000, 30000)  # milliseconds


def histogram_increments(values: list[float], bounds: tuple[float, ...]) -> dict[str, float]:
    """What one batch adds to a histogram kept in Redis: per-bucket counts (not yet
    cumulative), plus sum and count."""
    if not values:
        return {}
    increments: dict[str, float] = {"count": len(values), "sum": sum(values)}
    for value in values:
        bucket = next((str(bound) for bound in bounds if value <= bound), "+Inf")
        increments[bucket] = increments.get(bucket, 0) + 1
    return increments
