"""The customer list page of a share-heavy principal: the "shares" plan (docs/adr/0016-share-heavy-customer-list.md).

`customer_list_page` is the list view's one call: the capped paginator over
`customers.selectors.customer_list` (the plain plan, for everyone), which under a "shares" plan
counts and cuts the page another way and falls back to the plain queryset whenever the plan
cannot answer. Every SQL shape here is the predicate of `sharing.principal.visibility_parts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import cached_property

from crm.pagination import CappedPaginator
from customers import selectors
from customers.models import Customer
from sharing.principal import get_principal

# Tests force the plan ("shares": whenever the filters allow it, any principal; "plain": never).
FORCE_LIST_PLAN: str | None = None
# The list's filters under which the "shares" plan may run: the search (an index finds its
# candidates) and filters most customers pass (kind, current or all statuses). Under any other
# filter the sort index could be walked through most of the table for a few rows; the plain plan
# serves those.
SHARE_PLAN_FILTERS = frozenset({"q", "kind", "status", "sort"})
SHARE_PLAN_STATUSES = ("", "active", "all")
# Sorts whose columns have an index, so that the page can walk it (no search needed).
INDEXED_SORTS = ("-updated", "name", "number")
# A search's candidates (the rows its index finds, visible or not) are checked one by one up to
# this many; a search with more (a one-character name prefix) is left to the plain plan.
SEARCH_CANDIDATES = 2000
# Up to this many candidates the check is an index probe per candidate, beyond it a hash of the shares.
PROBE_CANDIDATES = 500
# Without a search the page reads at most WALK_PER_ROW rows of the sort order per row it shows
# (enough when 0.5 % of the filtered customers are visible) and never more than WALK_MAX; beyond
# that, or when too few of them turn out visible, the plain plan answers.
WALK_PER_ROW = 200
WALK_MAX = 20000


def _list_order(filters: dict) -> tuple[str, ...]:
    from customers.forms import CustomerFilterForm

    return CustomerFilterForm.SORTS.get(filters.get("sort") or "-updated", CustomerFilterForm.SORTS["-updated"])


def _filtered(queryset, filters: dict):
    """The filters the plan accepts (SHARE_PLAN_FILTERS) on `queryset`, as `customer_list` applies
    them (status, search, kind); tests compare every page with `customer_list`'s."""
    assert not set(filters) - SHARE_PLAN_FILTERS, filters  # noqa: S101 (customer_list_plan checks)
    return selectors.filter_status_search_kind(queryset, filters)


def _plan_parts(user, filters: dict, allowed: frozenset):
    """The predicate's terms (`visibility_parts`) when a plan other than the plain one may serve
    these filters (only `allowed` ones, a current or "all" status), else None; None too for a
    scope that sees everything, which the plain query serves without a predicate."""
    from sharing.principal import visibility_parts

    if FORCE_LIST_PLAN == "plain" or set(filters) - allowed:
        return None
    if filters.get("status", "") not in SHARE_PLAN_STATUSES:
        return None
    principal = get_principal(user)
    if not principal.is_authenticated:
        return None
    return visibility_parts(principal, "view")


@dataclass
class SharePlan:
    """The "shares" plan of one list request: the predicate's terms, the filters, the sort, and
    (after a search's count) how many candidates the search has, when all of them were seen."""

    parts: object  # sharing.principal.VisibilityParts
    filters: dict
    order: tuple[str, ...]
    candidates: int | None = None


def customer_list_plan(user, filters: dict) -> SharePlan | None:
    """The "shares" plan when it serves this request better than the plain predicate, else None.

    For a principal without units whose live shares number more than MANY_SHARES (the big-share
    user: one 20,000-customer group share), the plain predicate probes the primary key once per
    shared customer — for the count and again for the page — before it sorts 25 rows. The plan
    counts through the share index (stopping after the cap) or the search's candidates, and pages
    by walking the sort order or sorting the search's candidates, each checked against the predicate.
    """
    from django.db import connection

    from customers.querysets import MANY_SHARES, share_volume

    if connection.vendor != "postgresql":
        return None
    parts = _plan_parts(user, filters, SHARE_PLAN_FILTERS)
    if parts is None:
        return None
    if not filters.get("q") and (filters.get("sort") or "-updated") not in INDEXED_SORTS:
        return None
    if FORCE_LIST_PLAN != "shares" and (parts.unit_ids or share_volume(user, parts) <= MANY_SHARES):
        return None
    return SharePlan(parts=parts, filters=dict(filters), order=tuple(_list_order(filters)))


def _candidates_sql(plan: SharePlan, *, ordered: bool, limit: int) -> tuple[str, list, list[str], list[str]]:
    """The filtered customers without the visibility predicate (at most `limit`, in the list's
    order when `ordered`) as SQL for a derived table: (sql, params, its column names, the ORDER BY
    terms of the list over those columns, ties broken by id as in the list)."""
    sort_fields = [name.lstrip("-") for name in plan.order if name.lstrip("-") != "pk"]
    queryset = _filtered(Customer.objects.all(), plan.filters)
    queryset = queryset.order_by(*plan.order) if ordered else queryset.order_by()
    queryset = queryset.values_list("pk", "owner_id", "org_unit_id", *sort_fields)[:limit]
    sql, params = queryset.query.sql_with_params()
    columns = ["id", "owner_id", "org_unit_id", *(f"k{i}" for i in range(len(sort_fields)))]
    order_terms, position = [], 0
    for name in plan.order:
        if name.lstrip("-") == "pk":
            column = "c.id"
        else:
            column, position = f"c.k{position}", position + 1
        order_terms.append(f"{column} DESC" if name.startswith("-") else column)
    return sql, list(params), columns, order_terms


def _share_plan_count(plan: SharePlan, cap: int) -> tuple[int, bool] | None:
    """The capped count under the plan, or None when only the plain count can answer it.

    Without a search: `id IN (owned UNION ALL shared ids)`, which PostgreSQL drives from the share
    index and stops after `cap + 1` customers. With a search: the candidates its index finds (at
    most SEARCH_CANDIDATES + 1), each probed against the predicate; when all of them were seen,
    the plan remembers how many there are for the page.
    """
    from django.db import connection

    from crm.pagination import cap_count, capped_count
    from customers.querysets import row_visibility_sql, union_visibility_q

    if not plan.filters.get("q"):
        return capped_count(_filtered(Customer.objects.filter(union_visibility_q(plan.parts)), plan.filters), cap)
    inner_sql, inner_params, columns, _order = _candidates_sql(plan, ordered=False, limit=SEARCH_CANDIDATES + 1)
    visible_sql, visible_params = row_visibility_sql(plan.parts, "c", connection, per_row=True)
    sql = (
        f"SELECT count(*) FILTER (WHERE {visible_sql}), count(*)"  # noqa: S608 (compiled by the ORM)
        f" FROM ({inner_sql}) AS c ({', '.join(columns)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*visible_params, *inner_params])
        visible, seen = cursor.fetchone()
    if seen <= SEARCH_CANDIDATES:
        plan.candidates = seen
        return cap_count(visible, cap)
    if visible > cap:
        return cap_count(visible, cap)
    return None


def _share_plan_page_ids(plan: SharePlan, offset: int, limit: int) -> list[int] | None:
    """The page's ids under the plan, or None when only the plain page query can answer.

    With a search whose candidates were all counted: those candidates (no more than the count
    saw), each checked against the predicate, sorted, cut. Without a search: the filtered customers
    in the list's order, at most WALK_PER_ROW per row wanted, the first visible ones kept —
    PostgreSQL walks the sort index and stops as soon as the page is full. Those rows are a prefix
    of the filtered order, so their visible rows are the first visible rows, ties included; when
    fewer than `limit` turn out visible, the page is left to the plain query.
    """
    from django.db import connection

    from customers.querysets import row_visibility_sql

    if limit <= 0:
        return []
    if plan.filters.get("q"):
        if plan.candidates is None:
            return None
        inner = _candidates_sql(plan, ordered=False, limit=SEARCH_CANDIDATES + 1)
        per_row = plan.candidates <= PROBE_CANDIDATES
    else:
        walk = WALK_PER_ROW * (offset + limit)
        if walk > WALK_MAX:
            return None
        inner = _candidates_sql(plan, ordered=True, limit=walk)
        per_row = False
    inner_sql, inner_params, columns, order_terms = inner
    visible_sql, visible_params = row_visibility_sql(plan.parts, "c", connection, per_row=per_row)
    sql = (
        f"SELECT c.id FROM ({inner_sql}) AS c ({', '.join(columns)})"  # noqa: S608 (compiled by the ORM)
        f" WHERE {visible_sql} ORDER BY {', '.join(order_terms)} LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*inner_params, *visible_params, limit, offset])
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) == limit else None


# Filters under which the count may start with the scope's units alone (below): those `_filtered`
# applies without a search (a search's own index is the better start).
UNIT_COUNT_FILTERS = frozenset({"kind", "status", "sort"})


def _unit_scope_count(user, filters: dict, cap: int) -> tuple[int, bool] | None:
    """(cap, True) when the customers of the viewer's scope units alone pass `cap`, else None.

    Those customers are a subset of what the viewer may see, so when more than `cap` of them match
    the filters the list's capped count is "cap+" whatever the other terms add; PostgreSQL counts
    them index-only on `customer_unit_live` and stops after cap + 1 (0.2 ms instead of the 13-30 ms
    BitmapOr over a province's 90,000 customers, which it builds whole before the LIMIT). Otherwise
    (a small scope, or no units) the plain count answers.
    """
    from crm.pagination import capped_count

    parts = _plan_parts(user, filters, UNIT_COUNT_FILTERS)
    if parts is None or not parts.unit_ids:
        return None

    in_units = _filtered(Customer.objects.filter(org_unit_id__in=list(parts.unit_ids)), filters)
    count, capped = capped_count(in_units, cap)
    return (count, capped) if capped else None


# A unit scope's default page (newest first) is the merge of its branches' own newest rows (below)
# for up to this many units; beyond it, the plain page query.
BRANCH_UNITS = 100


def _branch_page_ids(user, filters: dict, offset: int, limit: int) -> list[int] | None:
    """The ids of a unit scope's page in the default order (`-updated_at, -pk`), or None when the
    plain page query should answer.

    The plain query walks the `updated_at` index and filters every row by the predicate: quick
    while the scope's customers are spread evenly through it, but 71 ms for a provincial manager
    after a 198,000-row import at HQ put as many invisible customers at the top of the order. Here
    every term of the predicate is a branch — each scope unit (its `customer_unit_upd` index is in
    that order), the owner, each share list — that reads only its own newest `offset + limit` rows;
    the page is the newest of their union. Every row of the real page is among its branch's first
    `offset + limit`, so the union holds the page exactly, ties included (the order ends in the
    primary key), and a short union is the real last page.
    """
    from django.db import connection

    if connection.vendor != "postgresql" or limit <= 0 or (filters.get("sort") or "-updated") != "-updated":
        return None
    parts = _plan_parts(user, filters, UNIT_COUNT_FILTERS)
    if parts is None or not parts.unit_ids or len(parts.unit_ids) > BRANCH_UNITS:
        return None
    wanted = offset + limit
    base = _filtered(Customer.objects.all(), filters)
    branches = [base.filter(org_unit_id=unit_id) for unit_id in parts.unit_ids]
    branches.append(base.filter(owner_id=parts.owner_id))
    branches.extend(base.filter(pk__in=shares) for shares in parts.shares)
    newest = [b.order_by("-updated_at", "-pk").values_list("pk", "updated_at")[:wanted] for b in branches]
    union = newest[0].union(*newest[1:])  # UNION: a customer in two branches counts once
    return [pk for pk, _updated in union.order_by("-updated_at", "-id")[offset:wanted]]


def _small_set_page_ids(queryset, order: tuple, offset: int, limit: int) -> list[int] | None:
    """The page's ids when the count was exact (at most the cap): every matching row is read first
    (`MATERIALIZED`, the plan the count used) and only those are sorted.

    Left to itself, PostgreSQL walks the sort index for a selective filter whose rows it expects
    spread through the order: a provincial manager searching "北京" outside Beijing matched 47
    customers, estimated 1,597, and the page read 671,000 rows of the `updated_at` index (772 ms)
    to find 25 of them. Reading at most cap rows bounds the page by the count's cost.
    """
    from django.db import connection
    from django.db.models import F

    if connection.vendor != "postgresql" or limit <= 0 or not order:
        return None
    keys = [term.lstrip("-") for term in order if isinstance(term, str)]
    if len(keys) != len(order) or any("__" in key for key in keys):
        return None  # an order the keys cannot repeat: the plain query answers
    if "pk" not in keys and "id" not in keys:
        keys.append("pk")
        order = (*order, "pk")
    aliases = {f"k{i}": F(key) for i, key in enumerate(keys)}
    pk_alias = f"k{keys.index('pk') if 'pk' in keys else keys.index('id')}"
    inner = queryset.order_by().annotate(**aliases).values(*aliases)
    sql, params = inner.query.sql_with_params()
    terms = ", ".join(f"k{i} {'DESC' if term.startswith('-') else 'ASC'}" for i, term in enumerate(order))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH m AS MATERIALIZED ({sql}) SELECT {pk_alias} FROM m ORDER BY {terms} LIMIT %s OFFSET %s",  # noqa: S608
            [*params, limit, offset],
        )
        return [row[0] for row in cursor.fetchall()]


class CustomerListPaginator(CappedPaginator):
    """The list's capped paginator; under a "shares" plan it counts and cuts the page that way, and
    falls back to the plain queryset (`object_list`) whenever the plan cannot answer."""

    def __init__(self, object_list, per_page, *, plan: SharePlan | None = None, user=None, filters=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.plan = plan
        self.user, self.filters = user, filters

    @cached_property
    def _capped_count(self) -> tuple[int, bool]:
        if self.plan is not None:
            counted = _share_plan_count(self.plan, self.cap)
            if counted is not None:
                return counted
        elif self.user is not None:
            counted = _unit_scope_count(self.user, self.filters or {}, self.cap)
            if counted is not None:
                return counted
        return super()._capped_count

    def page(self, number):
        if self.plan is None and self.user is None:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if self.plan is not None:
            ids, order = _share_plan_page_ids(self.plan, bottom, top - bottom), self.plan.order
        else:
            ids, order = _branch_page_ids(self.user, self.filters or {}, bottom, top - bottom), ("-updated_at", "-pk")
        if ids is None and not self.capped and FORCE_LIST_PLAN != "plain":
            order = tuple(self.object_list.query.order_by)
            ids = _small_set_page_ids(self.object_list, order, bottom, top - bottom)
        if ids is None:
            rows = self.object_list[bottom:top]
        else:
            rows = self.object_list.model.objects.filter(pk__in=ids).order_by(*order)
            rows = rows.select_related("owner", "org_unit")
            # customers.selectors.customer_rows reads these rows with a precompiled statement.
            rows.page_ids = (ids, order)
        return self._get_page(rows, number, self)


def customer_list_page(user, filters: dict, number):
    """One page of the list (`Paginator.get_page` semantics: a bad number gives the first or last page)."""
    plan = customer_list_plan(user, filters)
    queryset = selectors.customer_list(user, filters)
    return CustomerListPaginator(queryset, selectors.PAGE_SIZE, plan=plan, user=user, filters=filters).get_page(number)
