"""Customer master pages: list and search, create and edit (optimistic locking), the 360° page, transfer.

Views translate HTTP into one selector or service call and back. Every customer is fetched through
`Customer.objects.visible_to(user, action)` (in customers.selectors); hidden and missing records
both answer 404.
"""

from importlib import import_module

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from customers import list_plan, selectors, services
from customers.forms import (
    MAX_ROWS,
    PROVINCES,
    ContactFormSet,
    CustomerEditor,
    CustomerFilterForm,
    RelationshipFormSet,
    TransferForm,
    added_row,
)
from customers.io.privacy import privacy_erase_allowed, privacy_export_allowed
from customers.models import Customer
from sharing.audit import log_access
from sharing.presenters import CustomerPresenter
from sharing.principal import get_principal


def _optional(module_name: str, attribute: str):
    """A hook another app may provide (e.g. dedup.services.duplicate_gate); None until it exists."""
    try:
        return getattr(import_module(module_name), attribute, None)
    except ImportError:
        return None


@login_required
@require_GET
def customer_list(request):
    owners, units = selectors.customer_filter_choices(request.user)
    options = selectors.customer_filter_options(request.user, owners, units)
    form = CustomerFilterForm(request.GET, owners=owners, units=units, options=options)
    filters = form.filters()
    page = list_plan.customer_list_page(request.user, filters, request.GET.get("page"))
    rows = selectors.customer_rows(request.user, page.object_list)
    page.object_list = rows  # evaluated once, by customer_rows (the templates only count it)
    context = {
        "form": form,
        "page_obj": page,
        "rows": rows,
        "searching": bool(filters.get("q")),
        "filtered": bool(form.active_count or filters.get("q")),
        "provinces": PROVINCES,
        "can_create": selectors.customer_create_allowed(request.user),
        "can_export": get_principal(request.user).may("can_export"),
    }
    template = "customers/partials/_customer_results.html" if request.htmx else "customers/customer_list.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def customer_create(request):
    if not selectors.customer_create_allowed(request.user):
        raise PermissionDenied
    kind = request.GET.get("kind") or request.POST.get("kind")
    if kind not in Customer.Kind.values:
        return render(request, "customers/customer_kind_choice.html", {"kinds": Customer.Kind.choices})
    groups = selectors.customer_presenter_for_new(request.user, kind).editable_groups()
    editor = CustomerEditor(user=request.user, kind=kind, groups=groups, data=request.POST or None)
    if request.method == "POST" and editor.is_valid():
        data = editor.customer_input()
        try:
            _duplicate_gate(request, editor, data)
            customer = services.customer_create(
                data=data, created_by=request.user, relationships=editor.relationship_inputs()
            )
        except ValidationError as exc:
            editor.add_error(exc)
        else:
            messages.success(request, _("Customer %(number)s created.") % {"number": customer.number})
            return redirect(customer)
    return render(request, "customers/customer_form.html", _form_context(editor, kind=kind))


def _duplicate_gate(request, editor, data) -> None:
    """The dedup app's on-entry gate, when it exists: raises ValidationError unless the user confirmed
    a possible duplicate with a reason. The form then shows the confirmation fields."""
    gate = _optional("dedup.services", "duplicate_gate")
    if gate is None:
        return
    try:
        gate(
            user=request.user,
            data=data,
            confirm=editor.cleaned.get("confirm_duplicate", False),
            reason=editor.cleaned.get("duplicate_reason", ""),
        )
    except ValidationError:
        editor.duplicate_refused = True
        raise


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit(request, pk):
    customer = selectors.customer_for_change(request.user, pk)
    if customer.status in (Customer.Status.MERGED, Customer.Status.ERASED):
        messages.error(request, _("This customer was merged or erased and can no longer be edited."))
        return redirect(customer)
    groups = CustomerPresenter(customer, request.user).editable_groups()
    editor = CustomerEditor(
        user=request.user, kind=customer.kind, groups=groups, customer=customer, data=request.POST or None
    )
    stale = None
    if request.method == "POST" and editor.is_valid():
        try:
            services.customer_update(customer=customer, updated_by=request.user, **editor.update_kwargs())
        except services.StaleVersion as exc:
            # Keep what the user typed, show what changed meanwhile, and take the new version so that
            # saving again deliberately overwrites.
            data = request.POST.copy()
            data["version"] = str(exc.current.version)
            customer = selectors.customer_for_change(request.user, pk)
            editor = CustomerEditor(user=request.user, kind=customer.kind, groups=groups, customer=customer, data=data)
            editor.is_valid()
            stale = selectors.stale_changes(customer, exc.changes)
        except ValidationError as exc:
            editor.add_error(exc)
        else:
            messages.success(request, _("Changes to %(number)s saved.") % {"number": customer.number})
            return redirect(customer)
    return render(
        request,
        "customers/customer_form.html",
        _form_context(editor, kind=customer.kind, customer=customer, stale=stale),
    )


def _form_context(editor, *, kind, customer=None, stale=None):
    return {
        "editor": editor,
        "form": editor.form,
        "kind": kind,
        "kind_label": Customer.Kind(kind).label,
        "customer": customer,
        "stale": stale,
        "provinces": PROVINCES,
        "max_rows": MAX_ROWS,
    }


@login_required
@require_GET
def customer_detail(request, pk):
    customer = selectors.customer_360_customer(request.user, pk)
    if customer.status == Customer.Status.MERGED:
        return redirect(selectors.customer_survivor(request.user, customer))
    context = selectors.customer_360(user=request.user, customer=customer, request=request)
    context["can_privacy"] = privacy_export_allowed(request.user) or privacy_erase_allowed(request.user)
    context["can_manage_access"] = get_principal(request.user).may("can_manage_access")
    log_access(actor=request.user, obj=customer, what="view_360", request=request)
    return render(request, "customers/customer_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def customer_transfer(request, pk):
    customer = selectors.customer_for_transfer(request.user, pk)
    owners, units = selectors.transfer_choices(request.user)
    form = TransferForm(request.POST or None, owners=owners, units=units)
    if request.method == "POST" and form.is_valid():
        services.customer_transfer(
            customer=customer,
            new_owner=form.cleaned_data["new_owner"],
            new_unit=form.cleaned_data["new_unit"],
            transferred_by=request.user,
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, _("Customer %(number)s transferred.") % {"number": customer.number})
        return redirect(customer)
    return render(request, "customers/customer_transfer.html", {"form": form, "customer": customer})


@login_required
@require_GET
def customer_autocomplete(request):
    """Suggestions for the other side of a relationship: only customers the user can see."""
    text = request.GET.get("q") or next(
        (v for k, v in request.GET.items() if k.endswith("-other_search") and v.strip()), ""
    )
    exclude = request.GET.get("exclude")
    exclude = int(exclude) if exclude and exclude.isdigit() else None
    results = selectors.customer_autocomplete(request.user, text, exclude=exclude)
    return render(request, "customers/partials/_autocomplete.html", {"results": results, "query": text.strip()})


def _row_index(request) -> int:
    index = request.GET.get("index", "")
    if not index.isdigit() or int(index) >= MAX_ROWS:
        raise Http404
    return int(index)


@login_required
@require_GET
def contact_rows(request):
    """One more empty contact row for the form (htmx), with the formset's new total out of band."""
    index = _row_index(request)
    form = added_row(ContactFormSet, "contacts", index)
    return render(
        request,
        "customers/partials/_contact_row_added.html",
        {"contact": form, "next_index": index + 1, "max_rows": MAX_ROWS},
    )


@login_required
@require_GET
def relationship_rows(request):
    """One more empty relationship row for the form (htmx), with the formset's new total out of band."""
    index = _row_index(request)
    exclude = request.GET.get("customer")
    form = added_row(RelationshipFormSet, "relationships", index, user=request.user)
    return render(
        request,
        "customers/partials/_relationship_row_added.html",
        {
            "relationship": form,
            "next_index": index + 1,
            "max_rows": MAX_ROWS,
            "customer_pk": exclude if exclude and exclude.isdigit() else "",
        },
    )
