"""visible_to against a deliberately naive reference model, over many random worlds.

The reference knows nothing of materialised paths, principals, permission ids or SQL: it reads
plain rows, walks the unit tree through parent links and applies the rules as written in
docs/permissions.md:

- an inactive user sees nothing; an active superuser sees and changes everything;
- everyone sees and changes the customers they own;
- a role's scope for an action covers: "all" → every customer, "subtree" → customers of the home
  unit and every unit below it, "unit" → customers of the home unit, "own"/"none" → nothing more;
  the widest scope of the user's roles counts, and a change scope wider than the view scope widens
  the view scope too (whoever may change a record may see it);
- a live unit grant to one of the user's groups covers the customers of its unit (and of the
  units below it when include_subtree); a view grant serves viewing only, a change grant both;
- a live share with the user, or with one of their groups, covers its customer: a change share for
  both actions, a view share for viewing only;
- "live" means no expiry or an expiry in the future.

Each world is checked three times: as seeded, after a unit is re-parented (through a stale
instance, as an admin form would do after someone else moved an ancestor), and after users move
to other units and a share expires. Every user × action is compared, and so is the same predicate
applied to a related model through a prefix (contact points through "customer__").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from customers.models import ContactPoint, Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory
from sharing.models import (
    CustomerGroupShare,
    CustomerUserShare,
    Membership,
    OrgUnit,
    RolePolicy,
    UnitGrant,
)
from sharing.principal import get_principal, visibility_q

WORLDS = 24
SCOPES = ["none", "own", "unit", "subtree", "all"]
RANK = {s: i for i, s in enumerate(SCOPES)}
ACTIONS = ["view", "change"]


# --- the reference: plain data and plain loops


@dataclass
class World:
    parent: dict[int, int | None] = field(default_factory=dict)  # unit → parent unit
    users: dict[int, dict] = field(default_factory=dict)  # id → {active, superuser, unit, groups}
    policies: dict[int, tuple[str, str]] = field(default_factory=dict)  # group → (view scope, change scope)
    customers: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)  # id → (owner, unit)
    user_shares: list[tuple[int, int, str, object]] = field(default_factory=list)  # (user, customer, perm, expiry)
    group_shares: list[tuple[int, int, str, object]] = field(default_factory=list)
    unit_grants: list[tuple[int, int, str, bool, object]] = field(default_factory=list)  # (group, unit, act, sub, exp)


def load_world() -> World:
    """Read the rows the reference needs, without paths or any derived column."""
    world = World()
    world.parent = dict(OrgUnit.objects.values_list("pk", "parent_id"))
    memberships = dict(Membership.objects.values_list("user_id", "unit_id"))
    for user in get_user_model().objects.prefetch_related("groups"):
        world.users[user.pk] = {
            "active": user.is_active,
            "superuser": user.is_superuser,
            "unit": memberships.get(user.pk),
            "groups": {g.pk for g in user.groups.all()},
        }
    world.policies = {p.group_id: (p.view_scope, p.change_scope) for p in RolePolicy.objects.all()}
    world.customers = {c.pk: (c.owner_id, c.org_unit_id) for c in Customer.objects.all()}
    world.user_shares = [
        (s.user_id, s.content_object_id, s.permission.codename, s.expires_at)
        for s in CustomerUserShare.objects.select_related("permission")
    ]
    world.group_shares = [
        (s.group_id, s.content_object_id, s.permission.codename, s.expires_at)
        for s in CustomerGroupShare.objects.select_related("permission")
    ]
    world.unit_grants = [
        (g.group_id, g.unit_id, g.action, g.include_subtree, g.expires_at) for g in UnitGrant.objects.all()
    ]
    return world


def is_within(world: World, unit: int | None, top: int | None) -> bool:
    """Is `unit` the unit `top` or below it? Walks parent links upwards."""
    seen = set()
    while unit is not None and unit not in seen:
        if unit == top:
            return True
        seen.add(unit)
        unit = world.parent.get(unit)
    return False


def is_live(expiry, now) -> bool:
    return expiry is None or expiry > now


def share_serves(codename: str, action: str) -> bool:
    return codename == "change_customer" or (action == "view" and codename == "view_customer")


def reference_visible(world: World, user_id: int, action: str, now) -> set[int]:
    user = world.users[user_id]
    if not user["active"]:
        return set()
    if user["superuser"]:
        return set(world.customers)
    view, change = "none", "none"
    for group in user["groups"]:
        if group in world.policies:
            v, c = world.policies[group]
            view = v if RANK[v] > RANK[view] else view
            change = c if RANK[c] > RANK[change] else change
    if RANK[change] > RANK[view]:
        view = change
    scope = view if action == "view" else change
    visible = set()
    for customer_id, (owner, unit) in world.customers.items():
        if owner == user_id or scope == "all":
            visible.add(customer_id)
            continue
        home = user["unit"]
        if unit is not None and home is not None:
            if scope == "unit" and unit == home:
                visible.add(customer_id)
                continue
            if scope == "subtree" and is_within(world, unit, home):
                visible.add(customer_id)
                continue
        for group, grant_unit, grant_action, subtree, expiry in world.unit_grants:
            if group not in user["groups"] or not is_live(expiry, now):
                continue
            if action == "change" and grant_action != "change":
                continue
            if unit is not None and (unit == grant_unit or (subtree and is_within(world, unit, grant_unit))):
                visible.add(customer_id)
                break
    for holder, customer_id, codename, expiry in world.user_shares:
        if holder == user_id and is_live(expiry, now) and share_serves(codename, action):
            visible.add(customer_id)
    for group, customer_id, codename, expiry in world.group_shares:
        if group in user["groups"] and is_live(expiry, now) and share_serves(codename, action):
            visible.add(customer_id)
    return visible


# --- random worlds, built through the models


def random_expiry(rng: random.Random, now):
    choice = rng.random()
    if choice < 0.4:
        return None
    if choice < 0.7:
        return now + timedelta(days=rng.randint(1, 30))
    return now - timedelta(days=rng.randint(1, 30))


def build_world(seed: int):
    rng = random.Random(seed)
    now = timezone.now()
    User = get_user_model()

    units: list[OrgUnit] = []
    for i in range(rng.randint(6, 14)):
        parent = rng.choice(units) if units and rng.random() < 0.85 else None
        units.append(OrgUnit.objects.create(name=f"w{seed}u{i}", code=f"W{seed}U{i}", kind="region", parent=parent))

    groups = []
    for i in range(rng.randint(3, 5)):
        group = Group.objects.create(name=f"w{seed}-role{i}")
        RolePolicy.objects.create(
            group=group, code=f"w{seed}-role{i}", view_scope=rng.choice(SCOPES), change_scope=rng.choice(SCOPES)
        )
        groups.append(group)
    for i in range(2):  # plain groups (teams) without a policy: shares and grants only
        groups.append(Group.objects.create(name=f"w{seed}-team{i}"))
    groups += list(Group.objects.filter(policy__code__in=["sales_rep", "sales_manager"]))

    users = []
    for i in range(rng.randint(8, 14)):
        user = User.objects.create_user(
            f"w{seed}user{i}", is_active=rng.random() > 0.08, is_superuser=rng.random() < 0.05
        )
        if rng.random() < 0.85:
            Membership.objects.create(user=user, unit=rng.choice(units), is_manager=rng.random() < 0.2)
        user.groups.set(rng.sample(groups, rng.randint(0, 3)))
        users.append(user)

    customers = []
    for _ in range(rng.randint(20, 35)):
        owner = rng.choice(users) if rng.random() < 0.6 else None
        unit = rng.choice(units) if rng.random() < 0.9 else None
        customer = CustomerFactory(owner=owner, org_unit=unit)
        if rng.random() < 0.5:
            ContactPointFactory(customer=customer)
        customers.append(customer)

    perms = list(
        Permission.objects.filter(
            content_type__app_label="customers", codename__in=["view_customer", "change_customer"]
        )
    )
    for _ in range(rng.randint(5, 20)):
        CustomerUserShare.objects.get_or_create(
            user=rng.choice(users),
            content_object=rng.choice(customers),
            permission=rng.choice(perms),
            defaults={"expires_at": random_expiry(rng, now)},
        )
    for _ in range(rng.randint(2, 10)):
        CustomerGroupShare.objects.get_or_create(
            group=rng.choice(groups),
            content_object=rng.choice(customers),
            permission=rng.choice(perms),
            defaults={"expires_at": random_expiry(rng, now)},
        )
    for _ in range(rng.randint(0, 4)):
        UnitGrant.objects.create(
            group=rng.choice(groups),
            unit=rng.choice(units),
            action=rng.choice(ACTIONS),
            include_subtree=rng.random() < 0.6,
            expires_at=random_expiry(rng, now),
        )
    return rng, units, users


def assert_paths_follow_parents():
    """The materialised paths agree with the parent links (the reference never reads them)."""
    parent = dict(OrgUnit.objects.values_list("pk", "parent_id"))
    for pk, path, depth in OrgUnit.objects.values_list("pk", "path", "depth"):
        chain, node = [], pk
        while node is not None:
            chain.append(node)
            node = parent[node]
        expected = "/" + "/".join(str(n) for n in reversed(chain)) + "/"
        assert (path, depth) == (expected, len(chain) - 1), f"unit {pk}: path {path!r}, expected {expected!r}"


def assert_visible_to_matches_reference(phase: str):
    world = load_world()
    now = timezone.now()
    User = get_user_model()
    contact_customers = dict(ContactPoint.objects.values_list("pk", "customer_id"))
    for user_id in world.users:
        for action in ACTIONS:
            user = User.objects.get(pk=user_id)  # a fresh object: principals are cached per user object
            expected = reference_visible(world, user_id, action, now)
            actual = set(Customer.objects.visible_to(user, action=action).values_list("pk", flat=True))
            assert actual == expected, (
                f"{phase}: user {user.username} {action}: "
                f"visible_to has extra {sorted(actual - expected)}, misses {sorted(expected - actual)}"
            )
            # The same predicate on a related model through a prefix.
            principal = get_principal(user)
            if principal.is_authenticated:
                q = visibility_q(principal, action, prefix="customer__")
                points = ContactPoint.objects.all() if q is None else ContactPoint.objects.filter(q)
                assert set(points.values_list("customer_id", flat=True)) == {
                    c for c in contact_customers.values() if c in expected
                }, f"{phase}: prefixed predicate differs for {user.username} {action}"


def move_a_unit(rng: random.Random, units: list[OrgUnit]):
    """Re-parent a random unit under a unit outside its subtree, saving a stale instance."""
    stale = {u.pk: u for u in units}  # instances loaded before any move: their paths may be outdated
    parent = dict(OrgUnit.objects.values_list("pk", "parent_id"))

    def inside(node, top):
        while node is not None:
            if node == top:
                return True
            node = parent[node]
        return False

    moving = rng.choice(units)
    targets = [u for u in units if not inside(u.pk, moving.pk)]
    instance = stale[moving.pk]
    instance.parent = rng.choice(targets) if targets and rng.random() < 0.85 else None
    instance.name = instance.name + "*"
    instance.save()
    # A second move of a descendant's ancestor, again through stale instances.
    other = rng.choice(units)
    parent = dict(OrgUnit.objects.values_list("pk", "parent_id"))
    targets = [u for u in units if not inside(u.pk, other.pk)]
    if targets:
        stale[other.pk].parent = rng.choice(targets)
        stale[other.pk].save()


def move_people_and_let_time_pass(rng: random.Random, units: list[OrgUnit], users):
    for user in rng.sample(users, min(3, len(users))):
        Membership.objects.update_or_create(user=user, defaults={"unit": rng.choice(units)})
    share = CustomerUserShare.objects.filter(expires_at__isnull=True).order_by("?").first()
    if share is not None:
        CustomerUserShare.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    group = rng.choice(list(Group.objects.filter(name__startswith="w")))
    rng.choice(users).groups.add(group)


@pytest.mark.parametrize("seed", range(WORLDS))
def test_visible_to_agrees_with_the_reference_model(db, seed):
    rng, units, users = build_world(seed)
    assert_paths_follow_parents()
    assert_visible_to_matches_reference("as seeded")

    move_a_unit(rng, units)
    assert_paths_follow_parents()
    assert_visible_to_matches_reference("after moving a unit")

    move_people_and_let_time_pass(rng, units, users)
    assert_visible_to_matches_reference("after moving people and an expiry")


def test_the_reference_model_catches_a_broken_predicate(db, monkeypatch):
    """The comparison is not vacuous: a predicate that forgets group shares is caught."""
    from sharing import principal

    found = False
    for seed in range(WORLDS):
        build_world(1000 + seed)
        if CustomerGroupShare.objects.filter(expires_at__isnull=True).exists():
            found = True
            break
    assert found
    original = principal.visibility_q

    def forgetful(p, action, prefix=""):
        return original(principal.Principal(**{**p.__dict__, "group_ids": frozenset()}), action, prefix)

    monkeypatch.setattr(principal, "visibility_q", forgetful)
    with pytest.raises(AssertionError):
        assert_visible_to_matches_reference("broken")
