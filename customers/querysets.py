"""Reusable customer filters. `visible_to` is the only way code paths get customers."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

# Shapes of the visibility predicate (docs/adr/0016-share-heavy-customer-list.md). Every shape
# admits exactly the customers `sharing.principal.visibility_q` admits; only the SQL differs:
# - "plain" (default): `owner = me OR org_unit IN (…) OR id = ANY(ARRAY(shares)) …`, a BitmapOr;
# - "union": `id IN (SELECT id FROM customer WHERE owner = me OR org_unit IN (…) UNION ALL shared
#   ids)`, a semi-join PostgreSQL drives from the share index: a capped count stops after ~1,000
#   primary-key probes instead of building a bitmap of every shared customer first.
PLAIN, UNION = "plain", "union"
# A principal with more live shares than this (and no units) is "share-heavy" (counted up to it + 1).
MANY_SHARES = 5000


def share_volume(user, parts, action: str = "view") -> int:
    """Live shares of the principal, counted up to MANY_SHARES + 1: a plan hint, kept with the
    cached principal for a minute (`sharing.principal.principal_hint`), so that most list requests
    make no query for it. A stale or wrong figure changes the speed, never the rows."""
    from sharing.principal import principal_hint

    def count() -> int:
        first, *others = parts.shares
        return first.union(*others, all=True).order_by()[: MANY_SHARES + 1].count()

    return principal_hint(user, f"share-volume:{action}", count)


def in_scope_q(parts, *, owner: str = "owner_id", unit: str = "org_unit_id") -> Q:
    """Owner and scope units: the terms of the predicate that read the customer row itself (or,
    with other column names, a record's copies of them: interactions/copies.py)."""
    q = Q(**{owner: parts.owner_id})
    if parts.unit_ids:
        q |= Q(**{f"{unit}__in": list(parts.unit_ids)})
    return q


def visible_ids(parts):
    """The visible customers' ids as one subquery: customers in scope UNION ALL live shares' customers."""
    from customers.models import Customer

    return Customer.objects.filter(in_scope_q(parts)).values("pk").union(*parts.shares, all=True)


def union_visibility_q(parts) -> Q:
    """The "union" shape: `id IN (customers in scope UNION ALL live shares' customers)`."""
    return Q(pk__in=visible_ids(parts))


def row_visibility_sql(parts, alias: str, connection, *, per_row: bool = False) -> tuple[str, list]:
    """The predicate over a row source `alias` with the columns `id`, `owner_id`, `org_unit_id`
    (a derived table of candidate customers, customers/list_plan.py): the owner, the scope's units,
    then one `EXISTS` per live share subquery, compiled by the ORM from `visibility_parts`.
    PostgreSQL evaluates each `EXISTS` per candidate (an index probe) or hashed (the whole share
    list read once), whichever its estimates favour; `per_row` rules out the hash (`OFFSET 0` keeps
    the planner from turning the `EXISTS` into a hashed `IN`) for the few candidates of a search,
    where reading 20,000 shares to check a hundred rows cost 4-10 ms.
    """
    limit = " OFFSET 0" if per_row else ""
    params: list = [parts.owner_id]
    terms = [f"{alias}.owner_id = %s"]
    if parts.unit_ids:
        terms.append(f"{alias}.org_unit_id = ANY(%s)")
        params.append(list(parts.unit_ids))
    for shares in parts.shares:
        sql, share_params = shares.query.get_compiler(connection=connection).as_sql()
        exists = f"EXISTS (SELECT 1 FROM ({sql}) s WHERE s.content_object_id = {alias}.id{limit})"  # noqa: S608 (ORM-compiled)
        terms.append(exists)
        params.extend(share_params)
    return "(" + " OR ".join(terms) + ")", params


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view", *, shape: str = PLAIN):
        """Customers `user` may see (action="view") or change (action="change").

        Delegates the rule to sharing.principal: scope by role and unit, own records, live unit
        grants and live explicit shares. Anonymous or inactive users see nothing. `shape` picks the
        SQL of the same predicate (see UNION above); callers that pass nothing get the plain one.
        """
        from sharing.principal import get_principal, visibility_parts, visibility_q

        principal = get_principal(user)
        if not principal.is_authenticated:
            return self.none()
        if shape == UNION:
            parts = visibility_parts(principal, action)
            return self if parts is None else self.filter(union_visibility_q(parts))
        q = visibility_q(principal, action)
        return self if q is None else self.filter(q)

    def active(self):
        return self.exclude(status__in=["merged", "erased"])

    def search(self, text: str):
        """Search by customer number, phone (any format), email or name prefix, using indexes."""
        from customers.search import search_filter

        return search_filter(self, text)
