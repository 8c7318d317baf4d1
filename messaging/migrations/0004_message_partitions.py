from django.db import migrations


def _convert(unit_of_setting):
    def run(apps, schema_editor):
        # The shape is PostgreSQL's business only: the model does not change, so this is a
        # no-op on SQLite and Django's state stays as 0001 left it (partitions.py says why).
        from messaging import partitions

        partitions.convert(unit_of_setting(), schema_editor, apps.get_model("messaging", "Message"))

    return run


def _setting():
    from messaging.conf import msgbuffer_settings

    return msgbuffer_settings().PARTITION_BY


class Migration(migrations.Migration):
    """MSGBUFFER_PARTITION_BY=day|month (issue 8): the messages table becomes range-partitioned
    on created_at; unset, it stays plain. Backwards, a partitioned table becomes plain again.
    Either way every row is copied (partitions.convert). Set later, the setting is applied by
    `manage.py convert_messages_table`."""

    dependencies = [
        ("messaging", "0003_api_key_scopes"),
    ]

    operations = [
        migrations.RunPython(_convert(_setting), _convert(lambda: "")),
    ]
