"""Factories for interaction records. Documents get real numbers from the sequence."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from customers.tests.factories import CustomerFactory
from interactions import models as m
from interactions.services import document_number_issue


def _number(model):
    return factory.LazyFunction(lambda: document_number_issue(model))


class ActivityFactory(DjangoModelFactory):
    class Meta:
        model = m.Activity

    customer = factory.SubFactory(CustomerFactory)
    kind = m.Activity.Kind.CALL
    subject = factory.Sequence(lambda n: f"回访电话{n}")
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    user = factory.LazyAttribute(lambda o: o.customer.owner)
    created_by = factory.LazyAttribute(lambda o: o.user)


class OpportunityFactory(DjangoModelFactory):
    class Meta:
        model = m.Opportunity

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"年度采购项目{n}")
    amount = Decimal("100000.00")
    owner = factory.LazyAttribute(lambda o: o.customer.owner)
    created_by = factory.LazyAttribute(lambda o: o.owner)


class QuoteFactory(DjangoModelFactory):
    class Meta:
        model = m.Quote

    opportunity = factory.SubFactory(OpportunityFactory)
    customer = factory.LazyAttribute(lambda o: o.opportunity.customer)
    number = _number(m.Quote)
    amount = Decimal("100000.00")
    created_by = factory.LazyAttribute(lambda o: o.opportunity.owner)


class ContractFactory(DjangoModelFactory):
    class Meta:
        model = m.Contract

    quote = factory.SubFactory(QuoteFactory)
    customer = factory.LazyAttribute(lambda o: o.quote.customer)
    number = _number(m.Contract)
    amount = Decimal("100000.00")
    status = m.Contract.Status.ACTIVE
    start_on = factory.LazyFunction(timezone.localdate)
    end_on = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=365))


class OrderFactory(DjangoModelFactory):
    class Meta:
        model = m.Order

    contract = factory.SubFactory(ContractFactory)
    customer = factory.LazyAttribute(lambda o: o.contract.customer)
    number = _number(m.Order)
    amount = Decimal("50000.00")


class ShipmentFactory(DjangoModelFactory):
    class Meta:
        model = m.Shipment

    order = factory.SubFactory(OrderFactory)
    customer = factory.LazyAttribute(lambda o: o.order.customer)
    number = _number(m.Shipment)


class PaymentFactory(DjangoModelFactory):
    class Meta:
        model = m.Payment

    contract = factory.SubFactory(ContractFactory)
    customer = factory.LazyAttribute(lambda o: o.contract.customer)
    number = _number(m.Payment)
    amount = Decimal("30000.00")
    due_on = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=30))


class ServiceCaseFactory(DjangoModelFactory):
    class Meta:
        model = m.ServiceCase

    customer = factory.SubFactory(CustomerFactory)
    number = _number(m.ServiceCase)
    type = m.ServiceCase.Type.COMPLAINT
    subject = factory.Sequence(lambda n: f"产品质量投诉{n}")
    received_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyAttribute(lambda o: o.received_at + timedelta(days=7))
