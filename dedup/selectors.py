"""Reads of the dedup app shaped for its pages. Every customer read goes through `visible_to`,
every maskable value through the presenter's policy."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.field_groups import CONTACT, CORE, IDENTITY
from dedup.models import CandidatePair, DedupJob, MergeJournal
from dedup.records import INACTIVE_STATUSES, explanation_lines
from sharing.masking import mask_address, mask_date, mask_generic, mask_id_number
from sharing.presenters import CustomerPresenter

PAGE_SIZE = 25

# field name → (label, group, masker)
FIELD_DISPLAY = {
    "name": (_("Name"), CORE, None),
    "source": (_("Source"), CORE, None),
    "province": (_("Province"), CORE, None),
    "city": (_("City"), CORE, None),
    "industry": (_("Industry"), CORE, None),
    "size": (_("Size"), CORE, None),
    "website": (_("Website"), CORE, None),
    "founded_on": (_("Founded on"), CORE, None),
    "gender": (_("Gender"), CORE, None),
    "title": (_("Title"), CORE, None),
    "registered_address": (_("Registered address"), CONTACT, mask_address),
    "credit_code": (_("Unified social credit code"), IDENTITY, mask_id_number),
    "id_number": (_("ID number"), IDENTITY, mask_id_number),
    "birth_date": (_("Birth date"), IDENTITY, mask_date),
    "marital_status": (_("Marital status"), IDENTITY, mask_generic),
}

ISSUE_LABELS = {
    "credit_code_missing": _("no credit code"),
    "credit_code_invalid": _("invalid credit code"),
    "industry_missing": _("no industry"),
    "phone_missing": _("no valid phone"),
    "mobile_missing": _("no valid mobile"),
    "address_missing": _("no address"),
    "email_missing": _("no valid email"),
    "details_missing": _("no size, website or founding date"),
    "birth_date_missing": _("no birth date"),
    "consent_missing": _("no marketing consent"),
    "id_number_missing": _("no ID number"),
    "id_number_invalid": _("invalid ID number"),
    "gender_missing": _("no gender"),
    "contact_invalid": _("invalid phone or email"),
    "stale": _("untouched for a long time"),
}


def _active_pairs():
    return CandidatePair.objects.exclude(a__status__in=INACTIVE_STATUSES).exclude(b__status__in=INACTIVE_STATUSES)


def pair_queue(user, *, band: str = "", province: str = "", kind: str = ""):
    """Open pairs whose two customers the user may both see, best score first."""
    qs = _active_pairs().open().visible_to(user)
    if band:
        qs = qs.filter(band=band)
    if province:
        qs = qs.filter(Q(a__province=province) | Q(b__province=province))
    if kind:
        qs = qs.filter(a__kind=kind)
    return qs.select_related("a", "a__org_unit", "b", "b__org_unit").order_by("-score", "id")


def pair_rows(pairs) -> list[dict]:
    """Rows of the queue: names, numbers and units are core fields (never masked); the explanation
    carries codes only."""
    return [{"pair": p, "lines": explanation_lines(p.explanation)} for p in pairs]


def open_pair_count(user) -> int:
    """For the workbench's "possible duplicates to review" figure (stewards only)."""
    from sharing.principal import get_principal

    if not get_principal(user).may("can_merge"):
        return 0
    return _active_pairs().open().visible_to(user).count()


@dataclass
class FieldRow:
    name: str
    label: str
    a: object  # ShownValue-like (str()), or None when the group is hidden
    b: object
    differ: bool
    default: str  # "a" or "b"
    choosable: bool


def _display(obj, name: str):
    if obj is None:
        return None
    value = getattr(obj, name, None)
    display = getattr(obj, f"get_{name}_display", None)
    if display is not None and value not in (None, ""):
        return str(display())
    return value


def _shown(presenter: CustomerPresenter, group: str, value, masker):
    if not presenter.sees(group):
        return None
    if value in (None, ""):
        return ""
    if presenter.clear(group) or masker is None:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return masker(value)


def pair_comparison(user, a, b) -> dict:
    """Side-by-side view of two customers for the merge page, values as the viewer may see them."""
    from dedup.services import SURVIVOR, customer_related_fks, merge_defaults, merge_fields_for

    pa, pb = CustomerPresenter(a, user), CustomerPresenter(b, user)
    defaults = merge_defaults(a, b)  # a as survivor: "survivor" → a
    profiles = {}
    for customer in (a, b):
        attr = "company" if customer.kind == "company" else "person"
        profiles[customer.pk] = getattr(customer, attr, None) if hasattr(customer, attr) else None
    rows = []
    for name, where in merge_fields_for(a.kind):
        label, group, masker = FIELD_DISPLAY[name]
        src_a = a if where == "customer" else profiles[a.pk]
        src_b = b if where == "customer" else profiles[b.pk]
        raw_a, raw_b = getattr(src_a, name, None), getattr(src_b, name, None)
        shown_a = _shown(pa, group, _display(src_a, name) if masker is None else raw_a, masker)
        shown_b = _shown(pb, group, _display(src_b, name) if masker is None else raw_b, masker)
        rows.append(
            FieldRow(
                name=name,
                label=label,
                a=shown_a,
                b=shown_b,
                differ=(raw_a or None) != (raw_b or None),
                default="a" if defaults.get(name) == SURVIVOR else "b",
                choosable=shown_a is not None and shown_b is not None,
            )
        )
    related = []
    for model, fk in customer_related_fks():
        count_a = model._base_manager.filter(**{fk.attname: a.pk}).count()
        count_b = model._base_manager.filter(**{fk.attname: b.pk}).count()
        if count_a or count_b:
            label = str(model._meta.verbose_name_plural)
            if fk.name not in ("customer", "content_object"):
                label = f"{label} ({fk.verbose_name})"
            related.append({"label": label, "a": count_a, "b": count_b})
    return {
        "rows": rows,
        "presenters": (pa, pb),
        "contacts": (pa.contact_points(), pb.contact_points()),
        "related": related,
    }


def job_list():
    return DedupJob.objects.select_related("created_by", "org_unit").order_by("-created_at", "-id")


def journal_list(user):
    return (
        MergeJournal.objects.visible_to(user)
        .select_related("survivor", "duplicate", "merged_by", "unmerged_by")
        .order_by("-merged_at", "-id")
    )


def quality_list(user, *, kind: str = "", stale_only: bool = False):
    """Visible customers with a quality score, worst first."""
    from customers.models import Customer

    qs = (
        Customer.objects.visible_to(user)
        .exclude(status__in=INACTIVE_STATUSES)
        .filter(quality__isnull=False)
        .select_related("quality", "org_unit", "owner")
    )
    if kind:
        qs = qs.filter(kind=kind)
    if stale_only:
        qs = qs.filter(quality__is_stale=True)
    return qs.order_by("quality__score", "pk")


def quality_rows(customers) -> list[dict]:
    return [{"customer": c, "issues": [ISSUE_LABELS.get(code, code) for code in c.quality.issues]} for c in customers]
