"""Writes of the customer master: create, update with optimistic locking, contacts, relationships, transfer."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import phonenumbers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from customers.models import (
    CompanyProfile,
    ContactPoint,
    Customer,
    NumberSequence,
    PersonProfile,
    Relationship,
)
from dedup.normalize import nfkc, normalize_email, normalize_name, normalize_phone

NUMBER_PREFIX = "C"
NUMBER_DIGITS = 8


class StaleVersion(Exception):
    """The record changed since the user loaded it; `changes` says what the other user did."""

    def __init__(self, current: Customer, changes: list[tuple[str, object, object]]):
        super().__init__("stale version")
        self.current = current
        self.changes = changes


def customer_numbers_reserve(count: int = 1) -> list[str]:
    """Issue `count` fresh customer numbers. The sequence row lock serialises concurrent callers.

    Runs in its own transaction when called outside one, so a number is never handed out twice;
    a number whose customer is never saved is simply skipped (numbers are never reused).
    """
    with transaction.atomic():
        seq, _created = NumberSequence.objects.select_for_update().get_or_create(name="customer")
        start = seq.last_value + 1
        seq.last_value += count
        seq.save(update_fields=["last_value"])
    return [f"{NUMBER_PREFIX}{n:0{NUMBER_DIGITS}d}" for n in range(start, start + count)]


def contact_normalize(kind: str, value: str) -> str:
    if kind in (ContactPoint.Kind.MOBILE, ContactPoint.Kind.LANDLINE):
        return normalize_phone(value)
    if kind == ContactPoint.Kind.EMAIL:
        return normalize_email(value)
    return nfkc(value).casefold()


@functools.lru_cache(maxsize=50_000)
def _e164_is_valid(e164: str) -> bool:
    """phonenumbers' is_valid_number of a normalised (E.164) number: what
    dedup.normalize.is_valid_phone answers once the number is normalised.

    A Chinese number ('+86' and a national number without a leading zero, which is what
    normalize_phone gives) is built directly: parsing the string back (~20 µs) only yields the same
    PhoneNumber(country_code=86, national_number=…); everything else is parsed as before.
    """
    national = e164[3:]
    if e164.startswith("+86") and national.isdigit() and national.isascii() and national[:1] not in ("", "0"):
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(national))
    else:
        number = phonenumbers.parse(e164, None)
    return phonenumbers.is_valid_number(number)


def contact_validate(kind: str, value: str) -> str:
    """Normalised value, or a ValidationError with a clear message."""
    value = nfkc(value)
    if not value:
        raise ValidationError(_("Enter a value."))
    normalized = contact_normalize(kind, value)
    # Same answer as dedup.normalize.is_valid_phone(value), whose normalize_phone(value) is
    # `normalized`: the number is normalised once, and its validity is not parsed again.
    if kind in (ContactPoint.Kind.MOBILE, ContactPoint.Kind.LANDLINE) and (
        not normalized or not _e164_is_valid(normalized)
    ):
        raise ValidationError(_("“%(value)s” is not a valid phone number.") % {"value": value})
    if kind == ContactPoint.Kind.EMAIL and not normalized:
        raise ValidationError(_("“%(value)s” is not a valid email address.") % {"value": value})
    return normalized


@dataclass
class ContactInput:
    kind: str
    value: str
    is_primary: bool = False
    marketing_consent: bool = False
    province: str = ""
    city: str = ""
    district: str = ""
    postcode: str = ""
    id: int | None = None
    delete: bool = False


@dataclass
class CustomerInput:
    """What a form or an import hands to the services. Profile values only for the customer's kind."""

    kind: str
    name: str
    source: str = Customer.Source.OTHER
    status: str = Customer.Status.ACTIVE
    roles: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    profile: dict = field(default_factory=dict)
    contacts: list[ContactInput] = field(default_factory=list)


@dataclass
class RelationshipInput:
    """A relationship as seen from the customer being saved: `outgoing` means this customer → other.

    With `id` and `delete`, removes that relationship (only if it touches the customer being saved).
    """

    other: Customer | None = None
    kind: str = ""
    outgoing: bool = True
    share_percent: object = None
    title: str = ""
    id: int | None = None
    delete: bool = False


def _apply_relationships(customer: Customer, items: list[RelationshipInput], user) -> None:
    touching = Relationship.objects.filter(Q(from_customer=customer) | Q(to_customer=customer))
    for item in items:
        if item.delete:
            if item.id:
                relationship_delete(relationship=touching.filter(pk=item.id).first(), deleted_by=user)
            continue
        ends = (customer, item.other) if item.outgoing else (item.other, customer)
        relationship_create(
            from_customer=ends[0],
            to_customer=ends[1],
            kind=item.kind,
            share_percent=item.share_percent,
            title=item.title,
            created_by=user,
        )


def _log_removal(customer: Customer, obj, what: str, actor, **detail) -> None:
    """A removed contact point or relationship also leaves an entry on the customer, so the customer's
    history finds it by the customer's id (auditlog's own delete entry is keyed by the removed row)."""
    from sharing.audit import log_event

    log_event(actor=actor, obj=customer, what=what, object_id=obj.pk, **detail)


def _apply_contacts(customer: Customer, contacts: list[ContactInput], actor=None) -> None:
    existing = {cp.pk: cp for cp in customer.contact_points.all()}
    for item in contacts:
        cp = existing.get(item.id) if item.id else None
        if item.delete:
            if cp is not None:
                _log_removal(customer, cp, "contact_point_deleted", actor, kind=cp.kind)
                cp.delete()
            continue
        normalized = contact_validate(item.kind, item.value)
        if cp is None:
            cp = ContactPoint(customer=customer)
        cp.kind = item.kind
        cp.value = nfkc(item.value)
        cp.normalized = normalized
        cp.is_primary = item.is_primary
        cp.marketing_consent = item.marketing_consent
        cp.province, cp.city, cp.district, cp.postcode = item.province, item.city, item.district, item.postcode
        cp.save()
    # Denormalised province/city for list filters: from the primary (or first) address.
    addresses = [cp for cp in customer.contact_points.all() if cp.kind == ContactPoint.Kind.ADDRESS]
    addresses.sort(key=lambda cp: (not cp.is_primary, cp.pk))
    province = addresses[0].province if addresses else ""
    city = addresses[0].city if addresses else ""
    if (province, city) != (customer.province, customer.city):
        customer.province, customer.city = province, city
        customer.save(update_fields=["province", "city", "updated_at"])


def _profile_model(kind: str):
    return CompanyProfile if kind == Customer.Kind.COMPANY else PersonProfile


def _apply_profile(customer: Customer, values: dict) -> None:
    model = _profile_model(customer.kind)
    profile = model.objects.filter(customer=customer).first() or model(customer=customer)
    for key, value in values.items():
        setattr(profile, key, value)
    profile.full_clean(exclude=["customer"])
    profile.save()


@transaction.atomic
def customer_create(
    *,
    data: CustomerInput,
    created_by,
    owner=None,
    org_unit=None,
    number: str | None = None,
    relationships: list[RelationshipInput] | None = None,
    assign_by_rules: bool = False,
) -> Customer:
    """Create a customer with its profile, contact points and relationships (all or nothing).

    Owner and unit default to the creator's. With `assign_by_rules` (web form, service intake: the
    creator is not the owner) and no owner given, the assignment rules pick the owner, or the customer
    goes to a unit's pool (customers/assignment.py).
    """
    from sharing.models import Membership

    if owner is None and not assign_by_rules:
        owner = created_by
    if org_unit is None and owner is not None:
        membership = Membership.objects.filter(user=owner).select_related("unit").first()
        org_unit = membership.unit if membership else None
    name = nfkc(data.name)
    if not name:
        raise ValidationError({"name": _("Enter a name.")})
    customer = Customer(
        number=number or customer_numbers_reserve(1)[0],
        kind=data.kind,
        name=name,
        name_normalized=normalize_name(name),
        owner=owner,
        org_unit=org_unit,
        status=data.status,
        source=data.source,
        created_by=created_by,
        updated_by=created_by,
    )
    customer.full_clean(exclude=["number", "owner", "org_unit"])
    customer.save()
    if data.roles:
        customer.roles.set(data.roles)
    if data.tags:
        customer.tags.set(data.tags)
    _apply_profile(customer, data.profile)
    _apply_contacts(customer, data.contacts, created_by)
    if relationships:
        _apply_relationships(customer, relationships, created_by)
    if owner is None and assign_by_rules:
        from customers.assignment import assign_owner

        customer = assign_owner(customer=customer, by=created_by).customer
    return customer


def _diff(
    customer: Customer, profile_values: dict, name: str, roles, tags, *, status=None, source=None, contacts=None
) -> list[tuple[str, object, object]]:
    """Field-by-field differences between what the user submitted and what is stored now."""
    diffs = []
    if customer.name != name:
        diffs.append(("name", customer.name, name))
    profile = _profile_model(customer.kind).objects.filter(customer=customer).first()
    for key, value in profile_values.items():
        stored = getattr(profile, key, None) if profile else None
        if (stored or None) != (value or None):
            diffs.append((key, stored, value))
    if roles is not None and {r.pk for r in customer.roles.all()} != {r.pk for r in roles}:
        diffs.append(("roles", ", ".join(map(str, customer.roles.all())), ", ".join(map(str, roles))))
    if tags is not None and {t.pk for t in customer.tags.all()} != {t.pk for t in tags}:
        diffs.append(("tags", ", ".join(map(str, customer.tags.all())), ", ".join(map(str, tags))))
    for key, value in (("status", status), ("source", source)):
        if value is not None and getattr(customer, key) != value:
            diffs.append((key, getattr(customer, key), value))
    if contacts is not None:
        stored = sorted(f"{cp.kind}: {cp.value}" for cp in customer.contact_points.all())
        kept = {c.id for c in contacts if c.id and not c.delete}
        # The user's contact list: rows they kept or added (a row they loaded but deleted is gone).
        yours = sorted(f"{c.kind}: {nfkc(c.value)}" for c in contacts if not c.delete)
        if stored != yours or not kept <= {cp.pk for cp in customer.contact_points.all()}:
            diffs.append(("contacts", "; ".join(stored), "; ".join(yours)))
    return diffs


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    expected_version: int,
    updated_by,
    name: str | None = None,
    status: str | None = None,
    source: str | None = None,
    roles=None,
    tags=None,
    profile: dict | None = None,
    contacts: list[ContactInput] | None = None,
    relationships: list[RelationshipInput] | None = None,
) -> Customer:
    """Save changes if nobody saved since `expected_version`; else raise StaleVersion with the diff.

    The row lock makes the compare-and-set atomic, so concurrent writers can never silently
    overwrite each other. Only the arguments given are changed (the caller passes only the field
    groups the user may edit).
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.status in (Customer.Status.MERGED, Customer.Status.ERASED):
        raise ValidationError(_("This customer was merged or erased and can no longer be edited."))
    if locked.version != expected_version:
        raise StaleVersion(
            locked,
            _diff(
                locked,
                profile or {},
                nfkc(name) if name is not None else locked.name,
                roles,
                tags,
                status=status,
                source=source,
                contacts=contacts,
            ),
        )
    if name is not None:
        name = nfkc(name)
        if not name:
            raise ValidationError({"name": _("Enter a name.")})
        locked.name = name
        locked.name_normalized = normalize_name(name)
    if status is not None:
        locked.status = status
    if source is not None:
        locked.source = source
    locked.version += 1
    locked.updated_by = updated_by
    locked.full_clean(exclude=["number", "owner", "org_unit"])
    locked.save()
    if roles is not None:
        locked.roles.set(roles)
    if tags is not None:
        locked.tags.set(tags)
    if profile:
        _apply_profile(locked, profile)
    if contacts is not None:
        _apply_contacts(locked, contacts, updated_by)
    if relationships:
        _apply_relationships(locked, relationships, updated_by)
    return locked


@transaction.atomic
def customer_transfer(*, customer: Customer, new_owner, new_unit, transferred_by, reason: str = "") -> Customer:
    """Hand a customer to another owner and unit (manager action, logged by auditlog and explicitly)."""
    from sharing.audit import log_event
    from sharing.principal import get_principal

    if not get_principal(transferred_by).may("can_transfer"):
        raise PermissionDenied
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    old = (locked.owner, locked.org_unit)
    locked.owner = new_owner
    locked.org_unit = new_unit
    locked.version += 1
    locked.updated_by = transferred_by
    locked.save()
    log_event(
        actor=transferred_by,
        obj=locked,
        what="customer_transferred",
        from_owner=getattr(old[0], "username", None),
        from_unit=getattr(old[1], "name", None),
        to_owner=getattr(new_owner, "username", None),
        to_unit=getattr(new_unit, "name", None),
        reason=reason,
    )
    return locked


def relationship_create(
    *, from_customer, to_customer, kind, share_percent=None, title="", created_by=None
) -> Relationship:
    """Link two customers. Refuses self-links and duplicates (also the same link entered from the other side)."""
    if from_customer.pk == to_customer.pk:
        raise ValidationError(_("A customer cannot have a relationship with itself."))
    symmetric = kind in (Relationship.Kind.SPOUSE_OF, Relationship.Kind.RELATED)
    exists = Relationship.objects.filter(from_customer=from_customer, to_customer=to_customer, kind=kind)
    if symmetric:
        exists = exists | Relationship.objects.filter(from_customer=to_customer, to_customer=from_customer, kind=kind)
    if exists.exists():
        raise ValidationError(_("This relationship already exists."))
    rel = Relationship(
        from_customer=from_customer, to_customer=to_customer, kind=kind, share_percent=share_percent, title=title
    )
    rel.full_clean()
    rel.save()
    return rel


def relationship_delete(*, relationship: Relationship | None, deleted_by=None) -> None:
    """Remove a relationship; both customers' histories record it. A missing one is already gone."""
    if relationship is None:
        return
    for customer in (relationship.from_customer, relationship.to_customer):
        _log_removal(customer, relationship, "relationship_deleted", deleted_by, kind=relationship.kind)
    relationship.delete()
