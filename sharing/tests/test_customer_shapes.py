"""The customer predicate's other SQL shapes agree with the naive reference model.

The customer list of a share-heavy principal (docs/adr/0016-share-heavy-customer-list.md) writes
sharing's one predicate — from `visibility_parts` — in two more shapes: `visible_to(shape=UNION)`
(`id IN (customers in scope UNION ALL live shares' customers)`, also on SQLite) and
`row_visibility_sql` over a derived table of candidates (PostgreSQL, per-row probes or hashed).
Each is checked against the reference of test_reference_model.py over random worlds, for every
user and both actions, as seeded and after an expiry.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from customers.models import Customer
from customers.querysets import UNION, row_visibility_sql
from sharing.models import CustomerGroupShare, CustomerUserShare
from sharing.principal import get_principal, visibility_parts
from sharing.tests.test_reference_model import ACTIONS, build_world, load_world, reference_visible

WORLDS = 12


def row_shape_visible(user, action: str, *, per_row: bool) -> set[int]:
    parts = visibility_parts(get_principal(user), action)
    if parts is None:
        return set(Customer.objects.values_list("pk", flat=True))
    visible_sql, params = row_visibility_sql(parts, "c", connection, per_row=per_row)
    source = "(SELECT id, owner_id, org_unit_id FROM customers_customer) AS c (id, owner_id, org_unit_id)"
    sql = f"SELECT c.id FROM {source} WHERE {visible_sql}"  # noqa: S608 (ORM-compiled)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def assert_shapes_match_reference(phase: str):
    world = load_world()
    now = timezone.now()
    for user_id in world.users:
        for action in ACTIONS:
            user = get_user_model().objects.get(pk=user_id)
            expected = reference_visible(world, user_id, action, now)
            union = set(Customer.objects.visible_to(user, action=action, shape=UNION).values_list("pk", flat=True))
            assert union == expected, f"{phase}: union shape, {user.username} {action}"
            if connection.vendor == "postgresql" and get_principal(user).is_authenticated:
                for per_row in (False, True):
                    rows = row_shape_visible(user, action, per_row=per_row)
                    assert rows == expected, f"{phase}: row shape (per_row={per_row}), {user.username} {action}"


@pytest.mark.parametrize("seed", range(WORLDS))
def test_the_list_shapes_agree_with_the_reference_model(db, seed):
    build_world(2000 + seed)
    assert_shapes_match_reference("as seeded")
    past = timezone.now() - timedelta(seconds=1)
    for model in (CustomerUserShare, CustomerGroupShare):
        share = model.objects.filter(expires_at__isnull=True).order_by("pk").first()
        if share is not None:
            model.objects.filter(pk=share.pk).update(expires_at=past)
    assert_shapes_match_reference("after two shares expired")


def test_the_comparison_catches_a_shape_that_forgets_group_shares(db, monkeypatch):
    """Not vacuous: a row shape that drops the group shares is caught."""
    from customers import querysets

    for seed in range(WORLDS):
        build_world(3000 + seed)
        if CustomerGroupShare.objects.filter(expires_at__isnull=True).exists():
            break
    original = querysets.union_visibility_q

    def forgetful(parts):
        return original(type(parts)(owner_id=parts.owner_id, unit_ids=parts.unit_ids, shares=parts.shares[:1]))

    monkeypatch.setattr(querysets, "union_visibility_q", forgetful)
    with pytest.raises(AssertionError):
        assert_shapes_match_reference("broken")
