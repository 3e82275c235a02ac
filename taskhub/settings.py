"""TaskHub settings, read from the environment.

With no ``DATABASE_URL`` and no ``REDIS_URL`` the project runs on the embedded
default: an SQLite file in WAL mode, Django's local-memory cache and Channels'
in-memory layer. With them set it runs on PostgreSQL (psycopg 3) and Redis.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from taskhub.clientaddr import parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-taskhub-local-development-only"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "accounts",
    "projects",
    "tasks",
    "realtime",
    "notifications",
    "web",
]

MIDDLEWARE = [
    "taskhub.middleware.RequestIdMiddleware",
    "taskhub.metrics.ObservabilityMiddleware",
    "taskhub.middleware.BodySizeLimitMiddleware",
    "taskhub.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the API docs', the board's) in every setup: ``make run``,
    # the tests and production. Right after SecurityMiddleware, as WhiteNoise documents.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it calls the view itself: a database fault is a 503, and a safe read gets a second
    # try on a fresh connection first (taskhub/faults.py).
    "taskhub.faults.DatabaseFaultMiddleware",
]

ROOT_URLCONF = "taskhub.urls"
WSGI_APPLICATION = "taskhub.wsgi.application"
ASGI_APPLICATION = "taskhub.asgi.application"

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

# Database ---------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    _db = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
    # Django's backend with a health check that skips ``SELECT 1`` when the socket shows the
    # connection alive (see taskhub/postgresql/base.py).
    _db["ENGINE"] = "taskhub.postgresql"
    # Server-side binding lets psycopg prepare a statement once it has run 5 times on a
    # connection, and PostgreSQL then skips planning it: the reads with joins and
    # subqueries took longer to plan than to run (list tasks: 1.8 ms against 0.36 ms).
    # Behind a pooler in transaction mode (PgBouncer before 1.21 keeps no prepared statement
    # across transactions) turn it off with DB_SERVER_SIDE_BINDING=0: psycopg's client-side
    # binding cursors prepare nothing.
    if env_bool("DB_SERVER_SIDE_BINDING", True):
        _db.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
    # A server-side cursor (QuerySet.iterator()) lives across statements on one backend, which a
    # pooler in transaction mode does not promise; DB_DISABLE_SERVER_SIDE_CURSORS=1 reads such
    # querysets whole instead (Django's "Transaction pooling and server-side cursors").
    _db["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False)
    # Under ASGI a persistent connection is tied to a per-request thread and
    # leaks; there the pool is the only correct choice (MACHINE-LIMITS.md §3).
    if env_bool("DB_POOL", False):
        from taskhub.dbpool import check_pooled_connection

        _db["CONN_MAX_AGE"] = 0
        _db["CONN_HEALTH_CHECKS"] = False
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": int(os.environ.get("DB_POOL_MIN", "2")),
            "max_size": int(os.environ.get("DB_POOL_MAX", "8")),
            # How long a request waits for a connection (psycopg's default is 30 s): past it, and with
            # PostgreSQL unreachable that is every request, the answer is a 503 (taskhub/faults.py).
            "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "10")),
            # Without CONN_HEALTH_CHECKS Django gives the pool no check, and an idle
            # connection whose backend died (a restart, a failover, pg_terminate_backend)
            # is handed to the next request, which fails. The check costs one round
            # trip per checkout and replaces dead connections (see taskhub/dbpool.py).
            "check": check_pooled_connection,
        }
    _db.setdefault("TEST", {})["NAME"] = os.environ.get("TEST_DATABASE_NAME") or None
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # A file, not the default shared-cache in-memory database: that one
            # locks whole tables and ignores the busy timeout, so tests with
            # concurrent writers would fail where the real file does not.
            "TEST": {"NAME": os.environ.get(
                "SQLITE_TEST_PATH", os.path.join(tempfile.gettempdir(), f"taskhub-test-{os.getpid()}.sqlite3"))},
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so a transaction that
                # reads and then writes never fails to upgrade its lock.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache and channel layer -----------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "taskhub")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # The cache is an accelerator: with Redis down, reads fall back
                # to the database instead of failing.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    # The channel layer's Redis servers: REDIS_URL alone, or several (comma-separated), over which
    # channels-redis shards the groups and channels itself (each name hashed to one server). Every
    # process must list the same servers in the same order.
    CHANNEL_REDIS_URLS = env_list("CHANNEL_REDIS_URLS", [REDIS_URL])
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": CHANNEL_REDIS_URLS, "prefix": f"{CACHE_KEY_PREFIX}:asgi"},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "taskhub",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    CHANNEL_REDIS_URLS = []
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Auth -------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

TASKHUB_OPEN_SIGNUP = env_bool("TASKHUB_OPEN_SIGNUP", True)
# The browser client's session login (web/).
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
# /metrics: open under DEBUG; otherwise internal addresses only, or this bearer token when set.
TASKHUB_METRICS_TOKEN = os.environ.get("TASKHUB_METRICS_TOKEN", "")
# The reverse proxies in front of the servers (addresses or networks, comma separated): the client's
# address is the right-most X-Forwarded-For entry that is not one of them, and X-Forwarded-For is
# believed only from them. Unset, nobody is trusted and the client is REMOTE_ADDR (taskhub/clientaddr.py).
try:
    TASKHUB_TRUSTED_PROXIES = parse_networks(os.environ.get("TASKHUB_TRUSTED_PROXIES", ""))
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# One JSON line per request on the "taskhub.request" logger.
TASKHUB_REQUEST_LOG = env_bool("TASKHUB_REQUEST_LOG", True)
# Mounts bench/floor_views.py (the benchmark's minimal-view baseline); never in production.
TASKHUB_BENCH_FLOOR = env_bool("TASKHUB_BENCH_FLOOR", False)
TASKHUB_TOKEN_TTL_DAYS = int(os.environ.get("TASKHUB_TOKEN_TTL_DAYS", "30"))
# A workspace invitation waits this many days for its answer, then expires.
TASKHUB_INVITATION_DAYS = int(os.environ.get("TASKHUB_INVITATION_DAYS", "14"))
# How often each socket is told the latest seq of what it follows (realtime.consumers, "heartbeat").
TASKHUB_WS_HEARTBEAT_SECONDS = float(os.environ.get("TASKHUB_WS_HEARTBEAT_SECONDS", "30"))
# A presence entry not renewed for this long is gone (API.md: 60 s; clients renew every 30 s).
TASKHUB_PRESENCE_TTL_SECONDS = float(os.environ.get("TASKHUB_PRESENCE_TTL_SECONDS", "60"))
# Login and registration rate limits count attempts in fixed windows of this many seconds.
TASKHUB_RATE_WINDOW = int(os.environ.get("TASKHUB_RATE_WINDOW", "60"))
# Event log retention, used by `manage.py trim_events`.
TASKHUB_EVENT_RETENTION_DAYS = int(os.environ.get("TASKHUB_EVENT_RETENTION_DAYS", "30"))
TASKHUB_EVENT_RETENTION_COUNT = int(os.environ.get("TASKHUB_EVENT_RETENTION_COUNT", "10000"))

# Internationalisation ---------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files are served by WhiteNoise (see MIDDLEWARE). With DEBUG on (``make run``, the tests)
# it serves them straight from the apps' static folders, picking up edits without a restart.
# With DEBUG off (production) it serves what ``manage.py collectstatic`` wrote to STATIC_ROOT:
# compressed (gzip, and Brotli when installed), with content-hashed names that it sends with a
# ten-year ``Cache-Control: immutable``; a file's new version gets a new name.
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
        else "taskhub.staticstorage.HashedStaticFiles",
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# Files served at the site root (``/favicon.ico``, which browsers ask for on every page).
WHITENOISE_ROOT = BASE_DIR / "taskhub" / "public"

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Security ---------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django gives its "django" logger a console handler of its own (under DEBUG) and lets it
        # propagate to the root's as well, so every "Not Found: ..." was printed twice. Its records
        # go to the root's handler only.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}
