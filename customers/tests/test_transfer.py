"""Transferring a customer to another owner and unit: managers only, within their change scope, logged."""

import pytest
from auditlog.models import LogEntry
from django.utils import translation

from customers.tests.factories import CustomerFactory, expire, share_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(client, settings):
    """Messages are asserted in English (the UI defaults to Simplified Chinese)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    yield
    translation.deactivate()  # the request activated English in this thread: do not leak it


@pytest.fixture
def customer(shenzhen_sales_rep):
    return CustomerFactory(owner=shenzhen_sales_rep, name="深圳市腾飞科技有限公司")


def url(customer):
    return f"/customers/{customer.pk}/transfer/"


def test_anonymous_users_are_sent_to_the_login_page(client, customer):
    response = client.get(url(customer))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "persona, status",
    [
        ("guangdong_sales_manager", 200),  # subtree manager with the transfer flag
        ("shenzhen_sales_rep", 404),  # the owner, but reps may not transfer
        ("beijing_sales_manager", 404),  # sibling province
        ("hq_executive", 404),  # may transfer, but changes only own customers
        ("outsider", 404),
        ("data_steward", 404),  # changes everything, no transfer flag
    ],
)
def test_who_may_open_the_transfer_page(request, client_for, customer, persona, status):
    response = client_for(request.getfixturevalue(persona)).get(url(customer))
    assert response.status_code == status


def test_a_manager_transfers_a_customer_to_another_rep_of_the_province(
    client_for, customer, guangdong_sales_manager, guangzhou_sales_rep, org
):
    client = client_for(guangdong_sales_manager)
    owners = client.get(url(customer)).context["form"].fields["new_owner"].queryset
    assert guangzhou_sales_rep in owners
    response = client.post(url(customer), {"new_owner": guangzhou_sales_rep.pk, "reason": "区域调整"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.owner, customer.org_unit) == (guangzhou_sales_rep, org["GD-GZ"])  # the new owner's unit
    assert customer.version == 2
    event = LogEntry.objects.get(object_id=customer.pk, additional_data__what="customer_transferred")
    assert event.actor == guangdong_sales_manager
    assert event.additional_data["reason"] == "区域调整"
    assert event.additional_data["to_owner"] == guangzhou_sales_rep.username


def test_a_new_owner_outside_the_managers_scope_is_refused(
    client_for, customer, guangdong_sales_manager, beijing_sales_rep, shenzhen_sales_rep, org
):
    client = client_for(guangdong_sales_manager)
    assert beijing_sales_rep not in client.get(url(customer)).context["form"].fields["new_owner"].queryset
    response = client.post(url(customer), {"new_owner": beijing_sales_rep.pk, "reason": "x"})
    assert response.status_code == 200
    assert "new_owner" in response.context["form"].errors
    response = client.post(url(customer), {"new_owner": shenzhen_sales_rep.pk, "new_unit": org["BJ"].pk, "reason": "x"})
    assert "new_unit" in response.context["form"].errors
    customer.refresh_from_db()
    assert customer.owner == shenzhen_sales_rep


def test_a_reason_is_required(client_for, customer, guangdong_sales_manager, guangzhou_sales_rep):
    response = client_for(guangdong_sales_manager).post(url(customer), {"new_owner": guangzhou_sales_rep.pk})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors


def test_denied_transfer_posts_change_nothing(client_for, customer, shenzhen_sales_rep, guangzhou_sales_rep):
    response = client_for(shenzhen_sales_rep).post(url(customer), {"new_owner": guangzhou_sales_rep.pk, "reason": "x"})
    assert response.status_code == 404
    customer.refresh_from_db()
    assert customer.owner == shenzhen_sales_rep


def test_an_expired_change_share_gives_no_transfer(
    client_for, beijing_sales_manager, customer, guangdong_sales_manager
):
    share = share_with(customer, beijing_sales_manager, action="change", granted_by=guangdong_sales_manager)
    client = client_for(beijing_sales_manager)
    assert client.get(url(customer)).status_code == 200  # a change share plus the transfer flag
    expire(share)
    assert client.get(url(customer)).status_code == 404
