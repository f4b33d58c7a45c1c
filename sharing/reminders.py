"""Reminders: in-app notifications (and emails) created at most once per user, kind and event.

Every reminder job calls `remind()`. It is the only place that decides whether a reminder goes
out, so the rules hold for all kinds alike:

- **once per event**: `(user, kind, event_key)` is unique in the database (partial constraint on
  Notification); a second call, or a second worker racing the first, creates nothing;
- **muted kinds are skipped** (ReminderMute), in the app and by email;
- **never about a customer the user cannot see**: pass `customer=` and the recipient is checked
  with `Customer.objects.visible_to` before anything is written;
- **email is delivered by a task with retries**; each attempt is recorded on the notification and
  a final failure leaves it `failed` with the error, visible on the notifications page.

Recipient helpers for the roles the issue names ("finance", "service lead") live here too, so the
jobs in interactions/ and elsewhere pick people the same way (docs/reminders-and-campaigns.md).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from sharing.models import Membership, Notification, ReminderKind, ReminderMute, RolePolicy
from sharing.principal import get_principal

EMAIL_MAX_RETRIES = 5


class ReminderEmailError(Exception):
    """An email attempt failed and will be retried."""


def muted_kinds(user) -> set[str]:
    return set(ReminderMute.objects.filter(user_id=user.pk).values_list("kind", flat=True))


def reminder_mutes_set(*, user, muted: list[str] | set[str]) -> set[str]:
    """Make exactly `muted` the user's muted kinds. Unknown kinds are refused. Returns the new set."""
    muted = set(muted)
    unknown = muted - set(ReminderKind.values)
    if unknown:
        raise ValueError(f"unknown reminder kinds: {sorted(unknown)}")
    with transaction.atomic():
        ReminderMute.objects.filter(user_id=user.pk).exclude(kind__in=muted).delete()
        existing = muted_kinds(user)
        ReminderMute.objects.bulk_create(
            [ReminderMute(user_id=user.pk, kind=k) for k in sorted(muted - existing)], ignore_conflicts=True
        )
    return muted


def can_see(user, customer) -> bool:
    """Whether `user` may see `customer` now (the one predicate, never a shortcut)."""
    from customers.models import Customer

    if user is None or not user.is_active:
        return False
    return Customer.objects.visible_to(user).filter(pk=customer.pk).exists()


def remind(user, kind: str, event_key: str, message: str, url: str = "", *, email: bool = True, customer=None) -> bool:
    """Create the reminder `(user, kind, event_key)` unless it exists or the kind is muted.

    Returns True only when a new notification was created. Safe to call twice and from two workers
    at once: the unique constraint decides, the loser gets False. With `customer`, a recipient who
    may not see that customer gets nothing. Email (if asked for and the user has an address) is sent
    after commit by `sharing.tasks.reminder_email_task`.
    """
    if kind not in ReminderKind.values:
        raise ValueError(f"unknown reminder kind: {kind}")
    if not event_key:
        raise ValueError("a reminder needs an event key")
    if user is None or not user.is_active:
        return False
    if ReminderMute.objects.filter(user_id=user.pk, kind=kind).exists():
        return False
    if customer is not None and not can_see(user, customer):
        return False
    wants_email = bool(email and user.email)
    try:
        with transaction.atomic():
            note, created = Notification.objects.get_or_create(
                user_id=user.pk,
                kind=kind,
                event_key=event_key[:200],
                defaults={
                    "message": str(message)[:300],
                    "url": url[:300],
                    "email_status": Notification.EmailStatus.PENDING if wants_email else Notification.EmailStatus.NONE,
                },
            )
    except IntegrityError:
        # The other worker's row committed between our read and our insert.
        return False
    if created and wants_email:
        transaction.on_commit(lambda: reminder_email_enqueue(note.pk))
    return created


def reminder_email_enqueue(notification_id: int) -> None:
    """Hand one reminder's email to the worker. In-process (no REDIS_URL) the retries run at once
    and a failure is recorded, never raised into the page that caused the reminder."""
    from sharing.tasks import reminder_email_task

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        reminder_email_task.delay(notification_id)
        return
    # Celery's eager retry re-raises into the caller; run the same attempts inline instead.
    for attempt in range(EMAIL_MAX_RETRIES + 1):
        try:
            reminder_email_send(notification_id=notification_id, final=attempt == EMAIL_MAX_RETRIES)
            return
        except ReminderEmailError:
            continue


def _absolute(url: str) -> str:
    base = getattr(settings, "CRM_SITE_URL", "") or ""
    if url.startswith("/") and base:
        return base.rstrip("/") + url
    return url


def reminder_email_send(*, notification_id: int, final: bool = False) -> str:
    """Send the email of one reminder. Idempotent: a sent one is not sent again. Returns the status.

    A failed attempt is counted and its error kept; unless `final`, ReminderEmailError is raised so
    the task retries with backoff. On the final failure the notification is left `failed`.
    """
    note = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if note is None or note.email_status in (Notification.EmailStatus.SENT, Notification.EmailStatus.NONE):
        return note.email_status if note else "missing"
    user = note.user
    if not user.is_active or not user.email:
        Notification.objects.filter(pk=note.pk).update(
            email_status=Notification.EmailStatus.FAILED, email_error=_("The user has no active email address.")
        )
        return Notification.EmailStatus.FAILED
    link = _absolute(note.url)
    body = note.message + (f"\n\n{link}" if link else "")
    try:
        send_mail(
            subject=_("[CRM] %(message)s") % {"message": note.message[:120]},
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
        )
    except Exception as exc:  # noqa: BLE001 - any backend error is recorded, then retried
        status = Notification.EmailStatus.FAILED if final else Notification.EmailStatus.PENDING
        Notification.objects.filter(pk=note.pk).update(
            email_attempts=note.email_attempts + 1,
            email_error=f"{type(exc).__name__}: {exc}"[:500],
            email_status=status,
        )
        if final:
            return status
        raise ReminderEmailError(str(exc)) from exc
    Notification.objects.filter(pk=note.pk).update(
        email_attempts=note.email_attempts + 1,
        email_status=Notification.EmailStatus.SENT,
        emailed_at=timezone.now(),
        email_error="",
    )
    return Notification.EmailStatus.SENT


def reminder_emails_requeue(*, older_than_minutes: int = 30) -> int:
    """Re-enqueue emails still pending long after their reminder was created (a lost enqueue,
    a broker outage). Sending is idempotent, so a duplicate enqueue sends once. Returns the count."""
    cutoff = timezone.now() - timezone.timedelta(minutes=older_than_minutes)
    ids = list(
        Notification.objects.filter(email_status=Notification.EmailStatus.PENDING, created_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    for pk in ids:
        reminder_email_enqueue(pk)
    return len(ids)


# --- recipients ------------------------------------------------------------------------------------


def _users_of_policies(predicate):
    """Active users holding a role whose policy satisfies `predicate` (a few hundred policies at most)."""
    group_ids = [p.group_id for p in RolePolicy.objects.all() if predicate(p)]
    return get_user_model().objects.filter(is_active=True, groups__in=group_ids).distinct().order_by("pk")


def finance_recipients(customer) -> list:
    """ "Finance" for a customer: people who keep payment records and may see this customer.

    A person counts when their principal sees the payment kind and may edit the finance field group,
    and they are not an administrator (who may edit everything but keeps no books). Each is checked
    with `visible_to`, so a finance clerk of one province is never told about another's customer.
    """
    from customers.field_groups import FINANCE
    from sharing.models import FieldLevel

    out = []
    for user in _users_of_policies(lambda p: "payment" in (p.interaction_kinds or [])):
        principal = get_principal(user)
        if principal.is_superuser or "administrator" in principal.role_codes:
            continue
        keeps_books = principal.sees_kind("payment") and principal.field_level(FINANCE) >= FieldLevel.EDITABLE
        if keeps_books and can_see(user, customer):
            out.append(user)
    return out


def service_lead_recipients(customer) -> list:
    """The "service lead" of a customer: the nearest unit manager up the customer's org-unit chain
    whose role sees service cases and who may see the customer (the customer's own unit first, then
    its ancestors). Empty when the customer has no unit or nobody qualifies."""
    if not customer.org_unit_id:
        return []
    unit = customer.org_unit
    for ancestor in reversed(list(unit.ancestors())):
        managers = (
            Membership.objects.filter(unit=ancestor, is_manager=True, user__is_active=True)
            .select_related("user")
            .order_by("user_id")
        )
        found = [
            m.user for m in managers if get_principal(m.user).sees_kind("service_case") and can_see(m.user, customer)
        ]
        if found:
            return found
    return []


# --- jobs of the sharing app -------------------------------------------------------------------------


def access_requests_pending_remind(*, now=None, after_hours: int | None = None) -> int:
    """Remind approvers of access requests pending for more than `after_hours` (once per request and approver).

    The approver may not see the customer (that is why access is being asked for), so the message
    names only the requester and the request, as the request notification itself does.
    """
    from django.urls import reverse

    from sharing.models import AccessRequest
    from sharing.services import approvers_for

    now = now or timezone.now()
    hours = int(getattr(settings, "CRM_ACCESS_REQUEST_REMIND_HOURS", 24)) if after_hours is None else after_hours
    pending = AccessRequest.objects.filter(
        status=AccessRequest.Status.PENDING, created_at__lte=now - timezone.timedelta(hours=hours)
    ).select_related("requester")
    sent = 0
    url = reverse("sharing:inbox")
    for access_request in pending.order_by("pk"):
        requester = access_request.requester
        for approver in approvers_for(requester):
            sent += remind(
                approver,
                ReminderKind.ACCESS_REQUEST_PENDING,
                f"access-request:{access_request.pk}",
                _("Access request #%(id)s from %(user)s is waiting for your decision.")
                % {"id": access_request.pk, "user": requester.get_full_name() or requester.username},
                url,
            )
    return sent
