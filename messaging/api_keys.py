"""API keys: issue, revoke, and check a presented key (its id and scopes) per request.

A key is signed (issue 9): `mbk_<random token>.<tag>`, the tag being Django's
`signing.Signer` HMAC over the rest, keyed by SECRET_KEY (or one of SECRET_KEY_FALLBACKS,
so rotating SECRET_KEY does not lock every client out). A key we did not issue is refused
by its tag alone: no cache, no database query, no Redis.

A key whose tag is good is then looked up by digest, to know it is still live; each web
process remembers what it learned about a digest for CACHE_SECONDS, so a revoked key
stops working within that time everywhere.

Keys issued before signing (`mb_<token>`, no tag) keep working through that lookup, as
long as any of them is live (asked once per CACHE_SECONDS): upgrading must not cut off
every client. While one is, an attacker's random `mb_` keys cost a query each, bounded
per client address by auth_throttle.py; once the operator has replaced and revoked them,
they cost nothing either.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.core import signing
from django.db import DatabaseError
from django.utils import timezone

from .models import DEFAULT_SCOPES, ApiKey, scopes_text

KEY_PREFIX = "mbk_"  # signed keys
LEGACY_PREFIX = "mb_"  # unsigned keys, issued before issue 9
_LEGACY_SHAPE = re.compile(r"mb_[A-Za-z0-9_-]{43}")  # LEGACY_PREFIX + secrets.token_urlsafe(32)
SIGNING_SALT = "msgbuffer.api_keys"
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


def _signer() -> signing.Signer:
    # Built per call: it reads SECRET_KEY and SECRET_KEY_FALLBACKS when made.
    return signing.Signer(salt=SIGNING_SALT, sep=".", algorithm="sha256")


def issued_by_us(raw_key: str) -> bool:
    """Whether the key's tag was made with our SECRET_KEY (or a fallback)."""
    try:
        _signer().unsign(raw_key)
    except signing.BadSignature:
        return False
    return True


def api_key_create(*, name: str, scopes=DEFAULT_SCOPES) -> tuple[ApiKey, str]:
    """Create a key; returns it with the raw key, which is never stored nor shown again."""
    raw = _signer().sign(KEY_PREFIX + secrets.token_urlsafe(32))
    key = ApiKey(name=name, prefix=raw[:10], digest=digest_of(raw), scopes=scopes_text(scopes))
    key.full_clean(exclude=["digest"])  # the scopes' validator: at least one, none unknown
    key.save()
    return key, raw


def api_key_revoke(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


_cache: OrderedDict[str, tuple[float, KeyCheck]] = OrderedDict()
_legacy_live = [0.0, True]  # [until (monotonic), any unsigned key live]; unknown counts as yes
_legacy_refresh: list[asyncio.Future | None] = [None]


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
    raw = raw.strip()
    if not issued_by_us(raw) and not (_LEGACY_SHAPE.fullmatch(raw) and await _legacy_keys_live()):
        return _NO_KEY  # not a key we issued: refused without a lookup
    digest = digest_of(raw)
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


def _any_legacy_key_live() -> bool:
    return ApiKey.objects.filter(revoked_at__isnull=True, prefix__startswith=LEGACY_PREFIX).exists()


async def _legacy_keys_live() -> bool:
    if _legacy_live[0] > time.monotonic():
        return _legacy_live[1]
    # One query at a time (as in polled_reads.py): requests arriving while it runs wait
    # for its answer instead of each asking the database, as a flood of keys would.
    # shield: a client that hangs up does not cancel the answer the others wait for.
    if _legacy_refresh[0] is None:
        _legacy_refresh[0] = asyncio.ensure_future(_refresh_legacy_live())
    return await asyncio.shield(_legacy_refresh[0])


async def _refresh_legacy_live() -> bool:
    try:
        _legacy_live[1] = await database_sync_to_async(_any_legacy_key_live)()
    except DatabaseError:
        pass  # keep the last answer (at first "live": the lookup that follows copes with the database away)
    finally:
        _legacy_live[0] = time.monotonic() + CACHE_SECONDS
        _legacy_refresh[0] = None
    return _legacy_live[1]


def forget_cached_keys() -> None:
    _cache.clear()
    _legacy_live[:] = [0.0, True]
    _legacy_refresh[0] = None
