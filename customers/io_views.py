"""Pages of customer import, export and personal-data requests (URLs in customers/io_urls.py).

Each view fetches through a visibility-restricted queryset (an import job only for its creator, a
person only if visible), validates a form, calls one service and redirects. Import and export are
refused with 403 for users whose role lacks the flag (the pages are not about one record, so there
is no existence to hide); a hidden or missing record answers 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.io import exporter, importer, privacy, selectors
from customers.io.forms import (
    ImportDecisionForm,
    ImportMappingForm,
    ImportUploadForm,
    PrivacyEraseForm,
    PrivacyExportForm,
)
from customers.io.readers import FileProblem
from customers.models import ImportJob
from sharing.principal import get_principal

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _require(user, flag: str) -> None:
    if not get_principal(user).may(flag):
        raise PermissionDenied


def _download(content: bytes, filename: str, file_format: str) -> HttpResponse:
    response = HttpResponse(content, content_type=CONTENT_TYPES.get(file_format, "application/octet-stream"))
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _language() -> str:
    return "zh" if (get_language() or "zh").startswith("zh") else "en"


# --- Import ----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_start(request):
    _require(request.user, "can_import")
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = importer.import_job_create(
                user=request.user, filename=upload.name, content=upload.read(), dry_run=form.cleaned_data["dry_run"]
            )
        except FileProblem as problem:
            form.add_error("file", str(problem))
        else:
            if job.status == ImportJob.Status.MAPPING:
                return redirect("customers_io:import-mapping", pk=job.pk)
            return redirect("customers_io:import-detail", pk=job.pk)
    recent = selectors.import_jobs_of(request.user)[:5]
    return render(request, "customers/io/import_start.html", {"form": form, "recent": recent})


@login_required
@require_GET
def import_list(request):
    _require(request.user, "can_import")
    page = Paginator(selectors.import_jobs_of(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "customers/io/import_list.html", {"page_obj": page})


@login_required
@require_GET
def import_template(request, file_format: str):
    _require(request.user, "can_import")
    if file_format not in CONTENT_TYPES:
        raise Http404
    name = "客户导入模板" if _language() == "zh" else "customer-import-template"
    content = exporter.template_bytes(file_format, _language())
    response = _download(content, f"template.{file_format}", file_format)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(name)}.{file_format}"
    return response


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text)


@login_required
@require_http_methods(["GET", "POST"])
def import_mapping(request, pk: int):
    job = selectors.import_job_for(request.user, pk)
    if job.status not in (ImportJob.Status.MAPPING, ImportJob.Status.PREVIEW):
        return redirect("customers_io:import-detail", pk=job.pk)
    form = ImportMappingForm(request.POST or None, headers=job.headers, mapping=job.mapping)
    if request.method == "POST" and form.is_valid():
        try:
            importer.import_job_map(job=job, mapping=form.mapping())
        except importer.ImportProblem as problem:
            form.add_error(None, str(problem))
        else:
            return redirect("customers_io:import-detail", pk=job.pk)
    return render(request, "customers/io/import_mapping.html", {"job": job, "form": form})


def _detail_context(job: ImportJob) -> dict:
    context = {"job": job, "running": job.status in ("analysing", "queued", "running")}
    if job.status == ImportJob.Status.PREVIEW:
        context["preview"] = selectors.import_preview(job)
        context["decision_form"] = ImportDecisionForm(initial=job.decisions or importer.DEFAULT_DECISIONS)
    if job.status == ImportJob.Status.DONE:
        context["rejected"] = selectors.import_report_rows(job, "rejected")[:50]
        context["skipped"] = selectors.import_report_rows(job, "skipped")[:50]
    return context


@login_required
@require_GET
def import_detail(request, pk: int):
    job = selectors.import_job_for(request.user, pk)
    template = "customers/io/partials/_import_status.html" if request.htmx else "customers/io/import_detail.html"
    return render(request, template, _detail_context(job))


@login_required
@require_POST
def import_decide(request, pk: int):
    job = selectors.import_job_for(request.user, pk)
    form = ImportDecisionForm(request.POST)
    if form.is_valid():
        try:
            importer.import_job_decide(job=job, decisions=form.decisions())
        except importer.ImportProblem as problem:
            messages.error(request, str(problem))
        else:
            messages.success(request, _("The import has started."))
    return redirect("customers_io:import-detail", pk=job.pk)


@login_required
@require_POST
def import_cancel(request, pk: int):
    job = selectors.import_job_for(request.user, pk)
    importer.import_job_cancel(job=job)
    messages.info(request, _("The import was cancelled; nothing was written."))
    return redirect("customers_io:import-start")


@login_required
@require_GET
def import_rejected(request, pk: int, file_format: str):
    job = selectors.import_job_for(request.user, pk)
    if file_format not in CONTENT_TYPES:
        raise Http404
    rows = selectors.rejected_file_rows(job, _language())
    content = exporter.rows_to_bytes(rows, file_format)
    return _download(content, f"rejected-rows-{job.pk}.{file_format}", file_format)


# --- Export ----------------------------------------------------------------------------------------


@login_required
@require_GET
def export(request):
    """The customer list with its filters as CSV (streamed) or XLSX; 403 without can_export."""
    _require(request.user, "can_export")
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    queryset, filters = exporter.export_queryset(request.user, request.GET)
    exporter.export_start(
        user=request.user, queryset=queryset, filters=filters, file_format=file_format, request=request
    )
    rows = exporter.export_rows(request.user, queryset, language=_language())
    filename = f"customers-{timezone.localtime():%Y%m%d-%H%M}.{file_format}"
    if file_format == "xlsx":
        response = FileResponse(
            exporter.xlsx_file(rows), as_attachment=True, filename=filename, content_type=CONTENT_TYPES["xlsx"]
        )
    else:
        response = StreamingHttpResponse(exporter.csv_stream(rows), content_type=CONTENT_TYPES["csv"])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Personal-data requests ----------------------------------------------------------------------


def _privacy_flags(user) -> tuple[bool, bool]:
    return privacy.privacy_export_allowed(user), privacy.privacy_erase_allowed(user)


@login_required
@require_GET
def privacy_page(request, pk: int):
    may_export, may_erase = _privacy_flags(request.user)
    if not (may_export or may_erase):
        raise Http404
    customer = selectors.privacy_person(request.user, pk)
    return render(
        request,
        "customers/io/privacy.html",
        {
            "customer": customer,
            "may_export": may_export,
            "may_erase": may_erase,
            "export_form": PrivacyExportForm(),
            "erase_form": PrivacyEraseForm(number=customer.number),
            "requests": selectors.privacy_requests_for(customer),
        },
    )


@login_required
@require_POST
def privacy_export(request, pk: int):
    if not privacy.privacy_export_allowed(request.user):
        raise Http404
    customer = selectors.privacy_person(request.user, pk)
    form = PrivacyExportForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    content, _record = privacy.privacy_export(customer=customer, user=request.user, reason=reason, request=request)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="personal-data-{customer.number}.zip"'
    return response


@login_required
@require_POST
def privacy_erase(request, pk: int):
    if not privacy.privacy_erase_allowed(request.user):
        raise Http404
    customer = selectors.privacy_person(request.user, pk, action="change")
    form = PrivacyEraseForm(request.POST, number=customer.number)
    if form.is_valid():
        try:
            privacy.privacy_erase(
                customer=customer, user=request.user, reason=form.cleaned_data["reason"], request=request
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The person's personal data was erased."))
            return redirect("customers_io:privacy", pk=customer.pk)
    return render(
        request,
        "customers/io/privacy.html",
        {
            "customer": customer,
            "may_export": privacy.privacy_export_allowed(request.user),
            "may_erase": True,
            "export_form": PrivacyExportForm(),
            "erase_form": form,
            "requests": selectors.privacy_requests_for(customer),
        },
        status=400,
    )
