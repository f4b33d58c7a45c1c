"""Export of the customer list (its filters applied) to CSV (UTF-8 with BOM) or XLSX.

Only roles with can_export; only customers `visible_to` the viewer; only the field groups the
viewer's policy shows (a hidden group has no column at all); every maskable value through the
CustomerPresenter (unmask grants batched per chunk). Every cell is neutralised against formula
injection with a leading apostrophe, which the importer strips again, so an export re-imports
unchanged (docs/import-format.md). The CSV streams; the XLSX is written to a temporary file.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch

from customers.field_groups import CONTACT, IDENTITY
from customers.io.formats import EXPORT_FIELDS, header_for, neutralise
from customers.models import ContactPoint, Customer, ExportLog
from sharing.models import FieldLevel
from sharing.presenters import CustomerPresenter, unmask_grants_for
from sharing.principal import get_principal

BATCH = 1000
_EXAMPLE_CODE = "91440300MA5DC4XC9"
BOM = "\ufeff"
KIND_LABELS = {"zh": {"company": "公司", "person": "个人"}, "en": {"company": "company", "person": "person"}}
GENDER_LABELS = {"zh": {"m": "男", "f": "女", "x": "其他"}, "en": {"m": "male", "f": "female", "x": "other"}}
CONTACT_FIELDS = ("phone", "mobile", "email", "address", "postcode")
IDENTITY_FIELDS = ("birth_date", "id_number", "credit_code")


def export_allowed(user) -> bool:
    return get_principal(user).may("can_export")


def export_fields(user) -> list[str]:
    """Columns this viewer gets: a field group the policy hides has no column."""
    principal = get_principal(user)
    fields = list(EXPORT_FIELDS)
    if principal.field_level(CONTACT) < FieldLevel.MASKED:
        fields = [f for f in fields if f not in CONTACT_FIELDS]
    if principal.field_level(IDENTITY) < FieldLevel.MASKED:
        fields = [f for f in fields if f not in IDENTITY_FIELDS]
    return fields


def export_queryset(user, params) -> tuple:
    """(queryset, filters as JSON) for the list view's GET parameters, through the list's own filter."""
    try:
        from customers.forms import CustomerFilterForm
        from customers.selectors import customer_filter_choices, customer_list
    except ImportError:  # the list page is not there: visible customers, search only
        queryset = Customer.objects.visible_to(user).active().order_by("-updated_at", "-pk")
        q = (params.get("q") or "").strip()
        return (queryset.search(q) if q else queryset), ({"q": q} if q else {})
    owners, units = customer_filter_choices(user)
    form = CustomerFilterForm(params, owners=owners, units=units)
    filters = form.filters()
    as_json = {k: (getattr(v, "pk", v) if not isinstance(v, str | int) else v) for k, v in filters.items() if v}
    return customer_list(user, filters), {k: str(v) for k, v in as_json.items()}


def export_start(*, user, queryset, filters: dict, file_format: str, request=None) -> ExportLog:
    """Check the flag, count, and log the export before a byte leaves (sharing.audit.log_access)."""
    from sharing.audit import log_access

    if not export_allowed(user):
        raise PermissionDenied
    count = queryset.count()
    export = ExportLog.objects.create(user=user, file_format=file_format, filters=filters, row_count=count)
    log_access(actor=user, obj=export, what="export", request=request, filters=filters, rows=count, format=file_format)
    return export


def _batches(queryset) -> Iterator[list[Customer]]:
    queryset = queryset.select_related("company", "person", "owner", "org_unit").prefetch_related(
        Prefetch("contact_points", queryset=ContactPoint.objects.order_by("kind", "-is_primary", "pk")),
        "roles",
        "tags",
    )
    batch: list[Customer] = []
    for customer in queryset.iterator(chunk_size=BATCH):
        batch.append(customer)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _text(shown) -> str:
    return "" if shown is None else str(shown)


def customer_cells(presenter: CustomerPresenter, fields: list[str], language: str) -> list[str]:
    customer = presenter.customer
    lang = "zh" if language.startswith("zh") else "en"
    contacts: dict[str, list[str]] = {"phone": [], "mobile": [], "email": []}
    address = None
    for cp, shown in presenter.contact_points():
        if cp.kind == ContactPoint.Kind.LANDLINE:
            contacts["phone"].append(_text(shown))
        elif cp.kind == ContactPoint.Kind.MOBILE:
            contacts["mobile"].append(_text(shown))
        elif cp.kind == ContactPoint.Kind.EMAIL:
            contacts["email"].append(_text(shown))
        elif cp.kind == ContactPoint.Kind.ADDRESS and address is None:
            address = (cp, _text(shown))
    person = presenter._person()
    company = presenter._company()
    values = {
        "number": customer.number,
        "kind": KIND_LABELS[lang].get(customer.kind, customer.kind),
        "name": customer.name,
        "phone": "; ".join(contacts["phone"]),
        "mobile": "; ".join(contacts["mobile"]),
        "email": "; ".join(contacts["email"]),
        "address": address[1] if address else "",
        "province": customer.province,
        "city": customer.city,
        "postcode": address[0].postcode if address else "",
        "birth_date": _text(presenter.birth_date()),
        "id_number": _text(presenter.id_number()),
        "credit_code": _text(presenter.credit_code()),
        "gender": GENDER_LABELS[lang].get(person.gender, "") if person else "",
        "title": person.title if person else "",
        "industry": company.industry if company else "",
        "website": company.website if company else "",
        "owner": customer.owner.get_username() if customer.owner else "",
        "org_unit": customer.org_unit.code if customer.org_unit else "",
        "roles": "; ".join(r.code for r in customer.roles.all()),
        "tags": "; ".join(t.name for t in customer.tags.all()),
    }
    return [neutralise(str(values.get(f, "") or "")) for f in fields]


def export_rows(user, queryset, *, language: str = "zh") -> Iterator[list[str]]:
    """The header, then one row per customer (presenter-filtered, neutralised)."""
    fields = export_fields(user)
    yield [header_for(f, language) for f in fields]
    for batch in _batches(queryset):
        grants = unmask_grants_for(user, [c.pk for c in batch])
        for customer in batch:
            presenter = CustomerPresenter(customer, user, unmask_groups=grants.get(customer.pk, set()))
            yield customer_cells(presenter, fields, language)


class _Echo:
    def write(self, value):
        return value


def csv_stream(rows: Iterable[list[str]]) -> Iterator[bytes]:
    """CSV as UTF-8 with a BOM (what Chinese Excel needs to read UTF-8), one encoded line at a time."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield BOM.encode("utf-8")
    for row in rows:
        yield writer.writerow(row).encode("utf-8")


def csv_bytes(rows: Iterable[list[str]]) -> bytes:
    return b"".join(csv_stream(rows))


def xlsx_file(rows: Iterable[list[str]], *, title: str = "customers"):
    """An XLSX (write-only, every cell a string) in a temporary file, rewound for reading."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for row in rows:
        sheet.append(row)
    handle = tempfile.TemporaryFile()  # noqa: SIM115  (returned open, closed by the response)
    workbook.save(handle)
    handle.seek(0)
    return handle


def xlsx_bytes(rows: Iterable[list[str]], *, title: str = "customers") -> bytes:
    handle = xlsx_file(rows, title=title)
    try:
        return handle.read()
    finally:
        handle.close()


def rows_to_bytes(rows: Iterable[list[str]], file_format: str) -> bytes:
    return xlsx_bytes(rows) if file_format == "xlsx" else csv_bytes(rows)


def template_bytes(file_format: str, language: str = "zh") -> bytes:
    """The downloadable template: the import headers and two example rows."""
    from customers.io.formats import TEMPLATE_FIELDS
    from customers.validators import credit_code_check_char

    examples = {
        "zh": [
            {
                "external_id": "A001",
                "kind": "公司",
                "name": "深圳示例科技有限公司",
                "phone": "0755-86001234",
                "email": "info@example.cn",
                "address": "广东省深圳市南山区科技园1号",
                "province": "广东",
                "city": "深圳",
                "postcode": "518000",
                "credit_code": _EXAMPLE_CODE + credit_code_check_char(_EXAMPLE_CODE),
                "industry": "制造业",
                "website": "https://example.cn",
                "tags": "重点客户",
                "notes": "展会获取",
            },
            {
                "external_id": "A002",
                "kind": "个人",
                "name": "张示例",
                "mobile": "+8613800138000",
                "email": "zhang@example.cn",
                "birth_date": "1990-01-31",
                "gender": "男",
                "title": "采购经理",
                "province": "广东",
                "city": "深圳",
            },
        ],
    }
    fields = list(TEMPLATE_FIELDS)
    rows: list[list[str]] = [[header_for(f, language) for f in fields]]
    for example in examples["zh"]:
        rows.append([neutralise(example.get(f, "")) for f in fields])
    return rows_to_bytes(rows, file_format)


def read_back(content: bytes) -> list[list[str]]:
    """Rows of a file the exporter wrote, as the importer's reader sees them (tests, round trips)."""
    from customers.io.readers import iter_rows, sniff

    sheet = sniff(content, "export")
    return [sheet.headers] + [r.values for r in iter_rows(content, sheet)]


__all__ = [
    "csv_bytes",
    "csv_stream",
    "export_allowed",
    "export_fields",
    "export_queryset",
    "export_rows",
    "export_start",
    "read_back",
    "rows_to_bytes",
    "template_bytes",
    "xlsx_file",
]
