"""Reads shaped for the import, export and personal-data pages."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from customers.io import formats
from customers.models import Customer, ImportJob, ImportRow, PrivacyRequest

_FIELD_LABELS = {
    "kind": _("kind"),
    "credit_code": _("credit code"),
    "id_number": _("ID number"),
    "birth_date": _("birth date"),
    "name": _("name"),
    "contact": _("phone/email"),
    "email_domain": _("email domain"),
    "address": _("address"),
    "city": _("city"),
    "province": _("province"),
    "postcode": _("postcode"),
}
_AGREEMENTS = {
    "exact": _("same"),
    "pinyin": _("same pinyin"),
    "fuzzy": _("similar"),
    "weak": _("unclear"),
    "shared": _("shared line"),
    "conflict": _("different"),
}


def import_jobs_of(user):
    """A user's own import jobs: nobody else's job is reachable (404)."""
    return ImportJob.objects.filter(created_by=user).defer("content")


def import_job_for(user, pk) -> ImportJob:
    return get_object_or_404(import_jobs_of(user), pk=pk)


def explanation(evidence: list[dict]) -> list[dict]:
    lines = []
    for item in evidence or []:
        points = int(item.get("points", 0))
        similarity = item.get("similarity")
        lines.append(
            {
                "field": _FIELD_LABELS.get(item.get("field", ""), item.get("field", "")),
                "verdict": _AGREEMENTS.get(item.get("agreement", ""), item.get("agreement", "")),
                "similarity": round(similarity * 100) if similarity is not None else None,
                "points": f"{points:+d}",
                "tone": "danger" if points < 0 else "success",
            }
        )
    return lines


def import_preview(job: ImportJob) -> dict:
    analysis = job.analysis or {}
    samples = analysis.get("samples", {})
    existing = []
    for sample in samples.get("existing", []):
        existing.append({**sample, "lines": explanation(sample.get("evidence", []))})
    mapped = {int(k): v for k, v in (job.mapping or {}).items()}
    return {
        "counts": analysis.get("counts", {}),
        "warnings": analysis.get("sheet", {}).get("warnings", []),
        "invalid": samples.get("invalid", []),
        "existing": existing,
        "infile": samples.get("infile", []),
        "new": samples.get("new", []),
        "columns": [
            (header, formats.header_for(mapped[i]) if i in mapped else None) for i, header in enumerate(job.headers)
        ],
        "sample_size": 50,
    }


def import_rejected_rows(job: ImportJob):
    return ImportRow.objects.filter(job=job, outcome=ImportRow.Outcome.REJECTED).order_by("row_number")


def import_report_rows(job: ImportJob, outcome: str | None = None):
    rows = ImportRow.objects.filter(job=job).select_related("customer").order_by("row_number")
    return rows.filter(outcome=outcome) if outcome else rows


def rejected_file_rows(job: ImportJob, language: str = "zh"):
    """The rejected rows in the upload's own columns plus a reason column (same format: fix and re-import)."""
    reason_header = "错误原因" if language.startswith("zh") else "reject reason"
    row_header = "原行号" if language.startswith("zh") else "source row"
    yield [formats.neutralise(h) for h in job.headers] + [reason_header, row_header]
    width = len(job.headers)
    for row in import_rejected_rows(job).iterator(chunk_size=2000):
        values = list(row.values)[: max(width, len(row.values))]
        values += [""] * (width - len(values))
        yield [formats.neutralise(str(v)) for v in values] + [formats.neutralise(row.reason), str(row.row_number)]


def privacy_person(user, pk, action: str = "view") -> Customer:
    """A person the user may see (or change); companies and hidden records answer 404."""
    return get_object_or_404(
        Customer.objects.visible_to(user, action=action).filter(kind=Customer.Kind.PERSON).select_related("person"),
        pk=pk,
    )


def privacy_requests_for(customer: Customer):
    return PrivacyRequest.objects.filter(customer=customer).select_related("performed_by")
