"""Tasks of the interactions app: thin wrappers over interactions.services, safe to run twice.

Schedule them daily with beat (crm/settings.py CELERY_BEAT_SCHEDULE), e.g. at 08:00:
    "interactions-followup-reminders": {"task": "interactions.tasks.followup_reminders_task", ...}
    "interactions-cases-overdue": {"task": "interactions.tasks.cases_overdue_task", ...}
"""

from celery import shared_task


@shared_task(name="interactions.tasks.followup_reminders_task", acks_late=True)
def followup_reminders_task() -> int:
    """Notify users of their follow-ups due today or overdue (one notification per user and day)."""
    from interactions.services import followup_reminders_send

    return followup_reminders_send()


@shared_task(name="interactions.tasks.cases_overdue_task", acks_late=True)
def cases_overdue_task() -> int:
    """Notify responsible people of overdue service cases (one notification per case and day)."""
    from interactions.services import cases_overdue_notify

    return cases_overdue_notify()
