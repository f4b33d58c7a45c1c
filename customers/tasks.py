"""Celery tasks of the customers app (autodiscovered from here)."""

from customers.io_tasks import *  # noqa: F403
