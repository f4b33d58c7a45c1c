"""The dashboards in a real browser: an executive reads the funnel and the silent customers, narrows
both to one province, and opens the audit trail of one customer to see who changed it.

A small hand-made world: Guangdong has a Shenzhen customer with a lead (100) and a proposal (200)
and a Guangzhou customer with a won deal (300); Beijing has one won deal (999). So the company's
funnel shows 2 won for 1,299 and 4 opportunities reaching "lead"; Guangdong's shows 1 won for 300
and 3 reaching "lead". One quiet customer per province has had no contact for months. The figures
come from the precomputed summary (refreshed before the browser starts), whose "as of" time the
page shows; the province filter narrows them to Guangdong's units.
"""

import importlib
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw"  # the persona fixtures' password  # noqa: S105


@pytest.fixture
def default_roles(db):
    """The roles the data migration creates; a transactional test before this one may have flushed them."""
    from django.apps import apps

    migration = importlib.import_module("sharing.migrations.0002_default_roles")
    migration.create_roles(apps, None)


@pytest.fixture
def world(default_roles, org, hq_executive, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep):
    from auditlog.context import set_actor

    from crm.summaries import summaries_refresh
    from customers.tests.factories import CustomerFactory
    from interactions.tests.factories import ActivityFactory, OpportunityFactory

    sz = CustomerFactory(owner=shenzhen_sales_rep, name="深圳漏斗客户")
    gz = CustomerFactory(owner=guangzhou_sales_rep, name="广州漏斗客户")
    bj = CustomerFactory(owner=beijing_sales_rep, name="北京漏斗客户")
    OpportunityFactory(customer=sz, stage="lead", amount=Decimal("100"))
    OpportunityFactory(customer=sz, stage="proposal", amount=Decimal("200"))
    OpportunityFactory(customer=gz, stage="won", amount=Decimal("300"), closed_at=timezone.now(), close_reason="价格")
    OpportunityFactory(customer=bj, stage="won", amount=Decimal("999"), closed_at=timezone.now(), close_reason="关系")
    for customer in (sz, gz, bj):  # contacted recently: not silent
        ActivityFactory(customer=customer, occurred_at=timezone.now() - timedelta(days=2))
    CustomerFactory(owner=shenzhen_sales_rep, name="广东沉默客户")
    CustomerFactory(owner=beijing_sales_rep, name="北京沉默客户")
    # The Shenzhen rep renames their customer: the audit trail must name them.
    with set_actor(shenzhen_sales_rep):
        sz.name = "深圳漏斗客户（改名）"
        sz.save()
    summaries_refresh()
    hq_executive.set_password(PASSWORD)
    hq_executive.save()
    return {"sz": sz, "org": org}


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()
    expect(page.locator("details.user-menu")).to_be_visible()


def funnel_row(page: Page, index: int):
    """Funnel rows in stage order: lead, qualified, proposal, negotiation, won, lost."""
    return page.get_by_test_id("section-funnel").locator("tbody tr").nth(index)


def test_an_executive_reads_the_funnel_and_silent_customers_by_province_and_a_customers_audit_trail(
    live_server, page: Page, world, hq_executive
):
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    log_in(page, live_server.url, hq_executive.username)

    # The whole company's funnel, from the precomputed summary (the page says as of when).
    page.get_by_role("link", name=re.compile("^(数据看板|Dashboards)$")).first.click()
    expect(page.get_by_test_id("section-funnel")).to_be_visible()
    expect(page.get_by_test_id("source-funnel")).to_have_text(re.compile("预先计算|Precomputed"))
    expect(funnel_row(page, 0).locator("td").nth(1)).to_have_text("1")  # now at lead
    expect(funnel_row(page, 0).locator("td").nth(3)).to_have_text("4")  # reached lead
    expect(funnel_row(page, 4).locator("td").nth(1)).to_have_text("2")  # won
    expect(funnel_row(page, 4).locator("td").nth(2)).to_have_text(re.compile(r"^1299(\.00)?$"))
    expect(page.get_by_test_id("silent-total")).to_have_text("2")

    # The silent customers of the whole company, with their owners.
    page.get_by_test_id("silent-link").click()
    table = page.get_by_test_id("silent-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("广东沉默客户")
    expect(table).to_contain_text("北京沉默客户")
    expect(table.locator("tbody tr", has_text="广东沉默客户")).to_contain_text(world["sz"].owner.get_full_name())

    # Narrowed to Guangdong: Beijing's quiet customer leaves the list.
    page.get_by_test_id("unit-filter").select_option(label="广东省公司")
    page.get_by_role("button", name=re.compile("^(应用|Apply)$")).click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("广东沉默客户")
    expect(table).not_to_contain_text("北京沉默客户")

    # The funnel narrowed to Guangdong: Beijing's 999 is gone.
    page.goto(f"{live_server.url}/dashboards/")
    page.get_by_test_id("unit-filter").select_option(label="广东省公司")
    page.get_by_role("button", name=re.compile("^(应用|Apply)$")).click()
    expect(page).to_have_url(re.compile(rf"unit={world['org']['GD'].pk}"))
    expect(funnel_row(page, 4).locator("td").nth(1)).to_have_text("1")
    expect(funnel_row(page, 4).locator("td").nth(2)).to_have_text(re.compile(r"^300(\.00)?$"))
    expect(funnel_row(page, 0).locator("td").nth(3)).to_have_text("3")
    expect(page.get_by_test_id("silent-total")).to_have_text("1")
    expect(page.get_by_test_id("source-funnel")).to_have_text(re.compile("预先计算|Precomputed"))

    # The audit trail of one customer: who renamed it, from what to what.
    page.get_by_role("link", name=re.compile("^(审计日志|Audit)$")).first.click()
    page.get_by_test_id("audit-customer").fill(world["sz"].number)
    page.get_by_role("button", name=re.compile("^(筛选|Filter)$")).click()
    audit = page.get_by_test_id("audit-table")
    renamed = audit.locator("tbody tr", has_text="深圳漏斗客户（改名）").filter(has_text="sz_rep")
    expect(renamed.first).to_be_visible()
    expect(renamed.first).to_contain_text("深圳漏斗客户 → 深圳漏斗客户（改名）")  # before → after
    assert violations == []
