from .agents import *  # noqa: F401,F403
from .celery import *  # noqa: F401,F403
from .channels import *  # noqa: F401,F403
from .docker import *  # noqa: F401,F403
from .env import (  # noqa: F401
    BASE_DIR,
    MGX_APPS_HOST,
    MGX_APPS_PORT,
    MGX_APPS_URL,
    MGX_HOST,
    MGX_ORIGIN,
    MGX_PORT,
    MGX_PUBLIC_URL,
    VAR_DIR,
    env,
    secret_key,
)
from .limits import *  # noqa: F401,F403
from .mongo import *  # noqa: F401,F403
from .oauth import *  # noqa: F401,F403
from .otel import *  # noqa: F401,F403

SECRET_KEY = secret_key()
DEBUG = env.bool("MGX_DEBUG", default=False)

_public_host = MGX_PUBLIC_URL.split("://", 1)[-1].split("/", 1)[0].split(":")[0]
ALLOWED_HOSTS = env.list(
    "MGX_ALLOWED_HOSTS",
    default=sorted({_public_host, MGX_HOST, "127.0.0.1", "localhost", "host.docker.internal"}
                   | ({MGX_INTERNAL_HOST} if MGX_INTERNAL_HOST else set())),  # noqa: F405 (from .agents)
)
# MGX's origin only: the apps origin (MGX_APPS_URL) shares the host name, so the browser sends
# MGX's cookies along with whatever an app's page asks for; Origin and the CSRF token tell them apart.
CSRF_TRUSTED_ORIGINS = env.list("MGX_CSRF_TRUSTED_ORIGINS", default=[MGX_ORIGIN])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "core",
    "template_partials",
    # The floors, from the ground up (docs/architecture.md): an app imports only apps listed
    # above it here, and tests/test_floors.py holds it so.
    "sessions_app",
    "containers",
    "accounts",
    "workspaces",
    "databases",
    "observability",
    "deployments",
    "agents",
    "studio",
    "oauth2_provider",
    "csp",
    "ninja",  # serves the API docs' Swagger UI from static files (no CDN)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.csp.CSPMiddleware",  # django-csp's, the policy built once
    "django_htmx.middleware.HtmxMiddleware",
    "core.pages.DomainErrorMiddleware",
]

ROOT_URLCONF = "mgx_site.urls"
WSGI_APPLICATION = None

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
                "core.context_processors.apps_url",
            ],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'mgx.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Daphne, the Celery worker and ./mgx all open the file: WAL + a busy timeout keep them
    # from failing with "database is locked" under concurrent writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
# Keep a database connection for a while instead of opening one per request: Daphne's request
# threads come from a pool (core.asgi_handler), so the connections of those threads are
# reused; Django still closes broken or older ones at each request's start and end.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("MGX_DB_CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "studio:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("MGX_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

MGX_WORKSPACE_ROOT = env("MGX_WORKSPACE_ROOT", default=str(VAR_DIR / "workspaces"))
# Each workspace is a file system of its own this large (workspaces.quota; "0": plain folders,
# no quota), kept as a sparse file in MGX_WORKSPACE_DISKS.
MGX_WORKSPACE_QUOTA = env("MGX_WORKSPACE_QUOTA", default="4g")
MGX_WORKSPACE_DISKS = env("MGX_WORKSPACE_DISKS", default=str(VAR_DIR / "disks"))

# Django's database sessions, read with one query compiled once (every request reads its session).
SESSION_ENGINE = "core.sessions"
# Passwords are checked by Django's ModelBackend; a login session's user is loaded by MGX's
# (accounts.backends: one query compiled once). Login sessions made before it name ModelBackend,
# which loads their user as before.
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "accounts.backends.LoginSessionBackend"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Apps run on MGX's host name (another port), and cookies do not care about ports: script on an
# app's page must not read MGX's CSRF token. MGX's own script gets it from <body hx-headers>.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "SAMEORIGIN"

_ws_origin = MGX_ORIGIN.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Style attributes in templates and the editor's generated styles; no script runs from CSS.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", _ws_origin],
        "frame-src": [MGX_APPS_URL],
        "frame-ancestors": ["'self'"],
        "form-action": ["'self'", MGX_APPS_URL],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("MGX_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# One file opened in the editor or written through the API; bigger files are refused with a
# message (download still works).
MGX_WORKSPACE_MAX_FILE_BYTES = env.int("MGX_WORKSPACE_MAX_FILE_BYTES", default=2 * 1024 * 1024)
MGX_UPLOAD_MAX_BYTES = env.int("MGX_UPLOAD_MAX_BYTES", default=MGX_WORKSPACE_MAX_FILE_BYTES)
DATA_UPLOAD_MAX_MEMORY_SIZE = MGX_WORKSPACE_MAX_FILE_BYTES + 1024 * 1024

# Where workspace histories live: one bare-style git directory per app, outside every workspace,
# so nothing an app or its container writes can configure the git MGX runs.
MGX_GIT_ROOT = env("MGX_GIT_ROOT", default=str(VAR_DIR / "git"))
# The unprivileged user app containers run as (the runtime image's `app`). When MGX runs as
# root it hands every workspace file to this user; otherwise containers run as MGX's own user.
MGX_APP_UID = env.int("MGX_APP_UID", default=1000)
