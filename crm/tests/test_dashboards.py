"""Dashboard figures against a small hand-computed world, and their visibility."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import dashboards
from customers.tests.factories import ContactPointFactory, CustomerFactory
from interactions.models import Opportunity
from interactions.tests.factories import (
    ActivityFactory,
    OpportunityFactory,
    OrderFactory,
    PaymentFactory,
    ServiceCaseFactory,
)

PERIOD = dashboards.Period.last_days(90)


@pytest.fixture
def world(shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep):
    """Guangdong: 2 customers with 4 opportunities; Beijing: 1 customer with 1 won opportunity."""
    sz = CustomerFactory(owner=shenzhen_sales_rep, name="深圳客户")
    gz = CustomerFactory(owner=guangzhou_sales_rep, name="广州客户")
    bj = CustomerFactory(owner=beijing_sales_rep, name="北京客户")
    OpportunityFactory(customer=sz, stage="lead", amount=Decimal("100"))
    OpportunityFactory(customer=sz, stage="proposal", amount=Decimal("200"))
    OpportunityFactory(customer=gz, stage="won", amount=Decimal("300"), closed_at=timezone.now(), close_reason="价格")
    OpportunityFactory(customer=gz, stage="lost", amount=Decimal("50"), closed_at=timezone.now(), close_reason="竞品")
    OpportunityFactory(customer=bj, stage="won", amount=Decimal("999"), closed_at=timezone.now(), close_reason="关系")
    return {"sz": sz, "gz": gz, "bj": bj}


def _rows(section):
    return {row[0]: row for row in section.rows}


def test_funnel_counts_amounts_and_conversion_for_a_province_manager(world, guangdong_sales_manager):
    section = dashboards.funnel(guangdong_sales_manager, PERIOD)
    rows = _rows(section)
    label = {
        s: str(Opportunity.Stage(s).label) for s in ["lead", "qualified", "proposal", "negotiation", "won", "lost"]
    }
    # Now-at-stage counts and amounts: Beijing's won opportunity is not in Guangdong's figures.
    assert rows[label["lead"]][1:3] == [1, Decimal("100")]
    assert rows[label["proposal"]][1:3] == [1, Decimal("200")]
    assert rows[label["won"]][1:3] == [1, Decimal("300")]
    assert rows[label["lost"]][1:3] == [1, Decimal("50")]
    # Reached: lead 3 (lead+proposal+won), qualified 2, proposal 2, negotiation 1, won 1.
    assert [rows[label[s]][3] for s in ["lead", "qualified", "proposal", "negotiation", "won"]] == [3, 2, 2, 1, 1]
    assert rows[label["qualified"]][4] == pytest.approx(66.7)
    assert rows[label["won"]][4] == 100.0


def test_executive_funnel_counts_the_whole_company(world, hq_executive):
    rows = _rows(dashboards.funnel(hq_executive, PERIOD))
    assert rows[str(Opportunity.Stage("won").label)][1:3] == [2, Decimal("1299")]


def test_won_lost_reasons(world, guangdong_sales_manager):
    rows = dashboards.won_lost(guangdong_sales_manager, PERIOD).rows
    assert sorted((r[1], r[2]) for r in rows) == [("价格", 1), ("竞品", 1)]


def test_finance_sees_receivables_but_no_funnel(world, finance_clerk):
    today = timezone.localdate()
    PaymentFactory(
        customer=world["sz"],
        contract__quote__opportunity__customer=world["sz"],
        amount=Decimal("10"),
        due_on=today - timedelta(days=3),
    )
    PaymentFactory(
        customer=world["bj"],
        contract__quote__opportunity__customer=world["bj"],
        amount=Decimal("5"),
        due_on=today + timedelta(days=3),
    )
    assert dashboards.funnel(finance_clerk, PERIOD) is None
    section = dashboards.receivables(finance_clerk)
    assert section.summary["open_n"] == 2
    assert section.summary["open_amount"] == Decimal("15")
    assert section.summary["overdue_n"] == 1
    assert section.summary["overdue_amount"] == Decimal("10")
    assert [row[6] for row in section.rows] == [3]


def test_sales_rep_has_no_receivables(world, shenzhen_sales_rep):
    assert dashboards.receivables(shenzhen_sales_rep) is None


def test_service_figures_csat_nps_and_p90(world, service_agent):
    now = timezone.now()
    # Four closed cases with 10, 20, 30, 40 hours to resolve; recommend 10, 9, 5, 8 → NPS (2-1)/4 = 25.
    for hours, csat, nps in [(10, 5, 10), (20, 4, 9), (30, 2, 5), (40, 3, 8)]:
        received = now - timedelta(hours=hours + 1)
        ServiceCaseFactory(
            customer=world["sz"],
            status="closed",
            received_at=received,
            closed_at=received + timedelta(hours=hours),
            satisfaction=csat,
            recommend=nps,
            category="service",
            severity="normal",
        )
    ServiceCaseFactory(
        customer=world["gz"],
        received_at=now - timedelta(days=10),
        due_at=now - timedelta(days=1),
        category="price",
        severity="major",
    )
    summary = dashboards.service(service_agent, PERIOD).summary
    assert summary["closed"] == 4
    assert summary["avg_hours"] == 25.0
    assert summary["p90_hours"] == 40.0
    assert summary["csat"] == 3.5
    assert summary["nps"] == 25.0
    assert summary["overdue"] == 1
    assert summary["received"] == 5


def test_silent_customers_exclude_recent_activity_and_orders_and_other_provinces(world, guangdong_sales_manager):
    quiet = CustomerFactory(owner=world["sz"].owner, name="沉默客户")
    ActivityFactory(customer=world["sz"], occurred_at=timezone.now() - timedelta(days=5))
    OrderFactory(
        customer=world["gz"], contract__quote__opportunity__customer=world["gz"], ordered_on=timezone.localdate()
    )
    silent = set(dashboards.silent_customers(guangdong_sales_manager, 90))
    assert silent == {quiet}


@pytest.mark.parametrize(
    ("recency", "frequency", "monetary", "segment"),
    [
        (400, 5, 100, "dormant"),
        (200, 5, 100, "at_risk"),
        (10, 3, 100, "loyal"),
        (10, 1, 1, "new"),
        (100, 2, 1, "regular"),
    ],
)
def test_rfm_segment_rule(recency, frequency, monetary, segment):
    assert dashboards.rfm_segment(recency, frequency, Decimal(monetary), Decimal(50)) == segment


def test_rfm_segments_from_visible_payments(world, finance_clerk):
    today = timezone.localdate()
    for _ in range(3):  # 3 payments, 120,000 in all: at least RFM_HIGH_VALUE (100,000) → loyal
        PaymentFactory(
            customer=world["sz"],
            contract__quote__opportunity__customer=world["sz"],
            amount=Decimal("40000"),
            paid_on=today - timedelta(days=5),
            status="paid",
        )
    PaymentFactory(
        customer=world["bj"],
        contract__quote__opportunity__customer=world["bj"],
        amount=Decimal("10"),
        paid_on=today - timedelta(days=400),
        status="paid",
    )
    section = dashboards.rfm(finance_clerk)
    segments = {c["customer__number"]: c["segment"] for c in section.summary["customers"]}
    assert segments == {world["sz"].number: "loyal", world["bj"].number: "dormant"}


def test_data_quality_per_unit_counts_only_the_managers_scope(world, guangdong_sales_manager, org):
    world["sz"].quality_score = 80
    world["sz"].save()
    world["gz"].quality_score = 40
    world["gz"].save()
    ContactPointFactory(customer=world["sz"], is_valid=False)
    section = dashboards.data_quality(guangdong_sales_manager)
    assert section.summary["avg"] == 60.0
    units = {row[0]: row for row in section.rows}
    assert set(units) == {org["GD-SZ"].name, org["GD-GZ"].name}
    assert units[org["GD-SZ"].name][3] == 1


def test_dashboard_page_renders_for_each_role_without_leaking_other_provinces(
    world, client_for, guangdong_sales_manager, beijing_sales_manager
):
    body = client_for(guangdong_sales_manager).get(reverse("dashboards:index")).content.decode()
    assert "999" not in body  # Beijing's won amount
    response = client_for(beijing_sales_manager).get(reverse("dashboards:silent"))
    assert "深圳客户" not in response.content.decode()


def test_unit_filter_outside_scope_answers_404(world, client_for, guangdong_sales_manager, org):
    client = client_for(guangdong_sales_manager)
    assert client.get(reverse("dashboards:index"), {"unit": org["GD-SZ"].pk}).status_code == 200
    assert client.get(reverse("dashboards:index"), {"unit": org["BJ"].pk}).status_code == 404


def test_csv_download_is_logged(world, client_for, guangdong_sales_manager):
    from auditlog.models import LogEntry

    response = client_for(guangdong_sales_manager).get(
        reverse("dashboards:index"), {"section": "funnel", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    assert LogEntry.objects.filter(additional_data__what="export_dashboard", actor=guangdong_sales_manager).exists()


def test_dashboard_query_count_does_not_grow_with_rows(
    world, client_for, hq_executive, django_assert_max_num_queries, shenzhen_sales_rep
):
    client = client_for(hq_executive)
    client.get(reverse("dashboards:index"))
    for _ in range(20):
        OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep))
    with django_assert_max_num_queries(40):
        assert client.get(reverse("dashboards:index")).status_code == 200


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("dashboards:index"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_per_unit_sections_show_the_largest_units_and_the_csv_has_all(
    world, client_for, guangdong_sales_manager, org, monkeypatch
):
    """With more units than the page shows, the page lists those with the largest figures and says
    how many more the CSV holds; the CSV keeps every unit."""
    world["sz"].quality_score = 80
    world["sz"].save()
    for _ in range(2):
        CustomerFactory(owner=world["sz"].owner, org_unit=org["GD-SZ"])
    monkeypatch.setattr(dashboards, "SHOWN_UNIT_ROWS", 1)
    client = client_for(guangdong_sales_manager)
    response = client.get(reverse("dashboards:index"))
    quality = next(s for s in response.context["sections"] if s.key == "quality")
    assert len(quality.rows) == 2
    assert [row[0] for row in quality.shown_rows] == [org["GD-SZ"].name]  # the unit with more customers
    assert quality.more_rows == 1
    assert 'data-testid="more-quality"' in response.content.decode()
    csv = client.get(reverse("dashboards:index"), {"section": "quality", "format": "csv"}).content.decode()
    assert org["GD-SZ"].name in csv and org["GD-GZ"].name in csv


def test_sections_other_than_per_unit_are_shown_whole():
    section = dashboards.Section("receivables", "R", ["a", "b"], [[f"P{i}", i] for i in range(60)])
    rows, chart, more = section.shown(limit=25)
    assert rows == section.rows and more == 0
