"""The customer list's "shares" plan answers exactly what the plain predicate answers.

For a principal without units and with many live shares, the list counts through the share index
(or a search's candidates) and cuts its page by walking the sort order
(customers/list_plan.py, docs/adr/0016-share-heavy-customer-list.md). Every page of every
persona, filter, sort and search is compared here with the plain plan — rows, order (ties
included), count and "capped" — on a dataset built to catch a wrong shortcut: owned, unit and
subtree customers, live, expired and expiring user and group shares, view and change shares, a
customer without owner or unit, merged, erased and inactive customers, ties in every sort key.
The page size and the cap are made small so that a handful of rows spans many pages and the cap.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import pagination
from crm.demo import role_group
from customers import list_plan, querysets, selectors
from customers.models import Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory
from dedup.normalize import normalize_name
from sharing.models import CustomerGroupShare, CustomerUserShare
from sharing.principal import forget_principal

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's (SQLite: always plain)"),
]

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
    "outsider",
)
FILTERS = (
    {},
    {"sort": "name"},
    {"sort": "number"},
    {"sort": "-created"},
    {"status": "all"},
    {"status": "active", "kind": "person"},
    {"kind": "company", "sort": "name"},
    {"q": "共享"},
    {"q": "共享", "sort": "name"},
    {"q": "共享客户1", "sort": "-created"},
    {"q": "张"},
    {"q": "13900001234"},
    {"q": "+86 139-0000-1234"},
    {"q": "c0"},
    {"status": "inactive"},
    {"status": "merged"},
)


def _perm(codename):
    return Permission.objects.get(content_type__app_label="customers", codename=codename)


@pytest.fixture
def big_share_user(org, django_user_model):
    """A sales rep without units whose project group holds many shares (the bench's big_share)."""
    user = django_user_model.objects.create_user("big_share_rep", password="pw")
    group = Group.objects.create(name="大客户联合组")
    user.groups.add(role_group("sales_rep"), group)
    return user, group


@pytest.fixture
def dataset(org, big_share_user, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_manager, dealer_user):
    user, group = big_share_user
    view, change = _perm("view_customer"), _perm("change_customer")
    now = timezone.now()
    soon, past = now + timedelta(days=2), now - timedelta(seconds=1)
    customers = []
    owners = (shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_manager, dealer_user, user, None)
    units = (org["GD-SZ"], org["GD-GZ"], org["BJ"], org["GD-SZ-D1"], None)
    statuses = ["active"] * 7 + [Customer.Status.INACTIVE, Customer.Status.MERGED, Customer.Status.ERASED]
    for i in range(90):
        factory = PersonFactory if i % 3 == 0 else CustomerFactory
        name = f"张共享{i % 5}" if i % 3 == 0 else f"共享客户{i % 7}有限公司"
        customers.append(
            factory(
                name=name,
                owner=owners[i % len(owners)],
                org_unit=units[i % len(units)],
                status=statuses[i % len(statuses)],
            )
        )
    # Ties in every sort key: the same updated_at and created_at for a third of them.
    tied = [c.pk for c in customers[::3]]
    Customer.objects.filter(pk__in=tied).update(updated_at=now, created_at=now)
    ContactPointFactory(customer=customers[4], kind="mobile", value="13900001234")
    ContactPointFactory(customer=customers[5], kind="mobile", value="13900001234")
    ContactPointFactory(customer=customers[6], kind="mobile", value="13900001234")
    # Group shares of most customers (live, expiring, expired; view and change), user shares too.
    group_shares, user_shares = [], []
    for i, customer in enumerate(customers):
        if i % 4 != 3:
            expiry = (None, soon, past)[i % 3]
            group_shares.append(
                CustomerGroupShare(
                    group=group, content_object=customer, permission=(view, change)[i % 2], expires_at=expiry
                )
            )
        if i % 11 == 0:
            user_shares.append(CustomerUserShare(user=user, content_object=customer, permission=view))
        if i % 13 == 0:
            user_shares.append(
                CustomerUserShare(user=shenzhen_sales_rep, content_object=customer, permission=change, expires_at=soon)
            )
        if i % 17 == 0:
            group_shares.append(
                CustomerGroupShare(group=role_group("sales_rep"), content_object=customer, permission=view)
            )
        if i % 19 == 0:
            group_shares.append(
                CustomerGroupShare(
                    group=role_group("dealer"), content_object=customer, permission=view, expires_at=past
                )
            )
    # The same customer shared twice with the big-share user (user and group, view and change).
    group_shares.append(CustomerGroupShare(group=group, content_object=customers[0], permission=change))
    CustomerGroupShare.objects.bulk_create(group_shares, ignore_conflicts=True)
    CustomerUserShare.objects.bulk_create(user_shares, ignore_conflicts=True)
    return customers


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 4 rows, a cap of 13, short walks and few search candidates: every limit is crossed."""
    monkeypatch.setattr(selectors, "PAGE_SIZE", 4)
    monkeypatch.setattr(pagination, "DEFAULT_CAP", 13)
    monkeypatch.setattr(list_plan, "WALK_PER_ROW", 3)
    monkeypatch.setattr(list_plan, "WALK_MAX", 40)
    monkeypatch.setattr(list_plan, "SEARCH_CANDIDATES", 30)
    monkeypatch.setattr(list_plan, "PROBE_CANDIDATES", 10)


def _page(user, filters, number, plan):
    list_plan.FORCE_LIST_PLAN = plan
    try:
        forget_principal(user)
        page = list_plan.customer_list_page(user, filters, number)
        ids = list(page.object_list.values_list("pk", flat=True))
        return ids, page.paginator.count, page.paginator.capped, page.paginator.num_pages
    finally:
        list_plan.FORCE_LIST_PLAN = None


class Spy:
    """Counts how often the plan answered a page and a count itself (and how often it fell back)."""

    def __init__(self, monkeypatch):
        self.pages, self.page_fallbacks, self.counts, self.count_fallbacks = 0, 0, 0, 0
        page_ids, count = list_plan._share_plan_page_ids, list_plan._share_plan_count

        def spied_page(*args, **kwargs):
            ids = page_ids(*args, **kwargs)
            if ids is None:
                self.page_fallbacks += 1
            else:
                self.pages += 1
            return ids

        def spied_count(*args, **kwargs):
            counted = count(*args, **kwargs)
            if counted is None:
                self.count_fallbacks += 1
            else:
                self.counts += 1
            return counted

        monkeypatch.setattr(list_plan, "_share_plan_page_ids", spied_page)
        monkeypatch.setattr(list_plan, "_share_plan_count", spied_count)


def assert_plan_equals_plain(user, filters):
    plain = _page(user, filters, 1, "plain")
    pages = plain[3]
    for number in range(1, pages + 2):  # one past the last page: Paginator.get_page gives the last
        expected = _page(user, filters, number, "plain")
        actual = _page(user, filters, number, "shares")
        assert actual == expected, f"{user.username} {filters} page {number}: {actual} != {expected}"


def test_every_page_of_every_persona_and_filter_equals_the_plain_plan(
    request, dataset, big_share_user, small_pages, monkeypatch
):
    spy = Spy(monkeypatch)
    users = [request.getfixturevalue(name) for name in PERSONAS] + [big_share_user[0]]
    for user in users:
        for filters in FILTERS:
            assert_plan_equals_plain(user, filters)
    # Both ways were taken: the plan answered most pages and counts, and fell back on some.
    assert spy.pages > 200 and spy.counts > 100
    assert spy.page_fallbacks > 10 and spy.count_fallbacks > 0


def test_the_big_share_users_pages_equal_the_plain_plan_with_the_real_limits(dataset, big_share_user):
    user, _group = big_share_user
    for filters in FILTERS:
        assert_plan_equals_plain(user, filters)


def test_an_expired_share_leaves_the_list_at_once(dataset, big_share_user, small_pages):
    user, group = big_share_user
    shared = CustomerGroupShare.objects.filter(group=group, expires_at__isnull=True).values_list(
        "content_object_id", flat=True
    )
    customer_id = Customer.objects.filter(pk__in=shared, status="active").exclude(owner=user).order_by("pk")[0].pk
    Customer.objects.filter(pk=customer_id).update(
        name="过期测试客户",
        name_normalized=normalize_name("过期测试客户"),
        updated_at=timezone.now() + timedelta(hours=1),
    )
    assert _page(user, {"q": "过期测试"}, 1, "shares")[0] == [customer_id]
    assert customer_id in _page(user, {}, 1, "shares")[0]  # just updated: the top of the list
    CustomerGroupShare.objects.filter(group__in=user.groups.all(), content_object_id=customer_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    CustomerUserShare.objects.filter(user=user, content_object_id=customer_id).delete()
    assert _page(user, {"q": "过期测试"}, 1, "shares")[0] == []
    assert customer_id not in _page(user, {}, 1, "shares")[0]
    assert _page(user, {}, 1, "shares") == _page(user, {}, 1, "plain")


# --- when the plan is chosen, and its SQL


def _list_queries(client, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/customers/", params or {})
    assert response.status_code == 200
    return response, [q["sql"] for q in captured.captured_queries]


def test_a_share_heavy_principal_without_units_gets_the_plan(client_for, dataset, big_share_user, monkeypatch):
    user, _group = big_share_user
    monkeypatch.setattr(querysets, "MANY_SHARES", 20)
    client = client_for(user)
    response, sqls = _list_queries(client)
    count = next(sql for sql in sqls if sql.startswith("SELECT COUNT(*) FROM (SELECT") and "customers_customer" in sql)
    assert "UNION ALL" in count and "= ANY(ARRAY(" not in count
    page = next(sql for sql in sqls if sql.startswith("SELECT c.id FROM (SELECT"))
    assert "ORDER BY" in page and "EXISTS (SELECT 1 FROM" in page and "= ANY(ARRAY(" not in page
    assert [row.pk for row in response.context["rows"]] == _page(user, {}, 1, "plain")[0]
    # A search counts its candidates, probing each one (no hashed share list).
    response, sqls = _list_queries(client, {"q": "共享"})
    assert any(sql.startswith("SELECT count(*) FILTER (WHERE") and "OFFSET 0" in sql for sql in sqls)
    assert any(sql.startswith("SELECT c.id FROM (SELECT") for sql in sqls)
    assert [row.pk for row in response.context["rows"]] == _page(user, {"q": "共享"}, 1, "plain")[0]


def test_the_plan_is_not_chosen_for_units_few_shares_or_other_filters(
    client_for, dataset, big_share_user, guangdong_sales_manager, shenzhen_sales_rep, monkeypatch
):
    user, _group = big_share_user
    monkeypatch.setattr(querysets, "MANY_SHARES", 20)

    def planned(who, filters):
        forget_principal(who)
        return list_plan.customer_list_plan(who, filters) is not None

    assert planned(user, {}) and planned(user, {"q": "x", "kind": "person", "status": "all", "sort": "-created"})
    assert not planned(user, {"sort": "-created"})  # no index to walk
    assert not planned(user, {"status": "inactive"})
    assert not planned(user, {"province": "广东"})
    assert not planned(user, {"tag": object()})
    assert not planned(guangdong_sales_manager, {})  # a unit scope
    assert not planned(shenzhen_sales_rep, {})  # a few shares
    monkeypatch.setattr(querysets, "MANY_SHARES", 500)
    assert not planned(user, {})
    # The plain plan's SQL for them all.
    _response, sqls = _list_queries(client_for(shenzhen_sales_rep))
    assert not any(sql.startswith("SELECT c.id FROM") for sql in sqls)


def test_the_big_share_list_needs_the_same_number_of_queries_for_few_or_many_rows(
    client_for, dataset, big_share_user, monkeypatch
):
    user, group = big_share_user
    monkeypatch.setattr(querysets, "MANY_SHARES", 20)
    client = client_for(user)
    client.get("/customers/")  # warm caches
    for params in ({}, {"page": 2}, {"q": "共享"}, {"q": "13900001234"}):
        _response, few = _list_queries(client, params)
        new = [CustomerFactory(name=f"共享新客户{i}") for i in range(30)]
        CustomerGroupShare.objects.bulk_create(
            [CustomerGroupShare(group=group, content_object=c, permission=_perm("view_customer")) for c in new]
        )
        _response, many = _list_queries(client, params)
        assert len(many) == len(few) <= 8, params


def test_the_share_hint_rides_on_the_cached_principal_and_only_steers_the_plan(
    client_for, dataset, big_share_user, monkeypatch, settings
):
    user, group = big_share_user
    settings.CRM_PRINCIPAL_CACHE_SECONDS = 300
    monkeypatch.setattr(querysets, "MANY_SHARES", 20)
    client = client_for(user)

    def hint_queries(sqls):
        return [sql for sql in sqls if sql.startswith("SELECT COUNT(*) FROM ((SELECT") and "share" in sql]

    _response, first = _list_queries(client)
    _response, second = _list_queries(client)
    assert len(hint_queries(first)) <= 1 and hint_queries(second) == []
    assert any(sql.startswith("SELECT c.id FROM (SELECT") for sql in second)
    # Every group share revoked: the kept hint still says "many" and the plan still runs, but it
    # shows exactly what the plain plan shows (only the user's own and user-shared customers).
    CustomerGroupShare.objects.filter(group=group).delete()
    response, sqls = _list_queries(client)
    assert hint_queries(sqls) == [] and any(sql.startswith("SELECT c.id FROM (SELECT") for sql in sqls)
    assert [row.pk for row in response.context["rows"]] == _page(user, {}, 1, "plain")[0]
    assert response.context["page_obj"].paginator.count == _page(user, {}, 1, "plain")[1]


def test_the_default_path_with_the_unit_scope_shortcuts_equals_the_plain_plan(
    request, dataset, big_share_user, small_pages, monkeypatch
):
    """Without a forced plan, unit scopes start their capped count with their units' customers alone
    (`_unit_scope_count`) and take their default-order pages from the merge of the predicate's
    branches (`_branch_page_ids`): every page, count and "capped" of every persona and filter is
    still the plain plan's, and the shortcuts both answered (managers) and declined (reps without
    units, searches, other filters and sorts)."""
    answered, declined = [], []
    unit_count = list_plan._unit_scope_count

    def spied(user, filters, cap):
        counted = unit_count(user, filters, cap)
        (declined if counted is None else answered).append((user.username, tuple(sorted(filters))))
        return counted

    monkeypatch.setattr(list_plan, "_unit_scope_count", spied)
    branch_pages = []
    branch_page_ids = list_plan._branch_page_ids

    def spied_pages(user, filters, offset, limit):
        ids = branch_page_ids(user, filters, offset, limit)
        if ids is not None:
            branch_pages.append((user.username, offset, len(ids)))
        return ids

    monkeypatch.setattr(list_plan, "_branch_page_ids", spied_pages)
    small_sets = []
    small_set_page_ids = list_plan._small_set_page_ids

    def spied_small(queryset, order, offset, limit):
        ids = small_set_page_ids(queryset, order, offset, limit)
        small_sets.append((tuple(order), offset, ids is not None))
        return ids

    monkeypatch.setattr(list_plan, "_small_set_page_ids", spied_small)
    users = [request.getfixturevalue(name) for name in PERSONAS] + [big_share_user[0]]
    for user in users:
        for filters in FILTERS:
            plain = _page(user, filters, 1, "plain")
            for number in range(1, plain[3] + 2):
                expected = _page(user, filters, number, "plain")
                assert _page(user, filters, number, None) == expected, (user.username, filters, number)
    assert any(name == "gd_manager" for name, _ in answered)
    assert any(name == "gd_manager" for name, _ in declined)  # a search, or a status outside the shortcut
    assert any(name == "sz_rep" for name, _ in declined)  # no units
    # The unit scopes' default-order pages came from the merge of their branches, first to last page.
    assert any(name == "gd_manager" and offset == 0 for name, offset, _ in branch_pages)
    assert any(name == "gd_manager" and offset > 0 for name, offset, _ in branch_pages)
    assert not any(name == "sz_rep" for name, _, _ in branch_pages)
    # Exact (uncapped) counts took their pages from the materialised matching rows, in every sort.
    answered_orders = {order for order, _offset, answered in small_sets if answered}
    assert {("-updated_at", "-pk"), ("name_normalized", "pk"), ("number",), ("-created_at", "-pk")} <= answered_orders
    assert any(offset > 0 for _order, offset, answered in small_sets if answered)


def test_the_unit_scope_count_is_one_index_only_statement(guangdong_sales_manager, org, monkeypatch):
    """The shortcut's SQL: the scope's units and the live-status filter only (no share subquery), so
    PostgreSQL can count on `customer_unit_live` and stop after cap + 1."""
    monkeypatch.setattr(pagination, "DEFAULT_CAP", 3)
    for _ in range(5):
        CustomerFactory(owner=None, org_unit=org["GD-SZ"])
    forget_principal(guangdong_sales_manager)
    with CaptureQueriesContext(connection) as ctx:
        page = list_plan.customer_list_page(guangdong_sales_manager, {}, 1)
        assert (page.paginator.count, page.paginator.capped) == (3, True)
    counts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    assert len(counts) == 1
    assert "org_unit_id" in counts[0] and "share" not in counts[0] and "LIMIT 4" in counts[0]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + counts[0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "customer_unit_live" in plan


def test_an_exact_count_pages_through_the_matching_rows_not_the_sort_index(guangdong_sales_manager, org):
    """When the count is exact (at most the cap), the page is cut from the matching rows read first
    (`WITH … MATERIALIZED`), so a selective search never walks the `updated_at` index through rows
    it does not match (772 ms for 47 matches on the 1M seed); the rows are the plain plan's."""
    for i in range(7):
        CustomerFactory(owner=None, org_unit=org["GD-SZ"], name=f"稀有名称{i}")
    CustomerFactory(owner=None, org_unit=org["BJ"], name="稀有名称外地")  # outside the manager's scope
    filters = {"q": "稀有名称"}
    forget_principal(guangdong_sales_manager)
    expected = _page(guangdong_sales_manager, filters, 2, "plain")
    with CaptureQueriesContext(connection) as ctx:
        actual = _page(guangdong_sales_manager, filters, 2, None)
    assert actual == expected and actual[1] == 7 and actual[2] is False
    materialised = [q["sql"] for q in ctx.captured_queries if "MATERIALIZED" in q["sql"]]
    assert len(materialised) == 1 and "ORDER BY k0 DESC, k1 DESC LIMIT" in materialised[0]
