"""The daily reminder jobs of interactions: follow-ups, overdue payments, renewals, service cases.

Each job finds its events, picks recipients and calls `sharing.reminders.remind()` with an event
key that names the event, so running a job twice (or on two workers) reminds once. Every
recipient must be able to see the *record* the reminder is about (`<Model>.objects.visible_to`),
not only its customer: a sales rep whose role does not list payments is not told about payments.

Boundaries (docs/reminders-and-campaigns.md):
- follow-ups: open follow-ups due on `day` or earlier; one reminder per assignee and day;
- payments: open payments whose due date is before `day` (due today is not overdue yet); once
  per payment and due date, to the customer's owner and to finance;
- contracts: active contracts ending between `day` and `day + CRM_RENEWAL_NOTICE_DAYS`
  (inclusive); once per contract and end date, to the owner and the service lead;
- service cases: open cases due within the next CRM_CASE_DUE_SOON_HOURS (once per case and due
  time) and cases already overdue (once per case and day), to the responsible person.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions.models import Activity, Contract, Payment, ServiceCase
from sharing.models import ReminderKind
from sharing.reminders import finance_recipients, remind, service_lead_recipients


def renewal_notice_days() -> int:
    return int(getattr(settings, "CRM_RENEWAL_NOTICE_DAYS", 30))


def case_due_soon_hours() -> int:
    return int(getattr(settings, "CRM_CASE_DUE_SOON_HOURS", 24))


def _sees(model, user, pk) -> bool:
    return model.objects.visible_to(user).filter(pk=pk).exists()


def _unique(users):
    seen, out = set(), []
    for user in users:
        if user is not None and user.pk not in seen and user.is_active:
            seen.add(user.pk)
            out.append(user)
    return out


def followup_reminders_send(*, day: date | None = None) -> int:
    """Tell each user with open follow-ups due by `day` how many there are: one reminder per user and day.

    Counts only follow-ups the user may still see (a customer transferred away drops out). Returns
    the number of reminders created.
    """
    day = day or timezone.localdate()
    url = reverse("interactions:followups")
    user_ids = Activity.objects.due_by(day).filter(user__is_active=True).values_list("user_id", flat=True).distinct()
    sent = 0
    for user in get_user_model().objects.filter(pk__in=user_ids).order_by("pk"):
        count = Activity.objects.visible_to(user).due_by(day).filter(user=user).count()
        if count and remind(
            user,
            ReminderKind.FOLLOWUP_DUE,
            f"followups:{day.isoformat()}",
            _("You have %(count)s follow-ups due.") % {"count": count},
            url,
        ):
            sent += 1
    return sent


def payments_overdue_remind(*, day: date | None = None) -> int:
    """Remind the owner and finance of each open payment due before `day`. Returns reminders created."""
    day = day or timezone.localdate()
    sent = 0
    payments = Payment.objects.overdue(day).select_related("customer", "customer__owner", "customer__org_unit")
    for payment in payments.order_by("pk").iterator(chunk_size=500):
        customer = payment.customer
        for user in _unique([customer.owner, *finance_recipients(customer)]):
            if not _sees(Payment, user, payment.pk):
                continue
            sent += remind(
                user,
                ReminderKind.PAYMENT_OVERDUE,
                f"payment:{payment.pk}:{payment.due_on.isoformat()}",
                _("Payment %(number)s of %(customer)s was due on %(due)s and is still open.")
                % {"number": payment.number, "customer": customer.number, "due": payment.due_on.isoformat()},
                payment.get_absolute_url(),
                customer=customer,
            )
    return sent


def contracts_renewal_remind(*, day: date | None = None, notice_days: int | None = None) -> int:
    """Remind the owner and the service lead of active contracts ending within the notice period."""
    day = day or timezone.localdate()
    notice_days = renewal_notice_days() if notice_days is None else notice_days
    sent = 0
    contracts = Contract.objects.filter(
        status=Contract.Status.ACTIVE, end_on__gte=day, end_on__lte=day + timedelta(days=notice_days)
    ).select_related("customer", "customer__owner", "customer__org_unit")
    for contract in contracts.order_by("pk").iterator(chunk_size=500):
        customer = contract.customer
        for user in _unique([customer.owner, *service_lead_recipients(customer)]):
            if not _sees(Contract, user, contract.pk):
                continue
            sent += remind(
                user,
                ReminderKind.CONTRACT_RENEWAL,
                f"contract:{contract.pk}:{contract.end_on.isoformat()}",
                _("Contract %(number)s of %(customer)s ends on %(end)s: time to talk about renewal.")
                % {"number": contract.number, "customer": customer.number, "end": contract.end_on.isoformat()},
                contract.get_absolute_url(),
                customer=customer,
            )
    return sent


def _case_recipients(case):
    return _unique([case.responsible_user or case.customer.owner])


def cases_due_soon_remind(*, now: datetime | None = None, hours: int | None = None) -> int:
    """Remind the responsible person (else the owner) of open cases due within the next `hours`."""
    now = now or timezone.now()
    hours = case_due_soon_hours() if hours is None else hours
    sent = 0
    cases = (
        ServiceCase.objects.open()
        .filter(due_at__gte=now, due_at__lte=now + timedelta(hours=hours))
        .select_related("responsible_user", "customer", "customer__owner")
    )
    for case in cases.order_by("pk"):
        for user in _case_recipients(case):
            if not _sees(ServiceCase, user, case.pk):
                continue
            sent += remind(
                user,
                ReminderKind.CASE_DUE_SOON,
                f"case-due:{case.pk}:{case.due_at.isoformat()}",
                _("Service case %(number)s is due at %(due)s.")
                % {"number": case.number, "due": timezone.localtime(case.due_at).strftime("%Y-%m-%d %H:%M")},
                case.get_absolute_url(),
                customer=case.customer,
            )
    return sent


def cases_overdue_notify(*, now: datetime | None = None) -> int:
    """Remind the responsible person of each overdue open case, once per case and day. Returns the count."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    sent = 0
    cases = (
        ServiceCase.objects.overdue(now)
        .filter(responsible_user__is_active=True)
        .select_related("responsible_user", "customer")
    )
    for case in cases.order_by("pk"):
        if not _sees(ServiceCase, case.responsible_user, case.pk):
            continue
        sent += remind(
            case.responsible_user,
            ReminderKind.CASE_OVERDUE,
            f"case-overdue:{case.pk}:{day.isoformat()}",
            _("Service case %(number)s is overdue.") % {"number": case.number},
            case.get_absolute_url(),
            customer=case.customer,
        )
    return sent
