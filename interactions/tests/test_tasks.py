"""Daily reminders and merge support: idempotent, within visibility."""

from datetime import timedelta

from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.models import Activity, Payment, ServiceCase
from interactions.services import customer_records_repoint, customer_records_restore
from interactions.tasks import cases_overdue_task, followup_reminders_task
from interactions.tests.factories import ActivityFactory, PaymentFactory, ServiceCaseFactory
from sharing.models import Notification


def test_follow_up_reminders_go_out_once_a_day(shenzhen_sales_rep, guangzhou_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ActivityFactory(customer=customer, follow_up_on=timezone.localdate())
    ActivityFactory(customer=customer, follow_up_on=timezone.localdate() - timedelta(days=2))
    ActivityFactory(customer=customer, follow_up_on=timezone.localdate() + timedelta(days=2))
    assert followup_reminders_task() == 1
    assert followup_reminders_task() == 0
    note = Notification.objects.get(user=shenzhen_sales_rep)
    assert "2" in note.message
    assert not Notification.objects.filter(user=guangzhou_sales_rep).exists()


def test_no_reminder_for_follow_ups_of_customers_no_longer_visible(shenzhen_sales_rep, guangzhou_sales_rep):
    customer = CustomerFactory(owner=guangzhou_sales_rep)  # e.g. transferred away
    ActivityFactory(customer=customer, user=shenzhen_sales_rep, follow_up_on=timezone.localdate())
    assert followup_reminders_task() == 0


def test_overdue_cases_remind_the_responsible_person_once(service_agent, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ServiceCaseFactory(customer=customer, responsible_user=service_agent, due_at=timezone.now() - timedelta(hours=1))
    ServiceCaseFactory(customer=customer, responsible_user=service_agent)
    assert cases_overdue_task() == 1
    assert cases_overdue_task() == 0


def test_merge_moves_every_record_and_unmerge_puts_them_back(shenzhen_sales_rep):
    survivor = CustomerFactory(owner=shenzhen_sales_rep)
    loser = CustomerFactory(owner=shenzhen_sales_rep)
    activity = ActivityFactory(customer=loser)
    payment = PaymentFactory(contract__quote__opportunity__customer=loser)
    case = ServiceCaseFactory(customer=loser)

    moved = customer_records_repoint(source=loser, target=survivor)
    assert moved["interactions.activity"] == [activity.pk]
    assert Payment.objects.get(pk=payment.pk).customer == survivor
    assert not ServiceCase.objects.filter(customer=loser).exists()

    customer_records_restore(moved=moved, customer=loser)
    assert Activity.objects.get(pk=activity.pk).customer == loser
    assert ServiceCase.objects.get(pk=case.pk).customer == loser
    assert Payment.objects.get(pk=payment.pk).contract.customer == loser


def test_every_interaction_model_is_audited(shenzhen_sales_rep):
    from auditlog.models import LogEntry
    from auditlog.registry import auditlog
    from django.apps import apps

    from interactions.services import activity_create

    for model in apps.get_app_config("interactions").get_models():
        assert auditlog.contains(model), model
    activity = activity_create(
        customer=CustomerFactory(owner=shenzhen_sales_rep), created_by=shenzhen_sales_rep, subject="审计"
    )
    assert LogEntry.objects.get_for_object(activity).filter(action=LogEntry.Action.CREATE).exists()
