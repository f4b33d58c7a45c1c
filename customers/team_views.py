"""Account team section of the 360 page (htmx add/remove for managers) and bulk reassignment.

Customers are fetched through `Customer.objects.visible_to` (change access for writes); the team
services check the manager flag again. Hidden customers and foreign memberships answer 404.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers import teams
from customers.assignment import customers_reassign
from customers.models import Customer
from customers.team_forms import ReassignForm, TeamMemberForm, user_staff_label
from customers.team_models import AccountTeamMember
from sharing.models import OrgUnit
from sharing.principal import get_principal

SECTION = "customers/team/_team_section.html"


def _section(request, customer, form=None, status=200):
    context = teams.team_context(customer=customer, user=request.user)
    if form is not None:
        context["form"] = form
    return render(request, SECTION, context, status=status)


@login_required
@require_GET
def team_section(request, pk):
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=pk)
    return _section(request, customer)


CANDIDATE_LIMIT = 10


def _manageable_customer(request, pk):
    """The customer whose team the user may manage (change access and the flag), else 404."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user, action="change"), pk=pk)
    if not teams.team_manageable_by(user=request.user, customer=customer):
        raise Http404
    return customer


@login_required
@require_GET
def team_candidates(request, pk):
    """Suggestions for the team form's person search: up to ten people a manager may add."""
    customer = _manageable_customer(request, pk)
    query = (request.GET.get("user_search") or request.GET.get("q") or "").strip()[:100]
    results = []
    if query:
        results = [
            (user.pk, user_staff_label(user))
            for user in teams.search_team_candidates(customer=customer, text=query, limit=CANDIDATE_LIMIT)
        ]
    return render(request, "customers/team/_candidates.html", {"results": results, "query": query})


@login_required
@require_POST
def team_member_add(request, pk):
    customer = _manageable_customer(request, pk)
    form = TeamMemberForm(request.POST, customer=customer)
    if form.is_valid():
        try:
            member = teams.team_member_add(
                customer=customer,
                user=form.cleaned_data["user"],
                team_role=form.cleaned_data["team_role"],
                access=form.cleaned_data["access"],
                expires_at=form.expires_at,
                reason=form.cleaned_data["reason"],
                added_by=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if not request.htmx:
                messages.success(request, _("%(name)s joined the account team.") % {"name": member.user})
                return redirect(customer)
            return _section(request, customer)
    if not request.htmx:
        for error in form.errors.get("__all__", []):
            messages.error(request, error)
        return redirect(customer)
    return _section(request, customer, form=form)


@login_required
@require_POST
def team_member_remove(request, pk):
    member = AccountTeamMember.objects.select_related("customer", "user", "team_role", "share").filter(pk=pk).first()
    if member is None:
        raise Http404
    customer = get_object_or_404(Customer.objects.visible_to(request.user, action="change"), pk=member.customer_id)
    try:
        teams.team_member_remove(member=member, removed_by=request.user, reason=request.POST.get("reason", "")[:300])
    except PermissionDenied:
        raise Http404 from None
    if request.htmx:
        return _section(request, customer)
    messages.success(request, _("%(name)s left the account team.") % {"name": member.user})
    return redirect(customer)


def _reassign_choices(user):
    """Owners whose customers the manager may move (inactive ones too: leaving employees) and units."""
    principal = get_principal(user)
    scope = principal.scope("change")
    users = get_user_model().objects.filter(membership__isnull=False).select_related("membership__unit")
    units = OrgUnit.objects.filter(is_active=True)
    if not scope.sees_all:
        users = users.filter(membership__unit_id__in=sorted(scope.unit_ids))
        units = units.filter(pk__in=sorted(scope.unit_ids))
    return users.order_by("membership__unit__path", "username"), units.order_by("path")


@login_required
@require_http_methods(["GET", "POST"])
def reassign(request):
    """Bulk reassignment of a leaving employee's customers (managers who may transfer)."""
    if not get_principal(request.user).may("can_transfer"):
        raise PermissionDenied
    users, units = _reassign_choices(request.user)
    form = ReassignForm(request.POST or None, users=users, units=units)
    if request.method == "POST" and form.is_valid():
        try:
            result = customers_reassign(
                from_user=form.cleaned_data["from_user"],
                to_user=form.cleaned_data["to_user"],
                unit=form.cleaned_data["unit"],
                strategy=form.cleaned_data["strategy"],
                reason=form.cleaned_data["reason"],
                by=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("%(n)s customers reassigned.") % {"n": result.moved})
            if result.left:
                messages.warning(
                    request,
                    _("%(n)s customers of this person are outside the units you may change and were left.")
                    % {"n": result.left},
                )
            return redirect("teams:reassign")
    return render(request, "customers/team/reassign.html", {"form": form})
