"""The customer timeline and the 360 sections: what each viewer sees, in what order, at what cost."""

from datetime import timedelta

from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.selectors import customer_360_sections, customer_timeline
from interactions.tests.factories import (
    ActivityFactory,
    ContractFactory,
    OpportunityFactory,
    PaymentFactory,
    ServiceCaseFactory,
    ShipmentFactory,
)


def _fill(customer, n):
    """n timeline entries of mixed kinds, one minute apart."""
    now = timezone.now()
    for i in range(n):
        ActivityFactory(customer=customer, occurred_at=now - timedelta(minutes=i + 1))


def test_timeline_shows_every_kind_the_viewer_may_see_newest_first(administrator, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    old = ActivityFactory(customer=customer, occurred_at=timezone.now() - timedelta(days=3))
    shipment = ShipmentFactory(order__contract__quote__opportunity__customer=customer)
    payment = PaymentFactory(contract=shipment.order.contract)
    case = ServiceCaseFactory(customer=customer)

    page = customer_timeline(customer=customer, user=administrator)

    kinds = [e.kind for e in page.object_list]
    assert set(kinds) == {
        "activity",
        "opportunity",
        "quote",
        "contract",
        "order",
        "shipment",
        "payment",
        "service_case",
    }
    assert page.object_list[-1].pk == old.pk and page.object_list[-1].kind == "activity"
    dates = [e.date for e in page.object_list]
    assert dates == sorted(dates, reverse=True)
    by_kind = {e.kind: e for e in page.object_list}
    assert by_kind["payment"].title == payment.number
    assert by_kind["payment"].url == reverse("interactions:payment_detail", args=[payment.pk])
    assert by_kind["service_case"].url == reverse("interactions:case_detail", args=[case.pk])
    assert by_kind["activity"].url is None


def test_timeline_leaves_out_the_kinds_a_role_may_not_see(shenzhen_sales_rep, finance_clerk, service_agent):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ActivityFactory(customer=customer)
    payment = PaymentFactory(contract__quote__opportunity__customer=customer)
    ServiceCaseFactory(customer=customer)

    rep_kinds = {e.kind for e in customer_timeline(customer=customer, user=shenzhen_sales_rep).object_list}
    finance_kinds = {e.kind for e in customer_timeline(customer=customer, user=finance_clerk).object_list}
    service_kinds = {e.kind for e in customer_timeline(customer=customer, user=service_agent).object_list}

    assert rep_kinds == {"activity", "opportunity", "quote", "contract", "service_case"}
    assert finance_kinds == {"payment"}
    assert service_kinds == {"activity", "service_case"}
    assert payment.contract.number not in [e.title for e in customer_timeline(customer=customer, user=finance_clerk)]


def test_timeline_of_a_hidden_customer_is_empty(shenzhen_sales_rep, beijing_sales_manager):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ActivityFactory(customer=customer)
    assert list(customer_timeline(customer=customer, user=beijing_sales_manager).object_list) == []


def test_timeline_filters_by_kind(administrator, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ActivityFactory(customer=customer)
    ServiceCaseFactory(customer=customer)
    page = customer_timeline(customer=customer, user=administrator, kinds=["service_case"])
    assert [e.kind for e in page.object_list] == ["service_case"]


def test_timeline_pages_through_entries_in_order(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    _fill(customer, 45)
    first = customer_timeline(customer=customer, user=shenzhen_sales_rep, page=1)
    third = customer_timeline(customer=customer, user=shenzhen_sales_rep, page=3)
    assert first.paginator.count == 45
    assert len(first.object_list) == 20 and len(third.object_list) == 5
    assert first.object_list[0].date > third.object_list[-1].date
    # A page number past the end shows the last page.
    assert customer_timeline(customer=customer, user=shenzhen_sales_rep, page=99).number == 3


def _timeline_queries(user, customer):
    user.__dict__.pop("_crm_principal", None)
    customer_timeline(customer=customer, user=user)  # warm the principal
    with CaptureQueriesContext(connection) as ctx:
        list(customer_timeline(customer=customer, user=user).object_list)
    return len(ctx.captured_queries)


def test_timeline_query_count_does_not_grow_with_entries(administrator, shenzhen_sales_rep):
    small = CustomerFactory(owner=shenzhen_sales_rep)
    large = CustomerFactory(owner=shenzhen_sales_rep)
    _fill(small, 5)
    _fill(large, 60)
    for i in range(10):
        ServiceCaseFactory(customer=large, subject=f"case {i}")
        OpportunityFactory(customer=large)
    assert _timeline_queries(shenzhen_sales_rep, small) == _timeline_queries(shenzhen_sales_rep, large) <= 3
    assert _timeline_queries(administrator, small) == _timeline_queries(administrator, large) <= 3


def test_timeline_endpoint_renders_the_partial_for_htmx_and_a_page_otherwise(client_for, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ActivityFactory(customer=customer, subject="上门拜访张经理")
    client = client_for(shenzhen_sales_rep)
    url = reverse("interactions:timeline", args=[customer.pk])

    partial = client.get(url, HTTP_HX_REQUEST="true")
    page = client.get(url)

    assert "上门拜访张经理" in partial.content.decode()
    assert "<html" not in partial.content.decode()
    assert "<html" in page.content.decode() and "上门拜访张经理" in page.content.decode()


def test_timeline_endpoint_page_query_count_is_constant(client_for, shenzhen_sales_rep, django_assert_max_num_queries):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    _fill(customer, 5)
    client = client_for(shenzhen_sales_rep)
    url = reverse("interactions:timeline", args=[customer.pk])
    with CaptureQueriesContext(connection) as few:
        client.get(url, HTTP_HX_REQUEST="true")
    _fill(customer, 55)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200


def test_360_sections_follow_the_viewers_kinds(shenzhen_sales_rep, finance_clerk, service_agent, outsider, rf):
    customer = CustomerFactory(owner=shenzhen_sales_rep)

    def templates(user):
        return [name.rsplit("/", 1)[-1] for name, _ctx in customer_360_sections(customer=customer, user=user)]

    assert templates(shenzhen_sales_rep) == [
        "_section_timeline.html",
        "_section_followups.html",
        "_section_opportunities.html",
        "_section_contracts.html",
        "_section_cases.html",
    ]
    assert templates(finance_clerk) == ["_section_timeline.html", "_section_payments.html"]
    assert templates(service_agent) == ["_section_timeline.html", "_section_followups.html", "_section_cases.html"]
    assert templates(outsider) == []


def test_360_sections_render_with_the_add_activity_form_for_those_who_may_log(
    shenzhen_sales_rep, auditor, rf, django_assert_max_num_queries
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ContractFactory(quote__opportunity__customer=customer)
    request = rf.get("/")
    request.user = shenzhen_sales_rep

    def render():
        return "".join(
            render_to_string(name, ctx, request=request)
            for name, ctx in customer_360_sections(customer=customer, user=shenzhen_sales_rep, request=request)
        )

    render()  # warm the principal and the permission cache
    with CaptureQueriesContext(connection) as few:
        render()
    for _ in range(15):
        ContractFactory(quote__opportunity__customer=customer)
        ActivityFactory(customer=customer, follow_up_on=timezone.localdate())
        ServiceCaseFactory(customer=customer)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = render()
    assert len(few.captured_queries) <= 12
    assert 'data-testid="activity-form"' in html
    assert reverse("interactions:opportunity_create", args=[customer.pk]) in html

    request.user = auditor
    html = "".join(
        render_to_string(name, ctx, request=request)
        for name, ctx in customer_360_sections(customer=customer, user=auditor, request=request)
    )
    assert 'data-testid="activity-form"' not in html
    assert 'data-testid="section-payments"' in html


def test_a_role_without_record_kinds_gets_an_empty_timeline_of_its_own_customer(client_for, outsider):
    customer = CustomerFactory(owner=outsider)
    ActivityFactory(customer=customer, subject="看不见的活动")
    response = client_for(outsider).get(reverse("interactions:timeline", args=[customer.pk]))
    assert response.status_code == 200 and "看不见的活动" not in response.content.decode()


def test_compiled_timeline_gives_the_orm_rows_for_each_customer(administrator, shenzhen_sales_rep):
    """PostgreSQL reads the timeline through SQL compiled once per set of kinds (ADR 0014); the rows
    must be those of the ORM union, for every customer the compiled SQL is reused for."""
    import pytest

    from interactions.selectors import _CompiledTimeline, _timeline_queryset, visible_kinds

    if connection.vendor != "postgresql":
        pytest.skip("the compiled timeline is PostgreSQL's")
    first, second = CustomerFactory(owner=shenzhen_sales_rep), CustomerFactory(owner=shenzhen_sales_rep)
    _fill(first, 7)
    ShipmentFactory(order__contract__quote__opportunity__customer=first)
    ServiceCaseFactory(customer=second)
    _fill(second, 3)
    kinds = visible_kinds(administrator)
    for customer in (first, second, first):
        orm = list(_timeline_queryset(customer, administrator, kinds))
        compiled = _CompiledTimeline(customer.pk, kinds)
        assert compiled.count() == len(orm) > 0
        assert compiled[0:3] == orm[0:3]
        assert compiled[3 : len(orm)] == orm[3:]
        assert compiled[len(orm) : len(orm) + 20] == []


def test_timeline_page_and_count_in_one_query_match_the_orm_paginator(
    administrator, shenzhen_sales_rep, django_assert_num_queries
):
    """PostgreSQL reads the timeline's count and page in one query (join-free count branches); the
    answer must be Paginator.get_page's over the ORM union, out-of-range and odd page numbers included."""
    import pytest
    from django.core.paginator import Paginator

    from interactions.selectors import _timeline_page_postgresql, _timeline_queryset, visible_kinds

    if connection.vendor != "postgresql":
        pytest.skip("the one-query timeline page is PostgreSQL's")
    customer, empty = CustomerFactory(owner=shenzhen_sales_rep), CustomerFactory(owner=shenzhen_sales_rep)
    _fill(customer, 23)
    ShipmentFactory(order__contract__quote__opportunity__customer=customer)
    ServiceCaseFactory(customer=customer)
    kinds = visible_kinds(administrator)
    for who in (customer, empty, customer):
        for number in (1, 2, 3, 4, "2", "x", None, 0, -1, 99):
            expected = Paginator(_timeline_queryset(who, administrator, kinds), 10).get_page(number)
            page = _timeline_page_postgresql(who.pk, kinds, number, 10)
            assert (page.number, page.paginator.count, page.paginator.num_pages) == (
                expected.number,
                expected.paginator.count,
                expected.paginator.num_pages,
            )
            assert list(page.object_list) == list(expected.object_list)
    with django_assert_num_queries(1):
        page = _timeline_page_postgresql(customer.pk, kinds, 2, 10)
    assert page.paginator.count == 23 + 6 and len(page.object_list) == 10  # 23 activities, the chain's 5, a case


def test_360_lists_give_what_the_orm_gives_in_one_query_on_postgresql(shenzhen_sales_rep, django_assert_num_queries):
    """The short lists of the 360 page come from one query (PostgreSQL) as model instances with their
    related objects; each must hold what the section's own ORM query returned, in its order."""
    from decimal import Decimal

    from django.db import models

    from interactions.models import Activity, Contract, Opportunity, Order, Payment, ServiceCase
    from interactions.selectors import _SECTION_LISTS, _section_lists

    customer, other = CustomerFactory(owner=shenzhen_sales_rep), CustomerFactory(owner=shenzhen_sales_rep)
    for i in range(12):
        ActivityFactory(customer=customer, follow_up_on=timezone.localdate() - timedelta(days=i % 3))
    ActivityFactory(customer=customer, follow_up_on=timezone.localdate() - timedelta(days=5), user=None)
    payment = PaymentFactory(contract__quote__opportunity__customer=customer, amount=Decimal("1234567.89"))
    ShipmentFactory(order__contract=payment.contract)
    OpportunityFactory(customer=customer, owner=None, stage="won")
    for _ in range(3):
        ServiceCaseFactory(customer=customer)
    ServiceCaseFactory(customer=other)
    limit = 10

    def orm(pk):
        return {
            "followups": Activity.objects.filter(customer_id=pk)
            .open_followups()
            .select_related("user")
            .order_by("follow_up_on", "pk"),
            "opportunities": Opportunity.objects.filter(customer_id=pk)
            .select_related("owner")
            .order_by(models.Case(models.When(stage__in=Opportunity.OPEN_STAGES, then=0), default=1), "-created_at"),
            "contracts": Contract.objects.filter(customer_id=pk).order_by("-created_at"),
            "orders": Order.objects.filter(customer_id=pk).order_by("-created_at"),
            "cases": ServiceCase.objects.filter(customer_id=pk).order_by(
                models.Case(models.When(status="closed", then=1), default=0), "-received_at"
            ),
            "payments": Payment.objects.filter(customer_id=pk)
            .select_related("contract")
            .order_by(models.Case(models.When(status="open", then=0), default=1), "due_on", "pk"),
        }

    names = list(_SECTION_LISTS)
    for pk in (customer.pk, other.pk, customer.pk):
        expected = {name: list(qs[:limit]) for name, qs in orm(pk).items()}
        with django_assert_num_queries(1 if connection.vendor == "postgresql" else len(names)):
            lists = _section_lists(pk, names)
        for name, (_kind, related, fields, _ordered) in _SECTION_LISTS.items():
            assert [o.pk for o in lists[name]] == [o.pk for o in expected[name]], name
            for got, want in zip(lists[name], expected[name], strict=True):
                for field in fields:
                    assert getattr(got, field) == getattr(want, field), (name, field)
                    assert type(getattr(got, field)) is type(getattr(want, field)), (name, field)
                for relation, columns in related.items():
                    got_rel, want_rel = getattr(got, relation), getattr(want, relation)
                    assert (got_rel is None) == (want_rel is None)
                    for column in columns if want_rel else ():
                        assert getattr(got_rel, column) == getattr(want_rel, column), (name, relation, column)
    assert len(lists["followups"]) == limit and lists["payments"][0].amount == Decimal("1234567.89")
    assert any(o.owner is None for o in lists["opportunities"]) and any(a.user is None for a in lists["followups"])
    with django_assert_num_queries(0):
        [(o.get_absolute_url(), o.get_status_display(), o.contract.number) for o in lists["payments"]]


def test_timeline_page_chosen_from_keys_matches_the_orm_with_ties_campaigns_and_moves(
    administrator, shenzhen_sales_rep, guangzhou_sales_rep, org, django_assert_num_queries
):
    """PostgreSQL picks a page's rows by (kind, id, date) from join-free branches cut at the page's
    end, then reads those rows' columns (`_TimelinePage`). Rows dated alike across kinds, campaign
    participations (a "targeted" one is not on the timeline) and ownership moves must come out as
    the ORM union orders them, on every page."""
    import pytest
    from django.core.paginator import Paginator

    from customers.team_models import CustomerMove
    from interactions.campaign_models import Campaign, CampaignParticipation
    from interactions.models import Activity, Opportunity
    from interactions.selectors import _timeline_page_postgresql, _timeline_queryset, visible_kinds

    if connection.vendor != "postgresql":
        pytest.skip("the keyed timeline page is PostgreSQL's")
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    moment = timezone.now() - timedelta(days=1)
    for i in range(4):
        ActivityFactory(customer=customer, occurred_at=moment)
        opportunity = OpportunityFactory(customer=customer)
        Opportunity.objects.filter(pk=opportunity.pk).update(created_at=moment - timedelta(minutes=i % 2))
    _fill(customer, 5)
    today = timezone.localdate()
    for status in ("targeted", "invited", "converted"):
        campaign = Campaign.objects.create(
            name=f"活动 {status}",
            kind="event",
            starts_on=today,
            ends_on=today,
            owner_unit=org["GD"],
            created_by=administrator,
        )
        CampaignParticipation.objects.create(campaign=campaign, customer=customer, status=status)
    CustomerMove.objects.create(
        customer=customer, kind="reassigned", from_user=shenzhen_sales_rep, to_user=guangzhou_sales_rep
    )
    assert Activity.objects.filter(customer=customer, occurred_at=moment).count() == 4
    kinds = visible_kinds(administrator)
    for per_page in (3, 7, 10):
        expected_all = list(_timeline_queryset(customer, administrator, kinds))
        assert len(expected_all) == 4 + 4 + 5 + 2 + 1  # the targeted participation is left out
        for number in range(1, len(expected_all) // per_page + 3):
            expected = Paginator(_timeline_queryset(customer, administrator, kinds), per_page).get_page(number)
            page = _timeline_page_postgresql(customer.pk, kinds, number, per_page)
            assert (page.number, page.paginator.count) == (expected.number, expected.paginator.count)
            assert list(page.object_list) == list(expected.object_list)
    assert {row["t_kind"] for row in expected_all} >= {"activity", "opportunity", "campaign", "account"}
    with django_assert_num_queries(1):
        _timeline_page_postgresql(customer.pk, kinds, 2, 7)
