"""A complaint in a real browser: logged by service, handled by a colleague, closed with the customer's
satisfaction, and seen by the customer's sales rep on the customer's timeline."""

import importlib
import re

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import Browser, Page, expect

from customers.tests.factories import CustomerFactory
from sharing.models import Membership
from sharing.tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw"  # the personas' test password (root conftest)


@pytest.fixture(autouse=True)
def default_roles(transactional_db):
    """The roles the data migration creates; a transactional test before this one may have flushed them."""
    from django.apps import apps

    importlib.import_module("sharing.migrations.0002_default_roles").create_roles(apps, None)


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def new_page_as(browser: Browser, context_args: dict, base_url: str, username: str) -> Page:
    page = browser.new_context(**context_args).new_page()
    page.set_default_timeout(15_000)
    log_in(page, base_url, username)
    return page


def customer_page_url(customer) -> str:
    """The 360 page when the customers app has it, else the interactions timeline page."""
    try:
        return reverse("customers:detail", args=[customer.pk])
    except NoReverseMatch:
        return reverse("interactions:timeline", args=[customer.pk])


def advance(page: Page, expected_step: str) -> None:
    form = page.get_by_test_id("case-advance")
    expect(form.locator("input[name=to_status]")).to_have_value(expected_step)
    form.locator("button[type=submit]").click()


def test_a_complaint_from_intake_to_closing_shows_on_the_reps_timeline(
    live_server, page: Page, browser: Browser, browser_context_args, org, service_agent, shenzhen_sales_rep
):
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="浏览器测试客户有限公司")
    colleague = UserFactory(username="service2", first_name="客服", last_name="王", roles=["service_agent"])
    Membership.objects.create(user=colleague, unit=org["HQ-SVC"])
    base = live_server.url

    # The service agent logs the complaint from the customer's page (or the case form for that customer).
    log_in(page, base, service_agent.username)
    page.goto(base + customer_page_url(customer))
    new_case = page.get_by_test_id("new-case")
    if new_case.count():
        new_case.click()
    else:
        page.goto(f"{base}{reverse('interactions:case_create')}?customer={customer.pk}")
    page.locator("#id_type").select_option("complaint")
    page.locator("#id_subject").fill("空调外机噪音过大")
    page.locator("#id_description").fill("客户反映夜间噪音影响休息")
    page.locator("main form[method=post] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/interactions/cases/\d+/$"))
    case_url = page.url

    # …assesses, classifies and assigns it to a colleague in two units.
    page.locator("textarea[name=note]").fill("噪音确实超标")
    advance(page, "assessed")
    page.locator("select[name=category]").select_option("product_quality")
    page.locator("select[name=severity]").select_option("major")
    advance(page, "classified")
    page.locator("select[name=units]").select_option([str(org["HQ-SVC"].pk), str(org["GD-SZ"].pk)])
    page.locator("select[name=responsible_user]").select_option(str(colleague.pk))
    advance(page, "assigned")
    expect(page.get_by_test_id("case-responsible")).to_contain_text(colleague.get_full_name())

    # A step cannot be skipped: the page offers only the next one.
    expect(page.locator("input[name=to_status]")).to_have_value("solution_drafted")

    # The colleague drafts the solution and carries it out.
    other = new_page_as(browser, browser_context_args, base, colleague.username)
    other.goto(case_url)
    other.locator("textarea[name=solution]").fill("更换静音风扇")
    advance(other, "solution_drafted")
    advance(other, "solution_done")
    expect(other.locator("input[name=to_status]")).to_have_value("result_reported")
    other.context.close()

    # The agent reports the result and closes the case with the customer's satisfaction.
    page.goto(case_url)
    page.locator("textarea[name=result]").fill("已回访，客户确认噪音消除")
    advance(page, "result_reported")
    page.get_by_test_id("case-close-link").click()
    page.locator("select[name=satisfaction]").select_option("4")
    page.locator("select[name=recommend]").select_option("9")
    page.get_by_test_id("case-close").locator("button[type=submit]").click()
    expect(page).to_have_url(case_url)
    expect(page.get_by_test_id("case-satisfaction")).to_contain_text("4")
    expect(page.get_by_test_id("case-advance")).to_have_count(0)

    # The customer's sales rep sees the closed complaint on the customer's timeline.
    rep = new_page_as(browser, browser_context_args, base, shenzhen_sales_rep.username)
    rep.goto(base + customer_page_url(customer))
    entry = rep.locator("#timeline tr[data-kind=service_case]")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("空调外机噪音过大")

    # …and can narrow the timeline to service cases with htmx, staying on the page.
    rep.locator("#timeline-kind").select_option("service_case")
    expect(rep.locator("#timeline tr[data-kind]")).to_have_count(1)
    rep.context.close()


def test_a_rep_logs_an_activity_on_the_timeline_without_leaving_the_page(live_server, page: Page, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    log_in(page, live_server.url, shenzhen_sales_rep.username)
    url = live_server.url + reverse("interactions:timeline", args=[customer.pk])
    page.goto(url)
    page.locator("details.activity-add > summary").click()
    page.locator("#activity_subject").fill("电话确认交货时间")
    page.get_by_test_id("activity-form").locator("button[type=submit]").click()
    expect(page.locator("#timeline tr[data-kind=activity]")).to_contain_text("电话确认交货时间")
    expect(page).to_have_url(url)
    # The form came back empty for the next entry.
    expect(page.locator("#activity_subject")).to_have_value("")
