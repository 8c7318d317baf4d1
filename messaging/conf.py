"""msgbuffer's app settings: the dataclass below is the one owner of every default.

settings.MSGBUFFER holds only what was asked for: the MSGBUFFER_* environment variables,
as their words (`from_environment`), over DEVELOPMENT_DEFAULTS in development
(settings/local.py), or Python values in a test's `override_settings`.
pydantic turns both into the field's type; a value it cannot turn is a system check error
naming the variable (apps.py, msgbuffer.E013), not a traceback at import.

Read them through `msgbuffer_settings()`. The result is cached; a `setting_changed`
receiver clears the cache, so `override_settings(MSGBUFFER=...)` works in tests.
System checks in apps.py reject values out of range at start-up.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Literal

import pydantic
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

ENV_PREFIX = "MSGBUFFER_"


def env(default):
    """A field an operator may set as MSGBUFFER_<NAME> (README's configuration table)."""
    return field(default=default, metadata={"environment": True})


@dataclass(frozen=True, slots=True)
class MsgbufferSettings:
    # nan and inf would slip through every range check in apps.py
    __pydantic_config__ = pydantic.ConfigDict(allow_inf_nan=False)

    BATCH_SIZE: int = env(50)  # messages per bulk_create transaction, at most
    FLUSH_INTERVAL: float = env(2.0)  # seconds a message may wait for its batch to fill
    STATS_INTERVAL: float = env(0.5)  # seconds between two /ws/stats ticks
    MAX_QUEUE: int = env(1_000_000)  # messages waiting in Redis before ingest answers 503
    CLAIM_LEASE: float = env(15.0)  # seconds a claimed batch stays with its worker before recovery
    FLUSH_JOB_BUDGET: float = 10.0  # seconds one RQ flush job drains before a fresh job takes over
    IDEMPOTENCY_TTL: int = env(24 * 3600)  # seconds an Idempotency-Key replays its first answer (Redis memory: README)
    # /health says "degraded" from this share of Redis's maxmemory: ingest is refused (503) at
    # 100 % (noeviction), and this leaves an operator the last 10 % to act in.
    REDIS_MEMORY_DEGRADED: float = 0.9
    MAX_DEAD_LETTERS: int = env(10_000)  # dead letters Redis holds; older ones move to PostgreSQL (dead_letters.py)
    LATENCY_SAMPLES: int = 2000  # recent accepted->committed latencies kept for percentiles
    RPS_WINDOW: int = 10  # seconds over which current_rps averages persisted messages
    MAX_BODY_BYTES: int = 1 << 20  # POST /messages body limit
    MAX_BULK_BODY_BYTES: int = 8 << 20  # POST /messages/bulk body limit
    MAX_BULK_ITEMS: int = 1000  # messages in one POST /messages/bulk
    MAX_SIMULATE: int = 10_000  # messages one POST /simulate may generate
    BODY_READ_TIMEOUT: float = env(10.0)  # seconds a request body may take between two of its parts (body_deadline.py)
    # The three switches below default to production's answer; DEVELOPMENT_DEFAULTS opens them.
    API_KEYS_REQUIRED: bool = env(True)  # the API needs `Authorization: Bearer <key>` or a staff session
    ALLOW_RESET: bool = env(False)  # DELETE /reset is a demo tool: off unless asked for
    DASHBOARD_AUTH: bool = env(True)  # the dashboard and /ws/stats admit staff sessions (or a key) only
    RATE_LIMIT: int = env(5000)  # messages per second one API key may send; 0 turns the limit off
    METRICS_TOKEN: str = env("")  # a Prometheus scraper's `Authorization: Bearer <token>` for /metrics; "": none
    METRICS_PUBLIC: bool = env(False)  # /metrics answers anyone, even when API keys are required
    AUTH_FAILURE_LIMIT: int = env(20)  # refused API keys one client address may present per window; 0 turns the throttle off
    AUTH_FAILURE_WINDOW: float = env(
        60.0
    )  # seconds; past the limit the address gets 429 until its window ends (auth_throttle.py)
    READ_CACHE_SECONDS: float = env(0.5)  # a web process reuses its answer to a polled read this long (polled_reads.py)
    STATUS_LOG_INTERVAL: float = env(60.0)  # seconds between two status lines of a worker (status_line.py); 0: none
    HISTORY: bool = env(True)  # flush jobs keep throughput history for GET /stats/history (buffer/history.py)
    RQ_QUEUE: str = "default"  # the RQ queue flush jobs go to; `rqworker` listens on it
    RETENTION_DAYS: float = env(0.0)  # days a stored message is kept (0.01: 14.4 min); 0: for ever (retention.py)
    PRUNE_CHUNK_ROWS: int = 5000  # rows one retention DELETE removes, in its own short transaction
    PRUNE_LOCK_TIMEOUT_MS: int = 100  # a retention statement gives up a lock it cannot get this fast
    PARTITION_BY: Literal["", "day", "month"] = env("")  # PostgreSQL: the messages table by created_at (partitions.py)
    HOUSEKEEPING_INTERVAL: int = env(600)  # seconds between two scheduled housekeeping runs (jobs.py)


# With DJANGO_DEBUG on (`make run`), a visitor can try the API, the dashboard and /reset
# without a key or a login. Stated here only; settings/local.py applies them under what the
# environment says. Decided with the settings module, not by settings.DEBUG at run time:
# Django's test runner turns DEBUG off in a development process.
DEVELOPMENT_DEFAULTS = {"API_KEYS_REQUIRED": False, "ALLOW_RESET": True, "DASHBOARD_AUTH": False}

DEFAULTS = MsgbufferSettings()
_FIELD_NAMES = frozenset(f.name for f in fields(MsgbufferSettings))
_PARSER = pydantic.TypeAdapter(MsgbufferSettings)


def environment_variables() -> dict[str, str]:
    """{"MSGBUFFER_BATCH_SIZE": "BATCH_SIZE", ...}: every variable an operator may set."""
    return {ENV_PREFIX + f.name: f.name for f in fields(MsgbufferSettings) if f.metadata.get("environment")}


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """settings.MSGBUFFER from the environment: the variables that are set, unparsed (an
    empty value means unset, as in a copied .env.example)."""
    return {name: environ[variable] for variable, name in environment_variables().items() if environ.get(variable, "").strip()}


@cache
def _load() -> tuple[MsgbufferSettings, tuple[str, ...]]:
    """The settings, and what could not be parsed (those fields keep their default)."""
    values = {key: value for key, value in (getattr(settings, "MSGBUFFER", {}) or {}).items() if key in _FIELD_NAMES}
    try:
        return _PARSER.validate_python(values), ()
    except pydantic.ValidationError as invalid:
        problems = {}
        for error in invalid.errors(include_url=False):
            name = str(error["loc"][0])
            problems[name] = f"{ENV_PREFIX}{name}={error['input']!r}: {error['msg']}."
        values = {key: value for key, value in values.items() if key not in problems}
        return _PARSER.validate_python(values), tuple(problems.values())


def msgbuffer_settings() -> MsgbufferSettings:
    conf, problems = _load()
    if problems:
        # Where system checks did not run first (an ASGI server): refuse rather than run on defaults.
        raise ImproperlyConfigured(" ".join(problems))
    return conf


msgbuffer_settings.cache_clear = lambda: _load.cache_clear()  # as if it were the @cache it fronts


def setting_problems() -> tuple[MsgbufferSettings, tuple[str, ...]]:
    """For the system checks: the settings with defaults where a value is bad, and why each is."""
    return _load()


def unknown_setting_names() -> list[str]:
    return sorted(set(getattr(settings, "MSGBUFFER", {}) or {}) - _FIELD_NAMES)


@receiver(setting_changed)
def _clear_cache(*, setting, **kwargs):
    if setting in {"MSGBUFFER", "REDIS_URL"}:
        _load.cache_clear()
