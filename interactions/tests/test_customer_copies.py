"""The customer's unit and owner copied onto its records never go stale (interactions/copies.py).

A stale copy is a leak: the "copies" shapes of `visible_to` trust them. Every path that changes a
customer's unit or owner, or a record's customer, is exercised here and the copies are compared
with the customer rows, then the old unit's manager is checked not to see the records any more.
"""

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from interactions import copies, querysets
from interactions.models import Activity, Opportunity, Payment, ServiceCase
from interactions.tests.factories import ActivityFactory, OpportunityFactory, PaymentFactory, ServiceCaseFactory
from sharing.principal import forget_principal, get_principal

pytestmark = pytest.mark.django_db

COPY_MODELS = (Activity, Opportunity, Payment, ServiceCase)


def _records(customer):
    payment = PaymentFactory(
        contract__quote__opportunity__customer=customer, contract__quote__opportunity__owner=customer.owner
    )
    ActivityFactory(customer=customer, follow_up_on=timezone.localdate())
    ServiceCaseFactory(customer=customer)
    OpportunityFactory(customer=customer)
    return payment


def stale_rows() -> list:
    """(model, pk, copies, customer's values) of every record whose copies differ from its customer."""
    found = []
    units = dict(Customer.objects.values_list("pk", "org_unit_id"))
    owners = dict(Customer.objects.values_list("pk", "owner_id"))
    for model in COPY_MODELS:
        for pk, customer_id, unit, owner in model.objects.values_list(
            "pk", "customer_id", "cust_org_unit_id", "cust_owner_id"
        ):
            if (unit, owner) != (units[customer_id], owners[customer_id]):
                found.append((model.__name__, pk, (unit, owner), (units[customer_id], owners[customer_id])))
    return found


def _copies_of(customer) -> set:
    return {
        row
        for model in COPY_MODELS
        for row in model.objects.filter(customer=customer).values_list("cust_org_unit_id", "cust_owner_id")
    }


@pytest.fixture
def gz_customer(org, guangzhou_sales_rep):
    customer = CustomerFactory(owner=guangzhou_sales_rep, org_unit=org["GD-GZ"])
    _records(customer)
    return customer


def _visible_counts(user) -> dict:
    """Records of each copy-carrying kind the user's lists show (the "copies" shapes when scoped)."""
    forget_principal(user)
    principal = get_principal(user)
    return {
        model.__name__: model.objects.visible_to(user, rows=querysets.LIST).count()
        for model in COPY_MODELS
        if principal.sees_kind(model.KIND)
    }


def _shifted(counts: dict, customer, sign: int) -> dict:
    """`counts` with the customer's records of each kind taken away (sign -1) or added (+1)."""
    own = {model.__name__: model.objects.filter(customer_id=customer.pk).count() for model in COPY_MODELS}
    return {name: n + sign * own[name] for name, n in counts.items()}


def test_the_triggers_are_installed():
    assert copies.expected_trigger_names(connection.vendor) <= copies.installed_trigger_names(connection)


def test_a_new_record_gets_its_customers_unit_and_owner(gz_customer, org, guangzhou_sales_rep):
    assert _copies_of(gz_customer) == {(org["GD-GZ"].pk, guangzhou_sales_rep.pk)}
    # Created through the ORM with wrong copies given: the database sets them anyway.
    activity = Activity.objects.create(customer=gz_customer, subject="x", cust_org_unit_id=-1, cust_owner_id=-1)
    assert Activity.objects.filter(pk=activity.pk).values_list("cust_org_unit_id", "cust_owner_id").get() == (
        org["GD-GZ"].pk,
        guangzhou_sales_rep.pk,
    )
    assert stale_rows() == []


def test_no_write_to_a_copy_sticks(gz_customer, org):
    for model in COPY_MODELS:
        model.objects.filter(customer=gz_customer).update(cust_org_unit_id=org["BJ"].pk, cust_owner_id=None)
    case = ServiceCase.objects.get(customer=gz_customer)
    case.cust_org_unit_id = org["BJ"].pk
    case.save()
    assert stale_rows() == []


def test_moving_a_record_to_another_customer_takes_that_customers_copies(gz_customer, org, beijing_sales_rep):
    other = CustomerFactory(owner=beijing_sales_rep, org_unit=org["BJ"])
    for model in COPY_MODELS:
        model.objects.filter(customer=gz_customer).update(customer=other)
    assert _copies_of(other) == {(org["BJ"].pk, beijing_sales_rep.pk)}
    activity = ActivityFactory(customer=gz_customer)
    activity.customer = other
    activity.save()
    assert stale_rows() == []


@pytest.mark.parametrize("how", ["save", "update", "transfer", "pool_put", "to_nobody"])
def test_a_customer_changing_unit_or_owner_takes_its_records_along(
    how, gz_customer, org, guangdong_sales_manager, beijing_sales_manager, beijing_sales_rep, hq_executive
):
    from customers.pool import pool_put
    from customers.services import customer_transfer

    gd_before = _visible_counts(guangdong_sales_manager)
    assert all(gd_before.values()), gd_before
    bj_before = _visible_counts(beijing_sales_manager)
    if how == "save":
        gz_customer.org_unit, gz_customer.owner = org["BJ"], beijing_sales_rep
        gz_customer.save()
    elif how == "update":
        Customer.objects.filter(pk=gz_customer.pk).update(org_unit=org["BJ"], owner=beijing_sales_rep)
    elif how == "transfer":
        customer_transfer(
            customer=gz_customer, new_owner=beijing_sales_rep, new_unit=org["BJ"], transferred_by=hq_executive
        )
    elif how == "pool_put":
        pool_put(customer=gz_customer, unit=org["BJ"])
    else:
        Customer.objects.filter(pk=gz_customer.pk).update(org_unit=None, owner=None)
    assert stale_rows() == []
    gz_customer.refresh_from_db()
    assert _copies_of(gz_customer) == {(gz_customer.org_unit_id, gz_customer.owner_id)}
    # The old unit's manager no longer sees the records, the new one does.
    assert _visible_counts(guangdong_sales_manager) == _shifted(gd_before, gz_customer, -1)
    if how != "to_nobody":
        assert _visible_counts(beijing_sales_manager) == _shifted(bj_before, gz_customer, +1)


def test_merge_and_undo_keep_the_copies(
    gz_customer, org, data_steward, guangdong_sales_manager, beijing_sales_rep, beijing_sales_manager
):
    from dedup.services import customer_merge, customer_unmerge

    survivor = CustomerFactory(owner=beijing_sales_rep, org_unit=org["BJ"], kind=gz_customer.kind)
    gd_before = _visible_counts(guangdong_sales_manager)
    _, journal = customer_merge(survivor=survivor, duplicate=gz_customer, merged_by=data_steward, reason="同一家")
    assert stale_rows() == []
    assert _copies_of(survivor) == {(org["BJ"].pk, beijing_sales_rep.pk)}
    assert not _copies_of(gz_customer)
    assert _visible_counts(guangdong_sales_manager) == _shifted(gd_before, survivor, -1)
    customer_unmerge(journal=journal, unmerged_by=data_steward, reason="不是同一家")
    assert stale_rows() == []
    assert _copies_of(gz_customer) == {(org["GD-GZ"].pk, gz_customer.owner_id)}
    assert _visible_counts(guangdong_sales_manager) == gd_before


def test_a_missing_trigger_is_put_back_after_migrate_and_stale_copies_fixed(gz_customer, org):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite loses triggers when a migration remakes a table; PostgreSQL does not")
    with connection.cursor() as cursor:
        for statement in copies.drop_statements("sqlite"):
            cursor.execute(statement)
    Customer.objects.filter(pk=gz_customer.pk).update(org_unit=org["BJ"])
    assert stale_rows()  # what a lost trigger would cause
    copies.ensure_triggers(connection)
    assert stale_rows() == []
    assert copies.expected_trigger_names("sqlite") <= copies.installed_trigger_names(connection)


def test_the_seed_fills_the_copies_itself():
    """seed_scale loads records with the triggers off: it fills the copies itself (and checks them)."""
    if connection.vendor != "postgresql":
        pytest.skip("seed_scale needs PostgreSQL")
    from crm.scale import Seeder, sizes_for

    sizes = sizes_for(small=True, customers=300, activities=600, cases=50)
    Seeder(sizes, write=lambda *args: None, strict=True).run(reset=True)
    assert Activity.objects.count() and ServiceCase.objects.count() and Payment.objects.count()
    assert stale_rows() == []
    assert copies.expected_trigger_names("postgresql") <= copies.installed_trigger_names(connection)
    # The triggers are on again after the load.
    customer = Customer.objects.filter(activities__isnull=False).first()
    Customer.objects.filter(pk=customer.pk).update(owner=None)
    assert stale_rows() == []
