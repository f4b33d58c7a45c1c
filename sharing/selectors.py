"""Reads of the sharing app, shaped for its pages.

Every function here restricts to what the viewer may see before it touches a row: customers through
`Customer.objects.visible_to`, users through `users_visible_to`, shares and grants through
`grants_manageable_by`, access requests through `inbox_requests`. Query counts do not grow with the
number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sharing.models import (
    SCOPE_RANK,
    AccessRequest,
    Action,
    CustomerGroupShare,
    CustomerUserShare,
    Membership,
    Notification,
    OrgUnit,
    RolePolicy,
    Scope,
    UnitGrant,
    UnmaskGrant,
)
from sharing.principal import get_principal, may_access_customer, visibility_q

EXPIRING_WITHIN = timedelta(days=14)
UNUSED_FOR = timedelta(days=90)

# The kinds of grant the review and the revoke endpoint handle.
GRANT_KINDS = {
    "user": CustomerUserShare,
    "group": CustomerGroupShare,
    "unit": UnitGrant,
    "unmask": UnmaskGrant,
}
GRANT_KIND_LABELS = {
    "user": _("Shares with users"),
    "group": _("Shares with groups"),
    "unit": _("Unit grants"),
    "unmask": _("Unmask grants"),
}


def _live(now=None) -> Q:
    now = now or timezone.now()
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


# --- notifications


UNREAD_CACHE_SECONDS = 60


def unread_cache_key(user_id: int) -> str:
    from sharing.principal import shared_cache_key

    return shared_cache_key("unread", user_id)


def notification_unread_count(*, user) -> int:
    """Unread in-app notifications of `user` (the header badge, on every page).

    Kept in the shared cache for a minute when the principal cache is on (Redis, ADR 0014) and
    dropped whenever one of the user's notifications is created, read or deleted
    (sharing.signals.forget_unread_count, notifications_mark_read).
    """
    from django.core.cache import cache

    from sharing.principal import shared_cache_seconds

    if not getattr(user, "is_authenticated", False):
        return 0
    if shared_cache_seconds() <= 0:
        return Notification.objects.filter(user_id=user.pk, is_read=False).count()
    key = unread_cache_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(user_id=user.pk, is_read=False).count()
        cache.set(key, count, timeout=UNREAD_CACHE_SECONDS)
    return count


def notification_list(*, user) -> QuerySet:
    return Notification.objects.filter(user_id=user.pk).order_by("-created_at", "-pk")


# --- who may manage what


def is_role_admin(user) -> bool:
    """Superusers and holders of the "administrator" role: the only ones who edit roles and grants."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    principal = get_principal(user)
    return principal.is_superuser or "administrator" in principal.role_codes


def customer_manageable_by(*, user, customer) -> bool:
    """May `user` add and revoke shares of `customer`? Needs the flag and change access to it."""

    principal = get_principal(user)
    if not principal.may("can_manage_access"):
        return False
    return may_access_customer(user, customer.pk, Action.CHANGE)


def grants_manageable_by(user, kind: str) -> QuerySet:
    """Shares or grants of one kind that `user` may review and revoke (empty without the flag).

    Customer shares and unmask grants: those of customers the user may change. Unit grants: those
    on units inside the user's change scope (all of them for a "sees all" scope).
    """
    model = GRANT_KINDS[kind]
    principal = get_principal(user)
    if not principal.may("can_manage_access"):
        return model.objects.none()
    if kind == "unit":
        scope = principal.scope(Action.CHANGE)
        if scope.sees_all:
            return model.objects.all()
        return model.objects.filter(unit_id__in=sorted(scope.unit_ids))
    prefix = "customer__" if kind == "unmask" else "content_object__"
    q = visibility_q(principal, Action.CHANGE, prefix=prefix)
    return model.objects.all() if q is None else model.objects.filter(q)


def users_visible_to(viewer) -> QuerySet:
    """Users whose access page `viewer` may open: themselves, the people below the units they manage
    (or approve for as a delegate), and, with the can_manage_access flag, users whose home unit is in
    their view scope (everyone for a "sees all" scope)."""
    User = get_user_model()
    if not getattr(viewer, "is_authenticated", False) or not viewer.is_active:
        return User.objects.none()
    principal = get_principal(viewer)
    q = Q(pk=viewer.pk)
    if principal.may("can_manage_access"):
        scope = principal.scope(Action.VIEW)
        if scope.sees_all:
            return User.objects.all()
        if scope.unit_ids:
            q |= Q(membership__unit_id__in=sorted(scope.unit_ids))
    managed_paths = set(
        Membership.objects.filter(
            Q(user_id=viewer.pk, is_manager=True) | Q(is_manager=True, approval_delegate=viewer)
        ).values_list("unit__path", flat=True)
    )
    for path in sorted(managed_paths):
        q |= Q(membership__unit__path__startswith=path)
    return User.objects.filter(q).distinct()


# --- who can see this customer and why


@dataclass
class CoverageRow:
    """Users who see (or change) a customer because of their role's scope over its unit."""

    action: str
    scope: str
    role: str
    unit: OrgUnit | None
    users: list = field(default_factory=list)
    user_count: int = 0

    @property
    def scope_label(self):
        return Scope(self.scope).label

    @property
    def action_label(self):
        return Action(self.action).label


def _best_scopes(policies) -> dict[str, tuple[str, str]]:
    """{action: (scope, role name)} for a user's policies; change scope implies view scope."""
    best = {Action.VIEW: (Scope.NONE, ""), Action.CHANGE: (Scope.NONE, "")}
    for policy in policies:
        for action, scope in ((Action.VIEW, policy.view_scope), (Action.CHANGE, policy.change_scope)):
            if SCOPE_RANK[scope] > SCOPE_RANK[best[action][0]]:
                best[action] = (scope, policy.group.name)
    if SCOPE_RANK[best[Action.CHANGE][0]] > SCOPE_RANK[best[Action.VIEW][0]]:
        best[Action.VIEW] = best[Action.CHANGE]
    return best


MAX_NAMES = 8


def customer_coverage(*, customer) -> list[CoverageRow]:
    """Role-based reasons anyone can see `customer`: "all customers" roles, and the subtree and unit
    scopes of the people whose home unit is the customer's unit or one of its ancestors."""
    User = get_user_model()
    policies = {p.group_id: p for p in RolePolicy.objects.select_related("group")}
    rows: list[CoverageRow] = []
    all_roles = [p for p in policies.values() if Scope.ALL in (p.view_scope, p.change_scope)]
    if all_roles:
        counts = dict(
            User.objects.filter(is_active=True, groups__in=[p.group_id for p in all_roles])
            .values_list("groups")
            .annotate(n=Count("pk", distinct=True))
        )
        for policy in sorted(all_roles, key=lambda p: p.group.name):
            action = Action.CHANGE if policy.change_scope == Scope.ALL else Action.VIEW
            rows.append(
                CoverageRow(
                    action=action,
                    scope=Scope.ALL,
                    role=policy.group.name,
                    unit=None,
                    user_count=counts.get(policy.group_id, 0),
                )
            )
    unit = customer.org_unit
    if unit is None:
        return rows
    ancestor_ids = [int(x) for x in unit.path.strip("/").split("/") if x]
    memberships = (
        Membership.objects.filter(unit_id__in=ancestor_ids, user__is_active=True, user__is_superuser=False)
        .select_related("user", "unit")
        .prefetch_related("user__groups")
        .order_by("unit__depth", "user__username")
    )
    grouped: dict[tuple, CoverageRow] = {}
    for membership in memberships:
        mine = [policies[g.pk] for g in membership.user.groups.all() if g.pk in policies]
        for action, (scope, role) in _best_scopes(mine).items():
            if scope == Scope.ALL:
                continue  # listed above
            covers = scope == Scope.SUBTREE or (scope == Scope.UNIT and membership.unit_id == unit.pk)
            if not covers:
                continue
            key = (membership.unit_id, action, scope, role)
            row = grouped.setdefault(key, CoverageRow(action=action, scope=scope, role=role, unit=membership.unit))
            row.user_count += 1
            if len(row.users) < MAX_NAMES:
                row.users.append(membership.user)
    rows.extend(sorted(grouped.values(), key=lambda r: (r.unit.depth, r.unit.name, r.action != Action.VIEW, r.role)))
    return rows


def customer_access_overview(*, customer, viewer) -> dict:
    """Everything the "who can see this and why" page shows, in a handful of queries."""
    from django.contrib.auth import get_user_model

    now = timezone.now()
    unit = customer.org_unit
    unit_grants = UnitGrant.objects.none()
    if unit is not None:
        ancestor_ids = [int(x) for x in unit.path.strip("/").split("/") if x]
        unit_grants = (
            UnitGrant.objects.filter(_live(now))
            .filter(Q(unit_id=unit.pk) | Q(unit_id__in=ancestor_ids, include_subtree=True))
            .select_related("group", "unit", "granted_by")
            .order_by("unit__depth", "pk")
        )
    return {
        "owner": customer.owner,
        "owner_membership": Membership.objects.filter(user_id=customer.owner_id).select_related("unit").first()
        if customer.owner_id
        else None,
        "coverage": customer_coverage(customer=customer),
        "superuser_count": get_user_model().objects.filter(is_superuser=True, is_active=True).count(),
        "user_shares": list(
            CustomerUserShare.objects.filter(_live(now), content_object=customer)
            .select_related("user", "permission", "granted_by", "team_membership__team_role")
            .order_by("user__username", "permission__codename")
        ),
        "group_shares": list(
            CustomerGroupShare.objects.filter(_live(now), content_object=customer)
            .select_related("group", "permission", "granted_by")
            .order_by("group__name", "permission__codename")
        ),
        "unit_grants": list(unit_grants),
        "unmask_grants": list(
            UnmaskGrant.objects.filter(_live(now), customer=customer)
            .select_related("user", "granted_by")
            .order_by("user__username", "field_group")
        ),
        "can_manage": customer_manageable_by(user=viewer, customer=customer),
    }


# --- one user's access


def user_access_overview(*, subject, viewer) -> dict:
    """Roles, scopes, home unit and every share or grant `subject` holds, as `viewer` may see it.

    Customers the viewer cannot see appear by number only (no name)."""
    from customers.models import Customer

    now = timezone.now()
    principal = get_principal(subject)
    membership = Membership.objects.filter(user=subject).select_related("unit").first()
    policies = list(RolePolicy.objects.filter(group__user=subject).select_related("group").order_by("group__name"))
    group_ids = sorted(principal.group_ids)
    user_shares = list(
        CustomerUserShare.objects.filter(user=subject)
        .select_related("content_object", "permission", "granted_by")
        .order_by("expires_at", "pk")
    )
    group_shares = list(
        CustomerGroupShare.objects.filter(group_id__in=group_ids)
        .select_related("content_object", "permission", "granted_by", "group")
        .order_by("expires_at", "pk")
    )
    unit_grants = list(
        UnitGrant.objects.filter(group_id__in=group_ids).select_related("group", "unit", "granted_by").order_by("pk")
    )
    unmask_grants = list(
        UnmaskGrant.objects.filter(user=subject).select_related("customer", "granted_by").order_by("expires_at", "pk")
    )
    requests = list(
        AccessRequest.objects.filter(requester=subject, status=AccessRequest.Status.PENDING).select_related("customer")
    )
    customer_ids = {s.content_object_id for s in user_shares + group_shares}
    customer_ids |= {g.customer_id for g in unmask_grants} | {r.customer_id for r in requests}
    visible_ids = set(
        Customer.objects.visible_to(viewer).filter(pk__in=sorted(customer_ids)).values_list("pk", flat=True)
    )
    return {
        "subject": subject,
        "membership": membership,
        "unit_path": list(membership.unit.ancestors()) if membership else [],
        "policies": policies,
        "view_scope": _scope_summary(principal, Action.VIEW),
        "change_scope": _scope_summary(principal, Action.CHANGE),
        "user_shares": user_shares,
        "group_shares": group_shares,
        "unit_grants": unit_grants,
        "unmask_grants": unmask_grants,
        "pending_requests": requests,
        "visible_customer_ids": visible_ids,
        "now": now,
        "approvers": list(_approvers(subject)),
    }


def _approvers(user):
    from sharing.services import approvers_for

    return approvers_for(user).order_by("username")


def _scope_summary(principal, action) -> dict:
    scope = principal.scope(action)
    if principal.is_superuser or scope.sees_all:
        return {"sees_all": True, "unit_count": 0}
    return {"sees_all": False, "unit_count": len(scope.unit_ids)}


# --- review


def review_rows(*, viewer, kind: str, reason: str = "", q: str = "") -> QuerySet:
    """Grants of one kind the viewer may manage that expire within 14 days or went unused for 90.

    `reason`: "expiring", "unused" or "" for both. Unit grants have no usage tracking, so "unused"
    means "created more than 90 days ago" for them (a standing bulk grant deserves a look anyway).
    """
    now = timezone.now()
    qs = grants_manageable_by(viewer, kind).filter(_live(now))
    expiring = Q(expires_at__isnull=False, expires_at__lte=now + EXPIRING_WITHIN)
    cutoff = now - UNUSED_FOR
    if kind == "unit":
        unused = Q(created_at__lt=cutoff)
    else:
        unused = Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created_at__lt=cutoff)
    if reason == "expiring":
        qs = qs.filter(expiring)
    elif reason == "unused":
        qs = qs.filter(unused)
    else:
        qs = qs.filter(expiring | unused)
    q = (q or "").strip()
    if kind == "user":
        qs = qs.select_related("user", "content_object", "permission", "granted_by")
        if q:
            qs = qs.filter(Q(user__username__icontains=q) | Q(content_object__number__iexact=q))
    elif kind == "group":
        qs = qs.select_related("group", "content_object", "permission", "granted_by")
        if q:
            qs = qs.filter(Q(group__name__icontains=q) | Q(content_object__number__iexact=q))
    elif kind == "unit":
        qs = qs.select_related("group", "unit", "granted_by")
        if q:
            qs = qs.filter(Q(group__name__icontains=q) | Q(unit__name__icontains=q))
    else:
        qs = qs.select_related("user", "customer", "granted_by")
        if q:
            qs = qs.filter(Q(user__username__icontains=q) | Q(customer__number__iexact=q))
    return qs.order_by("expires_at", "pk")


def review_counts(*, viewer) -> dict[str, int]:
    return {kind: review_rows(viewer=viewer, kind=kind).count() for kind in GRANT_KINDS}


# --- access requests


def inbox_requests(*, user) -> QuerySet:
    """Pending requests `user` may decide: the same rule as services.approvers_for, for all requests at once.

    The approvers of a requester are the managers (and their delegates) of the nearest unit, from the
    requester's home unit upwards, that has an active manager other than the requester.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return AccessRequest.objects.none()
    managers = list(
        Membership.objects.filter(is_manager=True, user__is_active=True).values_list(
            "unit_id", "user_id", "approval_delegate_id", "approval_delegate__is_active"
        )
    )
    # Only requesters below a unit the user manages (or approves for as a delegate) can be theirs.
    my_units = {u for u, uid, did, dactive in managers if uid == user.pk or (did == user.pk and dactive)}
    if not my_units:
        return AccessRequest.objects.none()
    by_unit: dict[int, list[tuple[int, int | None]]] = {}
    for unit_id, user_id, delegate_id, delegate_active in managers:
        by_unit.setdefault(unit_id, []).append((user_id, delegate_id if delegate_active else None))
    below = Q()
    for path in sorted(set(OrgUnit.objects.filter(pk__in=my_units).values_list("path", flat=True))):
        below |= Q(requester__membership__unit__path__startswith=path)
    pending = list(
        AccessRequest.objects.filter(below, status=AccessRequest.Status.PENDING)
        .exclude(requester_id=user.pk)
        .values_list("pk", "requester_id", "requester__membership__unit__path")
    )
    mine = []
    for pk, requester_id, path in pending:
        if not path:
            continue
        for unit_id in reversed([int(x) for x in path.strip("/").split("/") if x]):
            others = [(m, d) for m, d in by_unit.get(unit_id, []) if m != requester_id]
            if others:
                if any(m == user.pk or d == user.pk for m, d in others):
                    mine.append(pk)
                break
    return (
        AccessRequest.objects.filter(pk__in=mine)
        .select_related("requester", "customer", "customer__org_unit")
        .order_by("created_at", "pk")
    )


def my_requests(*, user) -> QuerySet:
    return (
        AccessRequest.objects.filter(requester=user)
        .select_related("customer", "customer__org_unit", "decided_by")
        .order_by("-created_at", "-pk")
    )
