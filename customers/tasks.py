"""Celery tasks of the customers app (autodiscovered from here)."""

from celery import shared_task

from customers.io_tasks import *  # noqa: F403


@shared_task(name="customers.tasks.pool_run_task", acks_late=True)
def pool_run_task() -> dict:
    """Nightly: warn owners, return inactive customers to their unit's pool, pool owner-less ones.

    Idempotent (one CustomerMove per customer, kind and return date): a rerun changes nothing.
    """
    from customers.pool import pool_run

    result = pool_run()
    return {"warned": result.warned, "returned": result.returned, "orphans": result.orphans}
