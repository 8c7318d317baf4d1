"""API keys: issue, revoke, and check a presented key (its id and scopes) per request.

The check runs per request, so each web process remembers what it learned about a
digest for CACHE_SECONDS (known or unknown alike, so random keys cannot hammer the
database); a revoked key stops working within that time everywhere.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.db import DatabaseError
from django.utils import timezone

from .models import DEFAULT_SCOPES, ApiKey, scopes_text

KEY_PREFIX = "mb_"
CACHE_SECONDS = 10.0
CACHE_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class KeyCheck:
    key_id: int | None  # None: not a live key
    scopes: frozenset[str] = frozenset()  # what that key may do (models.SCOPES)

    def allows(self, scope: str) -> bool:
        return self.key_id is not None and scope in self.scopes


_NO_KEY = KeyCheck(None)


def digest_of(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_create(*, name: str, scopes=DEFAULT_SCOPES) -> tuple[ApiKey, str]:
    """Create a key; returns it with the raw key, which is never stored nor shown again."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=raw[:10], digest=digest_of(raw), scopes=scopes_text(scopes))
    key.full_clean(exclude=["digest"])  # the scopes' validator: at least one, none unknown
    key.save()
    return key, raw


def api_key_revoke(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


_cache: "OrderedDict[str, tuple[float, KeyCheck]]" = OrderedDict()


def _lookup(digest: str) -> KeyCheck:
    row = ApiKey.objects.filter(digest=digest, revoked_at__isnull=True).values_list("id", "scopes").first()
    if row is None:
        return _NO_KEY
    key_id, scopes = row
    return KeyCheck(key_id, ApiKey(scopes=scopes).scope_set)


async def api_key_check(authorization: str | None) -> KeyCheck:
    """Check an `Authorization: Bearer <key>` header value."""
    if not authorization:
        return _NO_KEY
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return _NO_KEY
    digest = digest_of(raw.strip())
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        # database_sync_to_async closes unusable or expired connections around the call, as
        # Django does around a request: after a database restart this thread's connection
        # would otherwise stay broken, and keys would stop following the database (issue 12).
        check = await database_sync_to_async(_lookup)(digest)
    except DatabaseError:
        return cached[1] if cached is not None else _NO_KEY  # keep what we knew while the database is away
    _cache[digest] = (now + CACHE_SECONDS, check)
    _cache.move_to_end(digest)
    while len(_cache) > CACHE_ENTRIES:
        _cache.popitem(last=False)
    return check


def forget_cached_keys() -> None:
    _cache.clear()
