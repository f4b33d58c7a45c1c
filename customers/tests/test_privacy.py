"""Personal-data requests: export of everything about a person, and erasure that leaves none of
their values anywhere in the database outside the documented exceptions (T11)."""

import datetime
import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from customers.io.privacy import privacy_erase, privacy_export
from customers.models import ContactPoint, Customer, PrivacyRequest, Relationship
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory

pytestmark = pytest.mark.django_db

CANARIES = {
    "name": "金丝雀甲乙丙",
    "mobile": "13987654321",
    "email": "canary.person@example.org",
    "address": "金丝雀路99号",
    "id_number": "440305199203047777",
    "title": "金丝雀经理",
    "note": "金丝雀备注文本",
    "subject": "金丝雀主题",
    "case": "金丝雀投诉描述",
    "event": "金丝雀事件记录",
    "payment_note": "金丝雀付款备注",
    "rel_title": "金丝雀董事",
}


def plant_person(owner, *, admin):
    """A person with a canary in every personal-data field, related records and audit entries."""
    from customers.services import ContactInput, CustomerInput, customer_create, customer_update
    from interactions.models import Activity, CaseEvent, Contract, Opportunity, Payment, Quote, ServiceCase

    person = customer_create(
        data=CustomerInput(
            kind="person",
            name=CANARIES["name"],
            profile={
                "id_number": CANARIES["id_number"],
                "title": CANARIES["title"],
                "birth_date": datetime.date(1992, 3, 4),
            },
            contacts=[
                ContactInput(kind="mobile", value=CANARIES["mobile"], is_primary=True),
                ContactInput(kind="email", value=CANARIES["email"]),
                ContactInput(kind="address", value=CANARIES["address"], province="广东", city="深圳"),
            ],
        ),
        created_by=owner,
    )
    person = customer_update(
        customer=person, expected_version=person.version, updated_by=owner, name=CANARIES["name"] + "X"
    )
    person = customer_update(customer=person, expected_version=person.version, updated_by=owner, name=CANARIES["name"])
    company = CustomerFactory(name="雇主有限公司", owner=owner)
    Relationship.objects.create(from_customer=company, to_customer=person, kind="employs", title=CANARIES["rel_title"])
    Activity.objects.create(
        customer=person, kind="note", subject=CANARIES["subject"], notes=CANARIES["note"], user=owner
    )
    opportunity = Opportunity.objects.create(customer=person, name=CANARIES["subject"] + "商机", owner=owner)
    quote = Quote.objects.create(customer=person, number="Q-T11-1", opportunity=opportunity, amount=Decimal("100"))
    contract = Contract.objects.create(
        customer=person,
        number="CT-T11-1",
        quote=quote,
        amount=Decimal("100"),
        start_on=datetime.date(2026, 1, 1),
        end_on=datetime.date(2026, 12, 31),
    )
    payment = Payment.objects.create(
        customer=person,
        number="PM-T11-1",
        contract=contract,
        amount=Decimal("100"),
        due_on=datetime.date(2026, 2, 1),
        note=CANARIES["payment_note"],
    )
    case = ServiceCase.objects.create(
        customer=person,
        number="SC-T11-1",
        subject="投诉",
        description=CANARIES["case"],
        due_at=datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC),
    )
    CaseEvent.objects.create(case=case, to_status="received", note=CANARIES["event"], actor=owner)
    from sharing.models import Notification

    Notification.objects.create(user=owner, message=f"你可以查看 {CANARIES['name']} 了")
    return person, payment


def text_columns():
    """Every text-like column of every table, from the database's own catalogue (not the models)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND data_type IN ('text', 'character varying', 'jsonb', 'json')"
            )
            return cursor.fetchall()
        columns = []
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                declared = str(column.type_code).lower()
                if any(kind in declared for kind in ("char", "text", "json", "clob")):
                    columns.append((table, column.name))
        return columns


def canary_hits(canaries):
    hits = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            for key, canary in canaries.items():
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE %s',  # noqa: S608 (names from the catalogue)
                    [f"%{canary}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append((table, column, key))
    return hits


def test_erasure_leaves_no_canary_anywhere_in_the_database(administrator, shenzhen_sales_rep):
    person, payment = plant_person(shenzhen_sales_rep, admin=administrator)
    privacy_export(customer=person, user=administrator, reason="工单 123")
    assert canary_hits(CANARIES), "the canaries were planted"

    record = privacy_erase(customer=person, user=administrator, reason="工单 124")

    assert canary_hits(CANARIES) == []  # T11: 0 left
    person.refresh_from_db()
    assert person.status == Customer.Status.ERASED
    assert person.name == f"已删除 #{person.number}"
    assert not ContactPoint.objects.filter(customer=person).exists()
    payment.refresh_from_db()
    assert (payment.number, payment.amount, payment.customer_id, payment.note) == (
        "PM-T11-1",
        Decimal("100"),
        person.pk,
        "",
    )
    assert record.performed_by == administrator and record.customer_number == person.number
    assert PrivacyRequest.objects.filter(kind="erase").count() == 1


def test_erasure_is_logged_without_the_erased_values(administrator, shenzhen_sales_rep):
    from auditlog.models import LogEntry

    person, _payment = plant_person(shenzhen_sales_rep, admin=administrator)
    privacy_erase(customer=person, user=administrator, reason="工单")
    entry = LogEntry.objects.get(additional_data__what="privacy_erase")
    assert entry.actor == administrator
    assert CANARIES["name"] not in json.dumps(entry.additional_data, ensure_ascii=False) + entry.object_repr


def test_customers_merged_into_the_person_are_erased_too(administrator):
    person = PersonFactory(name="合并幸存者")
    loser = PersonFactory(name="合并丢失者金丝雀", status="merged", merged_into=person)
    ContactPointFactory(customer=loser, value="13911110000", normalized="+8613911110000")
    privacy_erase(customer=person, user=administrator, reason="r")
    loser.refresh_from_db()
    assert loser.status == "erased" and "金丝雀" not in loser.name
    assert canary_hits({"loser": "合并丢失者金丝雀", "phone": "13911110000"}) == []


def test_only_can_erase_may_erase_and_companies_cannot_be_erased(data_steward, administrator):
    from django.core.exceptions import ValidationError

    person = PersonFactory(name="某人")
    with pytest.raises(PermissionDenied):
        privacy_erase(customer=person, user=data_steward, reason="r")
    with pytest.raises(ValidationError):
        privacy_erase(customer=CustomerFactory(), user=administrator, reason="r")


def test_the_export_holds_profile_contacts_relationships_related_rows_and_the_access_log(
    administrator, shenzhen_sales_rep
):
    person, _payment = plant_person(shenzhen_sales_rep, admin=administrator)
    content, record = privacy_export(customer=person, user=administrator, reason="工单 1")
    data = json.loads(zipfile.ZipFile(io.BytesIO(content)).read("data.json"))
    assert data["customer"]["name"] == CANARIES["name"]
    assert data["profile"]["id_number"] == CANARIES["id_number"]
    assert {c["value"] for c in data["contact_points"]} == {CANARIES["mobile"], CANARIES["email"], CANARIES["address"]}
    assert data["relationships"][0]["title"] == CANARIES["rel_title"]
    assert data["related_records"]["interactions.activity"][0]["notes"] == CANARIES["note"]
    assert "interactions.payment" in data["related_records"]
    assert data["access_log"]
    assert record.kind == "export" and record.performed_by == administrator


def test_an_exporting_role_without_erase_rights_gets_masked_values(hq_executive, shenzhen_sales_rep, administrator):
    person, _payment = plant_person(shenzhen_sales_rep, admin=administrator)
    content, _record = privacy_export(customer=person, user=hq_executive)
    text = zipfile.ZipFile(io.BytesIO(content)).read("data.json").decode()
    assert CANARIES["mobile"] not in text and CANARIES["id_number"] not in text


# --- The pages ----------------------------------------------------------------------------------------


def page(pk):
    return f"/customers/io/privacy/{pk}/"


def test_the_privacy_page_matrix(
    client,
    client_for,
    administrator,
    shenzhen_sales_rep,
    guangdong_sales_manager,
    beijing_sales_manager,
    outsider,
    data_steward,
):
    from django.utils import timezone

    from sharing.services import share_grant

    person = PersonFactory(owner=shenzhen_sales_rep, name="页面某人")
    assert client.get(page(person.pk)).status_code == 302  # anonymous → login
    assert client_for(outsider).get(page(person.pk)).status_code == 404
    assert client_for(shenzhen_sales_rep).get(page(person.pk)).status_code == 404  # owner, but no flag
    assert client_for(guangdong_sales_manager).get(page(person.pk)).status_code == 200  # subtree + can_export
    assert client_for(beijing_sales_manager).get(page(person.pk)).status_code == 404  # sibling province
    assert client_for(administrator).get(page(person.pk)).status_code == 200
    assert client_for(data_steward).get(page(CustomerFactory().pk)).status_code == 404  # a company
    # A live share opens it; once expired it gives nothing.
    from sharing.models import CustomerUserShare

    share_grant(
        customer=person,
        user=beijing_sales_manager,
        action="view",
        granted_by=administrator,
        expires_at=timezone.now() + datetime.timedelta(days=1),
        reason="t",
    )
    assert client_for(beijing_sales_manager).get(page(person.pk)).status_code == 200
    CustomerUserShare.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert client_for(beijing_sales_manager).get(page(person.pk)).status_code == 404


def test_erasing_through_the_page_needs_the_typed_number(client_for, administrator):
    person = PersonFactory(name="页面删除某人")
    client = client_for(administrator)
    response = client.post(f"/customers/io/privacy/{person.pk}/erase/", {"confirm_number": "C1", "reason": "r"})
    assert response.status_code == 400
    person.refresh_from_db()
    assert person.status == "active"
    response = client.post(
        f"/customers/io/privacy/{person.pk}/erase/", {"confirm_number": person.number, "reason": "r"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.status == "erased"


def test_a_manager_cannot_erase_through_the_page(client_for, guangdong_sales_manager, shenzhen_sales_rep):
    person = PersonFactory(owner=shenzhen_sales_rep, name="不可删除")
    response = client_for(guangdong_sales_manager).post(
        f"/customers/io/privacy/{person.pk}/erase/", {"confirm_number": person.number, "reason": "r"}
    )
    assert response.status_code == 404
    person.refresh_from_db()
    assert person.status == "active"


def test_the_export_download_is_a_zip(client_for, administrator):
    person = PersonFactory(name="下载某人")
    response = client_for(administrator).post(f"/customers/io/privacy/{person.pk}/export/", {"reason": "r"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(response.content)).namelist() == ["data.json", "README.txt"]
