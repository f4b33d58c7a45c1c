"""Owners for customers that arrive without one (assignment rules) and bulk reassignment.

`assign_owner` is called by every creation path that can produce an owner-less customer
(`customer_create(assign_by_rules=True)` for web forms and service intake, the importer for rows with
a unit but no owner). The first active rule (by priority) whose conditions hold fires: the customer
goes to the rule's unit and to one of its active reps, chosen round robin or least loaded. The rule
row is locked (select_for_update) while choosing, so parallel assignments keep the balance fair.
When nothing can be assigned (no rule matches, or the unit has no active rep) the customer goes to
a unit's public pool: it is never left without an owner or a pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.team_models import AssignmentRule, CustomerMove
from sharing.audit import log_event

# Roles whose holders count as a unit's reps: they receive rule assignments and claim from the pool.
REP_ROLE_CODES = ("sales_rep",)


def unit_reps(unit):
    """Active users whose home unit is `unit` and who hold a rep role, in a stable order."""
    User = get_user_model()
    return (
        User.objects.filter(is_active=True, membership__unit=unit, groups__policy__code__in=REP_ROLE_CODES)
        .distinct()
        .order_by("pk")
    )


def owned_counts(user_ids) -> dict[int, int]:
    """Active customers owned per user (the "load" of least-loaded)."""
    rows = (
        Customer.objects.filter(owner_id__in=list(user_ids))
        .active()
        .values("owner_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["owner_id"]: row["n"] for row in rows}


def pick_round_robin(reps: list, last_user_id: int | None):
    """The first rep after the cursor (by id), wrapping around."""
    if last_user_id is not None:
        for rep in reps:
            if rep.pk > last_user_id:
                return rep
    return reps[0]


def pick_least_loaded(reps: list, counts: dict[int, int]):
    return min(reps, key=lambda rep: (counts.get(rep.pk, 0), rep.pk))


def _profile_values(customer: Customer) -> dict:
    industry = size = ""
    if customer.is_company:
        from customers.models import CompanyProfile

        profile = CompanyProfile.objects.filter(customer_id=customer.pk).values("industry", "size").first()
        if profile:
            industry, size = profile["industry"], profile["size"]
    return {
        "province": customer.province,
        "city": customer.city,
        "industry": industry,
        "source": customer.source,
        "size": size,
    }


def rule_for(customer: Customer) -> AssignmentRule | None:
    """The rule that fires for this customer: the first active one (priority, id) whose conditions hold."""
    values = _profile_values(customer)
    for rule in AssignmentRule.objects.filter(is_active=True).select_related("target_unit").order_by("priority", "pk"):
        if rule.matches(**values):
            return rule
    return None


@dataclass
class AssignmentOutcome:
    customer: Customer
    owner: object = None
    rule: AssignmentRule | None = None
    pooled: bool = False
    message: str = ""


def _fallback_unit(customer: Customer, by):
    from sharing.models import Membership, OrgUnit

    if customer.org_unit_id:
        return customer.org_unit
    membership = Membership.objects.filter(user_id=getattr(by, "pk", None)).select_related("unit").first()
    if membership:
        return membership.unit
    return OrgUnit.objects.filter(parent__isnull=True).order_by("pk").first()


@transaction.atomic
def assign_owner(*, customer: Customer, by=None) -> AssignmentOutcome:
    """Give an owner-less customer an owner by the rules, or put it in a unit's pool."""
    from customers.pool import pool_put

    locked = Customer.objects.select_for_update(of=("self",)).select_related("org_unit").get(pk=customer.pk)
    if locked.owner_id or locked.pooled_at:
        return AssignmentOutcome(customer=locked, owner=locked.owner)
    rule = rule_for(locked)
    now = timezone.now()
    if rule is None:
        unit = _fallback_unit(locked, by)
        message = _("No assignment rule matched; the customer is in the pool of %(unit)s.") % {"unit": unit}
        pool_put(customer=locked, unit=unit, by=by, note=message)
        return AssignmentOutcome(customer=locked, pooled=True, message=message)
    rule = AssignmentRule.objects.select_for_update(of=("self",)).select_related("target_unit").get(pk=rule.pk)
    reps = list(unit_reps(rule.target_unit))
    locked.assignment_rule = rule
    locked.assigned_at = now
    if not reps:
        message = _(
            "Rule “%(rule)s” points at %(unit)s, which has no active sales reps; the customer is in its pool."
        ) % {"rule": rule, "unit": rule.target_unit}
        locked.save(update_fields=["assignment_rule", "assigned_at", "updated_at"])
        pool_put(customer=locked, unit=rule.target_unit, by=by, note=message, rule=rule)
        return AssignmentOutcome(customer=locked, rule=rule, pooled=True, message=message)
    if rule.strategy == AssignmentRule.Strategy.LEAST_LOADED:
        rep = pick_least_loaded(reps, owned_counts(r.pk for r in reps))
    else:
        rep = pick_round_robin(reps, rule.last_user_id)
    locked.owner = rep
    locked.org_unit = rule.target_unit
    locked.owner_since = now
    locked.owner_via = "rule"
    locked.version += 1
    locked.save()
    AssignmentRule.objects.filter(pk=rule.pk).update(last_user=rep, fired_count=F("fired_count") + 1)
    CustomerMove.objects.create(
        customer=locked,
        kind=CustomerMove.Kind.RULE_ASSIGNED,
        to_user=rep,
        unit=rule.target_unit,
        by=by if getattr(by, "is_authenticated", False) else None,
        rule=rule,
        note=str(rule),
    )
    log_event(
        actor=by,
        obj=locked,
        what="assigned_by_rule",
        rule=rule.name,
        to_owner=rep.get_username(),
        to_unit=str(rule.target_unit),
    )
    return AssignmentOutcome(customer=locked, owner=rep, rule=rule)


# --- bulk reassignment (a leaving employee)


@dataclass
class ReassignResult:
    moved: int
    left: int  # customers of the old owner the manager may not change (still with the old owner)
    per_user: dict


@transaction.atomic
def customers_reassign(
    *, from_user, by, to_user=None, unit=None, strategy: str = AssignmentRule.Strategy.LEAST_LOADED, reason: str = ""
) -> ReassignResult:
    """Move all active customers of `from_user` that `by` may change to one person or spread over a unit's
    reps. The old owner stays in the history (a CustomerMove and an audit entry per customer)."""
    from sharing.principal import get_principal

    if not get_principal(by).may("can_transfer"):
        raise PermissionDenied
    if (to_user is None) == (unit is None):
        raise ValidationError(_("Choose either one person or a unit."))
    if to_user is not None:
        if not to_user.is_active:
            raise ValidationError(_("%(name)s is deactivated.") % {"name": to_user.get_username()})
        targets = [to_user]
    else:
        targets = [rep for rep in unit_reps(unit) if rep.pk != from_user.pk]
        if not targets:
            raise ValidationError(_("%(unit)s has no active sales reps to take the customers.") % {"unit": unit})
    all_owned = Customer.objects.filter(owner=from_user).active()
    mine = Customer.objects.visible_to(by, action="change").filter(owner=from_user).active()
    ids = list(mine.select_for_update().order_by("pk").values_list("pk", flat=True))
    left = all_owned.count() - len(ids)
    counts = owned_counts(t.pk for t in targets)
    now = timezone.now()
    per_user: dict[int, list[int]] = {}
    last = None
    for pk in ids:
        if len(targets) == 1:
            target = targets[0]
        elif strategy == AssignmentRule.Strategy.ROUND_ROBIN:
            target = pick_round_robin(targets, last)
        else:
            target = pick_least_loaded(targets, counts)
        last = target.pk
        counts[target.pk] = counts.get(target.pk, 0) + 1
        per_user.setdefault(target.pk, []).append(pk)
    by_pk = {t.pk: t for t in targets}
    for user_id, pks in per_user.items():
        target = by_pk[user_id]
        update = {"owner": target, "owner_since": now, "owner_via": "reassign", "updated_by": by, "updated_at": now}
        if unit is not None:
            update["org_unit"] = unit
        else:
            membership = getattr(target, "membership", None)
            if membership is not None:
                update["org_unit_id"] = membership.unit_id
        Customer.objects.filter(pk__in=pks).update(version=F("version") + 1, **update)
        CustomerMove.objects.bulk_create(
            [
                CustomerMove(
                    customer_id=pk,
                    kind=CustomerMove.Kind.REASSIGNED,
                    from_user=from_user,
                    to_user=target,
                    unit_id=update.get("org_unit_id") or getattr(unit, "pk", None),
                    by=by,
                    note=reason[:300],
                    created_at=now,
                )
                for pk in pks
            ]
        )
        # QuerySet.update is invisible to auditlog: one explicit entry per customer.
        for customer in Customer.objects.filter(pk__in=pks):
            log_event(
                actor=by,
                obj=customer,
                what="customer_reassigned",
                from_owner=from_user.get_username(),
                to_owner=target.get_username(),
                reason=reason,
            )
    return ReassignResult(moved=len(ids), left=left, per_user={uid: len(p) for uid, p in per_user.items()})
