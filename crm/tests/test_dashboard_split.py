"""Dashboards of managers whose scope reaches outside their units: summary of the units + live part.

The visible set is the customers of the scope's units plus those the viewer owns or holds a live
share of outside them; every additive section adds the summary rows of the units to the same
figure computed live over that outside part (crm/summaries.py). So a share granted after the
summary run counts at once, an expired share counts nowhere, and a viewer without the share sees
nothing of the shared customer, not even in a count.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import dashboards
from crm.models import SummaryRun
from crm.summaries import summaries_refresh, summary_source
from crm.tests.test_dashboard_summaries import PERSONAS, build_world, comparable, outside_customer_with_figures
from sharing.models import CustomerUserShare
from sharing.principal import forget_principal
from sharing.services import share_grant

PERIOD_DAYS = 90
SPLIT = {"funnel", "won_lost", "activities", "service", "silent", "quality"}


@pytest.fixture
def users(org):
    from crm.demo import ensure_persona

    return {name: ensure_persona(name, org, password="pw") for name in PERSONAS}


def figures(user, *, use_summary=True, unit=None) -> dict:
    forget_principal(user)
    sections = dashboards.dashboard(
        user, period=dashboards.Period.last_days(PERIOD_DAYS), unit=unit, use_summary=use_summary
    )
    return {s.key: (comparable(s), s.computed_at is not None) for s in sections}


def figures_only(result: dict) -> dict:
    return {key: value for key, (value, _from_summary) in result.items()}


@pytest.fixture
def zhejiang_customers(org, users):
    """Two customers of Zhejiang (outside both provinces) with a figure in every section between them:
    one silent (its activity is 100 days old), one with an activity last week."""
    from interactions.tests.factories import ActivityFactory

    build_world(21, org, users)
    silent = outside_customer_with_figures(users, org["ZJ-HZ"], owner=users["bj_rep"])
    active = outside_customer_with_figures(users, org["ZJ-HZ"], owner=users["bj_rep"])
    ActivityFactory(customer=active, user=users["bj_rep"], occurred_at=timezone.now() - timedelta(days=5))
    return [silent, active]


def share_all(customers, user, granted_by, **kwargs):
    for customer in customers:
        share_grant(customer=customer, action="view", granted_by=granted_by, user=user, reason="t", **kwargs)


def test_a_new_share_outside_the_scope_counts_at_once_without_a_new_run(db, org, users, zhejiang_customers):
    gd_manager = users["gd_manager"]
    run = summaries_refresh()
    before = figures(gd_manager)
    share_all(zhejiang_customers, gd_manager, users["admin"])
    after = figures(gd_manager)
    assert list(SummaryRun.objects.values_list("pk", flat=True)) == [run.pk]  # no re-run
    for key in SPLIT:
        assert after[key][1], key  # read from the summary (+ the live outside part) …
        assert after[key][0] != before[key][0], key  # … and the new share counts at once
    assert figures_only(after) == figures_only(figures(gd_manager, use_summary=False))
    zhejiang = org["ZJ-HZ"].name
    assert any(row[0] == zhejiang for row in after["quality"][0][0])  # shown under its own unit
    assert any(row[0] == zhejiang for row in after["silent"][0][0])


def test_an_expired_share_does_not_count(db, org, users, zhejiang_customers):
    gd_manager = users["gd_manager"]
    summaries_refresh()
    before = figures(gd_manager)
    share_all(zhejiang_customers, gd_manager, users["admin"], expires_at=timezone.now() + timedelta(days=1))
    assert figures_only(figures(gd_manager)) != figures_only(before)
    CustomerUserShare.objects.filter(user=gd_manager).update(expires_at=timezone.now() - timedelta(seconds=1))
    forget_principal(gd_manager)
    assert summary_source(gd_manager).outside == ()
    after = figures(gd_manager)
    assert figures_only(after) == figures_only(before) == figures_only(figures(gd_manager, use_summary=False))
    assert all(after[key][1] for key in SPLIT)


def test_a_viewer_without_the_share_sees_nothing_of_it(db, org, users, zhejiang_customers):
    summaries_refresh()
    others = [users[name] for name in ("bj_manager", "sz_rep", "bj_rep", "dealer1")]
    before = {user.username: figures(user) for user in others}
    share_all(zhejiang_customers, users["gd_manager"], users["admin"])
    zhejiang = org["ZJ-HZ"].name
    for user in others:
        after = figures(user)
        assert after == before[user.username], user.username
        assert figures_only(after) == figures_only(figures(user, use_summary=False))
        if user.username != "bj_rep":  # the owner sees it, the others nothing of it
            assert zhejiang not in str(figures_only(after)), user.username


def test_a_customer_without_a_unit_owned_by_the_manager_counts_under_no_unit(db, org, users):
    build_world(22, org, users)
    summaries_refresh()
    no_unit = outside_customer_with_figures(users, None, owner=users["gd_manager"])
    result = figures(users["gd_manager"])
    assert summary_source(users["gd_manager"]).outside == (no_unit.pk,)
    assert ["—", 1] in result["silent"][0][0]
    assert any(row[0] == "—" for row in result["quality"][0][0])
    assert figures_only(result) == figures_only(figures(users["gd_manager"], use_summary=False))
    # A unit filter leaves out a customer without a unit, on both paths.
    filtered = figures(users["gd_manager"], unit=org["GD-SZ"])
    assert not any(row[0] == "—" for row in filtered["quality"][0][0])
    assert figures_only(filtered) == figures_only(figures(users["gd_manager"], use_summary=False, unit=org["GD-SZ"]))


def test_a_share_inside_the_unit_filter_counts_in_the_filtered_dashboard(db, org, users):
    """A unit-scoped manager (his unit only) with a share in a child unit: the unit filter keeps it."""
    build_world(23, org, users)
    child = outside_customer_with_figures(users, org["GD-SZ-D1"], owner=users["sz_rep"])
    summaries_refresh()
    for name in ("gd_manager", "bj_manager"):
        share_grant(customer=child, action="view", granted_by=users["admin"], user=users[name], reason="t")
        for unit in [None, *dashboards_units(users[name])]:
            assert figures_only(figures(users[name], unit=unit)) == figures_only(
                figures(users[name], use_summary=False, unit=unit)
            ), (name, unit)


def dashboards_units(user):
    from crm.dashboard_views import _unit_choices

    return _unit_choices(user)


@pytest.mark.parametrize("persona", ["ceo", "gd_manager"])
def test_the_dashboard_page_makes_at_most_15_queries(db, org, users, client_for, persona, zhejiang_customers):
    share_all(zhejiang_customers, users["gd_manager"], users["admin"])
    summaries_refresh()
    forget_principal(users[persona])
    assert summary_source(users[persona]) is not None
    client = client_for(users[persona])
    client.get(reverse("dashboards:index"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("dashboards:index")).status_code == 200
    assert len(queries.captured_queries) <= 15, [q["sql"][:120] for q in queries.captured_queries]


def test_service_hours_are_the_half_up_tenth_of_the_nearest_rank_p90_and_of_the_mean(db, org, users):
    """Resolution buckets of 0.1 h (half up) make the p90 additive; the figure is the reference one."""
    from decimal import ROUND_HALF_UP, Decimal

    from customers.tests.factories import CustomerFactory
    from interactions.tests.factories import ServiceCaseFactory

    received = timezone.now() - timedelta(days=5)
    seconds = [540, 4500, 8460, 30, 359, 181, 180, 179, 36_000, 1_080]  # 0.15 h, 1.25 h … ties and near-ties
    for n, duration in enumerate(seconds):
        customer = CustomerFactory(owner=users["sz_rep"], org_unit=org["GD-SZ"] if n % 2 else org["GD-GZ"])
        ServiceCaseFactory(
            customer=customer,
            received_at=received,
            status="closed",
            closed_at=received + timedelta(seconds=duration, microseconds=n),
        )
    tenth = Decimal("0.1")
    ordered = sorted(Decimal(d) + Decimal(n) / 1_000_000 for n, d in enumerate(seconds))
    p90 = ordered[-(-9 * len(ordered) // 10) - 1] / 3600
    mean = sum(ordered) / len(ordered) / 3600
    expected = (float(mean.quantize(tenth, ROUND_HALF_UP)), float(p90.quantize(tenth, ROUND_HALF_UP)))
    period = dashboards.Period.last_days(PERIOD_DAYS)
    for name in ("gd_manager", "ceo", "service1"):
        forget_principal(users[name])
        live = dashboards.service(users[name], period)
        assert (live.summary["avg_hours"], live.summary["p90_hours"]) == expected, name
    summaries_refresh()
    for name in ("gd_manager", "ceo", "service1"):
        forget_principal(users[name])
        source = summary_source(users[name])
        source.page_days = PERIOD_DAYS
        summarised = dashboards.service(users[name], period, source=source)
        assert summarised.computed_at is not None
        assert comparable(summarised) == comparable(dashboards.service(users[name], period)), name
