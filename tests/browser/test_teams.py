"""The account-team picker in a real browser: a manager searches for a person, picks a suggestion
with the keyboard and adds them to a customer's team (customers.js, teams:team_candidates)."""

import importlib
import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw"  # the personas' test password (root conftest)  # noqa: S105


@pytest.fixture(autouse=True)
def default_roles(transactional_db):
    """The roles the data migrations create; a transactional test before this one may have flushed them."""
    from django.apps import apps

    importlib.import_module("sharing.migrations.0002_default_roles").create_roles(apps, None)


def log_in(page: Page, base_url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def test_a_manager_finds_a_person_by_search_and_adds_them_to_the_team(
    live_server, page: Page, org, shenzhen_sales_rep, guangzhou_sales_rep, guangdong_sales_manager
):
    from customers.teams import team_roles_ensure
    from customers.tests.factories import CustomerFactory

    team_roles_ensure()
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="深圳市团队测试有限公司")
    log_in(page, live_server.url, guangdong_sales_manager.username)
    page.goto(live_server.url + reverse("customers:detail", args=[customer.pk]))

    form = page.get_by_test_id("team-add-form")
    expect(form.locator("select[name=user]")).to_have_count(0)
    search = page.get_by_test_id("team-user-search")
    search.fill("gz_r")
    suggestion = form.get_by_role("option", name=re.compile("gz_rep"))
    expect(suggestion).to_be_visible()
    expect(form.get_by_role("option", name=re.compile("sz_rep"))).to_have_count(0)  # the owner
    search.press("ArrowDown")
    expect(suggestion).to_be_focused()
    suggestion.press("Enter")
    expect(search).to_have_value(re.compile("gz_rep"))
    expect(form.locator("input[name=user]")).to_have_value(str(guangzhou_sales_rep.pk))

    form.get_by_label(re.compile("团队角色|Team role")).select_option(index=1)
    page.get_by_test_id("team-add").click()
    expect(page.locator('[data-member="gz_rep"]')).to_be_visible()
