"""Campaign pages: list, create (with a target-list preview), detail with results, participation, import.

Campaigns are fetched through `campaigns_visible_to` (a campaign the user may not see is 404),
participant rows through `participations_visible_to` (only customers the viewer may see), and
every write goes through interactions.campaigns. See docs/reminders-and-campaigns.md.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers import selectors as customer_selectors
from customers.forms import CustomerFilterForm
from interactions import campaigns as svc
from interactions.campaign_models import Campaign, CampaignParticipation

PAGE_SIZE = 50
FILTER_FIELDS = ("q", "kind", "role", "tag", "owner", "org_unit", "province")


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "kind", "starts_on", "ends_on", "owner_unit", "budget"]
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}),
            "ends_on": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner_unit"].queryset = svc.campaign_owner_units(user)


class ParticipationImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File (CSV or XLSX)"),
        help_text=gettext_lazy("Columns: customer number and status."),
    )


def _filter_form(request, data):
    owners, units = customer_selectors.customer_filter_choices(request.user)
    form = CustomerFilterForm(data, owners=owners, units=units, prefix="f")
    for name in list(form.fields):
        if name not in FILTER_FIELDS:
            del form.fields[name]
        else:
            form.fields[name].widget.attrs.pop("data-autosubmit", None)
    return form


def _filter_query(form) -> str:
    """The chosen filters as the customer list's own query parameters (what is saved on the campaign)."""
    pairs = []
    for name, value in form.filters().items():
        pairs.append((name, value.pk if isinstance(value, Model) else value))
    return urlencode(pairs)


def _campaign_for(request, pk) -> Campaign:
    return get_object_or_404(svc.campaigns_visible_to(request.user).select_related("owner_unit"), pk=pk)


@login_required
@require_GET
def campaign_list(request):
    campaigns = svc.campaigns_visible_to(request.user).select_related("owner_unit").order_by("-starts_on", "-pk")
    page_obj = Paginator(campaigns, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "interactions/campaigns/campaign_list.html",
        {"page_obj": page_obj, "can_create": svc.campaign_may_create(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request):
    if not svc.campaign_may_create(request.user):
        raise PermissionDenied
    form = CampaignForm(request.POST or None, user=request.user)
    filter_form = _filter_form(request, request.POST or request.GET or None)
    preview = None
    if request.method == "POST":
        query = _filter_query(filter_form)
        if request.POST.get("preview"):
            preview = svc.campaign_target_preview(user=request.user, customer_filter=query)
        elif form.is_valid():
            try:
                campaign = svc.campaign_create(created_by=request.user, customer_filter=query, **form.cleaned_data)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, errors in exc.error_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("Campaign created with %(n)s customers on its target list.")
                    % {"n": campaign.excluded.get("included", 0)},
                )
                return redirect(campaign)
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "interactions/campaigns/campaign_form.html",
        {"form": form, "filter_form": filter_form, "preview": preview},
        status=status,
    )


@login_required
@require_GET
def campaign_detail(request, pk):
    campaign = _campaign_for(request, pk)
    rows = svc.participations_visible_to(request.user, campaign).select_related("customer").order_by("customer__number")
    status = request.GET.get("status")
    if status in CampaignParticipation.Status.values:
        rows = rows.filter(status=status)
    page_obj = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "interactions/campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "results": svc.campaign_results(campaign=campaign, viewer=request.user),
            "page_obj": page_obj,
            "statuses": CampaignParticipation.Status.choices,
            "status": status,
            "can_manage": svc.campaign_manageable(request.user, campaign),
            # The exclusion counts were computed with the creator's visibility: only for those who see as much.
            "show_excluded": svc.campaign_sees_creators_counts(request.user, campaign),
            "import_form": ParticipationImportForm(),
        },
    )


@login_required
@require_POST
def participation_update(request, pk):
    """Set one participant's status (htmx: answers the row)."""
    participation = get_object_or_404(CampaignParticipation.objects.select_related("campaign", "customer"), pk=pk)
    campaign = _campaign_for(request, participation.campaign_id)
    if not svc.participations_visible_to(request.user, campaign).filter(pk=pk).exists():
        raise Http404
    try:
        svc.participation_set(participation=participation, status=request.POST.get("status", ""), by=request.user)
    except PermissionDenied as exc:
        raise Http404 from exc
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(campaign)
    if request.htmx:
        return render(
            request,
            "interactions/campaigns/_participation_row.html",
            {"row": participation, "statuses": CampaignParticipation.Status.choices, "can_manage": True},
        )
    return redirect(campaign)


@login_required
@require_POST
def participation_import(request, pk):
    campaign = _campaign_for(request, pk)
    if not svc.campaign_manageable(request.user, campaign):
        raise Http404
    form = ParticipationImportForm(request.POST, request.FILES)
    report = None
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = svc.participation_import(
                campaign=campaign, content=upload.read(), filename=upload.name, by=request.user
            )
        except ValidationError as exc:
            form.add_error("file", exc)
    return render(
        request,
        "interactions/campaigns/participation_import.html",
        {"campaign": campaign, "form": form, "report": report},
        status=200 if report is not None else 400,
    )
