"""Site-wide tasks."""

from celery import shared_task


@shared_task(name="crm.tasks.ping_task")
def ping_task(token: str) -> str:
    """Echo a token back; the CI worker test uses it to prove a real worker ran a task."""
    from django.core.cache import cache

    cache.set(f"crm:ping:{token}", "pong", timeout=300)
    return token


@shared_task(name="crm.tasks.dashboard_summaries_refresh_task")
def dashboard_summaries_refresh_task() -> int:
    """Recompute the dashboard summaries (beat, every 15 minutes); returns the new run's id.

    Idempotent: a rerun (a redelivery, two beats) writes a new run and deletes the older ones.
    """
    from crm.summaries import summaries_refresh

    return summaries_refresh().pk
