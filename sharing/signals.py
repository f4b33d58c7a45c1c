"""Signal handlers of the sharing app.

- Share usage: the permission review lists shares nobody used for 90 days. "Used" means the share
  is what let its holder open the customer: whenever a sensitive read of a customer is logged
  (`sharing.audit.log_access`, which the 360 view, unmasking and exports call), the actor's live
  shares of that customer get `last_used_at = now`, at most once a day per share and only when the
  actor's own scope (owner, role scope, unit grants) would not have shown the customer anyway.
  Hooking the access log keeps the other apps free of sharing calls: logging the read is already
  required of them (TESTING.md T2).
- Changes to the org tree, memberships and role policies are audited by django-auditlog (they
  change who sees what); shares and grants are logged by sharing.services.
- After `migrate`/`flush` the permission ids the visibility predicate caches may have changed
  (the test suite's transactional tests flush and recreate permissions): drop the cache.
"""

from __future__ import annotations

from datetime import timedelta

from auditlog.models import LogEntry
from django.db import connection
from django.db.models import Q
from django.db.models.signals import post_migrate, post_save
from django.dispatch import receiver
from django.utils import timezone

TOUCH_INTERVAL = timedelta(days=1)


def register_audited_models() -> None:
    from auditlog.registry import auditlog

    from sharing.models import Membership, OrgUnit, RolePolicy

    for model in (OrgUnit, Membership, RolePolicy):
        if not auditlog.contains(model):
            auditlog.register(model)


register_audited_models()


@receiver(post_migrate, dispatch_uid="sharing.reset_permission_cache")
def reset_permission_cache(**kwargs):
    from sharing import principal

    principal._PERMISSION_IDS.clear()


@receiver(post_save, sender=LogEntry, dispatch_uid="sharing.touch_shares_on_access")
def touch_shares_on_access(sender, instance: LogEntry, created: bool, **kwargs):
    if not created or instance.action != LogEntry.Action.ACCESS or not instance.actor_id:
        return
    from django.contrib.contenttypes.models import ContentType

    from customers.models import Customer

    if instance.content_type_id != ContentType.objects.get_for_model(Customer).pk:
        return
    try:
        customer_id = int(instance.object_pk)
    except (TypeError, ValueError):
        return
    shares_touch(actor=instance.actor, customer_id=customer_id, detail=instance.additional_data or {})


def shares_touch(*, actor, customer_id: int, detail: dict) -> None:
    """Mark the actor's shares (and unmask grant) of one customer as used, at most once a day.

    One statement on PostgreSQL (one UPDATE per kind of share elsewhere), and none at all for a
    principal who sees every customer anyway. The customer filters make the update a no-op when the
    actor owns the customer or has it in scope, so only shares that were actually needed count as used.
    """
    from sharing.models import Action, UnmaskGrant
    from sharing.principal import IN_OWN_SCOPE, get_principal

    principal = get_principal(actor)
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_INTERVAL)
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    if detail.get("what") == "unmask" and detail.get("field_group"):
        UnmaskGrant.objects.filter(live, stale, user_id=principal.user_id, customer_id=customer_id).filter(
            field_group=detail["field_group"]
        ).update(last_used_at=now)
    scope = principal.scope(Action.VIEW)
    if scope.sees_all or principal.access_memo.get((customer_id, IN_OWN_SCOPE)):
        # Seen through the actor's own scope (the page that loaded the customer knew): no share was needed.
        return
    if connection.vendor == "postgresql":
        _shares_touch_postgresql(principal, customer_id, sorted(scope.unit_ids), now)
    else:
        _shares_touch_orm(principal, customer_id, sorted(scope.unit_ids), now)


def _shares_touch_orm(principal, customer_id: int, unit_ids: list[int], now) -> None:
    """One UPDATE per kind of share: those of the actor (or the actor's groups) on the customer,
    live and not touched today, when neither ownership nor a unit of the scope shows the customer."""
    from sharing.models import CustomerGroupShare, CustomerUserShare

    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_INTERVAL)
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    needed = ~Q(content_object__owner_id=principal.user_id)
    if unit_ids:
        needed &= ~Q(content_object__org_unit_id__in=unit_ids)
    CustomerUserShare.objects.filter(
        live, stale, needed, user_id=principal.user_id, content_object_id=customer_id
    ).update(last_used_at=now)
    if principal.group_ids:
        CustomerGroupShare.objects.filter(
            live, stale, needed, group_id__in=sorted(principal.group_ids), content_object_id=customer_id
        ).update(last_used_at=now)


_TOUCH_SQL = """
WITH customer AS (
    SELECT id FROM {customers} WHERE id = %(customer)s
        AND owner_id IS DISTINCT FROM %(user)s
        AND (org_unit_id IS NULL OR NOT org_unit_id = ANY(%(units)s::bigint[]))
), user_shares AS (
    UPDATE {user_shares} SET last_used_at = %(now)s
    WHERE content_object_id IN (SELECT id FROM customer) AND user_id = %(user)s
        AND (expires_at IS NULL OR expires_at > %(now)s)
        AND (last_used_at IS NULL OR last_used_at < %(stale)s)
    RETURNING 1
)
UPDATE {group_shares} SET last_used_at = %(now)s
WHERE content_object_id IN (SELECT id FROM customer) AND group_id = ANY(%(groups)s::integer[])
    AND (expires_at IS NULL OR expires_at > %(now)s)
    AND (last_used_at IS NULL OR last_used_at < %(stale)s)
"""


def _shares_touch_postgresql(principal, customer_id: int, unit_ids: list[int], now) -> None:
    """The two UPDATEs of `shares_touch` as one statement (data-modifying CTE): one round trip and
    no ORM compilation on the 360 page of everyone who opened the customer through a share. Same
    rows: the customer is the one the share is of, neither owned by the actor nor in a unit of the
    actor's view scope (NULL owner or unit counts as "not"), the share live and not touched today."""
    from customers.models import Customer
    from sharing.models import CustomerGroupShare, CustomerUserShare

    sql = _TOUCH_SQL.format(
        customers=connection.ops.quote_name(Customer._meta.db_table),
        user_shares=connection.ops.quote_name(CustomerUserShare._meta.db_table),
        group_shares=connection.ops.quote_name(CustomerGroupShare._meta.db_table),
    )
    params = {
        "customer": customer_id,
        "user": principal.user_id,
        "units": unit_ids,
        "groups": sorted(principal.group_ids),
        "now": now,
        "stale": now - TOUCH_INTERVAL,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def connect_principal_cache_signals() -> None:
    """Void cached principals (sharing.principal, ADR 0014) whenever what they are built from changes."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, post_delete

    from sharing.models import Membership, OrgUnit, RolePolicy, UnitGrant
    from sharing.principal import sharing_changed

    for model in (Group, RolePolicy, Membership, UnitGrant, OrgUnit):
        label = model._meta.label_lower
        post_save.connect(sharing_changed, sender=model, dispatch_uid=f"sharing.principal_cache.save.{label}")
        post_delete.connect(sharing_changed, sender=model, dispatch_uid=f"sharing.principal_cache.delete.{label}")
    m2m_changed.connect(
        sharing_changed, sender=get_user_model().groups.through, dispatch_uid="sharing.principal_cache.user_groups"
    )


connect_principal_cache_signals()


def forget_unread_count(user_id: int) -> None:
    """Drop the cached unread-notification count of a user (sharing.selectors), now and after commit."""
    from django.core.cache import cache
    from django.db import transaction

    from sharing.selectors import unread_cache_key

    key = unread_cache_key(user_id)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def _notification_changed(sender, instance, **kwargs):
    forget_unread_count(instance.user_id)


def connect_unread_count_signals() -> None:
    from django.db.models.signals import post_delete

    from sharing.models import Notification

    post_save.connect(_notification_changed, sender=Notification, dispatch_uid="sharing.unread_count.save")
    post_delete.connect(_notification_changed, sender=Notification, dispatch_uid="sharing.unread_count.delete")


connect_unread_count_signals()
