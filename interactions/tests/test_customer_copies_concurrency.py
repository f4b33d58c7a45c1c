"""A record inserted while its customer moves to another unit gets the new unit (PostgreSQL).

The insert trigger reads the customer `FOR SHARE` (interactions/copies.py). Without it, a record
inserted while another transaction moves the customer would keep the old unit after both commit:
the mover's trigger cannot see the uncommitted insert, the insert read the old committed row.
Both orders are checked with two connections; the test waits (in the database, not on a clock)
until the second transaction is blocked before letting the first commit.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions.models import Activity

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _run(target, outcome):
    def body():
        try:
            outcome.append(("ok", target()))
        except Exception as exc:  # noqa: BLE001  (reported by the test instead of dying in a thread)
            outcome.append(("error", repr(exc)))
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def _wait_until_blocked(pid_holder, limit_s: float = 30.0) -> bool:
    """True once the other connection waits for a lock (polled in pg_stat_activity)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if pid_holder:
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid_holder[0]])
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return True
        time.sleep(0.05)
    return False


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _copies(pk):
    return Activity.objects.filter(pk=pk).values_list("cust_org_unit_id", "cust_owner_id").get()


def test_an_insert_waits_for_a_concurrent_move_of_its_customer(org, guangzhou_sales_rep, beijing_sales_rep):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks between connections")
    customer = CustomerFactory(owner=guangzhou_sales_rep, org_unit=org["GD-GZ"])
    inserter_pid, outcome = [], []

    def insert():
        inserter_pid.append(_backend_pid())
        with transaction.atomic():
            return Activity.objects.create(customer_id=customer.pk, subject="并发").pk

    with transaction.atomic():
        # The move, not yet committed (its trigger has run: no record of the customer yet).
        Customer.objects.filter(pk=customer.pk).update(org_unit=org["BJ"], owner=beijing_sales_rep)
        thread = _run(insert, outcome)
        blocked = _wait_until_blocked(inserter_pid)
    thread.join(timeout=60)
    assert blocked, "the insert should wait for the customer's move"
    assert outcome and outcome[0][0] == "ok", outcome
    assert _copies(outcome[0][1]) == (org["BJ"].pk, beijing_sales_rep.pk)


def test_a_move_waits_for_a_concurrent_insert_and_takes_the_new_record(org, guangzhou_sales_rep, beijing_sales_rep):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks between connections")
    customer = CustomerFactory(owner=guangzhou_sales_rep, org_unit=org["GD-GZ"])
    mover_pid, outcome = [], []

    def move():
        mover_pid.append(_backend_pid())
        with transaction.atomic():
            return Customer.objects.filter(pk=customer.pk).update(org_unit=org["BJ"], owner=beijing_sales_rep)

    with transaction.atomic():
        activity = Activity.objects.create(customer_id=customer.pk, subject="并发")  # not yet committed
        thread = _run(move, outcome)
        blocked = _wait_until_blocked(mover_pid)
    thread.join(timeout=60)
    assert blocked, "the move should wait for the insert that read the customer"
    assert outcome == [("ok", 1)], outcome
    assert _copies(activity.pk) == (org["BJ"].pk, beijing_sales_rep.pk)
