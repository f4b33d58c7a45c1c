"""The admin: only role administrators change roles, memberships and grants; nobody grants to themselves."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from crm.demo import role_group
from customers.tests.factories import CustomerFactory
from sharing.models import CustomerUserShare, Membership, OrgUnit, RolePolicy, UnitGrant


@pytest.fixture
def ordinary_staff(django_user_model, org):
    """Staff with every model permission of auth and sharing, but not a role administrator."""
    user = django_user_model.objects.create_user("staff1", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["auth", "sharing"]))
    Membership.objects.create(user=user, unit=org["HQ"])
    return user


@pytest.fixture
def role_administrator(django_user_model, org):
    """Not a superuser, but holds the "administrator" role (and is staff to enter the admin)."""
    user = django_user_model.objects.create_user("roleadmin", password="pw", is_staff=True)
    user.groups.add(role_group("administrator"))
    Membership.objects.create(user=user, unit=org["HQ"])
    return user


def change_user_url(user):
    return reverse("admin:auth_user_change", args=[user.pk])


def user_form_data(user, **overrides):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "membership-TOTAL_FORMS": "0",
        "membership-INITIAL_FORMS": "0",
        "membership-MIN_NUM_FORMS": "0",
        "membership-MAX_NUM_FORMS": "1",
    }
    data.update(overrides)
    return data


def test_ordinary_staff_cannot_give_anyone_a_role(client_for, ordinary_staff, shenzhen_sales_rep):
    client = client_for(ordinary_staff)
    executive = role_group("executive")
    client.post(change_user_url(shenzhen_sales_rep), user_form_data(shenzhen_sales_rep, groups=[executive.pk]))
    assert not shenzhen_sales_rep.groups.filter(pk=executive.pk).exists()


def test_ordinary_staff_cannot_give_themselves_a_role_or_superuser(client_for, ordinary_staff):
    client = client_for(ordinary_staff)
    admin_group = role_group("administrator")
    client.post(
        change_user_url(ordinary_staff),
        user_form_data(ordinary_staff, groups=[admin_group.pk], is_superuser="on", is_staff="on"),
    )
    ordinary_staff.refresh_from_db()
    assert not ordinary_staff.is_superuser
    assert not ordinary_staff.groups.exists()


def test_ordinary_staff_cannot_touch_an_administrators_account(client_for, ordinary_staff, administrator):
    client = client_for(ordinary_staff)
    assert client.get(reverse("admin:auth_user_password_change", args=[administrator.pk])).status_code == 403
    response = client.post(change_user_url(administrator), user_form_data(administrator, first_name="hacked"))
    assert response.status_code == 403
    administrator.refresh_from_db()
    assert administrator.first_name != "hacked"


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:sharing_orgunit_changelist",
        "admin:sharing_membership_add",
        "admin:sharing_rolepolicy_changelist",
        "admin:sharing_unitgrant_add",
        "admin:sharing_customerusershare_changelist",
        "admin:sharing_accessrequest_changelist",
        "admin:auth_group_add",
    ],
)
def test_ordinary_staff_cannot_open_the_access_admin(client_for, ordinary_staff, url_name):
    assert client_for(ordinary_staff).get(reverse(url_name)).status_code == 403


def test_ordinary_staff_cannot_create_a_unit_grant_by_posting(client_for, ordinary_staff, org):
    response = client_for(ordinary_staff).post(
        reverse("admin:sharing_unitgrant_add"),
        {
            "group": role_group("sales_rep").pk,
            "unit": org["HQ"].pk,
            "action": "view",
            "include_subtree": "on",
            "reason": "x",
        },
    )
    assert response.status_code == 403
    assert not UnitGrant.objects.exists()


def test_a_role_administrator_gives_someone_a_role_and_it_is_logged(client_for, role_administrator, shenzhen_sales_rep):
    client = client_for(role_administrator)
    groups = [role_group("sales_rep").pk, role_group("channel_manager").pk]
    membership = shenzhen_sales_rep.membership
    data = user_form_data(
        shenzhen_sales_rep,
        groups=groups,
        **{
            "membership-TOTAL_FORMS": "1",
            "membership-INITIAL_FORMS": "1",
            "membership-0-id": membership.pk,
            "membership-0-user": shenzhen_sales_rep.pk,
            "membership-0-unit": membership.unit_id,
        },
    )
    response = client.post(change_user_url(shenzhen_sales_rep), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert set(shenzhen_sales_rep.groups.values_list("pk", flat=True)) == set(groups)
    assert LogEntry.objects.filter(additional_data__what="roles_changed", object_pk=str(shenzhen_sales_rep.pk)).exists()


def test_a_role_administrator_cannot_change_their_own_roles(client_for, role_administrator):
    client = client_for(role_administrator)
    client.post(change_user_url(role_administrator), user_form_data(role_administrator, groups=[], is_superuser="on"))
    role_administrator.refresh_from_db()
    assert role_administrator.groups.filter(policy__code="administrator").exists()
    assert not role_administrator.is_superuser


def test_nobody_edits_their_own_membership(client_for, administrator):
    membership = administrator.membership
    client = client_for(administrator)
    assert client.get(reverse("admin:sharing_membership_change", args=[membership.pk])).status_code == 200  # view only
    response = client.post(
        reverse("admin:sharing_membership_change", args=[membership.pk]),
        {"user": administrator.pk, "unit": membership.unit_id, "is_manager": "on"},
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert not membership.is_manager


def test_even_an_administrator_cannot_grant_themselves_a_share_in_the_admin(client_for, administrator):
    customer = CustomerFactory()
    client = client_for(administrator)
    assert client.get(reverse("admin:sharing_customerusershare_add")).status_code == 403
    response = client.post(
        reverse("admin:sharing_customerusershare_add"),
        {
            "user": administrator.pk,
            "content_object": customer.pk,
            "permission": Permission.objects.get(codename="change_customer").pk,
        },
    )
    assert response.status_code == 403
    assert not CustomerUserShare.objects.exists()


def test_an_administrator_cannot_grant_a_unit_to_a_group_they_belong_to(client_for, administrator, org):
    response = client_for(administrator).post(
        reverse("admin:sharing_unitgrant_add"),
        {
            "group": role_group("administrator").pk,
            "unit": org["GD"].pk,
            "action": "change",
            "include_subtree": "on",
            "reason": "我自己",
        },
    )
    assert response.status_code == 200  # the form comes back with the error
    assert (
        "You cannot grant access to a group you belong to." in response.content.decode()
        or "您不能" in response.content.decode()
    )
    assert not UnitGrant.objects.exists()


def test_a_unit_grant_made_in_the_admin_goes_through_the_service(client_for, administrator, org):
    auditors = role_group("auditor")
    expires = timezone.localtime() + timedelta(days=30)
    response = client_for(administrator).post(
        reverse("admin:sharing_unitgrant_add"),
        {
            "group": auditors.pk,
            "unit": org["GD"].pk,
            "action": "view",
            "include_subtree": "on",
            "expires_at_0": expires.date().isoformat(),
            "expires_at_1": "18:00:00",
            "reason": "年度审计",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = UnitGrant.objects.get()
    assert grant.granted_by == administrator
    assert LogEntry.objects.filter(additional_data__what="unit_grant_created").exists()
    client_for(administrator).post(reverse("admin:sharing_unitgrant_delete", args=[grant.pk]), {"post": "yes"})
    assert not UnitGrant.objects.exists()
    assert LogEntry.objects.filter(additional_data__what="grant_revoked").exists()


def test_role_policies_reject_unknown_field_groups_and_levels(client_for, administrator):
    policy = RolePolicy.objects.get(code="sales_rep")
    url = reverse("admin:sharing_rolepolicy_change", args=[policy.pk])
    data = {
        "group": policy.group_id,
        "code": policy.code,
        "view_scope": policy.view_scope,
        "change_scope": policy.change_scope,
        "field_levels": '{"salary": 2}',
        "interaction_kinds": "[]",
    }
    response = client_for(administrator).post(url, data)
    assert response.status_code == 200
    assert "salary" in response.content.decode()
    data["field_levels"] = '{"contact": 7}'
    assert client_for(administrator).post(url, data).status_code == 200
    policy.refresh_from_db()
    assert policy.field_levels.get("contact") == 1


def test_moving_a_unit_in_the_admin_rewrites_the_subtree_and_is_logged(client_for, administrator, org):
    region = org["GD-SZ"]
    response = client_for(administrator).post(
        reverse("admin:sharing_orgunit_change", args=[region.pk]),
        {
            "name": region.name,
            "code": region.code,
            "kind": region.kind,
            "parent": org["BJ"].pk,
            "is_active": "on",
            "pool_days": 30,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    dealer = OrgUnit.objects.get(code="GD-SZ-D1")
    assert dealer.path.startswith(OrgUnit.objects.get(code="BJ").path)
    assert LogEntry.objects.filter(additional_data__what="org_unit_moved").exists()


def test_a_unit_cannot_be_moved_under_itself(client_for, administrator, org):
    response = client_for(administrator).post(
        reverse("admin:sharing_orgunit_change", args=[org["GD"].pk]),
        {
            "name": "x",
            "code": "GD",
            "kind": "province",
            "parent": org["GD-SZ-D1"].pk,
            "is_active": "on",
            "pool_days": 30,
        },
    )
    assert response.status_code == 200
    assert OrgUnit.objects.get(code="GD").parent == org["HQ"]


def test_customer_is_never_registered_with_guardians_object_permission_admin(monkeypatch):
    from django.contrib import admin
    from guardian.admin import GuardedModelAdmin

    from customers.models import Customer
    from sharing.admin import customer_admin_is_not_guarded

    assert customer_admin_is_not_guarded() == []
    monkeypatch.setitem(admin.site._registry, Customer, GuardedModelAdmin(Customer, admin.site))
    assert [e.id for e in customer_admin_is_not_guarded()] == ["sharing.E001"]


def test_group_admin_shows_the_role_policy_inline(client_for, administrator):
    group = Group.objects.get(policy__code="sales_manager")
    html = client_for(administrator).get(reverse("admin:auth_group_change", args=[group.pk])).content.decode()
    assert "view_scope" in html and "can_manage_access" in html
