"""The audit trail viewer and the login history, for auditors and executives (can_view_audit).

Entries come from django-auditlog (model writes through signals, plus the explicit entries
written by sharing.audit for sensitive reads, bulk writes, grants, merges and imports).
A viewer whose customer scope is not "everything" sees only entries about customers they may see.
"""

import csv
from datetime import datetime, time, timedelta

from auditlog.models import LogEntry
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from axes.utils import reset
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.pagination import CappedPaginator
from customers.models import Customer
from sharing.audit import log_access
from sharing.models import OrgUnit
from sharing.principal import get_principal

ACTIONS = {
    "create": LogEntry.Action.CREATE,
    "update": LogEntry.Action.UPDATE,
    "delete": LogEntry.Action.DELETE,
    "access": LogEntry.Action.ACCESS,
}


def _require_audit(user):
    if not get_principal(user).may("can_view_audit"):
        raise Http404


def _day_bounds(raw, end=False):
    day = parse_date(raw or "")
    if day is None:
        return None
    if end:
        day += timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_entries(user, params):
    """LogEntry rows the viewer may read, narrowed by the filters in `params` (a QueryDict or dict)."""
    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-pk")
    customer_ct = ContentType.objects.get_for_model(Customer)
    principal = get_principal(user)
    if not principal.scope("view").sees_all:
        visible_ids = Customer.objects.visible_to(user).values("pk")
        entries = entries.filter(content_type=customer_ct, object_id__in=visible_ids)
    actor = (params.get("actor") or "").strip()
    if actor:
        entries = entries.filter(actor__username=actor)
    number = (params.get("customer") or "").strip().upper()
    if number:
        customer = Customer.objects.filter(number=number).values_list("pk", flat=True).first()
        if customer is None:
            return entries.none()
        related = Q(content_type=customer_ct, object_id=customer)
        for model_name in ("contactpoint", "companyprofile", "personprofile"):
            ct = ContentType.objects.get(app_label="customers", model=model_name)
            model = ct.model_class()
            ids = model.objects.filter(customer_id=customer).values("pk")
            related |= Q(content_type=ct, object_id__in=ids)
        entries = entries.filter(related)
    action = params.get("action") or ""
    if action in ACTIONS:
        entries = entries.filter(action=ACTIONS[action])
    what = (params.get("what") or "").strip()
    if what:
        entries = entries.filter(additional_data__what=what)
    unit_id = params.get("unit") or ""
    if unit_id.isdigit():
        unit = OrgUnit.objects.filter(pk=int(unit_id)).first()
        if unit is not None:
            entries = entries.filter(actor__membership__unit__path__startswith=unit.path)
    start, end = _day_bounds(params.get("from")), _day_bounds(params.get("to"), end=True)
    if start:
        entries = entries.filter(timestamp__gte=start)
    if end:
        entries = entries.filter(timestamp__lt=end)
    return entries


def _entry_row(entry):
    what = (entry.additional_data or {}).get("what", "") if isinstance(entry.additional_data, dict) else ""
    return {
        "entry": entry,
        "what": what,
        "changes": sorted((entry.changes_dict or {}).items()),
        "is_customer": entry.content_type.app_label == "customers" and entry.content_type.model == "customer",
        "detail": {k: v for k, v in (entry.additional_data or {}).items() if k != "what"}
        if isinstance(entry.additional_data, dict)
        else {},
    }


@login_required
def log(request):
    _require_audit(request.user)
    entries = audit_entries(request.user, request.GET)
    if request.GET.get("format") == "csv":
        rows = list(entries[:50000])
        log_access(
            actor=request.user,
            obj=request.user,
            what="export_audit",
            request=request,
            filters={k: v for k, v in request.GET.items() if k != "format"},
            rows=len(rows),
        )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit.csv"'
        response.write("\ufeff")
        writer = csv.writer(response)
        writer.writerow(
            ["timestamp", "actor", "action", "what", "object_type", "object_id", "object", "changes", "remote_addr"]
        )
        for e in rows:
            what = e.additional_data.get("what", "") if isinstance(e.additional_data, dict) else ""
            writer.writerow(
                [
                    e.timestamp.isoformat(),
                    e.actor.username if e.actor else "",
                    e.get_action_display(),
                    what,
                    e.content_type.model,
                    e.object_pk,
                    e.object_repr,
                    e.changes_str if e.changes else "",
                    e.remote_addr or "",
                ]
            )
        return response
    page = CappedPaginator(entries, 50, cap=5000).get_page(request.GET.get("page"))
    rows = [_entry_row(e) for e in page.object_list]
    return render(
        request,
        "crm/audit/log.html",
        {
            "page_obj": page,
            "rows": rows,
            "units": OrgUnit.objects.order_by("path"),
            "actions": list(ACTIONS),
            "filters": request.GET,
        },
    )


@login_required
def logins(request):
    _require_audit(request.user)
    successes = AccessLog.objects.order_by("-attempt_time")[:100]
    failures = AccessFailureLog.objects.order_by("-attempt_time")[:100]
    locked = AccessAttempt.objects.order_by("-attempt_time")[:100]
    return render(
        request,
        "crm/audit/logins.html",
        {"successes": successes, "failures": failures, "attempts": locked, "can_unlock": request.user.is_superuser},
    )


@login_required
@require_POST
def unlock(request):
    """Reset failed-login counters for one username (administrators only)."""
    if not request.user.is_superuser:
        raise Http404
    username = request.POST.get("username", "")
    count = reset(username=username) if username else 0
    log_access(actor=request.user, obj=request.user, what="login_unlocked", request=request, username=username)
    messages.success(request, _("Unlocked %(name)s (%(n)s records cleared).") % {"name": username, "n": count})
    return redirect("audit:logins")
