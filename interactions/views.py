"""Pages of interactions: fetch through `visible_to`, validate a form, call one service, redirect.

Anything the user may not see or may not do answers 404, the same as a missing record.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import pagination
from crm.pagination import CappedPaginator, cap_count, count_label
from crm.widgets import PrerenderedSelect
from customers.models import Customer
from customers.selectors import customer_for_view
from interactions import selectors, services
from interactions.forms import (
    ActivityForm,
    CaseAdvanceForm,
    CaseCloseForm,
    CaseForm,
    CaseReopenForm,
    ContractForm,
    DocumentStatusForm,
    OpportunityForm,
    OpportunityStageForm,
    OrderForm,
    PaymentForm,
    PaymentPaidForm,
    QuoteForm,
    ShipmentForm,
    apply_error,
)
from interactions.models import (
    Activity,
    Contract,
    Opportunity,
    Order,
    Payment,
    Quote,
    ServiceCase,
    Shipment,
)
from sharing.presenters import CustomerPresenter

DOCUMENT_MODELS = {"quote": Quote, "contract": Contract, "order": Order, "shipment": Shipment, "payment": Payment}


# --- helpers --------------------------------------------------------------------------------------


def _customer_for(request, pk, kind: str) -> Customer:
    """The customer, if the user may add a record of `kind` to it; else 404."""
    customer = customer_for_view(request.user, pk)
    if not services.may_create(request.user, customer, kind):
        raise Http404
    return customer


def customer_url(customer) -> str:
    """The customer's 360 page, or its timeline page while the 360 page does not exist."""
    try:
        return reverse("customers:detail", args=[customer.pk])
    except NoReverseMatch:
        return reverse("interactions:timeline", args=[customer.pk])


class _CountedPaginator(CappedPaginator):
    """A capped paginator whose (count, capped) the caller already has from the same rows."""

    def __init__(self, object_list, per_page, *, counted: tuple[int, bool], **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.counted = counted

    @cached_property
    def _capped_count(self) -> tuple[int, bool]:
        return self.counted


def _page(request, queryset, per_page=selectors.LIST_PER_PAGE):
    return CappedPaginator(queryset, per_page).get_page(request.GET.get("page"))


def _call(form, fn, **kwargs):
    """Run a service; a ValidationError lands on the form, a refusal is a 404. Returns the result or None."""
    try:
        return fn(**kwargs)
    except ValidationError as exc:
        apply_error(form, exc)
    except PermissionDenied:
        raise Http404 from None
    return None


# --- activities and follow-ups --------------------------------------------------------------------


@login_required
def followups(request):
    # An executive's team is every active user (2,000 at scale): options cached per unit subtree and
    # written without per-option templates (crm/widgets.py).
    team, markup = selectors.team_options(request.user)
    person_id = request.GET.get("person") or ""
    person_id = int(person_id) if person_id.isdigit() else None
    person_select = PrerenderedSelect(markup=markup, empty_label=_("Me and my team")).render(
        "person", person_id, {"id": "followup-person", "data-autosubmit": ""}
    )
    qs = selectors.followups_for_user(user=request.user, person_id=person_id)
    today = timezone.localdate()
    # The list is "due today" plus "overdue": its capped count comes from those two (no third query).
    counts = selectors.followup_capped_counts(qs, today=today)
    paginator = _CountedPaginator(qs, selectors.FOLLOWUPS_PER_PAGE, counted=counts["all"])
    context = {
        "page_obj": paginator.get_page(request.GET.get("page")),
        "counts": selectors.followup_count_labels(qs, today=today, counts=counts),
        "today": today,
        "team": team if len(team) > 1 else [],
        "person_select": person_select if len(team) > 1 else "",
        "person_id": person_id,
        "can_write": selectors.can_write(request.user),
    }
    return render(request, "interactions/followups.html", context)


@login_required
@require_POST
def followup_done(request, pk):
    activity = get_object_or_404(Activity.objects.visible_to(request.user), pk=pk)
    try:
        activity = services.followup_done(activity=activity, done_by=request.user)
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("interactions:followups")
    if request.htmx:
        return render(
            request,
            "interactions/partials/_followup_row.html",
            {"activity": activity, "today": timezone.localdate(), "can_write": True, "oob_messages": False},
        )
    messages.success(request, _("Follow-up “%(subject)s” marked as done.") % {"subject": activity.subject})
    return redirect("interactions:followups")


def _timeline_response(request, customer, *, form=None, status=200):
    context = selectors.timeline_context(
        customer=customer,
        user=request.user,
        kind=request.GET.get("kind", ""),
        page=request.GET.get("page", 1),
        activity_form=form,
    )
    return render(request, "interactions/partials/_timeline_refresh.html", context, status=status)


@login_required
def activity_create(request, customer_pk):
    customer = _customer_for(request, customer_pk, Activity.KIND)
    form = ActivityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        activity = _call(
            form, services.activity_create, customer=customer, created_by=request.user, **form.cleaned_data
        )
        if activity is not None:
            if request.htmx:
                messages.success(request, _("Activity logged."))
                return _timeline_response(request, customer, form=ActivityForm())
            messages.success(request, _("Activity logged."))
            return redirect(customer_url(customer))
    if request.htmx and request.method == "POST":
        response = render(
            request, "interactions/partials/_activity_form.html", {"activity_form": form, "customer": customer}
        )
        response["HX-Retarget"] = "#activity-form-region"
        response["HX-Reswap"] = "innerHTML"
        return response
    context = {"form": form, "customer": CustomerPresenter(customer, request.user), "back_url": customer_url(customer)}
    return render(request, "interactions/activity_form.html", context)


@login_required
def activity_edit(request, pk):
    activity = get_object_or_404(Activity.objects.editable_by(request.user).select_related("customer"), pk=pk)
    if not selectors.can_write(request.user):
        raise Http404
    initial = {
        "kind": activity.kind,
        "subject": activity.subject,
        "notes": activity.notes,
        "occurred_at": timezone.localtime(activity.occurred_at),
        "follow_up_on": activity.follow_up_on,
    }
    form = ActivityForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        updated = _call(form, services.activity_update, activity=activity, updated_by=request.user, **form.cleaned_data)
        if updated is not None:
            messages.success(request, _("Activity saved."))
            return redirect(customer_url(activity.customer))
    context = {
        "form": form,
        "activity": activity,
        "customer": CustomerPresenter(activity.customer, request.user),
        "back_url": customer_url(activity.customer),
    }
    return render(request, "interactions/activity_form.html", context)


@login_required
def timeline(request, customer_pk):
    # A visible customer's timeline answers 200 even for a role that sees no record kinds: it is empty.
    customer = customer_for_view(request.user, customer_pk)
    context = selectors.timeline_context(
        customer=customer, user=request.user, kind=request.GET.get("kind", ""), page=request.GET.get("page", 1)
    )
    if request.htmx:
        return render(request, "interactions/partials/_timeline.html", context)
    can_log = services.may_create(request.user, customer, Activity.KIND)
    context.update(
        presenter=CustomerPresenter(customer, request.user),
        activity_form=ActivityForm() if can_log else None,
        back_url=customer_url(customer),
    )
    return render(request, "interactions/timeline_page.html", context)


# --- opportunities --------------------------------------------------------------------------------


@login_required
def opportunity_list(request):
    if not selectors.visible_kinds(request.user) or "opportunity" not in selectors.visible_kinds(request.user):
        raise Http404
    from sharing.principal import get_principal

    is_manager = get_principal(request.user).is_manager
    scopes = ["mine", "team", "all"] if is_manager else ["mine", "all"]
    scope = request.GET.get("scope") or "mine"
    scope = scope if scope in scopes else "mine"
    stage = request.GET.get("stage", "")
    qs, counts = selectors.opportunity_list(user=request.user, scope=scope, stage=stage)
    context = {
        "page_obj": _page(request, qs),
        "scope": scope,
        "scopes": scopes,
        "stage": stage if stage in Opportunity.Stage.values else "",
        # Counts past the list's cap show as "1,000+" (selectors._stage_counts).
        "stages": [
            (value, label, count_label(*cap_count(counts.get(value, 0), pagination.DEFAULT_CAP)))
            for value, label in Opportunity.Stage.choices
        ],
        "total": count_label(*cap_count(sum(counts.values()), pagination.DEFAULT_CAP)),
    }
    return render(request, "interactions/opportunity_list.html", context)


@login_required
def opportunity_create(request, customer_pk):
    customer = _customer_for(request, customer_pk, Opportunity.KIND)
    form = OpportunityForm(request.POST or None, campaigns=services.campaigns_of(customer))
    if request.method == "POST" and form.is_valid():
        opportunity = _call(
            form, services.opportunity_create, customer=customer, created_by=request.user, **form.cleaned_data
        )
        if opportunity is not None:
            messages.success(request, _("Opportunity created."))
            return redirect(opportunity)
    context = {
        "form": form,
        "customer": CustomerPresenter(customer, request.user),
        "title": _("New opportunity"),
        "back_url": customer_url(customer),
    }
    return render(request, "interactions/document_form.html", context)


def _opportunity_page(request, opportunity, *, stage_form=None, status=200):
    can_change = services.may_create(request.user, opportunity.customer, Opportunity.KIND)
    context = {
        "opportunity": opportunity,
        "customer": CustomerPresenter(opportunity.customer, request.user),
        "quotes": list(Quote.objects.visible_to(request.user).filter(opportunity=opportunity).order_by("pk")),
        "stage_form": (stage_form or OpportunityStageForm()) if can_change and opportunity.is_open else None,
        "next_stages": [(v, label) for v, label in Opportunity.Stage.choices if v != opportunity.stage],
        "can_quote": opportunity.stage != Opportunity.Stage.LOST
        and services.may_create(request.user, opportunity.customer, Quote.KIND),
    }
    return render(request, "interactions/opportunity_detail.html", context, status=status)


@login_required
def opportunity_detail(request, pk):
    opportunity = get_object_or_404(
        Opportunity.objects.visible_to(request.user).select_related("customer", "owner"), pk=pk
    )
    return _opportunity_page(request, opportunity)


@login_required
@require_POST
def opportunity_stage(request, pk):
    opportunity = get_object_or_404(
        Opportunity.objects.visible_to(request.user, action="change").select_related("customer", "owner"), pk=pk
    )
    form = OpportunityStageForm(request.POST)
    if form.is_valid():
        done = _call(
            form,
            services.opportunity_advance,
            opportunity=opportunity,
            stage=form.cleaned_data["stage"],
            reason=form.cleaned_data["reason"],
            changed_by=request.user,
        )
        if done is not None:
            messages.success(request, _("Stage changed to “%(stage)s”.") % {"stage": done.get_stage_display()})
            return redirect(done)
    return _opportunity_page(request, opportunity, stage_form=form)


# --- sales documents ------------------------------------------------------------------------------


def _document_rows(doc) -> list[tuple[str, object]]:
    """(label, value) rows of a document's own fields, for the generic detail template."""
    names = {
        Quote: ["issued_on", "valid_until"],
        Contract: ["signed_on", "start_on", "end_on"],
        Order: ["ordered_on"],
        Shipment: ["shipped_on", "delivered_on", "carrier", "tracking_number"],
        Payment: ["due_on", "paid_on", "override_note"],
    }[type(doc)]
    rows = [(doc._meta.get_field(name).verbose_name, getattr(doc, name)) for name in names]
    return [(label, value) for label, value in rows if value not in (None, "")]


def _document_page(request, doc, *, form=None, status=200):
    kind = type(doc).KIND
    can_change = services.may_create(request.user, doc.customer, kind)
    next_kind = {"quote": "contract", "contract": "order", "order": "shipment"}.get(kind)
    context = {
        "doc": doc,
        "kind": kind,
        "doc_label": type(doc)._meta.verbose_name,
        "amount": getattr(doc, "amount", None),
        "open_amount": None,
        "customer": CustomerPresenter(doc.customer, request.user),
        "rows": _document_rows(doc),
        "chain": selectors.document_chain(document=doc, user=request.user),
        "transitions": [(s, doc.Status(s).label) for s in doc.next_statuses()] if can_change else [],
        "next_kind": next_kind if next_kind and services.may_create(request.user, doc.customer, next_kind) else None,
        "can_record_payment": kind in ("contract", "order")
        and services.may_create(request.user, doc.customer, Payment.KIND),
        "paid_form": form
        or (PaymentPaidForm() if kind == "payment" and can_change and doc.status == Payment.Status.OPEN else None),
        "today": timezone.localdate(),
    }
    if kind == "payment":
        context["open_amount"] = services.contract_open_amount(doc.contract)
    if kind == "contract":
        context["open_amount"] = services.contract_open_amount(doc)
    return render(request, "interactions/document_detail.html", context, status=status)


def _document_detail(request, model, pk):
    related = {Quote: ["opportunity"], Contract: ["quote"], Order: ["contract"], Shipment: ["order"]}
    qs = model.objects.visible_to(request.user).select_related("customer", *related.get(model, []))
    if model is Payment:
        qs = qs.select_related("contract", "order")
    return _document_page(request, get_object_or_404(qs, pk=pk))


@login_required
def quote_detail(request, pk):
    return _document_detail(request, Quote, pk)


@login_required
def contract_detail(request, pk):
    return _document_detail(request, Contract, pk)


@login_required
def order_detail(request, pk):
    return _document_detail(request, Order, pk)


@login_required
def shipment_detail(request, pk):
    return _document_detail(request, Shipment, pk)


@login_required
def payment_detail(request, pk):
    return _document_detail(request, Payment, pk)


def _document_create(request, *, source_model, pk, kind, form_class, service, source_arg, initial=None):
    """Create the document that follows `source` (quote from opportunity, contract from quote …)."""
    source = get_object_or_404(
        source_model.objects.visible_to(request.user, action="change").select_related("customer"), pk=pk
    )
    if not services.may_create(request.user, source.customer, kind):
        raise Http404
    form = form_class(request.POST or None, initial=initial(source) if initial else None)
    if request.method == "POST" and form.is_valid():
        doc = _call(form, service, created_by=request.user, **{source_arg: source}, **form.cleaned_data)
        if doc is not None:
            messages.success(request, _("%(number)s created.") % {"number": doc.number})
            return redirect(doc)
    labels = {
        "quote": _("New quote"),
        "contract": _("New contract"),
        "order": _("New order"),
        "shipment": _("New shipment"),
    }
    context = {
        "form": form,
        "customer": CustomerPresenter(source.customer, request.user),
        "source": source,
        "title": labels[kind],
        "back_url": source.get_absolute_url(),
    }
    return render(request, "interactions/document_form.html", context)


@login_required
def quote_create(request, pk):
    return _document_create(
        request,
        source_model=Opportunity,
        pk=pk,
        kind="quote",
        form_class=QuoteForm,
        service=services.quote_create,
        source_arg="opportunity",
        initial=lambda o: {"amount": o.amount, "currency": o.currency, "issued_on": timezone.localdate()},
    )


@login_required
def contract_create(request, pk):
    return _document_create(
        request,
        source_model=Quote,
        pk=pk,
        kind="contract",
        form_class=ContractForm,
        service=services.contract_create,
        source_arg="quote",
        initial=lambda q: {"amount": q.amount, "start_on": timezone.localdate()},
    )


@login_required
def order_create(request, pk):
    return _document_create(
        request,
        source_model=Contract,
        pk=pk,
        kind="order",
        form_class=OrderForm,
        service=services.order_create,
        source_arg="contract",
        initial=lambda c: {"amount": services.contract_open_amount(c), "ordered_on": timezone.localdate()},
    )


@login_required
def shipment_create(request, pk):
    return _document_create(
        request,
        source_model=Order,
        pk=pk,
        kind="shipment",
        form_class=ShipmentForm,
        service=services.shipment_create,
        source_arg="order",
    )


@login_required
def payment_create(request, customer_pk):
    customer = _customer_for(request, customer_pk, Payment.KIND)
    # Finance records payments against contracts it cannot open (its roles see payments only):
    # the choice shows a contract's number, amount and status, nothing more (ADR 0005).
    contracts = Contract.objects.filter(customer=customer).exclude(status=Contract.Status.CANCELLED).order_by("-pk")
    selected = request.GET.get("contract", "")
    initial = {"contract": int(selected)} if selected.isdigit() else None
    form = PaymentForm(request.POST or None, contracts=contracts, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        payment = _call(form, services.payment_record, recorded_by=request.user, **data)
        if payment is not None:
            messages.success(request, _("%(number)s recorded.") % {"number": payment.number})
            return redirect(payment)
    context = {
        "form": form,
        "customer": CustomerPresenter(customer, request.user),
        "title": _("Record a payment"),
        "back_url": customer_url(customer),
        "no_contracts": not contracts.exists(),
    }
    return render(request, "interactions/document_form.html", context)


@login_required
@require_POST
def payment_paid(request, pk):
    payment = get_object_or_404(
        Payment.objects.visible_to(request.user).select_related("customer", "contract", "order"), pk=pk
    )
    form = PaymentPaidForm(request.POST)
    if form.is_valid():
        done = _call(
            form,
            services.payment_mark_paid,
            payment=payment,
            recorded_by=request.user,
            paid_on=form.cleaned_data["paid_on"],
        )
        if done is not None:
            messages.success(request, _("%(number)s marked as paid.") % {"number": done.number})
            return redirect(done)
    return _document_page(request, payment, form=form)


@login_required
@require_POST
def document_status(request, kind, pk):
    model = DOCUMENT_MODELS.get(kind)
    if model is None:
        raise Http404
    action = "view" if model is Payment else "change"
    doc = get_object_or_404(model.objects.visible_to(request.user, action=action).select_related("customer"), pk=pk)
    form = DocumentStatusForm(request.POST)
    if form.is_valid():
        try:
            doc = services.document_transition(
                document=doc, status=form.cleaned_data["status"], changed_by=request.user
            )
            messages.success(request, _("Status changed to “%(status)s”.") % {"status": doc.get_status_display()})
        except PermissionDenied:
            raise Http404 from None
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect(doc)


@login_required
def receivables(request):
    if "payment" not in selectors.visible_kinds(request.user):
        raise Http404
    show = request.GET.get("show", "open")
    show = show if show in ("open", "overdue") else "open"
    qs, totals = selectors.receivables(user=request.user, overdue_only=show == "overdue")
    context = {"page_obj": _page(request, qs), "totals": totals, "show": show, "today": timezone.localdate()}
    return render(request, "interactions/receivables.html", context)


# --- service cases --------------------------------------------------------------------------------


@login_required
def case_list(request):
    if "service_case" not in selectors.visible_kinds(request.user):
        raise Http404
    show = request.GET.get("show", "open")
    show = show if show in selectors.CASE_FILTERS else "open"
    case_type = request.GET.get("type", "")
    qs = selectors.case_list(user=request.user, show=show, type=case_type)
    context = {
        "page_obj": _page(request, selectors.KeysFirst(qs)),
        "show": show,
        "filters": list(selectors.CASE_FILTERS.items()),
        "case_type": case_type if case_type in ServiceCase.Type.values else "",
        "types": ServiceCase.Type.choices,
        "now": timezone.now(),
        "can_write": selectors.can_write(request.user),
    }
    return render(request, "interactions/case_list.html", context)


@login_required
def case_create(request):
    if "service_case" not in selectors.visible_kinds(request.user) or not selectors.can_write(request.user):
        raise Http404
    customer_pk = request.GET.get("customer", "")
    if not customer_pk.isdigit():
        # No customer chosen yet: find one among those the user may see.
        query = request.GET.get("q", "").strip()
        found = list(Customer.objects.visible_to(request.user).active().search(query)[:20]) if query else []
        return render(request, "interactions/case_pick_customer.html", {"q": query, "found": found})
    customer = _customer_for(request, int(customer_pk), ServiceCase.KIND)
    form = CaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        case = _call(form, services.case_open, customer=customer, opened_by=request.user, **form.cleaned_data)
        if case is not None:
            messages.success(request, _("Service case %(number)s opened.") % {"number": case.number})
            return redirect(case)
    context = {
        "form": form,
        "customer": CustomerPresenter(customer, request.user),
        "title": _("New service case"),
        "back_url": customer_url(customer),
    }
    return render(request, "interactions/case_form.html", context)


def _case_page(request, case, *, advance_form=None, reopen_form=None, status=200):
    can_act = selectors.can_write(request.user)
    next_status = case.next_status
    if can_act and next_status and next_status != ServiceCase.Status.CLOSED and advance_form is None:
        advance_form = CaseAdvanceForm(
            initial={"to_status": next_status, "category": case.category, "severity": case.severity}
        )
    if can_act and case.reopen_targets and reopen_form is None:
        reopen_form = CaseReopenForm(initial={"to_status": case.reopen_targets[0]})
    if reopen_form is not None:
        reopen_form.fields["to_status"].choices = [(s, ServiceCase.Status(s).label) for s in case.reopen_targets]
    context = {
        "case": case,
        "customer": CustomerPresenter(case.customer, request.user),
        "events": list(case.events.select_related("actor")),
        "units": list(case.responsible_units.all()),
        "can_act": can_act,
        "next_status": next_status,
        "next_label": ServiceCase.STEP_ACTIONS.get(next_status, ""),
        "advance_form": advance_form if can_act else None,
        "advance_fields": advance_form.step_fields(next_status) if can_act and advance_form else [],
        "can_close": can_act and next_status == ServiceCase.Status.CLOSED,
        "reopen_form": reopen_form if can_act else None,
        "flow": [(s, ServiceCase.Status(s).label) for s in case.flow],
        "now": timezone.now(),
    }
    return render(request, "interactions/case_detail.html", context, status=status)


def _visible_case(request, pk):
    return get_object_or_404(
        ServiceCase.objects.visible_to(request.user).select_related("customer", "responsible_user"), pk=pk
    )


@login_required
def case_detail(request, pk):
    return _case_page(request, _visible_case(request, pk))


@login_required
@require_POST
def case_advance(request, pk):
    case = _visible_case(request, pk)
    form = CaseAdvanceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        done = _call(
            form,
            services.case_advance,
            case=case,
            by=request.user,
            to_status=data["to_status"],
            note=data["note"],
            category=data["category"] or None,
            severity=data["severity"] or None,
            units=data["units"],
            responsible_user=data["responsible_user"],
            solution=data["solution"],
            result=data["result"],
        )
        if done is not None:
            messages.success(request, _("Case moved to “%(status)s”.") % {"status": done.get_status_display()})
            return redirect(done)
    return _case_page(request, case, advance_form=form)


@login_required
def case_close(request, pk):
    case = _visible_case(request, pk)
    if not selectors.can_write(request.user):
        raise Http404
    form = CaseCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = _call(form, services.case_close, case=case, closed_by=request.user, **form.cleaned_data)
        if done is not None:
            messages.success(request, _("Case %(number)s closed.") % {"number": done.number})
            return redirect(done)
    context = {"form": form, "case": case, "customer": CustomerPresenter(case.customer, request.user)}
    return render(request, "interactions/case_close.html", context)


@login_required
@require_POST
def case_reopen(request, pk):
    case = _visible_case(request, pk)
    form = CaseReopenForm(request.POST)
    form.fields["to_status"].choices = [(s, ServiceCase.Status(s).label) for s in ServiceCase.Status.values]
    if form.is_valid():
        done = _call(
            form,
            services.case_reopen,
            case=case,
            reopened_by=request.user,
            to_status=form.cleaned_data["to_status"],
            reason=form.cleaned_data["reason"],
        )
        if done is not None:
            messages.success(request, _("Case %(number)s reopened.") % {"number": done.number})
            return redirect(done)
    return _case_page(request, case, reopen_form=form)
