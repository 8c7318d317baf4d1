from django.apps import AppConfig
from django.core import checks


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        checks.register(check_msgbuffer_settings, "msgbuffer")


def check_msgbuffer_settings(app_configs=None, **kwargs):
    """Reject settings that would break the buffer's promises, at start-up."""
    from .conf import msgbuffer_settings, unknown_setting_names

    conf = msgbuffer_settings()
    found = []

    def error(msg, id_):
        found.append(checks.Error(msg, id=f"msgbuffer.{id_}"))

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
    if conf.RATE_LIMIT and conf.RATE_LIMIT < conf.MAX_BULK_ITEMS:
        error(f"MSGBUFFER_RATE_LIMIT must be 0 (off) or at least {conf.MAX_BULK_ITEMS}, or a full bulk request could never pass.", "E006")
    for name in unknown_setting_names():
        found.append(checks.Warning(f"MSGBUFFER has an unknown setting {name!r}; it is ignored.", id="msgbuffer.W001"))
    return found
