"""Import: encodings, XLSX oddities, bad input, duplicates, permissions, chunked resumable runs."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied

from customers.io.importer import (
    import_job_analyse,
    import_job_create,
    import_job_decide,
    import_job_map,
    import_job_run,
)
from customers.io.readers import FileProblem
from customers.io.testing import HEADERS_ZH, bad_rows, csv_bytes, good_rows, xlsx_bytes
from customers.models import ContactPoint, Customer, ImportJob, ImportRow
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """Messages are asserted in English (the default UI language is Chinese)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def run_import(user, content, filename="customers.csv", decisions=None, **kwargs):
    """Upload → analyse → decide → run, the way the browser does it, without Celery."""
    job = import_job_create(user=user, filename=filename, content=content, enqueue=False)
    assert job.status == ImportJob.Status.ANALYSING, job.status
    job = import_job_analyse(job=job)
    assert job.status == ImportJob.Status.PREVIEW, job.message
    job = import_job_decide(job=job, decisions=decisions or {}, enqueue=False)
    return import_job_run(job=job, **kwargs)


def assert_all_accounted(job):
    assert job.status == ImportJob.Status.DONE
    assert job.accounted_rows == job.total_rows == job.processed_rows
    assert ImportRow.objects.filter(job=job).count() == job.total_rows


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", False), ("utf-8", True), ("gbk", False), ("gb18030", False)])
def test_a_csv_in_each_encoding_imports_every_row_without_garbling(data_steward, encoding, bom):
    rows = good_rows(20)
    job = run_import(data_steward, csv_bytes(HEADERS_ZH, rows, encoding=encoding, bom=bom))
    assert_all_accounted(job)
    assert job.created_count == 20
    names = set(Customer.objects.filter(source="import").values_list("name", flat=True))
    assert names == {r[2] for r in rows}
    assert job.encoding == {"utf-8": "utf-8-sig" if bom else "utf-8", "gbk": "gb18030", "gb18030": "gb18030"}[encoding]


def test_imported_customers_get_profiles_contact_points_tags_and_an_audit_entry(data_steward):
    from auditlog.models import LogEntry

    rows = good_rows(2)
    job = run_import(data_steward, csv_bytes(HEADERS_ZH, rows))
    assert_all_accounted(job)
    person = Customer.objects.get(name=rows[1][2])
    assert person.kind == "person"
    assert person.person.id_number == rows[1][10]
    assert str(person.person.birth_date) == rows[1][9]
    assert {cp.kind for cp in person.contact_points.all()} == {"mobile", "email", "address"}
    assert person.contact_points.get(kind="mobile").normalized == "+86" + rows[1][3]
    assert sorted(person.tags.values_list("name", flat=True)) == ["导入", "测试"]
    assert (person.province, person.city) == (rows[1][7], rows[1][8])
    company = Customer.objects.get(name=rows[0][2])
    assert company.company.credit_code == rows[0][11]
    assert company.owner == data_steward and company.source == "import"
    entry = LogEntry.objects.get_for_object(person).get(action=LogEntry.Action.CREATE)
    assert (entry.object_id, entry.actor_id, entry.timestamp is not None) == (person.pk, data_steward.pk, True)
    assert entry.changes["name"] == ["None", person.name] and entry.changes["number"] == ["None", person.number]
    assert entry.additional_data == {
        "what": "import",
        "import_job": job.pk,
        "row": 3,
        "contact_points": 3,
        "roles": [],
        "tags": ["导入", "测试"],
    }
    # Contact points are copied in as tuples: the columns left out hold what a new instance would.
    mobile = person.contact_points.get(kind="mobile")
    assert (mobile.is_primary, mobile.is_valid, mobile.marketing_consent, mobile.district) == (True, True, False, "")
    assert mobile.created_at is not None and mobile.updated_at is not None


def test_bad_rows_are_rejected_with_a_reason_and_good_rows_are_not(data_steward):
    good = good_rows(30)
    bad = bad_rows(20)
    rows = good[:15] + [r for r, _ in bad] + good[15:]
    job = run_import(data_steward, csv_bytes(HEADERS_ZH, rows))
    assert_all_accounted(job)
    assert (job.created_count, job.rejected_count) == (30, 20)
    rejected = ImportRow.objects.filter(job=job, outcome="rejected")
    assert all(r.reason for r in rejected)
    assert {r.values[0] for r in rejected} == {r[0] for r, _ in bad}


def test_an_xlsx_with_numbers_dates_formulas_and_merged_cells_is_read_as_a_person_sees_it(data_steward):
    import io

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["名称", "类型", "手机", "出生日期", "标签"])
    sheet.append(["张三丰", "个人", 13800138000, datetime.date(1990, 1, 31), "甲"])
    sheet.append(["李四光", "个人", 13800138001.0, 32904, "乙"])  # serial date
    sheet.append(["王五", "个人", "=1+1", "2024年1月31日", "丙"])  # formula without saved result
    sheet.append(["赵六", "个人", "13800138003", "20240131", "丁"])
    sheet.merge_cells("E5:E6")
    sheet.append(["钱七", "个人", "13800138004", "2024/1/31", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    job = run_import(data_steward, buffer.getvalue(), filename="people.xlsx")
    assert_all_accounted(job)
    assert (job.created_count, job.rejected_count) == (4, 1)
    assert "formula" in ImportRow.objects.get(job=job, outcome="rejected").reason
    assert Customer.objects.get(name="李四光").person.birth_date == datetime.date(1990, 1, 31)
    assert Customer.objects.get(name="张三丰").contact_points.get().value == "13800138000"
    assert list(Customer.objects.get(name="钱七").tags.values_list("name", flat=True)) == ["丁"]
    assert Customer.objects.get(name="赵六").person.birth_date == datetime.date(2024, 1, 31)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, ".xls"),
        (bytes(range(256)) * 40000, "binary"),
        (b"\x81\x30\xff\xfe\x80" * 1000, "GBK"),
        (b"PK\x03\x04garbage", "Excel"),
        (b"a" * 200_000, "CSV"),
    ],
)
def test_unreadable_files_get_a_clear_message_and_create_nothing(data_steward, content, message):
    with pytest.raises(FileProblem) as error:
        import_job_create(user=data_steward, filename="junk.csv", content=content, enqueue=False)
    assert message in str(error.value)
    assert not ImportJob.objects.exists()


def test_a_file_over_the_size_limit_is_refused(data_steward, settings, monkeypatch):
    from customers.io import importer

    monkeypatch.setattr(importer, "MAX_BYTES", 1000)
    with pytest.raises(FileProblem, match="limit"):
        import_job_create(user=data_steward, filename="big.csv", content=b"name\n" + b"x\n" * 1000, enqueue=False)


def test_unknown_headers_wait_for_a_mapping_and_extra_columns_are_ignored(data_steward):
    content = csv_bytes(["客户全称", "手机号码", "随便"], [["深圳甲公司", "13800138000", "忽略我"]])
    job = import_job_create(user=data_steward, filename="odd.csv", content=content, enqueue=False)
    assert job.status == ImportJob.Status.MAPPING
    job = import_job_map(job=job, mapping={"0": "name", "1": "mobile", "2": ""}, enqueue=False)
    job = import_job_analyse(job=job)
    job = import_job_run(job=import_job_decide(job=job, decisions={}, enqueue=False))
    assert_all_accounted(job)
    assert Customer.objects.get(name="深圳甲公司").contact_points.get().value == "13800138000"


def test_a_mapping_without_a_name_column_is_refused(data_steward):
    from customers.io.importer import ImportProblem

    content = csv_bytes(["a", "b"], [["x", "y"]])
    job = import_job_create(user=data_steward, filename="odd.csv", content=content, enqueue=False)
    with pytest.raises(ImportProblem):
        import_job_map(job=job, mapping={"1": "mobile"}, enqueue=False)


def test_blank_lines_are_not_rows(data_steward):
    content = "名称,手机\r\n\r\n甲公司,13800138000\r\n,\r\n\r\n乙公司,13800138001\r\n".encode()
    job = run_import(data_steward, content)
    assert_all_accounted(job)
    assert job.total_rows == 2


def test_import_needs_the_import_flag(shenzhen_sales_rep, guangdong_sales_manager):
    for user in (shenzhen_sales_rep, guangdong_sales_manager):
        with pytest.raises(PermissionDenied):
            import_job_create(user=user, filename="a.csv", content=csv_bytes(["名称"], [["甲"]]), enqueue=False)


def test_a_dealers_import_lands_in_the_dealers_unit_with_the_dealer_as_owner(dealer_user, org):
    content = csv_bytes(
        ["名称", "负责人", "所属单位"], [["经销商客户甲", "gd_manager", "BJ"], ["经销商客户乙", "", ""]]
    )
    job = run_import(dealer_user, content)
    assert_all_accounted(job)
    assert job.created_count == 2
    for customer in Customer.objects.filter(name__startswith="经销商客户"):
        assert customer.owner == dealer_user
        assert customer.org_unit == org["GD-SZ-D1"]


def test_a_steward_may_assign_owners_and_units_and_unknown_ones_are_rejected(data_steward, shenzhen_sales_rep, org):
    content = csv_bytes(
        ["名称", "负责人", "所属单位"],
        [["甲公司", "sz_rep", ""], ["乙公司", "", "BJ-CY"], ["丙公司", "nobody", ""], ["丁公司", "", "NOPE"]],
    )
    job = run_import(data_steward, content)
    assert_all_accounted(job)
    assert (job.created_count, job.rejected_count) == (2, 2)
    first = Customer.objects.get(name="甲公司")
    assert (first.owner, first.org_unit) == (shenzhen_sales_rep, org["GD-SZ"])
    assert Customer.objects.get(name="乙公司").org_unit == org["BJ-CY"]


def test_a_manager_with_the_import_flag_may_not_assign_outside_the_subtree(
    guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep, org
):
    from sharing.models import RolePolicy

    RolePolicy.objects.filter(code="sales_manager").update(can_import=True)
    content = csv_bytes(
        ["名称", "负责人", "所属单位"], [["甲公司", "sz_rep", ""], ["乙公司", "bj_rep", ""], ["丙公司", "", "BJ"]]
    )
    job = run_import(guangdong_sales_manager, content)
    assert_all_accounted(job)
    assert (job.created_count, job.rejected_count) == (1, 2)
    assert Customer.objects.get(name="甲公司").org_unit == org["GD-SZ"]


def test_the_preview_shows_existing_duplicates_and_hides_customers_the_importer_cannot_see(
    dealer_user, org, beijing_sales_rep
):
    hidden = PersonFactory(name="李秘密", owner=beijing_sales_rep)
    ContactPointFactory(customer=hidden, kind="mobile", value="13912345678", normalized="+8613912345678")
    content = csv_bytes(
        ["名称", "类型", "手机"], [["李秘密", "个人", "13912345678"], ["新客户", "个人", "13900000001"]]
    )
    job = import_job_create(user=dealer_user, filename="a.csv", content=content, enqueue=False)
    job = import_job_analyse(job=job)
    counts = job.analysis["counts"]
    assert (counts["existing"], counts["new"], counts["existing_locked"]) == (1, 1, 1)
    sample = job.analysis["samples"]["existing"][0]
    assert sample["visible"] is False and sample["number"] == "" and sample["existing_name"] == ""
    assert sample["unit"] == org["BJ-CY"].name
    job = import_job_run(job=import_job_decide(job=job, decisions={"existing": "merge"}, enqueue=False))
    assert_all_accounted(job)
    assert (job.created_count, job.skipped_count) == (1, 1)
    assert hidden.contact_points.count() == 1  # untouched


def test_merging_into_an_existing_customer_fills_empty_fields_and_adds_contact_points(data_steward):
    existing = PersonFactory(name="王合并")
    ContactPointFactory(customer=existing, kind="mobile", value="13912345670", normalized="+8613912345670")
    content = csv_bytes(
        ["名称", "类型", "手机", "邮箱", "职务"], [["王合并", "个人", "13912345670", "wang@example.com", "经理"]]
    )
    job = run_import(data_steward, content, decisions={"existing": "merge"})
    assert_all_accounted(job)
    assert job.merged_count == 1
    existing.refresh_from_db()
    assert existing.version == 2
    assert sorted(existing.contact_points.values_list("kind", flat=True)) == ["email", "mobile"]
    assert existing.person.title == "经理"


def test_duplicates_within_the_file_are_merged_into_the_first_row(data_steward):
    content = csv_bytes(
        ["名称", "类型", "手机", "邮箱"],
        [
            ["赵重复", "个人", "13911112222", ""],
            ["新人", "个人", "13933334444", ""],
            ["赵重复", "个人", "13911112222", "zhao@example.com"],
        ],
    )
    job = import_job_create(user=data_steward, filename="a.csv", content=content, enqueue=False)
    job = import_job_analyse(job=job)
    assert job.analysis["counts"]["infile"] == 1
    assert job.analysis["samples"]["infile"][0] == {"row": 4, "name": "赵重复", "first_row": 2}
    job = import_job_run(job=import_job_decide(job=job, decisions={}, enqueue=False), chunk_size=2)
    assert_all_accounted(job)
    assert (job.created_count, job.merged_count) == (2, 1)
    assert Customer.objects.get(name="赵重复").contact_points.count() == 2


def test_a_run_interrupted_between_chunks_resumes_without_double_inserts(data_steward):
    rows = good_rows(25)
    job = import_job_create(user=data_steward, filename="a.csv", content=csv_bytes(HEADERS_ZH, rows), enqueue=False)
    job = import_job_decide(job=import_job_analyse(job=job), decisions={}, enqueue=False)
    job = import_job_run(job=job, chunk_size=10, stop_after_chunks=1)
    assert job.status == ImportJob.Status.RUNNING and job.processed_rows == 10
    assert Customer.objects.count() == 10
    job = import_job_run(job=job, chunk_size=10)
    job = import_job_run(job=job, chunk_size=10)  # a redelivered task changes nothing
    assert_all_accounted(job)
    assert Customer.objects.count() == 25 == job.created_count
    assert job.content is None


def test_phones_that_excel_turned_into_floats_come_back_as_digits(data_steward):
    content = csv_bytes(["名称", "手机", "邮编", "地址"], [["甲公司", "1.3800138001E10", "518000.0", "深圳南山"]])
    job = run_import(data_steward, content)
    assert_all_accounted(job)
    customer = Customer.objects.get(name="甲公司")
    assert customer.contact_points.get(kind="mobile").value == "13800138001"
    assert customer.contact_points.get(kind="address").postcode == "518000"


def test_a_dry_run_writes_nothing(data_steward):
    job = import_job_create(
        user=data_steward, filename="a.csv", content=csv_bytes(HEADERS_ZH, good_rows(3)), dry_run=True, enqueue=False
    )
    job = import_job_analyse(job=job)
    assert job.analysis["counts"]["new"] == 3
    from customers.io.importer import ImportProblem

    with pytest.raises(ImportProblem):
        import_job_decide(job=job, decisions={}, enqueue=False)
    assert not Customer.objects.exists()
    assert not ContactPoint.objects.exists()


def test_a_crash_inside_a_chunk_rolls_that_chunk_back_and_a_rerun_completes(data_steward, monkeypatch):
    from customers.io import importer

    job = import_job_create(
        user=data_steward, filename="a.csv", content=csv_bytes(HEADERS_ZH, good_rows(25)), enqueue=False
    )
    job = import_job_decide(job=import_job_analyse(job=job), decisions={}, enqueue=False)
    original, calls = importer._audit_created, []

    def killed_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(importer, "_audit_created", killed_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        import_job_run(job=job, chunk_size=10)
    job.refresh_from_db()
    assert (job.processed_rows, Customer.objects.count(), ImportRow.objects.filter(job=job).count()) == (10, 10, 10)
    monkeypatch.undo()
    job = import_job_run(job=job, chunk_size=10)
    assert_all_accounted(job)
    assert Customer.objects.count() == 25 == job.created_count


def test_the_command_line_imports_a_file_and_writes_the_rejected_rows(data_steward, tmp_path):
    from django.core.management import call_command

    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(HEADERS_ZH, good_rows(3) + [r for r, _ in bad_rows(2)], encoding="gbk"))
    out = tmp_path / "rejected.csv"
    call_command("import_customers", str(source), "--as", data_steward.username, "--rejected", str(out))
    assert Customer.objects.count() == 3
    assert out.read_bytes().decode("utf-8-sig").count("\r\n") == 3  # header + 2 rejected rows


def test_the_command_line_dry_run_writes_nothing(data_steward, tmp_path):
    from django.core.management import call_command

    source = tmp_path / "in.xlsx"
    source.write_bytes(xlsx_bytes(HEADERS_ZH, good_rows(3)))
    call_command("import_customers", str(source), "--as", data_steward.username, "--dry-run")
    assert not Customer.objects.exists()


def test_dedups_key_table_finds_a_company_written_differently(data_steward):
    from customers.io.importer import _key_table_members
    from customers.io.rows import Assignment, parse_row
    from dedup import matching

    dedup_services = pytest.importorskip("dedup.services")
    existing = CustomerFactory(name="华为技术有限公司")
    dedup_services.match_keys_refresh_many([existing.pk])
    ctx = Assignment(user=None, user_unit=None, is_dealer=True, sees_all_change=False, change_unit_ids=frozenset())
    row = parse_row(2, ["深圳市華為技術有限公司", "公司"], {"0": "name", "1": "kind"}, ctx)
    _keys, members = _key_table_members({2: matching.prepare(row.record())})
    assert existing.pk in {pk for ids in members.values() for pk in ids}


@pytest.mark.parametrize(("table_size", "analyses"), [(0, 3), (10_000_000, 0)])
def test_a_big_run_re_plans_only_while_it_grows_the_customer_table_by_a_tenth(
    data_steward, monkeypatch, table_size, analyses
):
    """ANALYZE after chunks 1, 4 and 10 of an import into an empty table; never for one that adds
    less than 10 % to a big table (the statistics are still good, and ANALYZE costs 1-2 s)."""
    from customers.io import importer

    calls = []
    monkeypatch.setattr(importer, "ANALYZE_MIN_ROWS", 10)
    monkeypatch.setattr(importer, "_customer_table_size", lambda: table_size)
    monkeypatch.setattr(importer, "_analyze_tables", lambda: calls.append(1))
    job = run_import(data_steward, csv_bytes(HEADERS_ZH, good_rows(24)), chunk_size=2)
    assert_all_accounted(job)
    assert len(calls) == analyses


def test_rows_the_models_own_validation_refuses_are_rejected_with_its_message(data_steward):
    """The row checks pass these, the model fields do not: a website that outgrows its column once
    'http://' is added, a name whose normalised (case-folded) form outgrows its column. The run
    validates exactly the fields it fills, so these still come back as rejected rows with Django's
    message, and the good row between them is kept."""
    long_site = ".".join(["a" * 63] * 3) + ".com"  # 195 characters; 202 with http://
    wide_name = "ß" * 120  # 120 characters; 'ss' * 120 once case-folded
    rows = [
        ["官网过长有限公司", "公司", long_site],
        ["正常科技有限公司", "公司", "www.example.com"],
        [wide_name, "公司", ""],
    ]
    job = run_import(data_steward, csv_bytes(["名称", "类型", "网站"], rows))
    assert_all_accounted(job)
    assert (job.created_count, job.rejected_count) == (1, 2)
    reasons = dict(ImportRow.objects.filter(job=job, outcome="rejected").values_list("row_number", "reason"))
    assert reasons == {
        2: "Ensure this value has at most 200 characters (it has 202).",
        4: "Ensure this value has at most 200 characters (it has 240).",
    }
    assert Customer.objects.get(name="正常科技有限公司").company.website == "http://www.example.com"


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "138 0013 8000",
        "+86-139-1234-5678",
        "0086 13912345678",
        "8613912345678",
        "(010) 6552 9988",
        "0755-86123456",
        "010-65529988-8021",
        "0755 8612 3456 转 12",
        "17912345678",
        "12012345678",
        "10012345678",
        "16100000000",
        "17405123456",
        "17406123456",
        "+1 650 253 0000",
        "+44 20 7946 0958",
        "+852 2123 4567",
        "+86 010 65529988",
        "400 810 8888",
        "95588",
        "12345",
        "０７５５－８６１２３４５６",
    ],
)
def test_contact_validate_accepts_exactly_the_phones_dedup_calls_valid(value):
    """contact_validate checks validity on the normalised number (built directly for +86): the
    answer must stay dedup.normalize.is_valid_phone's."""
    from django.core.exceptions import ValidationError

    from customers.services import contact_validate
    from dedup.normalize import is_valid_phone

    for kind in ("mobile", "landline"):
        try:
            contact_validate(kind, value)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == is_valid_phone(value), (kind, value)
