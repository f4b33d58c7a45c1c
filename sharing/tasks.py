"""Tasks of the sharing app: thin wrappers over sharing.services."""

from celery import shared_task


@shared_task(name="sharing.tasks.shares_expire_task", acks_late=True)
def shares_expire_task() -> int:
    """Delete expired shares and grants (beat, every 15 minutes). Idempotent: a rerun finds nothing.

    Visibility already ignores expired rows; this only keeps the tables and the review small.
    """
    from sharing.services import shares_expire

    return shares_expire()


@shared_task(
    bind=True,
    name="sharing.tasks.reminder_email_task",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=60,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=5,  # sharing.reminders.EMAIL_MAX_RETRIES
)
def reminder_email_task(self, notification_id: int) -> str:
    """Email one reminder; on failure retry with exponential backoff (1, 2, 4, 8, 16 minutes, jittered).

    Every attempt is recorded on the notification; the last one (retries exhausted) records the
    error and leaves the notification `failed` instead of raising, so nothing is lost silently.
    Sending is idempotent: an already sent reminder is not sent again when the task runs twice.
    """
    from sharing.reminders import reminder_email_send

    return reminder_email_send(notification_id=notification_id, final=self.request.retries >= self.max_retries)


@shared_task(name="sharing.tasks.reminder_emails_requeue_task", acks_late=True)
def reminder_emails_requeue_task() -> int:
    """Re-enqueue reminder emails left pending (beat, hourly): a lost enqueue is picked up again."""
    from sharing.reminders import reminder_emails_requeue

    return reminder_emails_requeue()


@shared_task(name="sharing.tasks.access_requests_pending_task", acks_late=True)
def access_requests_pending_task() -> int:
    """Remind approvers of access requests waiting more than a day (beat, daily; once per request)."""
    from sharing.reminders import access_requests_pending_remind

    return access_requests_pending_remind()
