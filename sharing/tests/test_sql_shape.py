"""The shape of the visibility predicate on PostgreSQL (docs/adr/0002-visibility-predicate.md).

`id = ANY(ARRAY(SELECT …))` lets PostgreSQL evaluate each share subquery once (an InitPlan) and
combine index scans with BitmapOr; `id IN (SELECT …)` inside an OR chain becomes a SubPlan filter
evaluated against every row. Casts on the compared columns would defeat the indexes.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm.demo import role_group
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from sharing.models import Action, CustomerGroupShare, CustomerUserShare
from sharing.principal import get_principal, share_permission_ids
from sharing.services import share_grant

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the predicate's shape is PostgreSQL's"),
]


@pytest.fixture
def rep_with_shares(shenzhen_sales_rep, guangzhou_sales_rep, guangdong_sales_manager):
    for _ in range(3):
        share_grant(
            customer=CustomerFactory(owner=guangzhou_sales_rep),
            action=Action.VIEW,
            user=shenzhen_sales_rep,
            granted_by=guangdong_sales_manager,
            expires_at=timezone.now() + timedelta(days=3),
        )
    share_grant(
        customer=CustomerFactory(owner=guangzhou_sales_rep),
        action=Action.VIEW,
        group=role_group("sales_rep"),
        granted_by=guangdong_sales_manager,
    )
    return shenzhen_sales_rep


def compiled(queryset) -> str:
    sql, _params = queryset.query.sql_with_params()
    return sql


def test_the_rep_predicate_uses_any_array_for_both_kinds_of_share(rep_with_shares):
    sql = compiled(Customer.objects.visible_to(rep_with_shares))
    assert sql.count("= ANY(ARRAY(") == 2  # user shares and group shares
    assert "IN (SELECT" not in sql.upper()
    assert "::varchar" not in sql and "::text" not in sql
    assert '"sharing_customerusershare"' in sql and '"sharing_customergroupshare"' in sql


def test_a_manager_predicate_adds_the_scope_units_as_a_plain_list(guangdong_sales_manager):
    sql = compiled(Customer.objects.visible_to(guangdong_sales_manager, action="change"))
    assert '"customers_customer"."org_unit_id" IN (' in sql
    assert "IN (SELECT" not in sql.upper()
    assert sql.count("= ANY(ARRAY(") == 2


def test_the_prefixed_predicate_keeps_the_shape_for_related_records(rep_with_shares):
    from customers.models import ContactPoint
    from sharing.principal import visibility_q

    q = visibility_q(get_principal(rep_with_shares), "view", prefix="customer__")
    sql = compiled(ContactPoint.objects.filter(q))
    assert sql.count("= ANY(ARRAY(") == 2
    assert "IN (SELECT" not in sql.upper()


def explain(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def seeded_table(rep_with_shares, guangzhou_sales_rep, org):
    """A few thousand customers in other units and some more shares, then fresh statistics."""
    from customers.services import customer_numbers_reserve

    numbers = customer_numbers_reserve(3000)
    units = [org["BJ-CY"], org["ZJ-HZ"], org["GD-GZ"]]
    Customer.objects.bulk_create(
        [
            Customer(number=n, kind="company", name=f"种子{i}", owner=guangzhou_sales_rep, org_unit=units[i % 3])
            for i, n in enumerate(numbers)
        ]
    )
    with connection.cursor() as cursor:
        for table in (Customer, CustomerUserShare, CustomerGroupShare):
            cursor.execute(f'ANALYZE "{table._meta.db_table}"')
    return rep_with_shares


def test_counting_visible_customers_needs_no_subplan_per_row(seeded_table):
    sql, params = Customer.objects.visible_to(seeded_table).values("pk").query.sql_with_params()
    plan = explain(f"SELECT count(*) FROM ({sql}) AS visible", params)  # noqa: S608  (SQL compiled by Django)
    assert "SubPlan" not in plan, plan
    assert "BitmapOr" in plan or "= ANY" in plan, plan
    assert "InitPlan" in plan, plan  # each share subquery runs once


def test_the_in_subquery_form_would_filter_every_row_through_a_subplan(seeded_table):
    """The alternative the ADR rejects, planned on the same data: it does use a SubPlan."""
    from django.db.models import Q

    principal = get_principal(seeded_table)
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    shares = CustomerUserShare.objects.filter(
        live, user_id=principal.user_id, permission_id__in=share_permission_ids("view")
    ).values("content_object_id")
    group_shares = CustomerGroupShare.objects.filter(
        live, group_id__in=sorted(principal.group_ids), permission_id__in=share_permission_ids("view")
    ).values("content_object_id")
    naive = Customer.objects.filter(Q(owner_id=principal.user_id) | Q(pk__in=shares) | Q(pk__in=group_shares))
    sql, params = naive.values("pk").query.sql_with_params()
    assert "IN (SELECT" in sql.upper()
    plan = explain(f"SELECT count(*) FROM ({sql}) AS visible", params)  # noqa: S608  (SQL compiled by Django)
    assert "SubPlan" in plan, plan
    # Both forms find the same customers.
    assert set(naive.values_list("pk", flat=True)) == set(
        Customer.objects.visible_to(seeded_table).values_list("pk", flat=True)
    )
