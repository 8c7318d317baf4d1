"""Structured logs: one JSON object per line, one line per event.

settings.LOGGING uses `JsonFormatter` when LOG_FORMAT=json (the default with DEBUG off),
so a log shipper can index every event without parsing free text. Whatever a call
passes in `extra` becomes a top-level field, so ids stay searchable:

    log.warning("batch requeued", extra={"batch_id": claim.batch_id, "message_ids": ids})

This module must not import Django models: LOGGING loads it while settings are read.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# Extras that only make sense to a terminal (uvicorn adds an ANSI-coloured copy of the message).
_DROPPED_EXTRAS = frozenset({"color_message"})


class JsonFormatter(logging.Formatter):
    """Render a record as one line of JSON: time, level, logger, message, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in _DROPPED_EXTRAS and key not in event:
                event[key] = _plain(key, value)
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines inside strings, so a traceback stays on its line.
        return json.dumps(event, ensure_ascii=False, default=_json_default)


def _plain(key: str, value):
    # django.request passes the HttpRequest itself; its method and path are what a reader needs.
    if key == "request" and hasattr(value, "method") and hasattr(value, "path"):
        return f"{value.method} {value.path}"
    return value


def _json_default(value):
    # Ids arrive as UUIDs, sets of ids as sets: keep them readable rather than failing the log call.
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


# What RQ's worker logs at INFO for every job it runs (rq/worker/base.py: the dequeue line,
# "Job OK", "Successfully completed", the result's lifespan), by its format string. A flush
# job runs every few seconds under load, so at INFO these were four lines a job.
RQ_PER_JOB_MESSAGES = frozenset(
    {
        "Worker %s: %s: %s (%s)",  # dequeued (with the job's description), and "Job OK"
        "Worker %s: %s: %s",  # dequeued, without the description
        "Successfully completed %s job in %ss on worker %s",
        "Successfully completed job %s in %ss on worker %s",
        "Worker %s: job %s result discarded immediately",
        "Worker %s: job %s result is kept for %s seconds",
        "Worker %s: job %s result will never expire, clean up result key manually",
    }
)


class RQPerJobLinesAtDebug(logging.Filter):
    """On the `rq.worker` logger: RQ's per-job INFO lines become DEBUG lines, shown only when
    that logger is at DEBUG (`manage.py rqworker -v 2`). Everything else RQ logs, its
    warnings and errors above all, passes untouched.

    A filter rather than a level: `rqworker` sets the logger's level from its verbosity
    after settings are read, and WARNING would also hide the worker's start and stop."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.msg not in RQ_PER_JOB_MESSAGES:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
