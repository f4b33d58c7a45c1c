"""The account-team picker in a real browser: a manager searches for a person, picks a suggestion
with the keyboard and adds them to a customer's team (customers.js, teams:team_candidates)."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in, restore_default_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def default_roles(transactional_db):
    restore_default_roles()


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
