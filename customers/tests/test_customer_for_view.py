"""customer_for_view: `visible_to(user).get(pk=pk)` answered from a compiled row read, the row
proving access where it can and the predicate asked otherwise. Every case must give exactly what
the predicate gives; a leak here would open a customer's pages to anyone."""

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from customers.selectors import customer_360_customer, customer_for_view
from customers.tests.factories import CustomerFactory, expire, share_with
from sharing.models import Action
from sharing.principal import forget_principal, get_principal, may_access_customer

pytestmark = pytest.mark.django_db

PERSONAS = [
    "shenzhen_sales_rep",
    "guangzhou_sales_rep",
    "guangdong_sales_manager",
    "beijing_sales_manager",
    "hq_executive",
    "service_agent",
    "outsider",
]
LOADERS = [customer_for_view, customer_360_customer]


@pytest.fixture
def customers(shenzhen_sales_rep, guangzhou_sales_rep, outsider):
    owned = CustomerFactory(owner=shenzhen_sales_rep)
    shared = CustomerFactory(owner=None)
    share_with(shared, guangzhou_sales_rep)
    expired = CustomerFactory(owner=None)
    expire(share_with(expired, guangzhou_sales_rep))
    own_outsider = CustomerFactory(owner=outsider, org_unit=None)
    orphan = CustomerFactory(owner=None, org_unit=None)
    return [owned, shared, expired, own_outsider, orphan]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_every_persona_gets_exactly_what_the_predicate_gives(request, customers, persona, loader):
    user = request.getfixturevalue(persona)
    visible = set(
        Customer.objects.visible_to(user).filter(pk__in=[c.pk for c in customers]).values_list("pk", flat=True)
    )
    for customer in customers:
        forget_principal(user)
        if customer.pk in visible:
            assert loader(user, customer.pk).pk == customer.pk
        else:
            with pytest.raises(Http404):
                loader(user, customer.pk)


@pytest.mark.parametrize("loader", LOADERS)
def test_missing_malformed_and_anonymous_answer_404(customers, shenzhen_sales_rep, loader):
    from django.contrib.auth.models import AnonymousUser

    for pk in (987654321, "x", None):
        with pytest.raises(Http404):
            loader(shenzhen_sales_rep, pk)
    with pytest.raises(Http404):
        loader(AnonymousUser(), customers[0].pk)


def test_an_inactive_user_sees_nothing(customers, shenzhen_sales_rep):
    shenzhen_sales_rep.is_active = False
    shenzhen_sales_rep.save()
    forget_principal(shenzhen_sales_rep)
    with pytest.raises(Http404):
        customer_for_view(shenzhen_sales_rep, customers[0].pk)


def test_the_row_proves_the_owners_access_without_the_predicate(customers, shenzhen_sales_rep):
    forget_principal(shenzhen_sales_rep)
    get_principal(shenzhen_sales_rep)
    with CaptureQueriesContext(connection) as queries:
        customer = customer_for_view(shenzhen_sales_rep, customers[0].pk)
        may_change = may_access_customer(shenzhen_sales_rep, customer.pk, Action.CHANGE)
    assert may_change is True
    assert len(queries) == 1  # the row; "may change" came from the row too


def test_a_share_is_checked_by_the_predicate(customers, guangzhou_sales_rep):
    forget_principal(guangzhou_sales_rep)
    get_principal(guangzhou_sales_rep)
    with CaptureQueriesContext(connection) as queries:
        customer_for_view(guangzhou_sales_rep, customers[1].pk)
    assert len(queries) == 2  # the row, then the predicate (the share)
    assert "customers_customer" in queries.captured_queries[1]["sql"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_relationships_show_exactly_the_other_sides_the_predicate_shows(request, customers, persona):
    """customer_relationships (compiled read + row or predicate) against the relationship query
    with the predicate applied to each side (_visible_relationships), for relationships in both
    directions with owned, shared, expired-share, own and orphan customers (a customer cannot relate to itself)."""
    from customers.selectors import _visible_relationships, customer_relationships
    from customers.tests.factories import RelationshipFactory

    hub = customers[0]
    for other in customers[1:]:
        RelationshipFactory(from_customer=hub, to_customer=other)
        RelationshipFactory(from_customer=other, to_customer=hub)
    RelationshipFactory(from_customer=customers[3], to_customer=customers[4])
    user = request.getfixturevalue(persona)
    for customer in customers:
        forget_principal(user)
        expected = sorted(rel.pk for rel in _visible_relationships(user, customer))
        forget_principal(user)
        assert sorted(row.relationship.pk for row in customer_relationships(user, customer)) == expected
