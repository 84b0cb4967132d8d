"""Settings for the OneSecondTrader workbench.

Every value a deployment may change is read from the environment here, and only here.
Each variable is documented in the README under "Configuration".
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def _env_path(name: str, default: str) -> Path:
    path = Path(os.environ.get(name) or default)
    return path if path.is_absolute() else BASE_DIR / path


# DJANGO_DEBUG: development mode (tracebacks, static files from runserver). Default off.
DEBUG = _env_bool("DJANGO_DEBUG", False)

# DJANGO_SECRET_KEY: signing key. Unset, a random key is generated once and kept in
# DJANGO_SECRET_KEY_FILE (default .secret_key), so a local install needs no setup and no
# two installs share a key. Several web servers behind one site must set it explicitly.
_secret_key_file = _env_path("DJANGO_SECRET_KEY_FILE", ".secret_key")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    try:
        if not _secret_key_file.exists():
            _secret_key_file.write_text(secrets.token_urlsafe(50))
            _secret_key_file.chmod(0o600)
        SECRET_KEY = _secret_key_file.read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is unset and {_secret_key_file} cannot be written: {exc}"
        ) from exc

# ALLOWED_HOSTS: comma-separated host names this site answers to.
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_q",
    "secmaster",
    "backtests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ostsite.middleware.PageLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ostsite.urls"
WSGI_APPLICATION = "ostsite.wsgi.application"
ASGI_APPLICATION = "ostsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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


# --- Databases -------------------------------------------------------------------------
# Two aliases, as the original's two files: "default" holds Django's tables and the runs,
# "secmaster" the security master and presets. Each is a SQLite file (RUNS_DB_PATH,
# SECMASTER_DB_PATH) in WAL mode with a busy timeout, or PostgreSQL when DATABASE_URL /
# SECMASTER_DATABASE_URL is set.

SQLITE_BUSY_TIMEOUT_SECONDS = 30

# Test databases are named per test process, so two test runs on one machine never share
# (or delete) each other's databases. SQLite test databases are real files, never ":memory:",
# so worker processes started by the tests can open them.
_TEST_SUFFIX = f"{os.getpid()}"
_SQLITE_TEST_DIR = Path(tempfile.gettempdir()) / f"ost-tests-{_TEST_SUFFIX}"


def _database(url_var: str, path_var: str, default_path: str) -> dict:
    url = os.environ.get(url_var, "")
    if url:
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{url_var} is not a database URL: {exc}") from exc
        config["TEST"] = {"NAME": f"test_{config['NAME']}_{_TEST_SUFFIX}"}
        return config
    path = _env_path(path_var, default_path)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
            "transaction_mode": "IMMEDIATE",
        },
        # Tests use real files too (never ":memory:"), so worker processes can share them.
        "TEST": {"NAME": str(_SQLITE_TEST_DIR / f"test_{path.name}")},
    }


DATABASES = {
    "default": _database("DATABASE_URL", "RUNS_DB_PATH", "runs.db"),
    "secmaster": _database("SECMASTER_DATABASE_URL", "SECMASTER_DB_PATH", "secmaster.db"),
}
DATABASE_ROUTERS = ["ostsite.routers.AppDatabaseRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Auth ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/backtest"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous script is told 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ostsite.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OneSecondTrader workbench API",
    "DESCRIPTION": "Security master, symbol presets, backtests and their analysis.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Engine and jobs -------------------------------------------------------------------
# OST_STRATEGIES_DIR / OST_INDICATORS_DIR: folders of user strategy and indicator files,
# discovered at start-up.
OST_STRATEGIES_DIR = _env_path("OST_STRATEGIES_DIR", "strategies")
OST_INDICATORS_DIR = _env_path("OST_INDICATORS_DIR", "indicators")

# OST_MAX_CONCURRENT_RUNS: how many backtests execute at once (django-q2 workers).
OST_MAX_CONCURRENT_RUNS = _env_int("OST_MAX_CONCURRENT_RUNS", 2)
if OST_MAX_CONCURRENT_RUNS < 1:
    raise ImproperlyConfigured("OST_MAX_CONCURRENT_RUNS must be at least 1")

# OST_RUN_TIMEOUT_SECONDS: a backtest running longer than this is stopped by its worker.
OST_RUN_TIMEOUT_SECONDS = _env_int("OST_RUN_TIMEOUT_SECONDS", 6 * 3600)

# REDIS_URL: use Redis as the django-q2 broker (workers on several machines share one
# queue). Unset, the queue lives in the default database (ORM broker).
REDIS_URL = os.environ.get("REDIS_URL", "")

# OST_QUEUE_NAME: name of the task queue (and signing salt of its tasks); give each site
# sharing one Redis its own. Web processes and workers of one site must agree on it.
OST_QUEUE_NAME = os.environ.get("OST_QUEUE_NAME") or "ost"

Q_CLUSTER = {
    "name": OST_QUEUE_NAME,
    "workers": OST_MAX_CONCURRENT_RUNS,
    "recycle": 50,
    "timeout": OST_RUN_TIMEOUT_SECONDS,
    # Must exceed timeout, or a long run would be handed to a second worker.
    "retry": OST_RUN_TIMEOUT_SECONDS + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "label": "Task queue",
    "poll": 0.2,
    "save_limit": 500,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
