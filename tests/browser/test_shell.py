"""The site shell in a real browser: log in, land on the workbench, switch language, log out."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-test-passphrase"  # noqa: S105


@pytest.fixture
def shell_user(django_user_model):
    return django_user_model.objects.create_user("browser_user", password=PASSWORD, first_name="测试")


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(password)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()


def test_a_user_logs_in_switches_language_and_logs_out(live_server, page: Page, shell_user):
    # The login page speaks Simplified Chinese by default.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page).to_have_title(re.compile("登录"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    log_in(page, live_server.url, "browser_user", PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    expect(page.get_by_test_id("visible-count")).to_have_text("0")

    # Switch to English: the page reloads in English and keeps the user on the workbench.
    page.locator("button[data-language='en']").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Workbench")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("button[data-language='en']")).to_have_attribute("aria-pressed", "true")

    # …and back to Chinese.
    page.locator("button[data-language='zh-hans']").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")

    # The user menu is a <details>; logging out is a POST from inside it.
    page.locator("details.user-menu > summary").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))


def test_the_slash_key_focuses_search_and_escape_closes_the_user_menu(live_server, page: Page, shell_user):
    log_in(page, live_server.url, "browser_user", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")

    search = page.locator("[data-shortcut-search]")
    if search.count():
        page.locator("body").press("/")
        expect(search).to_be_focused()
        search.press("Escape")

    menu = page.locator("details.user-menu")
    menu.locator("summary").click()
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")


def test_pages_break_no_content_security_policy_rule(live_server, page: Page, shell_user):
    """The CSP forbids inline scripts and styles; a violation would show in the console."""
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    log_in(page, live_server.url, "browser_user", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    page.goto(f"{live_server.url}/accounts/password/")
    expect(page.get_by_role("heading", level=1)).to_have_text("修改密码")
    # htmx and crm.js loaded from our own static files.
    assert page.evaluate("typeof window.htmx") == "object"
    assert violations == []
