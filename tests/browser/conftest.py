"""Browser tests: Playwright drives Debian's Chromium (never a downloaded browser) against live_server.

Without /usr/bin/chromium the tests are skipped with a reason, unless CRM_REQUIRE_BROWSER=1 (CI),
which turns the skip into a failure.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
        if os.environ.get("CRM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CRM_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in the test thread from the first browser
    test to the end of the session, so Django's async guard would refuse every ORM call made in
    this process after that: by the browser tests, by the database fixtures, and by any test that
    runs later in the same process (xdist mixes them). The guard is lifted from the first browser
    test on and restored at the end of the session; a process without browser tests never sets it.
    Tests that start subprocesses strip DJANGO_* variables from their environment."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session", autouse=True)
def _test_database_before_browser(_allow_orm_beside_playwright, django_db_setup):
    """Create the test database before Playwright starts its event loop (and so drop it after the
    loop has stopped)."""


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """Browse like our users: a Chinese browser (Accept-Language zh-CN) in China's time zone."""
    return {**browser_context_args, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def page(page):
    page.set_default_timeout(15_000)
    return page
