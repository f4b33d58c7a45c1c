"""Unmasking in a real browser: ask, get approved, see the number, lose it when the grant expires.

A Shenzhen sales rep meets a masked phone on a Guangzhou customer shared with them for viewing,
requests unmasking from the 360 page, the Guangdong sales manager (the rep's approver through the
unit tree) approves in the access inbox, the rep clicks "show in clear" and sees the number; when
the unmask grant expires, the number is masked again.
"""

import importlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = "13912348765"
MASKED = "139****8765"
PASSWORD = "pw"  # the persona fixtures' password  # noqa: S105


@pytest.fixture
def default_roles(db):
    """The roles the data migration creates; a transactional test before this one may have flushed them."""
    from django.apps import apps

    migration = importlib.import_module("sharing.migrations.0002_default_roles")
    migration.create_roles(apps, None)


@pytest.fixture
def shared_customer(default_roles, org, guangzhou_sales_rep, shenzhen_sales_rep, guangdong_sales_manager):
    from customers.tests.factories import ContactPointFactory, PersonFactory
    from sharing.models import Action
    from sharing.services import share_grant

    customer = PersonFactory(owner=guangzhou_sales_rep, name="王浏览器")
    ContactPointFactory(customer=customer, value=PHONE)
    share_grant(
        customer=customer,
        action=Action.VIEW,
        user=shenzhen_sales_rep,
        granted_by=guangdong_sales_manager,
        reason="联合拜访",
    )
    return customer


def log_in(page: Page, base_url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()
    expect(page.locator("details.user-menu")).to_be_visible()


def test_a_rep_gets_a_masked_phone_unmasked_until_the_grant_expires(live_server, page: Page, shared_customer):
    from sharing.models import AccessRequest, UnmaskGrant

    detail = f"{live_server.url}/customers/{shared_customer.pk}/"
    contacts = page.locator(f"#contacts-{shared_customer.pk}")

    # The rep sees the phone masked and can only ask for it.
    log_in(page, live_server.url, "sz_rep")
    page.goto(detail)
    expect(contacts.get_by_test_id("masked-value").first).to_have_text(MASKED)
    expect(page.locator("body")).not_to_contain_text(PHONE)
    expect(page.get_by_test_id("unmask-contact")).to_have_count(0)
    page.get_by_test_id("request-unmask-contact").click()

    # The request form comes pre-filled for unmasking the contact details.
    expect(page.locator("select[name=kind]")).to_have_value("unmask")
    expect(page.locator("select[name=field_group]")).to_have_value("contact")
    page.locator("textarea[name=reason]").fill("客户要求回电，需要完整号码")
    page.locator("input[name=duration_days]").fill("2")
    page.get_by_test_id("request-form").locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/sharing/requests/$"))
    expect(page.get_by_test_id("my-requests")).to_contain_text(shared_customer.number)
    expect(page.locator("[data-status=pending]")).to_have_count(1)

    # The Guangdong manager approves it in the inbox.
    log_in(page, live_server.url, "gd_manager")
    page.goto(f"{live_server.url}/sharing/inbox/")
    request_id = AccessRequest.objects.get().pk
    card = page.locator(f"[data-request='{request_id}']")
    expect(card).to_contain_text("客户要求回电")
    card.get_by_test_id(f"approve-{request_id}").click()
    expect(page.locator(".message--success")).to_be_visible()
    expect(page.locator(f"[data-request='{request_id}']")).to_have_count(0)

    # The rep is notified, clicks "show in clear" and sees the number.
    log_in(page, live_server.url, "sz_rep")
    page.goto(f"{live_server.url}/sharing/notifications/")
    expect(page.get_by_test_id("notifications")).to_contain_text(shared_customer.number)
    page.goto(detail)
    expect(contacts).not_to_contain_text(PHONE)
    page.get_by_test_id("unmask-contact").click()
    expect(page.locator(f"#contacts-{shared_customer.pk}")).to_contain_text(PHONE)

    # The grant expires: the number is masked again, and "show in clear" is gone.
    UnmaskGrant.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page.goto(detail)
    expect(contacts.get_by_test_id("masked-value").first).to_have_text(MASKED)
    expect(page.locator("body")).not_to_contain_text(PHONE)
    expect(page.get_by_test_id("unmask-contact")).to_have_count(0)
    expect(page.get_by_test_id("request-unmask-contact")).to_be_visible()


def test_a_click_after_the_grant_expired_shows_a_message_and_no_number(live_server, page: Page, shared_customer):
    """The page was loaded while the grant was live; the grant expires before the click."""
    from django.contrib.auth import get_user_model

    from sharing.models import UnmaskGrant
    from sharing.services import unmask_grant_create

    rep = get_user_model().objects.get(username="sz_rep")
    grant = unmask_grant_create(
        user=rep,
        customer=shared_customer,
        field_group="contact",
        granted_by=get_user_model().objects.get(username="gd_manager"),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    log_in(page, live_server.url, "sz_rep")
    page.goto(f"{live_server.url}/customers/{shared_customer.pk}/")
    UnmaskGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    page.get_by_test_id("unmask-contact").click()
    expect(page.get_by_test_id("unmask-refused")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(PHONE)
