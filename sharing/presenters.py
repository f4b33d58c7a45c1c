"""The presenter: every output path shows customer data through it.

It applies the viewer's field policy (hidden / masked / visible / editable per field group), the
owner's rights on their own records and live unmask grants. Templates receive presenters, never
raw sensitive values.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from crm.compiled import CompiledQuery, Slot, slot_filter
from customers.field_groups import CONTACT, CORE, FIELD_GROUPS, IDENTITY, MASKABLE
from sharing.masking import mask_address, mask_contact, mask_date, mask_id_number
from sharing.models import FieldLevel, UnmaskGrant
from sharing.principal import get_principal
from sharing.roles import OWNER_LEVELS


def unmask_grants_for(user, customer_ids) -> dict[int, set[str]]:
    """Live unmask grants of `user` for these customers: {customer_id: {field_group, …}}."""
    result: dict[int, set[str]] = {}
    if not getattr(user, "is_authenticated", False) or not customer_ids:
        return result
    if connection.vendor == "postgresql":  # one array parameter: the statement is compiled once
        rows = _LIVE_UNMASK_GRANTS.rows(user=user.pk, customers=list(customer_ids), now=timezone.now())
    else:
        rows = (
            UnmaskGrant.objects.live(timezone.now())
            .filter(user_id=user.pk, customer_id__in=list(customer_ids))
            .values_list("customer_id", "field_group")
        )
    for customer_id, group in rows:
        result.setdefault(customer_id, set()).add(group)
    return result


def _live_unmask_grants():
    table = UnmaskGrant._meta.db_table
    return UnmaskGrant.objects.filter(
        slot_filter(
            f'"{table}"."user_id" = %s AND "{table}"."customer_id" = ANY(%s)'
            f' AND ("{table}"."expires_at" IS NULL OR "{table}"."expires_at" > %s)',
            Slot("user"),
            Slot("customers"),
            Slot("now"),
        )
    ).values_list("customer_id", "field_group")


_LIVE_UNMASK_GRANTS = CompiledQuery(UnmaskGrant, _live_unmask_grants)


@dataclass
class ShownValue:
    """A value as the viewer may see it."""

    text: str
    masked: bool = False
    revealable: bool = False
    group: str = ""

    def __str__(self):
        return self.text


class CustomerPresenter:
    def __init__(self, customer, user, *, unmask_groups: set[str] | None = None, revealed: set[str] | None = None):
        self.customer = customer
        self.user = user
        self.principal = get_principal(user)
        if unmask_groups is None:
            unmask_groups = unmask_grants_for(user, [customer.pk]).get(customer.pk, set())
        self.unmask_groups = unmask_groups
        self.revealed = revealed or set()

    # --- policy
    def level(self, group: str) -> int:
        level = self.principal.field_level(group)
        if self.customer.owner_id and self.customer.owner_id == self.principal.user_id:
            level = max(level, OWNER_LEVELS.get(group, FieldLevel.HIDDEN))
        if group == CORE:
            level = max(level, FieldLevel.VISIBLE)
        return level

    def sees(self, group: str) -> bool:
        return self.level(group) >= FieldLevel.MASKED

    def clear(self, group: str) -> bool:
        """Values of this group are shown in clear (policy, or a revealed unmask grant)."""
        level = self.level(group)
        if level >= FieldLevel.VISIBLE or group not in MASKABLE:
            return level >= FieldLevel.MASKED
        return group in self.unmask_groups and group in self.revealed

    def revealable(self, group: str) -> bool:
        return self.level(group) == FieldLevel.MASKED and group in self.unmask_groups and group not in self.revealed

    def editable_groups(self) -> set[str]:
        return {g for g in FIELD_GROUPS if self.level(g) >= FieldLevel.EDITABLE}

    def masked_groups(self) -> set[str]:
        return {g for g in MASKABLE if self.sees(g) and not self.clear(g)}

    def seen_groups(self) -> set[str]:
        """Groups the viewer sees at all (masked or in clear): for templates."""
        return {g for g in FIELD_GROUPS if self.sees(g)}

    def revealable_groups(self) -> set[str]:
        """Masked groups the viewer may show in clear now (live unmask grant): for templates."""
        return {g for g in MASKABLE if self.revealable(g)}

    # --- values
    def _shown(self, group: str, value, masker) -> ShownValue | None:
        if not self.sees(group):
            return None
        if value in (None, ""):
            return ShownValue("", group=group)
        if self.clear(group):
            return ShownValue(str(value), group=group)
        return ShownValue(masker(value), masked=True, revealable=self.revealable(group), group=group)

    def contact_points(self):
        """Contact points as (contact point, ShownValue); empty when the contact group is hidden."""
        if not self.sees(CONTACT):
            return []
        points = getattr(self.customer, "_prefetched_objects_cache", {}).get("contact_points")
        if points is None:
            points = self.customer.contact_points.all()
        return [(cp, self._shown(CONTACT, cp.value, lambda v, k=cp.kind: mask_contact(k, v))) for cp in points]

    def primary_phone(self):
        for cp, shown in self.contact_points():
            if cp.kind in ("mobile", "landline") and cp.is_primary:
                return shown
        for cp, shown in self.contact_points():
            if cp.kind in ("mobile", "landline"):
                return shown
        return None

    def id_number(self):
        person = self._person()
        return self._shown(IDENTITY, person.id_number if person else "", mask_id_number) if person else None

    def birth_date(self):
        person = self._person()
        return self._shown(IDENTITY, person.birth_date if person else None, mask_date) if person else None

    def credit_code(self):
        company = self._company()
        return self._shown(IDENTITY, company.credit_code, mask_id_number) if company else None

    def registered_address(self):
        company = self._company()
        return self._shown(CONTACT, company.registered_address, mask_address) if company else None

    def _person(self):
        if self.customer.kind != "person":
            return None
        try:
            return self.customer.person
        except Exception:  # noqa: BLE001  (RelatedObjectDoesNotExist)
            return None

    def _company(self):
        if self.customer.kind != "company":
            return None
        try:
            return self.customer.company
        except Exception:  # noqa: BLE001
            return None

    def __getattr__(self, name):
        # Core attributes (number, name, kind, status, owner, org unit …) pass through.
        if name in {
            "pk",
            "id",
            "number",
            "name",
            "kind",
            "status",
            "owner",
            "owner_id",
            "org_unit",
            "org_unit_id",
            "province",
            "city",
            "source",
            "quality_score",
            "created_at",
            "updated_at",
            "version",
            "merged_into_id",
            "get_kind_display",
            "get_status_display",
            "get_source_display",
            "get_absolute_url",
            "roles",
            "tags",
            "is_company",
        }:
            return getattr(self.customer, name)
        raise AttributeError(name)
