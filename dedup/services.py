"""Writes and workflows of the dedup app.

- match keys: `match_keys_refresh_many` keeps the indexed key table in step with the customers
  (signal receivers call it on commit; bulk loaders call it themselves);
- on entry: `duplicate_candidates` (visible hits with their explanation, hidden ones reduced to
  their owning unit) and `duplicate_gate` for the create view;
- decisions: `pair_decide` (not a duplicate / dismissed, remembered for good);
- merge: `customer_merge` / `customer_unmerge` with a `MergeJournal` that makes unmerge exact;
- jobs: `dedup_job_create` → `dedup_job_start` → `dedup_chunk_run` per chunk (Celery tasks in
  dedup/tasks.py), `dedup_job_cancel`, `dedup_job_resume`, the nightly incremental run;
- cleansing: `cleanse_chunk` (normalised values, validity flags, keys, quality scores).
"""

from __future__ import annotations

import datetime
import decimal
import logging
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, OperationalError, connection, models, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from dedup import matching
from dedup import normalize as nz
from dedup.models import CandidatePair, CustomerQuality, DedupChunk, DedupJob, DedupJobKey, MatchKey, MergeJournal
from dedup.records import (
    INACTIVE_STATUSES,
    band_of,
    evidence_json,
    key_members,
    keys_of,
    record_from,
    records_build,
    records_load,
    usable_blocks,
)

logger = logging.getLogger(__name__)


def chunk_size() -> int:
    """Customers per job chunk (setting DEDUP_CHUNK_SIZE, default 2,000)."""
    return int(getattr(settings, "DEDUP_CHUNK_SIZE", 2000))


#: Candidates scored per on-entry check at most (those sharing the most keys first).
ENTRY_CANDIDATE_LIMIT = 100
ENTRY_RESULT_LIMIT = 10


def stale_days() -> int:
    """Customers untouched for longer than this are flagged by the cleansing job (setting)."""
    return int(getattr(settings, "DEDUP_STALE_DAYS", 365))


# =================================================================================================
# Match keys
# =================================================================================================


def match_keys_refresh_many(customer_ids) -> int:
    """Rebuild the match keys of these customers; returns the number of key rows written or removed.

    Computes keys with the engine and writes only the difference, so an edit that changes no key
    writes nothing. Merged, erased and missing customers end up with no keys at all.
    """
    ids = sorted({int(i) for i in customer_ids if i})
    if not ids:
        return 0
    changes = 0
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        wanted = {pk: keys_of(record) for pk, record in records_load(chunk).items()}
        existing: dict[int, set[str]] = defaultdict(set)
        for customer_id, key in MatchKey.objects.filter(customer_id__in_array=chunk).values_list("customer_id", "key"):
            existing[customer_id].add(key)
        stale_q = Q()
        new_rows = []
        for pk in chunk:
            want, have = wanted.get(pk, set()), existing.get(pk, set())
            if have - want:
                stale_q |= Q(customer_id=pk, key__in=sorted(have - want))
            new_rows.extend(MatchKey(customer_id=pk, key=key) for key in sorted(want - have))
        with transaction.atomic():
            if stale_q:
                changes += MatchKey.objects.filter(stale_q).delete()[0]
            if new_rows:
                # Only customers that still exist: a concurrent delete must not break the batch.
                alive = set(
                    apps.get_model("customers", "Customer")
                    .objects.filter(pk__in={r.customer_id for r in new_rows})
                    .values_list("pk", flat=True)
                )
                new_rows = [r for r in new_rows if r.customer_id in alive]
                MatchKey.objects.bulk_create(new_rows, ignore_conflicts=True, batch_size=1000)
                changes += len(new_rows)
    return changes


def match_keys_refresh(customer) -> set[str]:
    """Rebuild one customer's keys and return them."""
    match_keys_refresh_many([customer.pk])
    return set(MatchKey.objects.filter(customer_id=customer.pk).values_list("key", flat=True))


_pending = threading.local()


def _flush_pending_keys() -> None:
    ids = getattr(_pending, "ids", None)
    _pending.ids = set()
    if ids:
        try:
            match_keys_refresh_many(ids)
        except DatabaseError:  # never break the user's save; the cleansing job rebuilds keys
            logger.exception("match key refresh failed for %s customers", len(ids))


def match_keys_schedule(customer_id) -> None:
    """Refresh a customer's keys when the current transaction commits (once per transaction).

    Each save registers a cheap callback; the first to run refreshes every customer collected so
    far and the others find nothing to do. Ids left over from a rolled-back transaction are
    refreshed with the next one, which is harmless (refreshing is idempotent).
    """
    if not customer_id:
        return
    if not hasattr(_pending, "ids"):
        _pending.ids = set()
    _pending.ids.add(customer_id)
    transaction.on_commit(_flush_pending_keys)


def on_customer_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        match_keys_schedule(instance.pk)


def on_customer_part_changed(sender, instance, raw=False, **kwargs):
    """ContactPoint / CompanyProfile / PersonProfile saved or deleted."""
    if not raw:
        match_keys_schedule(getattr(instance, "customer_id", None))


# =================================================================================================
# On entry
# =================================================================================================


@dataclass
class DuplicateHit:
    """One existing customer that may be the one being entered.

    For a customer the user may not see, only `unit_name` may be shown (and a request button
    with `customer_id`, which the access-request page needs) — never the name, number or values.
    """

    customer_id: int
    score: int
    band: str
    explanation: list[dict] = field(default_factory=list)
    visible: bool = False
    customer: object = None  # the Customer, only when visible
    unit_name: str = ""


def _candidate_ids_for(keys: set[str], *, exclude_id=None) -> tuple[list[int], set[str]]:
    members = key_members(keys)
    usable, common = usable_blocks(members)
    shared: dict[int, int] = defaultdict(int)
    for ids in usable.values():
        for customer_id in ids:
            if customer_id != exclude_id:
                shared[customer_id] += 1
    ranked = sorted(shared, key=lambda pk: (-shared[pk], pk))[:ENTRY_CANDIDATE_LIMIT]
    return ranked, common


def duplicate_candidates(*, user, data, exclude_id=None, threshold: int = matching.POSSIBLE) -> list[DuplicateHit]:
    """Existing customers that may be the record in `data` (a form's POST), best first.

    Equality lookups on the match-key table only (bounded per key), then the engine scores at most
    ENTRY_CANDIDATE_LIMIT candidates. Pairs decided "not a duplicate" with `exclude_id` (the record
    being edited) are never proposed again. Visibility is `visible_to`'s own predicate
    (sharing.principal.visibility_q), evaluated per candidate in the same query that loads them, so
    a hidden candidate costs no extra query and carries nothing but its owning unit.
    """
    from customers.models import ContactPoint, Customer

    record = record_from(data)
    keys = keys_of(record)
    if not keys:
        return []
    candidate_ids, common = _candidate_ids_for(keys, exclude_id=exclude_id)
    if not candidate_ids:
        return []
    if exclude_id:
        decided = set()
        for a, b in (
            CandidatePair.objects.involving(exclude_id)
            .filter(status=CandidatePair.Status.NOT_DUPLICATE)
            .values_list("a_id", "b_id")
        ):
            decided.add(b if a == exclude_id else a)
        candidate_ids = [pk for pk in candidate_ids if pk not in decided]
    # One query for the candidates with their visibility to this user (and owning unit), one for
    # their contact points (for the engine and for the presenter), the profiles: no more.
    from sharing.principal import get_principal, visibility_q

    principal = get_principal(user)
    q = visibility_q(principal, "view") if principal.is_authenticated else Q(pk__in=[])
    seen = (
        models.Case(models.When(q, then=models.Value(True)), default=models.Value(False)) if q else models.Value(True)
    )
    customers = {
        c.pk: c
        for c in Customer.objects.filter(pk__in=candidate_ids)
        .exclude(status__in=INACTIVE_STATUSES)
        .annotate(_visible=seen)
        .select_related("org_unit", "owner")
    }
    contacts: dict[int, list] = defaultdict(list)
    for cp in ContactPoint.objects.filter(customer_id__in=list(customers)).order_by("customer_id", "-is_primary", "pk"):
        contacts[cp.customer_id].append(cp)
    records = records_build(
        [(c.pk, c.kind, c.name, c.province, c.city) for c in customers.values()],
        [
            (cp.customer_id, cp.kind, cp.value, cp.province, cp.city, cp.postcode)
            for cps in contacts.values()
            for cp in cps
        ],
    )
    prepared = matching.prepare(record)
    scored = []
    for pk, candidate in records.items():
        match = matching.score_pair(prepared, candidate, common_keys=common)
        if match.score >= threshold:
            scored.append((pk, match))
    scored.sort(key=lambda item: (-item[1].score, item[0]))
    hits = []
    for pk, match in scored[:ENTRY_RESULT_LIMIT]:
        customer = customers[pk]
        visible = bool(customer._visible)
        if visible:
            # The presenter reads contact points from the prefetch cache: no further query.
            customer._prefetched_objects_cache = {"contact_points": contacts[pk]}
        hits.append(
            DuplicateHit(
                customer_id=pk,
                score=match.score,
                band=band_of(match.score),
                explanation=evidence_json(match) if visible else [],
                visible=visible,
                customer=customer if visible else None,
                unit_name=customer.org_unit.name if customer.org_unit_id else "",
            )
        )
    return hits


def duplicate_gate(*, user, data, confirm: bool = False, reason: str = "", exclude_id=None) -> list[DuplicateHit]:
    """Called by the create view before it saves: refuse a likely duplicate unless confirmed.

    Raises ValidationError (code "duplicate") when likely duplicates exist and the user has not
    confirmed with a reason; on a confirmed save logs the override (what="duplicate_override",
    with the candidate ids) and returns the hits. The message reveals nothing about hidden records.
    """
    from sharing.audit import log_event

    hits = [h for h in duplicate_candidates(user=user, data=data, exclude_id=exclude_id) if h.band == "likely"]
    if not hits:
        return []
    reason = (reason or "").strip()
    if not confirm or not reason:
        raise ValidationError(
            _(
                "This customer probably exists already. Open the existing record (or request access to it), "
                "or confirm that it is a different customer and give a reason."
            ),
            code="duplicate",
        )
    from customers.models import Customer

    top = Customer.objects.get(pk=hits[0].customer_id)
    log_event(
        actor=user,
        obj=top,
        what="duplicate_override",
        candidate_ids=[h.customer_id for h in hits],
        scores=[h.score for h in hits],
        reason=reason[:300],
    )
    return hits


# =================================================================================================
# Pair decisions
# =================================================================================================


def _require_flag(user, flag: str) -> None:
    from sharing.principal import get_principal

    if not get_principal(user).may(flag):
        raise PermissionDenied


def pair_decide(*, pair: CandidatePair, decided_by, status: str, reason: str = "") -> CandidatePair:
    """Close an open pair as not a duplicate (remembered: never proposed again) or dismissed."""
    from sharing.audit import log_event

    if status not in (CandidatePair.Status.NOT_DUPLICATE, CandidatePair.Status.DISMISSED, CandidatePair.Status.OPEN):
        raise ValueError(status)
    _require_flag(decided_by, "can_merge")
    if not CandidatePair.objects.visible_to(decided_by).filter(pk=pair.pk).exists():
        raise PermissionDenied
    with transaction.atomic():
        locked = CandidatePair.objects.select_for_update().get(pk=pair.pk)
        if locked.status == CandidatePair.Status.MERGED:
            raise ValidationError(_("This pair was merged; unmerge it first."))
        old = locked.status
        locked.status = status
        locked.decided_by = decided_by if status != CandidatePair.Status.OPEN else None
        locked.decided_at = timezone.now() if status != CandidatePair.Status.OPEN else None
        locked.decision_reason = (reason or "").strip()[:300]
        locked.save()
        log_event(
            actor=decided_by,
            obj=locked.a,
            what="duplicate_decision",
            pair=locked.pk,
            other=locked.b_id,
            status=status,
            previous=old,
            reason=locked.decision_reason,
        )
    return locked


def pair_record(*, a_id: int, b_id: int, match: matching.Match, job=None, reopen: bool = False) -> CandidatePair:
    """Create or refresh one pair (used when a steward compares two customers by hand)."""
    a_id, b_id = CandidatePair.ordered(a_id, b_id)
    pair, created = CandidatePair.objects.get_or_create(
        a_id=a_id,
        b_id=b_id,
        defaults={
            "score": match.score,
            "band": band_of(match.score),
            "explanation": evidence_json(match),
            "job": job,
        },
    )
    if not created:
        pair.score, pair.band, pair.explanation = match.score, band_of(match.score), evidence_json(match)
        pair.save(update_fields=["score", "band", "explanation", "updated_at"])
    return pair


# =================================================================================================
# Merge and unmerge
# =================================================================================================

# Fields a steward may take from either record; profile fields by kind. (name, where)
MERGE_FIELDS = {
    "common": [("name", "customer"), ("source", "customer"), ("province", "customer"), ("city", "customer")],
    "company": [
        ("industry", "profile"),
        ("credit_code", "profile"),
        ("founded_on", "profile"),
        ("size", "profile"),
        ("website", "profile"),
        ("registered_address", "profile"),
    ],
    "person": [
        ("gender", "profile"),
        ("birth_date", "profile"),
        ("marital_status", "profile"),
        ("title", "profile"),
        ("id_number", "profile"),
    ],
}
SURVIVOR, DUPLICATE = "survivor", "duplicate"


def merge_fields_for(kind: str) -> list[tuple[str, str]]:
    return MERGE_FIELDS["common"] + MERGE_FIELDS.get(kind, [])


def _label(model) -> str:
    return model._meta.label_lower


def _model(label: str):
    return apps.get_model(label)


def _dump(field_obj, value):
    """A field value as JSON without losing precision (DjangoJSONEncoder would cut microseconds)."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _load(field_obj, value):
    return None if value is None else field_obj.to_python(value)


def _row(instance) -> dict:
    return {f.attname: _dump(f, getattr(instance, f.attname)) for f in instance._meta.concrete_fields}


def _profile_of(customer):
    from customers.models import CompanyProfile, PersonProfile

    model = CompanyProfile if customer.kind == "company" else PersonProfile
    return model, model.objects.filter(customer_id=customer.pk).first()


def _snapshot(customer) -> dict:
    """Pre-image of one customer: all fields, m2m ids, profile and contact points."""
    profile_model, profile = _profile_of(customer)
    return {
        "customer": _row(customer),
        "roles": sorted(customer.roles.values_list("pk", flat=True)),
        "tags": sorted(customer.tags.values_list("pk", flat=True)),
        "profile": {"model": _label(profile_model), "values": _row(profile)} if profile else None,
        "contact_points": [_row(cp) for cp in customer.contact_points.order_by("pk")],
    }


def _is_empty(value) -> bool:
    return value in (None, "")


def merge_defaults(survivor, duplicate) -> dict[str, str]:
    """Default survivorship per field: the non-empty value; of two, the more complete one when one
    contains the other, else the more recently updated record's."""
    s_model, s_profile = _profile_of(survivor)
    d_model, d_profile = _profile_of(duplicate)
    recent = DUPLICATE if duplicate.updated_at > survivor.updated_at else SURVIVOR
    choices = {}
    for name, where in merge_fields_for(survivor.kind):
        sv = getattr(survivor if where == "customer" else s_profile, name, None)
        dv = getattr(duplicate if where == "customer" else d_profile, name, None)
        if _is_empty(dv) or sv == dv:
            choices[name] = SURVIVOR
        elif _is_empty(sv):
            choices[name] = DUPLICATE
        elif isinstance(sv, str) and isinstance(dv, str) and (sv in dv or dv in sv):
            choices[name] = DUPLICATE if len(dv) > len(sv) else SURVIVOR
        else:
            choices[name] = recent
    return choices


def customer_related_fks():
    """Every foreign key to Customer from another model (hidden ones too), found dynamically so the
    interactions app and any later app are covered without importing them. Skips the dedup app's
    own tables, Customer's own m2m through tables, profiles (one-to-one) and `merged_into`."""
    from customers.models import Customer

    result = []
    for rel in Customer._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and rel.is_relation) or rel.many_to_many:
            continue
        model = rel.related_model
        fk = rel.field
        if model._meta.app_label == "dedup" or model._meta.auto_created is Customer or fk.one_to_one:
            continue
        if model is Customer:  # merged_into: a loser merged earlier keeps pointing at its own survivor
            continue
        if not fk.concrete or getattr(model._meta, "proxy", False):
            continue
        result.append((model, fk))
    return result


def _unique_sets(model, fk) -> list[list[str]]:
    """Unique field sets of `model` that include `fk` (moving a row could violate them)."""
    sets = [list(fields) for fields in model._meta.unique_together]
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields and constraint.condition is None:
            sets.append(list(constraint.fields))
    return [[model._meta.get_field(n).attname for n in fields] for fields in sets if fk.name in fields]


class _Journal:
    """Collects what a merge does; becomes MergeJournal.moved / changed / deleted / created."""

    def __init__(self):
        self.moved: list[list] = []
        self.changed: list[list] = []
        self.deleted: list[dict] = []
        self.created: list[list] = []
        self.counts: dict[str, int] = defaultdict(int)

    def move(self, model, pks, attname, old, new):
        pks = sorted(pks)
        if not pks:
            return
        model.objects.filter(pk__in=pks).update(**{attname: new})
        self.moved.append([_label(model), pks, attname, old])
        self.counts[_label(model)] += len(pks)

    def change(self, instance, attname, new):
        field_obj = instance._meta.get_field(attname) if attname != "pk" else instance._meta.pk
        self.changed.append(
            [_label(type(instance)), instance.pk, attname, _dump(field_obj, getattr(instance, attname))]
        )
        type(instance).objects.filter(pk=instance.pk).update(**{attname: new})
        setattr(instance, attname, new)

    def delete(self, instance):
        self.deleted.append({"model": _label(type(instance)), "values": _row(instance)})
        self.counts[_label(type(instance)) + ":dropped"] += 1
        type(instance).objects.filter(pk=instance.pk).delete()

    def create(self, instance):
        self.created.append([_label(type(instance)), instance.pk])


def _move_contact_points(journal: _Journal, survivor, duplicate) -> None:
    """Move the duplicate's contact points; one equal (kind, normalised value) to a survivor's stays
    on the duplicate, its marketing consent carried over. Moved ones lose 'primary' where the
    survivor already has a primary of that kind."""
    from customers.models import ContactPoint

    mine = list(ContactPoint.objects.filter(customer_id=survivor.pk))
    by_value = {(cp.kind, cp.normalized or cp.value.casefold()): cp for cp in mine}
    primary_kinds = {cp.kind for cp in mine if cp.is_primary}
    move = []
    for cp in ContactPoint.objects.filter(customer_id=duplicate.pk).order_by("pk"):
        twin = by_value.get((cp.kind, cp.normalized or cp.value.casefold()))
        if twin is not None:
            if cp.marketing_consent and not twin.marketing_consent:
                journal.change(twin, "marketing_consent", True)
            continue
        if cp.is_primary and cp.kind in primary_kinds:
            journal.change(cp, "is_primary", False)
        move.append(cp.pk)
    journal.move(ContactPoint, move, "customer_id", duplicate.pk, survivor.pk)


def _move_relationships(journal: _Journal, survivor, duplicate) -> None:
    """Re-point relationships; drop (journalled) those that would link the survivor to itself or
    repeat one it already has (the same kind, either direction for symmetric kinds)."""
    from customers.models import Relationship

    symmetric = {Relationship.Kind.SPOUSE_OF, Relationship.Kind.RELATED}
    existing = set(
        Relationship.objects.filter(Q(from_customer_id=survivor.pk) | Q(to_customer_id=survivor.pk)).values_list(
            "from_customer_id", "to_customer_id", "kind"
        )
    )
    moves = {"from_customer_id": [], "to_customer_id": []}
    for rel in Relationship.objects.filter(Q(from_customer_id=duplicate.pk) | Q(to_customer_id=duplicate.pk)).order_by(
        "pk"
    ):
        new_from = survivor.pk if rel.from_customer_id == duplicate.pk else rel.from_customer_id
        new_to = survivor.pk if rel.to_customer_id == duplicate.pk else rel.to_customer_id
        twin = (new_from, new_to, rel.kind) in existing or (
            rel.kind in symmetric and (new_to, new_from, rel.kind) in existing
        )
        if new_from == new_to or twin:
            journal.delete(rel)
            continue
        existing.add((new_from, new_to, rel.kind))
        moves["from_customer_id" if rel.from_customer_id == duplicate.pk else "to_customer_id"].append(rel.pk)
    for attname, pks in moves.items():
        journal.move(Relationship, pks, attname, duplicate.pk, survivor.pk)


def _live(now):
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def _ensure_view_share(
    journal: _Journal, survivor, *, user=None, group=None, expires_at=None, reason: str, granted_by=None
) -> bool:
    """Make sure `user`/`group` may view the survivor at least until `expires_at` (None: for good).

    Extends an existing view share (journalled) or creates one (journalled, removed by unmerge);
    does nothing when a live share already covers it. Returns True when something changed.
    """
    from django.contrib.auth.models import Permission

    from sharing.models import CustomerGroupShare, CustomerUserShare

    model, target = (CustomerUserShare, {"user": user}) if user is not None else (CustomerGroupShare, {"group": group})
    shares = list(model.objects.filter(content_object_id=survivor.pk, **target).select_related("permission"))
    for share in shares:
        if share.is_live and (share.expires_at is None or (expires_at is not None and share.expires_at >= expires_at)):
            return False
    view = Permission.objects.get(content_type__app_label="customers", codename="view_customer")
    existing_view = next((s for s in shares if s.permission_id == view.pk), None)
    if existing_view is not None:
        journal.change(existing_view, "expires_at", expires_at)
        return True
    share = model.objects.create(
        content_object_id=survivor.pk,
        permission=view,
        expires_at=expires_at,
        reason=reason[:300],
        granted_by=granted_by,
        **target,
    )
    journal.create(share)
    return True


def _carry_over_access(journal: _Journal, survivor, duplicate, *, granted_by) -> list[str]:
    """The duplicate's owner and everyone it was shared with may view the survivor (view shares)."""
    from sharing.models import CustomerGroupShare, CustomerUserShare

    now = timezone.now()
    reason = _("Carried over from merged customer %(number)s") % {"number": duplicate.number}
    carried = []
    owner_differs = duplicate.owner_id and duplicate.owner_id != survivor.owner_id
    if owner_differs and _ensure_view_share(
        journal, survivor, user=duplicate.owner, reason=reason, granted_by=granted_by
    ):
        carried.append(f"user:{duplicate.owner_id}")
    for share in CustomerUserShare.objects.filter(_live(now), content_object_id=duplicate.pk).select_related("user"):
        if share.user_id == survivor.owner_id:
            continue
        if _ensure_view_share(
            journal, survivor, user=share.user, expires_at=share.expires_at, reason=reason, granted_by=granted_by
        ):
            carried.append(f"user:{share.user_id}")
    for share in CustomerGroupShare.objects.filter(_live(now), content_object_id=duplicate.pk).select_related("group"):
        if _ensure_view_share(
            journal, survivor, group=share.group, expires_at=share.expires_at, reason=reason, granted_by=granted_by
        ):
            carried.append(f"group:{share.group_id}")
    return carried


def _move_other_rows(journal: _Journal, survivor, duplicate) -> None:
    """Every other row pointing at the duplicate moves to the survivor, except where a unique
    constraint says the survivor already has the same row (then it stays with the duplicate)."""
    from customers.models import ContactPoint, Relationship
    from sharing.models import CustomerGroupShare, CustomerUserShare

    special = {ContactPoint, Relationship, CustomerUserShare, CustomerGroupShare}
    for model, fk in customer_related_fks():
        if model in special:
            continue
        rows = model._base_manager.filter(**{fk.attname: duplicate.pk})
        unique_sets = _unique_sets(model, fk)
        if not unique_sets:
            journal.move(model, list(rows.values_list("pk", flat=True)), fk.attname, duplicate.pk, survivor.pk)
            continue
        taken = []
        for fields in unique_sets:
            others = [f for f in fields if f != fk.attname]
            taken.append(
                (others, set(model._base_manager.filter(**{fk.attname: survivor.pk}).values_list(*others)))
                if others
                else (others, {()})
            )
        movable = []
        for row in rows.values("pk", *{f for fields in unique_sets for f in fields}):
            if any(tuple(row[f] for f in others) in values for others, values in taken):
                continue
            movable.append(row["pk"])
            for others, values in taken:
                values.add(tuple(row[f] for f in others))
        journal.move(model, movable, fk.attname, duplicate.pk, survivor.pk)


def _lock_pair(first_id: int, second_id: int):
    from customers.models import Customer

    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[first_id, second_id]).order_by("pk")}
    return locked.get(first_id), locked.get(second_id)


def _check_merge_rights(user, ids) -> None:
    from customers.models import Customer

    _require_flag(user, "can_merge")
    if Customer.objects.visible_to(user, "change").filter(pk__in=ids).count() != len(set(ids)):
        raise PermissionDenied


@transaction.atomic
def customer_merge(*, survivor, duplicate, merged_by, reason: str, field_choices: dict | None = None, pair=None):
    """Merge `duplicate` into `survivor` and return (survivor, journal).

    Needs the merge flag and change rights on both; refuses self-merges, merged or erased records
    and customers of different kinds. Locks both rows in pk order, takes both pre-images, applies
    the per-field choices ("survivor"/"duplicate"; defaults from `merge_defaults`), moves every
    related row (QuerySet.update, journalled), carries the duplicate's owner and shares over as
    view shares, and marks the duplicate merged into the survivor. Audited with log_event.
    """
    from customers.models import Customer
    from sharing.audit import log_event

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Please give a reason.")})
    if survivor.pk == duplicate.pk:
        raise ValidationError(_("A customer cannot be merged with itself."))
    _check_merge_rights(merged_by, [survivor.pk, duplicate.pk])
    survivor, duplicate = _lock_pair(survivor.pk, duplicate.pk)
    for customer in (survivor, duplicate):
        if customer.status in (Customer.Status.MERGED, Customer.Status.ERASED):
            raise ValidationError(
                _("Customer %(number)s was merged or erased and cannot be merged.") % {"number": customer.number}
            )
    if survivor.kind != duplicate.kind:
        raise ValidationError(_("A company and a person cannot be merged."))

    journal = _Journal()
    before = {"survivor": _snapshot(survivor), "duplicate": _snapshot(duplicate)}
    choices = merge_defaults(survivor, duplicate)
    for name, choice in (field_choices or {}).items():
        if name in choices and choice in (SURVIVOR, DUPLICATE):
            choices[name] = choice

    # Survivorship: values taken from the duplicate.
    profile_model, s_profile = _profile_of(survivor)
    _d_model, d_profile = _profile_of(duplicate)
    profile_dirty = False
    for name, where in merge_fields_for(survivor.kind):
        if choices.get(name) != DUPLICATE:
            continue
        if where == "customer":
            setattr(survivor, name, getattr(duplicate, name))
            if name == "name":
                survivor.name_normalized = nz.normalize_name(duplicate.name)
        elif d_profile is not None:
            if s_profile is None:
                s_profile = profile_model(customer=survivor)
            setattr(s_profile, name, getattr(d_profile, name))
            profile_dirty = True
    if profile_dirty:
        created = s_profile.pk is None
        s_profile.save()
        if created:
            journal.create(s_profile)
    survivor.roles.add(*duplicate.roles.all())
    survivor.tags.add(*duplicate.tags.all())

    # Related rows.
    _move_contact_points(journal, survivor, duplicate)
    _move_relationships(journal, survivor, duplicate)
    _move_other_rows(journal, survivor, duplicate)
    carried = _carry_over_access(journal, survivor, duplicate, granted_by=merged_by)

    survivor.version += 1
    survivor.updated_by = merged_by
    survivor.save()
    duplicate.status = Customer.Status.MERGED
    duplicate.merged_into = survivor
    duplicate.version += 1
    duplicate.updated_by = merged_by
    duplicate.save()

    a_id, b_id = CandidatePair.ordered(survivor.pk, duplicate.pk)
    if pair is not None and (pair.a_id, pair.b_id) != (a_id, b_id):
        raise ValueError("the pair is not these two customers")
    pair = CandidatePair.objects.select_for_update().filter(a_id=a_id, b_id=b_id).first()
    if pair is not None:
        for attname, value in (
            ("status", CandidatePair.Status.MERGED),
            ("decided_by_id", merged_by.pk),
            ("decided_at", timezone.now()),
            ("decision_reason", reason[:300]),
        ):
            journal.change(pair, attname, value)

    record = MergeJournal.objects.create(
        survivor=survivor,
        duplicate=duplicate,
        pair=pair,
        reason=reason[:300],
        field_choices=choices,
        survivor_before=before["survivor"],
        duplicate_before=before["duplicate"],
        survivor_version_after=survivor.version,
        moved=journal.moved,
        changed=journal.changed,
        deleted=journal.deleted,
        created=journal.created,
        merged_by=merged_by,
    )
    match_keys_refresh_many([survivor.pk, duplicate.pk])  # the duplicate's go, the survivor gains its values'
    summary = {
        "journal": record.pk,
        "moved": dict(journal.counts),
        "shares_carried": carried,
        "fields_from_duplicate": sorted(k for k, v in choices.items() if v == DUPLICATE),
        "reason": reason[:300],
    }
    log_event(actor=merged_by, obj=survivor, what="merge", role="survivor", other=duplicate.number, **summary)
    log_event(actor=merged_by, obj=duplicate, what="merge", role="duplicate", other=survivor.number, **summary)
    return survivor, record


def _restore_row(model, values: dict) -> None:
    """Put one row back exactly as recorded (recreated with its pk if gone), timestamps included."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    pk_name = model._meta.pk.attname
    instance = model._base_manager.filter(pk=values[pk_name]).first()
    created = instance is None
    if created:
        instance = model()
    for attname, value in values.items():
        if attname in fields:
            setattr(instance, attname, _load(fields[attname], value))
    instance.save(force_insert=created)
    auto = {
        attname: _load(f, values[attname])
        for attname, f in fields.items()
        if (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)) and attname in values
    }
    if auto:
        model._base_manager.filter(pk=instance.pk).update(**auto)


def _restore_customer(customer, image: dict) -> None:
    from customers.models import Customer

    values = dict(image["customer"])
    values["version"] = customer.version + 1  # never back: forms opened meanwhile get a stale-version refusal
    _restore_row(Customer, values)
    restored = Customer.objects.get(pk=customer.pk)
    restored.roles.set(image["roles"])
    restored.tags.set(image["tags"])
    if image["profile"]:
        _restore_row(_model(image["profile"]["model"]), image["profile"]["values"])
    for values in image["contact_points"]:
        _restore_row(_model("customers.contactpoint"), values)


@transaction.atomic
def customer_unmerge(*, journal: MergeJournal, unmerged_by, reason: str, not_duplicate: bool = False):
    """Undo a merge: both records, every moved, changed and dropped row back as they were, and the
    shares the merge created removed. Returns (survivor, duplicate).

    Edits made to the survivor after the merge are undone too (the journal restores its pre-image);
    rows added to the survivor after the merge stay with it. Refused when the survivor has since
    been merged into another customer (undo that merge first) or the journal was scrubbed.
    """
    from customers.models import Customer
    from sharing.audit import log_event

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Please give a reason.")})
    journal = MergeJournal.objects.select_for_update().get(pk=journal.pk)
    if journal.status != MergeJournal.Status.MERGED:
        raise ValidationError(_("This merge has already been undone."))
    if journal.scrubbed or journal.survivor_id is None or journal.duplicate_id is None:
        raise ValidationError(_("This merge can no longer be undone: its journal was erased."))
    _check_merge_rights(unmerged_by, [journal.survivor_id, journal.duplicate_id])
    first, second = sorted([journal.survivor_id, journal.duplicate_id])
    locked = dict(zip([first, second], _lock_pair(first, second), strict=True))
    survivor, duplicate = locked[journal.survivor_id], locked[journal.duplicate_id]
    if survivor.status in (Customer.Status.MERGED, Customer.Status.ERASED):
        raise ValidationError(
            _("Customer %(number)s has since been merged or erased; undo that first.") % {"number": survivor.number}
        )
    if duplicate.status != Customer.Status.MERGED or duplicate.merged_into_id != survivor.pk:
        raise ValidationError(_("The merged customer has changed since; this merge cannot be undone."))

    for label, pk in reversed(journal.created):
        _model(label)._base_manager.filter(pk=pk).delete()
    for label, pk, attname, old in reversed(journal.changed):
        model = _model(label)
        field_obj = next(f for f in model._meta.concrete_fields if f.attname == attname)
        model._base_manager.filter(pk=pk).update(**{attname: _load(field_obj, old)})
    moved = 0
    for label, pks, attname, old in journal.moved:
        moved += _model(label)._base_manager.filter(pk__in=pks).update(**{attname: old})
    for entry in journal.deleted:
        _restore_row(_model(entry["model"]), entry["values"])
    _restore_customer(survivor, journal.survivor_before)
    _restore_customer(duplicate, journal.duplicate_before)

    journal.status = MergeJournal.Status.UNMERGED
    journal.unmerged_by = unmerged_by
    journal.unmerged_at = timezone.now()
    journal.unmerge_reason = reason[:300]
    journal.save()
    if not_duplicate and journal.pair_id:
        CandidatePair.objects.filter(pk=journal.pair_id).update(
            status=CandidatePair.Status.NOT_DUPLICATE,
            decided_by=unmerged_by,
            decided_at=timezone.now(),
            decision_reason=reason[:300],
        )
    match_keys_refresh_many([survivor.pk, duplicate.pk])
    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    detail = {"journal": journal.pk, "rows_moved_back": moved, "reason": reason[:300]}
    log_event(actor=unmerged_by, obj=survivor, what="unmerge", role="survivor", other=duplicate.number, **detail)
    log_event(actor=unmerged_by, obj=duplicate, what="unmerge", role="duplicate", other=survivor.number, **detail)
    return survivor, duplicate


def merge_journal_scrub(*, customer) -> int:
    """Blank the pre-images of every journal involving `customer` (for erasure of a person): the
    personal data in them goes, and those merges can no longer be undone. Returns journals scrubbed."""
    return MergeJournal.objects.filter(Q(survivor=customer) | Q(duplicate=customer)).update(
        survivor_before={}, duplicate_before={}, deleted=[], scrubbed=True
    )


# =================================================================================================
# Batch jobs
# =================================================================================================


def _job_scope(job: DedupJob):
    """The customers a job covers (merged and erased ones never)."""
    from customers.models import Customer

    qs = Customer.objects.exclude(status__in=INACTIVE_STATUSES)
    if job.province:
        qs = qs.filter(province=job.province)
    if job.org_unit_id:
        qs = qs.filter(org_unit__path__startswith=job.org_unit.path)
    return qs


def _changed_filter(job: DedupJob) -> Q:
    since = job.changed_since
    return Q(updated_at__gte=since) | Q(pk__in=MatchKey.objects.filter(created_at__gte=since).values("customer_id"))


def dedup_job_create(
    *, created_by, kind=DedupJob.Kind.DEDUP, province="", org_unit=None, incremental=False, start=True
):
    """Queue a job (duplicate search or cleansing) and, with `start`, hand it to the workers when the
    transaction commits (`start=False`: the caller runs it, e.g. with dedup_job_run_inline).

    Incremental jobs cover customers changed (or whose keys changed) since the start of the last
    successful job of the same kind; without one they cover everyone. One active job per kind.
    """
    from sharing.audit import log_event

    if created_by is not None:
        _require_flag(created_by, "can_merge")
    if DedupJob.objects.active().filter(kind=kind).exists():
        raise ValidationError(_("A job of this kind is already running. Wait for it or cancel it."))
    changed_since = None
    if incremental:
        last = (
            DedupJob.objects.filter(kind=kind, status=DedupJob.Status.DONE, started_at__isnull=False)
            .order_by("-started_at")
            .first()
        )
        changed_since = last.started_at if last else None
    job = DedupJob.objects.create(
        kind=kind,
        province=province or "",
        org_unit=org_unit,
        incremental=bool(incremental and changed_since),
        changed_since=changed_since,
        created_by=created_by,
    )
    log_event(
        actor=created_by,
        obj=job,
        what="dedup_job_created",
        kind=kind,
        scope=job.scope_label(),
        incremental=job.incremental,
    )
    if start:
        from dedup.tasks import dedup_job_start_task

        transaction.on_commit(lambda: dedup_job_start_task.delay(job.pk))
    return job


def _plans_keys(job: DedupJob) -> bool:
    """A duplicate search over all customers counts the keys' holders once when it is planned.

    Scoped and incremental jobs probe their customers' keys live instead: counting all of the key
    table for a few thousand customers would cost more than it saves.
    """
    return job.kind == DedupJob.Kind.DEDUP and not (job.province or job.org_unit_id or job.incremental)


def _job_keys_release(job: DedupJob) -> None:
    """Drop the planned keys of earlier jobs that no chunk can use any more.

    A job's keys go when it is no longer active and no worker is in the middle of one of its
    chunks (a chunk holds its row lock until it commits); its flag goes with them, so a resumed
    job probes keys live. When that frees every row, the table is truncated (rows of deleted jobs
    go too) instead of deleting a million rows one by one.
    """
    holders = list(DedupJob.objects.filter(keys_planned=True).exclude(pk=job.pk).order_by("pk"))
    free = [other.pk for other in holders if not other.is_active and _nobody_working_on(other)]
    DedupJob.objects.filter(pk__in=free).update(keys_planned=False)
    table = DedupJobKey._meta.db_table
    with connection.cursor() as cursor:
        if len(free) == len(holders) and connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table}")  # noqa: S608 (table name is ours)
        elif len(free) == len(holders):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
        elif free:
            DedupJobKey.objects.filter(job_id__in=free).delete()


def _job_keys_plan(job: DedupJob) -> int:
    """Count every key's holders in one pass over the key table and keep the rows a chunk needs:
    keys held by 2 up to their block cap, and phone/email keys held by more than COMMON_KEY_SIZE
    (shared lines). Returns the rows kept."""
    _job_keys_release(job)
    caps = sorted(matching.KEY_BLOCK_CAPS.items())
    cap_sql = "CASE " + " ".join("WHEN key LIKE %s THEN %s" for _kind in caps) + " ELSE %s END"
    params: list = [job.pk]
    params += [value for kind, cap in caps for value in (f"{kind}:%", cap)]
    params += [matching.block_cap("?:"), matching.COMMON_KEY_SIZE, "p:%", "e:%"]
    kept_sql = f"holders >= 2 AND (holders <= {cap_sql} OR (holders > %s AND (key LIKE %s OR key LIKE %s)))"
    table, keys = DedupJobKey._meta.db_table, MatchKey._meta.db_table
    if connection.vendor == "postgresql":
        # One pass in key order over the (key, customer) index; the holders ride along in an array
        # (1.4x faster than COUNT(*) OVER (PARTITION BY key), 2.0 s for 1.6M keys). Rows go in
        # in customer order: the primary key grows at its right edge and a chunk's rows share pages.
        sql = (
            f"INSERT INTO {table} (job_id, customer_id, key, holders) "  # noqa: S608 (table names are ours)
            "SELECT %s, member, key, holders FROM ("
            f"  SELECT key, COUNT(*) AS holders, array_agg(customer_id) AS members FROM {keys} GROUP BY key"
            f") counted CROSS JOIN LATERAL unnest(counted.members) AS member WHERE {kept_sql} "
            "ORDER BY member, key"
        )
    else:
        sql = (
            f"INSERT INTO {table} (job_id, customer_id, key, holders) "  # noqa: S608 (table names are ours)
            "SELECT %s, customer_id, key, holders FROM ("
            f"  SELECT customer_id, key, COUNT(*) OVER (PARTITION BY key) AS holders FROM {keys}"
            f") counted WHERE {kept_sql}"
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem = '128MB'")  # sorts ~2M rows at 1M customers in memory
        cursor.execute(sql, params)
        kept = cursor.rowcount
    DedupJob.objects.filter(pk=job.pk).update(keys_planned=True)
    job.keys_planned = True
    return kept


def dedup_job_plan(job: DedupJob) -> int:
    """Split the job's customers into chunks of `chunk_size()` ids (idempotent: planned once); a
    full duplicate search also counts the keys' holders (`_job_keys_plan`)."""
    if job.chunks.exists():
        return job.chunks.count()
    if _plans_keys(job):
        _job_keys_plan(job)
    scope = _job_scope(job)
    if job.incremental:
        scope = scope.filter(_changed_filter(job))
    chunks = []
    cursor = 0
    size = chunk_size()
    while True:
        ids = list(scope.filter(pk__gt=cursor).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            break
        chunks.append(DedupChunk(job=job, seq=len(chunks), start_id=ids[0], end_id=ids[-1]))
        cursor = ids[-1]
    DedupChunk.objects.bulk_create(chunks, batch_size=1000)
    DedupJob.objects.filter(pk=job.pk).update(chunks_total=len(chunks), last_processed_id=cursor)
    return len(chunks)


def dedup_job_start(*, job: DedupJob) -> list[int]:
    """Plan the chunks and mark the job running; returns the chunk ids to dispatch ([] if nothing to do)."""
    with transaction.atomic():
        job = DedupJob.objects.select_for_update().get(pk=job.pk)
        if job.status == DedupJob.Status.CANCELLING:
            job.status, job.finished_at = DedupJob.Status.CANCELLED, timezone.now()
            job.save(update_fields=["status", "finished_at", "updated_at"])
            return []
        if job.status != DedupJob.Status.QUEUED:
            return []
        dedup_job_plan(job)
        job.status = DedupJob.Status.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
        pending = list(job.chunks.exclude(status=DedupChunk.Status.DONE).values_list("pk", flat=True))
    if not pending:
        dedup_job_finish_if_complete(job_id=job.pk)
    return pending


def dedup_job_dispatch(chunk_ids, *, queue: str | None = None) -> None:
    """One Celery task per chunk, so every worker takes a share. Eager mode runs them in turn."""
    from dedup.tasks import dedup_chunk_run_task

    options = {"queue": queue} if queue else {}
    for chunk_id in chunk_ids:
        dedup_chunk_run_task.apply_async(args=[chunk_id], **options)


def _pairs_for_chunk(job: DedupJob, chunk: DedupChunk) -> tuple[int, list[CandidatePair]]:
    """Customers scanned and the candidate pairs (score >= POSSIBLE) found from this chunk's customers."""
    scope = _job_scope(job).filter(pk__gte=chunk.start_id, pk__lte=chunk.end_id)
    if job.incremental:
        scope = scope.filter(_changed_filter(job))
    ids = list(scope.values_list("pk", flat=True))
    if not ids:
        return 0, []
    if job.keys_planned and job.status == DedupJob.Status.RUNNING:
        own_keys, members, over_cap = _planned_keys_of_chunk(job, chunk, ids)
    else:
        own_keys, members, over_cap = _live_keys_of_chunk(ids)
    usable, common = usable_blocks(members)
    common |= over_cap
    # Over all customers each pair is found from its smaller id only; a scoped job looks both ways.
    one_way = not (job.province or job.org_unit_id or job.incremental)
    candidates: set[tuple[int, int]] = set()
    for customer_id, keys in own_keys.items():
        for key in keys:
            for other in usable.get(key, ()):
                if other != customer_id and (other > customer_id or not one_way):
                    candidates.add(CandidatePair.ordered(customer_id, other))
    if not candidates:
        return len(ids), []
    records = records_load({x for pair in candidates for x in pair})
    prepared = {pk: matching.prepare(r) for pk, r in records.items()}
    pairs = []
    for a_id, b_id in sorted(candidates):
        a, b = prepared.get(a_id), prepared.get(b_id)
        if a is None or b is None or a.kind != b.kind:
            continue
        match = matching.score_pair(a, b, common_keys=common)
        if match.score >= matching.POSSIBLE:
            pairs.append(
                CandidatePair(
                    a_id=a_id,
                    b_id=b_id,
                    score=match.score,
                    band=band_of(match.score),
                    explanation=evidence_json(match),
                    job=job,
                )
            )
    return len(ids), pairs


def _live_keys_of_chunk(ids: list[int]) -> tuple[dict[int, list[str]], dict[str, list[int]], set[str]]:
    """The customers' keys and every key's members, probed in the key table now."""
    own_keys: dict[int, list[str]] = defaultdict(list)
    for customer_id, key in MatchKey.objects.filter(customer_id__in_array=ids).values_list("customer_id", "key"):
        own_keys[customer_id].append(key)
    return own_keys, key_members({k for keys in own_keys.values() for k in keys}), set()


def _planned_keys_of_chunk(
    job: DedupJob, chunk: DedupChunk, ids: list[int]
) -> tuple[dict[int, list[str]], dict[str, list[int]], set[str]]:
    """The customers' keys that were shared when the job was planned, the members of those under
    their block cap (read now), and the phone/email keys over it (shared lines, no members needed).

    Keys held by one customer only pair nobody and are left out; on unchanged data the blocks and
    shared lines are the ones `_live_keys_of_chunk` finds, so are the pairs.
    """
    wanted = set(ids)
    own_keys: dict[int, list[str]] = defaultdict(list)
    probe: set[str] = set()
    over_cap: set[str] = set()
    rows = DedupJobKey.objects.filter(job_id=job.pk, customer_id__gte=chunk.start_id, customer_id__lte=chunk.end_id)
    for customer_id, key, holders in rows.values_list("customer_id", "key", "holders"):
        if customer_id not in wanted:
            continue
        own_keys[customer_id].append(key)
        (probe if holders <= matching.block_cap(key) else over_cap).add(key)
    return own_keys, key_members(probe), over_cap


def _upsert_pairs(pairs: list[CandidatePair]) -> None:
    """Insert new pairs, refresh score and explanation of known ones; a decision (status) is kept."""
    if pairs:
        CandidatePair.objects.bulk_create(
            pairs,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["a", "b"],
            update_fields=["score", "band", "explanation", "job", "updated_at"],
        )


def dedup_chunk_run(*, chunk_id: int) -> str:
    """Run one chunk; safe to call twice or concurrently (idempotent, row-locked, skipped when done).

    The results, the chunk's "done" and the job's counters are committed together (the last chunk
    also closes the job), so a worker killed half-way leaves the chunk pending and writes nothing:
    a resumed job loses nothing and counts nothing twice.
    """
    for attempt in range(3):
        try:
            outcome = _dedup_chunk_run_once(chunk_id)
            break
        except OperationalError:  # a deadlock or serialisation failure: retry the whole chunk
            logger.warning("dedup chunk %s: database conflict, attempt %s", chunk_id, attempt + 1)
            if attempt == 2:
                outcome = _chunk_failed(chunk_id)
        except Exception:  # noqa: BLE001  (garbage data must fail the chunk, not the worker)
            logger.exception("dedup chunk %s failed", chunk_id)
            outcome = _chunk_failed(chunk_id)
            break
    if outcome == "cancelled":
        job_id = DedupChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()
        if job_id:
            dedup_job_finish_if_complete(job_id=job_id)
    return outcome


def _dedup_chunk_run_once(chunk_id: int) -> str:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A chunk runs a dozen short queries over thousands of ids: PostgreSQL's JIT compiles
            # them for longer than they run (7 % of a chunk's wall time measured at 1M customers).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        # Lock the chunk row only (no ordering join: the job row must stay free for other workers).
        chunk = (
            DedupChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=chunk_id)
            .exclude(status=DedupChunk.Status.DONE)
            .order_by()
            .first()
        )
        if chunk is None:
            return "skipped"  # done already, or another worker holds it right now
        job = DedupJob.objects.select_related("org_unit").get(pk=chunk.job_id)
        if job.status in (DedupJob.Status.CANCELLING, DedupJob.Status.CANCELLED):
            return "cancelled"
        if job.kind == DedupJob.Kind.CLEANSE:
            scanned, stats = cleanse_chunk(job=job, chunk=chunk)
            found = 0
        else:
            scanned, pairs = _pairs_for_chunk(job, chunk)
            _upsert_pairs(pairs)
            found, stats = len(pairs), {}
        now = timezone.now()
        DedupChunk.objects.filter(pk=chunk.pk).update(
            status=DedupChunk.Status.DONE,
            customers_scanned=scanned,
            pairs_found=found,
            stats={k: v for k, v in stats.items() if not k.endswith("_ids")},
            attempts=models.F("attempts") + 1,
            error="",
            finished_at=now,
        )
        # Counters move with the chunk's one transition to done (the row lock above makes it
        # happen once), and the last chunk of a running job closes it, all in one statement.
        finishing = Q(status=DedupJob.Status.RUNNING, chunks_done__gte=models.F("chunks_total") - 1)
        DedupJob.objects.filter(pk=job.pk).update(
            chunks_done=models.F("chunks_done") + 1,
            customers_scanned=models.F("customers_scanned") + scanned,
            pairs_found=models.F("pairs_found") + found,
            status=models.Case(
                models.When(finishing, then=models.Value(DedupJob.Status.DONE)), default=models.F("status")
            ),
            finished_at=models.Case(models.When(finishing, then=models.Value(now)), default=models.F("finished_at")),
            updated_at=now,
        )
        if job.kind == DedupJob.Kind.CLEANSE:
            _log_cleansing(job, chunk, stats)
        if DedupJob.objects.filter(pk=job.pk, status=DedupJob.Status.DONE).exists():  # this chunk closed it
            if job.kind == DedupJob.Kind.CLEANSE:
                _job_stats_refresh(job.pk)
            else:
                transaction.on_commit(partial(_pair_statistics_refresh, job.pk))
    return "done"


# A duplicate search that wrote at least this many pairs refreshes the planner's statistics of
# the pair table when it ends.
ANALYZE_PAIRS_MIN = 1000


def _pair_statistics_refresh(job_id: int) -> None:
    """ANALYZE the candidate pairs after a duplicate search wrote many (PostgreSQL).

    Planned on the statistics of a nearly empty table, the dashboards' "open pairs of visible
    customers" count read all 53,445 pairs of the 1M seed's search and probed the customer table
    once per pair: 157 ms of a rep's 250 ms dashboard; with fresh statistics the page takes 91 ms.
    Autovacuum would get there, minutes later (or never, where it is off); the import does the same
    for its tables (customers/io/importer.py)."""
    from crm.dbstats import analyze

    found = DedupJob.objects.filter(pk=job_id).values_list("pairs_found", flat=True).first() or 0
    if found >= ANALYZE_PAIRS_MIN:
        analyze(CandidatePair)


def _job_stats_refresh(job_id: int) -> None:
    """Cleansing counts summed over the done chunks."""
    stats: dict[str, int] = defaultdict(int)
    for chunk_stats in DedupChunk.objects.filter(job_id=job_id, status=DedupChunk.Status.DONE).values_list(
        "stats", flat=True
    ):
        for key, value in (chunk_stats or {}).items():
            if isinstance(value, int):
                stats[key] += value
    DedupJob.objects.filter(pk=job_id).update(stats=dict(stats))


def _chunk_failed(chunk_id: int) -> str:
    import traceback

    error = traceback.format_exc(limit=3)[-2000:]
    with transaction.atomic():
        DedupChunk.objects.filter(pk=chunk_id).exclude(status=DedupChunk.Status.DONE).update(
            status=DedupChunk.Status.FAILED, error=error, attempts=models.F("attempts") + 1
        )
        job_id = DedupChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()
        DedupJob.objects.filter(pk=job_id, status=DedupJob.Status.RUNNING).update(
            status=DedupJob.Status.FAILED, error=error
        )
    return "failed"


def _nobody_working_on(job: DedupJob) -> bool:
    """True when no unfinished chunk is row-locked, i.e. no worker is in the middle of one."""
    unfinished = job.chunks.exclude(status=DedupChunk.Status.DONE).order_by()
    total = unfinished.count()
    free = len(unfinished.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
    return free == total


def dedup_job_finish_if_complete(*, job_id: int) -> DedupJob:
    """Refresh the job's counts from its chunks (sums, so a chunk run twice counts once) and close
    it when every chunk is done (done) or, when cancelling, when no chunk is being worked on."""
    with transaction.atomic():
        job = DedupJob.objects.select_for_update().get(pk=job_id)
        totals = job.chunks.aggregate(
            done=Count("pk", filter=Q(status=DedupChunk.Status.DONE)),
            scanned=Sum("customers_scanned", filter=Q(status=DedupChunk.Status.DONE)),
            found=Sum("pairs_found", filter=Q(status=DedupChunk.Status.DONE)),
        )
        job.chunks_done = totals["done"] or 0
        job.customers_scanned = totals["scanned"] or 0
        job.pairs_found = totals["found"] or 0
        now = timezone.now()
        if job.status == DedupJob.Status.RUNNING and job.chunks_done >= job.chunks_total:
            job.status, job.finished_at = DedupJob.Status.DONE, now
        elif job.status == DedupJob.Status.CANCELLING and _nobody_working_on(job):
            job.status, job.finished_at = DedupJob.Status.CANCELLED, now
        job.save()
        if job.kind == DedupJob.Kind.CLEANSE:
            _job_stats_refresh(job.pk)
            job.refresh_from_db(fields=["stats"])
    return job


def dedup_job_cancel(*, job: DedupJob, cancelled_by) -> DedupJob:
    """Ask a queued or running job to stop; chunks already done keep their results."""
    from sharing.audit import log_event

    _require_flag(cancelled_by, "can_merge")
    with transaction.atomic():
        updated = DedupJob.objects.filter(pk=job.pk, status__in=DedupJob.ACTIVE_STATUSES).update(
            status=DedupJob.Status.CANCELLING
        )
        if not updated:
            raise ValidationError(_("This job is not running."))
        log_event(actor=cancelled_by, obj=job, what="dedup_job_cancelled")
    return dedup_job_finish_if_complete(job_id=job.pk)


def dedup_job_resume(*, job: DedupJob, resumed_by=None, queue: str | None = None) -> list[int]:
    """Run the unfinished chunks of a failed, cancelled or stalled job again (e.g. after a worker
    died). Done chunks are not touched. Returns the chunk ids dispatched."""
    from sharing.audit import log_event

    if resumed_by is not None:
        _require_flag(resumed_by, "can_merge")
    with transaction.atomic():
        job = DedupJob.objects.select_for_update().get(pk=job.pk)
        if job.status == DedupJob.Status.DONE:
            raise ValidationError(_("This job is finished."))
        if job.status == DedupJob.Status.QUEUED:
            pending = None
        else:
            if DedupJob.objects.active().filter(kind=job.kind).exclude(pk=job.pk).exists():
                raise ValidationError(_("A job of this kind is already running. Wait for it or cancel it."))
            job.status, job.error, job.finished_at = DedupJob.Status.RUNNING, "", None
            job.save(update_fields=["status", "error", "finished_at", "updated_at"])
            pending = list(job.chunks.exclude(status=DedupChunk.Status.DONE).values_list("pk", flat=True))
        log_event(actor=resumed_by, obj=job, what="dedup_job_resumed")
    if pending is None:
        from dedup.tasks import dedup_job_start_task

        transaction.on_commit(lambda: dedup_job_start_task.delay(job.pk))
        return []
    if not pending:
        dedup_job_finish_if_complete(job_id=job.pk)
        return []
    transaction.on_commit(lambda: dedup_job_dispatch(pending, queue=queue))
    return pending


def dedup_job_run_inline(*, job: DedupJob) -> DedupJob:
    """Run a whole job in this process, chunk after chunk (management command, bench, tests)."""
    for chunk_id in dedup_job_start(job=job):
        dedup_chunk_run(chunk_id=chunk_id)
    return dedup_job_finish_if_complete(job_id=job.pk)


def dedup_nightly(kind=DedupJob.Kind.DEDUP) -> DedupJob | None:
    """The beat's nightly run: incremental since the last successful run; skipped while one runs."""
    if DedupJob.objects.active().filter(kind=kind).exists():
        return None
    return dedup_job_create(created_by=None, kind=kind, incremental=True)


# =================================================================================================
# Cleansing and data quality
# =================================================================================================

QUALITY_ISSUES = {
    "credit_code_missing",
    "credit_code_invalid",
    "industry_missing",
    "phone_missing",
    "mobile_missing",
    "address_missing",
    "email_missing",
    "details_missing",
    "birth_date_missing",
    "consent_missing",
    "id_number_missing",
    "id_number_invalid",
    "gender_missing",
    "contact_invalid",
    "stale",
}


def contact_is_valid(kind: str, value: str) -> bool:
    """Validity of a stored contact value; never raises, whatever is stored."""
    try:
        if kind in ("mobile", "landline"):
            return nz.is_valid_phone(value)
        if kind == "email":
            return bool(nz.normalize_email(value))
    except Exception:  # noqa: BLE001  (garbage must flag the value, not crash the job)
        return False
    return True


def contact_normalized(kind: str, value: str) -> str:
    try:
        from customers.services import contact_normalize

        return contact_normalize(kind, value)[:200]
    except Exception:  # noqa: BLE001
        return ""


def quality_assess(*, kind: str, name: str, contacts: list[dict], profile: dict | None, updated_at, now=None):
    """(score 0–100, issue codes, is_stale) from what matters for the kind of customer.

    company: credit code valid 25, phone 20, address 15, industry 10, email 10, size/website/
    founding 10, name 10. person: mobile 25, address 15, birth date 15, email 10, consent 10,
    ID number valid 10, gender 5, name 10. Minus 5 per invalid contact value and 10 when the
    record was untouched for longer than DEDUP_STALE_DAYS.
    """
    from customers.validators import is_valid_credit_code

    now = now or timezone.now()
    profile = profile or {}
    valid = [c for c in contacts if c["is_valid"]]
    has = {c["kind"] for c in valid}
    issues: list[str] = []
    score = 10 if nz.nfkc(name) else 0

    def award(condition: bool, points: int, issue: str):
        nonlocal score
        if condition:
            score += points
        else:
            issues.append(issue)

    address = "address" in has or bool(profile.get("registered_address"))
    if kind == "company":
        code = profile.get("credit_code") or ""
        if code and not is_valid_credit_code(code):
            issues.append("credit_code_invalid")
        else:
            award(bool(code), 25, "credit_code_missing")
        award(bool(has & {"mobile", "landline"}), 20, "phone_missing")
        award(address, 15, "address_missing")
        award(bool(profile.get("industry")), 10, "industry_missing")
        award("email" in has, 10, "email_missing")
        award(any(profile.get(k) for k in ("size", "website", "founded_on")), 10, "details_missing")
    else:
        id_number = nz.normalize_id_number(profile.get("id_number") or "")
        award("mobile" in has, 25, "mobile_missing")
        award(address, 15, "address_missing")
        award(bool(profile.get("birth_date")), 15, "birth_date_missing")
        award("email" in has, 10, "email_missing")
        award(any(c["marketing_consent"] for c in contacts), 10, "consent_missing")
        if id_number and not nz.is_valid_id_number(id_number):
            issues.append("id_number_invalid")
        else:
            award(bool(id_number), 10, "id_number_missing")
        award(bool(profile.get("gender")), 5, "gender_missing")
    invalid = len(contacts) - len(valid)
    if invalid:
        score -= 5 * invalid
        issues.append("contact_invalid")
    is_stale = bool(updated_at and updated_at < now - datetime.timedelta(days=stale_days()))
    if is_stale:
        score -= 10
        issues.append("stale")
    return max(0, min(100, score)), issues, is_stale


def cleanse_chunk(*, job: DedupJob, chunk: DedupChunk) -> tuple[int, dict]:
    """Cleanse the customers of one chunk: normalised names and contact values recomputed, invalid
    phones and emails flagged, quality scores and stale flags computed, match keys rebuilt.

    Bulk writes (auditlog does not see them): the caller logs one event per chunk with the ids.
    Customer.updated_at is left alone, so cleansing never makes a record look recently touched.
    """
    from customers.models import CompanyProfile, ContactPoint, Customer, PersonProfile

    scope = _job_scope(job).filter(pk__gte=chunk.start_id, pk__lte=chunk.end_id)
    if job.incremental:
        scope = scope.filter(_changed_filter(job))
    customers = list(scope.only("pk", "kind", "name", "name_normalized", "quality_score", "updated_at"))
    if not customers:
        return 0, {}
    ids = [c.pk for c in customers]
    now = timezone.now()
    contacts_by: dict[int, list[dict]] = defaultdict(list)
    changed_contacts = []
    invalid_flagged = 0
    for cp in ContactPoint.objects.filter(customer_id__in_array=ids).only(
        "pk", "customer_id", "kind", "value", "normalized", "is_valid", "marketing_consent"
    ):
        normalized = contact_normalized(cp.kind, cp.value)
        is_valid = contact_is_valid(cp.kind, cp.value) if cp.kind in ("mobile", "landline", "email") else cp.is_valid
        if normalized != cp.normalized or is_valid != cp.is_valid:
            invalid_flagged += int(cp.is_valid and not is_valid)
            cp.normalized, cp.is_valid = normalized, is_valid
            changed_contacts.append(cp)
        contacts_by[cp.customer_id].append(
            {"kind": cp.kind, "is_valid": cp.is_valid, "marketing_consent": cp.marketing_consent}
        )
    profiles: dict[int, dict] = {}
    for row in CompanyProfile.objects.filter(customer_id__in_array=ids).values(
        "customer_id", "credit_code", "industry", "size", "website", "founded_on", "registered_address"
    ):
        profiles[row["customer_id"]] = row
    for row in PersonProfile.objects.filter(customer_id__in_array=ids).values(
        "customer_id", "birth_date", "id_number", "gender"
    ):
        profiles[row["customer_id"]] = row
    changed_customers, qualities, stale = [], [], 0
    for customer in customers:
        name_normalized = nz.normalize_name(customer.name)[:200]
        score, issues, is_stale = quality_assess(
            kind=customer.kind,
            name=customer.name,
            contacts=contacts_by[customer.pk],
            profile=profiles.get(customer.pk),
            updated_at=customer.updated_at,
            now=now,
        )
        stale += int(is_stale)
        if name_normalized != customer.name_normalized or score != customer.quality_score:
            customer.name_normalized, customer.quality_score = name_normalized, score
            changed_customers.append(customer)
        qualities.append(CustomerQuality(customer_id=customer.pk, score=score, issues=issues, is_stale=is_stale))
    if changed_contacts:
        ContactPoint.objects.bulk_update(changed_contacts, ["normalized", "is_valid"], batch_size=500)
    if changed_customers:
        Customer.objects.bulk_update(changed_customers, ["name_normalized", "quality_score"], batch_size=500)
    CustomerQuality.objects.bulk_create(
        qualities,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["customer"],
        update_fields=["score", "issues", "is_stale", "computed_at"],
    )
    keys_written = match_keys_refresh_many(ids)
    return len(customers), {
        "contacts_changed": len(changed_contacts),
        "contacts_flagged_invalid": invalid_flagged,
        "customers_changed": len(changed_customers),
        "stale": stale,
        "keys_written": keys_written,
        "changed_contact_ids": [cp.pk for cp in changed_contacts][:5000],
        "changed_customer_ids": [c.pk for c in changed_customers][:5000],
    }


def _log_cleansing(job: DedupJob, chunk: DedupChunk, stats: dict) -> None:
    """One audit entry per chunk for the bulk writes of cleansing (auditlog cannot see them)."""
    from sharing.audit import log_event

    if stats.get("contacts_changed") or stats.get("customers_changed"):
        log_event(actor=job.created_by, obj=job, what="cleansing", chunk=chunk.seq, **stats)
