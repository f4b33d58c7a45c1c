"""Editing a customer: who may, which groups are on the form, forged fields, optimistic locking."""

import pytest
from django.utils import translation

from customers.models import ContactPoint, Customer, Relationship
from customers.services import customer_update
from customers.tests.factories import (
    ContactPointFactory,
    CustomerFactory,
    PersonFactory,
    RelationshipFactory,
    customer_form_data,
    expire,
    share_with,
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
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="深圳市腾飞科技有限公司")
    ContactPointFactory(customer=customer, kind="mobile", value="13812345678")
    return customer


def edit_data(customer, **fields):
    """The edit form as the browser posts it, with the customer's current contact rows."""
    rows = [
        {"id": cp.pk, "kind": cp.kind, "value": cp.value, "is_primary": cp.is_primary}
        for cp in customer.contact_points.all()
    ]
    data = customer_form_data(
        contacts=fields.pop("contacts", rows),
        initial_contacts=len(rows),
        name=customer.name,
        status=customer.status,
        source=customer.source,
        version=customer.version,
    )
    data.pop("kind")
    data.update({k: str(v) for k, v in fields.items()})
    return data


def test_anonymous_users_are_sent_to_the_login_page(client, customer):
    response = client.get(f"/customers/{customer.pk}/edit/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "persona, status",
    [
        ("shenzhen_sales_rep", 200),  # owner
        ("guangdong_sales_manager", 200),  # subtree manager
        ("data_steward", 200),  # changes everything
        ("outsider", 404),
        ("beijing_sales_manager", 404),  # sibling province
        ("guangzhou_sales_rep", 404),  # same province, other rep
        ("hq_executive", 404),  # sees all, changes only own
        ("finance_clerk", 404),
    ],
)
def test_who_may_open_and_post_the_edit_form(request, client_for, customer, persona, status):
    client = client_for(request.getfixturevalue(persona))
    assert client.get(f"/customers/{customer.pk}/edit/").status_code == status
    response = client.post(f"/customers/{customer.pk}/edit/", edit_data(customer, name="改名"))
    assert response.status_code == (302 if status == 200 else 404)
    customer.refresh_from_db()
    assert (customer.name == "改名") == (status == 200)


def test_a_missing_customer_is_the_same_404(client_for, shenzhen_sales_rep):
    assert client_for(shenzhen_sales_rep).get("/customers/999999/edit/").status_code == 404


def test_a_view_share_or_an_expired_change_share_does_not_open_the_edit_form(
    client_for, customer, guangzhou_sales_rep, shenzhen_sales_rep
):
    view_share = share_with(customer, guangzhou_sales_rep, action="view")
    client = client_for(guangzhou_sales_rep)
    assert client.get(f"/customers/{customer.pk}/edit/").status_code == 404
    view_share.delete()
    change_share = share_with(customer, guangzhou_sales_rep, action="change")
    assert client.get(f"/customers/{customer.pk}/edit/").status_code == 200
    expire(change_share)
    assert client.get(f"/customers/{customer.pk}/edit/").status_code == 404
    assert client.post(f"/customers/{customer.pk}/edit/", edit_data(customer, name="改名")).status_code == 404
    customer.refresh_from_db()
    assert customer.name == "深圳市腾飞科技有限公司"


def test_the_owner_edits_name_contacts_and_profile(client_for, customer, shenzhen_sales_rep):
    cp = customer.contact_points.get()
    data = edit_data(
        customer,
        name="深圳市腾飞智能科技有限公司",
        industry="电子",
        contacts=[
            {"id": cp.pk, "kind": "mobile", "value": "139 0013 9000", "is_primary": True},
            {"kind": "email", "value": "info@tengfei.example.com"},
        ],
    )
    response = client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "深圳市腾飞智能科技有限公司"
    assert customer.version == 2
    assert customer.updated_by == shenzhen_sales_rep
    assert customer.company.industry == "电子"
    assert sorted(customer.contact_points.values_list("normalized", flat=True)) == [
        "+8613900139000",
        "info@tengfei.example.com",
    ]


def test_a_contact_point_is_removed_with_its_delete_box(client_for, customer, shenzhen_sales_rep):
    cp = customer.contact_points.get()
    data = edit_data(customer, contacts=[{"id": cp.pk, "kind": "mobile", "value": cp.value, "DELETE": True}])
    assert client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    assert not customer.contact_points.exists()


def test_forged_owner_unit_number_and_status_fields_change_nothing(
    client_for, customer, shenzhen_sales_rep, beijing_sales_rep, org
):
    number = customer.number
    data = edit_data(
        customer,
        owner=beijing_sales_rep.pk,
        org_unit=org["BJ"].pk,
        number="C99999999",
        kind="person",
        merged_into=customer.pk,
        created_by=beijing_sales_rep.pk,
        status="merged",
    )
    response = client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 200  # "merged" is not a status a form may set
    assert "status" in response.context["form"].errors
    data["status"] = "inactive"
    assert client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert (customer.owner, customer.org_unit, customer.number) == (shenzhen_sales_rep, org["GD-SZ"], number)
    assert customer.kind == "company"
    assert customer.merged_into is None
    assert customer.created_by is None
    assert customer.status == "inactive"


def test_groups_the_editor_may_not_edit_are_not_on_the_form_and_posting_them_changes_nothing(
    client_for, customer, guangzhou_sales_rep
):
    """A rep with a change share edits core data; contact details stay masked and untouched."""
    share_with(customer, guangzhou_sales_rep, action="change")
    client = client_for(guangzhou_sales_rep)
    response = client.get(f"/customers/{customer.pk}/edit/")
    assert response.context["editor"].contacts is None
    assert "credit_code" not in response.context["form"].fields
    assert "13812345678" not in response.content.decode()
    data = edit_data(customer, name="新名称", credit_code="91350100M000100Y43")
    data.update(
        {
            "contacts-TOTAL_FORMS": "1",
            "contacts-INITIAL_FORMS": "1",
            "contacts-0-id": str(customer.contact_points.get().pk),
            "contacts-0-kind": "mobile",
            "contacts-0-value": "13999999999",
        }
    )
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.name == "新名称"
    assert customer.contact_points.get().value == "13812345678"
    assert customer.company.credit_code == ""


def test_a_stale_save_keeps_the_input_shows_the_other_change_and_allows_a_deliberate_resubmit(
    client_for, customer, shenzhen_sales_rep, guangdong_sales_manager
):
    client = client_for(shenzhen_sales_rep)
    page = client.get(f"/customers/{customer.pk}/edit/")
    loaded = page.context["form"]["version"].value()
    assert loaded == 1
    assert '<input type="hidden" name="version" value="1"' in page.content.decode()
    # Meanwhile the manager renames the customer.
    customer_update(customer=customer, expected_version=1, updated_by=guangdong_sales_manager, name="经理改的名字")

    data = edit_data(customer, name="销售改的名字", industry="物流", version=loaded)
    response = client.post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.name == "经理改的名字"  # nothing silently overwritten
    assert customer.version == 2
    body = response.content.decode()
    assert 'data-testid="stale-warning"' in body
    stale = {label: (stored, yours) for label, stored, yours in response.context["stale"]}
    assert stale["name"] == ("经理改的名字", "销售改的名字")
    assert stale["industry"] == ("—", "物流")
    form = response.context["form"]
    assert form["name"].value() == "销售改的名字"  # the user's input is kept
    assert form["version"].value() == "2"  # …with the version refreshed

    assert '<input type="hidden" name="version" value="2"' in response.content.decode()
    data["version"] = form["version"].value()
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.name == "销售改的名字"
    assert customer.version == 3


def test_a_missing_version_is_treated_as_stale(client_for, customer, shenzhen_sales_rep):
    data = edit_data(customer, name="新名称")
    data.pop("version")
    response = client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 200
    assert response.context["stale"] is not None
    customer.refresh_from_db()
    assert customer.name == "深圳市腾飞科技有限公司"


def test_a_relationship_is_removed_and_another_added_from_the_edit_form(client_for, customer, shenzhen_sales_rep):
    employee = PersonFactory(owner=shenzhen_sales_rep)
    spouse_side = PersonFactory(owner=shenzhen_sales_rep)
    old = RelationshipFactory(from_customer=customer, to_customer=employee, kind="employs")
    data = edit_data(customer, remove_relationships=old.pk)
    data.update(
        {
            "relationships-TOTAL_FORMS": "1",
            "relationships-0-other": str(spouse_side.pk),
            "relationships-0-relation": "out:related",
        }
    )
    assert client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    assert list(Relationship.objects.values_list("from_customer", "to_customer", "kind")) == [
        (customer.pk, spouse_side.pk, "related")
    ]


def test_relationships_with_customers_the_editor_cannot_see_are_not_offered_for_removal(
    client_for, customer, guangdong_sales_manager, beijing_sales_rep, shenzhen_sales_rep
):
    hidden = PersonFactory(owner=beijing_sales_rep, name="北京的人")
    hidden_link = RelationshipFactory(from_customer=customer, to_customer=hidden)
    response = client_for(shenzhen_sales_rep).get(f"/customers/{customer.pk}/edit/")
    assert "北京的人" not in response.content.decode()
    data = edit_data(customer, remove_relationships=hidden_link.pk)
    response = client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 200  # not a valid choice
    assert Relationship.objects.filter(pk=hidden_link.pk).exists()


def test_a_duplicate_relationship_is_reported_on_the_form(client_for, customer, shenzhen_sales_rep):
    employee = PersonFactory(owner=shenzhen_sales_rep)
    RelationshipFactory(from_customer=customer, to_customer=employee, kind="employs")
    data = edit_data(customer, name="改名")
    data.update(
        {
            "relationships-TOTAL_FORMS": "1",
            "relationships-0-other": employee.pk,
            "relationships-0-relation": "out:employs",
        }
    )
    response = client_for(shenzhen_sales_rep).post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].non_field_errors())
    customer.refresh_from_db()
    assert customer.name == "深圳市腾飞科技有限公司"  # all or nothing


def test_a_merged_customer_cannot_be_edited(client_for, customer, shenzhen_sales_rep):
    Customer.objects.filter(pk=customer.pk).update(status=Customer.Status.MERGED)
    response = client_for(shenzhen_sales_rep).get(f"/customers/{customer.pk}/edit/")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"


def test_edit_form_shows_existing_contacts_in_clear_to_the_owner(client_for, customer, shenzhen_sales_rep):
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.EMAIL, value="a@b.example.com", is_primary=False)
    body = client_for(shenzhen_sales_rep).get(f"/customers/{customer.pk}/edit/").content.decode()
    assert "13812345678" in body and "a@b.example.com" in body
