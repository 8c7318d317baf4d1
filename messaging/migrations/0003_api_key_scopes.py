from django.db import migrations, models

import messaging.models


class Migration(migrations.Migration):
    """Keys get scopes (issue 9). Keys issued before could ingest and read (reads were open
    to anyone), so they keep exactly that: `operate` (DELETE /reset, POST /simulate) must be
    granted explicitly."""

    dependencies = [
        ("messaging", "0002_api_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.CharField(
                default="ingest,read",
                help_text="What the key may do, comma-separated: ingest, read, operate.",
                max_length=64,
                validators=[messaging.models.validate_scopes],
            ),
        ),
    ]
