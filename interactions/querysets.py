"""Reusable filters of interaction records. `visible_to` is the only way code paths get them."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

# How `visible_to` filters records by their customer's visibility (docs/performance.md, "Session 4
# changes"). Every shape selects exactly the records whose customer the plain predicate admits:
# - "customers": `customer_id IN (SELECT id FROM customer WHERE <predicate>)`. The planner either
#   probes each record's customer (a user's or a team's follow-ups) or builds the visible
#   customers and joins (a province's lists): right for owner-, unit- and few-share scopes. With
#   a 20,000-customer share it goes wrong: `id = ANY(ARRAY(…))` is estimated at ten ids, so it
#   reads all 20,000 customers by primary key even for the user's 300 opportunities;
# - "records" (no units, the caller's records narrowed to a few: `rows=FEW`): per record, its
#   customer row probed for the owner, then `EXISTS` on the live shares of its `customer_id` (an
#   index probe per record, or one hash). The owner term comes first: an OR stops at the first
#   true term, so the user's own records never touch the shares;
# - "union" (no units, a list page, many shares: `rows=LIST`): `customer_id IN (owned customers
#   UNION ALL shared ids)`: the shared ids come from the share table's index, no customer row read.
# Records that carry the customer copies (`cust_org_unit_id`, `cust_owner_id`, kept by triggers:
# interactions/copies.py, ADR 0017) have two more, for callers that pass `rows`:
# - "copies": `cust_org_unit_id IN (units) OR cust_owner_id = me OR customer_id = ANY(ARRAY(shares))`,
#   a BitmapOr of the record's own indexes: a province's cases without reading its 90,000 customers;
# - "copies_hashed" (no units, a list page, many shares): `cust_owner_id = me OR customer_id IN
#   (shares)`, a hashed share set checked while walking the list's sort index (the big-share user:
#   no 20,000 index probes per page). Also a manager's follow-ups (`VISIBILITY_PER_ROW` models):
#   the person filter drives the walk of `activity_followups_due`, which includes the copies; the
#   BitmapOr read all ~10,000 open follow-ups of a province (115 against 8 ms).
# Without the copies, with units (a manager's scope) the "customers" shape stays: measured, the
# "records" and "union" shapes were slower there.
# Tests force each shape (FORCE_SHAPE) and compare it with the plain predicate.
FORCE_SHAPE: str | None = None
# A list page of a principal whose live shares number more than this gets the "union" shape.
MANY_SHARES = 1000
# `visible_to(rows=…)`: the caller's own filters leave a few records (a user's follow-ups or
# opportunities), or the caller pages through a whole list.
FEW, LIST = "few", "list"


COPY_SHAPES = ("copies", "copies_hashed")


def has_copies(model) -> bool:
    """Does the model carry the customer copies (interactions/copies.py)?"""
    return hasattr(model, "cust_org_unit_id")


def _shape(user, parts, action: str, rows: str | None, model=None) -> str:
    # The share count is the customer list's plan hint, kept with the cached principal for a
    # minute (customers.querysets.share_volume): no query for it on most requests.
    from customers.querysets import share_volume

    if FORCE_SHAPE:
        if FORCE_SHAPE in COPY_SHAPES and not has_copies(model):
            return "customers"
        return FORCE_SHAPE
    if rows is None:
        return "customers"
    if model is not None and has_copies(model):
        if parts.unit_ids:
            # Follow-up lists are narrowed by person and walk their due-date index (which includes
            # the copies): visibility checked per row there; elsewhere a BitmapOr of the copies.
            return "copies_hashed" if getattr(model, "VISIBILITY_PER_ROW", False) else "copies"
        if rows == FEW:
            return "records"
        return "copies_hashed" if share_volume(user, parts, action) > MANY_SHARES else "copies"
    if parts.unit_ids:
        return "customers"
    if rows == FEW:
        return "records"
    return "union" if share_volume(user, parts, action) > MANY_SHARES else "customers"


def records_visibility_q(parts, model=None) -> Q:
    """The "records" shape, for a model with a `customer_id` column: the record's customer row is
    the user's or in the scope's units, or its `customer_id` is a live share's customer."""
    from customers.models import Customer
    from customers.querysets import in_scope_q

    if has_copies(model):
        q = _copies_in_scope_q(parts)  # the owner and unit terms from the record's own row
    else:
        q = Q(Exists(Customer.objects.filter(in_scope_q(parts), pk=OuterRef("customer_id"))))
    for shares in parts.shares:
        q |= Q(Exists(shares.filter(content_object_id=OuterRef("customer_id"))))
    return q


def _copies_in_scope_q(parts) -> Q:
    from customers.querysets import in_scope_q

    return in_scope_q(parts, owner="cust_owner_id", unit="cust_org_unit_id")


def copies_visibility_q(parts, *, hashed: bool = False) -> Q:
    """The "copies" shapes, for a model with the customer copies: the record's copy of its
    customer's unit is in the scope, or of its owner is the user, or its `customer_id` is a live
    share's customer (`= ANY(ARRAY(…))` for a BitmapOr, or `IN (…)`: a hashed set per row)."""
    q = _copies_in_scope_q(parts)
    if hashed:
        first, *others = parts.shares
        return q | Q(customer_id__in=first.union(*others, all=True) if others else first)
    for shares in parts.shares:
        q |= Q(customer__id__any_array=shares)
    return q


def union_visibility_q(parts) -> Q:
    """The "union" shape: `customer_id IN (scope customers UNION ALL live shares' customers)`."""
    from customers.querysets import visible_ids

    return Q(customer_id__in=visible_ids(parts))


class KindQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view", *, rows: str | None = None):
        """Records whose customer `user` may see (or change) and whose kind the user's roles may see.

        The customer predicate is sharing's one predicate (`visibility_parts`) in the SQL shape
        that suits the call (see FORCE_SHAPE above): `rows=FEW` when the caller's own filters
        leave a few records (`user = me`), `rows=LIST` for a list page (the principal's share volume
        steers it: a hint kept with the cached principal, counted at most once a minute). Without `rows`, the "customers" shape. A kind
        the roles do not list gives nothing at all (finance sees payments, not complaints).
        """
        from customers.models import Customer
        from sharing.principal import get_principal, visibility_parts, visibility_q

        principal = get_principal(user)
        if not principal.is_authenticated or not principal.sees_kind(self.model.KIND):
            return self.none()
        parts = visibility_parts(principal, action)
        if parts is None:
            return self
        shape = _shape(user, parts, action, rows, self.model)
        if shape in COPY_SHAPES:
            return self.filter(copies_visibility_q(parts, hashed=shape == "copies_hashed"))
        if shape == "records":
            return self.filter(records_visibility_q(parts, self.model))
        if shape == "union":
            return self.filter(union_visibility_q(parts))
        # A semi-join on the visible customers, not the predicate OR-ed across the join: at 1M
        # customers the joined form took 1-21 s of SQL per list, this one 16-75 ms (docs/performance.md).
        return self.filter(customer_id__in=Customer.objects.filter(visibility_q(principal, action)).values("pk"))

    def of_visible_customer(self, user, customer):
        """One customer's records, for a page that already knows whether the viewer sees it.

        Same answer as `visible_to(user).filter(customer=customer)`: nothing unless the roles see
        the kind and the user may see the customer (`may_access_customer`, answered once per
        request), then a plain `customer_id = …` — the 360 page's sections do not each compile and
        run the visibility predicate again.
        """
        from sharing.principal import get_principal, may_access_customer

        principal = get_principal(user)
        if not principal.is_authenticated or not principal.sees_kind(self.model.KIND):
            return self.none()
        if not may_access_customer(user, customer.pk, "view"):
            return self.none()
        return self.filter(customer_id=customer.pk)

    def for_customer(self, customer):
        return self.filter(customer=customer)


class ActivityQuerySet(KindQuerySet):
    def open_followups(self):
        return self.filter(follow_up_on__isnull=False, follow_up_done=False)

    def due_today(self, today=None):
        return self.open_followups().filter(follow_up_on=today or timezone.localdate())

    def overdue(self, today=None):
        return self.open_followups().filter(follow_up_on__lt=today or timezone.localdate())

    def due_by(self, today=None):
        """Open follow-ups due today or earlier."""
        return self.open_followups().filter(follow_up_on__lte=today or timezone.localdate())

    def editable_by(self, user):
        """Activities the user may edit: visible ones they logged or are assigned (administrators: all)."""
        qs = self.visible_to(user)
        if getattr(user, "is_superuser", False):
            return qs
        return qs.filter(Q(user=user) | Q(created_by=user))


class OpportunityQuerySet(KindQuerySet):
    def open(self):
        return self.filter(stage__in=self.model.OPEN_STAGES)


class PaymentQuerySet(KindQuerySet):
    def open(self):
        return self.filter(status="open")

    def overdue(self, today=None):
        return self.open().filter(due_on__lt=today or timezone.localdate())


class ServiceCaseQuerySet(KindQuerySet):
    def open(self):
        return self.exclude(status="closed")

    def overdue(self, now=None):
        return self.open().filter(due_at__lt=now or timezone.now())
