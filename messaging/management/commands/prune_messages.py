"""`manage.py prune_messages`: remove the stored messages older than MSGBUFFER_RETENTION_DAYS
now, to the last one, and print how many went (the scheduled housekeeping job runs the
same code a budget at a time: messaging/jobs.py)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from messaging.retention import prune_messages


class Command(BaseCommand):
    help = "Remove stored messages older than MSGBUFFER_RETENTION_DAYS and print how many were removed."

    def handle(self, *args, **options):
        try:
            outcome = prune_messages()
        except DatabaseError as exc:
            raise CommandError(f"the database refused the prune: {exc}") from exc
        if outcome.cutoff is None:
            self.stdout.write("retention is off (MSGBUFFER_RETENTION_DAYS is 0): removed 0 messages")
            return
        rate = outcome.removed / outcome.seconds if outcome.seconds else 0.0
        self.stdout.write(
            f"removed {outcome.removed} messages accepted before {outcome.cutoff.isoformat()} "
            f"in {outcome.seconds:.2f} s ({rate:,.0f} rows/s)"
        )
        if not outcome.finished:
            raise CommandError("stopped before the end: the table stayed locked; older messages remain")
