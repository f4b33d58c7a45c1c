"""Steps shared by the browser tests (new tests use these; older modules still carry their own copies)."""

import importlib
import re

from playwright.sync_api import Page, expect

PASSWORD = "pw"  # the personas' test password (root conftest)  # noqa: S105


def restore_default_roles() -> None:
    """The roles the data migrations create; a transactional test before this one may have flushed them."""
    from django.apps import apps

    importlib.import_module("sharing.migrations.0002_default_roles").create_roles(apps, None)


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.context.clear_cookies()
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(password)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
