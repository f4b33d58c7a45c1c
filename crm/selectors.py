"""Reads for site-wide pages. Every figure goes through the visibility choke point."""

from django.db.models import Count, Q
from django.utils import timezone

from crm.pagination import cap_count, count_label
from crm.summaries import scope_customer_totals
from interactions.querysets import LIST
from sharing.principal import get_principal

HOME_COUNT_CAP = 1000


def _case_badges(cases, now, *, unit_scope: bool) -> tuple[int, bool, int, bool]:
    """(open, capped, overdue, capped): both badges, up to HOME_COUNT_CAP, in one query.

    A unit scope counts its few thousand open cases exactly in one pass (a BitmapOr of the cases'
    own unit and owner copies, ADR 0017: 4 ms for a province, 225 ms when its 90,000 customers
    were read). Any other scope (everything, the big share) takes the first HOME_COUNT_CAP + 1
    open cases by due date from `case_open_due`, which stops early, and counts those already due:
    overdue cases come first in that order, so that count is exact up to the cap too.
    """
    if unit_scope:
        badges = cases.order_by().aggregate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)))
    else:
        window = cases.order_by("due_at").values("due_at")[: HOME_COUNT_CAP + 1]
        badges = window.aggregate(open=Count("due_at"), overdue=Count("due_at", filter=Q(due_at__lt=now)))
    return (*cap_count(badges["open"], HOME_COUNT_CAP), *cap_count(badges["overdue"], HOME_COUNT_CAP))


def _own_customers(user, principal, visible):
    """The user's own active customers, all of them visible: the predicate's owner term admits
    them (`visibility_parts(...).owner_id`), so they need not go through its OR with the shares.
    With a 20,000-customer share that OR probed 20,080 ids to keep the user's 555 (66 ms)."""
    from customers.models import Customer
    from sharing.principal import visibility_parts

    parts = visibility_parts(principal, "view")  # None: the scope is everything
    if parts is not None and parts.owner_id != user.pk:
        return visible.filter(owner=user)
    return Customer.objects.filter(owner=user).active()


def home_context(user) -> dict:
    """The workbench: my customers and figures, follow-ups, open cases, requests waiting for me.

    Panels a role cannot use are None (hidden), not empty. Managers also get their unit's
    figures; executives the company's (through visible_to, so scope decides, not the role name).
    """
    from customers.models import Customer
    from dedup.selectors import open_pair_count
    from interactions.models import ServiceCase
    from interactions.selectors import followups_for_home
    from sharing.selectors import inbox_requests, my_requests

    principal = get_principal(user)
    visible = Customer.objects.visible_to(user).active()
    followups = followups_for_home(user) if principal.sees_kind("activity") else None
    cases = ServiceCase.objects.visible_to(user, rows=LIST).open() if principal.sees_kind("service_case") else None
    pending = list(inbox_requests(user=user)[:10])
    # Scope-wide customer figures from the precomputed summary when it may stand in for
    # visible_to (crm/summaries.py: unit-shaped scopes, a fresh run), else counted live.
    scope_totals = scope_customer_totals(user)
    totals, figures_as_of = scope_totals if scope_totals is not None else (None, None)
    open_cases = overdue_cases = None
    open_capped = overdue_capped = False
    if cases is not None:
        unit_scope = bool(principal.scope("view").unit_ids)
        open_cases, open_capped, overdue_cases, overdue_capped = _case_badges(
            cases, timezone.now(), unit_scope=unit_scope
        )
    context = {
        "my_customers": _own_customers(user, principal, visible)
        .select_related("org_unit")
        .order_by("-updated_at")[:10],
        "visible_count": totals["n"] if totals is not None else visible.count(),
        "figures_as_of": figures_as_of,
        "followups_today": followups["items"] if followups else None,
        "followups": followups,
        "open_cases": list(cases.select_related("customer").order_by("due_at")[:10]) if cases is not None else None,
        # Badges: counted up to HOME_COUNT_CAP ("1,000+"), the dashboards have the exact figures.
        "open_case_count": open_cases,
        "open_case_count_capped": open_capped,
        "overdue_case_count": overdue_cases,
        "overdue_case_count_capped": overdue_capped,
        "open_case_label": count_label(open_cases, open_capped) if cases is not None else "",
        "overdue_case_label": count_label(overdue_cases, overdue_capped) if cases is not None else "",
        "pending_requests": pending if (pending or principal.is_manager) else None,
        "my_pending_requests": list(my_requests(user=user).filter(status="pending")[:5]),
        "duplicate_count": open_pair_count(user) if principal.may("can_merge") else None,
        "is_manager": principal.is_manager,
    }
    if principal.is_manager or principal.scope("view").sees_all:
        # The unit's (or the company's) figures: everything the viewer's scope covers.
        context["unit_figures"] = {
            "customers": context["visible_count"],
            "without_owner": (totals["extra"] if totals is not None else visible.filter(owner__isnull=True).count()),
        }
    return context
