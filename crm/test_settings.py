"""Settings for the test suite: the real settings with development-safe environment defaults.

Only defaults: DATABASE_URL and REDIS_URL from the environment still decide the database and the
broker, so CI runs the suite against PostgreSQL and Redis.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")

from crm.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The whole suite runs with the cross-request principal cache on (in-process LocMemCache without
# REDIS_URL: one test process per worker), so every visibility test also tests its invalidation.
# conftest.py voids it before each test.
CRM_PRINCIPAL_CACHE_SECONDS = 300
