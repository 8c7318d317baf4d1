from django.apps import AppConfig
from django.core import checks

MIN_METRICS_TOKEN_CHARS = 32  # a guessable token would make /metrics public


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        checks.register(check_msgbuffer_settings, "msgbuffer")
        checks.register(check_login_throttling, "msgbuffer")
        checks.register(check_messages_table_shape, "msgbuffer", checks.Tags.database)


def check_msgbuffer_settings(app_configs=None, **kwargs):
    """Reject settings that would break the buffer's promises, at start-up."""
    from .conf import setting_problems, unknown_setting_names

    # A value that does not parse is reported here, and the range checks below see its default.
    conf, unparsed = setting_problems()
    found = []

    def error(msg, id_):
        found.append(checks.Error(msg, id=f"msgbuffer.{id_}"))

    for problem in unparsed:
        error(problem, "E013")

    if not 1 <= conf.BATCH_SIZE <= 1000:
        error(f"MSGBUFFER_BATCH_SIZE must be in 1..1000 (got {conf.BATCH_SIZE}); a Lua script moves one batch at once.", "E001")
    if conf.FLUSH_INTERVAL <= 0:
        error("MSGBUFFER_FLUSH_INTERVAL must be a positive number of seconds.", "E002")
    if conf.STATS_INTERVAL <= 0:
        error("MSGBUFFER_STATS_INTERVAL must be a positive number of seconds.", "E003")
    if conf.MAX_QUEUE < conf.BATCH_SIZE:
        error("MSGBUFFER_MAX_QUEUE must hold at least one batch.", "E004")
    if conf.CLAIM_LEASE <= 0:
        error("MSGBUFFER_CLAIM_LEASE must be a positive number of seconds.", "E005")
    if not 1 <= conf.IDEMPOTENCY_TTL <= 30 * 24 * 3600:
        error("MSGBUFFER_IDEMPOTENCY_TTL must be 1 second to 30 days; every key is held in Redis that long.", "E016")
    if not 1 <= conf.MAX_DEAD_LETTERS <= 1_000_000:
        error("MSGBUFFER_MAX_DEAD_LETTERS must be 1..1000000: admin reads Redis's dead letters whole.", "E017")
    if conf.RATE_LIMIT and conf.RATE_LIMIT < conf.MAX_BULK_ITEMS:
        error(
            f"MSGBUFFER_RATE_LIMIT must be 0 (off) or at least {conf.MAX_BULK_ITEMS}, or a full bulk request could never pass.",
            "E006",
        )
    if not 0 < conf.BODY_READ_TIMEOUT <= 300:
        error(
            "MSGBUFFER_BODY_READ_TIMEOUT must be more than 0 and at most 300 seconds; a slow body holds a connection that long.",
            "E012",
        )
    if not 0 <= conf.READ_CACHE_SECONDS <= 5:
        error("MSGBUFFER_READ_CACHE_SECONDS must be 0 (off) to 5 seconds; the dashboard polls every 2 s.", "E008")
    if conf.STATUS_LOG_INTERVAL < 0:
        error("MSGBUFFER_STATUS_LOG_INTERVAL must be 0 (no status line) or a number of seconds.", "E014")
    if conf.METRICS_TOKEN and len(conf.METRICS_TOKEN) < MIN_METRICS_TOKEN_CHARS:
        error(
            f"MSGBUFFER_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_CHARS} characters (got {len(conf.METRICS_TOKEN)}): "
            "it lets anyone who holds it read /metrics. Make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            "E009",
        )
    if conf.AUTH_FAILURE_LIMIT < 0:
        error("MSGBUFFER_AUTH_FAILURE_LIMIT must be 0 (off) or a number of refused keys per window.", "E010")
    if not 1 <= conf.AUTH_FAILURE_WINDOW <= 3600:
        error("MSGBUFFER_AUTH_FAILURE_WINDOW must be 1 to 3600 seconds; a throttled client waits out the window.", "E011")
    if not 0 <= conf.RETENTION_DAYS <= 36500:
        error("MSGBUFFER_RETENTION_DAYS must be 0 (keep everything) or a number of days.", "E030")
    if not 1 <= conf.HOUSEKEEPING_INTERVAL <= 86400:
        error("MSGBUFFER_HOUSEKEEPING_INTERVAL must be 1 to 86400 seconds.", "E031")
    found += _check_database_connections()
    for name in unknown_setting_names():
        found.append(checks.Warning(f"MSGBUFFER has an unknown setting {name!r}; it is ignored.", id="msgbuffer.W001"))
    return found


def _check_database_connections():
    """Under an ASGI server each request runs in a thread of its own: persistent connections
    (CONN_MAX_AGE > 0) would keep one per thread. PostgreSQL must use the pool instead."""
    from django.conf import settings

    found = []
    for alias, db in settings.DATABASES.items():
        if db.get("ENGINE") != "django.db.backends.postgresql":
            continue
        if db.get("CONN_MAX_AGE") != 0:
            found.append(
                checks.Error(
                    f"DATABASES[{alias!r}] keeps persistent connections (CONN_MAX_AGE={db.get('CONN_MAX_AGE')!r}): under ASGI that "
                    "is one connection per request thread, until PostgreSQL refuses new ones.",
                    hint="Set CONN_MAX_AGE = 0 and use Django's pool (OPTIONS['pool'], DATABASE_POOL_MAX_SIZE).",
                    id="msgbuffer.E007",
                )
            )
        elif not (db.get("OPTIONS") or {}).get("pool"):
            found.append(
                checks.Warning(
                    f"DATABASES[{alias!r}] has no connection pool: every request opens a new PostgreSQL connection.",
                    hint="Set OPTIONS['pool'] (psycopg[pool]); settings.py does it from DATABASE_POOL_* .",
                    id="msgbuffer.W002",
                )
            )
    return found


def check_messages_table_shape(app_configs=None, databases=None, **kwargs):
    """MSGBUFFER_PARTITION_BY against the table's real shape (a database check: `migrate`,
    `check --database default`). A warning, not an error: migration 0004 applies the
    setting, and it must be allowed to run."""
    from django.db import DatabaseError, connection

    from .conf import setting_problems
    from .partitions import TABLE, is_partitioned

    if "default" not in (databases or ()) or connection.vendor != "postgresql":
        return []
    unit = setting_problems()[0].PARTITION_BY
    try:
        with connection.cursor() as cursor:
            if TABLE not in connection.introspection.table_names(cursor):
                return []
            partitioned = is_partitioned(cursor)
    except DatabaseError:
        return []
    if partitioned == bool(unit):
        return []
    shape = "partitioned" if partitioned else "a plain table"
    return [
        checks.Warning(
            f"MSGBUFFER_PARTITION_BY={unit!r} but {TABLE} is {shape}.",
            hint="Migrations apply the setting once (0004); to change the shape of an existing table run "
            "`manage.py convert_messages_table` (it copies every row under an exclusive lock).",
            id="msgbuffer.W030",
        )
    ]


def check_login_throttling(app_configs=None, **kwargs):
    """django-axes takes any number; these would turn admin login throttling off or make
    every mistyped password a lockout."""
    from django.conf import settings

    found = []
    if settings.AXES_FAILURE_LIMIT < 2:
        found.append(checks.Error("AXES_FAILURE_LIMIT must be at least 2 failed logins.", id="msgbuffer.E020"))
    if settings.AXES_COOLOFF_TIME.total_seconds() <= 0:
        found.append(
            checks.Error(
                "AXES_COOLOFF_SECONDS must be a positive number of seconds; a lockout would otherwise end at once.",
                id="msgbuffer.E021",
            )
        )
    return found
