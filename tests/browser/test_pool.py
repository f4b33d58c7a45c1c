"""The public pool (公海) in a real browser.

A Shenzhen rep's customer has had no follow-up for longer than the unit's pool period; the nightly
pool job (run here directly) returns it to the pool. A colleague rep of the same unit finds it on the
pool page with its phone masked and claims it; the Guangdong manager then reads both moves ("returned
to the pool", "claimed from the pool" by the colleague) on the customer's 360 timeline.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.helpers import PASSWORD, log_in, restore_default_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = "13800138000"
MASKED_PHONE = "138****8000"


@pytest.fixture(autouse=True)
def default_roles(transactional_db):
    restore_default_roles()


@pytest.fixture
def shenzhen_colleague(org, shenzhen_sales_rep):
    """A second sales rep of the Shenzhen office (same unit as sz_rep)."""
    from django.contrib.auth import get_user_model

    from crm.demo import role_group
    from sharing.models import Membership

    user = get_user_model().objects.create_user(
        "sz_rep_colleague", password=PASSWORD, first_name="小红", last_name="林", email="sz2@example.com"
    )
    user.groups.add(role_group("sales_rep"))
    Membership.objects.create(user=user, unit=org["GD-SZ"])
    return user


def test_an_idle_customer_returns_to_the_pool_a_colleague_claims_it_and_the_manager_sees_the_moves(
    live_server, page: Page, org, shenzhen_sales_rep, shenzhen_colleague, guangdong_sales_manager
):
    from customers.models import Customer
    from customers.pool import pool_run
    from customers.team_models import PoolPolicy
    from customers.tests.factories import ContactPointFactory, CustomerFactory
    from interactions.models import Activity

    # Shenzhen's pool period: 30 days. sz_rep's customer was last called 40 days ago.
    PoolPolicy.objects.create(unit=org["GD-SZ"], inactive_days=30, warn_days=3, claim_limit=5, cooldown_days=30)
    now = timezone.now()
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="公海浏览器测试有限公司")
    ContactPointFactory(customer=customer, value=PHONE)
    Customer.objects.filter(pk=customer.pk).update(
        created_at=now - timedelta(days=90), owner_since=now - timedelta(days=90)
    )
    Activity.objects.create(
        customer=customer, subject="上次回访", occurred_at=now - timedelta(days=40), user=shenzhen_sales_rep
    )

    # The nightly beat job's function: it warns the owner first, and returns the customer on a
    # later night once the warning is `warn_days` old.
    assert pool_run(now=now - timedelta(days=3)).returned == 0
    result = pool_run(now=now)
    assert result.returned == 1
    customer.refresh_from_db()
    assert customer.owner_id is None and customer.pooled_at is not None
    assert customer.org_unit_id == org["GD-SZ"].pk

    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)

    # The colleague finds it in the pool: phone masked, no link to the 360 page, and claims it.
    log_in(page, live_server.url, shenzhen_colleague.username)
    page.goto(f"{live_server.url}/customers/pool/")
    row = page.locator(f"tr[data-customer='{customer.number}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text(customer.name)
    expect(row).to_contain_text(MASKED_PHONE)
    expect(row).not_to_contain_text(PHONE)
    expect(row).to_contain_text(shenzhen_sales_rep.get_full_name().strip())  # the previous owner
    expect(row.get_by_role("link")).to_have_count(0)
    page.get_by_test_id(f"claim-{customer.number}").click()
    # A claim leads to the customer's 360 page, now the colleague's own.
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.get_by_test_id("customer-name")).to_have_text(customer.name)
    customer.refresh_from_db()
    assert customer.owner_id == shenzhen_colleague.pk and customer.pooled_at is None
    # Gone from the pool.
    page.goto(f"{live_server.url}/customers/pool/")
    expect(page.locator(f"tr[data-customer='{customer.number}']")).to_have_count(0)

    # The manager reads both moves on the customer's timeline.
    log_in(page, live_server.url, guangdong_sales_manager.username)
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.get_by_test_id("customer-name")).to_have_text(customer.name)
    moves = page.locator("#timeline tr[data-kind=account]")
    # The warning ("退回公海预告 … 将于 … 退回公海") also mentions the pool: tell the rows apart by it.
    warned = moves.filter(has_text=re.compile("退回公海预告|Pool return announced"))
    returned = moves.filter(has_text=re.compile("退回公海|Returned to the pool")).filter(
        has_not_text=re.compile("预告|announced")
    )
    claimed = moves.filter(has_text=re.compile("从公海领取|Claimed from the pool"))
    expect(warned).to_have_count(1)  # the owner was warned before the customer returned
    expect(returned).to_have_count(1)
    expect(returned).to_contain_text(shenzhen_sales_rep.get_full_name().strip())
    expect(returned).to_contain_text(re.compile(r"30 天未跟进|No follow-up for 30 days"))
    expect(claimed).to_have_count(1)
    expect(claimed).to_contain_text(shenzhen_colleague.get_full_name().strip())
    assert violations == []
