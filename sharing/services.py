"""Writes of the sharing app: shares, grants, access requests, revocation. All of them audited."""

from __future__ import annotations

from datetime import timedelta

from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from sharing.audit import log_event
from sharing.models import (
    AccessRequest,
    Action,
    CustomerGroupShare,
    CustomerUserShare,
    Membership,
    Notification,
    UnitGrant,
    UnmaskGrant,
)
from sharing.principal import forget_principal

MAX_SHARE_DAYS = 366


def _permission(action: str) -> Permission:
    codename = "change_customer" if action == Action.CHANGE else "view_customer"
    return Permission.objects.get(content_type__app_label="customers", codename=codename)


def share_grant(
    *, customer, action: str, granted_by, user=None, group=None, expires_at=None, reason="", access_request=None
):
    """Share one customer with a user or a group (view or change), optionally until `expires_at`."""
    if (user is None) == (group is None):
        raise ValueError("share with exactly one of user or group")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(_("The expiry must be in the future."))
    permission = _permission(action)
    model, target = (CustomerUserShare, {"user": user}) if user is not None else (CustomerGroupShare, {"group": group})
    share, _created = model.objects.update_or_create(
        content_object=customer,
        permission=permission,
        **target,
        defaults={
            "expires_at": expires_at,
            "granted_by": granted_by,
            "reason": reason,
            "access_request": access_request,
        },
    )
    log_event(
        actor=granted_by,
        obj=customer,
        what="share_granted",
        action=LogEntry.Action.UPDATE,
        to_user=getattr(user, "username", None),
        to_group=getattr(group, "name", None),
        permission=action,
        expires_at=expires_at.isoformat() if expires_at else None,
        reason=reason,
    )
    if user is not None:
        forget_principal(user)
    return share


def share_revoke(*, share, revoked_by, reason=""):
    """Delete a share; effective on the next request."""
    customer = share.content_object
    target = getattr(share, "user", None) or getattr(share, "group", None)
    log_event(
        actor=revoked_by,
        obj=customer,
        what="share_revoked",
        target=str(target),
        permission=share.permission.codename,
        reason=reason,
    )
    share.delete()


def unit_grant_create(*, group, unit, action=Action.VIEW, include_subtree=True, expires_at=None, granted_by, reason=""):
    grant = UnitGrant.objects.create(
        group=group,
        unit=unit,
        action=action,
        include_subtree=include_subtree,
        expires_at=expires_at,
        granted_by=granted_by,
        reason=reason,
    )
    log_event(actor=granted_by, obj=grant, what="unit_grant_created", action=LogEntry.Action.CREATE, reason=reason)
    return grant


def unmask_grant_create(*, user, customer, field_group, granted_by, expires_at, reason="", access_request=None):
    grant = UnmaskGrant.objects.create(
        user=user,
        customer=customer,
        field_group=field_group,
        granted_by=granted_by,
        expires_at=expires_at,
        reason=reason,
        access_request=access_request,
    )
    log_event(
        actor=granted_by,
        obj=customer,
        what="unmask_granted",
        to_user=user.username,
        field_group=field_group,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return grant


def grant_revoke(*, grant, revoked_by, reason=""):
    """Revoke a unit grant or an unmask grant."""
    obj = grant.customer if isinstance(grant, UnmaskGrant) else grant
    log_event(actor=revoked_by, obj=obj, what="grant_revoked", grant=str(grant), reason=reason)
    grant.delete()


def shares_expire(now=None) -> int:
    """Delete expired shares and grants (visible_to already ignores them). Returns rows removed."""
    now = now or timezone.now()
    removed = 0
    for model in (CustomerUserShare, CustomerGroupShare, UnitGrant, UnmaskGrant):
        removed += model.objects.filter(expires_at__lte=now).delete()[0]
    return removed


# --- access requests


def approvers_for(user):
    """Managers of the requester's unit (or, if it has none, the nearest ancestor's) and their delegates."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    membership = Membership.objects.select_related("unit").filter(user=user).first()
    if membership is None:
        return User.objects.none()
    for unit in reversed(list(membership.unit.ancestors())):
        managers = Membership.objects.filter(unit=unit, is_manager=True, user__is_active=True).exclude(user=user)
        if managers.exists():
            ids = set(managers.values_list("user_id", flat=True))
            ids |= set(managers.exclude(approval_delegate=None).values_list("approval_delegate_id", flat=True))
            # A requester who is their own manager's delegate still may not approve themselves.
            return User.objects.filter(pk__in=ids, is_active=True).exclude(pk=user.pk)
    return User.objects.none()


def notify(*, user, message: str, url: str = "") -> Notification:
    return Notification.objects.create(user=user, message=message[:300], url=url)


def access_request_create(*, requester, customer, kind, reason, duration_days=7, field_group=""):
    """Ask for access to one customer. The customer may be invisible to the requester."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Please give a reason.")})
    if not 1 <= int(duration_days) <= 90:
        raise ValidationError({"duration_days": _("Duration must be between 1 and 90 days.")})
    if kind == AccessRequest.Kind.UNMASK and not field_group:
        raise ValidationError({"field_group": _("Choose the field group to unmask.")})
    if AccessRequest.objects.filter(
        requester=requester, customer=customer, kind=kind, field_group=field_group, status=AccessRequest.Status.PENDING
    ).exists():
        raise ValidationError(_("You already have a pending request for this."))
    approvers = list(approvers_for(requester))
    if not approvers:
        raise ValidationError(_("Nobody can approve your request: your unit has no manager. Ask an administrator."))
    request_obj = AccessRequest.objects.create(
        requester=requester,
        customer=customer,
        kind=kind,
        field_group=field_group,
        reason=reason,
        duration_days=duration_days,
    )
    log_event(actor=requester, obj=request_obj, what="access_requested", action=LogEntry.Action.CREATE)
    for approver in approvers:
        notify(
            user=approver,
            message=_("%(user)s asks for access to customer %(number)s")
            % {"user": requester.get_full_name() or requester.username, "number": customer.number},
            url="/sharing/inbox/",
        )
    return request_obj


def can_decide(user, access_request) -> bool:
    return user.is_active and approvers_for(access_request.requester).filter(pk=user.pk).exists()


@transaction.atomic
def access_request_decide(*, access_request, decided_by, approve: bool, comment=""):
    """Approve (creating an expiring share or unmask grant) or reject. Only the requester's managers."""
    access_request = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
    if access_request.status != AccessRequest.Status.PENDING:
        raise ValidationError(_("This request has already been decided."))
    if not can_decide(decided_by, access_request):
        raise PermissionDenied(_("Only the requester's manager or their delegate may decide."))
    now = timezone.now()
    access_request.status = AccessRequest.Status.APPROVED if approve else AccessRequest.Status.REJECTED
    access_request.decided_by = decided_by
    access_request.decided_at = now
    access_request.decision_comment = comment
    access_request.save()
    if approve:
        expires_at = now + timedelta(days=access_request.duration_days)
        reason = _("Access request #%(id)s") % {"id": access_request.pk}
        if access_request.kind == AccessRequest.Kind.UNMASK:
            unmask_grant_create(
                user=access_request.requester,
                customer=access_request.customer,
                field_group=access_request.field_group,
                granted_by=decided_by,
                expires_at=expires_at,
                reason=reason,
                access_request=access_request,
            )
        else:
            share_grant(
                customer=access_request.customer,
                action=access_request.kind,
                user=access_request.requester,
                granted_by=decided_by,
                expires_at=expires_at,
                reason=reason,
                access_request=access_request,
            )
    notify(
        user=access_request.requester,
        message=(
            _("Your request for %(number)s was approved") if approve else _("Your request for %(number)s was rejected")
        )
        % {"number": access_request.customer.number},
        url=f"/customers/{access_request.customer_id}/" if approve else "/sharing/requests/",
    )
    return access_request


def shares_for_customer(customer):
    """Live shares of one customer (for permission review)."""
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    return (
        list(CustomerUserShare.objects.filter(live, content_object=customer).select_related("user", "permission")),
        list(CustomerGroupShare.objects.filter(live, content_object=customer).select_related("group", "permission")),
    )


def notifications_mark_read(*, user, ids=None) -> int:
    """Mark the user's unread notifications (or only `ids`) as read. Returns how many changed."""
    from sharing.signals import forget_unread_count

    qs = Notification.objects.filter(user_id=user.pk, is_read=False)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    changed = qs.update(is_read=True)
    forget_unread_count(user.pk)
    return changed


@transaction.atomic
def access_request_withdraw(*, access_request, withdrawn_by):
    """The requester takes back a pending request."""
    access_request = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
    if access_request.requester_id != withdrawn_by.pk:
        raise PermissionDenied(_("Only the requester may withdraw a request."))
    if access_request.status != AccessRequest.Status.PENDING:
        raise ValidationError(_("This request has already been decided."))
    access_request.status = AccessRequest.Status.WITHDRAWN
    access_request.decided_at = timezone.now()
    access_request.save(update_fields=["status", "decided_at", "updated_at"])
    log_event(actor=withdrawn_by, obj=access_request, what="access_request_withdrawn")
    return access_request


def unit_grant_update(*, grant, changed_by, expires_at=None, reason=None):
    """Change a unit grant's expiry or reason (what it covers is fixed: revoke and grant anew)."""
    changes = {}
    if expires_at != grant.expires_at:
        changes["expires_at"] = [
            grant.expires_at.isoformat() if grant.expires_at else None,
            expires_at.isoformat() if expires_at else None,
        ]
        grant.expires_at = expires_at
    if reason is not None and reason != grant.reason:
        changes["reason"] = [grant.reason, reason]
        grant.reason = reason
    if changes:
        grant.save(update_fields=["expires_at", "reason"])
        log_event(actor=changed_by, obj=grant, what="unit_grant_changed", changes=changes)
    return grant
