"""Development (DJANGO_DEBUG on, as `make run` sets it): what changes from base.py.

Every DEBUG-dependent Django default is decided here and in production.py, once each;
msgbuffer's own (API keys, /reset, dashboard login) are messaging/conf.py's
DEVELOPMENT_DEFAULTS, applied here.
"""

import os
import warnings

from messaging.conf import DEVELOPMENT_DEFAULTS
from msgbuffer_site.environment import env_choice, env_list

from .base import *  # noqa: F403
from .base import INSECURE_DEV_SECRET_KEY, INSTALLED_APPS, LOG_FORMATS, MSGBUFFER, logging_settings

DEBUG = True
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or INSECURE_DEV_SECRET_KEY
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "*")

# daphne's app only replaces `runserver` with one that serves HTTP and WebSockets through
# asgi.py (and must come before staticfiles, whose runserver it overrides). It imports
# Twisted, about 40 MiB in every process that loads it, so production.py leaves it out:
# its workers and granian never use it. runserver is a development server, so DEBUG on.
INSTALLED_APPS = ["daphne", *INSTALLED_APPS]

# Anyone may try the API, the dashboard and /reset, unless the environment says otherwise.
MSGBUFFER = {**DEVELOPMENT_DEFAULTS, **MSGBUFFER}

# The usual local front-end dev server may call the API.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "http://localhost:3000")

# The apps' static folders, through the finders: edit a file, reload the page.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
# staticfiles/ exists only after collectstatic, which development does not need.
warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)

LOG_FORMAT = env_choice("LOG_FORMAT", "text", LOG_FORMATS)
LOGGING = logging_settings(LOG_FORMAT)
