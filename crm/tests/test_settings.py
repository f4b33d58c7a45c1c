"""Settings read the environment once and fail loudly, naming the variable, on a bad value.

Each case starts a fresh interpreter (settings are evaluated once per process) with crm.settings,
not the test settings, and an environment stripped of the variables under test.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
SETUP = "import django; django.setup(); from django.db import connection; connection.ensure_connection()"
PRODUCTION_SECRET = "k" * 20 + "-production-like-secret-key-for-the-deploy-check-0123456789"
CONFIG_VARS = ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")


def run(code_or_args, tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS and not k.startswith(("DJANGO_", "AXES_"))}
    env.update(DJANGO_SETTINGS_MODULE="crm.settings", SQLITE_PATH=str(tmp_path / "db.sqlite3"), **env_vars)
    args = [sys.executable, "-c", code_or_args] if isinstance(code_or_args, str) else [sys.executable, *code_or_args]
    return subprocess.run(args, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("env_vars", "named"),
    [
        ({"DJANGO_DEBUG": "true", "DATABASE_URL": "postgres://crm:pw@db:notaport/crm"}, "DATABASE_URL"),
        ({"DJANGO_DEBUG": "true", "DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DJANGO_DEBUG": "true", "DATABASE_URL": "foo://db/crm"}, "DATABASE_URL"),
        ({}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_DEBUG": "false"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
        ({"DJANGO_DEBUG": "true", "REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"DJANGO_DEBUG": "true", "DJANGO_SECURE_COOKIES": "sometimes"}, "DJANGO_SECURE_COOKIES"),
        ({"DJANGO_DEBUG": "true", "DJANGO_SESSION_AGE": "eight hours"}, "DJANGO_SESSION_AGE"),
        ({"DJANGO_DEBUG": "true", "AXES_FAILURE_LIMIT": "five"}, "AXES_FAILURE_LIMIT"),
    ],
    ids=[
        "database-url-bad-port",
        "database-url-no-scheme",
        "database-url-unknown-scheme",
        "no-debug-no-secret",
        "debug-false-no-secret",
        "debug-maybe",
        "redis-url-http",
        "secure-cookies-sometimes",
        "session-age-words",
        "axes-limit-words",
    ],
)
def test_a_bad_environment_stops_the_process_naming_the_variable(tmp_path, env_vars, named):
    result = run(SETUP, tmp_path, **env_vars)
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert named in last_line


def test_the_development_environment_starts_with_sqlite_and_no_broker(tmp_path):
    code = (
        SETUP + "; from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER, settings.DEBUG)"
    )
    result = run(code, tmp_path, DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True", "True"]


def test_the_deployment_checklist_passes_in_production_settings(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=PRODUCTION_SECRET,
        DJANGO_ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_are_secure_by_default(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS >= 31536000, s.SESSION_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS, s.ALLOWED_HOSTS)"
    )
    result = run(code, tmp_path, DJANGO_DEBUG="false", DJANGO_SECRET_KEY=PRODUCTION_SECRET)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True", "True", "True", "DENY", "[]"]


def test_web_workers_run_postgresql_without_parallel_plans_or_jit_and_other_processes_keep_the_defaults(tmp_path):
    """crm/wsgi.py (what gunicorn loads) sets the web session options; Celery and manage.py do not
    (ADR 0018). Checked on a real PostgreSQL session."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("PostgreSQL session settings")
    url = url.split("?")[0].rsplit("/", 1)[0] + "/postgres"  # a database that exists, whatever the suite's is
    show = (
        "from django.db import connection; cursor = connection.cursor();"
        "cursor.execute('SHOW max_parallel_workers_per_gather'); workers = cursor.fetchone()[0];"
        "cursor.execute('SHOW jit'); print(workers, cursor.fetchone()[0])"
    )
    web = run(f"import crm.wsgi; {show}", tmp_path, DJANGO_DEBUG="true", DATABASE_URL=url)
    other = run(f"{SETUP}; {show}", tmp_path, DJANGO_DEBUG="true", DATABASE_URL=url)
    chosen = run(
        f"import crm.wsgi; {show}",
        tmp_path,
        DJANGO_DEBUG="true",
        DATABASE_URL=url,
        CRM_PG_SESSION_OPTIONS="-c max_parallel_workers_per_gather=1",
    )
    assert web.returncode == 0, web.stderr
    assert web.stdout.split() == ["0", "off"]
    assert other.stdout.split()[0] != "0" and other.stdout.split()[0].isdigit(), other.stderr
    assert chosen.stdout.split()[0] == "1", chosen.stderr


def test_web_workers_move_the_loaded_application_out_of_the_collectors_reach(tmp_path):
    """crm/wsgi.py freezes what the application loaded and collects the young generation less
    often (ADR 0019); CRM_GC_DEFAULTS=true keeps CPython's defaults; other processes are untouched."""
    show = "import gc; print(*gc.get_threshold(), gc.get_freeze_count())"
    web = run(f"import crm.wsgi; {show}", tmp_path, DJANGO_DEBUG="true")
    defaults = run(f"import crm.wsgi; {show}", tmp_path, DJANGO_DEBUG="true", CRM_GC_DEFAULTS="true")
    other = run(f"{SETUP}; {show}", tmp_path, DJANGO_DEBUG="true")
    assert web.returncode == 0, web.stderr
    threshold, frozen = web.stdout.split()[:3], int(web.stdout.split()[3])
    assert threshold == ["10000", "10", "10"]
    assert frozen > 50_000  # Django, the apps, their models and URL patterns
    assert defaults.stdout.split() == ["700", "10", "10", "0"], defaults.stderr
    assert other.stdout.split() == ["700", "10", "10", "0"], other.stderr
