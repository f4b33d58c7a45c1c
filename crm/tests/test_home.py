"""The workbench shows each role what it may use, counted within the viewer's scope."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.tests.factories import ActivityFactory, ServiceCaseFactory


def test_rep_sees_own_followups_and_customers(client_for, shenzhen_sales_rep, guangzhou_sales_rep):
    mine = CustomerFactory(owner=shenzhen_sales_rep, name="我的客户")
    CustomerFactory(owner=guangzhou_sales_rep, name="别人的客户")
    ActivityFactory(customer=mine, subject="回电确认报价", follow_up_on=timezone.localdate())
    body = client_for(shenzhen_sales_rep).get(reverse("home")).content.decode()
    assert "我的客户" in body
    assert "别人的客户" not in body
    assert "回电确认报价" in body


def test_finance_clerk_has_no_followup_or_case_panels(client_for, finance_clerk):
    response = client_for(finance_clerk).get(reverse("home"))
    assert response.context["followups_today"] is None
    assert response.context["open_cases"] is None


def test_service_agent_sees_open_and_overdue_cases(client_for, service_agent, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ServiceCaseFactory(customer=customer, subject="漏水投诉", due_at=timezone.now() - timedelta(hours=1))
    response = client_for(service_agent).get(reverse("home"))
    assert response.context["open_case_count"] == 1
    assert response.context["overdue_case_count"] == 1
    assert "漏水投诉" in response.content.decode()


def test_manager_figures_count_only_their_scope(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep
):
    CustomerFactory(owner=shenzhen_sales_rep)
    CustomerFactory(owner=beijing_sales_rep)
    response = client_for(guangdong_sales_manager).get(reverse("home"))
    assert response.context["unit_figures"]["customers"] == 1
    assert response.context["pending_requests"] == []


def test_scope_figures_come_from_a_fresh_summary_and_equal_the_live_ones(
    client_for, guangdong_sales_manager, hq_executive, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep
):
    from crm.summaries import summaries_refresh

    CustomerFactory.create_batch(2, owner=shenzhen_sales_rep)
    CustomerFactory(owner=guangzhou_sales_rep)
    CustomerFactory(owner=None, org_unit=guangzhou_sales_rep.membership.unit)
    CustomerFactory(owner=beijing_sales_rep)
    live = {u: client_for(u).get(reverse("home")).context for u in (guangdong_sales_manager, hq_executive)}
    assert all(ctx["figures_as_of"] is None for ctx in live.values())  # no run yet: counted live

    summaries_refresh()
    for user, before in live.items():
        after = client_for(user).get(reverse("home")).context
        assert after["figures_as_of"] is not None, user.username
        assert after["visible_count"] == before["visible_count"]
        assert after["unit_figures"] == before["unit_figures"]
    assert live[guangdong_sales_manager]["unit_figures"] == {"customers": 4, "without_owner": 1}
    # An owner-only scope is not unit-shaped: always live.
    assert client_for(shenzhen_sales_rep).get(reverse("home")).context["figures_as_of"] is None


def test_a_manager_with_shares_outside_the_province_gets_summary_plus_live_outside(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep, beijing_sales_manager
):
    """Shares outside the scope's units no longer make the whole figure live: the units come from
    the summary, the customers owned or shared outside them are counted live, and the sum equals
    the live count."""
    from crm.summaries import summaries_refresh
    from sharing.services import share_grant

    CustomerFactory.create_batch(2, owner=shenzhen_sales_rep)
    shared = CustomerFactory(owner=beijing_sales_rep)
    ownerless = CustomerFactory(owner=None, org_unit=beijing_sales_rep.membership.unit)
    CustomerFactory(owner=beijing_sales_rep)  # not shared: never counted
    for customer in (shared, ownerless):
        share_grant(customer=customer, action="view", user=guangdong_sales_manager, granted_by=beijing_sales_manager)
    live = client_for(guangdong_sales_manager).get(reverse("home")).context
    assert live["figures_as_of"] is None
    assert live["unit_figures"] == {"customers": 4, "without_owner": 1}

    summaries_refresh()
    after = client_for(guangdong_sales_manager).get(reverse("home")).context
    assert after["figures_as_of"] is not None
    assert after["unit_figures"] == live["unit_figures"]
    # Shares are live: a new one counts at once, before the next refresh.
    share_grant(
        customer=CustomerFactory(owner=beijing_sales_rep),
        action="view",
        user=guangdong_sales_manager,
        granted_by=beijing_sales_manager,
    )
    assert client_for(guangdong_sales_manager).get(reverse("home")).context["unit_figures"]["customers"] == 5


def test_case_badges_are_counted_up_to_a_cap(client_for, service_agent, shenzhen_sales_rep, monkeypatch):
    from crm import selectors

    monkeypatch.setattr(selectors, "HOME_COUNT_CAP", 2)
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ServiceCaseFactory.create_batch(3, customer=customer, due_at=timezone.now() - timedelta(hours=1))
    context = client_for(service_agent).get(reverse("home")).context
    assert (context["open_case_count"], context["open_case_label"]) == (2, "2+")
    assert context["overdue_case_label"] == "2+"
