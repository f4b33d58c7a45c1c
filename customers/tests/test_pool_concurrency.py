"""Concurrent claims of one pooled customer on PostgreSQL: threads with separate connections."""

import threading

import pytest
from django.db import connection, connections

from customers.models import Customer
from customers.pool import AlreadyClaimed, pool_claim
from customers.team_models import CustomerMove
from customers.tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROUNDS = 20
CLAIMERS = 6


def test_many_parallel_claimers_exactly_one_wins_and_the_others_learn_who(org):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks between connections")
    from django.contrib.auth import get_user_model

    from crm.demo import role_group
    from sharing.models import Membership

    unit = org["GD-SZ"]
    reps = []
    for i in range(CLAIMERS):
        rep = get_user_model().objects.create_user(f"claimer{i}", first_name=f"claimer{i}")
        rep.groups.add(role_group("sales_rep"))
        Membership.objects.create(user=rep, unit=unit)
        reps.append(rep)

    def claim(customer_pk, rep, barrier, outcomes):
        try:
            user = get_user_model().objects.get(pk=rep.pk)  # own principal per thread
            customer = Customer.objects.get(pk=customer_pk)
            barrier.wait(timeout=30)
            try:
                pool_claim(customer=customer, user=user)
            except AlreadyClaimed as exc:
                outcomes.append(("lost", rep.pk, exc.messages[0]))
            else:
                outcomes.append(("won", rep.pk, ""))
        except Exception as exc:  # noqa: BLE001  (reported below instead of dying silently in a thread)
            outcomes.append(("error", rep.pk, repr(exc)))
        finally:
            connections.close_all()

    for _round in range(ROUNDS):
        customer = CustomerFactory(owner=None, org_unit=unit)
        Customer.objects.filter(pk=customer.pk).update(pooled_at=customer.created_at)
        barrier, outcomes = threading.Barrier(CLAIMERS), []
        threads = [threading.Thread(target=claim, args=(customer.pk, rep, barrier, outcomes)) for rep in reps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert [o for o in outcomes if o[0] == "error"] == []
        winners = [pk for result, pk, _ in outcomes if result == "won"]
        assert len(winners) == 1, outcomes
        stored = Customer.objects.get(pk=customer.pk)
        assert stored.owner_id == winners[0] and stored.pooled_at is None
        winner_name = f"claimer{reps.index(next(r for r in reps if r.pk == winners[0]))}"
        losers = [message for result, _, message in outcomes if result == "lost"]
        assert len(losers) == CLAIMERS - 1
        assert all(winner_name in message for message in losers)
        assert CustomerMove.objects.filter(customer=customer, kind="pool_claimed").count() == 1
