"""The run writes the dedup match keys of the customers it creates itself (customers/io/importer.py
`_index_created`), from the records the duplicate search already normalised. They must be exactly
the keys `dedup.services.match_keys_refresh_many` derives from the stored customers."""

import pytest

from customers.io.importer import import_job_analyse, import_job_create, import_job_decide, import_job_run
from customers.io.testing import credit_code, csv_bytes
from customers.models import Customer, ImportJob, ImportRow
from customers.tests.factories import ContactPointFactory, PersonFactory

pytestmark = pytest.mark.django_db

dedup_services = pytest.importorskip("dedup.services")
from dedup.models import MatchKey  # noqa: E402

CODE = credit_code(4242)
HEADERS = [
    "名称",
    "类型",
    "手机",
    "电话",
    "邮箱",
    "地址",
    "省份",
    "城市",
    "邮编",
    "出生日期",
    "身份证号",
    "统一社会信用代码",
]
ROWS = [
    # Two mobiles and a landline: the stored contact points come back primary first (mobile, landline,
    # then the second mobile), not in the file's order, so the row's own record is not the stored one.
    [
        "王多号",
        "个人",
        "13900001111;13900002222",
        "010-62345678",
        "wang@example.com",
        "北京市朝阳区建国路1号",
        "北京",
        "北京",
        "100020",
        "1985-03-04",
        "",
        "",
    ],
    [
        "深圳市华信科技有限公司",
        "公司",
        "",
        "0755-86123456",
        "info@huaxin.cn",
        "广东省深圳市南山区科技园8栋",
        "",
        "",
        "518000",
        "",
        "",
        CODE,
    ],
    # Full-width letters and spaces folded by NFKC; kind inferred from the name.
    ["Ｚｈａｎｇ  Ｗｅｉ", "", "13900003333", "", "zw@example.com", "", "上海", "上海", "", "", "", ""],
    ["Acmecorp Limited", "company", "", "", "", "", "", "", "", "", "", ""],
    [
        "李身份",
        "个人",
        "13900004444",
        "",
        "",
        "浙江杭州西湖区文三路2号",
        "浙江",
        "杭州",
        "",
        "",
        "110101199003078515",
        "",
    ],
    ["坏手机", "个人", "12345", "", "", "", "", "", "", "", "", ""],  # rejected: no keys
    [
        "王多号",
        "个人",
        "13900001111",
        "",
        "wang2@example.com",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ],  # in-file duplicate of row 2
    ["赵已有", "个人", "13900005555", "", "zhao@example.com", "", "", "", "", "", "", ""],  # an existing customer
    ["孙新人", "个人", "", "", "", "广东省广州市天河区体育西路3号", "广东", "广州", "510000", "1990-12-01", "", ""],
    # An address key longer than the key column: cut to 200 characters, as the engine's refresh does.
    ["长地址有限公司", "公司", "", "", "", "深圳市南山区" + "科技园" * 64, "广东", "深圳", "", "", "", ""],
    # A long Chinese name: its pinyin name keys are longer than the key column, cut to 200 as well.
    ["欧阳" + "长长长长长长长长长长" * 5, "个人", "", "", "", "", "四川", "成都", "", "1970-01-01", "", ""],
]


def _import(user, decisions, *, chunk_size=3):
    job = import_job_create(user=user, filename="keys.csv", content=csv_bytes(HEADERS, ROWS), enqueue=False)
    job = import_job_analyse(job=job)
    assert job.status == ImportJob.Status.PREVIEW, job.message
    job = import_job_decide(job=job, decisions=decisions, enqueue=False)
    return import_job_run(job=job, chunk_size=chunk_size)


def _keys(ids) -> set[tuple[int, str]]:
    return set(MatchKey.objects.filter(customer_id__in=ids).values_list("customer_id", "key"))


@pytest.mark.parametrize(
    "decisions",
    [{}, {"infile": "create", "existing": "create"}],
    ids=["merge-duplicates", "create-duplicates"],
)
def test_keys_of_created_and_merged_customers_are_the_ones_the_dedup_engine_derives(
    data_steward, decisions, django_capture_on_commit_callbacks
):
    existing = PersonFactory(name="赵已有")
    ContactPointFactory(customer=existing, kind="mobile", value="13900005555", normalized="+8613900005555")
    dedup_services.match_keys_refresh_many([existing.pk])
    with django_capture_on_commit_callbacks(execute=True):
        job = _import(data_steward, decisions)
    assert job.status == ImportJob.Status.DONE
    outcomes = dict(ImportRow.objects.filter(job=job).values_list("row_number", "outcome"))
    assert outcomes[7] == "rejected", outcomes
    created = list(ImportRow.objects.filter(job=job, outcome="created").values_list("customer_id", flat=True))
    merged = list(ImportRow.objects.filter(job=job, outcome="merged").values_list("customer_id", flat=True))
    if decisions:
        assert (len(created), len(merged)) == (10, 0)
    else:
        assert (len(created), len(merged)) == (8, 2), outcomes
        assert existing.pk in merged
    ids = sorted(set(created) | set(merged))
    written = _keys(ids)
    assert {pk for pk, _key in written} == set(ids)  # every one of them has keys
    assert {key for _pk, key in written} >= {"p:+8613900002222", f"c:{CODE}", "i:110101199003078515"}
    assert any(len(key) == 200 for _pk, key in written)

    # What the engine derives from the stored customers, from scratch.
    MatchKey.objects.filter(customer_id__in=ids).delete()
    dedup_services.match_keys_refresh_many(ids)
    assert written == _keys(ids)


def test_the_run_leaves_no_key_difference_for_the_engine_to_fix(data_steward, django_capture_on_commit_callbacks):
    """Refreshing the created customers afterwards changes nothing (the refresh writes only differences)."""
    with django_capture_on_commit_callbacks(execute=True):
        job = _import(data_steward, {"infile": "create"}, chunk_size=100)
    ids = list(ImportRow.objects.filter(job=job, outcome="created").values_list("customer_id", flat=True))
    assert len(ids) == 10
    assert dedup_services.match_keys_refresh_many(ids) == 0


def test_created_customers_are_not_sent_to_the_key_refresh_again(
    data_steward, monkeypatch, django_capture_on_commit_callbacks
):
    """Their keys are written with their rows; only merged customers go to match_keys_refresh_many."""
    sent = []
    monkeypatch.setattr(dedup_services, "match_keys_refresh_many", lambda ids: sent.extend(ids) or 0)
    with django_capture_on_commit_callbacks(execute=True):
        job = _import(data_steward, {}, chunk_size=100)
    assert (job.created_count, job.merged_count) == (9, 1)
    created = set(ImportRow.objects.filter(job=job, outcome="created").values_list("customer_id", flat=True))
    merged = set(ImportRow.objects.filter(job=job, outcome="merged").values_list("customer_id", flat=True))
    assert merged <= set(sent)
    assert not created & (set(sent) - merged)
    assert Customer.objects.filter(pk__in=created, match_keys__isnull=False).distinct().count() == 9
