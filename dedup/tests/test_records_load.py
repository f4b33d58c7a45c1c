"""The PostgreSQL loader of engine records (plain SQL, used by the batch job) builds exactly the
records the ORM loader builds: same contact order (primary first), same address fallbacks, same
profiles, inactive customers left out unless asked for, contact kinds a record ignores ignored."""

import datetime

import pytest
from django.db import connection

from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory
from dedup import records


@pytest.fixture
def mixed(db):
    made = []
    company = CustomerFactory(
        name="深圳市恒通贸易有限公司", province="", city="", profile__credit_code="91440300MA5XXXXX1A"
    )
    ContactPointFactory(customer=company, kind="landline", value="0755-26001234", is_primary=False)
    ContactPointFactory(customer=company, kind="mobile", value="13800138000", is_primary=True)
    ContactPointFactory(customer=company, kind="wechat", value="hengtong_wx", is_primary=True)
    ContactPointFactory(customer=company, kind="email", value="b@hengtong.cn", is_primary=False)
    ContactPointFactory(customer=company, kind="email", value="a@hengtong.cn", is_primary=True)
    ContactPointFactory(
        customer=company,
        kind="address",
        value="南山区科技园1号",
        province="广东",
        city="深圳",
        postcode="518000",
        is_primary=False,
    )
    ContactPointFactory(
        customer=company,
        kind="address",
        value="福田区深南大道2号",
        province="广东",
        city="深圳",
        postcode="518001",
        is_primary=True,
    )
    made.append(company)
    # A company without an address contact: its registered address is used.
    made.append(
        CustomerFactory(name="广州西湖茶业有限公司", province="广东", profile__registered_address="广州市天河区1号")
    )
    # People with and without identity number and birth date.
    made.append(PersonFactory(name="张伟", profile__id_number="440301199001011234", profile__birth_date=None))
    made.append(PersonFactory(name="王芳", profile__birth_date=datetime.date(1985, 3, 4)))
    bare = PersonFactory(name="李雷")
    ContactPointFactory(customer=bare, kind="wechat", value="lilei", is_primary=True)
    made.append(bare)
    merged = CustomerFactory(name="已合并有限公司", status="merged")
    ContactPointFactory(customer=merged, kind="mobile", value="13900139000")
    made.append(merged)
    return made


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL loader is PostgreSQL's")
@pytest.mark.parametrize("include_inactive", [False, True])
def test_the_sql_loader_builds_the_records_of_the_orm_loader(mixed, include_inactive):
    ids = [c.pk for c in mixed] + [10**9]  # an id nobody has
    expected = records._records_load_orm(sorted(ids), include_inactive=include_inactive)
    got = records._records_load_sql(sorted(ids), include_inactive=include_inactive)
    assert got == expected
    assert (mixed[-1].pk in got) is include_inactive
    company = got[mixed[0].pk]
    assert company.phones == ("13800138000", "0755-26001234")
    assert company.emails == ("a@hengtong.cn", "b@hengtong.cn")
    assert (company.address, company.postcode, company.province) == ("福田区深南大道2号", "518001", "广东")
    assert got[mixed[1].pk].address == "广州市天河区1号"
    assert got[mixed[3].pk].birth_date == "1985-03-04"


def test_records_load_reads_a_customer_once_in_any_slice(mixed, monkeypatch):
    monkeypatch.setattr(records, "_slices", lambda ids, size=5000: (ids[i : i + 2] for i in range(0, len(ids), 2)))
    loaded = records.records_load([c.pk for c in mixed] * 2)
    assert sorted(loaded) == sorted(c.pk for c in mixed[:-1])
    assert loaded[mixed[2].pk].id_number == "440301199001011234"
