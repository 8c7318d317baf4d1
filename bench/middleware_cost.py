"""What one middleware costs a Django route: requests/s through Django's ASGI handler,
in-process (httpx's ASGITransport, 16 concurrent requests), with settings.MIDDLEWARE
varied, the variants alternated round by round; medians and ratios to "none".

    python -m bench.middleware_cost [PATH] [ROUNDS]     # default /no-such-page, 5 rounds

Made for issue 9: django-csp's CSPMiddleware is a MiddlewareMixin, so under ASGI each of
its two hooks is a thread hop; msgbuffer_site/content_security.py's subclass runs them on
the event loop; django-axes' middleware is async-native. Run it with production settings
(DJANGO_DEBUG=0, DJANGO_SECURE_SSL_REDIRECT=0, DJANGO_ALLOWED_HOSTS=127.0.0.1) against a
migrated DATABASE_URL; for GET /messages/<id>, store a message first.
"""

import asyncio
import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "msgbuffer_site.settings")
import django

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.test import override_settings  # noqa: E402

OURS = "msgbuffer_site.content_security.PageCSPMiddleware"
STOCK = "csp.middleware.CSPMiddleware"
AXES = "axes.middleware.AxesMiddleware"
CONCURRENCY = 16
REQUESTS = 1500


def middleware(csp: str | None, axes: bool) -> list[str]:
    found = [name for name in settings.MIDDLEWARE if name not in (OURS, AXES)]
    if csp:
        found.insert(found.index("corsheaders.middleware.CorsMiddleware") + 1, csp)
    return found + [AXES] if axes else found


VARIANTS = {
    "none": middleware(None, False),
    "axes only": middleware(None, True),
    "stock CSPMiddleware": middleware(STOCK, False),
    "PageCSPMiddleware": middleware(OURS, False),
    "PageCSP + axes (settings)": middleware(OURS, True),
}


async def requests_per_second(app, path: str) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one():
            async with gate:
                assert (await client.get(path)).status_code < 500

        await asyncio.gather(*(one() for _ in range(100)))  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(REQUESTS)))
        return REQUESTS / (time.perf_counter() - started)


async def main(path: str, rounds: int) -> None:
    results = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, chain in VARIANTS.items():
            with override_settings(MIDDLEWARE=chain):
                results[name].append(await requests_per_second(ASGIHandler(), path))
    base = statistics.median(results["none"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{path} {name:26s} {median:7.0f} req/s  {median / base:.2f}x  rounds {[round(v) for v in values]}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "/no-such-page", int(sys.argv[2]) if len(sys.argv) > 2 else 5))
