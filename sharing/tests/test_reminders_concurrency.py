"""Two workers racing to send the same reminder on PostgreSQL: exactly one notification, one winner."""

import threading

import pytest
from django.db import connection

from sharing.models import Notification
from sharing.reminders import remind

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKERS = 6
ROUNDS = 10


def test_racing_workers_create_one_reminder_per_event(org, shenzhen_sales_rep):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections (PostgreSQL)")
    from django.contrib.auth import get_user_model

    for round_no in range(ROUNDS):
        barrier = threading.Barrier(WORKERS)
        results, errors = [], []

        def work(key=f"race:{round_no}", barrier=barrier, results=results, errors=errors):
            try:
                user = get_user_model().objects.get(pk=shenzhen_sales_rep.pk)
                barrier.wait(timeout=30)
                results.append(remind(user, "contract_renewal", key, "renew", email=False))
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert results.count(True) == 1, results
    assert Notification.objects.filter(user=shenzhen_sales_rep, kind="contract_renewal").count() == ROUNDS
