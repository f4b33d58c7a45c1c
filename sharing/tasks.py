"""Tasks of the sharing app: thin wrappers over sharing.services."""

from celery import shared_task


@shared_task(name="sharing.tasks.shares_expire_task", acks_late=True)
def shares_expire_task() -> int:
    """Delete expired shares and grants (beat, every 15 minutes). Idempotent: a rerun finds nothing.

    Visibility already ignores expired rows; this only keeps the tables and the review small.
    """
    from sharing.services import shares_expire

    return shares_expire()
