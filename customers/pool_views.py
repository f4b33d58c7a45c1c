"""The public pool page: claim (reps of the unit) and assign (managers).

The page lists only pooled customers (customers.pool.pool_customers): a rep's own unit's, and those a
manager may change. Pool-only rows show core data and masked contact details, never a link to the
360 page. A customer the user may neither claim nor assign answers 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers import pool
from customers.team_forms import PoolAssignForm

PAGE_SIZE = 25


@login_required
@require_GET
def pool_list(request):
    text = request.GET.get("q", "")
    page = Paginator(pool.pool_customers(user=request.user, text=text), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page_obj": page, "rows": pool.pool_rows(user=request.user, customers=page.object_list), "q": text}
    return render(request, "customers/pool/pool_list.html", context)


@login_required
@require_POST
def pool_claim(request, pk):
    customer = pool.pool_customer_for_claim(request.user, pk)
    if customer is None:
        raise Http404
    try:
        claimed = pool.pool_claim(customer=customer, user=request.user)
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("teams:pool")
    messages.success(request, _("You now own %(number)s %(name)s.") % {"number": claimed.number, "name": claimed.name})
    return redirect(claimed)


@login_required
@require_http_methods(["GET", "POST"])
def pool_assign(request, pk):
    customer = pool.pool_customer_for_assign(request.user, pk)
    if customer is None:
        raise Http404
    form = PoolAssignForm(request.POST or None, users=pool.pool_assignees(user=request.user, customer=customer))
    if request.method == "POST" and form.is_valid():
        try:
            assigned = pool.pool_assign(customer=customer, to_user=form.cleaned_data["to_user"], by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("%(number)s assigned to %(name)s.")
                % {"number": assigned.number, "name": form.cleaned_data["to_user"].get_username()},
            )
            return redirect("teams:pool")
    return render(request, "customers/pool/pool_assign.html", {"form": form, "customer": customer})
