"""The interaction lists' faster SQL shapes answer exactly what the plain predicate answers.

`KindQuerySet.visible_to` and the list selectors (follow-ups, opportunities, cases, receivables)
may filter related records in several SQL shapes (docs/performance.md, "Session 4 changes"). Each
shape is compared here with the plain one — `customer_id IN (visible customers)` — for every
persona, every kind, both actions and every list filter, on a dataset built to catch a wrong
shortcut: owned, unit-subtree, user-shared, group-shared, expired shares, a customer without unit
or owner, a merged customer, a dealer's customer, and a follow-up assigned to a rep on a customer
that rep may no longer see.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from crm.demo import role_group
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions import querysets, selectors
from interactions.models import Activity, Contract, Opportunity, Order, Payment, Quote, ServiceCase, Shipment
from interactions.tests.factories import (
    ActivityFactory,
    OpportunityFactory,
    PaymentFactory,
    ServiceCaseFactory,
    ShipmentFactory,
)
from sharing.models import Action, UnitGrant
from sharing.principal import forget_principal, get_principal
from sharing.services import share_grant

pytestmark = pytest.mark.django_db

MODELS = (Activity, Opportunity, Quote, Contract, Order, Shipment, Payment, ServiceCase)
PERSONAS = (
    "hq_executive",
    "guangdong_sales_manager",
    "shenzhen_sales_rep",
    "guangzhou_sales_rep",
    "beijing_sales_manager",
    "beijing_sales_rep",
    "channel_manager",
    "dealer_user",
    "service_agent",
    "finance_clerk",
    "auditor",
    "outsider",
)


# --- the plain predicate: the reference every shape is compared with ------------------------------


def plain_visible(model, user, action="view"):
    principal = get_principal(user)
    if not principal.is_authenticated or not principal.sees_kind(model.KIND):
        return model.objects.none()
    return model.objects.filter(customer_id__in=Customer.objects.visible_to(user, action).values("pk"))


def plain_followups(user, person_id=None, today=None):
    today = today or timezone.localdate()
    principal = get_principal(user)
    qs = plain_visible(Activity, user).filter(follow_up_on__isnull=False, follow_up_done=False, follow_up_on__lte=today)
    if principal.is_manager and principal.unit_path:
        team = get_user_model().objects.filter(
            Q(membership__unit__path__startswith=principal.unit_path) | Q(pk=user.pk)
        )
        qs = qs.filter(user__in=team.values("pk"))
        if person_id:
            qs = qs.filter(user_id=person_id)
    else:
        qs = qs.filter(user=user)
    return qs.order_by("follow_up_on", "occurred_at", "pk")


def plain_opportunities(user, scope, stage):
    principal = get_principal(user)
    qs = plain_visible(Opportunity, user)
    if scope == "mine":
        qs = qs.filter(owner=user)
    elif scope == "team" and principal.is_manager and principal.unit_path:
        qs = qs.filter(owner__membership__unit__path__startswith=principal.unit_path)
    counts = dict(qs.order_by().values_list("stage").annotate(n=Count("pk")))
    if stage:
        qs = qs.filter(stage=stage)
    return qs.order_by("expected_close_on", "-updated_at", "-pk"), counts


def plain_cases(user, show, case_type):
    qs = plain_visible(ServiceCase, user)
    if show == "open":
        qs = qs.exclude(status="closed")
    elif show == "overdue":
        qs = qs.exclude(status="closed").filter(due_at__lt=timezone.now())
    elif show == "mine":
        qs = qs.exclude(status="closed").filter(responsible_user=user)
    elif show == "closed":
        qs = qs.filter(status="closed")
    if case_type:
        qs = qs.filter(type=case_type)
    order = ("due_at", "pk") if show in ("open", "overdue", "mine") else ("-received_at", "-pk")
    return qs.order_by(*order)


def plain_receivables(user, overdue_only, today):
    qs = plain_visible(Payment, user).filter(status="open")
    if overdue_only:
        qs = qs.filter(due_on__lt=today)
    totals = list(
        qs.order_by()
        .values("currency")
        .annotate(total=Sum("amount"), overdue=Sum("amount", filter=Q(due_on__lt=today)), n=Count("pk"))
        .order_by("currency")
    )
    return qs.order_by("due_on", "pk"), totals


# --- the dataset --------------------------------------------------------------------------------


def _records(customer, *, user, days_due=-1):
    """One record of every kind on `customer`, follow-ups and the case assigned to `user`."""
    shipment = ShipmentFactory(
        order__contract__quote__opportunity__customer=customer, order__contract__quote__opportunity__owner=user
    )
    PaymentFactory(contract=shipment.order.contract, due_on=timezone.localdate() + timedelta(days=days_due))
    today = timezone.localdate()
    for offset in (-3, 0, 2):
        ActivityFactory(customer=customer, user=user, follow_up_on=today + timedelta(days=offset))
    ActivityFactory(customer=customer, user=user, follow_up_on=today, follow_up_done=True)
    ServiceCaseFactory(customer=customer, responsible_user=user)
    ServiceCaseFactory(customer=customer, responsible_user=user, status=ServiceCase.Status.CLOSED)
    OpportunityFactory(customer=customer, owner=user, stage=Opportunity.Stage.WON)


@pytest.fixture
def dataset(
    org,
    hq_executive,
    guangdong_sales_manager,
    shenzhen_sales_rep,
    guangzhou_sales_rep,
    beijing_sales_manager,
    beijing_sales_rep,
    channel_manager,
    dealer_user,
):
    sz, gz, bj = shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep
    soon = timezone.now() + timedelta(days=3)
    # Owned in the rep's unit; in a sub-unit of Shenzhen (the dealer's unit).
    _records(CustomerFactory(owner=sz), user=sz)
    _records(CustomerFactory(owner=dealer_user), user=dealer_user)
    _records(CustomerFactory(owner=None, org_unit=org["GD-SZ-D1"]), user=sz)
    # Guangzhou's customer: the Shenzhen rep still has follow-ups on it but may not see it any more.
    _records(CustomerFactory(owner=gz), user=sz)
    _records(CustomerFactory(owner=gz), user=gz)
    # Beijing: one shared with the Shenzhen rep (live), one whose share expired, one group-shared
    # with the sales reps' role group (live, view), one with an expired group share.
    shared = CustomerFactory(owner=bj)
    share_grant(customer=shared, action=Action.VIEW, user=sz, granted_by=bj, expires_at=soon)
    _records(shared, user=bj)
    _records(shared, user=sz)
    expired = CustomerFactory(owner=bj)
    share = share_grant(customer=expired, action=Action.CHANGE, user=sz, granted_by=bj, expires_at=soon)
    _records(expired, user=sz)
    group_shared = CustomerFactory(owner=bj)
    share_grant(customer=group_shared, action=Action.CHANGE, group=role_group("sales_rep"), granted_by=bj)
    _records(group_shared, user=bj)
    group_expired = CustomerFactory(owner=bj)
    group_share = share_grant(
        customer=group_expired, action=Action.VIEW, group=role_group("sales_manager"), granted_by=bj, expires_at=soon
    )
    _records(group_expired, user=beijing_sales_manager)
    # No unit, no owner: only the sees-all roles see it, whoever the records are assigned to.
    _records(CustomerFactory(owner=None, org_unit=None), user=sz)
    _records(CustomerFactory(owner=None, org_unit=None), user=guangdong_sales_manager)
    # A merged customer owned by the rep (visibility does not look at the status).
    _records(CustomerFactory(owner=sz, status=Customer.Status.MERGED), user=sz)
    # Zhejiang, seen by the Beijing manager through a unit grant to the managers' role group.
    UnitGrant.objects.create(group=role_group("sales_manager"), unit=org["ZJ"], action=Action.VIEW)
    _records(CustomerFactory(owner=None, org_unit=org["ZJ-HZ"]), user=beijing_sales_manager)
    # Expire the two shares now (share_grant refuses a past expiry).
    past = timezone.now() - timedelta(seconds=1)
    type(share).objects.filter(pk=share.pk).update(expires_at=past)
    type(group_share).objects.filter(pk=group_share.pk).update(expires_at=past)


TEAM = ("sz_rep", "gz_rep", "dealer1", "gd_manager", "bj_manager")
SHAPES = (None, "customers", "records", "union", "copies", "copies_hashed")


def _shapes(monkeypatch):
    """Each comparison runs with the shape chosen per principal, then with each shape forced."""
    for shape in SHAPES:
        monkeypatch.setattr(querysets, "FORCE_SHAPE", shape)
        yield shape


def _pks(qs):
    return list(qs.values_list("pk", flat=True))


def _each_persona(request, monkeypatch):
    for shape in _shapes(monkeypatch):
        for name in PERSONAS:
            user = request.getfixturevalue(name)
            forget_principal(user)
            yield (name, shape), user


def test_visible_to_answers_the_plain_predicate_for_every_kind_and_action(request, dataset, monkeypatch):
    compared = 0
    for name, user in _each_persona(request, monkeypatch):
        for model in MODELS:
            for action in (Action.VIEW, Action.CHANGE):
                expected = sorted(_pks(plain_visible(model, user, action)))
                assert sorted(_pks(model.objects.visible_to(user, action))) == expected, (name, model, action)
                compared += bool(expected)
    assert compared > 60


def test_followups_lists_and_counts_match(request, dataset, monkeypatch):
    today = timezone.localdate()
    compared = 0
    for name, user in _each_persona(request, monkeypatch):
        people = [None, user.pk, *get_user_model().objects.filter(username__in=TEAM).values_list("pk", flat=True)]
        for person_id in people:
            expected = plain_followups(user, person_id, today)
            got = selectors.followups_for_user(user=user, person_id=person_id, today=today)
            assert _pks(got) == _pks(expected), (name, person_id)
            assert selectors.followup_counts(got, today=today) == selectors.followup_counts(expected, today=today)
            compared += expected.exists()
        home = selectors.followups_for_home(user)
        mine = plain_visible(Activity, user).filter(
            follow_up_on__isnull=False, follow_up_done=False, follow_up_on__lte=today, user=user
        )
        assert [a.pk for a in home["items"]] == _pks(mine.order_by("follow_up_on", "occurred_at", "pk")[:10]), name
        assert (home["due_today"], home["overdue"]) == (
            mine.filter(follow_up_on=today).count(),
            mine.filter(follow_up_on__lt=today).count(),
        ), name
    assert compared > 10


def test_a_rep_does_not_see_follow_ups_on_a_customer_no_longer_visible(dataset, shenzhen_sales_rep, monkeypatch):
    """The trap for a `user = me` shortcut: the rep's own follow-ups on Guangzhou's customer stay hidden."""
    today = timezone.localdate()
    assigned = Activity.objects.filter(user=shenzhen_sales_rep, follow_up_done=False, follow_up_on__lte=today)
    for shape in _shapes(monkeypatch):
        shown = set(_pks(selectors.followups_for_user(user=shenzhen_sales_rep, today=today)))
        hidden = set(_pks(assigned)) - shown
        assert hidden, ("the dataset must hold follow-ups of the rep on customers the rep cannot see", shape)
        assert not Customer.objects.visible_to(shenzhen_sales_rep).filter(activities__pk__in=hidden).exists()


def test_opportunity_lists_and_stage_counts_match(request, dataset, monkeypatch):
    compared = 0
    for name, user in _each_persona(request, monkeypatch):
        for scope in ("mine", "team", "all"):
            for stage in ("", Opportunity.Stage.WON, Opportunity.Stage.LEAD):
                got, got_counts = selectors.opportunity_list(user=user, scope=scope, stage=stage)
                expected, counts = plain_opportunities(user, scope, stage)
                assert _pks(got) == _pks(expected), (name, scope, stage)
                assert got_counts == counts, (name, scope, stage)
                compared += bool(counts)
    assert compared > 20


def test_case_lists_match(request, dataset, monkeypatch):
    compared = 0
    for name, user in _each_persona(request, monkeypatch):
        for show in selectors.CASE_FILTERS:
            for case_type in ("", ServiceCase.Type.COMPLAINT, ServiceCase.Type.REQUEST):
                expected = _pks(plain_cases(user, show, case_type))
                assert _pks(selectors.case_list(user=user, show=show, type=case_type)) == expected, (name, show)
                compared += bool(expected)
    assert compared > 20


def test_receivables_and_totals_match(request, dataset, monkeypatch):
    today = timezone.localdate()
    compared = 0
    for name, user in _each_persona(request, monkeypatch):
        for overdue_only in (False, True):
            got, got_totals = selectors.receivables(user=user, overdue_only=overdue_only, today=today)
            expected, totals = plain_receivables(user, overdue_only, today)
            assert _pks(got) == _pks(expected), (name, overdue_only)
            assert got_totals == totals, (name, overdue_only)
            compared += bool(totals)
    assert compared >= 4


def test_the_shape_is_chosen_by_units_rows_and_share_volume(
    dataset, shenzhen_sales_rep, guangdong_sales_manager, monkeypatch
):
    from sharing.principal import visibility_parts

    def shape_of(user, rows):
        forget_principal(user)
        return querysets._shape(user, visibility_parts(get_principal(user), "view"), "view", rows)

    for rows in (None, querysets.FEW, querysets.LIST):
        assert shape_of(guangdong_sales_manager, rows) == "customers"  # a province's units
    assert shape_of(shenzhen_sales_rep, None) == "customers"  # callers that give no hint
    assert shape_of(shenzhen_sales_rep, querysets.FEW) == "records"  # the rep's own follow-ups
    assert shape_of(shenzhen_sales_rep, querysets.LIST) == "customers"  # a rep's few shares
    monkeypatch.setattr(querysets, "MANY_SHARES", 0)
    assert shape_of(shenzhen_sales_rep, querysets.LIST) == "union"  # as the 20,000-customer share would
    # The automatic choice with many shares still gives the plain predicate's rows.
    for model in MODELS:
        expected = sorted(_pks(plain_visible(model, shenzhen_sales_rep)))
        for rows in (querysets.FEW, querysets.LIST):
            got = model.objects.visible_to(shenzhen_sales_rep, rows=rows)
            assert sorted(_pks(got)) == expected, (model, rows)
    forget_principal(shenzhen_sales_rep)
    expected = _pks(plain_cases(shenzhen_sales_rep, "open", ""))
    assert _pks(selectors.case_list(user=shenzhen_sales_rep)) == expected


def test_the_follow_up_page_counts_are_capped_like_the_list(dataset, shenzhen_sales_rep, guangdong_sales_manager):
    today = timezone.localdate()
    for user in (shenzhen_sales_rep, guangdong_sales_manager):
        qs = selectors.followups_for_user(user=user, today=today)
        exact = selectors.followup_counts(plain_followups(user, None, today), today=today)
        assert selectors.followup_count_labels(qs, today=today) == {k: str(v) for k, v in exact.items()}
        assert exact["overdue"] > 2
        assert selectors.followup_count_labels(qs, today=today, cap=2)["overdue"] == "2+"


def test_the_follow_up_page_shows_the_counts(client_for, dataset, shenzhen_sales_rep):
    today = timezone.localdate()
    exact = selectors.followup_counts(plain_followups(shenzhen_sales_rep, None, today), today=today)
    body = client_for(shenzhen_sales_rep).get(reverse("interactions:followups")).content.decode()
    shown = re.search(r'data-testid="followup-counts">([^<]*)<', body).group(1)
    assert re.findall(r"[0-9][0-9,]*\+?", shown) == [str(exact["overdue"]), str(exact["due_today"])]


def test_records_with_customer_copies_get_the_copies_shapes(
    dataset, shenzhen_sales_rep, guangdong_sales_manager, monkeypatch
):
    """ADR 0017: a unit scope filters the records' own copy columns, not the scope's customers."""
    from sharing.principal import visibility_parts

    def shape_of(user, rows, model):
        forget_principal(user)
        return querysets._shape(user, visibility_parts(get_principal(user), "view"), "view", rows, model)

    manager, rep = guangdong_sales_manager, shenzhen_sales_rep
    assert shape_of(manager, querysets.LIST, ServiceCase) == "copies"
    assert shape_of(manager, querysets.FEW, Opportunity) == "copies"
    assert shape_of(manager, querysets.LIST, Activity) == "copies_hashed"  # follow-ups: checked per row
    assert shape_of(manager, None, ServiceCase) == "customers"  # callers without a hint
    assert shape_of(manager, querysets.LIST, Quote) == "customers"  # no copies on quotes
    assert shape_of(rep, querysets.FEW, ServiceCase) == "records"
    assert shape_of(rep, querysets.LIST, ServiceCase) == "copies"
    monkeypatch.setattr(querysets, "MANY_SHARES", 0)
    assert shape_of(rep, querysets.LIST, ServiceCase) == "copies_hashed"  # the big-share user's lists

    # The SQL: the copies and the record's customer_id, never the customer table.
    forget_principal(manager)
    sql = str(ServiceCase.objects.visible_to(manager, rows=querysets.LIST).values("pk").query)
    assert "cust_org_unit_id" in sql and "customers_customer" not in sql
    assert "= ANY(ARRAY(" in sql or " IN (SELECT" in sql
    forget_principal(rep)
    sql = str(ServiceCase.objects.visible_to(rep, rows=querysets.LIST).values("pk").query)
    assert "cust_owner_id" in sql and "cust_org_unit_id" not in sql and "customers_customer" not in sql
    assert "ANY(ARRAY(" not in sql  # hashed: a set per row, no index probe per shared customer


def test_the_copies_shapes_cost_no_extra_query(dataset, guangdong_sales_manager, django_assert_num_queries):
    """A unit scope needs no share-volume count: one query for the list, one for its count."""
    selectors.case_list(user=guangdong_sales_manager)  # the principal, built once
    with django_assert_num_queries(2):
        cases = selectors.case_list(user=guangdong_sales_manager)
        list(cases[:25])
        cases.count()


def test_the_follow_up_list_count_follows_from_its_two_parts(dataset, shenzhen_sales_rep, guangdong_sales_manager):
    """The page's capped count is "due today" + "overdue" (no third count): equal to counting the list."""
    from crm.pagination import capped_count

    today = timezone.localdate()
    for user in (shenzhen_sales_rep, guangdong_sales_manager):
        qs = selectors.followups_for_user(user=user, today=today)
        exact = plain_followups(user, None, today).count()
        for cap in (1, 2, exact - 1, exact, exact + 1, 1000):
            counts = selectors.followup_capped_counts(qs, today=today, cap=max(cap, 1))
            assert counts["all"] == capped_count(plain_followups(user, None, today), max(cap, 1)), (user, cap)


def test_the_follow_up_page_counts_its_list_once(client_for, dataset, guangdong_sales_manager):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(guangdong_sales_manager)
    client.get(reverse("interactions:followups"))  # principal and option caches warm
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("interactions:followups"))
    page = response.context["page_obj"]
    expected = plain_followups(guangdong_sales_manager, None, timezone.localdate())
    assert page.paginator.count == expected.count() and [a.pk for a in page] == _pks(expected)[: len(page)]
    counts = [
        q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "interactions_activity" in q["sql"]
    ]
    assert len(counts) == 2, counts  # due today, overdue; the list's count follows from them


def test_case_pages_picked_by_keys_first_equal_the_list_pages(request, dataset, monkeypatch):
    from crm.pagination import CappedPaginator

    compared = 0
    for name, user in _each_persona(request, monkeypatch):
        for show in selectors.CASE_FILTERS:
            qs = selectors.case_list(user=user, show=show)
            plain = CappedPaginator(qs, 2)
            keys_first = CappedPaginator(selectors.KeysFirst(qs), 2)
            assert (keys_first.count, keys_first.capped) == (plain.count, plain.capped), (name, show)
            for number in keys_first.page_range:
                got = [(c.pk, c.customer.pk) for c in keys_first.page(number)]
                assert got == [(c.pk, c.customer.pk) for c in plain.page(number)], (name, show, number)
                compared += bool(got)
    assert compared > 20


def test_the_case_list_page_reads_its_rows_by_key(client_for, dataset, guangdong_sales_manager):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(guangdong_sales_manager)
    client.get(reverse("interactions:case_list"))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("interactions:case_list"))
    expected = _pks(plain_cases(guangdong_sales_manager, "open", ""))
    assert [c.pk for c in response.context["page_obj"]] == expected[:25] and expected
    pages = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "interactions_servicecase"."id"')]
    assert len(pages) == 1 and '"interactions_servicecase"."id" IN (SELECT' in pages[0], pages


def test_the_workbench_answers_the_plain_predicate(request, dataset, monkeypatch):
    """Own customers, open cases and both case badges (exact and capped) for every persona and shape."""
    from crm import selectors as crm_selectors

    compared = 0
    for cap in (1000, 1):
        monkeypatch.setattr(crm_selectors, "HOME_COUNT_CAP", cap)
        for name, user in _each_persona(request, monkeypatch):
            context = crm_selectors.home_context(user)
            visible = Customer.objects.visible_to(user).active()
            mine = visible.filter(owner=user).order_by("-updated_at", "pk")
            assert sorted(c.pk for c in context["my_customers"]) == sorted(_pks(mine[:10])), name
            if context["open_cases"] is None:
                continue
            open_cases = plain_visible(ServiceCase, user).exclude(status="closed")
            overdue = open_cases.filter(due_at__lt=timezone.now()).count()
            assert sorted(c.pk for c in context["open_cases"]) == sorted(
                _pks(open_cases.order_by("due_at", "pk")[:10])
            ), name
            assert (context["open_case_count"], context["open_case_count_capped"]) == (
                min(open_cases.count(), cap),
                open_cases.count() > cap,
            ), name
            assert (context["overdue_case_count"], context["overdue_case_count_capped"]) == (
                min(overdue, cap),
                overdue > cap,
            ), name
            compared += open_cases.exists()
    assert compared > 10
