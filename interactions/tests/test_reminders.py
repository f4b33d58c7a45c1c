"""Every reminder kind at its boundary dates, run twice (reminded once), muted, and within visibility."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.reminders import (
    cases_due_soon_remind,
    cases_overdue_notify,
    contracts_renewal_remind,
    followup_reminders_send,
    payments_overdue_remind,
)
from interactions.tests.factories import ActivityFactory, ContractFactory, PaymentFactory, ServiceCaseFactory
from sharing.models import Notification, RolePolicy
from sharing.reminders import access_requests_pending_remind, reminder_mutes_set

pytestmark = pytest.mark.django_db

DAY = date(2026, 6, 1)


def _notes(user, kind):
    return list(Notification.objects.filter(user=user, kind=kind).order_by("pk"))


# --- follow-ups


def test_followups_due_on_the_day_and_before_are_reminded_but_not_tomorrows(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ActivityFactory(customer=customer, follow_up_on=DAY + timedelta(days=1))
    assert followup_reminders_send(day=DAY) == 0
    ActivityFactory(customer=customer, follow_up_on=DAY)
    ActivityFactory(customer=customer, follow_up_on=DAY - timedelta(days=3))
    assert followup_reminders_send(day=DAY) == 1
    assert followup_reminders_send(day=DAY) == 0  # run twice, remind once
    (note,) = _notes(shenzhen_sales_rep, "followup_due")
    assert "2" in note.message and note.event_key == "followups:2026-06-01"
    assert followup_reminders_send(day=DAY + timedelta(days=1)) == 1  # a new day is a new event


def test_muted_followup_reminders_are_not_created(shenzhen_sales_rep):
    ActivityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep), follow_up_on=DAY)
    reminder_mutes_set(user=shenzhen_sales_rep, muted={"followup_due"})
    assert followup_reminders_send(day=DAY) == 0
    assert not Notification.objects.exists()


# --- payments


@pytest.fixture
def rep_sees_payments(db, shenzhen_sales_rep):
    """A company whose sales reps chase their own receivables (their role lists payments)."""
    policy = RolePolicy.objects.get(code="sales_rep")
    policy.interaction_kinds = [*policy.interaction_kinds, "payment"]
    policy.save()
    return shenzhen_sales_rep


def test_a_payment_is_overdue_the_day_after_its_due_date(rep_sees_payments, finance_clerk):
    customer = CustomerFactory(owner=rep_sees_payments)
    on_time = PaymentFactory(contract__quote__opportunity__customer=customer, due_on=DAY)
    late = PaymentFactory(contract__quote__opportunity__customer=customer, due_on=DAY - timedelta(days=1))
    assert payments_overdue_remind(day=DAY) == 2  # the owner and finance, for the late one only
    assert payments_overdue_remind(day=DAY) == 0
    assert [n.event_key for n in _notes(rep_sees_payments, "payment_overdue")] == [f"payment:{late.pk}:2026-05-31"]
    assert [n.event_key for n in _notes(finance_clerk, "payment_overdue")] == [f"payment:{late.pk}:2026-05-31"]
    assert payments_overdue_remind(day=DAY + timedelta(days=1)) == 2  # now the other one too
    assert {n.event_key for n in _notes(finance_clerk, "payment_overdue")} >= {f"payment:{on_time.pk}:2026-06-01"}


def test_paid_payments_are_not_reminded_and_a_rep_who_cannot_see_payments_is_not_told(
    shenzhen_sales_rep, finance_clerk, hq_executive, auditor
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    PaymentFactory(contract__quote__opportunity__customer=customer, due_on=DAY - timedelta(days=5), status="paid")
    PaymentFactory(contract__quote__opportunity__customer=customer, due_on=DAY - timedelta(days=5))
    assert payments_overdue_remind(day=DAY) == 1
    assert Notification.objects.get().user == finance_clerk  # default sales reps do not see payments
    assert not _notes(hq_executive, "payment_overdue") and not _notes(auditor, "payment_overdue")


def test_finance_is_not_told_about_customers_outside_its_scope(rep_sees_payments, finance_clerk):
    policy = RolePolicy.objects.get(code="finance_clerk")
    policy.view_scope = "unit"  # finance1 sits in an HQ department: sees only that unit's customers
    policy.save()
    customer = CustomerFactory(owner=rep_sees_payments)
    PaymentFactory(contract__quote__opportunity__customer=customer, due_on=DAY - timedelta(days=1))
    assert payments_overdue_remind(day=DAY) == 1
    assert not _notes(finance_clerk, "payment_overdue")


# --- contracts


def test_renewal_reminder_starts_exactly_n_days_before_the_end(shenzhen_sales_rep, guangdong_sales_manager):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    far = ContractFactory(quote__opportunity__customer=customer, start_on=DAY, end_on=DAY + timedelta(days=31))
    edge = ContractFactory(quote__opportunity__customer=customer, start_on=DAY, end_on=DAY + timedelta(days=30))
    ContractFactory(quote__opportunity__customer=customer, start_on=DAY - timedelta(days=9), end_on=DAY - timedelta(1))
    ContractFactory(quote__opportunity__customer=customer, status="draft", start_on=DAY, end_on=DAY + timedelta(days=5))
    assert contracts_renewal_remind(day=DAY, notice_days=30) == 2  # owner + service lead, `edge` only
    assert contracts_renewal_remind(day=DAY, notice_days=30) == 0
    assert [n.event_key for n in _notes(shenzhen_sales_rep, "contract_renewal")] == [f"contract:{edge.pk}:2026-07-01"]
    assert [n.url for n in _notes(guangdong_sales_manager, "contract_renewal")] == [edge.get_absolute_url()]
    # The next day `far` enters the window; `edge` is not reminded again.
    assert contracts_renewal_remind(day=DAY + timedelta(days=1), notice_days=30) == 2
    assert {n.event_key for n in _notes(shenzhen_sales_rep, "contract_renewal")} == {
        f"contract:{edge.pk}:2026-07-01",
        f"contract:{far.pk}:2026-07-02",
    }


def test_a_contract_ending_today_is_still_reminded_and_the_sibling_province_never(
    shenzhen_sales_rep, beijing_sales_manager, guangdong_sales_manager
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ContractFactory(quote__opportunity__customer=customer, start_on=DAY - timedelta(days=100), end_on=DAY)
    assert contracts_renewal_remind(day=DAY, notice_days=30) == 2
    assert not Notification.objects.filter(user=beijing_sales_manager).exists()


# --- service cases


def test_cases_due_within_the_window_are_reminded_once(service_agent, shenzhen_sales_rep):
    now = timezone.now()
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    inside = ServiceCaseFactory(customer=customer, responsible_user=service_agent, due_at=now + timedelta(hours=24))
    ServiceCaseFactory(customer=customer, responsible_user=service_agent, due_at=now + timedelta(hours=25))
    ServiceCaseFactory(customer=customer, responsible_user=service_agent, due_at=now - timedelta(minutes=1))
    unassigned = ServiceCaseFactory(customer=customer, due_at=now + timedelta(hours=2))
    assert cases_due_soon_remind(now=now, hours=24) == 2
    assert cases_due_soon_remind(now=now, hours=24) == 0
    assert [n.url for n in _notes(service_agent, "case_due_soon")] == [inside.get_absolute_url()]
    # Nobody responsible yet: the customer's owner hears about it.
    assert [n.url for n in _notes(shenzhen_sales_rep, "case_due_soon")] == [unassigned.get_absolute_url()]


def test_overdue_cases_are_reminded_once_a_day(service_agent, shenzhen_sales_rep):
    now = timezone.now()
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ServiceCaseFactory(customer=customer, responsible_user=service_agent, due_at=now - timedelta(seconds=1))
    ServiceCaseFactory(customer=customer, responsible_user=service_agent, due_at=now + timedelta(seconds=60))
    assert cases_overdue_notify(now=now) == 1
    assert cases_overdue_notify(now=now) == 0
    assert cases_overdue_notify(now=now + timedelta(days=1)) == 2  # next day: both overdue, once each


# --- access requests


def test_access_requests_waiting_a_day_remind_the_approver_once(guangzhou_sales_rep, guangdong_sales_manager):
    from sharing.services import access_request_create

    customer = CustomerFactory()
    access_request = access_request_create(
        requester=guangzhou_sales_rep, customer=customer, kind="view", reason="同一集团客户"
    )
    created = access_request.created_at
    assert access_requests_pending_remind(now=created + timedelta(hours=23), after_hours=24) == 0
    assert access_requests_pending_remind(now=created + timedelta(hours=24), after_hours=24) == 1
    assert access_requests_pending_remind(now=created + timedelta(hours=48), after_hours=24) == 0
    (note,) = _notes(guangdong_sales_manager, "access_request_pending")
    assert customer.name not in note.message
