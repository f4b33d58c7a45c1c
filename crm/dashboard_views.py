"""Manager dashboards: every figure from the viewer's visible data (crm/dashboards.py)."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from crm import dashboards
from crm.pagination import CappedPaginator
from customers.io.formats import neutralise
from sharing.audit import log_access
from sharing.models import OrgUnit
from sharing.principal import get_principal


def _unit_choices(user):
    """Units the viewer may narrow a dashboard to: the units of their view scope."""
    scope = get_principal(user).scope("view")
    # Only what the filter and the figures use: an executive's list holds ~450 units on every page.
    units = (
        OrgUnit.objects.exclude(kind=OrgUnit.Kind.DEPARTMENT)
        .only("id", "name", "path", "kind", "parent_id")
        .order_by("path")
    )
    if scope.sees_all:
        return list(units)
    return list(units.filter(pk__in=scope.unit_ids))


def _chosen_unit(request, choices):
    raw = request.GET.get("unit", "")
    if not raw:
        return None
    for unit in choices:
        if str(unit.pk) == raw:
            return unit
    raise Http404  # a unit outside the viewer's scope answers like a missing one


def _int_param(request, name, default, low, high):
    try:
        return min(max(int(request.GET.get(name, default)), low), high)
    except ValueError:
        return default


def _csv_response(filename, columns, rows):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise("" if v is None else str(v)) for v in row])
    return response


@login_required
def index(request):
    choices = _unit_choices(request.user)
    unit = _chosen_unit(request, choices)
    days = _int_param(request, "days", 90, 1, 3650)
    period = dashboards.Period.last_days(days)
    sections = dashboards.dashboard(request.user, period=period, unit=unit)
    wanted = request.GET.get("section")
    if request.GET.get("format") == "csv":
        section = next((s for s in sections if s.key == wanted), None)
        if section is None:
            raise Http404
        log_access(
            actor=request.user,
            obj=request.user,
            what="export_dashboard",
            request=request,
            section=section.key,
            unit=unit.pk if unit else None,
            days=days,
            rows=len(section.rows),
        )
        return _csv_response(f"{section.key}.csv", section.columns, section.rows)
    for section in sections:
        section.shown_rows, section.shown_chart, section.more_rows = section.shown()
    return render(
        request,
        "crm/dashboards/index.html",
        {
            "sections": sections,
            "units": choices,
            "unit": unit,
            "days": days,
            "period": period,
            "now": timezone.now(),
        },
    )


@login_required
def silent(request):
    choices = _unit_choices(request.user)
    unit = _chosen_unit(request, choices)
    days = _int_param(request, "days", dashboards.SILENT_DAYS_DEFAULT, 1, 3650)
    queryset = dashboards.silent_customers(request.user, days, unit)
    if request.GET.get("format") == "csv":
        rows = queryset[:50000]
        log_access(actor=request.user, obj=request.user, what="export_dashboard", request=request, section="silent")
        return _csv_response(
            "silent_customers.csv",
            ["number", "name", "owner", "unit", "updated_at"],
            (
                [
                    c.number,
                    c.name,
                    c.owner.username if c.owner else "",
                    c.org_unit.name if c.org_unit else "",
                    c.updated_at,
                ]
                for c in rows
            ),
        )
    # The list walks customers by updated_at and stops after a page (NOT EXISTS probes); the count
    # is capped so an executive's page does not anti-join the whole table (docs/performance.md).
    page = CappedPaginator(queryset, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "crm/dashboards/silent.html",
        {"page_obj": page, "units": choices, "unit": unit, "days": days},
    )
