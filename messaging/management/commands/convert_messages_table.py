"""`manage.py convert_messages_table`: give the messages table the shape MSGBUFFER_PARTITION_BY
asks for (partitioned by day or month, or plain when unset), copying every row.

The copy holds an exclusive lock on the table for its whole length: the flush waits (ingest
keeps accepting into Redis, up to MSGBUFFER_MAX_QUEUE), reads and admin wait. Run it when
that is acceptable; for a big table, stop the workers first. Day to month (or back) goes
through a plain table: run it with PARTITION_BY unset, then set.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from messaging import partitions
from messaging.conf import msgbuffer_settings
from messaging.models import Message


class Command(BaseCommand):
    help = "Make the messages table partitioned (MSGBUFFER_PARTITION_BY=day|month) or plain (unset), copying every row."

    def handle(self, *args, **options):
        unit = msgbuffer_settings().PARTITION_BY
        try:
            with connection.schema_editor() as editor:
                done = partitions.convert(unit, editor, Message)
        except (ValueError, DatabaseError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(done)
