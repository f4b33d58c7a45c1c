"""`field__in_array=[…]` answers what `field__in=[…]` answers, with one array parameter on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_same_rows_as_in_including_empty_and_none():
    made = CustomerFactory.create_batch(5)
    ids = [c.pk for c in made]
    for wanted in (ids[:3], ids[3:], [ids[0], None], [], [ids[0], 987654321]):
        expected = set(Customer.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        got = set(Customer.objects.filter(pk__in_array=wanted).values_list("pk", flat=True))
        assert got == expected, wanted
    # Negated and combined like any lookup.
    assert set(Customer.objects.exclude(pk__in_array=ids[:2]).values_list("pk", flat=True)) == set(ids[2:])


def test_one_parameter_on_postgresql_whatever_the_number_of_ids():
    customer = CustomerFactory()
    wanted = [customer.pk, *range(10_000_000, 10_004_000)]
    with CaptureQueriesContext(connection) as queries:
        assert list(Customer.objects.filter(pk__in_array=wanted).values_list("pk", flat=True)) == [customer.pk]
    sql = queries[0]["sql"]
    if connection.vendor == "postgresql":
        # The ids travel as one array literal, not 4,001 placeholders of an IN list.
        assert "= ANY('{" in sql
        assert " IN (" not in sql
    else:
        assert " IN (" in sql
