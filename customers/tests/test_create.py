"""Creating companies and persons: validation that keeps the input, editable groups only, relationships."""

import pytest
from django.utils import translation

from customers.models import ContactPoint, Customer, Relationship
from customers.tests.factories import CustomerFactory, customer_form_data, share_with, valid_credit_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(client, settings):
    """Messages are asserted in English (the UI defaults to Simplified Chinese)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    yield
    translation.deactivate()  # the request activated English in this thread: do not leak it


MOBILE = {"kind": "mobile", "value": "138 0013 8000"}
EMAIL = {"kind": "email", "value": "Boss@Example.COM"}


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get("/customers/new/?kind=company")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("persona", ["outsider", "finance_clerk", "auditor"])
def test_users_whose_role_changes_no_customers_may_not_create_any(request, client_for, persona):
    user = request.getfixturevalue(persona)
    client = client_for(user)
    assert client.get("/customers/new/?kind=company").status_code == 403
    assert client.post("/customers/new/", customer_form_data(contacts=[MOBILE])).status_code == 403
    assert not Customer.objects.exists()


def test_without_a_kind_the_page_asks_company_or_person(client_for, shenzhen_sales_rep):
    response = client_for(shenzhen_sales_rep).get("/customers/new/")
    assert response.status_code == 200
    assert b"?kind=company" in response.content and b"?kind=person" in response.content


def test_a_new_company_form_starts_with_a_mobile_and_an_email_row(client_for, shenzhen_sales_rep):
    response = client_for(shenzhen_sales_rep).get("/customers/new/?kind=company")
    contacts = response.context["editor"].contacts
    assert [form["kind"].value() for form in contacts] == ["mobile", "email"]
    assert response.context["form"]["source"].value() == "key_account"  # a sales rep's usual source
    assert b'id="duplicate-warning"' in response.content


def test_a_sales_rep_creates_a_company_with_two_contacts_and_owns_it(client_for, shenzhen_sales_rep, org):
    data = customer_form_data(contacts=[MOBILE, EMAIL], credit_code=valid_credit_code().lower(), industry="制造业")
    response = client_for(shenzhen_sales_rep).post("/customers/new/", data)
    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert customer.kind == "company"
    assert customer.owner == shenzhen_sales_rep
    assert customer.org_unit == org["GD-SZ"]
    assert customer.created_by == shenzhen_sales_rep
    assert customer.company.credit_code == valid_credit_code()  # upper-cased
    assert customer.company.industry == "制造业"
    points = {cp.kind: cp for cp in customer.contact_points.all()}
    assert points["mobile"].normalized == "+8613800138000"
    assert points["mobile"].is_primary  # the only one of its kind becomes primary
    assert points["email"].normalized == "boss@example.com"


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"contacts": [{"kind": "mobile", "value": "138 0013"}, EMAIL]}, "value", "not a valid phone number"),
        ({"contacts": [MOBILE, {"kind": "email", "value": "boss@example"}]}, "value", "not a valid email address"),
        ({"credit_code": "91350100M000100Y44"}, "credit_code", "check character"),
        ({"name": "   "}, "name", ""),
        ({"contacts": [{"kind": "address", "value": "科技园路1号", "postcode": "51805"}]}, "postcode", "six digits"),
    ],
)
def test_a_bad_value_is_a_field_error_and_everything_typed_is_kept(
    client_for, shenzhen_sales_rep, change, field, message
):
    data = customer_form_data(**{"contacts": [MOBILE, EMAIL], "website": "https://tengfei.example.com", **change})
    response = client_for(shenzhen_sales_rep).post("/customers/new/", data)
    assert response.status_code == 200
    assert not Customer.objects.exists()
    editor = response.context["editor"]
    errors = [*editor.form.errors.get(field, []), *[e for f in editor.contacts for e in f.errors.get(field, [])]]
    assert errors and message in " ".join(errors)
    body = response.content.decode()
    assert "https://tengfei.example.com" in body
    for row in data.get("contacts", change.get("contacts", [])) or []:
        assert row["value"] in body


def test_two_primary_mobiles_are_refused(client_for, shenzhen_sales_rep):
    rows = [{**MOBILE, "is_primary": True}, {"kind": "mobile", "value": "13900139000", "is_primary": True}]
    response = client_for(shenzhen_sales_rep).post("/customers/new/", customer_form_data(contacts=rows))
    assert response.status_code == 200
    assert response.context["editor"].contacts.non_form_errors()
    assert not Customer.objects.exists()


def test_empty_default_rows_are_skipped(client_for, shenzhen_sales_rep):
    rows = [{"kind": "mobile", "value": ""}, {"kind": "email", "value": ""}]
    response = client_for(shenzhen_sales_rep).post("/customers/new/", customer_form_data(contacts=rows))
    assert response.status_code == 302
    assert not ContactPoint.objects.exists()


def test_forged_owner_unit_number_and_version_fields_change_nothing(
    client_for, shenzhen_sales_rep, beijing_sales_rep, org
):
    data = customer_form_data(
        contacts=[MOBILE],
        owner=beijing_sales_rep.pk,
        org_unit=org["BJ"].pk,
        number="C99999999",
        version="42",
        status="erased",
        merged_into="1",
    )
    client_for(shenzhen_sales_rep).post("/customers/new/", data)
    customer = Customer.objects.get()
    assert (customer.owner, customer.org_unit) == (shenzhen_sales_rep, org["GD-SZ"])
    assert customer.number != "C99999999"
    assert customer.version == 1
    assert customer.status == "active"
    assert customer.merged_into is None


def test_a_person_is_created_as_an_employee_of_a_company_the_rep_can_see(client_for, shenzhen_sales_rep):
    company = CustomerFactory(owner=shenzhen_sales_rep, name="深圳市腾飞科技有限公司")
    data = customer_form_data(
        kind="person",
        name="王小明",
        gender="m",
        contacts=[MOBILE],
        relationships=[{"other": company.pk, "relation": "in:employs", "title": "采购经理"}],
    )
    response = client_for(shenzhen_sales_rep).post("/customers/new/", data)
    person = Customer.objects.get(kind="person")
    assert response.status_code == 302
    relationship = Relationship.objects.get()
    assert (relationship.from_customer, relationship.to_customer, relationship.kind) == (company, person, "employs")
    assert relationship.title == "采购经理"
    assert person.person.gender == "m"


def test_a_relationship_to_a_customer_the_user_cannot_see_is_refused(client_for, shenzhen_sales_rep, beijing_sales_rep):
    hidden = CustomerFactory(owner=beijing_sales_rep)
    data = customer_form_data(
        kind="person", contacts=[MOBILE], relationships=[{"other": hidden.pk, "relation": "in:employs"}]
    )
    response = client_for(shenzhen_sales_rep).post("/customers/new/", data)
    assert response.status_code == 200
    assert response.context["editor"].relationships.forms[0].errors["other"]
    assert hidden.name not in response.content.decode()
    assert not Customer.objects.filter(kind="person").exists()


def test_a_relationship_row_without_a_picked_customer_is_an_error(client_for, shenzhen_sales_rep):
    data = customer_form_data(kind="person", relationships=[{"relation": "in:employs", "title": "经理"}])
    response = client_for(shenzhen_sales_rep).post("/customers/new/", data)
    assert response.status_code == 200
    assert response.context["editor"].relationships.forms[0].errors["other"]


def test_a_share_percentage_is_kept_only_for_shareholdings(client_for, shenzhen_sales_rep):
    held = CustomerFactory(owner=shenzhen_sales_rep)
    other = CustomerFactory(owner=shenzhen_sales_rep)
    data = customer_form_data(
        relationships=[
            {"other": held.pk, "relation": "out:holds", "share_percent": "35.5"},
            {"other": other.pk, "relation": "out:related", "share_percent": "20"},
        ]
    )
    client_for(shenzhen_sales_rep).post("/customers/new/", data)
    holds = Relationship.objects.get(kind="holds")
    related = Relationship.objects.get(kind="related")
    assert str(holds.share_percent) == "35.50"
    assert related.share_percent is None


def test_a_customer_shared_for_viewing_can_be_linked(client_for, shenzhen_sales_rep, guangzhou_sales_rep):
    theirs = CustomerFactory(owner=guangzhou_sales_rep)
    share_with(theirs, shenzhen_sales_rep)
    data = customer_form_data(kind="person", relationships=[{"other": theirs.pk, "relation": "in:employs"}])
    assert client_for(shenzhen_sales_rep).post("/customers/new/", data).status_code == 302
    assert Relationship.objects.get().from_customer == theirs


def test_the_added_row_partials_carry_the_next_index_out_of_band(client_for, shenzhen_sales_rep):
    client = client_for(shenzhen_sales_rep)
    response = client.get("/customers/partials/contact-row/?index=2")
    body = response.content.decode()
    assert 'name="contacts-2-value"' in body
    assert 'name="contacts-2-DELETE"' in body
    assert 'name="contacts-TOTAL_FORMS" value="3"' in body
    assert "index=3" in body
    response = client.get("/customers/partials/relationship-row/?index=0&customer=7")
    body = response.content.decode()
    assert 'name="relationships-0-other"' in body
    assert 'name="relationships-TOTAL_FORMS" value="1"' in body
    assert client.get("/customers/partials/contact-row/?index=99").status_code == 404
    assert client.get("/customers/partials/contact-row/?index=x").status_code == 404


def test_a_likely_duplicate_is_refused_until_confirmed_with_a_reason(
    client_for, shenzhen_sales_rep, django_capture_on_commit_callbacks
):
    """The dedup app's gate runs before the save; its refusal shows the confirmation fields."""
    client = client_for(shenzhen_sales_rep)
    data = customer_form_data(name="深圳市腾飞科技有限公司", credit_code=valid_credit_code(), contacts=[MOBILE, EMAIL])
    with django_capture_on_commit_callbacks(execute=True):  # match keys are refreshed on commit
        assert client.post("/customers/new/", data).status_code == 302

    again = client.post("/customers/new/", {**data, "name": "腾飞科技（深圳）有限公司"})
    assert again.status_code == 200
    assert Customer.objects.count() == 1
    assert again.context["editor"].duplicate_refused
    assert 'id="duplicate-confirm"' in again.content.decode()
    assert again.context["form"].non_field_errors()

    no_reason = client.post("/customers/new/", {**data, "confirm_duplicate": "on", "duplicate_reason": " "})
    assert no_reason.status_code == 200
    assert "duplicate_reason" in no_reason.context["form"].errors

    confirmed = client.post(
        "/customers/new/",
        {**data, "confirm_duplicate": "on", "duplicate_reason": "同名的另一家公司，信用代码相同是录入错误"},
    )
    assert confirmed.status_code == 302
    assert Customer.objects.count() == 2
