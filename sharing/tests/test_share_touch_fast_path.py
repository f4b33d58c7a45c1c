"""Share usage marked in one statement on PostgreSQL (sharing.signals._shares_touch_postgresql).

The 360 page of everyone who opened a customer through a share marks the share used; PostgreSQL
does it in one statement instead of an UPDATE per kind of share. It must mark exactly the rows the
ORM updates mark — per owner / unit / share state / group — or the permission review would call a
needed share unused (or an unneeded one used).
"""

from datetime import timedelta
from itertools import product

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from sharing.models import Action, CustomerGroupShare, CustomerUserShare
from sharing.principal import forget_principal, get_principal
from sharing.signals import _shares_touch_orm, _shares_touch_postgresql

pytestmark = pytest.mark.django_db

STATES = ("never", "two_days_ago", "an_hour_ago", "expired")


def _initial(state, now):
    """(expires_at, last_used_at) of a share in that state."""
    return {
        "never": (None, None),
        "two_days_ago": (now + timedelta(days=3), now - timedelta(days=2)),
        "an_hour_ago": (None, now - timedelta(hours=1)),
        "expired": (now - timedelta(minutes=1), None),
    }[state]


@pytest.mark.parametrize("persona", ["shenzhen_sales_rep", "guangdong_sales_manager"])
def test_the_one_statement_marks_exactly_the_shares_the_orm_updates_mark(
    request, persona, org, guangzhou_sales_rep, hq_executive
):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement mark is PostgreSQL's")
    actor = request.getfixturevalue(persona)
    now = timezone.now()
    view = Permission.objects.get(content_type__app_label="customers", codename="view_customer")
    own_group, other_group = actor.groups.first(), Group.objects.create(name="不相干的组")
    ownerships = {
        "owned": {"owner": actor, "org_unit": org["BJ"]},
        "in_the_scope's_unit": {"owner": guangzhou_sales_rep, "org_unit": org["GD-GZ"]},
        "outside": {"owner": hq_executive, "org_unit": org["BJ"]},
        "no_owner_no_unit": {"owner": None, "org_unit": None},
    }
    shares = []
    for fields, state in product(ownerships.values(), STATES):
        customer = CustomerFactory(**fields)
        expires_at, last_used_at = _initial(state, now)
        common = {"content_object": customer, "permission": view, "expires_at": expires_at}
        shares += [
            (CustomerUserShare.objects.create(user=actor, **common), last_used_at),
            (CustomerGroupShare.objects.create(group=own_group, **common), last_used_at),
            (CustomerGroupShare.objects.create(group=other_group, **common), last_used_at),
        ]
    forget_principal(actor)
    principal = get_principal(actor)
    units = sorted(principal.scope(Action.VIEW).unit_ids)
    customer_ids = sorted({share.content_object_id for share, _initial_use in shares})

    def marked(touch) -> set:
        for share, last_used_at in shares:
            type(share).objects.filter(pk=share.pk).update(last_used_at=last_used_at)
        for customer_id in customer_ids:
            touch(principal, customer_id, units, now)
        return {
            (type(share).__name__, share.pk)
            for share, _initial_use in shares
            if type(share).objects.get(pk=share.pk).last_used_at == now
        }

    orm, one_statement = marked(_shares_touch_orm), marked(_shares_touch_postgresql)
    assert one_statement == orm
    # Not trivially equal: the needed, live, stale shares of the actor and the actor's group were marked …
    assert len(orm) >= 2 * 2 * 2  # (outside, no owner) × (never, two days ago) × (user, own group)
    # … and never a share of another group, an expired one, or one of a customer the actor owns.
    by_key = {(type(share).__name__, share.pk): share for share, _initial_use in shares}
    for key in orm:
        share = by_key[key]
        assert getattr(share, "group_id", own_group.pk) == own_group.pk
        assert share.expires_at is None or share.expires_at > now
        assert share.content_object.owner_id != actor.pk
