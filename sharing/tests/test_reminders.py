"""The reminder core: once per event, muted kinds, visibility of the recipient, email retries."""

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from sharing.models import Notification, ReminderMute
from sharing.reminders import (
    finance_recipients,
    remind,
    reminder_email_send,
    reminder_mutes_set,
    service_lead_recipients,
)

pytestmark = pytest.mark.django_db


def test_a_reminder_is_created_once_per_user_kind_and_event(shenzhen_sales_rep):
    assert remind(shenzhen_sales_rep, "followup_due", "followups:1:2026-05-01", "You have 2 follow-ups due.")
    assert not remind(shenzhen_sales_rep, "followup_due", "followups:1:2026-05-01", "You have 2 follow-ups due.")
    assert remind(shenzhen_sales_rep, "followup_due", "followups:1:2026-05-02", "You have 1 follow-up due.")
    assert Notification.objects.filter(user=shenzhen_sales_rep, kind="followup_due").count() == 2


def test_the_database_refuses_a_second_row_for_the_same_event(shenzhen_sales_rep):
    Notification.objects.create(user=shenzhen_sales_rep, kind="care_task", event_key="k", message="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(user=shenzhen_sales_rep, kind="care_task", event_key="k", message="b")
    # Plain notifications (no event key) are not constrained.
    Notification.objects.create(user=shenzhen_sales_rep, message="x")
    Notification.objects.create(user=shenzhen_sales_rep, message="x")


def test_unknown_kinds_and_empty_keys_are_programming_errors(shenzhen_sales_rep):
    with pytest.raises(ValueError):
        remind(shenzhen_sales_rep, "nonsense", "k", "m")
    with pytest.raises(ValueError):
        remind(shenzhen_sales_rep, "care_task", "", "m")


def test_a_muted_kind_creates_nothing_but_other_kinds_still_arrive(shenzhen_sales_rep):
    reminder_mutes_set(user=shenzhen_sales_rep, muted={"contract_renewal"})
    assert not remind(shenzhen_sales_rep, "contract_renewal", "contract:1:2026-06-30", "renew")
    assert remind(shenzhen_sales_rep, "payment_overdue", "payment:1", "pay")
    reminder_mutes_set(user=shenzhen_sales_rep, muted=set())
    assert not ReminderMute.objects.filter(user=shenzhen_sales_rep).exists()
    assert remind(shenzhen_sales_rep, "contract_renewal", "contract:1:2026-06-30", "renew")


def test_a_recipient_who_cannot_see_the_customer_gets_nothing(
    customer_factory, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_manager, guangdong_sales_manager
):
    customer = customer_factory(owner=shenzhen_sales_rep)
    assert not remind(guangzhou_sales_rep, "care_task", f"c:{customer.pk}", "m", customer=customer)
    assert not remind(beijing_sales_manager, "care_task", f"c:{customer.pk}", "m", customer=customer)
    assert remind(guangdong_sales_manager, "care_task", f"c:{customer.pk}", "m", customer=customer)
    assert remind(shenzhen_sales_rep, "care_task", f"c:{customer.pk}", "m", customer=customer)


def test_the_email_is_sent_once_after_commit_with_a_link(
    shenzhen_sales_rep, django_capture_on_commit_callbacks, settings
):
    settings.CRM_SITE_URL = "https://crm.example.com"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # in-process delivery even when REDIS_URL is set
    shenzhen_sales_rep.email = "sz@example.com"
    shenzhen_sales_rep.save()
    with django_capture_on_commit_callbacks(execute=True):
        remind(shenzhen_sales_rep, "contract_renewal", "contract:9:2026-06-30", "Renew HT-9", url="/contracts/9/")
        remind(shenzhen_sales_rep, "contract_renewal", "contract:9:2026-06-30", "Renew HT-9", url="/contracts/9/")
    assert len(mail.outbox) == 1
    assert "https://crm.example.com/contracts/9/" in mail.outbox[0].body
    note = Notification.objects.get(user=shenzhen_sales_rep)
    assert note.email_status == "sent" and note.emailed_at and note.email_attempts == 1
    # Running the task again (at-least-once delivery) sends nothing more.
    assert reminder_email_send(notification_id=note.pk) == "sent"
    assert len(mail.outbox) == 1


def test_email_false_or_no_address_means_in_app_only(shenzhen_sales_rep, django_capture_on_commit_callbacks, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    shenzhen_sales_rep.email = ""
    with django_capture_on_commit_callbacks(execute=True):
        remind(shenzhen_sales_rep, "care_task", "a", "m")  # no address
        shenzhen_sales_rep.email = "sz@example.com"
        remind(shenzhen_sales_rep, "care_task", "b", "m", email=False)
    assert mail.outbox == []
    assert set(Notification.objects.values_list("email_status", flat=True)) == {""}


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp down")


def test_a_failing_email_is_retried_then_recorded_on_the_reminder(
    shenzhen_sales_rep, django_capture_on_commit_callbacks, settings
):
    settings.EMAIL_BACKEND = "sharing.tests.test_reminders.FailingBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # in-process delivery even when REDIS_URL is set
    shenzhen_sales_rep.email = "sz@example.com"
    shenzhen_sales_rep.save()
    with django_capture_on_commit_callbacks(execute=True):
        remind(shenzhen_sales_rep, "payment_overdue", "payment:3", "Payment overdue")
    note = Notification.objects.get(user=shenzhen_sales_rep)
    # Eager Celery runs the retries at once: 1 try + 5 retries, then the error stays on the row.
    assert note.email_status == "failed"
    assert note.email_attempts == 6
    assert "smtp down" in note.email_error
    assert note.emailed_at is None


def test_the_worker_task_retries_until_its_last_attempt_records_the_failure(shenzhen_sales_rep, settings):
    from celery.exceptions import Retry

    from sharing.tasks import reminder_email_task

    settings.EMAIL_BACKEND = "sharing.tests.test_reminders.FailingBackend"
    note = Notification.objects.create(
        user=shenzhen_sales_rep, kind="care_task", event_key="e", message="m", email_status="pending"
    )
    assert reminder_email_task.max_retries == 5
    with pytest.raises(Retry):
        reminder_email_task.apply((note.pk,), retries=0, throw=True)
    note.refresh_from_db()
    assert note.email_status == "pending" and note.email_attempts >= 1
    reminder_email_task.apply((note.pk,), retries=5, throw=True)  # the last attempt does not raise
    note.refresh_from_db()
    assert note.email_status == "failed" and "smtp down" in note.email_error


def test_finance_and_service_lead_recipients_respect_visibility(
    customer_factory,
    shenzhen_sales_rep,
    finance_clerk,
    administrator,
    hq_executive,
    guangdong_sales_manager,
    beijing_sales_manager,
):
    customer = customer_factory(owner=shenzhen_sales_rep)
    assert finance_recipients(customer) == [finance_clerk]
    leads = service_lead_recipients(customer)
    assert guangdong_sales_manager in leads and beijing_sales_manager not in leads


def test_the_settings_page_mutes_unticked_kinds(client_for, shenzhen_sales_rep):
    client = client_for(shenzhen_sales_rep)
    page = client.get("/sharing/notifications/settings/")
    assert page.status_code == 200 and b'value="contract_renewal" checked' in page.content
    kinds = ["followup_due", "payment_overdue", "care_task"]
    response = client.post("/sharing/notifications/settings/", {"kinds": [*kinds, "bogus"]})
    assert response.status_code == 302
    muted = set(ReminderMute.objects.filter(user=shenzhen_sales_rep).values_list("kind", flat=True))
    assert "contract_renewal" in muted and not muted & set(kinds)
    assert not remind(shenzhen_sales_rep, "contract_renewal", "contract:1:2026-01-01", "m")
    assert remind(shenzhen_sales_rep, "care_task", "care:1", "m")


def test_a_failed_email_shows_on_the_notifications_page(client_for, shenzhen_sales_rep):
    Notification.objects.create(
        user=shenzhen_sales_rep,
        kind="care_task",
        event_key="x",
        message="生日关怀",
        email_status="failed",
        email_attempts=6,
        email_error="SMTPServerDisconnected",
    )
    page = client_for(shenzhen_sales_rep).get("/sharing/notifications/")
    assert "SMTPServerDisconnected" in page.content.decode()
