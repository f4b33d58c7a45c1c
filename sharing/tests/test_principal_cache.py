"""The cross-request principal cache (sharing/principal.py, ADR 0014).

Every page reads the principal from the shared cache instead of three queries. A cached
principal that outlives a revocation would be a leak, so each way a principal can change is
tested here: the next request (a fresh user object, as the auth middleware loads it) must see the
change at once.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from sharing.models import Membership, OrgUnit, RolePolicy, Scope
from sharing.principal import get_principal
from sharing.services import grant_revoke, unit_grant_create


def next_request(user):
    """The user as the next request sees it: loaded again, nothing memoised on the object."""
    return get_user_model().objects.get(pk=user.pk)


def visible(user):
    return set(Customer.objects.visible_to(next_request(user)).values_list("pk", flat=True))


def test_second_request_builds_the_principal_without_queries(guangdong_sales_manager):
    first = get_principal(next_request(guangdong_sales_manager))
    user = next_request(guangdong_sales_manager)
    with CaptureQueriesContext(connection) as queries:
        again = get_principal(user)
    assert len(queries) == 0
    assert again == first
    assert again.scope("view").unit_ids == first.scope("view").unit_ids and first.scope("view").unit_ids


def test_cached_principal_gets_a_fresh_access_memo(shenzhen_sales_rep):
    first = get_principal(next_request(shenzhen_sales_rep))
    first.access_memo[(1, "view")] = True
    assert get_principal(next_request(shenzhen_sales_rep)).access_memo == {}


@pytest.mark.parametrize("seconds", [0])
def test_off_when_not_configured(settings, shenzhen_sales_rep, seconds):
    settings.CRM_PRINCIPAL_CACHE_SECONDS = seconds
    get_principal(next_request(shenzhen_sales_rep))
    user = next_request(shenzhen_sales_rep)
    with CaptureQueriesContext(connection) as queries:
        get_principal(user)
    assert len(queries) >= 2


def test_removing_the_role_group_takes_effect_on_the_next_request(guangdong_sales_manager, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    assert customer.pk in visible(guangdong_sales_manager)
    guangdong_sales_manager.groups.clear()
    assert customer.pk not in visible(guangdong_sales_manager)
    assert get_principal(next_request(guangdong_sales_manager)).may_create is False


def test_removing_the_user_from_the_group_side_takes_effect(guangdong_sales_manager, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    assert customer.pk in visible(guangdong_sales_manager)
    for group in Group.objects.filter(user=guangdong_sales_manager):
        group.user_set.remove(guangdong_sales_manager)
    assert customer.pk not in visible(guangdong_sales_manager)


def test_narrowing_a_role_policy_takes_effect(guangdong_sales_manager, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    assert customer.pk in visible(guangdong_sales_manager)
    for policy in RolePolicy.objects.filter(group__user=guangdong_sales_manager):
        policy.view_scope = Scope.OWN
        policy.change_scope = Scope.OWN
        policy.save()
    assert customer.pk not in visible(guangdong_sales_manager)


def test_moving_the_membership_takes_effect(guangdong_sales_manager, beijing_sales_rep, shenzhen_sales_rep, org):
    shenzhen = CustomerFactory(owner=shenzhen_sales_rep)
    beijing = CustomerFactory(owner=beijing_sales_rep)
    assert visible(guangdong_sales_manager) >= {shenzhen.pk}
    membership = Membership.objects.get(user=guangdong_sales_manager)
    membership.unit = org["BJ"]
    membership.save()
    seen = visible(guangdong_sales_manager)
    assert beijing.pk in seen and shenzhen.pk not in seen


def test_deleting_the_membership_takes_effect(guangdong_sales_manager, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    assert customer.pk in visible(guangdong_sales_manager)
    Membership.objects.filter(user=guangdong_sales_manager).delete()
    assert customer.pk not in visible(guangdong_sales_manager)


def test_unit_grant_and_its_revocation_take_effect(shenzhen_sales_rep, beijing_sales_rep, beijing_sales_manager, org):
    customer = CustomerFactory(owner=beijing_sales_rep)
    group = Group.objects.create(name="华南支援组")
    shenzhen_sales_rep.groups.add(group)
    assert customer.pk not in visible(shenzhen_sales_rep)
    grant = unit_grant_create(group=group, unit=org["BJ"], granted_by=beijing_sales_manager)
    assert customer.pk in visible(shenzhen_sales_rep)
    grant_revoke(grant=grant, revoked_by=beijing_sales_manager)
    assert customer.pk not in visible(shenzhen_sales_rep)


def test_entry_is_rebuilt_once_its_grant_expiry_has_passed(
    monkeypatch, shenzhen_sales_rep, beijing_sales_rep, beijing_sales_manager, org
):
    """No signal fires when a grant's time runs out: the cached entry must not outlive it."""
    customer = CustomerFactory(owner=beijing_sales_rep)
    group = Group.objects.create(name="短期支援组")
    shenzhen_sales_rep.groups.add(group)
    expiry = timezone.now() + timedelta(hours=1)
    unit_grant_create(group=group, unit=org["BJ"], granted_by=beijing_sales_manager, expires_at=expiry)
    assert customer.pk in visible(shenzhen_sales_rep)
    assert get_principal(next_request(shenzhen_sales_rep)).valid_until == expiry
    later = expiry + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert customer.pk not in visible(shenzhen_sales_rep)


def test_moving_a_unit_in_the_tree_takes_effect(guangdong_sales_manager, beijing_sales_rep, org):
    customer = CustomerFactory(owner=beijing_sales_rep)
    assert customer.pk not in visible(guangdong_sales_manager)
    beijing_region = OrgUnit.objects.get(pk=beijing_sales_rep.membership.unit_id)
    beijing_region.parent = org["GD"]
    beijing_region.save()
    assert customer.pk in visible(guangdong_sales_manager)


def test_deactivated_user_sees_nothing_at_once(shenzhen_sales_rep):
    CustomerFactory(owner=shenzhen_sales_rep)
    assert visible(shenzhen_sales_rep)
    get_user_model().objects.filter(pk=shenzhen_sales_rep.pk).update(is_active=False)
    assert get_principal(next_request(shenzhen_sales_rep)).is_authenticated is False
    assert visible(shenzhen_sales_rep) == set()


def test_list_page_after_revocation(client, guangdong_sales_manager, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="缓存撤销测试有限公司")
    client.force_login(guangdong_sales_manager)
    assert customer.name in client.get("/customers/").content.decode()
    guangdong_sales_manager.groups.clear()
    assert customer.name not in client.get("/customers/").content.decode()


def test_rep_may_create_and_auditor_may_not(shenzhen_sales_rep, auditor):
    assert get_principal(next_request(shenzhen_sales_rep)).may_create is True
    assert get_principal(next_request(auditor)).may_create is False


def test_change_scope_none_everywhere_means_no_create(shenzhen_sales_rep):
    for policy in RolePolicy.objects.filter(group__user=shenzhen_sales_rep):
        policy.change_scope = Scope.NONE
        policy.save()
    assert get_principal(next_request(shenzhen_sales_rep)).may_create is False


def test_visibility_terms_are_built_once_per_request_and_not_kept_past_a_second(shenzhen_sales_rep, monkeypatch):
    """A list request asks for the visibility terms several times; they are built once. They hold the
    time their share subqueries compare `expires_at` with, so a principal older than
    PARTS_MEMO_SECONDS (a long task) builds them again."""
    from sharing import principal as module

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    principal = get_principal(next_request(shenzhen_sales_rep))
    first = module.visibility_parts(principal, "view")
    assert module.visibility_parts(principal, "view") is first
    assert module.visibility_parts(principal, "change") is not first  # another action, its own terms
    clock[0] += module.PARTS_MEMO_SECONDS
    assert module.visibility_parts(principal, "view") is not first
    # The next request's principal (a fresh user object) starts without them.
    assert get_principal(next_request(shenzhen_sales_rep)).parts_memo == {}


def test_a_copy_of_the_principal_with_other_scopes_gets_its_own_terms(guangdong_sales_manager):
    """crm/summaries.py narrows a principal with dataclasses.replace, which shares the memo dict:
    the narrowed copy must not get the unit-wide terms of the original (a leak of every unit)."""
    import dataclasses

    from sharing.principal import ActionScope, visibility_parts

    principal = get_principal(next_request(guangdong_sales_manager))
    wide = visibility_parts(principal, "view")
    assert wide.unit_ids
    narrowed = dataclasses.replace(principal, scopes={"view": ActionScope()})
    assert narrowed.parts_memo is principal.parts_memo
    assert visibility_parts(narrowed, "view").unit_ids == ()
    assert visibility_parts(principal, "view") is wide
