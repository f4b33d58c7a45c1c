"""The principal: everything visibility needs to know about a user, computed once per request.

Two or three tiny queries (groups with their policies, the home unit, live unit grants, the
subtree expansion over the few hundred units) and then no more, whatever the page does. The
principal is cached on the user object, which lives for one request (or one task).

Across requests it is also kept in the shared cache (Redis) when `CRM_PRINCIPAL_CACHE_SECONDS`
is set (ADR 0014): every page then saves those queries. Correctness rests on one *sharing
generation* number in the cache, part of every entry and bumped by the signals of everything a
principal is built from (group membership, role policies, memberships, unit grants, the org
tree) both at once and when the transaction commits; an entry of another generation is ignored.
An entry also never outlives the earliest expiry of the grants it was built from, so an expiring
grant stops working on time. The user row itself (is_active, is_superuser) is read fresh on
every request and is checked before the cache.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from customers.field_groups import CORE, FIELD_GROUPS
from sharing.models import SCOPE_RANK, Action, FieldLevel, Membership, OrgUnit, RolePolicy, Scope, UnitGrant

CACHE_ATTR = "_crm_principal"

FLAG_NAMES = (
    "can_export",
    "can_import",
    "can_merge",
    "can_erase",
    "can_view_audit",
    "can_transfer",
    "can_manage_access",
)


@dataclass(frozen=True)
class ActionScope:
    """For one action: everything, or own records plus the customers of these org units."""

    sees_all: bool = False
    unit_ids: frozenset[int] = frozenset()


@dataclass
class Principal:
    user_id: int | None
    group_ids: frozenset[int] = frozenset()
    unit_id: int | None = None
    unit_path: str = ""
    is_manager: bool = False
    is_superuser: bool = False
    scopes: dict[str, ActionScope] = field(default_factory=dict)
    field_levels: dict[str, int] = field(default_factory=dict)
    interaction_kinds: frozenset[str] = frozenset()
    flags: dict[str, bool] = field(default_factory=dict)
    role_codes: frozenset[str] = frozenset()
    # Some role policy lets the user change customers (any scope, own included): may enter new ones.
    may_create: bool = False
    # When the live unit grants this principal was built from start expiring (None: never).
    valid_until: object = field(default=None, repr=False, compare=False)
    # (customer id, action) -> may the user do it; filled by may_access_customer for this request.
    access_memo: dict[tuple[int, str], bool] = field(default_factory=dict, repr=False, compare=False)
    # Plan hints (e.g. how many live shares, ADR 0016): read with the cached principal, kept a minute.
    hints: dict[str, object] = field(default_factory=dict, repr=False, compare=False)
    # The sharing generation the principal was read or built under (None: the shared cache is off).
    generation: str | None = field(default=None, repr=False, compare=False)
    # (action, user, groups, scope) -> (monotonic time, VisibilityParts): see visibility_parts.
    parts_memo: dict[tuple, tuple] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def scope(self, action: str) -> ActionScope:
        return self.scopes.get(action, ActionScope())

    def field_level(self, group: str) -> int:
        return self.field_levels.get(group, FieldLevel.HIDDEN)

    def may(self, flag: str) -> bool:
        return self.is_superuser or self.flags.get(flag, False)

    def sees_kind(self, kind: str) -> bool:
        return self.is_superuser or kind in self.interaction_kinds


ANONYMOUS = Principal(user_id=None)


def _scope_units(scope: str, unit: OrgUnit | None, all_units: list[tuple[int, str]]) -> set[int]:
    if unit is None or scope in (Scope.NONE, Scope.OWN):
        return set()
    if scope == Scope.UNIT:
        return {unit.pk}
    return {pk for pk, path in all_units if path.startswith(unit.path)}


def _has_policy(group: Group) -> bool:
    try:
        return group.policy is not None
    except RolePolicy.DoesNotExist:
        return False


def build_principal(user) -> Principal:
    """Compute the principal from the database (no caching)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ANONYMOUS
    if user.is_superuser:
        return Principal(
            user_id=user.pk,
            is_superuser=True,
            scopes={a: ActionScope(sees_all=True) for a in Action.values},
            field_levels=dict.fromkeys(FIELD_GROUPS, FieldLevel.EDITABLE),
            flags=dict.fromkeys(FLAG_NAMES, True),
            may_create=True,
        )
    # Groups and their policies in one query (RolePolicy is a one-to-one of the group).
    group_rows = list(Group.objects.filter(user=user).select_related("policy").order_by("pk"))
    groups = [g.pk for g in group_rows]
    policies = [g.policy for g in group_rows if _has_policy(g)]
    membership = Membership.objects.select_related("unit").filter(user_id=user.pk).first()
    unit = membership.unit if membership else None

    best = {Action.VIEW: Scope.NONE, Action.CHANGE: Scope.NONE}
    levels: dict[str, int] = {CORE: FieldLevel.VISIBLE}
    kinds: set[str] = set()
    flags = dict.fromkeys(FLAG_NAMES, False)
    for policy in policies:
        for action, scope in ((Action.VIEW, policy.view_scope), (Action.CHANGE, policy.change_scope)):
            if SCOPE_RANK[scope] > SCOPE_RANK[best[action]]:
                best[action] = scope
        for group_name, level in (policy.field_levels or {}).items():
            if group_name in FIELD_GROUPS:
                levels[group_name] = max(levels.get(group_name, FieldLevel.HIDDEN), int(level))
        kinds.update(policy.interaction_kinds or [])
        for flag in FLAG_NAMES:
            flags[flag] = flags[flag] or getattr(policy, flag)
    # Whoever may change a record may see it.
    if SCOPE_RANK[best[Action.CHANGE]] > SCOPE_RANK[best[Action.VIEW]]:
        best[Action.VIEW] = best[Action.CHANGE]

    needs_tree = any(s in (Scope.SUBTREE,) for s in best.values())
    grants = list(
        UnitGrant.objects.live()
        .filter(group_id__in=groups)
        .select_related("unit")
        .only("action", "include_subtree", "expires_at", "unit__id", "unit__path")
    )
    if grants:
        needs_tree = needs_tree or any(g.include_subtree for g in grants)
    all_units = list(OrgUnit.objects.values_list("pk", "path")) if needs_tree else []

    scopes = {}
    for action in Action.values:
        if best[action] == Scope.ALL:
            scopes[action] = ActionScope(sees_all=True)
            continue
        unit_ids = _scope_units(best[action], unit, all_units)
        for grant in grants:
            if action == Action.VIEW or grant.action == Action.CHANGE:
                if grant.include_subtree:
                    unit_ids.update(pk for pk, path in all_units if path.startswith(grant.unit.path))
                else:
                    unit_ids.add(grant.unit.pk)
        scopes[action] = ActionScope(unit_ids=frozenset(unit_ids))

    return Principal(
        user_id=user.pk,
        group_ids=frozenset(groups),
        unit_id=unit.pk if unit else None,
        unit_path=unit.path if unit else "",
        is_manager=bool(membership and membership.is_manager),
        scopes=scopes,
        field_levels=levels,
        interaction_kinds=frozenset(kinds),
        flags=flags,
        role_codes=frozenset(p.code for p in policies),
        may_create=any(p.change_scope != Scope.NONE for p in policies),
        valid_until=min((g.expires_at for g in grants if g.expires_at), default=None),
    )


def get_principal(user) -> Principal:
    """The user's principal, computed once per user object (one request or one task)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    cached = getattr(user, CACHE_ATTR, None)
    if cached is None:
        cached = _shared_principal(user)
        setattr(user, CACHE_ATTR, cached)
    return cached


# --- the cross-request cache (ADR 0014)


def shared_cache_seconds() -> int:
    """How long per-user figures may live in the shared cache; 0 when it is off (no Redis)."""
    return int(getattr(settings, "CRM_PRINCIPAL_CACHE_SECONDS", 0) or 0)


def shared_cache_key(name: str, *parts) -> str:
    """A key of the shared cache. The database name keeps test databases (one per xdist worker)
    and bench databases apart when they share one Redis."""
    return ":".join(["crm", name, connection.settings_dict["NAME"], *map(str, parts)])


def _shared_principal(user) -> Principal:
    seconds = shared_cache_seconds()
    if seconds <= 0 or not user.is_active or user.is_superuser:
        return build_principal(user)
    entry_key, generation_key = shared_cache_key("principal", user.pk), shared_cache_key("sharing-generation")
    hints_key = shared_cache_key("principal-hints", user.pk)
    found = cache.get_many([entry_key, generation_key, hints_key])
    generation = current_version(generation_key, found.get(generation_key))
    stored_hints = found.get(hints_key)
    hints = dict(stored_hints[1]) if stored_hints is not None and stored_hints[0] == generation else {}
    entry = found.get(entry_key)
    if entry is not None and entry[0] == generation:
        principal = entry[1]
        if principal.valid_until is None or principal.valid_until > timezone.now():
            return replace(principal, access_memo={}, parts_memo={}, hints=hints, generation=generation)
    principal = replace(build_principal(user), hints=hints, generation=generation)
    ttl = seconds
    if principal.valid_until is not None:
        ttl = min(ttl, int((principal.valid_until - timezone.now()).total_seconds()))
    if ttl > 0:
        cache.set(entry_key, (generation, principal), timeout=ttl)
    return principal


def current_version(key: str, found) -> str:
    """The version stored under `key` (`found`: what a `get_many` read), created when missing.

    A missing version (a new or flushed Redis) is created at once: entries are only ever valid for
    a version that exists, so without this the cache would stay off until the first change."""
    if found is not None:
        return found
    version = secrets.token_hex(8)
    if not cache.add(key, version, timeout=None):
        version = cache.get(key) or version
    return version


HINT_SECONDS = 60


def principal_hint(user, name: str, compute):
    """A figure that only steers the choice of an SQL plan (never which rows a user sees): read
    with the cached principal, else `compute()`d and kept for HINT_SECONDS under the principal's
    sharing generation. Once per request at most; a stale figure changes speed, never rows."""
    principal = get_principal(user)
    if name not in principal.hints:
        principal.hints[name] = compute()
        if principal.generation is not None:
            key = shared_cache_key("principal-hints", principal.user_id)
            cache.set(key, (principal.generation, dict(principal.hints)), timeout=HINT_SECONDS)
    return principal.hints[name]


def _bump_version(name: str) -> None:
    cache.set(shared_cache_key(name), secrets.token_hex(8), timeout=None)


def _bump_generation() -> None:
    _bump_version("sharing-generation")


def shared_version_changed(name: str) -> None:
    """Void the shared-cache entries validated by version `name`: bumped at once (later reads in
    this transaction, and tests) and again after commit, so an entry built concurrently from the old
    rows cannot be stored under the new version. Nothing to do while the shared cache is off."""
    if shared_cache_seconds() <= 0:
        return
    _bump_version(name)
    transaction.on_commit(lambda: _bump_version(name))


def sharing_changed(**kwargs) -> None:
    """Signal handler: what principals are built from changed; cached principals are void."""
    shared_version_changed("sharing-generation")


def may_access_customer(user, customer_id: int, action: str = Action.VIEW) -> bool:
    """May `user` see (or change) this one customer? One query per customer and action per request.

    The 360 page asked the same question five times (sections, timeline, "may change", "may
    manage access"); the answer is memoised on the principal, which lives for one request, so a
    revocation still takes effect on the next request. Callers that loaded the customer through
    `visible_to` record it with `remember_access`.
    """
    from customers.models import Customer

    principal = get_principal(user)
    if not principal.is_authenticated:
        return False
    key = (customer_id, action)
    if key not in principal.access_memo:
        allowed = Customer.objects.visible_to(user, action=action).filter(pk=customer_id).exists()
        remember_access(user, customer_id, action, allowed)
    return principal.access_memo[key]


def remember_access(user, customer_id: int, action: str, allowed: bool) -> None:
    """Record a visibility answer already known from a `visible_to` query (change implies view)."""
    principal = get_principal(user)
    if not principal.is_authenticated:
        return
    principal.access_memo[(customer_id, action)] = allowed
    if allowed and action == Action.CHANGE:
        principal.access_memo[(customer_id, Action.VIEW)] = True


IN_OWN_SCOPE = "own-scope"


def remember_loaded_customer(user, customer) -> None:
    """`customer` was just loaded through `visible_to(user)`: record that it is visible, and what
    its row alone proves without another query. Ownership, or the customer's unit in the user's
    scope, satisfies the predicate (`visibility_q` is an OR that includes both), so "may change"
    needs no query then; and no share was needed to see it (`sharing.signals.shares_touch`)."""
    principal = get_principal(user)
    if not principal.is_authenticated:
        return
    remember_access(user, customer.pk, Action.VIEW, True)
    if row_proves_access(principal, customer, Action.CHANGE):
        remember_access(user, customer.pk, Action.CHANGE, True)
    if row_proves_access(principal, customer, Action.VIEW):
        principal.access_memo[(customer.pk, IN_OWN_SCOPE)] = True


def row_proves_access(principal: Principal, customer, action: str) -> bool:
    """Does the customer's row alone satisfy the predicate for `action`? Scope "all", the owner, or
    the unit in the scope: three of `visibility_q`'s terms (its unit ids are the scope's). False
    means "not by the row": a live share may still grant it (`may_access_customer` asks)."""
    if not principal.is_authenticated:
        return False
    scope = principal.scope(action)
    return (
        scope.sees_all
        or (customer.owner_id is not None and customer.owner_id == principal.user_id)
        or (customer.org_unit_id is not None and customer.org_unit_id in scope.unit_ids)
    )


def forget_principal(user) -> None:
    """Drop the cached principal (after a grant or revocation in the same request)."""
    if user is not None and hasattr(user, CACHE_ATTR):
        delattr(user, CACHE_ATTR)


_PERMISSION_IDS: dict[str, list[int]] = {}


def share_permission_ids(action: str) -> list[int]:
    """Permission ids that satisfy an action on a share (change shares imply view)."""
    if action not in _PERMISSION_IDS:
        codenames = ["change_customer"] if action == Action.CHANGE else ["view_customer", "change_customer"]
        _PERMISSION_IDS[action] = list(
            Permission.objects.filter(content_type__app_label="customers", codename__in=codenames)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return _PERMISSION_IDS[action]


@dataclass(frozen=True)
class VisibilityParts:
    """The terms of the predicate for one principal and action, for callers that need another SQL
    shape of the same rule (interactions/querysets.py): the owner, the scope's units (sorted) and
    the live share subqueries, each `.values("content_object_id")` (user shares, then group shares)."""

    owner_id: int
    unit_ids: tuple[int, ...]
    shares: tuple


# How long one principal reuses its visibility terms: the share subqueries compare `expires_at`
# with the time they were built, so a long task (an export) must not keep them.
PARTS_MEMO_SECONDS = 1.0


def visibility_parts(principal: Principal, action: str) -> VisibilityParts | None:
    """The terms `visibility_q` ORs together; None means 'everything'.

    Built once per principal and action for up to PARTS_MEMO_SECONDS: a list request asked for
    them up to four times (the plan, the capped count, the page, `visible_to`), 0.3 ms of ORM
    work each. Subquery querysets are cloned where they are used, so sharing them is safe."""
    if principal.user_id is None:
        return _visibility_parts(principal, action)
    # Everything the terms depend on is in the key: a copy of the principal with other scopes
    # (dataclasses.replace shares the memo dict, crm/summaries.py) gets terms of its own.
    key = (action, principal.user_id, principal.group_ids, principal.scope(action))
    memo = principal.parts_memo.get(key)
    now = time.monotonic()
    if memo is not None and now - memo[0] < PARTS_MEMO_SECONDS:
        return memo[1]
    parts = _visibility_parts(principal, action)
    principal.parts_memo[key] = (now, parts)
    return parts


def _visibility_parts(principal: Principal, action: str) -> VisibilityParts | None:
    from sharing.models import CustomerGroupShare, CustomerUserShare

    scope = principal.scope(action)
    if scope.sees_all:
        return None
    now = timezone.now()
    perm_ids = share_permission_ids(action)
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    shares = [
        CustomerUserShare.objects.filter(live, user_id=principal.user_id, permission_id__in=perm_ids).values(
            "content_object_id"
        )
    ]
    if principal.group_ids:
        shares.append(
            CustomerGroupShare.objects.filter(
                live, group_id__in=sorted(principal.group_ids), permission_id__in=perm_ids
            ).values("content_object_id")
        )
    return VisibilityParts(owner_id=principal.user_id, unit_ids=tuple(sorted(scope.unit_ids)), shares=tuple(shares))


def visibility_q(principal: Principal, action: str, prefix: str = "") -> Q | None:
    """The one predicate. None means 'everything'; an empty Q never happens for a real user.

    `owner = me OR org_unit IN (scope) OR id = ANY(ARRAY(live user shares)) OR
    id = ANY(ARRAY(live group shares))`, the form PostgreSQL turns into a BitmapOr of index scans.
    """
    parts = visibility_parts(principal, action)
    if parts is None:
        return None
    q = Q(**{f"{prefix}owner_id": parts.owner_id})
    for shares in parts.shares:
        q |= Q(**{f"{prefix}pk__any_array": shares})
    if parts.unit_ids:
        q |= Q(**{f"{prefix}org_unit_id__in": list(parts.unit_ids)})
    return q
