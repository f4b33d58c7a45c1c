"""Reminders and campaigns in a real browser.

A Shenzhen rep sees the unread count in the header, opens the renewal reminder the daily job left,
goes from the contract to the customer and logs the follow-up call on the timeline. A marketing
user builds a campaign's target list from the customer-list filters (seeing how many consent
leaves out), records attendance and a conversion row by row (htmx), and reads the conversion rate.
"""

import importlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in, restore_default_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def default_roles(transactional_db):
    """The roles the data migrations create; a transactional test before this one may have flushed them."""
    from django.apps import apps

    restore_default_roles()
    importlib.import_module("sharing.migrations.0005_marketing_role").create_role(apps, None)


def test_a_rep_opens_a_renewal_reminder_and_logs_the_follow_up(live_server, page: Page, shenzhen_sales_rep):
    from customers.tests.factories import CustomerFactory
    from interactions.reminders import contracts_renewal_remind
    from interactions.tests.factories import ContractFactory

    customer = CustomerFactory(owner=shenzhen_sales_rep, name="续约提醒测试公司")
    today = timezone.localdate()
    contract = ContractFactory(
        quote__opportunity__customer=customer, start_on=today - timedelta(days=300), end_on=today + timedelta(days=20)
    )
    assert contracts_renewal_remind() >= 1
    assert contracts_renewal_remind() == 0  # the job ran twice: one reminder

    log_in(page, live_server.url, shenzhen_sales_rep.username)
    badge = page.locator(".notif-link .badge")
    expect(badge).to_contain_text("1")
    page.locator(".notif-link").click()
    reminder = page.get_by_test_id("notifications").get_by_role("link", name=re.compile(contract.number))
    expect(reminder).to_be_visible()
    reminder.click()
    expect(page).to_have_url(re.compile(rf"/interactions/contracts/{contract.pk}/$"))

    # From the contract to the customer, and the follow-up call goes on the timeline.
    page.get_by_test_id("customer-card").get_by_role("link").first.click()
    page.locator("details.activity-add > summary").click()
    page.locator("#activity_subject").fill("续约电话：确认明年需求")
    page.get_by_test_id("activity-form").locator("button[type=submit]").click()
    expect(page.locator("#timeline tr[data-kind=activity]").first).to_contain_text("续约电话")
    # The reminder was read: the count is gone.
    page.reload()
    expect(page.locator(".notif-link .badge")).to_have_count(0)


def test_a_marketing_user_builds_a_target_list_records_attendance_and_sees_conversion(
    live_server, page: Page, marketing_user, shenzhen_sales_rep
):
    from customers.tests.factories import ContactPointFactory, CustomerFactory

    names = ["浏览器活动客户甲", "浏览器活动客户乙", "浏览器活动客户丙"]
    customers = []
    for name in names:
        customer = CustomerFactory(owner=shenzhen_sales_rep, name=name)
        ContactPointFactory(customer=customer, marketing_consent=True)
        customers.append(customer)
    CustomerFactory(owner=shenzhen_sales_rep, name="浏览器活动客户丁")  # no contact point, left out

    log_in(page, live_server.url, marketing_user.username)
    page.goto(f"{live_server.url}/interactions/campaigns/")
    page.get_by_test_id("campaign-new").click()
    form = page.get_by_test_id("campaign-form")
    form.locator("[name=name]").fill("浏览器新品体验会")
    form.locator("[name=kind]").select_option("event")
    form.locator("[name=starts_on]").fill("2026-09-01")
    form.locator("[name=ends_on]").fill("2026-09-02")
    form.locator("[name=owner_unit]").select_option(label="总部")
    form.locator("[name=budget]").fill("9000")
    form.locator("[name=f-q]").fill("浏览器活动客户")
    page.get_by_test_id("target-preview-button").click()
    expect(page.get_by_test_id("target-preview")).to_contain_text("4")
    expect(page.get_by_test_id("target-preview")).to_contain_text("3")
    page.get_by_test_id("campaign-save").click()
    expect(page).to_have_url(re.compile(r"/interactions/campaigns/\d+/$"))
    expect(page.get_by_test_id("figure-targets")).to_have_text("3")
    expect(page.get_by_test_id("campaign-excluded")).to_be_visible()

    # Attendance and a conversion, row by row (htmx swaps the row in place).
    # Each save is awaited by its response: the select shows the new value as soon as it is chosen,
    # so waiting on it let the page reload before the second post had landed (a CI race).
    for customer, status in ((customers[0], "attended"), (customers[1], "converted")):
        row = page.get_by_test_id(f"participant-{customer.number}")
        row.locator("select[name=status]").select_option(status)
        with page.expect_response(
            lambda response: "/interactions/participations/" in response.url and response.request.method == "POST"
        ) as saved:
            row.get_by_role("button").click()
        assert saved.value.ok
        expect(page.get_by_test_id(f"participant-{customer.number}").locator("select[name=status]")).to_have_value(
            status
        )
    page.reload()
    expect(page.get_by_test_id("figure-attended")).to_have_text("2")
    expect(page.get_by_test_id("figure-converted")).to_have_text("1")
    # Invited or further: 2 (attended, converted); converted 1 → 50.0 %.
    expect(page.get_by_test_id("figure-conversion-rate")).to_have_text("50.0%")
