"""Production-like settings for the benchmarks: DEBUG off, templates cached, persistent connections.

The real settings (crm/settings.py) with the environment a deployment would give them, minus what
only makes sense behind TLS (secure cookies, SSL redirect, HSTS: the bench talks plain HTTP on
loopback) and minus the static-files manifest (the bench measures pages, not static files, and
must not need `collectstatic`). Persistent database connections (DJANGO_CONN_MAX_AGE=60) as a
deployment would configure them; override any of these but DEBUG through the environment.
"""

import os

# DEBUG off whatever the shell says: the README's set-up exports DJANGO_DEBUG=true for manage.py,
# and a bench run with DEBUG on logs every query and measures a development server.
os.environ["DJANGO_DEBUG"] = "false"
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-key-" + "k" * 48)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_HSTS_SECONDS", "0")
os.environ.setdefault("DJANGO_CONN_MAX_AGE", "60")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
# The web workers' PostgreSQL session settings (crm/wsgi.py): the pages are measured as served.
os.environ.setdefault("CRM_PG_SESSION_OPTIONS", "web")

from crm.settings import *  # noqa: E402,F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Whitenoise warns when `collectstatic` never ran; the bench does not serve static files.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="No directory at")
# A failing page is reported in the JSON lines (status, error); one line per failure is enough.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {**LOGGING["loggers"], "django.request": {"level": "CRITICAL"}},  # noqa: F405
}
