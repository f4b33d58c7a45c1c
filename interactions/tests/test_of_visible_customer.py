"""`of_visible_customer` (the 360 page's shortcut) answers exactly what `visible_to` answers."""

import pytest

from customers.tests.factories import CustomerFactory
from interactions.models import Activity, Contract, Opportunity, Order, Payment, Quote, ServiceCase, Shipment
from interactions.tests.factories import ActivityFactory, PaymentFactory, ServiceCaseFactory, ShipmentFactory
from sharing.principal import forget_principal

pytestmark = pytest.mark.django_db

MODELS = (Activity, Opportunity, Quote, Contract, Order, Shipment, Payment, ServiceCase)
PERSONAS = (
    "hq_executive",
    "guangdong_sales_manager",
    "shenzhen_sales_rep",
    "guangzhou_sales_rep",
    "beijing_sales_manager",
    "channel_manager",
    "dealer_user",
    "service_agent",
    "finance_clerk",
    "auditor",
    "outsider",
)


def _customer_with_everything(owner):
    customer = CustomerFactory(owner=owner)
    shipment = ShipmentFactory(order__contract__quote__opportunity__customer=customer)
    ActivityFactory(customer=customer)
    PaymentFactory(contract=shipment.order.contract)
    ServiceCaseFactory(customer=customer)
    return customer


def test_every_persona_gets_the_same_rows_either_way(request, shenzhen_sales_rep, beijing_sales_rep):
    customers = [_customer_with_everything(shenzhen_sales_rep), _customer_with_everything(beijing_sales_rep)]
    compared = 0
    for name in PERSONAS:
        user = request.getfixturevalue(name)
        for customer in customers:
            for model in MODELS:
                forget_principal(user)
                expected = set(model.objects.visible_to(user).filter(customer=customer).values_list("pk", flat=True))
                got = set(model.objects.of_visible_customer(user, customer).values_list("pk", flat=True))
                assert got == expected, (name, customer.pk, model.__name__)
                compared += bool(expected)
    # Not vacuous: many of the comparisons had rows to agree on.
    assert compared > 20
