"""`manage.py apikey create NAME [--scope ingest,read,operate] | revoke NAME | list`: API
keys for operators (SPEC §9). A key created without --scope may ingest and read.

The same services as admin (messaging/api_keys.py). A revocation reaches every web
process within api_keys.CACHE_SECONDS.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from messaging import api_keys
from messaging.models import DEFAULT_SCOPES, SCOPES, ApiKey, scopes_text


class Command(BaseCommand):
    help = "Create, revoke or list API keys (Authorization: Bearer <key>)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|revoke|list")
        create = actions.add_parser("create", help="issue a key and print it once")
        create.add_argument("name", help="who or what uses the key")
        create.add_argument(
            "--scope",
            default=scopes_text(DEFAULT_SCOPES),
            help=f"what it may do, comma-separated from {','.join(SCOPES)} (default: %(default)s)",
        )
        revoke = actions.add_parser("revoke", help="revoke every live key of that name")
        revoke.add_argument("name")
        actions.add_parser("list", help="name, prefix, scopes, created, revoked")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, *, name, scope, **options):
        name = name.strip()
        if not name or len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("NAME must be 1..100 characters")
        try:
            key, raw = api_keys.api_key_create(name=name, scopes=[part.strip() for part in scope.split(",")])
        except ValidationError as exc:
            raise CommandError(f"--scope: {' '.join(exc.messages)}") from exc
        self.stderr.write(f"Created API key {key.name!r} ({key.prefix}…, may {key.scopes}). It is shown once; store it now:")
        self.stdout.write(raw)  # alone on stdout, so that `KEY=$(manage.py apikey create x)` works

    def _revoke(self, *, name, **options):
        live = list(ApiKey.objects.filter(name=name, revoked_at__isnull=True))
        if not live:
            raise CommandError(f"no live API key is named {name!r} (see `manage.py apikey list`)")
        for key in live:
            api_keys.api_key_revoke(key=key)
        self.stdout.write(
            f"Revoked {len(live)} key{'s' if len(live) != 1 else ''} named {name!r}; "
            f"web processes refuse {'them' if len(live) != 1 else 'it'} within {api_keys.CACHE_SECONDS:g} s."
        )

    def _list(self, **options):
        keys = ApiKey.objects.order_by("name", "created_at")
        if not keys:
            self.stdout.write("No API keys. Create one: manage.py apikey create NAME")
            return
        for key in keys:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
            self.stdout.write(f"{key.name}\t{key.prefix}…\t{key.scopes}\tcreated {key.created_at:%Y-%m-%d %H:%M}\t{state}")
