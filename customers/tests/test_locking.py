"""Optimistic locking under real concurrency: several writers, one wins, nobody is silently overwritten."""

import threading

import pytest
from django.db import connection, connections

from customers.models import Customer
from customers.services import StaleVersion, customer_update
from customers.tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROUNDS = 50
WRITERS = 4


def test_concurrent_writers_with_the_same_version_exactly_one_wins_each_round(django_user_model):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks between connections")
    users = [django_user_model.objects.create_user(f"writer{i}") for i in range(WRITERS)]
    customer = CustomerFactory(name="起始名称")

    def write(round_no, writer_no, version, barrier, outcomes):
        try:
            barrier.wait(timeout=30)
            name = f"第{round_no}轮-写者{writer_no}"
            try:
                customer_update(
                    customer=Customer(pk=customer.pk),
                    expected_version=version,
                    updated_by=users[writer_no],
                    name=name,
                    profile={"industry": name},
                )
            except StaleVersion as exc:
                outcomes.append(("stale", name, exc.current.version))
            else:
                outcomes.append(("won", name, None))
        except Exception as exc:  # noqa: BLE001  (reported below instead of dying silently in a thread)
            outcomes.append(("error", repr(exc), None))
        finally:
            connections.close_all()

    for round_no in range(ROUNDS):
        version = Customer.objects.get(pk=customer.pk).version
        barrier, outcomes = threading.Barrier(WRITERS), []
        threads = [
            threading.Thread(target=write, args=(round_no, w, version, barrier, outcomes)) for w in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert [o for o in outcomes if o[0] == "error"] == []
        winners = [name for result, name, _ in outcomes if result == "won"]
        losers = [stored for result, _, stored in outcomes if result == "stale"]
        assert len(winners) == 1, outcomes
        assert len(losers) == WRITERS - 1
        # Every loser was told about the winner's version; the stored record is exactly the winner's.
        assert set(losers) == {version + 1}
        stored = Customer.objects.select_related("company").get(pk=customer.pk)
        assert stored.version == version + 1
        assert stored.name == winners[0]
        assert stored.company.industry == winners[0]  # the profile is not a mix of two writers
