"""Pages of the dedup app: the on-entry check, the review queue and merge, jobs, data quality.

Steward pages need the merge flag; without it they answer 404 like a hidden record. Every pair,
journal and customer is fetched through a visibility-restricted queryset.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.pagination import CappedPaginator
from customers.models import Customer
from dedup import selectors, services
from dedup.forms import DecideForm, JobForm, MergeForm, QualityFilterForm, QueueFilterForm, UnmergeForm
from dedup.models import CandidatePair, DedupJob, MergeJournal
from dedup.records import explanation_lines
from sharing.presenters import CustomerPresenter, unmask_grants_for
from sharing.principal import get_principal


def _steward(request) -> None:
    """Steward pages answer 404 to everyone else (their existence is not advertised)."""
    if not get_principal(request.user).may("can_merge"):
        raise Http404


def _hx_redirect(request, url):
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


# --- on entry -------------------------------------------------------------------------------------


@login_required
@require_POST
def check(request):
    """htmx partial: likely/possible duplicates of what the user is typing (the whole form is posted)."""
    exclude = request.POST.get("customer_id") or request.POST.get("exclude")
    hits = services.duplicate_candidates(
        user=request.user, data=request.POST, exclude_id=int(exclude) if str(exclude).isdigit() else None
    )
    visible = [h for h in hits if h.visible]
    grants = unmask_grants_for(request.user, [h.customer_id for h in visible])
    presenters = {
        h.customer_id: CustomerPresenter(h.customer, request.user, unmask_groups=grants.get(h.customer_id, set()))
        for h in visible
    }
    rows = [
        {"hit": h, "presenter": presenters.get(h.customer_id), "lines": explanation_lines(h.explanation)} for h in hits
    ]
    return render(
        request,
        "dedup/partials/_check.html",
        {"rows": rows, "likely": any(h.band == "likely" for h in hits)},
    )


@login_required
@require_GET
def lookup(request):
    """A small page to check for duplicates before creating a customer (posts to `dedup:check`)."""
    return render(request, "dedup/customer_lookup.html", {"kinds": Customer.Kind.choices})


# --- review queue and merge -------------------------------------------------------------------------


@login_required
@require_GET
def queue(request):
    _steward(request)
    form = QueueFilterForm(request.GET)
    page = CappedPaginator(selectors.pair_queue(request.user, **form.filters()), selectors.PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page_obj": page, "rows": selectors.pair_rows(page.object_list)}
    return render(request, "dedup/candidatepair_list.html", context)


def _pair_for(request, pk):
    _steward(request)
    return get_object_or_404(
        CandidatePair.objects.visible_to(request.user).select_related("a", "b", "a__org_unit", "b__org_unit"), pk=pk
    )


def _pair_context(request, pair, merge_form=None, decide_form=None):
    comparison = selectors.pair_comparison(request.user, pair.a, pair.b)
    merge_form = merge_form or MergeForm(rows=comparison["rows"])
    field_rows = [
        (row, merge_form[f"field_{row.name}"] if f"field_{row.name}" in merge_form.fields else None)
        for row in comparison["rows"]
    ]
    pa, pb = comparison["presenters"]
    return {
        "pair": pair,
        "a": pa,
        "b": pb,
        "comparison": comparison,
        "field_rows": field_rows,
        "lines": explanation_lines(pair.explanation),
        "merge_form": merge_form,
        "decide_form": decide_form or DecideForm(prefix="decide"),
        "can_merge": pair.status == CandidatePair.Status.OPEN
        and pair.a.status not in ("merged", "erased")
        and pair.b.status not in ("merged", "erased"),
        "journal": pair.journals.filter(status=MergeJournal.Status.MERGED).first(),
    }


@login_required
@require_GET
def pair_detail(request, pk):
    pair = _pair_for(request, pk)
    return render(request, "dedup/candidatepair_detail.html", _pair_context(request, pair))


@login_required
@require_POST
def merge(request, pk):
    pair = _pair_for(request, pk)
    comparison = selectors.pair_comparison(request.user, pair.a, pair.b)
    form = MergeForm(request.POST, rows=comparison["rows"])
    if form.is_valid():
        survivor, duplicate = (pair.a, pair.b) if form.cleaned_data["survivor"] == "a" else (pair.b, pair.a)
        try:
            survivor, journal = services.customer_merge(
                survivor=survivor,
                duplicate=duplicate,
                merged_by=request.user,
                reason=form.cleaned_data["reason"],
                field_choices=form.field_choices(),
                pair=pair,
            )
        except PermissionDenied:
            form.add_error(None, _("You need change rights on both customers to merge them."))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("%(duplicate)s was merged into %(survivor)s.")
                % {"duplicate": duplicate.number, "survivor": survivor.number},
            )
            return _hx_redirect(request, reverse("dedup:journal", args=[journal.pk]))
    return render(request, "dedup/candidatepair_detail.html", _pair_context(request, pair, merge_form=form), status=400)


@login_required
@require_POST
def pair_decide(request, pk):
    pair = _pair_for(request, pk)
    form = DecideForm(request.POST, prefix="decide")
    if form.is_valid():
        try:
            services.pair_decide(
                pair=pair,
                decided_by=request.user,
                status=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Decision saved."))
            return _hx_redirect(request, reverse("dedup:queue"))
    return render(
        request, "dedup/candidatepair_detail.html", _pair_context(request, pair, decide_form=form), status=400
    )


# --- merge journals ---------------------------------------------------------------------------------


@login_required
@require_GET
def journal_list(request):
    _steward(request)
    page = Paginator(selectors.journal_list(request.user), selectors.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "dedup/mergejournal_list.html", {"page_obj": page})


def _journal_for(request, pk):
    _steward(request)
    return get_object_or_404(
        selectors.journal_list(request.user).select_related("survivor__org_unit", "duplicate__org_unit"), pk=pk
    )


@login_required
@require_GET
def journal_detail(request, pk):
    journal = _journal_for(request, pk)
    return render(request, "dedup/mergejournal_detail.html", {"journal": journal, "form": UnmergeForm()})


@login_required
@require_POST
def unmerge(request, pk):
    journal = _journal_for(request, pk)
    form = UnmergeForm(request.POST)
    if form.is_valid():
        try:
            survivor, duplicate = services.customer_unmerge(
                journal=journal,
                unmerged_by=request.user,
                reason=form.cleaned_data["reason"],
                not_duplicate=form.cleaned_data["not_duplicate"],
            )
        except PermissionDenied:
            form.add_error(None, _("You need change rights on both customers to undo this merge."))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("The merge was undone: %(a)s and %(b)s are separate again.")
                % {"a": survivor.number, "b": duplicate.number},
            )
            return _hx_redirect(request, reverse("dedup:journal", args=[journal.pk]))
    return render(request, "dedup/mergejournal_detail.html", {"journal": journal, "form": form}, status=400)


# --- jobs -----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def jobs(request):
    _steward(request)
    form = JobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.dedup_job_create(created_by=request.user, **form.job_kwargs())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Job #%(id)s queued.") % {"id": job.pk})
            return redirect("dedup:jobs")
    page = Paginator(selectors.job_list(), selectors.PAGE_SIZE).get_page(request.GET.get("page"))
    provinces = (
        Customer.objects.exclude(province="").values_list("province", flat=True).order_by("province").distinct()[:100]
    )
    context = {"form": form, "page_obj": page, "provinces": provinces}
    return render(request, "dedup/dedupjob_list.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def job_progress(request, pk):
    """htmx partial polled every 2 s while the job runs (stops polling when it is finished)."""
    _steward(request)
    job = get_object_or_404(DedupJob, pk=pk)
    return render(request, "dedup/partials/_job_row.html", {"job": job})


@login_required
@require_POST
def job_cancel(request, pk):
    _steward(request)
    job = get_object_or_404(DedupJob, pk=pk)
    try:
        job = services.dedup_job_cancel(job=job, cancelled_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    if request.htmx:
        return render(request, "dedup/partials/_job_row.html", {"job": job})
    return redirect("dedup:jobs")


@login_required
@require_POST
def job_resume(request, pk):
    _steward(request)
    job = get_object_or_404(DedupJob, pk=pk)
    try:
        services.dedup_job_resume(job=job, resumed_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Job #%(id)s resumed.") % {"id": job.pk})
    return redirect("dedup:jobs")


# --- data quality ---------------------------------------------------------------------------------


@login_required
@require_GET
def quality(request):
    """Visible customers with their data-quality score, worst first."""
    form = QualityFilterForm(request.GET)
    page = CappedPaginator(selectors.quality_list(request.user, **form.filters()), selectors.PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page_obj": page, "rows": selectors.quality_rows(page.object_list)}
    return render(request, "dedup/customerquality_list.html", context)
