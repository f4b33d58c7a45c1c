"""Cleansing and data quality: normalised values, validity flags, stale records, scores, the page."""

from datetime import date, timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from customers.models import ContactPoint, Customer
from customers.tests.factories import ContactPointFactory
from dedup.models import CustomerQuality, DedupJob, MatchKey
from dedup.services import dedup_job_create, dedup_job_run_inline, quality_assess

from .conftest import credit_code


def _contact(kind, valid=True, consent=False):
    return {"kind": kind, "is_valid": valid, "marketing_consent": consent}


def test_a_complete_company_scores_100_and_each_gap_is_named():
    full = {
        "credit_code": credit_code(1),
        "industry": "通信",
        "size": "large",
        "registered_address": "",
    }
    contacts = [_contact("landline"), _contact("email"), _contact("address")]
    assert quality_assess(kind="company", name="华为", contacts=contacts, profile=full, updated_at=timezone.now()) == (
        100,
        [],
        False,
    )
    score, issues, _stale = quality_assess(
        kind="company", name="华为", contacts=[], profile={"credit_code": "91440300XXXXXXXXX0"}, updated_at=None
    )
    assert score == 10
    assert set(issues) == {
        "credit_code_invalid",
        "phone_missing",
        "address_missing",
        "industry_missing",
        "email_missing",
        "details_missing",
    }


def test_a_person_scores_on_mobile_address_birth_date_consent_and_identity(settings):
    settings.DEDUP_STALE_DAYS = 30
    contacts = [_contact("mobile", consent=True), _contact("address"), _contact("email"), _contact("mobile", False)]
    profile = {"birth_date": date(1985, 3, 12), "id_number": "11010519491231002X", "gender": "m"}
    long_ago = timezone.now() - timedelta(days=31)
    score, issues, stale = quality_assess(
        kind="person", name="张伟", contacts=contacts, profile=profile, updated_at=long_ago
    )
    assert (score, set(issues), stale) == (100 - 5 - 10, {"contact_invalid", "stale"}, True)


@pytest.fixture
def messy(make_customer, shenzhen_sales_rep):
    customer = make_customer(name="  深圳市　华为技术有限公司 ", owner=shenzhen_sales_rep, phones=["13800138000"])
    Customer.objects.filter(pk=customer.pk).update(
        name_normalized="wrong", updated_at=timezone.now() - timedelta(days=400)
    )
    ContactPoint.objects.filter(customer=customer).update(normalized="stale-value")
    ContactPointFactory(customer=customer, kind="mobile", value="电话：无", normalized="")
    ContactPointFactory(customer=customer, kind="email", value="not-an-email@", normalized="")
    ContactPointFactory(customer=customer, kind="landline", value="\u200b\ufeff" * 50 + "☎️" * 30, normalized="")
    return Customer.objects.get(pk=customer.pk)


def test_cleansing_normalises_flags_garbage_scores_and_never_touches_updated_at(messy):
    before = messy.updated_at
    job = dedup_job_run_inline(job=dedup_job_create(created_by=None, kind="cleanse", start=False))
    assert job.status == "done", job.error
    messy.refresh_from_db()
    assert messy.name_normalized == "深圳市 华为技术有限公司"
    assert messy.updated_at == before
    points = {cp.value: cp for cp in messy.contact_points.all()}
    assert points["13800138000"].normalized == "+8613800138000" and points["13800138000"].is_valid
    assert not points["电话：无"].is_valid and not points["not-an-email@"].is_valid
    quality = CustomerQuality.objects.get(customer=messy)
    assert quality.is_stale and "stale" in quality.issues and "contact_invalid" in quality.issues
    assert messy.quality_score == quality.score < 50
    assert MatchKey.objects.filter(customer=messy, key="p:+8613800138000").exists()
    assert job.stats["contacts_flagged_invalid"] == 3 and job.stats["stale"] == 1
    entry = LogEntry.objects.get(additional_data__what="cleansing")
    assert messy.pk in entry.additional_data["changed_customer_ids"]


def test_cleansing_twice_changes_nothing_the_second_time(messy):
    dedup_job_run_inline(job=dedup_job_create(created_by=None, kind="cleanse", start=False))
    second = dedup_job_run_inline(job=dedup_job_create(created_by=None, kind="cleanse", start=False))
    assert second.stats["contacts_changed"] == 0 and second.stats["customers_changed"] == 0
    assert LogEntry.objects.filter(additional_data__what="cleansing").count() == 1


def _cleansed(make_customer, owner, count, name="客户"):
    made = [make_customer(name=f"{name}{i}有限公司", owner=owner, phones=[f"1380013{i:04d}"]) for i in range(count)]
    dedup_job_run_inline(job=dedup_job_create(created_by=None, kind="cleanse", start=False))
    DedupJob.objects.all().delete()
    return made


def test_the_quality_page_lists_visible_customers_worst_first(
    client_for, make_customer, shenzhen_sales_rep, beijing_sales_rep
):
    mine = _cleansed(make_customer, shenzhen_sales_rep, 3, name="深圳")
    hidden = make_customer(name="北京隐藏客户有限公司", owner=beijing_sales_rep)
    dedup_job_run_inline(job=dedup_job_create(created_by=None, kind="cleanse", start=False))
    CustomerQuality.objects.filter(customer=mine[1]).update(score=5)
    response = client_for(shenzhen_sales_rep).get(reverse("dedup:quality"))
    assert response.status_code == 200
    rows = [row["customer"].pk for row in response.context["rows"]]
    assert rows[0] == mine[1].pk and set(rows) == {c.pk for c in mine}
    assert hidden.name not in response.content.decode()


def test_the_quality_page_needs_a_login_and_costs_the_same_queries_for_3_or_30_rows(
    client, client_for, make_customer, data_steward, django_assert_max_num_queries, shenzhen_sales_rep
):
    assert client.get(reverse("dedup:quality")).status_code == 302
    _cleansed(make_customer, shenzhen_sales_rep, 3)
    steward = client_for(data_steward)
    steward.get(reverse("dedup:quality"))
    with django_assert_max_num_queries(12) as few:
        steward.get(reverse("dedup:quality"))
    _cleansed(make_customer, shenzhen_sales_rep, 27, name="更多")
    with django_assert_max_num_queries(len(few)):
        response = steward.get(reverse("dedup:quality"))
    assert len(response.context["rows"]) == 25


def test_the_quality_page_filters_stale_records(client_for, make_customer, data_steward, shenzhen_sales_rep):
    made = _cleansed(make_customer, shenzhen_sales_rep, 2)
    CustomerQuality.objects.filter(customer=made[0]).update(is_stale=True)
    response = client_for(data_steward).get(reverse("dedup:quality"), {"stale": "on"})
    assert [row["customer"].pk for row in response.context["rows"]] == [made[0].pk]
