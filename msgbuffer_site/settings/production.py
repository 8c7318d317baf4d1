"""Production (DJANGO_DEBUG off, the default): what changes from base.py.

A real secret key, HTTPS, hashed static files, JSON logs. msgbuffer's own switches
(API keys required, /reset off, dashboard for staff) are messaging/conf.py's defaults.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from msgbuffer_site.environment import env_bool, env_choice, env_int, env_list

from .base import *  # noqa: F403
from .base import INSECURE_DEV_SECRET_KEY, LOG_FORMATS, STATIC_ROOT, STORAGES, logging_settings

DEBUG = False

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    # A guessable key signs sessions, CSRF tokens and API keys: refuse to run with none.
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Set it (python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))'), or set DJANGO_DEBUG=1 for local development."
    )
if SECRET_KEY == INSECURE_DEV_SECRET_KEY or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is a development key; set a real one in production.")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

# No browser origin may call the API cross-site unless one is named.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "")

# After `collectstatic` (the Dockerfile runs it), files get hashed names, ES module
# imports included, and are cached for ever (msgbuffer_site/static_storage.py). The same
# storage writes them and names them, so collectstatic itself needs no other settings.
# Without collectstatic (a Procfile started as it stands), WhiteNoise serves the apps'
# static folders, so the dashboard still works.
STATIC_COLLECTED = (STATIC_ROOT / "staticfiles.json").exists()
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "msgbuffer_site.static_storage.HashedStaticFilesStorage"}}
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]  # probes speak plain HTTP inside the cluster
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

LOG_FORMAT = env_choice("LOG_FORMAT", "json", LOG_FORMATS)
LOGGING = logging_settings(LOG_FORMAT)
