"""Who sees which interaction records: the customer's visibility plus the record kind, and 404 otherwise."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import ContactPointFactory, CustomerFactory
from interactions.models import Activity, Contract, Opportunity, Order, Payment, Quote, ServiceCase, Shipment
from interactions.tests.factories import (
    ActivityFactory,
    PaymentFactory,
    ServiceCaseFactory,
    ShipmentFactory,
)
from sharing.models import Action
from sharing.services import share_grant

PHONE = "13800138000"
MASKED_PHONE = "138****8000"


@pytest.fixture
def world(shenzhen_sales_rep):
    """One Shenzhen customer (owned by the Shenzhen rep) with a record of every kind."""
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="深圳矩阵客户")
    ContactPointFactory(customer=customer, value=PHONE)
    shipment = ShipmentFactory(order__contract__quote__opportunity__customer=customer)
    order = shipment.order
    contract = order.contract
    return {
        "customer": customer,
        "activity": ActivityFactory(customer=customer),
        "opportunity": contract.quote.opportunity,
        "quote": contract.quote,
        "contract": contract,
        "order": order,
        "shipment": shipment,
        "payment": PaymentFactory(contract=contract),
        "service_case": ServiceCaseFactory(customer=customer),
    }


MODELS = {
    "activity": Activity,
    "opportunity": Opportunity,
    "quote": Quote,
    "contract": Contract,
    "order": Order,
    "shipment": Shipment,
    "payment": Payment,
    "service_case": ServiceCase,
}


def _kinds_seen(user, world):
    return {kind for kind, model in MODELS.items() if model.objects.visible_to(user).filter(pk=world[kind].pk).exists()}


def test_sales_sees_the_chain_and_cases_but_not_payments(shenzhen_sales_rep, world):
    assert _kinds_seen(shenzhen_sales_rep, world) == set(MODELS) - {"payment"}


def test_finance_sees_payments_and_not_complaints(finance_clerk, world):
    assert _kinds_seen(finance_clerk, world) == {"payment"}


def test_service_sees_cases_and_activities(service_agent, world):
    assert _kinds_seen(service_agent, world) == {"activity", "service_case"}


def test_a_dealer_sees_only_its_kinds_of_its_own_customers(dealer_user, world):
    assert _kinds_seen(dealer_user, world) == set()
    own = CustomerFactory(owner=dealer_user)
    assert Activity.objects.visible_to(dealer_user).filter(pk=ActivityFactory(customer=own).pk).exists()


def test_a_subtree_manager_sees_and_a_sibling_province_manager_does_not(
    guangdong_sales_manager, beijing_sales_manager, world
):
    assert _kinds_seen(guangdong_sales_manager, world) == set(MODELS) - {"payment"}
    assert _kinds_seen(beijing_sales_manager, world) == set()


def test_outsiders_and_anonymous_users_see_nothing(outsider, world):
    from django.contrib.auth.models import AnonymousUser

    assert _kinds_seen(outsider, world) == set()
    assert _kinds_seen(AnonymousUser(), world) == set()


def test_an_expired_share_stops_showing_records(guangzhou_sales_rep, shenzhen_sales_rep, world):
    share = share_grant(
        customer=world["customer"],
        action=Action.VIEW,
        user=guangzhou_sales_rep,
        granted_by=shenzhen_sales_rep,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert "service_case" in _kinds_seen(guangzhou_sales_rep, world)
    share.expires_at = timezone.now() - timedelta(seconds=1)
    share.save()
    guangzhou_sales_rep.__dict__.pop("_crm_principal", None)
    assert _kinds_seen(guangzhou_sales_rep, world) == set()


# --- the matrix for the detail URLs ---------------------------------------------------------------

DETAIL_URLS = {
    "opportunity": "interactions:opportunity_detail",
    "quote": "interactions:quote_detail",
    "contract": "interactions:contract_detail",
    "order": "interactions:order_detail",
    "shipment": "interactions:shipment_detail",
    "service_case": "interactions:case_detail",
}
SALES_DETAILS = list(DETAIL_URLS)


def _url(world, kind):
    return reverse(DETAIL_URLS[kind], args=[world[kind].pk])


@pytest.mark.parametrize("kind", SALES_DETAILS)
def test_anonymous_users_are_sent_to_log_in(client, world, kind):
    response = client.get(_url(world, kind))
    assert response.status_code == 302 and "/accounts/login/" in response.url


@pytest.mark.parametrize("kind", SALES_DETAILS)
def test_outsiders_get_404(client_for, outsider, world, kind):
    assert client_for(outsider).get(_url(world, kind)).status_code == 404


@pytest.mark.parametrize("kind", SALES_DETAILS)
def test_the_owner_sees_the_record_with_the_phone_in_clear(client_for, shenzhen_sales_rep, world, kind):
    response = client_for(shenzhen_sales_rep).get(_url(world, kind))
    assert response.status_code == 200
    assert PHONE in response.content.decode()


@pytest.mark.parametrize("kind", SALES_DETAILS)
def test_the_subtree_manager_sees_the_record(client_for, guangdong_sales_manager, world, kind):
    assert client_for(guangdong_sales_manager).get(_url(world, kind)).status_code == 200


@pytest.mark.parametrize("kind", SALES_DETAILS)
def test_the_sibling_province_manager_gets_404(client_for, beijing_sales_manager, world, kind):
    assert client_for(beijing_sales_manager).get(_url(world, kind)).status_code == 404


@pytest.mark.parametrize("kind", SALES_DETAILS)
def test_an_expired_share_gets_404(client_for, guangzhou_sales_rep, shenzhen_sales_rep, world, kind):
    share = share_grant(
        customer=world["customer"],
        action=Action.VIEW,
        user=guangzhou_sales_rep,
        granted_by=shenzhen_sales_rep,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    client = client_for(guangzhou_sales_rep)
    live = client.get(_url(world, kind))
    assert live.status_code == 200
    assert MASKED_PHONE in live.content.decode() and PHONE not in live.content.decode()
    share.expires_at = timezone.now() - timedelta(seconds=1)
    share.save()
    assert client.get(_url(world, kind)).status_code == 404


@pytest.mark.parametrize("kind", ["opportunity", "contract", "shipment"])
def test_a_masked_viewer_sees_the_phone_masked(client_for, channel_manager, world, kind):
    body = client_for(channel_manager).get(_url(world, kind)).content.decode()
    assert MASKED_PHONE in body and PHONE not in body


def test_a_missing_record_and_a_hidden_record_answer_the_same(client_for, beijing_sales_manager, world):
    client = client_for(beijing_sales_manager)
    hidden = client.get(_url(world, "service_case"))
    missing = client.get(reverse("interactions:case_detail", args=[world["service_case"].pk + 1000]))
    assert hidden.status_code == missing.status_code == 404


def test_finance_sees_the_payment_and_not_the_contract(client_for, finance_clerk, world):
    client = client_for(finance_clerk)
    assert client.get(reverse("interactions:payment_detail", args=[world["payment"].pk])).status_code == 200
    assert client.get(_url(world, "contract")).status_code == 404
    assert client.get(_url(world, "service_case")).status_code == 404


def test_sales_does_not_see_payments(client_for, shenzhen_sales_rep, world):
    url = reverse("interactions:payment_detail", args=[world["payment"].pk])
    assert client_for(shenzhen_sales_rep).get(url).status_code == 404
    assert client_for(shenzhen_sales_rep).get(reverse("interactions:receivables")).status_code == 404


def test_service_sees_the_case_but_not_the_sales_documents(client_for, service_agent, world):
    client = client_for(service_agent)
    assert client.get(_url(world, "service_case")).status_code == 200
    assert client.get(_url(world, "opportunity")).status_code == 404
    assert client.get(reverse("interactions:opportunity_list")).status_code == 404


# --- writes: hidden or not allowed answers 404 and changes nothing ---------------------------------


def test_a_hidden_customer_takes_no_activity_and_no_case(client_for, beijing_sales_manager, world):
    client = client_for(beijing_sales_manager)
    customer = world["customer"]
    assert (
        client.post(
            reverse("interactions:activity_create", args=[customer.pk]), {"kind": "call", "subject": "x"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            reverse("interactions:case_create") + f"?customer={customer.pk}",
            {"type": "complaint", "subject": "x", "category": "other", "severity": "normal"},
        ).status_code
        == 404
    )
    assert Activity.objects.filter(customer=customer).count() == 1
    assert ServiceCase.objects.filter(customer=customer).count() == 1


def test_view_only_access_creates_no_sales_documents(client_for, hq_executive, world):
    client = client_for(hq_executive)  # sees everything, changes only own customers
    assert client.get(_url(world, "opportunity")).status_code == 200
    response = client.post(
        reverse("interactions:quote_create", args=[world["opportunity"].pk]), {"amount": "1", "currency": "CNY"}
    )
    assert response.status_code == 404
    assert Quote.objects.count() == 1
    stage = client.post(reverse("interactions:opportunity_stage", args=[world["opportunity"].pk]), {"stage": "won"})
    assert stage.status_code == 404


def test_an_auditor_reads_but_does_not_work_a_case(client_for, auditor, world):
    client = client_for(auditor)
    case = world["service_case"]
    assert client.get(reverse("interactions:case_detail", args=[case.pk])).status_code == 200
    response = client.post(reverse("interactions:case_advance", args=[case.pk]), {"to_status": "assessed"})
    assert response.status_code == 404
    case.refresh_from_db()
    assert case.status == "received"


def test_extra_posted_fields_change_nothing(client_for, shenzhen_sales_rep, guangzhou_sales_rep, world):
    client = client_for(shenzhen_sales_rep)
    client.post(
        reverse("interactions:activity_create", args=[world["customer"].pk]),
        {"kind": "call", "subject": "附带字段", "user": guangzhou_sales_rep.pk, "customer": 999999},
    )
    activity = Activity.objects.get(subject="附带字段")
    assert activity.user == shenzhen_sales_rep and activity.customer == world["customer"]


def test_unknown_document_kinds_are_404(client_for, administrator, world):
    response = client_for(administrator).post(
        reverse("interactions:document_status", args=["customer", world["customer"].pk]), {"status": "x"}
    )
    assert response.status_code == 404
