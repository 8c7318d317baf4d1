"""msgbuffer's app settings: one DEFAULTS dict merged with settings.MSGBUFFER.

Read them through `msgbuffer_settings()`. The result is cached; a `setting_changed`
receiver clears the cache, so `override_settings(MSGBUFFER=...)` works in tests.
System checks in apps.py reject bad values at start-up.
"""
from dataclasses import dataclass, fields
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True, slots=True)
class MsgbufferSettings:
    BATCH_SIZE: int = 50  # messages per bulk_create transaction, at most
    FLUSH_INTERVAL: float = 2.0  # seconds a message may wait for its batch to fill
    STATS_INTERVAL: float = 0.5  # seconds between two /ws/stats ticks
    MAX_QUEUE: int = 1_000_000  # messages waiting in Redis before ingest answers 503
    CLAIM_LEASE: float = 15.0  # seconds a claimed batch stays with its worker before recovery
    FLUSH_JOB_BUDGET: float = 10.0  # seconds one RQ flush job drains before a fresh job takes over
    IDEMPOTENCY_TTL: int = 24 * 3600  # seconds an Idempotency-Key replays its first answer
    LATENCY_SAMPLES: int = 2000  # recent accepted->committed latencies kept for percentiles
    RPS_WINDOW: int = 10  # seconds over which current_rps averages persisted messages
    MAX_BODY_BYTES: int = 1 << 20  # POST /messages body limit
    MAX_BULK_BODY_BYTES: int = 8 << 20  # POST /messages/bulk body limit
    MAX_BULK_ITEMS: int = 1000  # messages in one POST /messages/bulk
    MAX_SIMULATE: int = 10_000  # messages one POST /simulate may generate
    BODY_READ_TIMEOUT: float = 10.0  # seconds a request body may take between two of its parts (body_deadline.py)
    API_KEYS_REQUIRED: bool = False  # ingest needs `Authorization: Bearer <key>`
    ALLOW_RESET: bool = False  # DELETE /reset is a demo tool: off unless asked for
    DASHBOARD_AUTH: bool = False  # the dashboard and /ws/stats admit staff sessions (or a key) only
    RATE_LIMIT: int = 5000  # messages per second one API key may send; 0 turns the limit off
    METRICS_TOKEN: str = ""  # a Prometheus scraper's `Authorization: Bearer <token>` for /metrics; "": none
    METRICS_PUBLIC: bool = False  # /metrics answers anyone, even when API keys are required
    AUTH_FAILURE_LIMIT: int = 20  # refused API keys one client address may present per window; 0 turns the throttle off
    AUTH_FAILURE_WINDOW: float = 60.0  # seconds; past the limit the address gets 429 until its window ends (auth_throttle.py)
    READ_CACHE_SECONDS: float = 0.5  # a web process reuses its answer to a polled read this long (polled_reads.py)
    RQ_QUEUE: str = "default"  # the RQ queue flush jobs go to; `rqworker` listens on it


DEFAULTS = MsgbufferSettings()


@cache
def msgbuffer_settings() -> MsgbufferSettings:
    overrides = getattr(settings, "MSGBUFFER", {}) or {}
    known = {f.name for f in fields(MsgbufferSettings)}
    return MsgbufferSettings(**{key: value for key, value in overrides.items() if key in known})


def unknown_setting_names() -> list[str]:
    known = {f.name for f in fields(MsgbufferSettings)}
    return sorted(set(getattr(settings, "MSGBUFFER", {}) or {}) - known)


@receiver(setting_changed)
def _clear_cache(*, setting, **kwargs):
    if setting in {"MSGBUFFER", "REDIS_URL"}:
        msgbuffer_settings.cache_clear()
