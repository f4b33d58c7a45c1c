"""The public pool (公海): customers nobody follows up return to their unit's pool; reps claim them back.

* A customer with an owner, no open opportunity and no activity for the unit's `inactive_days`
  (counted from the latest of: last activity, the day the owner got it, creation) returns to the pool
  of its org unit: owner cleared, `pooled_at` set, unit kept. The owner is warned `warn_days` before.
  `pool_run` (nightly beat task) does both and is idempotent: a rerun warns nobody twice and moves
  nothing twice (one CustomerMove per customer, kind and return date, unique in the database).
* Reps of the unit (REP_ROLE_CODES, home unit = the customer's unit) see the unit's pooled customers
  on the pool page: core data and masked contact details only, never the 360 page. A claim is one
  conditional UPDATE (`… WHERE id = %s AND pooled_at IS NOT NULL`): of any number of simultaneous
  claimers exactly one wins, the others are told who did. A person holds at most `claim_limit`
  claimed customers and cannot claim back a customer that fell back from them within `cooldown_days`.
* Managers (`can_transfer` and change access) assign pooled customers to someone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from customers.assignment import REP_ROLE_CODES
from customers.models import ContactPoint, Customer
from customers.team_models import CustomerMove, PoolPolicy
from sharing.audit import log_event
from sharing.masking import mask_contact
from sharing.principal import get_principal, visibility_q
from sharing.reminders import remind

DEFAULTS = {"warn_days": 3, "claim_limit": 20, "cooldown_days": 30}


@dataclass(frozen=True)
class EffectivePolicy:
    inactive_days: int
    warn_days: int
    claim_limit: int
    cooldown_days: int
    enabled: bool = True
    from_unit_id: int | None = None  # the unit whose PoolPolicy applies (None: the defaults)


def policies_by_unit() -> dict[int, EffectivePolicy]:
    """Every unit's effective policy: its own, else the nearest ancestor's, else the defaults with the
    unit's `pool_days`. Two queries over the few hundred units."""
    from sharing.models import OrgUnit

    own = {p.unit_id: p for p in PoolPolicy.objects.all()}
    result = {}
    for pk, path, pool_days in OrgUnit.objects.values_list("pk", "path", "pool_days"):
        chain = [int(x) for x in path.strip("/").split("/") if x]
        policy = next((own[u] for u in reversed(chain) if u in own), None)
        if policy is None:
            result[pk] = EffectivePolicy(inactive_days=pool_days or 30, **DEFAULTS)
        else:
            result[pk] = EffectivePolicy(
                inactive_days=policy.inactive_days,
                warn_days=policy.warn_days,
                claim_limit=policy.claim_limit,
                cooldown_days=policy.cooldown_days,
                enabled=policy.is_enabled,
                from_unit_id=policy.unit_id,
            )
    return result


def policy_for_unit(unit) -> EffectivePolicy:
    if unit is None:
        return EffectivePolicy(inactive_days=30, **DEFAULTS)
    return policies_by_unit().get(unit.pk) or EffectivePolicy(inactive_days=unit.pool_days or 30, **DEFAULTS)


def _last_touch():
    """SQL: the latest of last activity, owner-since and creation (the start of the inactivity period)."""
    from interactions.models import Activity

    last_activity = Subquery(
        Activity.objects.filter(customer_id=OuterRef("pk")).order_by("-occurred_at").values("occurred_at")[:1]
    )
    return Greatest(Coalesce(last_activity, F("created_at")), Coalesce(F("owner_since"), F("created_at")))


def _open_opportunity():
    from interactions.models import Opportunity

    return Exists(Opportunity.objects.filter(customer_id=OuterRef("pk"), stage__in=Opportunity.OPEN_STAGES))


def pool_candidates(unit_ids=None):
    """Owned, active, not pooled customers (of these units) without an open opportunity, with `touch`."""
    qs = Customer.objects.all() if unit_ids is None else Customer.objects.filter(org_unit_id__in=sorted(unit_ids))
    return (
        qs.filter(owner__isnull=False, pooled_at__isnull=True)
        .active()
        .annotate(touch=_last_touch(), has_open=_open_opportunity())
        .filter(has_open=False)
    )


def return_at(touch, policy: EffectivePolicy):
    return touch + timedelta(days=policy.inactive_days)


def _event_key(when) -> str:
    return timezone.localdate(when).isoformat()


# --- moves into the pool


def pool_put(*, customer: Customer, unit, by=None, note: str = "", rule=None) -> None:
    """Put an owner-less customer in `unit`'s pool (assignment found nobody). Caller holds the row lock."""
    now = timezone.now()
    Customer.objects.filter(pk=customer.pk).update(
        owner=None, org_unit=unit, pooled_at=now, owner_since=None, owner_via="", version=F("version") + 1
    )
    customer.owner, customer.org_unit, customer.pooled_at = None, unit, now
    CustomerMove.objects.create(
        customer=customer,
        kind=CustomerMove.Kind.POOL_RETURNED,
        unit=unit,
        by=by if getattr(by, "is_authenticated", False) else None,
        rule=rule,
        note=note[:300],
    )
    log_event(actor=by, obj=customer, what="pooled", to_unit=str(unit), note=note)


RETURNED, WARNED = "returned", "warned"


@transaction.atomic
def pool_return(*, customer_id: int, policy: EffectivePolicy, now=None) -> str:
    """Return one customer to its unit's pool if it is still due (rechecked under the row lock).

    "returned", "warned" (due but its owner never warned: warned now instead) or "" (nothing).
    """
    now = now or timezone.now()
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        return ""
    due = (
        pool_candidates()
        .filter(pk=customer_id, touch__lte=now - timedelta(days=policy.inactive_days))
        .values_list("touch", flat=True)
        .first()
    )
    if due is None:  # followed up, claimed or given an opportunity meanwhile
        return ""
    customer = Customer.objects.select_related("owner", "org_unit").get(pk=customer_id)
    if policy.warn_days:
        # Never returned without the owner having been warned `warn_days` before: a customer that
        # became due without a warning (the first run after deployment, a policy just shortened,
        # a night the job did not run) is warned now and returns `warn_days` later.
        warned_at = _first_warning(customer, since=due)
        if warned_at is None:
            pool_warn(customer=customer, when=now + timedelta(days=policy.warn_days), policy=policy, now=now)
            return WARNED
        if warned_at > now - timedelta(days=policy.warn_days):
            return ""
    key = f"return:{_event_key(return_at(due, policy))}"
    try:
        with transaction.atomic():
            CustomerMove.objects.create(
                customer=customer,
                kind=CustomerMove.Kind.POOL_RETURNED,
                from_user=customer.owner,
                unit=customer.org_unit,
                note=_("No follow-up for %(days)s days") % {"days": policy.inactive_days},
                event_key=key,
                created_at=now,
            )
    except IntegrityError:
        return ""
    old_owner = customer.owner
    Customer.objects.filter(pk=customer.pk).update(
        owner=None, pooled_at=now, owner_since=None, owner_via="", version=F("version") + 1
    )
    log_event(
        actor=None,
        obj=customer,
        what="pool_returned",
        from_owner=old_owner.get_username(),
        unit=str(customer.org_unit),
        inactive_days=policy.inactive_days,
    )
    return RETURNED


def _first_warning(customer: Customer, *, since):
    """When the owner was first warned during this inactivity period (after `since`), or None."""
    return (
        CustomerMove.objects.filter(customer=customer, kind=CustomerMove.Kind.POOL_WARNED, created_at__gte=since)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def pool_warn(*, customer: Customer, when, policy: EffectivePolicy, now=None) -> bool:
    """Tell the owner their customer returns to the pool on `when` (once per customer and return date)."""
    key = f"pool:{customer.pk}:{_event_key(when)}"
    try:
        with transaction.atomic():
            CustomerMove.objects.create(
                customer=customer,
                kind=CustomerMove.Kind.POOL_WARNED,
                from_user_id=customer.owner_id,
                unit_id=customer.org_unit_id,
                note=_("Returns to the pool on %(date)s") % {"date": _event_key(when)},
                event_key=key,
                created_at=now or timezone.now(),
            )
    except IntegrityError:
        return False
    message = _("%(number)s %(name)s returns to the public pool on %(date)s unless you follow it up.") % {
        "number": customer.number,
        "name": customer.name,
        "date": date_format(timezone.localtime(when), "Y-m-d"),
    }
    remind(customer.owner, "pool_return", key, message, customer.get_absolute_url())
    return True


@dataclass
class PoolRunResult:
    warned: int = 0
    returned: int = 0
    orphans: int = 0


def pool_run(*, now=None) -> PoolRunResult:
    """The nightly job: warn owners, return due customers, pool owner-less ones. Idempotent."""
    now = now or timezone.now()
    result = PoolRunResult()
    groups: dict[EffectivePolicy, list[int]] = defaultdict(list)
    for unit_id, policy in policies_by_unit().items():
        if policy.enabled:
            groups[policy].append(unit_id)
    for policy, unit_ids in groups.items():
        base = pool_candidates(unit_ids)
        due_cutoff = now - timedelta(days=policy.inactive_days)
        for pk in base.filter(touch__lte=due_cutoff).order_by("pk").values_list("pk", flat=True).iterator():
            outcome = pool_return(customer_id=pk, policy=policy, now=now)
            result.returned += outcome == RETURNED
            result.warned += outcome == WARNED
        if policy.warn_days:
            warn_cutoff = now - timedelta(days=policy.inactive_days - policy.warn_days)
            warn = base.filter(touch__lte=warn_cutoff, touch__gt=due_cutoff).select_related("owner").order_by("pk")
            for customer in warn.iterator():
                result.warned += pool_warn(
                    customer=customer, when=return_at(customer.touch, policy), policy=policy, now=now
                )
    result.orphans = pool_orphans()
    return result


def pool_orphans() -> int:
    """Active customers with neither owner nor pool (a deleted owner, an old import) go to their pool."""
    from customers.assignment import _fallback_unit

    count = 0
    for pk in Customer.objects.active().filter(owner__isnull=True, pooled_at__isnull=True).values_list("pk", flat=True):
        with transaction.atomic():
            customer = Customer.objects.select_for_update(of=("self",)).select_related("org_unit").get(pk=pk)
            if customer.owner_id is None and customer.pooled_at is None:
                pool_put(customer=customer, unit=_fallback_unit(customer, None), note=_("No owner"))
                count += 1
    return count


# --- who sees which pool


def may_claim_in(principal, unit_id) -> bool:
    return bool(
        principal.is_authenticated
        and principal.unit_id is not None
        and principal.unit_id == unit_id
        and set(REP_ROLE_CODES) & set(principal.role_codes)
    )


def pool_visible_q(user) -> Q | None:
    """Pooled customers the user sees on the pool page: their own unit's (reps) and, for managers who may
    transfer, those they may change. None: nothing."""
    principal = get_principal(user)
    if not principal.is_authenticated:
        return None
    q = None
    if set(REP_ROLE_CODES) & set(principal.role_codes) and principal.unit_id:
        q = Q(org_unit_id=principal.unit_id)
    if principal.may("can_transfer"):
        change = visibility_q(principal, "change")
        managed = Q(pk__isnull=False) if change is None else change
        q = managed if q is None else (q | managed)
    return q


def pool_customers(*, user, text: str = ""):
    q = pool_visible_q(user)
    if q is None:
        return Customer.objects.none()
    qs = Customer.objects.filter(q, pooled_at__isnull=False).active()
    text = (text or "").strip()
    if text:
        # Number or name only: searching pool-only customers by phone or email would confirm a
        # contact value the rep sees masked.
        from dedup.normalize import normalize_name

        qs = qs.filter(Q(number__iexact=text) | Q(name_normalized__startswith=normalize_name(text)))
    return qs.select_related("org_unit", "company").order_by("-pooled_at", "-pk")


@dataclass
class PoolRow:
    """One pooled customer as the pool page shows it: core data, contact details masked."""

    customer: Customer
    phone: str
    previous_owner: str
    can_claim: bool
    can_assign: bool


def pool_rows(*, user, customers) -> list[PoolRow]:
    """Rows for one page: previous owners, phones and the manager check in three queries."""
    customers = list(customers)
    ids = [c.pk for c in customers]
    principal = get_principal(user)
    phones: dict[int, str] = {}
    for cp in ContactPoint.objects.filter(
        customer_id__in=ids, kind__in=[ContactPoint.Kind.MOBILE, ContactPoint.Kind.LANDLINE]
    ).order_by("customer_id", "-is_primary", "pk"):
        phones.setdefault(cp.customer_id, mask_contact(cp.kind, cp.value))
    previous: dict[int, str] = {}
    moves = (
        CustomerMove.objects.filter(customer_id__in=ids, kind=CustomerMove.Kind.POOL_RETURNED, from_user__isnull=False)
        .select_related("from_user")
        .order_by("customer_id", "-created_at", "-pk")
    )
    for move in moves:
        previous.setdefault(move.customer_id, move.from_user.get_full_name().strip() or move.from_user.get_username())
    assignable = set()
    if principal.may("can_transfer") and ids:
        assignable = set(
            Customer.objects.visible_to(user, action="change").filter(pk__in=ids).values_list("pk", flat=True)
        )
    return [
        PoolRow(
            customer=c,
            phone=phones.get(c.pk, ""),
            previous_owner=previous.get(c.pk, ""),
            can_claim=may_claim_in(principal, c.org_unit_id),
            can_assign=c.pk in assignable,
        )
        for c in customers
    ]


# --- moves out of the pool


class AlreadyClaimed(ValidationError):
    """Someone else was faster."""


def _display(user) -> str:
    return (user.get_full_name().strip() or user.get_username()) if user else _("someone")


def _taken_message(customer_id) -> str:
    winner = Customer.objects.filter(pk=customer_id).select_related("owner").first()
    return _("Too late: %(name)s has already claimed this customer.") % {
        "name": _display(winner.owner if winner else None)
    }


def pool_customer_for_claim(user, pk) -> Customer | None:
    """The pooled customer `pk` if `user` may claim it (a rep of its unit), else None (→ 404)."""
    customer = Customer.objects.filter(pk=pk).select_related("org_unit", "owner").first()
    if customer is None or not may_claim_in(get_principal(user), customer.org_unit_id):
        return None
    if customer.pooled_at is None:
        # Only a customer that just left the pool answers "already claimed by …"; any other customer of
        # the unit stays as invisible to the rep as visible_to makes it.
        recent = CustomerMove.objects.filter(
            customer=customer,
            kind__in=[CustomerMove.Kind.POOL_CLAIMED, CustomerMove.Kind.POOL_ASSIGNED],
            created_at__gte=timezone.now() - timedelta(days=1),
        )
        if not recent.exists():
            return None
    return customer


@transaction.atomic
def pool_claim(*, customer: Customer, user) -> Customer:
    """Take a pooled customer: first come, first served; limit and cool-down checked."""
    principal = get_principal(user)
    if not may_claim_in(principal, customer.org_unit_id):
        raise PermissionDenied
    # Serialise one person's claims (the limit) without serialising different people.
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
    if Customer.objects.filter(pk=customer.pk, pooled_at__isnull=True).exists():
        raise AlreadyClaimed(_taken_message(customer.pk))
    policy = policy_for_unit(customer.org_unit)
    now = timezone.now()
    held = Customer.objects.filter(owner=user, owner_via="claim").active().count()
    if held >= policy.claim_limit:
        raise ValidationError(
            _("You already hold %(held)s customers from the pool; the limit is %(limit)s. Follow some up first.")
            % {"held": held, "limit": policy.claim_limit}
        )
    fell_back = (
        CustomerMove.objects.filter(
            customer=customer,
            kind=CustomerMove.Kind.POOL_RETURNED,
            from_user=user,
            created_at__gt=now - timedelta(days=policy.cooldown_days),
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if fell_back is not None:
        again = timezone.localdate(fell_back + timedelta(days=policy.cooldown_days))
        raise ValidationError(
            _("This customer fell back to the pool from you; you can claim it again from %(date)s.")
            % {"date": again.isoformat()}
        )
    won = Customer.objects.filter(pk=customer.pk, pooled_at__isnull=False, owner__isnull=True).update(
        owner=user,
        pooled_at=None,
        owner_since=now,
        owner_via="claim",
        updated_by=user,
        updated_at=now,
        version=F("version") + 1,
    )
    if not won:
        raise AlreadyClaimed(_taken_message(customer.pk))
    CustomerMove.objects.create(
        customer=customer, kind=CustomerMove.Kind.POOL_CLAIMED, to_user=user, by=user, unit_id=customer.org_unit_id
    )
    log_event(actor=user, obj=customer, what="pool_claimed", to_owner=user.get_username())
    return Customer.objects.get(pk=customer.pk)


def pool_assignees(*, user, customer):
    """People a manager may give a pooled customer to: active users of units in their change scope."""
    principal = get_principal(user)
    scope = principal.scope("change")
    users = get_user_model().objects.filter(is_active=True, membership__isnull=False)
    if not scope.sees_all:
        users = users.filter(membership__unit_id__in=sorted(scope.unit_ids))
    return users.select_related("membership__unit").order_by("membership__unit__path", "username")


def pool_customer_for_assign(user, pk) -> Customer | None:
    if not get_principal(user).may("can_transfer"):
        return None
    return (
        Customer.objects.visible_to(user, action="change")
        .filter(pk=pk, pooled_at__isnull=False)
        .select_related("org_unit")
        .first()
    )


@transaction.atomic
def pool_assign(*, customer: Customer, to_user, by) -> Customer:
    """A manager gives a pooled customer to someone (no claim limit, no cool-down)."""
    if pool_customer_for_assign(by, customer.pk) is None:
        raise PermissionDenied
    if not to_user.is_active:
        raise ValidationError(_("%(name)s is deactivated.") % {"name": _display(to_user)})
    if not pool_assignees(user=by, customer=customer).filter(pk=to_user.pk).exists():
        raise ValidationError(_("You may not assign customers to %(name)s.") % {"name": _display(to_user)})
    now = timezone.now()
    won = Customer.objects.filter(pk=customer.pk, pooled_at__isnull=False, owner__isnull=True).update(
        owner=to_user,
        pooled_at=None,
        owner_since=now,
        owner_via="assign",
        updated_by=by,
        updated_at=now,
        version=F("version") + 1,
    )
    if not won:
        raise AlreadyClaimed(_taken_message(customer.pk))
    CustomerMove.objects.create(
        customer=customer,
        kind=CustomerMove.Kind.POOL_ASSIGNED,
        to_user=to_user,
        by=by,
        unit_id=customer.org_unit_id,
    )
    log_event(actor=by, obj=customer, what="pool_assigned", to_owner=to_user.get_username())
    return Customer.objects.get(pk=customer.pk)
