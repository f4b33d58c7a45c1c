"""The 360° page: who sees it, masking, relationships from both sides, history, access log, merges."""

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from customers.models import ContactPoint, Customer
from customers.services import customer_update
from customers.tests.factories import (
    ContactPointFactory,
    CustomerFactory,
    PersonFactory,
    RelationshipFactory,
    expire,
    share_with,
    valid_credit_code,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(client, settings):
    """Messages are asserted in English (the UI defaults to Simplified Chinese)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    yield
    translation.deactivate()  # the request activated English in this thread: do not leak it


@pytest.fixture
def customer(shenzhen_sales_rep):
    customer = CustomerFactory(
        owner=shenzhen_sales_rep, name="深圳市腾飞科技有限公司", profile__credit_code=valid_credit_code()
    )
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.MOBILE, value="13812345678")
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.EMAIL, value="zhang@tengfei.example.com")
    return customer


def url(customer):
    return f"/customers/{customer.pk}/"


def test_anonymous_users_are_sent_to_the_login_page(client, customer):
    response = client.get(url(customer))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "persona, status",
    [
        ("shenzhen_sales_rep", 200),  # owner
        ("guangdong_sales_manager", 200),  # subtree manager
        ("hq_executive", 200),
        ("service_agent", 200),
        ("outsider", 404),
        ("beijing_sales_manager", 404),  # sibling province
        ("guangzhou_sales_rep", 404),
        ("dealer_user", 404),
    ],
)
def test_who_sees_the_360_page(request, client_for, customer, persona, status):
    response = client_for(request.getfixturevalue(persona)).get(url(customer))
    assert response.status_code == status
    if status == 404:
        assert customer.name not in response.content.decode()


def test_a_hidden_customer_and_a_missing_one_answer_the_same(client_for, customer, outsider):
    client = client_for(outsider)
    hidden, missing = client.get(url(customer)), client.get("/customers/999999/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content


def test_an_expired_share_no_longer_opens_the_page(client_for, customer, guangzhou_sales_rep):
    share = share_with(customer, guangzhou_sales_rep)
    client = client_for(guangzhou_sales_rep)
    assert client.get(url(customer)).status_code == 200
    expire(share)
    assert client.get(url(customer)).status_code == 404


def test_a_rep_viewing_a_shared_customer_sees_contacts_masked(client_for, customer, guangzhou_sales_rep):
    share_with(customer, guangzhou_sales_rep)
    response = client_for(guangzhou_sales_rep).get(url(customer))
    body = response.content.decode()
    assert "138****5678" in body
    assert "13812345678" not in body
    assert "z***@tengfei.example.com" in body
    assert "zhang@tengfei.example.com" not in body
    assert valid_credit_code() not in body  # identity is masked for reps too
    assert 'data-testid="edit"' not in body  # a view share does not offer editing
    assert 'data-testid="history"' not in body  # neither the owner nor an auditor


def test_the_owner_sees_contacts_in_clear_and_may_edit(client_for, customer, shenzhen_sales_rep):
    body = client_for(shenzhen_sales_rep).get(url(customer)).content.decode()
    assert "13812345678" in body
    assert valid_credit_code() in body
    assert 'data-testid="edit"' in body
    assert 'data-testid="transfer"' not in body  # reps may not transfer


def test_a_manager_is_offered_transfer(client_for, customer, guangdong_sales_manager):
    body = client_for(guangdong_sales_manager).get(url(customer)).content.decode()
    assert 'data-testid="transfer"' in body and 'data-testid="edit"' in body


def test_every_360_view_writes_an_access_log_entry(client_for, customer, guangdong_sales_manager):
    client = client_for(guangdong_sales_manager)
    client.get(url(customer))
    client.get(url(customer))
    entries = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, object_id=customer.pk)
    assert entries.count() == 2
    entry = entries.first()
    assert entry.actor == guangdong_sales_manager
    assert entry.additional_data["what"] == "view_360"
    assert entry.remote_addr == "127.0.0.1"


def test_a_denied_view_writes_no_access_log_entry(client_for, customer, outsider):
    client_for(outsider).get(url(customer))
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_relationships_read_correctly_from_both_sides(client_for, customer, shenzhen_sales_rep):
    person = PersonFactory(owner=shenzhen_sales_rep, name="王小明")
    RelationshipFactory(from_customer=customer, to_customer=person, kind="employs")
    client = client_for(shenzhen_sales_rep)
    company_side = client.get(url(customer)).context["relationships"]
    person_side = client.get(url(person)).context["relationships"]
    assert [(str(r.label), r.other) for r in company_side] == [("employs", person)]
    assert [(str(r.label), r.other) for r in person_side] == [("works for", customer)]


def test_relationships_with_customers_the_viewer_cannot_see_are_left_out(
    client_for, customer, shenzhen_sales_rep, beijing_sales_rep
):
    hidden = PersonFactory(owner=beijing_sales_rep, name="北京的秘密股东")
    RelationshipFactory(from_customer=hidden, to_customer=customer, kind="holds")
    response = client_for(shenzhen_sales_rep).get(url(customer))
    assert response.context["relationships"] == []
    assert "北京的秘密股东" not in response.content.decode()


def test_a_merged_customer_redirects_to_its_survivor_when_visible(client_for, customer, shenzhen_sales_rep):
    loser = CustomerFactory(owner=shenzhen_sales_rep)
    Customer.objects.filter(pk=loser.pk).update(status=Customer.Status.MERGED, merged_into=customer)
    response = client_for(shenzhen_sales_rep).get(url(loser))
    assert response.status_code == 302
    assert response["Location"] == url(customer)


def test_a_merged_customer_whose_survivor_is_hidden_answers_404(client_for, shenzhen_sales_rep, beijing_sales_rep):
    survivor = CustomerFactory(owner=beijing_sales_rep)
    loser = CustomerFactory(owner=shenzhen_sales_rep)
    Customer.objects.filter(pk=loser.pk).update(status=Customer.Status.MERGED, merged_into=survivor)
    assert client_for(shenzhen_sales_rep).get(url(loser)).status_code == 404


def latest_changes(history):
    """{field label: (old, new)} of the newest change of each field (history is newest first)."""
    changes = {}
    for entry in history:
        for change in entry.changes:
            changes.setdefault(change.label, (change.old, change.new))
    return changes


def test_the_owner_and_an_auditor_see_the_change_history_with_identity_masked_for_the_auditor(
    client_for, customer, shenzhen_sales_rep, auditor, guangdong_sales_manager
):
    customer_update(
        customer=customer,
        expected_version=1,
        updated_by=shenzhen_sales_rep,
        name="新名字",
        profile={"credit_code": valid_credit_code("91440300MA5FX9999")},
    )
    owner_view = client_for(shenzhen_sales_rep).get(url(customer))
    changes = latest_changes(owner_view.context["history"])
    assert changes["name"] == ("深圳市腾飞科技有限公司", "新名字")
    created = next(e for e in owner_view.context["history"] if e.subject == "customer" and e.action == "create")
    created_changes = {c.label: (c.old, c.new) for c in created.changes}
    assert created_changes["kind"] == ("", "Company")  # choice labels, no old values on a create entry
    assert "contact points" not in created_changes  # reverse relations auditlog lists are not changes
    assert changes["unified social credit code"][1].endswith(valid_credit_code("91440300MA5FX9999")[-4:])

    auditor_view = client_for(auditor).get(url(customer))
    changes = latest_changes(auditor_view.context["history"])
    assert changes["name"] == ("深圳市腾飞科技有限公司", "新名字")
    assert valid_credit_code("91440300MA5FX9999") not in auditor_view.content.decode()

    # A manager without the audit flag who does not own the customer sees no history.
    assert client_for(guangdong_sales_manager).get(url(customer)).context["history"] is None


def test_history_records_a_removed_contact_point(client_for, customer, shenzhen_sales_rep):
    from customers.services import ContactInput

    cp = customer.contact_points.get(kind="email")
    customer_update(
        customer=customer,
        expected_version=1,
        updated_by=shenzhen_sales_rep,
        contacts=[ContactInput(kind="email", value="", id=cp.pk, delete=True)],
    )
    history = client_for(shenzhen_sales_rep).get(url(customer)).context["history"]
    assert "contact_point_deleted" in [entry.what for entry in history]


def test_the_360_page_needs_the_same_queries_for_2_or_20_contact_points(
    client_for, customer, shenzhen_sales_rep, django_assert_max_num_queries
):
    person = PersonFactory(owner=shenzhen_sales_rep)
    RelationshipFactory(from_customer=customer, to_customer=person)
    client = client_for(shenzhen_sales_rep)
    client.get(url(customer))  # warm caches (content types, permission ids)
    with CaptureQueriesContext(connection) as few:
        client.get(url(customer))
    for i in range(18):
        ContactPointFactory(customer=customer, kind="mobile", value=f"139{i:08d}", is_primary=False)
        RelationshipFactory(from_customer=customer, to_customer=PersonFactory(owner=shenzhen_sales_rep))
    with django_assert_max_num_queries(len(few)), CaptureQueriesContext(connection) as many:
        response = client.get(url(customer))
    assert response.content.decode().count("<tr data-contact-kind=") == 20
    assert len(response.context["relationships"]) == 19
    assert len(many) == len(few)
