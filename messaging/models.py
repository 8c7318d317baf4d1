"""What msgbuffer stores in the database: messages (and, for admin, dead letters)."""

from django.core.exceptions import ValidationError
from django.db import models

# What an API key may do (README "Who may call what"): `ingest` the write routes, `read`
# the read routes and /metrics, `operate` DELETE /reset and POST /simulate.
SCOPES = ("ingest", "read", "operate")
DEFAULT_SCOPES = ("ingest", "read")


def scopes_text(scopes) -> str:
    """Scope names as stored and as `--scope` takes them: comma-separated, in SCOPES order
    (unknown names last, for validate_scopes to name)."""
    names = {name.strip() for name in scopes if name.strip()}
    return ",".join(sorted(names, key=lambda name: (SCOPES.index(name) if name in SCOPES else len(SCOPES), name)))


def validate_scopes(value: str) -> None:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SCOPES))
    if unknown:
        raise ValidationError(f"unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    if not names:
        raise ValidationError(f"give a key at least one scope: {', '.join(SCOPES)}")


class Message(models.Model):
    """One accepted chat message, written by a flush job in a `bulk_create` batch.

    `message_id` is given at ingestion and unique: a batch replayed after a worker died
    inserts nothing twice (the insert ignores conflicts on it).
    """

    id = models.BigAutoField(primary_key=True)
    message_id = models.UUIDField(unique=True, editable=False)
    user_id = models.BigIntegerField()
    channel_id = models.BigIntegerField()
    content = models.TextField()
    created_at = models.DateTimeField(help_text="When the API accepted the message (UTC).")
    inserted_at = models.DateTimeField(db_default=models.functions.Now(), help_text="When its batch was committed.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "newest first", and keyset paging with ?before=
            models.Index(fields=["-created_at", "-id"], name="message_newest_idx"),
            models.Index(fields=["channel_id", "-created_at", "-id"], name="message_channel_newest_idx"),
            models.Index(fields=["user_id", "-created_at", "-id"], name="message_user_newest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} (channel {self.channel_id}, user {self.user_id})"


class DeadLetter(models.Model):  # noqa: DJ008 (no rows, so no instance to name)
    """Admin's window on the dead letters, in Redis and in DeadLetterOverflow; it has no table
    (its permissions are the ones admin checks).

    Dead letters live in Redis next to the queue (messaging/buffer/dead_letters.py owns them), so a
    message that PostgreSQL refuses can always be parked, even while PostgreSQL is sick; past
    MSGBUFFER_MAX_DEAD_LETTERS the oldest move to DeadLetterOverflow (messaging/dead_letters.py).
    """

    class Meta:
        managed = False
        verbose_name = "dead letter"
        verbose_name_plural = "dead letters"


class ApiKey(models.Model):
    """A client's key for the API (`Authorization: Bearer <key>`), held to its scopes.

    Only a SHA-256 digest is stored; the key itself is shown once, when admin creates it.
    Keys are 256-bit random tokens, so a fast digest is safe (nothing to brute-force) and
    checking one costs microseconds on the ingest path, where a password hasher would
    cost a hundred milliseconds.
    """

    name = models.CharField(max_length=100, help_text="Who or what uses this key.")
    prefix = models.CharField(max_length=16, editable=False, help_text="The key's first characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = models.CharField(
        max_length=64,
        default=scopes_text(DEFAULT_SCOPES),
        validators=[validate_scopes],
        help_text=f"What the key may do, comma-separated: {', '.join(SCOPES)}.",
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.scopes.split(",") if name.strip())


REASON_CHARS = 1000  # a dead letter's reason as kept, filtered and counted (dead_letters.py)


class DeadLetterOverflow(models.Model):
    """A dead letter that Redis had no room for (past MSGBUFFER_MAX_DEAD_LETTERS), kept here
    for good: PostgreSQL is the durable home that does not share memory with the queue.

    `entry` is the dead letter's JSON exactly as Redis held it (ASCII, so any payload fits
    a text column, NUL bytes included); the other columns are copied out to filter and sort.
    """

    entry_id = models.CharField(max_length=32, unique=True, help_text="The dead letter's id, as in Redis.")
    reason = models.CharField(max_length=REASON_CHARS)
    failed_at = models.DateTimeField()
    moved_at = models.DateTimeField(auto_now_add=True, help_text="When it left Redis.")
    entry = models.TextField()

    class Meta:
        verbose_name = "dead letter kept in the database"
        ordering = ["-failed_at", "-id"]
        indexes = [models.Index(fields=["reason", "-failed_at"], name="deadletter_overflow_reason_idx")]

    def __str__(self) -> str:
        return f"{self.entry_id}: {self.reason}"
