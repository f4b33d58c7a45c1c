"""The import pipeline: upload → (mapping) → analysis/preview → decisions → chunked run → report.

- Nothing is written to customer tables before the user has seen the preview and decided.
- The run commits in chunks of CHUNK_SIZE rows. A chunk's customers, its ImportRow outcomes and the
  job's counters are one transaction, and the rows of a file are read in a fixed order, so a crashed
  or redelivered run continues at `processed_rows` and never inserts a row twice (the unique
  (job, row) constraint is the last line of defence).
- New customers go through a bulk path (numbers from customer_numbers_reserve, COPY (fastinsert) of
  customers, profiles, contact points, roles and tags) with one explicit audit entry per customer,
  because auditlog does not see bulk_create. Merges into existing customers go through
  customers.services.customer_update (row lock, version, auditlog). The new customers' dedup match
  keys are written in the same transaction, from the records the duplicate search already
  normalised (`_index_created`). Rows are validated by
  customers/io/rows.py with the services' own validators.
- Duplicates come from the dedup engine (dedup.matching): existing customers are found by equality
  lookups on normalised phones, emails, codes and names, then scored; duplicates within the file by
  `find_pairs` over the file's valid rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.io import formats, pipeline
from customers.io.fastinsert import copy_rows, insert_many
from customers.io.readers import FileProblem, Sheet, iter_rows, sniff
from customers.io.rows import Assignment, ParsedRow
from customers.models import (
    CompanyProfile,
    ContactPoint,
    Customer,
    CustomerRole,
    ImportJob,
    ImportRow,
    PersonProfile,
    Tag,
)
from customers.services import ContactInput, contact_normalize, customer_numbers_reserve, customer_update
from dedup import matching
from dedup.normalize import nfkc, normalize_name

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
SAMPLE_SIZE = 50
MAX_BYTES = getattr(settings, "CUSTOMER_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
CANDIDATES_PER_ROW = 50

DECISIONS = {
    "new": ("create", "skip"),
    "existing": ("merge", "skip", "create"),
    "infile": ("merge", "skip", "create"),
}
DEFAULT_DECISIONS = {"new": "create", "existing": "merge", "infile": "merge"}


class ImportProblem(Exception):
    """A job cannot go on as asked; str() is the message for the user."""


# --- Context -------------------------------------------------------------------------------------


def assignment_for(user) -> Assignment:
    """What the importer may assign, plus the lookups rows need (users, units, roles): four queries."""
    from sharing.models import Membership, OrgUnit
    from sharing.principal import get_principal

    principal = get_principal(user)
    scope = principal.scope("change")
    membership = Membership.objects.select_related("unit").filter(user_id=user.pk).first()
    user_unit = membership.unit if membership else None
    is_dealer = "dealer" in principal.role_codes or (
        user_unit is not None and user_unit.kind == OrgUnit.Kind.DEALER and not principal.is_superuser
    )
    ctx = Assignment(
        user=user,
        user_unit=user_unit,
        is_dealer=is_dealer,
        sees_all_change=scope.sees_all,
        change_unit_ids=scope.unit_ids,
    )
    for unit in OrgUnit.objects.filter(is_active=True):
        ctx.units.setdefault(unit.code.casefold(), unit)
        ctx.units.setdefault(unit.name.casefold(), unit)
    for member in get_user_model().objects.filter(is_active=True):
        ctx.users[member.get_username()] = member
        ctx.users.setdefault(member.get_username().casefold(), member)
    ctx.user_units = dict(Membership.objects.values_list("user_id", "unit_id"))
    for role in CustomerRole.objects.all():
        ctx.roles.setdefault(role.code.casefold(), role)
        ctx.roles.setdefault(str(role.name).casefold(), role)
        ctx.roles.setdefault(str(role).casefold(), role)
    return ctx


def _sheet(job: ImportJob) -> Sheet:
    info = (job.analysis or {}).get("sheet", {})
    return Sheet(
        file_format=job.file_format,
        encoding=job.encoding,
        delimiter=job.delimiter or ",",
        headers=list(job.headers),
        header_row=int(info.get("header_row", 1)),
    )


def _content(job: ImportJob) -> bytes:
    content = ImportJob.objects.filter(pk=job.pk).values_list("content", flat=True).first()
    if content is None:
        raise ImportProblem(_("The uploaded file is no longer available; upload it again."))
    return bytes(content)


def _enqueue(task_name: str, job_id: int) -> None:
    from customers import io_tasks

    task = getattr(io_tasks, task_name)
    transaction.on_commit(lambda: task.delay(job_id))


# --- Upload and mapping --------------------------------------------------------------------------


def missing_required(mapping: dict[str, str]) -> list[str]:
    mapped = set(mapping.values())
    return [f for f in formats.REQUIRED if f not in mapped]


@transaction.atomic
def import_job_create(*, user, filename: str, content: bytes, dry_run: bool = False, enqueue: bool = True) -> ImportJob:
    """Check the file (format, encoding, header) and keep it in a new job; start the analysis when
    every required column is recognised, else the job waits for the user's column mapping.

    Raises PermissionDenied without can_import, FileProblem for a file we cannot read.
    """
    from sharing.principal import get_principal

    if not get_principal(user).may("can_import"):
        raise PermissionDenied
    if len(content) > MAX_BYTES:
        raise FileProblem(
            _("The file is %(size)s MB; the limit is %(limit)s MB. Split it into smaller files.")
            % {"size": round(len(content) / 1048576, 1), "limit": MAX_BYTES // 1048576}
        )
    sheet = sniff(content, filename)
    mapping = formats.guess_mapping(sheet.headers)
    job = ImportJob.objects.create(
        created_by=user,
        filename=(filename or "import")[-255:],
        file_format=sheet.file_format,
        encoding=sheet.encoding,
        delimiter=sheet.delimiter,
        size=len(content),
        content=content,
        headers=sheet.headers,
        mapping=mapping,
        decisions=dict(DEFAULT_DECISIONS),
        analysis={"sheet": {"header_row": sheet.header_row, "warnings": [str(w) for w in sheet.warnings]}},
        dry_run=dry_run,
        status=ImportJob.Status.MAPPING if missing_required(mapping) else ImportJob.Status.ANALYSING,
    )
    if job.status == ImportJob.Status.ANALYSING and enqueue:
        _enqueue("import_job_analyse_task", job.pk)
    return job


@transaction.atomic
def import_job_map(*, job: ImportJob, mapping: dict[str, str], enqueue: bool = True) -> ImportJob:
    """Save the user's column mapping ({column index: field or ''}) and start the analysis."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status not in (ImportJob.Status.MAPPING, ImportJob.Status.PREVIEW):
        raise ImportProblem(_("This import is already running or finished."))
    clean = {}
    for key, field in mapping.items():
        if field and field in formats.BY_FIELD and str(key).isdigit() and int(key) < len(job.headers):
            clean[str(int(key))] = field
    singles = [f for f in clean.values() if not formats.BY_FIELD[f].multi]
    doubled = sorted({f for f in singles if singles.count(f) > 1})
    if doubled:
        raise ImportProblem(
            _("These fields are mapped from more than one column: %(fields)s.")
            % {"fields": ", ".join(formats.header_for(f) for f in doubled)}
        )
    missing = missing_required(clean)
    if missing:
        raise ImportProblem(
            _("Map a column to: %(fields)s.") % {"fields": ", ".join(formats.header_for(f) for f in missing)}
        )
    job.mapping = clean
    job.status = ImportJob.Status.ANALYSING
    job.save(update_fields=["mapping", "status", "updated_at"])
    if enqueue:
        _enqueue("import_job_analyse_task", job.pk)
    return job


# --- Duplicates ------------------------------------------------------------------------------------


RECORD_CONTACT_KINDS = ("mobile", "landline", "email", "address")


def _load_records(ids: Iterable[int]) -> dict[int, tuple[matching.Record, dict]]:
    """Engine records of existing customers plus what the preview shows about them (unit, number).

    The customers first: contact points are read only for the active ones and only of the kinds a
    record holds, profiles only of the customer's kind (the candidates are scattered over the
    table, so every id is an index probe and a heap page; about a third fewer of them this way)."""
    ids = sorted(set(ids))
    result: dict[int, tuple[matching.Record, dict]] = {}
    if not ids:
        return result
    customers = list(
        Customer.objects.filter(pk__in_array=ids)
        .exclude(status__in=[Customer.Status.MERGED, Customer.Status.ERASED])
        .values_list("pk", "kind", "name", "province", "city", "number", "org_unit__name", "owner_id")
    )
    if not customers:
        return result
    active = [row[0] for row in customers]
    company_ids = [row[0] for row in customers if row[1] == Customer.Kind.COMPANY]
    person_ids = [row[0] for row in customers if row[1] == Customer.Kind.PERSON]
    phones, emails, addresses = defaultdict(list), defaultdict(list), {}
    for customer_id, kind, value, province, city, postcode in (
        ContactPoint.objects.filter(customer_id__in_array=active, kind__in_array=RECORD_CONTACT_KINDS)
        .order_by("customer_id", "-is_primary", "pk")
        .values_list("customer_id", "kind", "value", "province", "city", "postcode")
    ):
        if kind in ("mobile", "landline"):
            phones[customer_id].append(value)
        elif kind == "email":
            emails[customer_id].append(value)
        elif kind == "address":
            addresses.setdefault(customer_id, (value, province, city, postcode))
    companies = (
        dict(CompanyProfile.objects.filter(customer_id__in_array=company_ids).values_list("customer_id", "credit_code"))
        if company_ids
        else {}
    )
    persons = (
        {
            row[0]: row[1:]
            for row in PersonProfile.objects.filter(customer_id__in_array=person_ids).values_list(
                "customer_id", "id_number", "birth_date"
            )
        }
        if person_ids
        else {}
    )
    for pk, kind, name, province, city, number, unit_name, owner_id in customers:
        address, a_province, a_city, postcode = addresses.get(pk, ("", "", "", ""))
        id_number, birth = persons.get(pk, ("", None))
        record = matching.Record(
            id=pk,
            kind=kind,
            name=name,
            phones=tuple(phones[pk]),
            emails=tuple(emails[pk]),
            address=address,
            province=province or a_province,
            city=city or a_city,
            postcode=postcode,
            birth_date=birth.isoformat() if birth else "",
            id_number=id_number or "" if kind == "person" else "",
            credit_code=companies.get(pk, "") if kind == "company" else "",
        )
        result[pk] = (record, {"number": number, "name": name, "unit": unit_name or "", "owner_id": owner_id})
    return result


NAME_KEY_KINDS = ("n", "nc", "nb", "nd")


def _key_table_members(
    prepared: dict, keys: dict[int, set[str]] | None = None
) -> tuple[dict[int, list[str]], dict[str, list[int]]]:
    """Name-key candidates from dedup's match-key table (when that app provides it): company core
    names in pinyin, person names with city or birth date, one-edit typos — what the exact-value
    lookups above cannot find. ({row: keys}, {key: customer ids}); empty when unavailable."""
    try:
        from dedup.records import key_members, usable_blocks
    except ImportError:
        return {}, {}
    row_keys = {
        number: [
            k
            for k in (keys[number] if keys and number in keys else matching.match_keys(p))
            if matching.key_kind(k) in NAME_KEY_KINDS and len(k) <= 200
        ]
        for number, p in prepared.items()
    }
    wanted = {k for keys in row_keys.values() for k in keys}
    if not wanted:
        return row_keys, {}
    usable, _common = usable_blocks(key_members(wanted))
    return row_keys, usable


def existing_matches(
    rows: list[ParsedRow],
    *,
    exclude_ids=frozenset(),
    prepared: dict | None = None,
    keys: dict[int, set[str]] | None = None,
) -> dict[int, tuple[int, matching.Match, dict]]:
    """{row number: (customer id, match, info)} for valid rows that likely duplicate an existing customer.

    Candidates: customers sharing a normalised phone or email, a credit code, an identity number or
    the exact normalised name (indexed equality lookups, a few per chunk, no joins: merged and
    erased customers are dropped when their records load), plus dedup's name keys; scored by the
    engine; the best at or above matching.LIKELY wins. `keys` ({row: matching.match_keys of its
    prepared record}) spares computing them again. Looks at every customer, visible or not: the
    preview shows a hidden one only as "exists in unit X".
    """
    if prepared is None:
        prepared = {row.number: matching.prepare(row.record()) for row in rows if row.ok}
    if not prepared:
        return {}
    by_value: dict[str, list[int]] = defaultdict(list)
    contacts = {p for pr in prepared.values() for p in (*pr.phones, *pr.emails)}
    active = Customer.objects.exclude(status__in=[Customer.Status.MERGED, Customer.Status.ERASED])
    if contacts:
        for customer_id, normalized in (
            ContactPoint.objects.filter(normalized__in_array=sorted(contacts))
            .order_by()
            .values_list("customer_id", "normalized")
            .distinct()
        ):
            by_value["v:" + normalized].append(customer_id)
    codes = {pr.credit_code for pr in prepared.values() if pr.credit_code}
    if codes:
        for customer_id, code in CompanyProfile.objects.filter(credit_code__in_array=sorted(codes)).values_list(
            "customer_id", "credit_code"
        ):
            by_value["c:" + code].append(customer_id)
    id_numbers = {pr.id_number for pr in prepared.values() if pr.id_number}
    if id_numbers:
        for customer_id, id_number in PersonProfile.objects.filter(id_number__in_array=sorted(id_numbers)).values_list(
            "customer_id", "id_number"
        ):
            by_value["i:" + id_number].append(customer_id)
    names = {normalize_name(row.name) for row in rows if row.ok}
    for customer_id, name in active.filter(name_normalized__in_array=sorted(names)).values_list(
        "pk", "name_normalized"
    )[:20000]:
        by_value["n:" + name].append(customer_id)
    row_keys, key_members = _key_table_members(prepared, keys)
    for key, ids in key_members.items():
        by_value["k:" + key].extend(ids)
    common = {f"p:{v[2:]}" for v, ids in by_value.items() if v.startswith("v:") and len(ids) > matching.COMMON_KEY_SIZE}
    common |= {
        f"e:{v[2:]}" for v in list(by_value) if v.startswith("v:") and len(by_value[v]) > matching.COMMON_KEY_SIZE
    }
    wanted: dict[int, list[int]] = {}
    for row in rows:
        if not row.ok:
            continue
        pr = prepared[row.number]
        values = [f"v:{v}" for v in (*pr.phones, *pr.emails)]
        values += [f"c:{pr.credit_code}"] if pr.credit_code else []
        values += [f"i:{pr.id_number}"] if pr.id_number else []
        values.append("n:" + normalize_name(row.name))
        values += ["k:" + k for k in row_keys.get(row.number, ())]
        ids = []
        for value in values:
            ids.extend(i for i in by_value.get(value, ())[:CANDIDATES_PER_ROW] if i not in exclude_ids)
        if ids:
            wanted[row.number] = list(dict.fromkeys(ids))[:CANDIDATES_PER_ROW]
    records = _load_records(i for ids in wanted.values() for i in ids)
    prepared_existing = {pk: matching.prepare(rec) for pk, (rec, _info) in records.items()}
    result = {}
    for number, ids in wanted.items():
        best = None
        for customer_id in ids:
            if customer_id not in prepared_existing:
                continue
            match = matching.score_pair(prepared[number], prepared_existing[customer_id], common_keys=common)
            if match.score >= matching.LIKELY and (best is None or match.score > best[1].score):
                best = (customer_id, match, records[customer_id][1])
        if best:
            result[number] = best
    return result


def infile_duplicates(prepared: list[matching.Prepared]) -> dict[int, int]:
    """{row number: first row number of its group} for rows that likely duplicate an earlier row."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for a, b, _match in matching.find_pairs(prepared, threshold=matching.LIKELY):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    result = {}
    for number in list(parent):
        root = find(number)
        if root != number:
            result[number] = root
    return result


def _evidence(match: matching.Match) -> list[dict]:
    items = []
    for item in match.evidence:
        entry = {"field": item.field, "agreement": item.agreement, "points": item.points}
        if item.similarity is not None:
            entry["similarity"] = round(item.similarity, 3)
        items.append(entry)
    return items


# --- Analysis (the preview) ------------------------------------------------------------------------


def import_job_analyse(*, job: ImportJob) -> ImportJob:
    """Read every row, validate it and find duplicates; store counts and samples for the preview.

    Writes nothing but the job. A file that turns out unreadable half-way fails the job with the
    reader's message.
    """
    job = ImportJob.objects.get(pk=job.pk)
    if job.status != ImportJob.Status.ANALYSING:
        return job
    with pipeline.relaxed_gc():
        return _analyse(job)


def _analyse(job: ImportJob) -> ImportJob:
    from sharing.principal import get_principal, visibility_q

    user = job.created_by
    ctx = assignment_for(user)
    try:
        content = _content(job)
        counts = {"rows": 0, "invalid": 0, "existing": 0, "existing_locked": 0, "infile": 0, "new": 0}
        samples: dict[str, list] = {"invalid": [], "existing": [], "infile": [], "new": []}
        valid: list[matching.Prepared] = []
        names: dict[int, str] = {}
        existing_rows: set[int] = set()
        matched_ids: dict[int, list[int]] = defaultdict(list)
        for raw_chunk in pipeline.chunks(iter_rows(content, _sheet(job)), CHUNK_SIZE):
            chunk = pipeline.parse_chunk(raw_chunk, job.mapping, ctx, len(job.headers))
            counts["rows"] += len(chunk)
            prepared = {row.number: matching.prepare(row.record()) for row in chunk if row.ok}
            matches = existing_matches(chunk, prepared=prepared)
            for row in chunk:
                if not row.ok:
                    counts["invalid"] += 1
                    if len(samples["invalid"]) < SAMPLE_SIZE:
                        samples["invalid"].append({"row": row.number, "name": row.name[:80], "reasons": row.errors})
                    continue
                valid.append(prepared[row.number])
                names[row.number] = row.name[:80]
                if row.number in matches:
                    customer_id, match, info = matches[row.number]
                    existing_rows.add(row.number)
                    matched_ids[customer_id].append(row.number)
                    if len(samples["existing"]) < SAMPLE_SIZE:
                        samples["existing"].append(
                            {
                                "row": row.number,
                                "name": row.name[:80],
                                "customer_id": customer_id,
                                "number": info["number"],
                                "existing_name": info["name"][:80],
                                "unit": info["unit"],
                                "score": match.score,
                                "evidence": _evidence(match),
                            }
                        )
        infile = infile_duplicates(valid)
        # A row that duplicates an earlier row of the file is an in-file duplicate even if it also
        # matches an existing customer: its group follows the first row's fate.
        for number in infile:
            existing_rows.discard(number)
        counts["infile"] = len(infile)
        counts["existing"] = len(existing_rows)
        counts["new"] = len(valid) - counts["existing"] - counts["infile"]
        # Which matched customers the importer may see and change (two queries, however many matches).
        principal = get_principal(user)
        matched = sorted(matched_ids)
        visible, changeable = set(), set()
        for action, bucket in (("view", visible), ("change", changeable)):
            q = visibility_q(principal, action)
            qs = Customer.objects.filter(pk__in=matched)
            bucket.update((qs if q is None else qs.filter(q)).values_list("pk", flat=True))
        counts["existing_locked"] = sum(
            1 for cid, rows in matched_ids.items() if cid not in changeable for r in rows if r in existing_rows
        )
        samples["existing"] = [s for s in samples["existing"] if s["row"] in existing_rows]
        for sample in samples["existing"]:
            sample["visible"] = sample["customer_id"] in visible
            sample["changeable"] = sample["customer_id"] in changeable
            if not sample["visible"]:
                sample["number"] = sample["existing_name"] = ""
        samples["infile"] = [
            {"row": n, "name": names.get(n, ""), "first_row": first}
            for n, first in sorted(infile.items())[:SAMPLE_SIZE]
        ]
        samples["new"] = [
            {"row": p.id, "name": names.get(int(p.id), "")}
            for p in valid
            if int(p.id) not in infile and int(p.id) not in existing_rows
        ][:SAMPLE_SIZE]
    except (FileProblem, ImportProblem) as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, message=str(exc), updated_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    analysis = dict(job.analysis)
    analysis.update({"counts": counts, "samples": samples, "infile": {str(k): v for k, v in infile.items()}})
    job.analysis = analysis
    job.total_rows = counts["rows"]
    job.status = ImportJob.Status.PREVIEW
    job.save(update_fields=["analysis", "total_rows", "status", "updated_at"])
    return job


@transaction.atomic
def import_job_decide(*, job: ImportJob, decisions: dict[str, str], enqueue: bool = True) -> ImportJob:
    """Record the user's choice per group and queue the run."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportJob.Status.PREVIEW:
        raise ImportProblem(_("This import is not waiting for a decision."))
    if job.dry_run:
        raise ImportProblem(_("This was a dry run: nothing is imported."))
    clean = dict(DEFAULT_DECISIONS)
    for group, choices in DECISIONS.items():
        if decisions.get(group) in choices:
            clean[group] = decisions[group]
    job.decisions = clean
    job.status = ImportJob.Status.QUEUED
    job.save(update_fields=["decisions", "status", "updated_at"])
    if enqueue:
        _enqueue("import_job_run_task", job.pk)
    return job


@transaction.atomic
def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Drop a job that has not started writing (its file goes with it)."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status in (ImportJob.Status.MAPPING, ImportJob.Status.PREVIEW, ImportJob.Status.FAILED):
        job.status = ImportJob.Status.CANCELLED
        job.content = None
        job.save(update_fields=["status", "content", "updated_at"])
    return job


# --- The run ---------------------------------------------------------------------------------------


def _tags_by_name(names: set[str]) -> dict[str, Tag]:
    if not names:
        return {}
    tags = {t.name: t for t in Tag.objects.filter(name__in=sorted(names))}
    missing = sorted(names - set(tags))
    if missing:
        Tag.objects.bulk_create([Tag(name=n) for n in missing], ignore_conflicts=True)
        tags.update({t.name: t for t in Tag.objects.filter(name__in=missing)})
    return tags


def _activity_model():
    from django.apps import apps

    try:
        return apps.get_model("interactions", "Activity")
    except LookupError:
        return None


def _note_activities(pairs: list[tuple[Customer, str]], user) -> None:
    """Notes of the file as note activities (the customer master has no notes field)."""
    Activity = _activity_model()
    if Activity is None or not pairs:
        return
    subject = _("Note from import")
    Activity.objects.bulk_create(
        [
            Activity(customer=customer, kind="note", subject=subject, notes=text, user=user, created_by=user)
            for customer, text in pairs
        ]
    )


CONTACT_COLUMNS = ["customer_id", "kind", "value", "normalized", "is_primary", "province", "city", "postcode"]
# What the run validates with the model's own field checks: the fields it fills from the row. The
# others hold the model's defaults, the same for every row (valid, or no row would ever import), and
# the foreign keys come from the preloaded context (validating them costs a query per row).
# clean_fields of every field of two models was ~7 % of the run's CPU.
_CHECKED_CUSTOMER_FIELDS = ("kind", "name", "name_normalized", "status", "source", "province", "city")


def _exclude_but(model, names) -> list[str]:
    return [f.name for f in model._meta.fields if f.name not in names]


def _instances(row: ParsedRow, user) -> tuple[Customer, models.Model]:
    """The unsaved customer and profile the run inserts for a row."""
    address = next((c for c in row.contacts if c.kind == ContactPoint.Kind.ADDRESS), None)
    customer = Customer(
        number="C0",
        kind=row.kind,
        name=nfkc(row.name),
        name_normalized=normalize_name(row.name),
        owner=row.owner,
        org_unit=row.org_unit,
        status=Customer.Status.ACTIVE,
        source=Customer.Source.IMPORT,
        province=address.province if address else row.province,
        city=address.city if address else row.city,
        created_by=user,
        updated_by=user,
    )
    profile_model = CompanyProfile if row.kind == Customer.Kind.COMPANY else PersonProfile
    return customer, profile_model(**row.profile)


def _model_errors(customer: Customer, profile, row: ParsedRow) -> str:
    """The model's own checks of the fields the row fills: '' or Django's messages."""
    try:
        customer.full_clean(
            exclude=_exclude_but(Customer, _CHECKED_CUSTOMER_FIELDS), validate_unique=False, validate_constraints=False
        )
        profile.full_clean(
            exclude=_exclude_but(type(profile), row.profile), validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        return "; ".join(exc.messages)
    return ""


def model_check(row: ParsedRow, user) -> str:
    """'' when the customer the run would create from this valid row passes the model checks, else
    the message the row is rejected with (the pipeline's child runs this ahead of the run)."""
    return _model_errors(*_instances(row, user), row)


def _bulk_create(
    rows: list[ParsedRow],
    *,
    user,
    job: ImportJob,
    own: dict[int, matching.Record] | None = None,
    prepared: dict[int, matching.Prepared] | None = None,
    keys: dict[int, set[str]] | None = None,
    ready: pipeline.Ready | None = None,
) -> tuple[dict[int, Customer], dict[int, str]]:
    """Create customers for these rows in a handful of queries; ({row: customer}, {row: reason rejected}).

    Their dedup match keys are written too (`_index_created`); `own` and `prepared` (the rows'
    records, their prepared forms and match keys, {row: …}) spare normalising a row a second time,
    and so does `ready` (the chunk's contact values, stored match keys and model checks).
    """
    rejected: dict[int, str] = {}
    built: list[tuple[ParsedRow, Customer, object]] = []
    checks = ready.checks if ready is not None else {}
    for row in rows:
        customer, profile = _instances(row, user)
        reason = checks[row.number] if row.number in checks else _model_errors(customer, profile, row)
        if reason:
            rejected[row.number] = reason
            continue
        built.append((row, customer, profile))
    if not built:
        return {}, rejected
    numbers = customer_numbers_reserve(len(built))
    for (_row, customer, _profile), number in zip(built, numbers, strict=True):
        customer.number = number
    insert_many(Customer, [c for _r, c, _p in built])
    profiles_company, profiles_person, contacts, role_links, tag_links, notes = [], [], [], [], [], []
    tags = _tags_by_name({t for row, _c, _p in built for t in row.tags})
    RoleLink = Customer.roles.through
    TagLink = Customer.tags.through
    contact_values = ready.contacts if ready is not None else {}
    for row, customer, profile in built:
        profile.customer = customer
        (profiles_company if row.kind == Customer.Kind.COMPANY else profiles_person).append(profile)
        values = contact_values.get(row.number) or [
            (nfkc(item.value), contact_normalize(item.kind, item.value)) for item in row.contacts
        ]
        for item, (value, normalized) in zip(row.contacts, values, strict=True):
            contacts.append(
                (
                    customer.pk,
                    item.kind,
                    value,
                    normalized,
                    item.is_primary,
                    item.province,
                    item.city,
                    item.postcode,
                )
            )
        role_links.extend((customer.pk, r.pk) for r in dict.fromkeys(row.roles))
        tag_links.extend((customer.pk, tags[t].pk) for t in dict.fromkeys(row.tags))
        if row.notes:
            notes.append((customer, row.notes))
    insert_many(CompanyProfile, profiles_company)
    insert_many(PersonProfile, profiles_person)
    # Plain tuples: nobody needs these rows' ids, and a model instance per row costs more than its COPY.
    copy_rows(ContactPoint, CONTACT_COLUMNS, contacts)
    copy_rows(RoleLink, ["customer_id", "customerrole_id"], role_links)
    copy_rows(TagLink, ["customer_id", "tag_id"], tag_links)
    _index_created(built, contacts, own or {}, prepared or {}, keys or {}, ready.index_keys if ready else None)
    _note_activities(notes, user)
    _audit_created(built, user=user, job=job)
    _assign_unowned([customer for _r, customer, _p in built if customer.owner_id is None], user)
    return {row.number: customer for row, customer, _p in built}, rejected


def _index_created(
    built,
    contacts: list[tuple],
    own: dict[int, matching.Record],
    prepared: dict[int, matching.Prepared],
    keys: dict[int, set[str]] | None = None,
    index_keys: dict[int, list[str]] | None = None,
) -> int:
    """Write dedup's match keys of customers just created, in their chunk's transaction.

    `index_keys` ({row: keys}, `pipeline.prepare_chunk`) are those keys computed ahead from the
    values the run inserts (`pipeline.stored_record`); the rows without are computed here:

    The keys are the ones `dedup.services.match_keys_refresh_many` computes from the stored rows:
    the engine record is built by the same `records_build` from the values just inserted (contact
    points in its order: primary first, then insertion order = primary key order). When that record
    is the row's own (`ParsedRow.record()`, which the duplicate search already normalised), its
    prepared form is reused — `prepare` is a pure function of the record's fields, and the keys do
    not depend on the id — and so are its match keys when `keys` has them; else the stored record
    is normalised here. Returns the rows written.
    """
    try:
        from dedup.models import MatchKey
        from dedup.records import KEY_MAX_LENGTH, keys_of, records_build
    except ImportError:
        return 0
    index_keys = index_keys or {}
    index_rows = []
    for row, customer, _profile in built:
        if row.number in index_keys:
            index_rows.extend((customer.pk, key) for key in index_keys[row.number])
    missing = {customer.pk for row, customer, _p in built if row.number not in index_keys}
    rows = [
        (customer.pk, customer.kind, customer.name, customer.province, customer.city)
        for _r, customer, _p in built
        if customer.pk in missing
    ]
    # contacts: CONTACT_COLUMNS tuples in insertion order.
    order = sorted(
        (i for i in range(len(contacts)) if contacts[i][0] in missing),
        key=lambda i: (contacts[i][0], not contacts[i][4], i),
    )
    contact_rows = [(cp[0], cp[1], cp[2], cp[5], cp[6], cp[7]) for cp in (contacts[i] for i in order)]
    records = records_build(rows, contact_rows) if rows else {}
    for row, customer, _profile in built:
        if customer.pk not in missing:
            continue
        record = records.get(customer.pk)
        if record is None:
            continue
        ready, mine = prepared.get(row.number), own.get(row.number)
        if ready is None or mine is None or dataclasses.replace(record, id=mine.id) != mine:
            row_keys = keys_of(matching.prepare(record))
        elif keys and row.number in keys:
            row_keys = {key[:KEY_MAX_LENGTH] for key in keys[row.number]}  # = keys_of(ready)
        else:
            row_keys = keys_of(ready)
        index_rows.extend((customer.pk, key) for key in sorted(row_keys))
    copy_rows(MatchKey, ["customer_id", "key"], index_rows)
    return len(index_rows)


def _assign_unowned(customers: list[Customer], user) -> None:
    """Rows with a unit but no owner: the assignment rules give them one, or their unit's pool takes them
    (customers/assignment.py). Rare (the importer owns rows by default), so one call per customer."""
    if not customers:
        return
    from customers.assignment import assign_owner

    for customer in customers:
        assign_owner(customer=customer, by=user)


AUDIT_COLUMNS = [
    "content_type_id",
    "object_pk",
    "object_id",
    "object_repr",
    "action",
    "changes",
    "changes_text",
    "actor_id",
    "actor_email",
    "timestamp",
    "additional_data",
]
OUTCOME_COLUMNS = ["job_id", "row_number", "outcome", "customer_id", "reason", "values"]


def _audit_created(built, *, user, job: ImportJob) -> None:
    """One CREATE audit entry per imported customer (auditlog does not see bulk_create)."""
    content_type = ContentType.objects.get_for_model(Customer)
    now = timezone.now()
    actor_id, actor_email = getattr(user, "pk", None), getattr(user, "email", "") or None
    entries = []
    for row, customer, _profile in built:
        changes = {
            "number": ["None", customer.number],
            "kind": ["None", customer.kind],
            "name": ["None", customer.name],
            "owner": ["None", str(customer.owner_id or "None")],
            "org_unit": ["None", str(customer.org_unit_id or "None")],
            "source": ["None", customer.source],
        }
        entries.append(
            (
                content_type.pk,
                str(customer.pk),
                customer.pk,
                str(customer)[:200],
                LogEntry.Action.CREATE,
                changes,
                "",
                actor_id,
                actor_email,
                now,
                {
                    "what": "import",
                    "import_job": job.pk,
                    "row": row.number,
                    "contact_points": len(row.contacts),
                    "roles": [r.code for r in row.roles],
                    "tags": row.tags,
                },
            )
        )
    copy_rows(LogEntry, AUDIT_COLUMNS, entries)


def _merge(customer_id: int, row: ParsedRow, *, user) -> tuple[Customer | None, str]:
    """Fill the existing customer's empty fields and add new contact points, through customer_update.

    Returns (customer, '') or (None, reason) when the importer may not change it.
    """
    customer = (
        Customer.objects.visible_to(user, action="change")
        .active()
        .filter(pk=customer_id)
        .prefetch_related("contact_points", "roles", "tags")
        .first()
    )
    if customer is None:
        return None, ""
    profile_model = CompanyProfile if customer.kind == Customer.Kind.COMPANY else PersonProfile
    stored = profile_model.objects.filter(customer=customer).first()
    fill = {}
    if customer.kind == row.kind:
        for key, value in row.profile.items():
            if value not in (None, "") and (stored is None or getattr(stored, key) in (None, "")):
                fill[key] = value
    known = {(cp.kind, cp.normalized) for cp in customer.contact_points.all()}
    kinds_present = {cp.kind for cp in customer.contact_points.all()}
    new_contacts = []
    for item in row.contacts:
        key = (item.kind, contact_normalize(item.kind, item.value))
        if key in known:
            continue
        known.add(key)
        new_contacts.append(
            ContactInput(
                kind=item.kind,
                value=item.value,
                is_primary=item.kind not in kinds_present and item.is_primary,
                province=item.province,
                city=item.city,
                postcode=item.postcode,
            )
        )
        kinds_present.add(item.kind)
    roles = list(customer.roles.all())
    new_roles = [r for r in row.roles if r not in roles]
    tags = list(customer.tags.all())
    new_tag_names = [t for t in row.tags if t not in {tag.name for tag in tags}]
    if fill or new_contacts or new_roles or new_tag_names:
        customer = customer_update(
            customer=customer,
            expected_version=customer.version,
            updated_by=user,
            profile=fill or None,
            contacts=new_contacts or None,
            roles=roles + new_roles if new_roles else None,
            tags=tags + list(_tags_by_name(set(new_tag_names)).values()) if new_tag_names else None,
        )
    if row.notes:
        _note_activities([(customer, row.notes)], user)
    return customer, ""


class Outcome(NamedTuple):
    """One row's ImportRow, as the tuple the run copies in (OUTCOME_COLUMNS): a model instance per
    row cost more than its COPY."""

    job_id: int
    row_number: int
    outcome: str
    customer_id: int | None
    reason: str
    values: list


def _outcomes_for_chunk(
    job: ImportJob, chunk: list[ParsedRow], *, user, created_ids: set[int], ready: pipeline.Ready | None = None
) -> list[Outcome]:
    """Decide and carry out every row of one chunk; the Outcome list (ImportRow columns) accounts for each row.

    `ready`: the chunk's records, prepared records and match keys when the pipeline computed them
    (`pipeline.prepare_chunk` of these rows; computed here otherwise).
    """
    decisions = {**DEFAULT_DECISIONS, **(job.decisions or {})}
    infile = {int(k): int(v) for k, v in (job.analysis or {}).get("infile", {}).items()}
    searched = [r for r in chunk if r.number not in infile]
    # Normalised once: the duplicate search scores them, and the new customers' match keys reuse
    # them; their match keys too (the name-key lookup and the new customers' index rows).
    if ready is None:
        ready = pipeline.prepare_chunk(chunk, infile)
    own, prepared, keys = ready.own, ready.prepared, ready.keys
    matches = existing_matches(searched, exclude_ids=created_ids, prepared=prepared, keys=keys)
    outcomes: dict[int, Outcome] = {}
    to_create: list[ParsedRow] = []
    first_rows = {infile[r.number] for r in chunk if r.number in infile}
    first_customer = dict(
        ImportRow.objects.filter(
            job=job,
            row_number__in=sorted(first_rows),
            customer__isnull=False,
            outcome__in=[ImportRow.Outcome.CREATED, ImportRow.Outcome.MERGED],
        ).values_list("row_number", "customer_id")
    )

    def record(row: ParsedRow, outcome: str, customer=None, reason: str = "") -> None:
        keep_values = outcome in (ImportRow.Outcome.REJECTED, ImportRow.Outcome.SKIPPED)
        outcomes[row.number] = Outcome(
            job_id=job.pk,
            row_number=row.number,
            outcome=outcome,
            customer_id=getattr(customer, "pk", customer),
            reason=reason[:2000],
            values=row.values if keep_values else [],
        )

    pending_infile: list[ParsedRow] = []
    for row in chunk:
        if not row.ok:
            record(row, ImportRow.Outcome.REJECTED, reason="; ".join(row.errors))
        elif row.number in infile:
            pending_infile.append(row)
        elif row.number in matches:
            customer_id, match, info = matches[row.number]
            decision = decisions["existing"]
            if decision == "create":
                to_create.append(row)
            elif decision == "skip":
                record(
                    row,
                    ImportRow.Outcome.SKIPPED,
                    customer_id,
                    _("Likely duplicate of an existing customer (score %(score)s); skipped as chosen.")
                    % {"score": match.score},
                )
            else:
                try:
                    merged, _reason = _merge(customer_id, row, user=user)
                except ValidationError as exc:
                    record(row, ImportRow.Outcome.REJECTED, reason="; ".join(exc.messages))
                    continue
                if merged is None:
                    record(
                        row,
                        ImportRow.Outcome.SKIPPED,
                        customer_id,
                        _("The customer exists in unit “%(unit)s” and you may not change it; ask for access.")
                        % {"unit": info["unit"] or "—"},
                    )
                else:
                    record(row, ImportRow.Outcome.MERGED, merged)
        elif decisions["new"] == "skip":
            record(row, ImportRow.Outcome.SKIPPED, reason=_("New customer; skipped as chosen."))
        else:
            to_create.append(row)
    created, rejected = (
        _bulk_create(to_create, user=user, job=job, own=own, prepared=prepared, keys=keys, ready=ready)
        if to_create
        else ({}, {})
    )
    for row in to_create:
        if row.number in created:
            record(row, ImportRow.Outcome.CREATED, created[row.number])
            created_ids.add(created[row.number].pk)
            first_customer[row.number] = created[row.number].pk
        else:
            record(row, ImportRow.Outcome.REJECTED, reason=rejected.get(row.number, ""))
    for number, outcome in outcomes.items():
        if outcome.customer_id and outcome.outcome == ImportRow.Outcome.MERGED:
            first_customer[number] = outcome.customer_id
    # In-file duplicates last: their first row is decided by now (earlier chunk or this one).
    infile_create = []
    for row in pending_infile:
        first = infile[row.number]
        decision = decisions["infile"]
        target = first_customer.get(first)
        if decision == "create":
            infile_create.append(row)
        elif decision == "skip" or target is None:
            reason = (
                _("Duplicate of row %(row)s of this file; skipped as chosen.")
                if decision == "skip"
                else _("Duplicate of row %(row)s of this file, which was not imported.")
            )
            record(row, ImportRow.Outcome.SKIPPED, target, reason % {"row": first})
        else:
            try:
                merged, _reason = _merge(target, row, user=user)
            except ValidationError as exc:
                record(row, ImportRow.Outcome.REJECTED, reason="; ".join(exc.messages))
                continue
            if merged is None:
                record(
                    row,
                    ImportRow.Outcome.SKIPPED,
                    target,
                    _("Duplicate of row %(row)s of this file; you may not change that customer.") % {"row": first},
                )
            else:
                record(row, ImportRow.Outcome.MERGED, merged)
    if infile_create:
        created, rejected = _bulk_create(infile_create, user=user, job=job, ready=ready)
        for row in infile_create:
            if row.number in created:
                record(row, ImportRow.Outcome.CREATED, created[row.number])
                created_ids.add(created[row.number].pk)
            else:
                record(row, ImportRow.Outcome.REJECTED, reason=rejected.get(row.number, ""))
    return [outcomes[row.number] for row in chunk]


@transaction.atomic
def import_job_resume(*, job: ImportJob) -> ImportJob:
    """Let a run that stopped on an unexpected error continue where it stopped (the file is still there)."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    has_file = ImportJob.objects.filter(pk=job.pk, content__isnull=False).exists()
    if job.status == ImportJob.Status.FAILED and job.started_at and has_file:
        job.status = ImportJob.Status.RUNNING
        job.message = ""
        job.save(update_fields=["status", "message", "updated_at"])
    return job


def _refresh_match_keys(customer_ids: list[int]) -> None:
    """Re-index merged customers in dedup's key table (new ones are indexed with their rows): as a
    separate task when dedup has one, else in-process."""
    if not customer_ids:
        return
    try:
        from dedup.tasks import match_keys_refresh_task
    except ImportError:
        match_keys_refresh_task = None
    if match_keys_refresh_task is not None:
        match_keys_refresh_task.delay(list(customer_ids))
        return
    try:
        from dedup.services import match_keys_refresh_many
    except ImportError:
        return
    match_keys_refresh_many(customer_ids)


RETRIES = 3
# A big import grows the tables faster than autovacuum re-plans: without fresh statistics the
# duplicate lookups turn into sequential scans. ANALYZE samples, but five tables cost 1-2 s, so it
# runs only at these chunks and only once the rows imported since the last one reach
# ANALYZE_GROWTH of the customer table's size then (autovacuum's own 10 % rule): an import into an
# empty database re-plans early and often, one into a million customers hardly ever.
ANALYZE_MIN_ROWS = 5000
ANALYZE_AFTER_CHUNKS = {1, 4, 10, 25, 60, 120}
ANALYZE_GROWTH = 0.1
ANALYZE_TABLES = (Customer, ContactPoint, CompanyProfile, PersonProfile, ImportRow)


def _customer_table_size() -> float:
    """The planner's row estimate of the customer table (pg_class.reltuples; 0 before any ANALYZE)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Customer._meta.db_table])
        row = cursor.fetchone()
    return max(float(row[0]), 0.0) if row else 0.0


def _analyze_tables() -> None:
    from crm.dbstats import analyze

    analyze(*ANALYZE_TABLES)


def _commit_chunk(
    job_pk: int,
    start: int,
    parsed: list[ParsedRow],
    *,
    user,
    created_ids: set[int],
    ready: pipeline.Ready | None = None,
):
    """Write one chunk and its outcomes in one transaction; None if the job moved on without us.

    A deadlock with concurrent edits of a customer being merged rolls the whole chunk back; it is
    then simply tried again (up to RETRIES times), which is safe because nothing of it was kept.
    """
    from django.db import OperationalError, connection

    for attempt in range(RETRIES):
        attempt_ids = set(created_ids)
        try:
            with transaction.atomic():
                locked = ImportJob.objects.select_for_update().get(pk=job_pk)
                if locked.processed_rows != start or locked.status != ImportJob.Status.RUNNING:
                    return None
                outcomes = _outcomes_for_chunk(locked, parsed, user=user, created_ids=attempt_ids, ready=ready)
                copy_rows(ImportRow, OUTCOME_COLUMNS, outcomes)
                tally = defaultdict(int)
                for outcome in outcomes:
                    tally[outcome.outcome] += 1
                locked.processed_rows += len(parsed)
                locked.created_count += tally[ImportRow.Outcome.CREATED]
                locked.merged_count += tally[ImportRow.Outcome.MERGED]
                locked.skipped_count += tally[ImportRow.Outcome.SKIPPED]
                locked.rejected_count += tally[ImportRow.Outcome.REJECTED]
                locked.save(
                    update_fields=[
                        "processed_rows",
                        "created_count",
                        "merged_count",
                        "skipped_count",
                        "rejected_count",
                        "updated_at",
                    ]
                )
                # Created customers got their keys with their rows (_index_created); merged ones changed.
                changed = [o.customer_id for o in outcomes if o.customer_id and o.outcome == "merged"]
                transaction.on_commit(lambda ids=changed: _refresh_match_keys(ids))
        except OperationalError:
            if connection.in_atomic_block or attempt == RETRIES - 1:
                raise
            logger.warning("import job %s: chunk at row %s rolled back (deadlock?), retrying", job_pk, start)
            continue
        created_ids.clear()
        created_ids.update(attempt_ids)
        return locked
    return None


def import_job_run(
    *,
    job: ImportJob,
    chunk_size: int = CHUNK_SIZE,
    stop_after_chunks: int | None = None,
    use_pipeline: bool | None = None,
) -> ImportJob:
    """Carry out a queued (or interrupted) job chunk by chunk; safe to call twice or after a crash.

    `stop_after_chunks` stops early (tests and the bench simulate a crash with it). Big runs parse
    the next chunk in a second process while this one writes (customers/io/pipeline.py;
    `use_pipeline` True/False forces it on or off, None decides by the rows left).
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
            return job
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
    with pipeline.relaxed_gc():
        return _run(job, chunk_size=chunk_size, stop_after_chunks=stop_after_chunks, use_pipeline=use_pipeline)


def _run(job: ImportJob, *, chunk_size: int, stop_after_chunks: int | None, use_pipeline: bool | None) -> ImportJob:
    user = job.created_by
    ctx = assignment_for(user)
    created_ids = set(
        ImportRow.objects.filter(job=job, outcome=ImportRow.Outcome.CREATED).values_list("customer_id", flat=True)
    )
    try:
        content = _content(job)
        start = job.processed_rows
        analysed_size, analysed_at = _customer_table_size(), start
        infile = {int(k) for k in (job.analysis or {}).get("infile", {})}
        # Rows come in a fixed order: the source skips the ones earlier runs committed.
        source = pipeline.ready_chunks(
            content,
            _sheet(job),
            start,
            chunk_size,
            job.mapping,
            ctx,
            infile,
            total_rows=job.total_rows,
            use_pipeline=use_pipeline,
        )
        with contextlib.closing(source):
            for done_chunks, ready in enumerate(source):
                if stop_after_chunks is not None and done_chunks >= stop_after_chunks:
                    return ImportJob.objects.get(pk=job.pk)
                locked = _commit_chunk(job.pk, start, ready.rows, user=user, created_ids=created_ids, ready=ready)
                if locked is None:
                    return ImportJob.objects.get(pk=job.pk)  # another worker got here first, or the job was stopped
                start = locked.processed_rows
                if (
                    job.total_rows >= ANALYZE_MIN_ROWS
                    and done_chunks in ANALYZE_AFTER_CHUNKS
                    and start - analysed_at >= ANALYZE_GROWTH * analysed_size
                ):
                    _analyze_tables()
                    analysed_size, analysed_at = _customer_table_size(), start
    except (FileProblem, ImportProblem) as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, message=str(exc), updated_at=timezone.now()
        )
        return ImportJob.objects.get(pk=job.pk)
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.RUNNING:
            return job
        job.status = ImportJob.Status.DONE
        job.finished_at = timezone.now()
        job.content = None  # the file held personal data; the rejected rows live on in ImportRow
        job.save(update_fields=["status", "finished_at", "content", "updated_at"])
        from sharing.audit import log_event

        log_event(
            actor=user,
            obj=job,
            what="import_finished",
            action=LogEntry.Action.CREATE,
            rows=job.processed_rows,
            created=job.created_count,
            merged=job.merged_count,
            skipped=job.skipped_count,
            rejected=job.rejected_count,
            filename=job.filename,
        )
    return job
