"""Tasks of the interactions app: thin wrappers over interactions.reminders and interactions.care, safe to run twice.

Scheduled by beat (crm/settings.py CELERY_BEAT_SCHEDULE). Every reminder goes through
sharing.reminders.remind() with an event key, so a rerun reminds nobody twice.
"""

from celery import shared_task


@shared_task(name="interactions.tasks.followup_reminders_task", acks_late=True)
def followup_reminders_task() -> int:
    """Remind users of their follow-ups due today or overdue (one reminder per user and day)."""
    from interactions.reminders import followup_reminders_send

    return followup_reminders_send()


@shared_task(name="interactions.tasks.cases_overdue_task", acks_late=True)
def cases_overdue_task() -> int:
    """Remind responsible people of overdue service cases (one reminder per case and day)."""
    from interactions.reminders import cases_overdue_notify

    return cases_overdue_notify()


@shared_task(name="interactions.tasks.cases_due_soon_task", acks_late=True)
def cases_due_soon_task() -> int:
    """Remind responsible people of service cases due within the next hours (once per case and due time)."""
    from interactions.reminders import cases_due_soon_remind

    return cases_due_soon_remind()


@shared_task(name="interactions.tasks.payments_overdue_task", acks_late=True)
def payments_overdue_task() -> int:
    """Remind owners and finance of overdue payments (once per payment and due date)."""
    from interactions.reminders import payments_overdue_remind

    return payments_overdue_remind()


@shared_task(name="interactions.tasks.contracts_renewal_task", acks_late=True)
def contracts_renewal_task() -> int:
    """Remind owners and service leads of contracts ending soon (once per contract and end date)."""
    from interactions.reminders import contracts_renewal_remind

    return contracts_renewal_remind()


@shared_task(name="interactions.tasks.care_rules_run_task", acks_late=True)
def care_rules_run_task() -> int:
    """Run the active care rules for today (once per rule and day; each customer once per occasion)."""
    from interactions.care import care_rules_run

    return care_rules_run()
