"""Settings for the CRM, read once from the environment (see README "Configuration").

Secure by default: DEBUG is off unless DJANGO_DEBUG says otherwise, and without DEBUG the
secret key must be given. Bad values fail loudly at start, naming the variable.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _env_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="")
    if raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def _env_number(name: str, default, cast=int):
    """An int (or float) from the environment; a bad value fails naming the variable."""
    raw = env.str(name, default="").strip()
    if raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


DEBUG = _env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (a long random string) or set DJANGO_DEBUG=true "
            "for local development."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "auditlog",
    "axes",
    "django_htmx",
    "crm",
    "sharing",
    "customers",
    "interactions",
    "dedup",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "sharing.audit.TrustedProxyAuditlogMiddleware",
    "crm.middleware.SecurityHeadersMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"

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
                "django.template.context_processors.i18n",
                "crm.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "crm.wsgi.application"

# --- Database: PostgreSQL in production (DATABASE_URL), SQLite as the zero-setup default.
_database_url = env.str("DATABASE_URL", default="")
if _database_url:
    try:
        DATABASES = {"default": env.db_url_config(_database_url)}
    except Exception as exc:  # django-environ raises assorted errors on bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
    if not DATABASES["default"].get("ENGINE", "").startswith("django.db.backends."):
        raise ImproperlyConfigured("DATABASE_URL has an unknown scheme")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {"timeout": 20},
        }
    }
DATABASES["default"].setdefault("CONN_MAX_AGE", _env_number("DJANGO_CONN_MAX_AGE", 0))
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# PostgreSQL session settings of this process, passed as libpq `options`. "web" means
# WEB_PG_SESSION_OPTIONS, the default of crm/wsgi.py (the web workers) and bench/settings.py: a
# page's queries are short, and a parallel plan's worker start-up or a JIT compilation costs more
# than it saves (ADR 0018). Celery workers and manage.py keep PostgreSQL's defaults (long scans).
WEB_PG_SESSION_OPTIONS = "-c max_parallel_workers_per_gather=0 -c jit=off"
_pg_session_options = env.str("CRM_PG_SESSION_OPTIONS", default="").strip()
if _pg_session_options == "web":
    _pg_session_options = WEB_PG_SESSION_OPTIONS
if _pg_session_options and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} {_pg_session_options}".strip()
# The 360 page's two planning-heavy raw statements run as server-side prepared statements
# (crm/prepared.py). Turn off behind a pooler that shares sessions between clients.
CRM_PREPARED_STATEMENTS = env.bool("CRM_PREPARED_STATEMENTS", default=True)
# crm/wsgi.py freezes the loaded application out of the garbage collector's reach and collects
# the young generation less often (ADR 0019); CRM_GC_DEFAULTS=true keeps CPython's defaults.
CRM_GC_DEFAULTS = _env_bool("CRM_GC_DEFAULTS", False)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, reading the session's user with a precompiled query (crm/auth.py).
    "crm.auth.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- i18n: Simplified Chinese by default, English selectable.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = env.str("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media"))

# --- Celery: Redis broker in production; without REDIS_URL tasks run in-process.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "sharing-expire-shares": {"task": "sharing.tasks.shares_expire_task", "schedule": 15 * 60},
    # Dashboard summaries for unit-shaped scopes (crm/summaries.py, docs/adr/0010): every 15 minutes,
    # so executives' figures are at most ~15 minutes old; older than 45 minutes the page computes live.
    "crm-dashboard-summaries": {"task": "crm.tasks.dashboard_summaries_refresh_task", "schedule": 15 * 60},
    # Nightly incremental duplicate search (customers changed since the last successful run), 02:30.
    "dedup-nightly": {"task": "dedup.tasks.dedup_nightly_task", "schedule": crontab(hour=2, minute=30)},
    # Daily reminders: follow-ups due today and service cases past their due time, 07:30.
    "interactions-followup-reminders": {
        "task": "interactions.tasks.followup_reminders_task",
        "schedule": crontab(hour=7, minute=30),
    },
    "interactions-cases-overdue": {
        "task": "interactions.tasks.cases_overdue_task",
        "schedule": crontab(hour=7, minute=35),
    },
    # More reminders (docs/reminders-and-campaigns.md); each is once per event, so reruns are harmless.
    "interactions-cases-due-soon": {"task": "interactions.tasks.cases_due_soon_task", "schedule": 60 * 60},
    "interactions-payments-overdue": {
        "task": "interactions.tasks.payments_overdue_task",
        "schedule": crontab(hour=7, minute=40),
    },
    "interactions-contracts-renewal": {
        "task": "interactions.tasks.contracts_renewal_task",
        "schedule": crontab(hour=7, minute=45),
    },
    "sharing-access-requests-pending": {
        "task": "sharing.tasks.access_requests_pending_task",
        "schedule": crontab(hour=9, minute=0),
    },
    # Care rules (birthdays, holidays, dormant customers): each customer once per occasion.
    "interactions-care-rules": {
        "task": "interactions.tasks.care_rules_run_task",
        "schedule": crontab(hour=6, minute=0),
    },
    # Reminder emails still pending after a lost enqueue or a broker outage (sending is idempotent).
    "sharing-reminder-emails-requeue": {"task": "sharing.tasks.reminder_emails_requeue_task", "schedule": 60 * 60},
    # Public pool: warn owners, return customers without follow-up to their unit's pool, 01:30 (idempotent).
    "customers-pool-run": {"task": "customers.tasks.pool_run_task", "schedule": crontab(hour=1, minute=30)},
}

CACHES = {
    "default": (
        {"BACKEND": "crm.cache.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# A user's principal (groups, role policies, unit, grants) kept across requests in the shared cache,
# voided by the sharing signals (sharing/principal.py, ADR 0014). Only with Redis: a per-process
# LocMemCache could not be voided across gunicorn workers. 0 turns it off.
CRM_PRINCIPAL_CACHE_SECONDS = _env_number("CRM_PRINCIPAL_CACHE_SECONDS", 300 if REDIS_URL else 0)
# Sessions read from Redis and written through to the database (one query less per request); the
# database alone without Redis, for the same reason.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

# --- Security: secure defaults, relaxed only when DEBUG is on.
SESSION_COOKIE_SECURE = _env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = _env_number("DJANGO_SESSION_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = _env_number("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if _env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Login throttling (django-axes): lock after 5 failures per user+address for 30 minutes.
AXES_FAILURE_LIMIT = _env_number("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = _env_number("AXES_COOLOFF_HOURS", 0.5, float)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Client address: only trust X-Forwarded-For behind a known proxy (number of proxies in front).
AXES_IPWARE_PROXY_COUNT = _env_number("DJANGO_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# --- Audit (django-auditlog): never trust a client-supplied X-Forwarded-For by default.
AUDITLOG_DISABLE_REMOTE_ADDR = False
AUDITLOG_INCLUDE_ALL_MODELS = False

# --- django-guardian: no anonymous user object, object permissions only through sharing.services.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False

EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="crm@localhost")
# Where links in reminder emails point (the site's public address, no trailing slash).
CRM_SITE_URL = env.str("CRM_SITE_URL", default="http://127.0.0.1:8000" if DEBUG else "")
# Reminder lead times: contracts this many days before their end, service cases this many hours
# before their due time, access requests after waiting this many hours.
CRM_RENEWAL_NOTICE_DAYS = env.int("CRM_RENEWAL_NOTICE_DAYS", default=30)
CRM_CASE_DUE_SOON_HOURS = env.int("CRM_CASE_DUE_SOON_HOURS", default=24)
CRM_ACCESS_REQUEST_REMIND_HOURS = env.int("CRM_ACCESS_REQUEST_REMIND_HOURS", default=24)

PAGE_SIZE = 25

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
