"""Campaigns: target lists within the creator's visibility, consent, participation, figures by hand."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from customers.models import Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory
from interactions.campaign_models import CampaignParticipation
from interactions.campaigns import (
    campaign_create,
    campaign_results,
    campaign_target_build,
    campaign_target_preview,
    participation_import,
    participation_set,
)
from interactions.tests.factories import OpportunityFactory

pytestmark = pytest.mark.django_db

P = CampaignParticipation.Status


def consenting(owner, **kw):
    customer = CustomerFactory(owner=owner, **kw)
    ContactPointFactory(customer=customer, marketing_consent=True)
    return customer


def make_campaign(user, unit, customer_filter="", **kw):
    return campaign_create(
        created_by=user,
        name=kw.pop("name", "2026 春季新品发布会"),
        kind=kw.pop("kind", "event"),
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 3, 31),
        owner_unit=unit,
        budget=kw.pop("budget", Decimal("20000")),
        customer_filter=customer_filter,
    )


def test_a_managers_target_list_never_includes_customers_outside_their_scope(
    org, guangdong_sales_manager, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep
):
    mine = [consenting(shenzhen_sales_rep), consenting(guangzhou_sales_rep)]
    hidden = consenting(beijing_sales_rep)
    campaign = make_campaign(guangdong_sales_manager, org["GD"])
    targeted = set(campaign.participations.values_list("customer_id", flat=True))
    assert targeted == {c.pk for c in mine}
    assert hidden.pk not in targeted
    # Even a filter naming the hidden customer's owner or number gives nothing of theirs.
    with pytest.raises(ValidationError):
        make_campaign(guangdong_sales_manager, org["GD"], customer_filter=f"q={hidden.number}")


def test_consent_filters_the_target_list_and_the_reasons_are_counted(org, marketing_user, shenzhen_sales_rep):
    yes = consenting(shenzhen_sales_rep, name="营销测试同意")
    no_consent = CustomerFactory(owner=shenzhen_sales_rep, name="营销测试不同意")
    ContactPointFactory(customer=no_consent, marketing_consent=False)
    withdrawn = CustomerFactory(owner=shenzhen_sales_rep, name="营销测试号码失效")
    ContactPointFactory(customer=withdrawn, marketing_consent=True, is_valid=False)
    CustomerFactory(owner=shenzhen_sales_rep, name="营销测试无联系方式")
    campaign = make_campaign(marketing_user, org["HQ"], customer_filter="q=营销测试", kind="mailing")
    assert list(campaign.participations.values_list("customer_id", flat=True)) == [yes.pk]
    assert campaign.excluded == {"matched": 4, "included": 1, "no_contact_point": 2, "no_consent": 1}
    assert campaign_target_preview(user=marketing_user, customer_filter="q=营销测试") == campaign.excluded


def test_an_empty_target_is_refused_with_a_clear_message(org, marketing_user, shenzhen_sales_rep):
    CustomerFactory(owner=shenzhen_sales_rep, name="没有同意的公司")
    with translation.override("en"), pytest.raises(ValidationError) as no_consent:
        make_campaign(marketing_user, org["HQ"], customer_filter="q=没有同意")
    assert "marketing consent" in str(no_consent.value)
    with translation.override("en"), pytest.raises(ValidationError) as nothing:
        make_campaign(marketing_user, org["HQ"], customer_filter="q=不存在的名字")
    assert "no customer" in str(nothing.value)


def test_reps_and_outsiders_may_not_create_campaigns(org, shenzhen_sales_rep, outsider):
    for user in (shenzhen_sales_rep, outsider):
        with pytest.raises(PermissionDenied):
            make_campaign(user, org["GD-SZ"])


def test_campaign_figures_match_a_hand_computed_example(org, marketing_user, shenzhen_sales_rep, finance_clerk):
    customers = [consenting(shenzhen_sales_rep, name=f"示例客户{i}") for i in range(10)]
    campaign = make_campaign(marketing_user, org["HQ"], customer_filter="q=示例客户", budget=Decimal("20000"))
    ladder = [P.TARGETED] * 2 + [P.INVITED] * 3 + [P.REGISTERED, P.ATTENDED, P.ATTENDED, P.RESPONDED, P.CONVERTED]
    for customer, status in zip(customers, ladder, strict=True):
        participation_set(
            participation=campaign.participations.get(customer=customer), status=status, by=marketing_user
        )
    OpportunityFactory(customer=customers[9], campaign=campaign, stage="won", amount=Decimal("100000"))
    OpportunityFactory(customer=customers[8], campaign=campaign, stage="won", amount=Decimal("50000"))
    OpportunityFactory(customer=customers[7], campaign=campaign, stage="proposal", amount=Decimal("30000"))
    OpportunityFactory(customer=customers[6], stage="won", amount=Decimal("999"))  # not from the campaign

    results = campaign_results(campaign=campaign, viewer=marketing_user)
    # By hand: 10 targets; invited or further 8; reacted (registered or further) 5; attended or further 4;
    # converted 1. Response 5/8 = 62.5 %, conversion 1/8 = 12.5 %. Revenue 100,000 + 50,000.
    assert (results.targets, results.invited, results.responded, results.attended, results.converted) == (
        10,
        8,
        5,
        4,
        1,
    )
    assert results.response_rate == Decimal("62.5")
    assert results.conversion_rate == Decimal("12.5")
    assert (results.opportunities, results.won, results.revenue) == (3, 2, Decimal("150000"))
    assert results.cost_per_conversion == Decimal("20000.00")


def test_figures_count_only_what_the_viewer_may_see(
    org, hq_executive, shenzhen_sales_rep, guangzhou_sales_rep, guangdong_sales_manager
):
    a, b = consenting(shenzhen_sales_rep), consenting(guangzhou_sales_rep)
    campaign = make_campaign(guangdong_sales_manager, org["GD"])
    assert campaign_results(campaign=campaign, viewer=guangdong_sales_manager).targets == 2
    assert campaign_results(campaign=campaign, viewer=shenzhen_sales_rep).targets == 1
    assert {a.pk, b.pk} == set(campaign.participations.values_list("customer_id", flat=True))


def test_participation_needs_the_campaign_and_the_customer(org, marketing_user, shenzhen_sales_rep, outsider):
    customer = consenting(shenzhen_sales_rep)
    campaign = make_campaign(marketing_user, org["HQ"])
    row = campaign.participations.get(customer=customer)
    with pytest.raises(PermissionDenied):
        participation_set(participation=row, status=P.ATTENDED, by=outsider)
    with pytest.raises(ValidationError):
        participation_set(participation=row, status="partying", by=marketing_user)
    participation_set(participation=row, status=P.ATTENDED, by=marketing_user)
    assert CampaignParticipation.objects.get(pk=row.pk).status == P.ATTENDED


def test_participation_import_reports_bad_rows_and_applies_good_ones(
    org, marketing_user, shenzhen_sales_rep, beijing_sales_rep
):
    a, b = consenting(shenzhen_sales_rep), consenting(shenzhen_sales_rep)
    campaign = make_campaign(marketing_user, org["HQ"], customer_filter=f"owner={shenzhen_sales_rep.pk}")
    outside = consenting(beijing_sales_rep)
    content = (
        "客户编号,状态\n"
        f"{a.number},attended\n"
        f"{b.number},已转化\n"
        f"{outside.number},attended\n"
        f"{a.number},跳舞\n"
        "C99999999,invited\n"
    ).encode("gb18030")
    report = participation_import(campaign=campaign, content=content, filename="名单.csv", by=marketing_user)
    assert report.updated == 2
    assert [n for n, _m in report.problems] == [4, 5, 6]
    statuses = dict(campaign.participations.values_list("customer_id", "status"))
    assert statuses == {a.pk: P.ATTENDED, b.pk: P.CONVERTED}


def test_rebuilding_keeps_progress_and_drops_stale_targets(org, marketing_user, shenzhen_sales_rep):
    a, b = consenting(shenzhen_sales_rep, name="重建甲"), consenting(shenzhen_sales_rep, name="重建乙")
    campaign = make_campaign(marketing_user, org["HQ"], customer_filter="q=重建")
    participation_set(participation=campaign.participations.get(customer=a), status=P.INVITED, by=marketing_user)
    Customer.objects.filter(pk__in=[a.pk, b.pk]).update(name="改名了")
    Customer.objects.filter(pk__in=[a.pk, b.pk]).update(name_normalized="改名了")
    c = consenting(shenzhen_sales_rep, name="重建丙")
    campaign_target_build(campaign=campaign, by=marketing_user)
    assert set(campaign.participations.values_list("customer_id", flat=True)) == {a.pk, c.pk}
