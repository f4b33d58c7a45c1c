"""Adapter between the database and the pure matching engine (dedup/matching.py).

The engine works on `Record`s; this module builds them from customer rows (in batches: four
queries for any number of customers) and from what a user types into a form, reads candidate
customers from the match-key table with bounded equality lookups, and turns the engine's evidence
into JSON and into translatable sentences. No rules about what a duplicate is live here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.db import connection
from django.utils.translation import gettext_lazy as _

from dedup import matching

KEY_MAX_LENGTH = 200
#: Members read per key: one more than the largest block cap tells "too common" from "usable".
KEY_MEMBERS_LIMIT = max(matching.KEY_BLOCK_CAPS.values()) + 1
INACTIVE_STATUSES = ("merged", "erased")
_PHONE_KINDS = ("mobile", "landline")


def keys_of(record: matching.Record | matching.Prepared) -> set[str]:
    """The engine's match keys, cut to the column width (a longer key still matches its twin)."""
    return {key[:KEY_MAX_LENGTH] for key in matching.match_keys(record)}


# --- Records from the database -------------------------------------------------------------------


def _slices(ids: list[int], size: int = 5000) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def records_load(customer_ids: Iterable[int], *, include_inactive: bool = False) -> dict[int, matching.Record]:
    """Engine records of these customers, by id. Merged and erased customers are left out.

    Four queries per 5,000 customers (customers, contact points, company and person profiles).
    See `records_build` for how the fields are chosen.
    """
    ids = sorted(set(customer_ids))
    if connection.vendor == "postgresql":
        return _records_load_sql(ids, include_inactive=include_inactive)
    return _records_load_orm(ids, include_inactive=include_inactive)


def _records_load_orm(ids: list[int], *, include_inactive: bool) -> dict[int, matching.Record]:
    """records_load through the ORM (any database)."""
    from customers.models import ContactPoint, Customer

    result: dict[int, matching.Record] = {}
    for chunk in _slices(ids):
        customers = Customer.objects.filter(pk__in_array=chunk)
        if not include_inactive:
            customers = customers.exclude(status__in=INACTIVE_STATUSES)
        rows = list(customers.values_list("pk", "kind", "name", "province", "city"))
        if not rows:
            continue
        contact_rows = (
            ContactPoint.objects.filter(customer_id__in_array=[row[0] for row in rows])
            .order_by("customer_id", "-is_primary", "pk")
            .values_list("customer_id", "kind", "value", "province", "city", "postcode")
        )
        result.update(records_build(rows, contact_rows))
    return result


def _records_load_sql(ids: list[int], *, include_inactive: bool) -> dict[int, matching.Record]:
    """records_load on PostgreSQL: the same four queries in plain SQL, each slice's ids sent as one
    array literal, and only the contact kinds a record uses.

    The batch job loads ~4,000 records per chunk; the ORM spent about as much CPU preparing and
    converting the same id list four times and building the queries (0.12 s per chunk) as the
    records take to assemble (0.06 s). A single join of customers and profiles was tried and is
    slower in the database (nested-loop probes per customer instead of one sorted array scan).
    """
    from customers.models import CompanyProfile, ContactPoint, Customer, PersonProfile

    customer_sql = f"SELECT id, kind, name, province, city FROM {Customer._meta.db_table} WHERE id = ANY(%s::bigint[])"  # noqa: S608 (table names are ours)
    if not include_inactive:
        customer_sql += " AND status <> ALL(%s)"
    contact_sql = (
        "SELECT customer_id, kind, value, province, city, postcode "  # noqa: S608
        f"FROM {ContactPoint._meta.db_table} WHERE customer_id = ANY(%s::bigint[]) AND kind = ANY(%s) "
        "ORDER BY customer_id, is_primary DESC, id"
    )
    company_sql = f"SELECT customer_id, credit_code, registered_address FROM {CompanyProfile._meta.db_table} WHERE customer_id = ANY(%s::bigint[])"  # noqa: S608
    person_sql = f"SELECT customer_id, id_number, birth_date FROM {PersonProfile._meta.db_table} WHERE customer_id = ANY(%s::bigint[])"  # noqa: S608
    result: dict[int, matching.Record] = {}
    with connection.cursor() as cursor:
        for chunk in _slices(ids):
            array = _bigint_array(chunk)
            cursor.execute(customer_sql, [array] if include_inactive else [array, list(INACTIVE_STATUSES)])
            rows = cursor.fetchall()
            if not rows:
                continue
            companies = [row[0] for row in rows if row[1] == "company"]
            persons = [row[0] for row in rows if row[1] == "person"]
            if len(rows) < len(chunk):
                array = _bigint_array([row[0] for row in rows])
            cursor.execute(contact_sql, [array, list(_RECORD_CONTACT_KINDS)])
            contact_rows = cursor.fetchall()
            company_profiles = person_profiles = {}
            if companies:
                cursor.execute(company_sql, [_bigint_array(companies)])
                company_profiles = {row[0]: row[1:] for row in cursor.fetchall()}
            if persons:
                cursor.execute(person_sql, [_bigint_array(persons)])
                person_profiles = {row[0]: row[1:] for row in cursor.fetchall()}
            result.update(_records_assemble(rows, contact_rows, company_profiles, person_profiles))
    return result


def _bigint_array(ids: Iterable[int]) -> str:
    """A PostgreSQL array literal of integer ids (cast with ::bigint[]): one text parameter instead
    of a list the driver converts element by element."""
    return "{" + ",".join(str(int(pk)) for pk in ids) + "}"


#: The contact kinds a record is built from (WeChat and other kinds are not compared).
_RECORD_CONTACT_KINDS = (*_PHONE_KINDS, "email", "address")


def records_build(rows, contact_rows) -> dict[int, matching.Record]:
    """Records from customer rows (pk, kind, name, province, city) and contact rows (customer_id,
    kind, value, province, city, postcode; primary first). Reads the profiles (one query per kind).

    The address is the primary (else first) address contact point, or the company's registered
    address; province and city come from the customer, else from that address.
    """
    from customers.models import CompanyProfile, PersonProfile

    company_ids = [row[0] for row in rows if row[1] == "company"]
    person_ids = [row[0] for row in rows if row[1] == "person"]
    companies = {}
    if company_ids:
        companies = {
            row[0]: row[1:]
            for row in CompanyProfile.objects.filter(customer_id__in_array=company_ids).values_list(
                "customer_id", "credit_code", "registered_address"
            )
        }
    persons = {}
    if person_ids:
        persons = {
            row[0]: row[1:]
            for row in PersonProfile.objects.filter(customer_id__in_array=person_ids).values_list(
                "customer_id", "id_number", "birth_date"
            )
        }
    return _records_assemble(rows, contact_rows, companies, persons)


def _records_assemble(rows, contact_rows, companies: Mapping, persons: Mapping) -> dict[int, matching.Record]:
    """Records from customer rows, contact rows and the profiles by customer id: (credit_code,
    registered_address) of companies, (id_number, birth_date) of persons."""
    phones: dict[int, list[str]] = defaultdict(list)
    emails: dict[int, list[str]] = defaultdict(list)
    addresses: dict[int, list[tuple]] = defaultdict(list)
    for customer_id, kind, value, province, city, postcode in contact_rows:
        if kind in _PHONE_KINDS:
            phones[customer_id].append(value)
        elif kind == "email":
            emails[customer_id].append(value)
        elif kind == "address":
            addresses[customer_id].append((value, province, city, postcode))
    result = {}
    for pk, kind, name, province, city in rows:
        address, a_province, a_city, postcode = addresses[pk][0] if addresses[pk] else ("", "", "", "")
        credit_code = id_number = birth_date = ""
        if kind == "company" and pk in companies:
            credit_code, registered = companies[pk]
            address = address or registered or ""
        if kind == "person" and pk in persons:
            id_number, birth = persons[pk]
            birth_date = birth.isoformat() if birth else ""
        result[pk] = matching.Record(
            id=pk,
            kind=kind,
            name=name,
            phones=tuple(phones[pk]),
            emails=tuple(emails[pk]),
            address=address or "",
            province=province or a_province or "",
            city=city or a_city or "",
            postcode=postcode or "",
            birth_date=birth_date,
            id_number=id_number or "",
            credit_code=credit_code or "",
        )
    return result


# --- Records from a form -------------------------------------------------------------------------

_FORMSET_KIND = re.compile(r"^(?P<prefix>.+)-kind$")


def _values(data: Mapping, name: str) -> list[str]:
    getlist = getattr(data, "getlist", None)
    values = getlist(name) if getlist else [data.get(name)]
    return [str(v)[:300] for v in values if v not in (None, "")]


def record_from_customer_input(data) -> matching.Record:
    """A record from customers.services.CustomerInput (what the create view hands to the gate)."""
    phones, emails, addresses = [], [], []
    province = city = postcode = ""
    for contact in getattr(data, "contacts", None) or []:
        if getattr(contact, "delete", False) or not getattr(contact, "value", ""):
            continue
        if contact.kind in _PHONE_KINDS:
            phones.append(contact.value)
        elif contact.kind == "email":
            emails.append(contact.value)
        elif contact.kind == "address":
            addresses.append(contact.value)
            if not province and not city:
                province, city, postcode = contact.province, contact.city, contact.postcode
    profile = getattr(data, "profile", None) or {}
    birth = profile.get("birth_date") or ""
    return matching.Record(
        id="new",
        kind=data.kind or "",
        name=data.name or "",
        phones=tuple(phones),
        emails=tuple(emails),
        address=addresses[0] if addresses else (profile.get("registered_address") or ""),
        province=province or "",
        city=city or "",
        postcode=postcode or "",
        birth_date=birth.isoformat() if hasattr(birth, "isoformat") else str(birth),
        id_number=profile.get("id_number") or "",
        credit_code=profile.get("credit_code") or "",
    )


def record_from(data) -> matching.Record:
    """A record from a Record, a CustomerInput or a form's POST data."""
    if isinstance(data, matching.Record):
        return data
    if hasattr(data, "contacts") and hasattr(data, "kind"):
        return record_from_customer_input(data)
    return record_from_input(data)


def record_from_input(data: Mapping) -> matching.Record:
    """A record from what a create form posts while the user types.

    Understands plain fields (name, kind, phone, mobile, landline, email, address, province, city,
    credit_code, id_number, birth_date — also with a "profile-"/"company-"/"person-" prefix) and
    contact formsets ("contacts-0-kind" + "contacts-0-value"), so the customers form can post as it is.
    """
    phones: list[str] = []
    emails: list[str] = []
    addresses: list[str] = []
    fields: dict[str, str] = {}
    for name in list(data.keys()):
        base = name.rsplit("-", 1)[-1] if "-" in name else name
        match = _FORMSET_KIND.match(name)
        if match:
            kind = (data.get(name) or "").strip()
            value = (data.get(f"{match['prefix']}-value") or "").strip()
            if data.get(f"{match['prefix']}-DELETE") in ("on", "true", "1"):
                continue
            if value and kind in _PHONE_KINDS:
                phones.append(value)
            elif value and kind == "email":
                emails.append(value)
            elif value and kind == "address":
                addresses.append(value)
            continue
        if base in ("phone", "mobile", "landline", "telephone", "tel"):
            phones.extend(_values(data, name))
        elif base == "email":
            emails.extend(_values(data, name))
        elif base in ("address", "registered_address"):
            addresses.extend(_values(data, name))
        elif base in ("name", "kind", "province", "city", "postcode", "credit_code", "id_number", "birth_date"):
            values = _values(data, name)
            if values and not fields.get(base):
                fields[base] = values[0]
    return matching.Record(
        id="new",
        kind=fields.get("kind", ""),
        name=fields.get("name", ""),
        phones=tuple(phones),
        emails=tuple(emails),
        address=addresses[0] if addresses else "",
        province=fields.get("province", ""),
        city=fields.get("city", ""),
        postcode=fields.get("postcode", ""),
        birth_date=fields.get("birth_date", ""),
        id_number=fields.get("id_number", ""),
        credit_code=fields.get("credit_code", ""),
    )


# --- Candidates from the key table ---------------------------------------------------------------


def key_members(keys: Iterable[str], limit: int = KEY_MEMBERS_LIMIT) -> dict[str, list[int]]:
    """Customers holding each key, at most `limit` per key (enough to tell a usable block from a
    too-common one). One index-only query on PostgreSQL (a LATERAL LIMIT per key), however
    common a key is; one windowed query per 500 keys elsewhere."""
    from dedup.models import MatchKey

    keys = sorted({k for k in keys if k})
    members: dict[str, list[int]] = {}
    if not keys:
        return members
    if connection.vendor == "postgresql":
        table = MatchKey._meta.db_table
        sql = (
            f"SELECT k.key, m.customer_id FROM unnest(%s::varchar[]) AS k(key) "  # noqa: S608 (table name is ours)
            f"CROSS JOIN LATERAL (SELECT customer_id FROM {table} WHERE key = k.key LIMIT %s) m"
        )
        with connection.cursor() as cursor:
            for chunk in _slices(keys, 2000):
                cursor.execute(sql, [chunk, limit])
                for key, customer_id in cursor.fetchall():
                    members.setdefault(key, []).append(customer_id)
        return members
    # Elsewhere (SQLite): one query per 500 keys, ROW_NUMBER() per key keeping `limit` members.
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    for chunk in _slices(keys, 500):
        rows = (
            MatchKey.objects.filter(key__in=chunk)
            .annotate(rank=Window(RowNumber(), partition_by=[F("key")], order_by=F("customer_id").asc()))
            .filter(rank__lte=limit)
            .order_by("key", "customer_id")
            .values_list("key", "customer_id")
        )
        for key, customer_id in rows:
            members.setdefault(key, []).append(customer_id)
    return members


def usable_blocks(members: Mapping[str, list[int]]) -> tuple[dict[str, list[int]], set[str]]:
    """The engine's blocking rule applied to key members read from the table: blocks over their
    cap are dropped, phone/email keys held by many are returned as common (shared lines)."""
    usable = {k: ids for k, ids in members.items() if len(ids) <= matching.block_cap(k)}
    common = {k for k, ids in members.items() if len(ids) > matching.COMMON_KEY_SIZE and k[:2] in ("p:", "e:")}
    return usable, common


# --- Explanations --------------------------------------------------------------------------------


def evidence_json(match: matching.Match) -> list[dict]:
    """The engine's evidence as JSON for CandidatePair.explanation: codes and numbers, no values."""
    items = []
    for item in match.evidence:
        entry = {"field": item.field, "agreement": item.agreement, "points": item.points}
        if item.similarity is not None:
            entry["similarity"] = round(item.similarity, 3)
        items.append(entry)
    return items


FIELD_LABELS = {
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
AGREEMENT_LABELS = {
    "exact": _("same"),
    "pinyin": _("same pinyin"),
    "fuzzy": _("similar"),
    "weak": _("unclear"),
    "shared": _("shared line"),
    "conflict": _("different"),
}


def explanation_lines(explanation: Iterable[Mapping]) -> list[dict]:
    """Display rows for an explanation: label, verdict, similarity percent, signed points, tone."""
    lines = []
    for item in explanation or []:
        agreement = item.get("agreement", "")
        points = int(item.get("points", 0))
        similarity = item.get("similarity")
        lines.append(
            {
                "field": FIELD_LABELS.get(item.get("field", ""), item.get("field", "")),
                "verdict": AGREEMENT_LABELS.get(agreement, agreement),
                "similarity": (
                    round(similarity * 100)
                    if similarity is not None and agreement in ("fuzzy", "weak", "conflict")
                    else None
                ),
                "points": f"{points:+d}",
                "tone": "danger" if points < 0 else ("success" if points > 0 else "info"),
            }
        )
    return lines


def band_of(score: int) -> str:
    return "likely" if score >= matching.LIKELY else "possible"
