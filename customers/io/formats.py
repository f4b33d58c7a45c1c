"""The file format: columns with English and Chinese headers, aliases, and cell clean-up.

One spec serves the importer (headers → fields), the exporter (fields → headers), the downloadable
template and docs/import-format.md, so a file the CRM exports can always be imported again.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from customers.field_groups import CONTACT, CORE, IDENTITY


@dataclass(frozen=True)
class Column:
    field: str
    en: str
    zh: str
    group: str
    help: object
    aliases: tuple[str, ...] = ()
    multi: bool = False  # several values separated by ; or ；


COLUMNS: tuple[Column, ...] = (
    Column(
        "external_id",
        "external_id",
        "外部编号",
        CORE,
        _("Your own id of the row; reported back, not stored."),
        ("external id", "id", "编号", "外部id", "外部ID", "原编号"),
    ),
    Column(
        "number",
        "number",
        "客户编号",
        CORE,
        _("Customer number (exported by the CRM; ignored on import)."),
        ("customer number", "客户号"),
    ),
    Column(
        "kind",
        "kind",
        "类型",
        CORE,
        _("company / person (公司 / 个人); inferred when empty."),
        ("type", "customer type", "客户类型", "类别"),
    ),
    Column(
        "name",
        "name",
        "名称",
        CORE,
        _("Company name or person's name (required)."),
        ("customer name", "company", "company name", "full name", "客户名称", "姓名", "公司名称", "单位名称", "客户"),
    ),
    Column(
        "phone",
        "phone",
        "电话",
        CONTACT,
        _("Landline numbers, several separated by ;"),
        ("telephone", "tel", "landline", "固定电话", "座机", "联系电话", "办公电话"),
        True,
    ),
    Column(
        "mobile",
        "mobile",
        "手机",
        CONTACT,
        _("Mobile numbers, several separated by ;"),
        ("mobile phone", "cell", "cellphone", "手机号", "手机号码", "移动电话"),
        True,
    ),
    Column(
        "email",
        "email",
        "邮箱",
        CONTACT,
        _("Email addresses, several separated by ;"),
        ("e-mail", "mail", "email address", "电子邮件", "电子邮箱", "邮件"),
        True,
    ),
    Column(
        "address",
        "address",
        "地址",
        CONTACT,
        _("Postal address."),
        ("street", "postal address", "通讯地址", "详细地址", "联系地址"),
    ),
    Column("province", "province", "省份", CORE, _("Province (广东 or 广东省)."), ("state", "省", "所在省份")),
    Column("city", "city", "城市", CORE, _("City."), ("市", "所在城市")),
    Column("postcode", "postcode", "邮编", CONTACT, _("Postcode."), ("zip", "zip code", "postal code", "邮政编码")),
    Column(
        "birth_date",
        "birth_date",
        "出生日期",
        IDENTITY,
        _("Person's birth date: 2024-01-31, 2024/1/31, 20240131, 2024年1月31日 or an Excel date."),
        ("birth date", "birthday", "date of birth", "dob", "生日"),
    ),
    Column(
        "id_number",
        "id_number",
        "身份证号",
        IDENTITY,
        _("Person's resident identity number (18 characters)."),
        ("id number", "id card", "身份证", "身份证号码", "证件号码"),
    ),
    Column(
        "credit_code",
        "credit_code",
        "统一社会信用代码",
        IDENTITY,
        _("Company's unified social credit code (18 characters)."),
        ("credit code", "uscc", "信用代码", "社会信用代码", "税号"),
    ),
    Column("gender", "gender", "性别", CORE, _("Person's gender: 男 / 女 (m / f)."), ("sex",)),
    Column("title", "title", "职务", CORE, _("Person's job title."), ("job title", "position", "职位")),
    Column("industry", "industry", "行业", CORE, _("Company's industry."), ("sector", "所属行业")),
    Column("website", "website", "网站", CORE, _("Company's website."), ("web", "url", "homepage", "网址", "主页")),
    Column(
        "owner",
        "owner",
        "负责人",
        CORE,
        _("Username of the owner; default: you."),
        ("owner username", "sales rep", "客户负责人", "归属人", "业务员"),
    ),
    Column(
        "org_unit",
        "org_unit",
        "所属单位",
        CORE,
        _("Code or name of the org unit; default: the owner's unit."),
        ("org unit", "unit", "组织单位", "单位", "部门", "所属部门"),
    ),
    Column(
        "roles",
        "roles",
        "客户角色",
        CORE,
        _("Customer roles (codes or names), separated by ;"),
        ("customer roles", "角色"),
        True,
    ),
    Column("tags", "tags", "标签", CORE, _("Tags, separated by ;"), ("tag", "label", "labels"), True),
    Column(
        "notes",
        "notes",
        "备注",
        CORE,
        _("Free text; stored as a note activity on the customer."),
        ("note", "remark", "remarks", "comment", "comments", "说明", "备注信息"),
    ),
)

BY_FIELD = {c.field: c for c in COLUMNS}
FIELDS = tuple(c.field for c in COLUMNS)
REQUIRED = ("name",)
#: Columns the exporter writes (external_id is the caller's, notes are activities).
EXPORT_FIELDS = tuple(f for f in FIELDS if f not in ("external_id", "notes"))
#: The template's columns.
TEMPLATE_FIELDS = tuple(f for f in FIELDS if f != "number")

MULTI_SEPARATOR = re.compile(r"\s*[;；]\s*")


def header_key(text) -> str:
    """A header as compared: NFKC, no spaces/underscores/dashes, case-folded, no '*' marks."""
    value = unicodedata.normalize("NFKC", str(text or "")).strip().strip("*").strip()
    return re.sub(r"[\s_\-:：()（）]+", "", value).casefold()


ALIASES: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.field, _column.en, _column.zh, *_column.aliases):
        ALIASES.setdefault(header_key(_name), _column.field)


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """{column index as str: field} for headers we recognise; the first column wins for a field."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        field = ALIASES.get(header_key(header))
        if field and field not in taken:
            mapping[str(index)] = field
            taken.add(field)
    return mapping


def header_for(field: str, language: str = "zh") -> str:
    column = BY_FIELD[field]
    return column.zh if language.startswith("zh") else column.en


# --- Cell values ---------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(value: str) -> str:
    """A cell value safe for spreadsheets: a leading = + - @ tab or CR gets an apostrophe.

    A value that starts with an apostrophe gets one too, so unquote() gives every value back
    unchanged ('+8613800138000' → "'+8613800138000" → '+8613800138000').
    """
    if value and (value[0] in FORMULA_STARTS or value[0] == QUOTE):
        return QUOTE + value
    return value


def unquote(value: str) -> str:
    """Undo neutralise(): one leading apostrophe is dropped, as Excel does for text it protects."""
    return value[1:] if value.startswith(QUOTE) else value


_SCIENTIFIC = re.compile(r"^([+-]?)(\d+)(?:\.(\d+))?[eE]\+?(\d+)$")
_INTEGER_FLOAT = re.compile(r"^(\d+)\.0+$")


class CellError(ValueError):
    """A cell that cannot be read as what its column needs; str() is the user-facing reason."""


def digits_text(value: str, column_label: str) -> str:
    """Numbers Excel mangled back into their digits: '1.38001380001E10' → '13800138001', '518000.0' → '518000'.

    Scientific notation that dropped digits (1.38E+10) cannot be repaired: CellError.
    """
    match = _SCIENTIFIC.match(value)
    if match:
        sign, whole, fraction, exponent = match[1], match[2], match[3] or "", int(match[4])
        if sign == "-" or len(fraction) > exponent:
            return value
        mantissa = (whole + fraction).lstrip("0")
        expanded = whole + fraction + "0" * (exponent - len(fraction))
        significant = len(expanded.lstrip("0"))
        if len(mantissa) < significant and significant >= 7:
            raise CellError(
                _(
                    "%(column)s “%(value)s” was saved as a number in scientific notation and lost digits; "
                    "format the column as text and export again."
                )
                % {"column": column_label, "value": value}
            )
        return expanded.lstrip("0") or "0"
    match = _INTEGER_FLOAT.match(value)
    if match:
        return match[1]
    return value


EXCEL_EPOCH = datetime.date(1899, 12, 30)
_SERIAL = re.compile(r"^\d{1,5}(\.\d+)?$")


def excel_serial_to_date(serial: float) -> datetime.date:
    """1900 date system as Excel counts it (serial 60 is the non-existent 1900-02-29)."""
    return EXCEL_EPOCH + datetime.timedelta(days=int(serial))


def parse_date(value, column_label: str) -> datetime.date | None:
    """A date from 2024-01-31, 2024/1/31, 20240131, 2024年1月31日, 31/01/2024, an Excel serial, or a datetime."""
    from dedup.normalize import normalize_birth_date

    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, int | float):
        value = str(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if _SERIAL.match(text) and not (len(text) == 8 and text.isdigit()):
        serial = float(text)
        if 1 <= serial < 80000:
            return excel_serial_to_date(serial)
    iso = normalize_birth_date(text)
    if not iso:
        raise CellError(_("%(column)s “%(value)s” is not a date.") % {"column": column_label, "value": text[:40]})
    return datetime.date.fromisoformat(iso)
