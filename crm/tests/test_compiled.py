"""crm.compiled.CompiledQuery: the rows a queryset gives, from SQL compiled once.

The customer list's page rows are the use: every sort order is compared with the ORM's rows, field
by field, with owners, units, phones, roles, tags and unmask grants present, missing and expired.
"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.compiled import CompiledQuery, Slot, slot_filter
from customers.forms import CustomerFilterForm
from customers.models import Customer, CustomerRole, Tag
from customers.selectors import _page_rows_query, _related_columns
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory
from sharing.models import UnmaskGrant
from sharing.tests.factories import OrgUnitFactory, UserFactory

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in Customer._meta.concrete_fields]


@pytest.fixture
def page():
    if connection.vendor != "postgresql":
        pytest.skip("the list's related columns are PostgreSQL's (ARRAY sub-selects)")
    viewer = UserFactory()
    owner = UserFactory(first_name="广东", last_name="李")
    unit = OrgUnitFactory(name="深圳")
    role, _ = CustomerRole.objects.get_or_create(code="debtor", defaults={"name": "debtor"})
    tags = [Tag.objects.create(name="VIP"), Tag.objects.create(name="A<b>")]
    customers = [
        CustomerFactory(owner=owner, org_unit=unit, name="华信"),
        CustomerFactory(owner=None, org_unit=None, name="阿里"),
        PersonFactory(owner=owner, name="张三"),
        CustomerFactory(name="Zeta"),
    ]
    customers[0].roles.add(role)
    customers[0].tags.add(*tags)
    customers[2].tags.add(tags[0])
    ContactPointFactory(customer=customers[0], value="13800138000")
    ContactPointFactory(customer=customers[2], kind="landline", value="0755-12345678")
    now = timezone.now()
    UnmaskGrant.objects.create(user=viewer, customer=customers[0], field_group="contact")
    UnmaskGrant.objects.create(user=viewer, customer=customers[2], field_group="contact", expires_at=now)
    UnmaskGrant.objects.create(user=owner, customer=customers[3], field_group="finance")
    Customer.objects.filter(pk=customers[1].pk).update(updated_at=now - datetime.timedelta(days=3))
    return viewer, [c.pk for c in customers], now


def _orm_rows(viewer, ids, order, now):
    rows = Customer.objects.filter(pk__in=ids).select_related("owner", "org_unit").order_by(*order)
    return list(rows.annotate(**_related_columns(viewer.pk, now)))


def _described(rows):
    return [
        (
            [getattr(row, name) for name in FIELDS],
            row.owner and (row.owner.pk, row.owner.username, row.owner.get_full_name()),
            row.org_unit and (row.org_unit.pk, row.org_unit.name),
            row.row_phone,
            list(row.row_role_names),
            list(row.row_tag_names),
            sorted(row.row_unmask),
        )
        for row in rows
    ]


@pytest.mark.parametrize("order", [*CustomerFilterForm.SORTS.values(), ("-updated_at", "-pk")])
def test_page_rows_are_the_rows_the_orm_reads(page, order):
    viewer, ids, now = page
    compiled = _page_rows_query(tuple(order)).models(ids=ids, user=viewer.pk, now=now)
    expected = _orm_rows(viewer, ids, order, now)
    assert [row.pk for row in compiled] == [row.pk for row in expected]
    with CaptureQueriesContext(connection) as queries:
        described = _described(compiled)
    assert described == _described(expected)
    assert len(queries) == 0  # owner and unit came with the rows
    assert compiled[0]._state.adding is False and compiled[0]._state.db == "default"


def test_page_rows_take_new_values_each_run(page):
    viewer, ids, now = page
    query = _page_rows_query(("name_normalized", "pk"))
    assert [r.pk for r in query.models(ids=ids[:2], user=viewer.pk, now=now)] == sorted(
        ids[:2], key=lambda pk: Customer.objects.get(pk=pk).name_normalized
    )
    assert query.models(ids=[], user=viewer.pk, now=now) == []
    later = now + datetime.timedelta(days=1)
    unmask = {row.pk: sorted(row.row_unmask) for row in query.models(ids=ids, user=viewer.pk, now=later)}
    assert unmask[ids[0]] == ["contact"] and unmask[ids[2]] == []  # the expired grant is gone


def test_one_query_per_run_and_the_sql_is_compiled_once(page, django_assert_num_queries):
    viewer, ids, now = page
    builds = []
    table = Customer._meta.db_table

    def build():
        builds.append(1)
        return Customer.objects.filter(slot_filter(f'"{table}"."id" = ANY(%s)', Slot("ids"))).order_by("pk")

    if connection.vendor != "postgresql":
        pytest.skip("= ANY(array) is PostgreSQL's")
    query = CompiledQuery(Customer, build)
    with CaptureQueriesContext(connection) as queries:
        first = query.models(ids=ids)
        second = query.models(ids=ids[1:])
    assert [c.pk for c in first] == sorted(ids) and [c.pk for c in second] == sorted(ids[1:])
    assert len(builds) == 1 and len(queries) == 2


def test_missing_or_unknown_values_are_refused(page):
    viewer, ids, now = page
    query = _page_rows_query(("number",))
    with pytest.raises(TypeError):
        query.models(ids=ids, user=viewer.pk)
    with pytest.raises(TypeError):
        query.models(ids=ids, user=viewer.pk, now=now, extra=1)
    sql, params = query.sql()
    assert {p.name for p in params if isinstance(p, Slot)} == {"ids", "user", "now"}


def test_a_compiled_query_reads_what_the_orm_reads_on_any_database():
    """Converters (SQLite's datetimes and booleans), select_related objects, missing relations."""
    owner = UserFactory(last_login=timezone.now(), is_staff=True)
    customers = [CustomerFactory(owner=owner), CustomerFactory(owner=None, org_unit=None)]
    table = Customer._meta.db_table
    query = CompiledQuery(
        Customer,
        lambda: Customer.objects.filter(slot_filter(f'"{table}"."number" = %s', Slot("number"))).select_related(
            "owner", "org_unit"
        ),
    )
    for customer in customers:
        (compiled,) = query.models(number=customer.number)
        with CaptureQueriesContext(connection) as queries:
            related = (compiled.owner, compiled.org_unit)
        assert len(queries) == 0
        expected = Customer.objects.select_related("owner", "org_unit").get(pk=customer.pk)
        assert [getattr(compiled, name) for name in FIELDS] == [getattr(expected, name) for name in FIELDS]
        assert related == (expected.owner, expected.org_unit)
        if expected.owner:
            assert compiled.owner.last_login == expected.owner.last_login and compiled.owner.is_staff is True
    assert query.models(number="no such number") == []


def test_prefetching_querysets_are_refused():
    query = CompiledQuery(Customer, lambda: Customer.objects.prefetch_related("tags"))
    with pytest.raises(ValueError):
        query.models()


def test_values_querysets_give_rows_with_converters():
    customers = [CustomerFactory(), CustomerFactory()]
    table = Customer._meta.db_table
    query = CompiledQuery(
        Customer,
        lambda: Customer.objects.filter(slot_filter(f'"{table}"."number" = %s', Slot("number"))).values_list(
            "pk", "created_at", "name"
        ),
    )
    for customer in customers:
        expected = list(Customer.objects.filter(pk=customer.pk).values_list("pk", "created_at", "name"))
        assert query.rows(number=customer.number) == expected
    with pytest.raises(TypeError):
        query.models(number=customers[0].number)
