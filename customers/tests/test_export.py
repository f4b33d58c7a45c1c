"""Export: only for can_export, only visible customers and field groups, masked stays masked,
formula cells neutralised, and an export re-imports with no differences (T6)."""

import pytest

from customers.io import exporter
from customers.io.formats import FORMULA_STARTS
from customers.io.importer import import_job_analyse, import_job_create, import_job_decide, import_job_run
from customers.models import Customer, ExportLog
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory

pytestmark = pytest.mark.django_db

EXPORT_URL = "/customers/io/export/"


def export_table(client, **params):
    response = client.get(EXPORT_URL, params)
    assert response.status_code == 200, response.status_code
    content = b"".join(response.streaming_content) if response.streaming else b"".join(response)
    return exporter.read_back(content)


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(EXPORT_URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["shenzhen_sales_rep", "dealer_user", "finance_clerk", "outsider", "auditor"])
def test_export_is_refused_without_the_export_flag_and_gives_no_data(client_for, request, persona, customer_factory):
    user = request.getfixturevalue(persona)
    customer_factory(owner=user, name="不应出现的客户")
    response = client_for(user).get(EXPORT_URL)
    assert response.status_code == 403
    assert "不应出现的客户".encode() not in response.content
    assert not ExportLog.objects.exists()


def test_a_managers_export_has_only_customers_in_the_subtree(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep
):
    CustomerFactory(owner=shenzhen_sales_rep, name="深圳客户有限公司")
    CustomerFactory(owner=beijing_sales_rep, name="北京客户有限公司")
    table = export_table(client_for(guangdong_sales_manager))
    names = {row[table[0].index("名称")] for row in table[1:]}
    assert names == {"深圳客户有限公司"}


def test_masked_phones_stay_masked_and_hidden_groups_have_no_column(client_for, hq_executive, shenzhen_sales_rep):
    person = PersonFactory(owner=shenzhen_sales_rep, name="掩码测试")
    ContactPointFactory(customer=person, kind="mobile", value="13812345678", normalized="+8613812345678")
    person.person.id_number = "440305199001011234"
    person.person.save()
    table = export_table(client_for(hq_executive))  # executive: contact and identity masked
    row = dict(zip(table[0], table[1], strict=True))
    assert row["手机"] == "138****5678"
    assert "13812345678" not in str(table) and "440305199001011234" not in str(table)
    assert row["身份证号"].startswith("4403") and "*" in row["身份证号"]


def test_a_channel_manager_with_the_flag_gets_no_identity_columns(client_for, channel_manager):
    from sharing.models import RolePolicy

    RolePolicy.objects.filter(code="channel_manager").update(can_export=True)
    table = export_table(client_for(channel_manager))
    assert "身份证号" not in table[0] and "统一社会信用代码" not in table[0]
    assert "手机" in table[0]


def test_every_export_is_logged_with_its_filter_and_row_count(client_for, data_steward):
    from auditlog.models import LogEntry

    CustomerFactory(name="甲公司")
    CustomerFactory(name="乙公司")
    export_table(client_for(data_steward), q="甲")
    log = ExportLog.objects.get()
    assert (log.user, log.row_count, log.filters.get("q")) == (data_steward, 1, "甲")
    entry = LogEntry.objects.get(additional_data__what="export")
    assert entry.actor == data_steward and entry.additional_data["rows"] == 1


def test_export_queries_do_not_grow_with_rows(client_for, data_steward, django_assert_max_num_queries):
    for i in range(30):
        c = CustomerFactory(name=f"批量{i}有限公司")
        ContactPointFactory(customer=c)
    client = client_for(data_steward)
    with django_assert_max_num_queries(40):
        export_table(client)


TRICKY = {
    "name": '=HYPERLINK("http://evil")有限公司',
    "address": "-1+2 深圳南山",
    "tags": ["@SUM(A1)", "+86标签", "'引号"],
    "mobile": "+8613800138000",
}


def make_tricky_customers(owner):
    from customers.models import Tag

    company = CustomerFactory(name=TRICKY["name"], owner=owner)
    ContactPointFactory(customer=company, kind="mobile", value=TRICKY["mobile"], normalized="+8613800138000")
    ContactPointFactory(customer=company, kind="address", value=TRICKY["address"], normalized="x", is_primary=True)
    company.tags.set([Tag.objects.create(name=n) for n in TRICKY["tags"]])
    person = PersonFactory(name="@张公式", owner=owner)
    ContactPointFactory(customer=person, kind="email", value="zhang@example.com", normalized="zhang@example.com")
    ContactPointFactory(customer=person, kind="landline", value="010-65529988", normalized="+861065529988")
    person.person.title = "-制表"
    person.person.birth_date = "1990-01-31"
    person.person.save()
    return company, person


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_an_export_has_no_formula_cells_and_re_imports_with_no_differences(client_for, administrator, file_format):
    make_tricky_customers(administrator)
    client = client_for(administrator)
    response = client.get(EXPORT_URL, {"format": file_format})
    content = b"".join(response.streaming_content) if response.streaming else b"".join(response)
    first = exporter.read_back(content)
    cells = [cell for row in first for cell in row]
    assert not [c for c in cells if c and c[0] in FORMULA_STARTS]  # T6: 0 unescaped
    assert f"'{TRICKY['mobile']}" in cells

    before = {c.name for c in Customer.objects.all()}
    Customer.objects.all().delete()
    job = import_job_create(user=administrator, filename=f"export.{file_format}", content=content, enqueue=False)
    job = import_job_run(job=import_job_decide(job=import_job_analyse(job=job), decisions={}, enqueue=False))
    assert (job.created_count, job.rejected_count) == (2, 0)
    assert {c.name for c in Customer.objects.all()} == before

    second = exporter.read_back(b"".join(_content(client.get(EXPORT_URL, {"format": file_format}))))
    number = first[0].index("客户编号")

    def without_numbers(table):
        return sorted(tuple(c for i, c in enumerate(row) if i != number) for row in table[1:])

    assert first[0] == second[0]
    assert without_numbers(first) == without_numbers(second)  # T6: 0 differences


def _content(response):
    return response.streaming_content if response.streaming else [response.content]


def test_a_reps_export_has_own_and_shared_customers_only_with_shared_phones_masked(
    client_for, shenzhen_sales_rep, guangzhou_sales_rep, administrator
):
    import datetime

    from django.utils import timezone

    from sharing.models import RolePolicy
    from sharing.services import share_grant

    RolePolicy.objects.filter(code="sales_rep").update(can_export=True)
    own = CustomerFactory(owner=shenzhen_sales_rep, name="自己的客户")
    ContactPointFactory(customer=own, kind="mobile", value="13800000001", normalized="+8613800000001")
    shared = CustomerFactory(owner=guangzhou_sales_rep, name="共享的客户")
    ContactPointFactory(customer=shared, kind="mobile", value="13800000002", normalized="+8613800000002")
    hidden = CustomerFactory(owner=guangzhou_sales_rep, name="看不见的客户")
    ContactPointFactory(customer=hidden, kind="mobile", value="13800000003", normalized="+8613800000003")
    share_grant(
        customer=shared,
        user=shenzhen_sales_rep,
        action="view",
        granted_by=administrator,
        expires_at=timezone.now() + datetime.timedelta(days=1),
        reason="t",
    )
    table = export_table(client_for(shenzhen_sales_rep))
    rows = {row[table[0].index("名称")]: row[table[0].index("手机")] for row in table[1:]}
    assert rows == {"自己的客户": "13800000001", "共享的客户": "138****0002"}
    assert "13800000003" not in str(table) and "13800000002" not in str(table)
