"""Share usage for the review (from the access log) and the expiry task."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.demo import role_group
from customers.tests.factories import CustomerFactory
from sharing.audit import log_access
from sharing.models import Action, CustomerGroupShare, CustomerUserShare, UnitGrant, UnmaskGrant
from sharing.services import share_grant, unit_grant_create, unmask_grant_create
from sharing.tasks import shares_expire_task


@pytest.fixture
def shared(guangzhou_sales_rep, shenzhen_sales_rep, guangdong_sales_manager):
    customer = CustomerFactory(owner=guangzhou_sales_rep)
    share = share_grant(
        customer=customer, action=Action.VIEW, user=shenzhen_sales_rep, granted_by=guangdong_sales_manager
    )
    return customer, share


def test_opening_a_customer_through_a_share_marks_the_share_used(shenzhen_sales_rep, shared):
    customer, share = shared
    assert share.last_used_at is None
    log_access(actor=shenzhen_sales_rep, obj=customer, what="view_360")
    share.refresh_from_db()
    assert share.last_used_at is not None


def test_the_mark_is_written_at_most_once_a_day(shenzhen_sales_rep, shared):
    customer, share = shared
    an_hour_ago = timezone.now() - timedelta(hours=1)
    CustomerUserShare.objects.filter(pk=share.pk).update(last_used_at=an_hour_ago)
    log_access(actor=shenzhen_sales_rep, obj=customer, what="view_360")
    share.refresh_from_db()
    assert share.last_used_at == an_hour_ago
    two_days_ago = timezone.now() - timedelta(days=2)
    CustomerUserShare.objects.filter(pk=share.pk).update(last_used_at=two_days_ago)
    log_access(actor=shenzhen_sales_rep, obj=customer, what="view_360")
    share.refresh_from_db()
    assert share.last_used_at > two_days_ago


def test_a_share_the_holder_did_not_need_is_not_marked(guangdong_sales_manager, guangzhou_sales_rep, hq_executive):
    """The Guangdong manager sees Guangzhou customers through the subtree scope anyway."""
    customer = CustomerFactory(owner=guangzhou_sales_rep)
    share = share_grant(customer=customer, action=Action.VIEW, user=guangdong_sales_manager, granted_by=hq_executive)
    log_access(actor=guangdong_sales_manager, obj=customer, what="view_360")
    share.refresh_from_db()
    assert share.last_used_at is None


def test_a_group_share_is_marked_when_a_member_uses_it(
    shenzhen_sales_rep, guangzhou_sales_rep, guangdong_sales_manager
):
    customer = CustomerFactory(owner=guangzhou_sales_rep)
    share = share_grant(
        customer=customer, action=Action.VIEW, group=role_group("sales_rep"), granted_by=guangdong_sales_manager
    )
    log_access(actor=shenzhen_sales_rep, obj=customer, what="view_360")
    share.refresh_from_db()
    assert share.last_used_at is not None


def test_other_log_entries_mark_nothing(shenzhen_sales_rep, shared):
    from sharing.audit import log_event

    customer, share = shared
    log_event(actor=shenzhen_sales_rep, obj=customer, what="something_written")
    share.refresh_from_db()
    assert share.last_used_at is None


def test_the_expiry_task_deletes_expired_shares_and_grants_and_is_idempotent(
    shenzhen_sales_rep, guangdong_sales_manager, org, shared
):
    customer, live_share = shared
    past = timezone.now() - timedelta(minutes=1)
    expired = share_grant(
        customer=CustomerFactory(),
        action=Action.VIEW,
        user=shenzhen_sales_rep,
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    group_share = share_grant(
        customer=customer,
        action=Action.VIEW,
        group=role_group("auditor"),
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    grant = unit_grant_create(
        group=role_group("auditor"),
        unit=org["GD"],
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    unmask = unmask_grant_create(
        user=shenzhen_sales_rep,
        customer=customer,
        field_group="contact",
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    CustomerUserShare.objects.filter(pk=expired.pk).update(expires_at=past)
    CustomerGroupShare.objects.filter(pk=group_share.pk).update(expires_at=past)
    UnitGrant.objects.filter(pk=grant.pk).update(expires_at=past)
    UnmaskGrant.objects.filter(pk=unmask.pk).update(expires_at=past)

    assert shares_expire_task.apply().get() == 4
    assert shares_expire_task.apply().get() == 0
    assert list(CustomerUserShare.objects.all()) == [live_share]
    assert not CustomerGroupShare.objects.exists()
    assert not UnitGrant.objects.exists()
    assert not UnmaskGrant.objects.exists()


def test_the_beat_schedule_names_the_task():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["sharing-expire-shares"]["task"] == shares_expire_task.name


def test_the_permission_id_cache_is_dropped_after_migrate(db):
    from django.db.models.signals import post_migrate

    from sharing import principal

    principal.share_permission_ids("view")
    assert principal._PERMISSION_IDS
    from django.apps import apps

    post_migrate.send(
        sender=apps.get_app_config("sharing"),
        app_config=apps.get_app_config("sharing"),
        verbosity=0,
        interactive=False,
        using="default",
        apps=apps,
        plan=[],
    )
    assert not principal._PERMISSION_IDS
