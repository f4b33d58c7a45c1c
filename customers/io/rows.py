"""One file row → a validated, normalised customer candidate (or the reasons it cannot be one).

Pure with respect to the database except for the lookups the context preloads (owners, units,
roles), so the hypothesis fuzzer can throw anything at `parse_row` and the chunked importer can
parse 500 rows without a query per row. The same validators as the services run here
(contact_validate, the credit-code checksum, model field lengths), so an imported customer is as
clean as a hand-entered one.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from customers.io.formats import BY_FIELD, MULTI_SEPARATOR, CellError, digits_text, parse_date, unquote
from customers.models import ContactPoint, Customer
from customers.services import ContactInput, contact_validate
from customers.validators import is_valid_credit_code
from dedup import matching
from dedup.normalize import nfkc, normalize_credit_code, normalize_id_number, split_phones

MASK_MARKERS = ("***", "＊＊")
GENDERS = {
    "m": "m",
    "male": "m",
    "男": "m",
    "男性": "m",
    "先生": "m",
    "f": "f",
    "female": "f",
    "女": "f",
    "女性": "f",
    "女士": "f",
    "x": "x",
    "other": "x",
    "其他": "x",
    "未知": "x",
}
LIMITS = {
    "name": 200,
    "province": 30,
    "city": 50,
    "postcode": 10,
    "title": 60,
    "industry": 60,
    "website": 200,
    "address": 200,
    "external_id": 100,
    "notes": 10000,
}
_url = URLValidator(schemes=["http", "https"])


@dataclass
class Assignment:
    """Who may own imported customers and where they may land (resolved once per job)."""

    user: object
    user_unit: object  # OrgUnit or None
    is_dealer: bool
    sees_all_change: bool
    change_unit_ids: frozenset[int]
    users: dict[str, object] = field(default_factory=dict)  # username → user (with .membership unit id)
    user_units: dict[int, int | None] = field(default_factory=dict)  # user id → unit id
    units: dict[str, object] = field(default_factory=dict)  # code/name (casefolded) → OrgUnit
    roles: dict[str, object] = field(default_factory=dict)  # code/name (casefolded) → CustomerRole


@dataclass
class ParsedRow:
    number: int
    values: list[str]
    errors: list[str] = field(default_factory=list)
    external_id: str = ""
    kind: str = ""
    name: str = ""
    profile: dict = field(default_factory=dict)
    contacts: list[ContactInput] = field(default_factory=list)
    province: str = ""
    city: str = ""
    owner: object = None
    org_unit: object = None
    roles: list = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    notes: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def record(self) -> matching.Record:
        phones = tuple(
            c.value for c in self.contacts if c.kind in (ContactPoint.Kind.MOBILE, ContactPoint.Kind.LANDLINE)
        )
        emails = tuple(c.value for c in self.contacts if c.kind == ContactPoint.Kind.EMAIL)
        address = next((c for c in self.contacts if c.kind == ContactPoint.Kind.ADDRESS), None)
        birth = self.profile.get("birth_date")
        return matching.Record(
            id=self.number,
            kind=self.kind,
            name=self.name,
            phones=phones,
            emails=emails,
            address=address.value if address else "",
            province=self.province,
            city=self.city,
            postcode=address.postcode if address else "",
            birth_date=birth.isoformat() if birth else "",
            id_number=self.profile.get("id_number", ""),
            credit_code=self.profile.get("credit_code", ""),
        )


def label(field_name: str) -> str:
    column = BY_FIELD.get(field_name)
    return f"{column.zh} ({column.en})" if column else field_name


def _cells(values: list[str], mapping: dict[str, str], header_count: int, errors: list[str]) -> dict[str, list[str]]:
    """Values per field (a field mapped from several columns collects all of them)."""
    cells: dict[str, list[str]] = {}
    for key, field_name in mapping.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            continue
        if field_name not in BY_FIELD or index < 0 or index >= len(values):
            continue
        text = nfkc(unquote(str(values[index] or "").strip()))
        if text:
            cells.setdefault(field_name, []).append(text)
    extra = [v for v in values[header_count:] if str(v or "").strip()]
    if header_count and extra:
        errors.append(
            _("The row has %(count)s values but the header has %(columns)s columns (an unquoted comma?).")
            % {"count": len(values), "columns": header_count}
        )
    return cells


def _single(cells: dict[str, list[str]], name: str, errors: list[str]) -> str:
    values = cells.get(name, [])
    value = values[0] if values else ""
    limit = LIMITS.get(name)
    if limit and len(value) > limit:
        errors.append(_("%(column)s is longer than %(limit)s characters.") % {"column": label(name), "limit": limit})
        return ""
    return value


def _multi(cells: dict[str, list[str]], name: str) -> list[str]:
    parts: list[str] = []
    for value in cells.get(name, []):
        parts.extend(p for p in MULTI_SEPARATOR.split(value) if p)
    return list(dict.fromkeys(parts))


def _masked(value: str) -> bool:
    return any(marker in value for marker in MASK_MARKERS)


def _contacts(cells, errors, province, city, postcode) -> list[ContactInput]:
    contacts: list[ContactInput] = []
    for name, kind in (("mobile", ContactPoint.Kind.MOBILE), ("phone", ContactPoint.Kind.LANDLINE)):
        raw_values = []
        for value in cells.get(name, []):
            raw_values.extend(split_phones(value))
        for raw in dict.fromkeys(r.strip() for r in raw_values if r.strip()):
            if _masked(raw):
                errors.append(
                    _("%(column)s “%(value)s” is a masked value, not a number.") % {"column": label(name), "value": raw}
                )
                continue
            try:
                value = digits_text(raw, label(name))
                if len(value) > 200:
                    raise CellError(
                        _("%(column)s is longer than %(limit)s characters.") % {"column": label(name), "limit": 200}
                    )
                contact_validate(kind, value)
            except CellError as exc:
                errors.append(str(exc))
                continue
            except ValidationError as exc:
                errors.append(f"{label(name)}: {' '.join(exc.messages)}")
                continue
            contacts.append(ContactInput(kind=kind, value=value, is_primary=not any(c.kind == kind for c in contacts)))
    for raw in _multi(cells, "email"):
        if _masked(raw):
            errors.append(_("%(column)s “%(value)s” is a masked value.") % {"column": label("email"), "value": raw})
            continue
        try:
            if len(raw) > 200:
                raise ValidationError(_("too long"))
            contact_validate(ContactPoint.Kind.EMAIL, raw)
        except ValidationError as exc:
            errors.append(f"{label('email')}: {' '.join(exc.messages)}")
            continue
        contacts.append(
            ContactInput(
                kind=ContactPoint.Kind.EMAIL, value=raw, is_primary=not any(c.kind == "email" for c in contacts)
            )
        )
    address = _single(cells, "address", errors)
    if address:
        if _masked(address):
            errors.append(_("%(column)s is a masked value.") % {"column": label("address")})
        else:
            contacts.append(
                ContactInput(
                    kind=ContactPoint.Kind.ADDRESS,
                    value=address,
                    is_primary=True,
                    province=province,
                    city=city,
                    postcode=postcode,
                )
            )
    return contacts


def _assign(row: ParsedRow, owner_name: str, unit_name: str, ctx: Assignment) -> None:
    """Owner and unit from the file, within what the importer may assign (dealers: always themselves)."""
    if ctx.is_dealer:
        row.owner, row.org_unit = ctx.user, ctx.user_unit
        return
    owner = unit = None
    if owner_name:
        owner = ctx.users.get(owner_name) or ctx.users.get(owner_name.casefold())
        if owner is None:
            row.errors.append(_("Owner “%(name)s” is not an active user.") % {"name": owner_name})
            return
    if unit_name:
        unit = ctx.units.get(unit_name.casefold())
        if unit is None:
            row.errors.append(_("Org unit “%(name)s” does not exist.") % {"name": unit_name})
            return
    if owner is None and unit is None:
        row.owner, row.org_unit = ctx.user, ctx.user_unit
        return
    if owner is not None and unit is None:
        unit_id = ctx.user_units.get(owner.pk)
        unit = next((u for u in ctx.units.values() if u.pk == unit_id), None) if unit_id else None
    if unit is not None and owner is None:
        owner = ctx.user if ctx.user_unit is not None and ctx.user_unit.pk == unit.pk else None

    def in_scope(unit_id) -> bool:
        return ctx.sees_all_change or unit_id in ctx.change_unit_ids

    own_default = owner is not None and owner.pk == ctx.user.pk and (unit is None or unit == ctx.user_unit)
    if not own_default:
        if unit is not None and not in_scope(unit.pk):
            row.errors.append(
                _("You may not assign customers to the unit “%(unit)s” (outside the units you may change).")
                % {"unit": unit.name}
            )
            return
        if owner is not None and owner.pk != ctx.user.pk and not in_scope(ctx.user_units.get(owner.pk)):
            row.errors.append(
                _("You may not assign customers to “%(name)s” (not in the units you may change).")
                % {"name": owner.get_username()}
            )
            return
        if unit is None and not ctx.sees_all_change:
            row.errors.append(_("The owner “%(name)s” has no org unit.") % {"name": owner.get_username()})
            return
    row.owner, row.org_unit = owner, unit


def parse_row(
    number: int,
    values: list[str],
    mapping: dict[str, str],
    ctx: Assignment,
    *,
    header_count: int = 0,
    problems: list[str] | None = None,
) -> ParsedRow:
    """Validate and normalise one row. Never raises for bad data: the reasons go to `errors`."""
    row = ParsedRow(number=number, values=[str(v) if v is not None else "" for v in values])
    errors = row.errors
    errors.extend(problems or [])
    cells = _cells(row.values, mapping, header_count, errors)
    row.external_id = _single(cells, "external_id", errors)
    name = _single(cells, "name", errors)
    if not name and not any(e for e in errors if label("name") in e):
        errors.append(_("%(column)s is empty.") % {"column": label("name")})
    row.name = name
    row.province = _single(cells, "province", errors)
    row.city = _single(cells, "city", errors)
    postcode = ""
    try:
        postcode = digits_text(_single(cells, "postcode", errors), label("postcode"))
    except CellError as exc:
        errors.append(str(exc))
    if len(postcode) > 10:
        errors.append(_("%(column)s is longer than %(limit)s characters.") % {"column": label("postcode"), "limit": 10})
        postcode = ""
    row.contacts = _contacts(cells, errors, row.province, row.city, postcode)
    # A postcode without an address has nowhere to live (customers have no postcode field): dropped.

    kind_text = _single(cells, "kind", errors)
    kind = matching.normalize_kind(kind_text)
    if kind_text and not kind:
        errors.append(
            _("%(column)s “%(value)s” is neither company (公司) nor person (个人).")
            % {"column": label("kind"), "value": kind_text}
        )
    birth_text = _single(cells, "birth_date", errors)
    id_text = _single(cells, "id_number", errors)
    credit_text = _single(cells, "credit_code", errors)
    if not kind and name:
        kind = matching.infer_kind(
            matching.Record(id=number, name=name, birth_date=birth_text, id_number=id_text, credit_code=credit_text)
        )
    row.kind = kind or Customer.Kind.COMPANY
    profile: dict = {}
    if row.kind == Customer.Kind.PERSON:
        if credit_text:
            errors.append(_("A person has no unified social credit code."))
        if birth_text:
            if _masked(birth_text):
                errors.append(_("%(column)s is a masked value.") % {"column": label("birth_date")})
            else:
                try:
                    birth = parse_date(birth_text, label("birth_date"))
                    if birth and birth > datetime.date.today():
                        errors.append(_("%(column)s is in the future.") % {"column": label("birth_date")})
                    elif birth:
                        profile["birth_date"] = birth
                except CellError as exc:
                    errors.append(str(exc))
        if id_text:
            try:
                id_number = normalize_id_number(digits_text(id_text, label("id_number")))
            except CellError as exc:
                errors.append(str(exc))
                id_number = ""
            if _masked(id_text):
                errors.append(_("%(column)s is a masked value.") % {"column": label("id_number")})
            elif id_number and (len(id_number) > 18 or not id_number.isalnum()):
                errors.append(
                    _("%(column)s “%(value)s” is not an identity number.")
                    % {"column": label("id_number"), "value": id_text[:40]}
                )
            elif id_number:
                profile["id_number"] = id_number
        gender_text = _single(cells, "gender", errors)
        if gender_text:
            gender = GENDERS.get(gender_text.casefold())
            if gender is None:
                errors.append(
                    _("%(column)s “%(value)s” is not 男 / 女.") % {"column": label("gender"), "value": gender_text[:20]}
                )
            else:
                profile["gender"] = gender
        title = _single(cells, "title", errors)
        if title:
            profile["title"] = title
        for company_only in ("industry", "website"):
            if cells.get(company_only):
                errors.append(_("%(column)s is only for companies.") % {"column": label(company_only)})
    else:
        if birth_text or id_text:
            errors.append(_("A company has no birth date or identity number (is this row a person?)."))
        if credit_text:
            code = normalize_credit_code(
                digits_text(credit_text, label("credit_code")) if credit_text.isdigit() else credit_text
            )
            if _masked(credit_text):
                errors.append(_("%(column)s is a masked value.") % {"column": label("credit_code")})
            elif not is_valid_credit_code(code):
                errors.append(
                    _("%(column)s “%(value)s” is not a valid unified social credit code.")
                    % {"column": label("credit_code"), "value": credit_text[:40]}
                )
            else:
                profile["credit_code"] = code
        industry = _single(cells, "industry", errors)
        if industry:
            profile["industry"] = industry
        website = _single(cells, "website", errors)
        if website:
            url = website if "://" in website else f"http://{website}"
            try:
                _url(url)
                profile["website"] = url
            except ValidationError:
                errors.append(
                    _("%(column)s “%(value)s” is not a web address.")
                    % {"column": label("website"), "value": website[:60]}
                )
        for person_only in ("gender", "title"):
            if cells.get(person_only):
                errors.append(_("%(column)s is only for persons.") % {"column": label(person_only)})
    row.profile = profile

    for role_name in _multi(cells, "roles"):
        role = ctx.roles.get(role_name.casefold())
        if role is None:
            errors.append(_("Customer role “%(name)s” does not exist.") % {"name": role_name[:40]})
        else:
            row.roles.append(role)
    for tag in _multi(cells, "tags"):
        if len(tag) > 50:
            errors.append(_("Tag “%(name)s…” is longer than 50 characters.") % {"name": tag[:20]})
        else:
            row.tags.append(tag)
    row.notes = _single(cells, "notes", errors)
    owner_name = _single(cells, "owner", errors)
    unit_name = _single(cells, "org_unit", errors)
    if not errors:
        _assign(row, owner_name, unit_name, ctx)
    return row
