"""Personal-data requests (PIPL art. 45/47, GDPR art. 15/17) about one person: export and erasure.

Export: everything the CRM holds about the person — customer, profile, contact points,
relationships, every row of other apps that points at the customer (found through
`Customer._meta.related_objects`, so new apps are covered without changes here) and the access log
about them — as JSON in a ZIP. Maskable values go through the CustomerPresenter, so a role that
sees them masked exports them masked; the administrator (can_erase) sees them in clear.

Erasure anonymises instead of deleting, so accounting documents keep a valid customer reference:
- the customer becomes "已删除 #<number>" with status erased; province, city and tags cleared;
- the person profile is cleared, contact points and relationships deleted;
- rows of other apps that cascade with the customer (shares, grants, access requests, match keys,
  candidate pairs) are deleted — they would go with the customer anyway; rows that are protected
  or kept (activities, opportunities, quotes, contracts, orders, shipments, payments, service
  cases, import outcomes) keep their numbers, amounts and dates, but every free-text field
  (CharField/TextField without choices, not unique) is blanked and JSON fields emptied, and so are
  the free-text fields of their own child rows (e.g. case events);
- customers merged into the person are erased the same way;
- audit-log entries of all these objects lose their values (changes, text, representation,
  serialized data), and a sweep replaces the person's values wherever else they appear in the audit
  log, in notifications and in import previews.
Documented exceptions: the customer number, the PrivacyRequest row (number, who, when, reason as
typed by the operator) and the non-text columns of kept business records.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict

from auditlog.context import disable_auditlog
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import (
    CompanyProfile,
    ContactPoint,
    Customer,
    ImportJob,
    PersonProfile,
    PrivacyRequest,
    Relationship,
)
from dedup.normalize import normalize_name
from sharing.presenters import CustomerPresenter
from sharing.principal import get_principal

ERASED_NAME = "已删除 #{number}"
PLACEHOLDER = "[已删除]"
ERASED = "[erased]"
MIN_SWEEP_LENGTH = 2
# Models the export leaves out: access machinery and derived indexes, not data about the person.
EXPORT_SKIP_APPS = {"dedup", "guardian"}
EXPORT_SKIP_MODELS = {
    "sharing.customerusershare",
    "sharing.customergroupshare",
    "sharing.unmaskgrant",
    "customers.importrow",
    "customers.privacyrequest",
}
# Handled explicitly by the erasure (not by the generic rule).
_HANDLED = {ContactPoint, PersonProfile, CompanyProfile, Relationship, Customer, PrivacyRequest}


def privacy_export_allowed(user) -> bool:
    principal = get_principal(user)
    return principal.may("can_erase") or principal.may("can_export")


def privacy_erase_allowed(user) -> bool:
    return get_principal(user).may("can_erase")


# --- Export --------------------------------------------------------------------------------------


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict | list):
        return value
    return str(value)


def _row_dict(obj) -> dict:
    data = {}
    for field in obj._meta.concrete_fields:
        if isinstance(field, models.ForeignKey):
            data[field.name] = _plain(getattr(obj, field.attname))
        else:
            data[field.name] = _plain(getattr(obj, field.attname))
    return data


def _related_rows(customer: Customer, principal) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for rel in Customer._meta.related_objects:
        model = rel.related_model
        label = model._meta.label_lower
        if (
            rel.many_to_many
            or model in _HANDLED
            or label in EXPORT_SKIP_MODELS
            or model._meta.app_label in EXPORT_SKIP_APPS
        ):
            continue
        kind = getattr(model, "KIND", None)
        if kind and not principal.sees_kind(kind):
            continue
        rows = model._base_manager.filter(**{rel.field.name: customer}).order_by("pk")
        items = [_row_dict(row) for row in rows]
        if items:
            result.setdefault(label, []).extend(items)
    return result


def privacy_export_data(*, customer: Customer, user) -> dict:
    """Everything about the person as plain JSON-able data (maskable values through the presenter)."""
    principal = get_principal(user)
    presenter = CustomerPresenter(customer, user)
    person = presenter._person()
    contacts = [
        {
            "kind": cp.kind,
            "value": str(shown),
            "is_primary": cp.is_primary,
            "is_valid": cp.is_valid,
            "marketing_consent": cp.marketing_consent,
            "province": cp.province,
            "city": cp.city,
            "district": cp.district,
            "postcode": cp.postcode,
            "created_at": cp.created_at.isoformat(),
        }
        for cp, shown in presenter.contact_points()
    ]
    relationships = []
    for rel in Relationship.objects.filter(Q(from_customer=customer) | Q(to_customer=customer)).select_related(
        "from_customer", "to_customer"
    ):
        other = rel.to_customer if rel.from_customer_id == customer.pk else rel.from_customer
        relationships.append(
            {
                "relation": str(rel.label_for(customer.pk)),
                "other_number": other.number,
                "other_kind": other.kind,
                "title": rel.title,
                "share_percent": _plain(rel.share_percent),
            }
        )
    content_type = ContentType.objects.get_for_model(Customer)
    access_log = [
        {
            "timestamp": entry.timestamp.isoformat(),
            "actor": entry.actor.get_username() if entry.actor else None,
            "action": entry.get_action_display(),
            "what": (entry.additional_data or {}).get("what", ""),
        }
        for entry in LogEntry.objects.filter(content_type=content_type, object_pk=str(customer.pk))
        .select_related("actor")
        .order_by("timestamp")
    ]
    return {
        "generated_at": timezone.now().isoformat(),
        "customer": {
            "number": customer.number,
            "kind": customer.kind,
            "name": customer.name,
            "status": customer.status,
            "source": customer.source,
            "province": customer.province,
            "city": customer.city,
            "owner": customer.owner.get_username() if customer.owner else None,
            "org_unit": customer.org_unit.name if customer.org_unit else None,
            "roles": [r.code for r in customer.roles.all()],
            "tags": [t.name for t in customer.tags.all()],
            "created_at": customer.created_at.isoformat(),
            "updated_at": customer.updated_at.isoformat(),
        },
        "profile": {
            "gender": person.gender if person else "",
            "birth_date": str(presenter.birth_date() or ""),
            "marital_status": person.marital_status if person else "",
            "title": person.title if person else "",
            "id_number": str(presenter.id_number() or ""),
        },
        "contact_points": contacts,
        "relationships": relationships,
        "related_records": _related_rows(customer, principal),
        "access_log": access_log,
    }


def privacy_export(*, customer: Customer, user, reason: str = "", request=None) -> tuple[bytes, PrivacyRequest]:
    """A ZIP with data.json about one person; recorded as a PrivacyRequest and in the access log."""
    from sharing.audit import log_access

    if not privacy_export_allowed(user):
        raise PermissionDenied
    if customer.kind != Customer.Kind.PERSON:
        raise ValidationError(_("Personal-data requests are for persons, not companies."))
    data = privacy_export_data(customer=customer, user=user)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        archive.writestr(
            "README.txt",
            _("Personal data held about customer %(number)s, exported on %(date)s.")
            % {"number": customer.number, "date": timezone.localdate().isoformat()},
        )
    record = PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.EXPORT,
        customer=customer,
        customer_number=customer.number,
        reason=reason[:300],
        performed_by=user,
        summary={"sections": sorted(data), "related": {k: len(v) for k, v in data["related_records"].items()}},
    )
    log_access(actor=user, obj=customer, what="privacy_export", request=request, privacy_request=record.pk)
    return buffer.getvalue(), record


# --- Erasure -------------------------------------------------------------------------------------


def _free_text_fields(model) -> list:
    fields = []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.unique or field.choices:
            continue
        if isinstance(field, models.CharField | models.TextField | models.JSONField):
            fields.append(field)
    return fields


def _blank_values(model) -> dict:
    values = {}
    for field in _free_text_fields(model):
        if isinstance(field, models.JSONField):
            values[field.name] = field.get_default() if field.has_default() else None
        else:
            values[field.name] = "" if field.blank else PLACEHOLDER[: field.max_length or None]
    return values


def _blank_rows(model, queryset, touched: dict) -> int:
    """Blank the free text of these rows and of their cascading child rows; remember them for the log scrub."""
    ids = list(queryset.values_list("pk", flat=True))
    if not ids:
        return 0
    touched[model].update(ids)
    values = _blank_values(model)
    if values:
        model._base_manager.filter(pk__in=ids).update(**values)
    for child in model._meta.related_objects:
        if child.many_to_many or child.on_delete is not models.CASCADE:
            continue
        child_model = child.related_model
        child_ids = list(
            child_model._base_manager.filter(**{f"{child.field.name}__in": ids}).values_list("pk", flat=True)
        )
        if child_ids:
            touched[child_model].update(child_ids)
            child_values = _blank_values(child_model)
            if child_values:
                child_model._base_manager.filter(pk__in=child_ids).update(**child_values)
    return len(ids)


def _canaries(customer: Customer) -> set[str]:
    values = {customer.name}
    for cp in ContactPoint.objects.filter(customer=customer):
        values.update({cp.value, cp.normalized})
    person = PersonProfile.objects.filter(customer=customer).first()
    if person:
        values.update({person.id_number, person.title, person.birth_date.isoformat() if person.birth_date else ""})
    for title in Relationship.objects.filter(Q(from_customer=customer) | Q(to_customer=customer)).values_list(
        "title", flat=True
    ):
        values.add(title)
    return {v for v in values if v and len(v) >= MIN_SWEEP_LENGTH}


def _erase_one(customer: Customer, *, user, touched: dict, summary: dict) -> None:
    touched[Customer].add(customer.pk)
    number = customer.number
    for model in (PersonProfile, CompanyProfile):
        ids = list(model.objects.filter(customer=customer).values_list("pk", flat=True))
        touched[model].update(ids)
    PersonProfile.objects.filter(customer=customer).update(
        gender="", birth_date=None, marital_status="", title="", id_number=""
    )
    CompanyProfile.objects.filter(customer=customer).update(
        industry="", credit_code="", founded_on=None, size="", website="", registered_address=""
    )
    contacts = ContactPoint.objects.filter(customer=customer)
    touched[ContactPoint].update(contacts.values_list("pk", flat=True))
    summary["contact_points_deleted"] += contacts.count()
    contacts.delete()
    relationships = Relationship.objects.filter(Q(from_customer=customer) | Q(to_customer=customer))
    touched[Relationship].update(relationships.values_list("pk", flat=True))
    summary["relationships_deleted"] += relationships.count()
    relationships.delete()
    for rel in Customer._meta.related_objects:
        model = rel.related_model
        if rel.many_to_many or model in _HANDLED:
            continue
        queryset = model._base_manager.filter(**{rel.field.name: customer})
        if rel.on_delete is models.CASCADE:
            ids = list(queryset.values_list("pk", flat=True))
            if ids:
                touched[model].update(ids)
                summary["deleted"][model._meta.label_lower] = summary["deleted"].get(model._meta.label_lower, 0) + len(
                    ids
                )
                model._base_manager.filter(pk__in=ids).delete()
        else:
            count = _blank_rows(model, queryset, touched)
            if count:
                label = model._meta.label_lower
                summary["anonymised"][label] = summary["anonymised"].get(label, 0) + count
    customer.tags.clear()
    name = ERASED_NAME.format(number=number)
    Customer.objects.filter(pk=customer.pk).update(
        name=name,
        name_normalized=normalize_name(name),
        province="",
        city="",
        status=Customer.Status.ERASED,
        version=models.F("version") + 1,
        updated_by=user,
        updated_at=timezone.now(),
    )


def _scrub_json(value, canaries: list[str]):
    if isinstance(value, str):
        for canary in canaries:
            if canary in value:
                value = value.replace(canary, ERASED)
        return value
    if isinstance(value, list):
        return [_scrub_json(v, canaries) for v in value]
    if isinstance(value, dict):
        return {_scrub_json(k, canaries): _scrub_json(v, canaries) for k, v in value.items()}
    return value


def _scrub_log(touched: dict, canaries: set[str], number_of: dict[int, str]) -> int:
    """Audit entries of the erased objects lose their values; others lose any of the person's values."""
    ordered = sorted(canaries, key=len, reverse=True)
    q = Q()
    for model, ids in touched.items():
        if ids:
            content_type = ContentType.objects.get_for_model(model)
            q |= Q(content_type=content_type, object_pk__in=[str(i) for i in ids])
    customer_type = ContentType.objects.get_for_model(Customer)
    count = 0
    if q:
        entries = list(LogEntry.objects.filter(q))
        for entry in entries:
            entry.changes = {key: [ERASED, ERASED] for key in (entry.changes or {})} if entry.changes else entry.changes
            entry.changes_text = ""
            is_customer = entry.content_type_id == customer_type.pk
            entry.object_repr = (
                ERASED_NAME.format(number=number_of.get(int(entry.object_pk), "")) if is_customer else ERASED
            )
            entry.serialized_data = None
            entry.additional_data = _scrub_json(entry.additional_data, ordered)
        LogEntry.objects.bulk_update(
            entries, ["changes", "changes_text", "object_repr", "serialized_data", "additional_data"], batch_size=500
        )
        count += len(entries)
    count += _sweep(LogEntry, ["object_repr", "changes_text", "changes", "additional_data", "serialized_data"], ordered)
    return count


def _sweep(model, field_names: list[str], canaries: list[str]) -> int:
    """Replace the person's values in these columns of any row (text and JSON alike)."""
    if not canaries:
        return 0
    q = Q()
    annotations = {}
    for name in field_names:
        alias = f"_sweep_{name}"
        annotations[alias] = Cast(name, TextField())
        for canary in canaries:
            q |= Q(**{f"{alias}__contains": json.dumps(canary, ensure_ascii=False)[1:-1]}) | Q(
                **{f"{alias}__contains": canary}
            )
    rows = list(model._base_manager.annotate(**annotations).filter(q))
    for row in rows:
        for name in field_names:
            setattr(row, name, _scrub_json(getattr(row, name), canaries))
    if rows:
        model._base_manager.bulk_update(rows, field_names, batch_size=500)
    return len(rows)


def _merged_into(customer: Customer) -> list[Customer]:
    found, frontier = [], [customer.pk]
    seen = {customer.pk}
    while frontier:
        batch = list(Customer.objects.filter(merged_into_id__in=frontier).exclude(pk__in=seen))
        found.extend(batch)
        seen.update(c.pk for c in batch)
        frontier = [c.pk for c in batch]
    return found


@transaction.atomic
def privacy_erase(*, customer: Customer, user, reason: str = "", request=None) -> PrivacyRequest:
    """Anonymise one person everywhere (see the module docstring); only for can_erase."""
    from sharing.audit import log_event
    from sharing.models import Notification

    if not privacy_erase_allowed(user):
        raise PermissionDenied
    locked = Customer.objects.visible_to(user, action="change").select_for_update().get(pk=customer.pk)
    if locked.kind != Customer.Kind.PERSON:
        raise ValidationError(_("Personal-data requests are for persons, not companies."))
    if locked.status == Customer.Status.ERASED:
        raise ValidationError(_("This person's data was already erased."))
    targets = [locked, *_merged_into(locked)]
    touched: dict = defaultdict(set)
    summary: dict = {"contact_points_deleted": 0, "relationships_deleted": 0, "deleted": {}, "anonymised": {}}
    canaries: set[str] = set()
    for target in targets:
        canaries |= _canaries(target)
    with disable_auditlog():
        for target in targets:
            _erase_one(target, user=user, touched=touched, summary=summary)
        summary["log_entries_scrubbed"] = _scrub_log(touched, canaries, {t.pk: t.number for t in targets})
        ordered = sorted(canaries, key=len, reverse=True)
        summary["notifications_scrubbed"] = _sweep(Notification, ["message"], ordered)
        summary["import_previews_scrubbed"] = _sweep(ImportJob, ["analysis"], ordered)
    summary["customers_erased"] = [t.number for t in targets]
    record = PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.ERASE,
        customer=locked,
        customer_number=locked.number,
        reason=reason[:300],
        performed_by=user,
        summary=summary,
    )
    locked.refresh_from_db()
    log_event(actor=user, obj=locked, what="privacy_erase", request=request, privacy_request=record.pk)
    return record
