"""Sharing pages: who can see a customer and why, shares, review, unmasking, access requests, notifications.

Every view fetches through a restricted queryset first (`Customer.objects.visible_to`,
`users_visible_to`, `grants_manageable_by`, `inbox_requests`), so anything the user may not reach
answers 404, exactly like a missing record. Writes go through `sharing.services`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.field_groups import CONTACT, FIELD_GROUPS, IDENTITY, MASKABLE
from customers.models import Customer
from sharing import selectors, services
from sharing.audit import log_access
from sharing.forms import AccessRequestForm, DecisionForm, ReviewFilterForm, RevokeForm, ShareForm
from sharing.models import AccessRequest, Action, FieldLevel, UnitGrant, UnmaskGrant
from sharing.presenters import CustomerPresenter
from sharing.principal import get_principal

PAGE_SIZE = 25
REVEALED_TEMPLATES = {
    CONTACT: "sharing/partials/_revealed_contacts.html",
    IDENTITY: "sharing/partials/_revealed_identity.html",
}


def _page(request, queryset, size=PAGE_SIZE):
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return fallback


def _form_error(form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form (field errors where the form has the field)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- who can see this customer and why


def _customer_access_page(request, customer, share_form=None, status=200):
    context = selectors.customer_access_overview(customer=customer, viewer=request.user)
    if context["can_manage"] and share_form is None:
        share_form = ShareForm(granter=request.user)
    context.update(customer=customer, share_form=share_form if context["can_manage"] else None)
    return render(request, "sharing/customer_access.html", context, status=status)


@login_required
@require_GET
def customer_access(request, pk):
    customer = get_object_or_404(Customer.objects.visible_to(request.user).select_related("org_unit", "owner"), pk=pk)
    return _customer_access_page(request, customer)


@login_required
@require_POST
def share_create(request, pk):
    customer = get_object_or_404(
        Customer.objects.visible_to(request.user, action=Action.CHANGE).select_related("org_unit", "owner"), pk=pk
    )
    if not get_principal(request.user).may("can_manage_access"):
        raise Http404
    form = ShareForm(request.POST, granter=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.share_grant(
                customer=customer,
                action=data["action"],
                granted_by=request.user,
                user=data.get("user"),
                group=data.get("group"),
                expires_at=data["expires_at"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Shared until %(day)s.") % {"day": data["expires_on"].isoformat()})
            return redirect("sharing:customer_access", pk=customer.pk)
    return _customer_access_page(request, customer, share_form=form, status=400)


@login_required
@require_POST
def share_revoke(request, kind, pk):
    if kind not in selectors.GRANT_KINDS:
        raise Http404
    grant = get_object_or_404(selectors.grants_manageable_by(request.user, kind), pk=pk)
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if isinstance(grant, UnitGrant | UnmaskGrant):
        fallback = reverse("sharing:review") + f"?kind={kind}"
        if isinstance(grant, UnmaskGrant):
            fallback = reverse("sharing:customer_access", args=[grant.customer_id])
        services.grant_revoke(grant=grant, revoked_by=request.user, reason=reason)
    else:
        fallback = reverse("sharing:customer_access", args=[grant.content_object_id])
        services.share_revoke(share=grant, revoked_by=request.user, reason=reason)
    messages.success(request, _("Access revoked. It ends with the holder's next request."))
    return redirect(_safe_next(request, fallback))


# --- one user's access


@login_required
@require_GET
def user_access(request, pk):
    subject = get_object_or_404(selectors.users_visible_to(request.user), pk=pk)
    context = selectors.user_access_overview(subject=subject, viewer=request.user)
    context["can_revoke"] = {
        kind: set(
            selectors.grants_manageable_by(request.user, kind)
            .filter(pk__in=[g.pk for g in context[name]])
            .values_list("pk", flat=True)
        )
        for kind, name in (
            ("user", "user_shares"),
            ("group", "group_shares"),
            ("unit", "unit_grants"),
            ("unmask", "unmask_grants"),
        )
    }
    return render(request, "sharing/user_access.html", context)


# --- permission review


@login_required
@require_GET
def review(request):
    if not get_principal(request.user).may("can_manage_access"):
        raise Http404
    filters = ReviewFilterForm(request.GET or None)
    chosen = filters.cleaned() if request.GET else {"kind": "user", "reason": "", "q": ""}
    page_obj = _page(request, selectors.review_rows(viewer=request.user, **chosen))
    return render(
        request,
        "sharing/review.html",
        {
            "filters": filters if request.GET else ReviewFilterForm(initial=chosen),
            "chosen": chosen,
            "page_obj": page_obj,
            "counts": selectors.review_counts(viewer=request.user),
            "kind_labels": selectors.GRANT_KIND_LABELS,
            "expiring_within_days": selectors.EXPIRING_WITHIN.days,
            "unused_days": selectors.UNUSED_FOR.days,
        },
    )


# --- unmasking


@login_required
@require_POST
def unmask(request, pk, field_group):
    """Show one field group of a customer in clear: needs level "visible" or a live unmask grant.

    A customer the user cannot see answers 404; a visible customer without the right answers 404 too,
    with a short message partial and no data."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user).select_related("org_unit"), pk=pk)
    if field_group not in MASKABLE:
        raise Http404
    presenter = CustomerPresenter(customer, request.user)
    if presenter.level(field_group) < FieldLevel.VISIBLE and not presenter.revealable(field_group):
        context = {"customer": presenter, "field_group": field_group, "group_label": FIELD_GROUPS[field_group]}
        return render(request, "sharing/partials/_unmask_refused.html", context, status=404)
    revealed = CustomerPresenter(customer, request.user, unmask_groups=presenter.unmask_groups, revealed={field_group})
    log_access(actor=request.user, obj=customer, what="unmask", request=request, field_group=field_group)
    return render(
        request,
        REVEALED_TEMPLATES[field_group],
        {"customer": revealed, "field_group": field_group, "group_label": FIELD_GROUPS[field_group]},
    )


# --- access requests


def _request_target(request, pk):
    """(customer, visible): any active customer the user can see, or one they cannot see when someone
    could approve their request (the duplicate warning offers exactly that)."""
    customer = get_object_or_404(Customer.objects.active().select_related("org_unit"), pk=pk)
    visible = Customer.objects.visible_to(request.user).filter(pk=customer.pk).exists()
    if not visible and not services.approvers_for(request.user).exists():
        raise Http404
    return customer, visible


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request, pk):
    customer, visible = _request_target(request, pk)
    allowed = list(AccessRequest.Kind.values) if visible else [AccessRequest.Kind.VIEW, AccessRequest.Kind.CHANGE]
    if request.method == "POST":
        form = AccessRequestForm(request.POST, allowed_kinds=allowed)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.access_request_create(
                    requester=request.user,
                    customer=customer,
                    kind=data["kind"],
                    reason=data["reason"],
                    duration_days=data["duration_days"],
                    field_group=data["field_group"],
                )
            except ValidationError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Your request was sent to your manager."))
                return redirect("sharing:requests")
        status = 400
    else:
        initial = {k: request.GET[k] for k in ("kind", "field_group") if request.GET.get(k)}
        form = AccessRequestForm(initial=initial, allowed_kinds=allowed)
        status = 200
    context = {
        "customer": CustomerPresenter(customer, request.user) if visible else None,
        "number": customer.number,
        "owning_unit": customer.org_unit.name if customer.org_unit else "",
        "visible": visible,
        "form": form,
        "approvers": list(services.approvers_for(request.user).order_by("username")),
    }
    return render(request, "sharing/request_form.html", context, status=status)


@login_required
@require_GET
def requests(request):
    page_obj = _page(request, selectors.my_requests(user=request.user))
    return render(request, "sharing/request_list.html", {"page_obj": page_obj})


@login_required
@require_POST
def request_withdraw(request, pk):
    access_request = get_object_or_404(
        AccessRequest.objects.filter(requester=request.user, status=AccessRequest.Status.PENDING), pk=pk
    )
    try:
        services.access_request_withdraw(access_request=access_request, withdrawn_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Request withdrawn."))
    return redirect("sharing:requests")


def _inbox_page(request, error_forms=None, status=200):
    page_obj = _page(request, selectors.inbox_requests(user=request.user))
    ids = sorted({r.customer_id for r in page_obj})
    visible_ids = set(Customer.objects.visible_to(request.user).filter(pk__in=ids).values_list("pk", flat=True))
    error_forms = error_forms or {}
    rows = [(r, error_forms.get(r.pk) or DecisionForm(prefix=f"r{r.pk}")) for r in page_obj]
    return render(
        request,
        "sharing/inbox.html",
        {"page_obj": page_obj, "rows": rows, "visible_ids": visible_ids},
        status=status,
    )


@login_required
@require_GET
def inbox(request):
    return _inbox_page(request)


@login_required
@require_POST
def request_decide(request, pk):
    access_request = get_object_or_404(selectors.inbox_requests(user=request.user), pk=pk)
    form = DecisionForm(request.POST, prefix=f"r{access_request.pk}")
    if form.is_valid():
        try:
            services.access_request_decide(
                access_request=access_request,
                decided_by=request.user,
                approve=form.cleaned_data["decision"] == "approve",
                comment=form.cleaned_data["comment"],
            )
        except PermissionDenied as exc:
            raise Http404 from exc
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("sharing:inbox")
        if form.cleaned_data["decision"] == "approve":
            messages.success(request, _("Approved. The requester has been notified."))
        else:
            messages.success(request, _("Rejected. The requester has been notified."))
        return redirect("sharing:inbox")
    return _inbox_page(request, error_forms={access_request.pk: form}, status=400)


# --- notifications


@login_required
@require_GET
def notifications(request):
    """The user's notifications; opening the page marks the ones shown as read."""
    page_obj = _page(request, selectors.notification_list(user=request.user))
    unread_ids = [n.pk for n in page_obj if not n.is_read]
    response = render(request, "sharing/notifications.html", {"page_obj": page_obj, "unread_ids": set(unread_ids)})
    if unread_ids:
        services.notifications_mark_read(user=request.user, ids=unread_ids)
    return response


@login_required
@require_GET
def notifications_badge(request):
    """A tiny partial for the header: the unread count (htmx-loadable)."""
    count = selectors.notification_unread_count(user=request.user)
    return render(request, "sharing/partials/_notifications_badge.html", {"count": count})


@login_required
@require_http_methods(["GET", "POST"])
def reminder_settings(request):
    """Which kinds of reminder the user wants (unticked kinds are muted, in the app and by email)."""
    from sharing.models import ReminderKind
    from sharing.reminders import muted_kinds, reminder_mutes_set

    if request.method == "POST":
        wanted = set(request.POST.getlist("kinds")) & set(ReminderKind.values)
        reminder_mutes_set(user=request.user, muted=set(ReminderKind.values) - wanted)
        messages.success(request, _("Your reminder settings were saved."))
        return redirect("sharing:reminder_settings")
    muted = muted_kinds(request.user)
    kinds = [(value, label, value not in muted) for value, label in ReminderKind.choices]
    return render(request, "sharing/reminder_settings.html", {"kinds": kinds})
