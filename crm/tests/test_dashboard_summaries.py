"""Precomputed dashboard summaries: the same figures as live, for every persona, or no summary at all.

The proof is a random world (customers in every unit and without one, owners, merged and inactive
customers, quality scores, invalid contact points, duplicate pairs across units, opportunities,
payments, activities, orders and service cases at random ages, shares reaching outside a manager's
province): after `summaries_refresh()`, every persona's dashboard (and every unit filter they may
choose) is the live dashboard figure for figure; and the summary is used wherever the scope has
units (plus the live part of the customers owned or shared outside them), so the comparison is
not vacuous.
"""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import dashboards
from crm.dashboard_views import _unit_choices
from crm.models import DashboardSummary, SummaryRun
from crm.summaries import FUNNEL_PERIODS, SUMMARY_MAX_AGE, summaries_refresh, summary_source
from crm.tasks import dashboard_summaries_refresh_task
from customers.models import Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory
from dedup.models import CandidatePair
from interactions.models import Activity, Opportunity, Order
from interactions.tests.factories import (
    ActivityFactory,
    OpportunityFactory,
    OrderFactory,
    PaymentFactory,
    ServiceCaseFactory,
)
from sharing.principal import forget_principal
from sharing.services import share_grant

PERSONAS = [
    "admin",
    "ceo",
    "gd_manager",
    "sz_rep",
    "gz_rep",
    "bj_manager",
    "bj_rep",
    "channel1",
    "dealer1",
    "service1",
    "finance1",
    "steward1",
    "auditor1",
]
# Sections read from the summary (plus the live outside part) by any scope with units.
SPLIT_SECTIONS = {"funnel", "won_lost", "activities", "service", "rfm", "silent", "quality"}


def build_world(seed: int, org, users):
    """A few dozen customers spread over every unit, with interactions of every age."""
    rng = random.Random(seed)
    now = timezone.now()
    today = timezone.localdate()
    units = list(org.values())
    owners = [users[name] for name in ("sz_rep", "gz_rep", "bj_rep", "dealer1", "gd_manager", "bj_manager")]
    customers = []
    for _ in range(45):
        owner = rng.choice(owners) if rng.random() < 0.8 else None
        # Mostly the owner's own unit (so managers stay unit-shaped), sometimes any unit or none.
        if owner is not None and rng.random() < 0.85:
            unit = owner.membership.unit
        else:
            unit = rng.choice(units) if rng.random() < 0.9 else None
        customer = CustomerFactory(
            owner=owner,
            org_unit=unit,
            quality_score=rng.choice([None, 20, 55, 80, 100]),
            status=rng.choice(["active"] * 6 + ["inactive", "merged"]),
        )
        customers.append(customer)
        if rng.random() < 0.3:
            ContactPointFactory(customer=customer, is_valid=False)
        for _ in range(rng.randint(0, 3)):
            opportunity = OpportunityFactory(
                customer=customer,
                stage=rng.choice(["lead", "qualified", "proposal", "negotiation", "won", "lost"]),
                amount=Decimal(rng.randint(1, 500) * 100),
            )
            Opportunity.objects.filter(pk=opportunity.pk).update(
                created_at=now - timedelta(days=rng.randint(0, 400), hours=rng.choice([3, 15]))
            )
        for _ in range(rng.choice([0, 0, 1, 3, 4])):
            PaymentFactory(
                customer=customer,
                contract__quote__opportunity__customer=customer,
                amount=Decimal(rng.choice([5000, 40000, 60000])),
                status="paid",
                paid_on=today - timedelta(days=rng.choice([3, 60, 120, 200, 300, 500])),
            )
        if rng.random() < 0.5:
            activity = ActivityFactory(customer=customer)
            Activity.objects.filter(pk=activity.pk).update(
                occurred_at=now - timedelta(days=rng.randint(0, 200), hours=rng.choice([3, 15]))
            )
        if rng.random() < 0.2:
            order = OrderFactory(customer=customer, contract__quote__opportunity__customer=customer)
            Order.objects.filter(pk=order.pk).update(ordered_on=today - timedelta(days=rng.randint(0, 200)))
        if rng.random() < 0.3:
            PaymentFactory(
                customer=customer,
                contract__quote__opportunity__customer=customer,
                amount=Decimal(rng.choice([1000, 2500])),
                due_on=today + timedelta(days=rng.choice([-40, -3, 10])),
            )
        if rng.random() < 0.4:
            received = now - timedelta(days=rng.randint(0, 400), hours=rng.choice([3, 15]))
            closed = rng.random() < 0.7
            ServiceCaseFactory(
                customer=customer,
                received_at=received,
                due_at=received + timedelta(days=rng.choice([1, 30, 500])),
                status="closed" if closed else "received",
                closed_at=received + timedelta(hours=rng.randint(1, 300)) if closed else None,
                satisfaction=rng.choice([None, 1, 3, 5]) if closed else None,
                recommend=rng.choice([None, 2, 7, 9, 10]) if closed else None,
                category=rng.choice(["product_quality", "service", "price", "other"]),
                severity=rng.choice(["normal", "major"]),
            )
    for _ in range(15):
        a, b = sorted(rng.sample(customers, 2), key=lambda c: c.pk)
        CandidatePair.objects.get_or_create(a=a, b=b, defaults={"score": 90, "band": "high"})
    return customers


def comparable(section):
    summary = {k: v for k, v in section.summary.items() if k != "customers"}
    return section.rows, section.chart, summary


def assert_summary_equals_live(user, period, unit=None) -> bool:
    """Compare every section; return whether the summary was used (some section has computed_at)."""
    forget_principal(user)
    live = {s.key: s for s in dashboards.dashboard(user, period=period, unit=unit, use_summary=False)}
    forget_principal(user)
    precomputed = {s.key: s for s in dashboards.dashboard(user, period=period, unit=unit)}
    assert live.keys() == precomputed.keys()
    for key, section in live.items():
        assert section.computed_at is None
        assert comparable(precomputed[key]) == comparable(section), (user.username, unit, key)
    return any(s.computed_at is not None for s in precomputed.values())


@pytest.fixture
def users(org):
    from crm.demo import ensure_persona

    return {name: ensure_persona(name, org, password="pw") for name in PERSONAS}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summary_figures_equal_live_figures_for_every_persona_and_unit_filter(db, org, users, seed):
    customers = build_world(seed, org, users)
    # Shares reaching outside Beijing, and an owned customer without a unit: bj_manager reads the
    # summary of his units plus the live figures of these, each with figures in every section.
    beijing = (org["BJ"].pk, org["BJ-CY"].pk)
    outside = [c for c in customers if c.org_unit_id not in beijing][:3]
    outside.append(outside_customer_with_figures(users, org["GD-SZ"], pair_with=customers))
    outside.append(outside_customer_with_figures(users, None, owner=users["bj_manager"]))
    for customer in outside:
        if customer.owner_id != users["bj_manager"].pk:
            share_grant(
                customer=customer, action="view", granted_by=users["admin"], user=users["bj_manager"], reason="t"
            )
    summaries_refresh()
    forget_principal(users["bj_manager"])
    assert summary_source(users["bj_manager"]).reaches_outside
    used = set()
    for name, user in users.items():
        for days in (*FUNNEL_PERIODS, 45):
            period = dashboards.Period.last_days(days)
            if assert_summary_equals_live(user, period):
                used.add(name)
        for unit in _unit_choices(user):
            assert_summary_equals_live(user, dashboards.Period.last_days(90), unit)
    # Every scope with units reads the summary, the manager with outside shares too; owner-only
    # scopes stay live.
    assert {"ceo", "finance1", "service1", "auditor1", "steward1", "admin", "gd_manager", "bj_manager"} <= used
    assert not used & {"sz_rep", "gz_rep", "bj_rep", "dealer1"}
    forget_principal(users["bj_manager"])
    sections = dashboards.dashboard(users["bj_manager"], period=dashboards.Period.last_days(90))
    split = {s.key for s in sections if s.computed_at is not None}
    assert split == SPLIT_SECTIONS & {s.key for s in sections}
    assert {"funnel", "won_lost", "activities", "service", "silent", "quality"} <= split
    # The executive also reads the company-wide service and receivables figures.
    forget_principal(users["ceo"])
    ceo_sections = dashboards.dashboard(users["ceo"], period=dashboards.Period.last_days(90))
    assert all(s.computed_at is not None for s in ceo_sections)


def outside_customer_with_figures(users, unit, *, owner=None, pair_with=()):
    """A customer with a figure in every section: funnel and won/lost, an activity, a paid payment,
    service cases, silent (its activity is old), an invalid contact point, a duplicate pair with a
    visible customer."""
    now = timezone.now()
    customer = CustomerFactory(owner=owner or users["gz_rep"], org_unit=unit, quality_score=42)
    ContactPointFactory(customer=customer, is_valid=False)
    OpportunityFactory(customer=customer, stage="lead", amount=Decimal("1234.50"))
    won = OpportunityFactory(customer=customer, stage="lost", amount=Decimal("800"), close_reason="价格高")
    Opportunity.objects.filter(pk=won.pk).update(closed_at=now - timedelta(days=2))
    activity = ActivityFactory(customer=customer, user=users["bj_rep"])
    Activity.objects.filter(pk=activity.pk).update(occurred_at=now - timedelta(days=100))
    PaymentFactory(
        customer=customer,
        contract__quote__opportunity__customer=customer,
        status="paid",
        paid_on=timezone.localdate() - timedelta(days=20),
    )
    # A closed case (7.25 h: the half-up 0.1 h rounding of the buckets) and an overdue open one.
    received = now - timedelta(days=10)
    ServiceCaseFactory(
        customer=customer,
        received_at=received,
        status="closed",
        closed_at=received + timedelta(hours=7, minutes=15),
        satisfaction=4,
        recommend=10,
        category="price",
    )
    ServiceCaseFactory(customer=customer, received_at=received, due_at=now - timedelta(days=1), severity="major")
    beijing = [c for c in pair_with if c.org_unit and c.org_unit.code.startswith("BJ") and c.status != "merged"]
    for other in beijing[:1]:
        a, b = sorted([customer, other], key=lambda c: c.pk)
        CandidatePair.objects.get_or_create(a=a, b=b, defaults={"score": 90, "band": "high"})
    return customer


def test_a_province_manager_with_only_the_provinces_customers_reads_the_summary(db, org, users):
    build_world(7, org, users)
    # Move whatever gd_manager owns outside Guangdong into the province: the scope is then unit-shaped.
    outside = Customer.objects.filter(owner=users["gd_manager"]).exclude(org_unit__path__startswith=org["GD"].path)
    outside.update(org_unit=org["GD"])
    summaries_refresh()
    assert summary_source(users["gd_manager"]) is not None
    assert assert_summary_equals_live(users["gd_manager"], dashboards.Period.last_days(90))
    assert assert_summary_equals_live(users["gd_manager"], dashboards.Period.last_days(90), org["GD-SZ"])


def test_owner_only_scopes_stay_live_and_outside_reaching_scopes_get_the_outside_part(db, org, users):
    summaries_refresh()
    assert summary_source(users["sz_rep"]) is None  # own records only
    gd_manager = users["gd_manager"]
    assert not summary_source(gd_manager).reaches_outside
    beijing = CustomerFactory(owner=users["bj_rep"], org_unit=org["BJ"])
    share_grant(customer=beijing, action="view", granted_by=users["admin"], user=gd_manager, reason="project")
    assert summary_source(gd_manager).outside == (beijing.pk,)  # a share outside the province
    forget_principal(users["bj_manager"])
    no_unit = CustomerFactory(owner=users["bj_manager"], org_unit=None)
    assert summary_source(users["bj_manager"]).outside == (no_unit.pk,)  # owns a customer without a unit


def test_a_stale_or_yesterdays_run_is_not_used(db, org, users):
    run = summaries_refresh()
    assert summary_source(users["ceo"]) is not None
    SummaryRun.objects.filter(pk=run.pk).update(as_of=timezone.now() - SUMMARY_MAX_AGE - timedelta(minutes=1))
    assert summary_source(users["ceo"]) is None
    SummaryRun.objects.filter(pk=run.pk).update(as_of=timezone.now(), today=timezone.localdate() - timedelta(days=1))
    assert summary_source(users["ceo"]) is None
    sections = dashboards.dashboard(users["ceo"], period=dashboards.Period.last_days(90))
    assert all(s.computed_at is None for s in sections)


def test_refresh_is_idempotent_and_the_task_runs_it(db, org, users):
    build_world(11, org, users)
    first = summaries_refresh()
    figures = sorted(
        DashboardSummary.objects.filter(run=first).values_list("metric", "org_unit", "bucket", "n"), key=str
    )
    run_id = dashboard_summaries_refresh_task.apply().get()  # in-process, with or without a broker
    assert list(SummaryRun.objects.values_list("pk", flat=True)) == [run_id]
    again = sorted(
        DashboardSummary.objects.filter(run_id=run_id).values_list("metric", "org_unit", "bucket", "n"), key=str
    )
    assert again == figures


def test_the_page_says_when_figures_were_computed_and_a_unit_outside_scope_is_still_404(db, org, users, client_for):
    CustomerFactory(owner=users["sz_rep"], name="深圳静默客户")
    CustomerFactory(owner=users["bj_rep"], name="北京静默客户")
    summaries_refresh()
    client = client_for(users["gd_manager"])
    body = client.get(reverse("dashboards:index")).content.decode()
    assert 'data-testid="source-quality"' in body
    assert "Precomputed" in body or "预先计算" in body
    assert "北京市公司" not in body  # Beijing's unit is not among the manager's rows or filter choices
    assert client.get(reverse("dashboards:index"), {"unit": org["BJ"].pk}).status_code == 404
    assert client.get(reverse("dashboards:index"), {"unit": org["GD-SZ"].pk}).status_code == 200
    rep_body = client_for(users["sz_rep"]).get(reverse("dashboards:index")).content.decode()
    assert "Live" in rep_body or "实时" in rep_body


def test_the_summary_dashboard_needs_few_queries(db, org, users, client_for, django_assert_max_num_queries):
    build_world(5, org, users)
    summaries_refresh()
    client = client_for(users["ceo"])
    client.get(reverse("dashboards:index"))
    with django_assert_max_num_queries(15):
        assert client.get(reverse("dashboards:index")).status_code == 200


def test_no_unit_rows_count_only_for_everything_scopes(db, org, users):
    CustomerFactory(owner=None, org_unit=None, quality_score=10)
    summaries_refresh()
    ceo_quality = next(
        s for s in dashboards.dashboard(users["ceo"], period=dashboards.Period.last_days(90)) if s.key == "quality"
    )
    assert ["—", 1, 10.0, 0, 1] in ceo_quality.rows
    gd = next(
        s
        for s in dashboards.dashboard(users["gd_manager"], period=dashboards.Period.last_days(90))
        if s.key == "quality"
    )
    assert gd.computed_at is not None
    assert all(row[0] != "—" for row in gd.rows)


def test_the_command_refreshes_on_demand(db, org, users):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("dashboard_summaries", stdout=out)
    run = SummaryRun.objects.get()
    assert f"summary run {run.pk}" in out.getvalue()
