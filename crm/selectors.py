"""Reads for site-wide pages. Every figure goes through the visibility choke point."""

from django.db.models import Count, Q
from django.utils import timezone

from crm.pagination import cap_count, capped_count, count_label
from crm.summaries import scope_customer_totals
from interactions.querysets import LIST
from sharing.principal import get_principal

HOME_COUNT_CAP = 1000


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
    if cases is not None and principal.scope("view").sees_all:
        # Counted up to the cap: two index walks that stop early (case_open_due).
        open_cases, open_capped = capped_count(cases, HOME_COUNT_CAP)
        overdue_cases, overdue_capped = capped_count(cases.overdue(), HOME_COUNT_CAP)
    elif cases is not None:
        # A limited scope: both badges in one pass, since building the visible-customer set is the
        # expensive part of each case query (a province manager's ~90,000 customers).
        badges = cases.order_by().aggregate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=timezone.now())))
        open_cases, open_capped = cap_count(badges["open"], HOME_COUNT_CAP)
        overdue_cases, overdue_capped = cap_count(badges["overdue"], HOME_COUNT_CAP)
    context = {
        "my_customers": visible.filter(owner=user).select_related("org_unit").order_by("-updated_at")[:10],
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
