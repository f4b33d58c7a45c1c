"""Site-wide tasks."""

from celery import shared_task


@shared_task(name="crm.tasks.ping_task")
def ping_task(token: str) -> str:
    """Echo a token back; the CI worker test uses it to prove a real worker ran a task."""
    from django.core.cache import cache

    cache.set(f"crm:ping:{token}", "pong", timeout=300)
    return token
