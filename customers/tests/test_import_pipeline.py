"""The run's second process (customers/io/pipeline.py) parses and prepares the next chunk while the
run writes. It must change nothing: every outcome, customer, profile, contact point, role, tag,
audit entry, match key and merge must be the serial run's."""

import subprocess

import pytest
from django.db import transaction

from customers.io import pipeline
from customers.io.importer import import_job_analyse, import_job_create, import_job_decide, import_job_run
from customers.io.testing import HEADERS_ZH, bad_rows, credit_code, csv_bytes, good_rows
from customers.models import ContactPoint, Customer, ImportJob, ImportRow
from customers.tests.factories import ContactPointFactory, PersonFactory

pytestmark = pytest.mark.django_db

HEADERS = [*HEADERS_ZH, "负责人", "所属单位", "客户角色", "备注", "性别", "职务", "网站"]


@pytest.fixture(autouse=True)
def in_english():
    from django.utils import translation

    with translation.override("en"):
        yield


def _rows() -> list[list[str]]:
    """Every kind of row: new persons and companies, owners, units and roles from the file (they
    cross the pipe as ids), bad rows, in-file duplicates and a duplicate of an existing customer."""
    rows = [[*r, "", "", "", "", "", "", ""] for r in good_rows(30, seed=11)]
    rows[3][13:16] = ["sz_rep", "", "customer;prospect"]
    rows[4][14] = "BJ-CY"
    rows[5][13] = "nobody"  # rejected: unknown owner
    rows[6][15] = "no-such-role"  # rejected
    rows[7][16] = "a note"
    rows[9][17:19] = ["女", "经理"]
    rows[8][19] = ".".join(["a" * 63] * 3) + ".com"  # only the model's check refuses it (202 characters)
    rows[10][2] = "ß" * 120  # the same: its case-folded form outgrows the column
    rows[12][19] = "www.example.com"
    rows += [[*r, "", "", "", "", "", "", ""] for r, _why in bad_rows(10)]
    rows.append(["D1", "个人", "赵已有", "13900005555", "", "zhao2@example.com", "", "", "", "", "", "", ""] + [""] * 7)
    dup = list(rows[1])
    dup[0], dup[5] = "D2", "second@example.cn"  # an in-file duplicate of the second row
    rows.append(dup)
    rows.append(["D3", "公司", "华信科技有限公司", "", "", "", "", "", "", "", "", credit_code(777), ""] + [""] * 7)
    return rows


def _snapshot(job: ImportJob) -> dict:
    """What the run wrote, with database ids replaced by the row that created the customer."""
    from auditlog.models import LogEntry

    job.refresh_from_db()
    outcomes = list(
        ImportRow.objects.filter(job=job)
        .order_by("row_number")
        .values_list("row_number", "outcome", "customer_id", "reason", "values")
    )
    created = {cid: n for n, outcome, cid, _r, _v in outcomes if outcome == "created"}
    ref = {cid: f"row {n}" for cid, n in created.items()}
    touched = {cid for _n, _o, cid, _r, _v in outcomes if cid}
    customers = {}
    for customer in Customer.objects.filter(pk__in=touched).prefetch_related("contact_points", "roles", "tags"):
        profile = getattr(customer, "company", None) or getattr(customer, "person", None)
        customers[ref.get(customer.pk, customer.pk)] = {
            "fields": [
                customer.number,
                customer.kind,
                customer.name,
                customer.name_normalized,
                customer.owner_id,
                customer.org_unit_id,
                customer.status,
                customer.source,
                customer.province,
                customer.city,
                customer.version,
            ],
            "profile": {
                f.name: getattr(profile, f.attname)
                for f in type(profile)._meta.concrete_fields
                if f.name not in ("id", "customer")
            }
            if profile
            else None,
            "contacts": [
                (c.kind, c.value, c.normalized, c.is_primary, c.province, c.city, c.postcode)
                for c in sorted(customer.contact_points.all(), key=lambda c: c.pk)
            ],
            "roles": sorted(r.code for r in customer.roles.all()),
            "tags": sorted(t.name for t in customer.tags.all()),
        }
    audit = sorted(
        (ref[int(e.object_pk)], sorted(e.changes_dict.items()), sorted(e.additional_data.items()))
        for e in LogEntry.objects.get_for_model(Customer).filter(
            object_pk__in=[str(c) for c in created], action=LogEntry.Action.CREATE
        )
    )
    try:
        from dedup.models import MatchKey

        keys = sorted(
            (ref.get(cid, cid), key)
            for cid, key in MatchKey.objects.filter(customer_id__in=touched).values_list("customer_id", "key")
        )
    except ImportError:
        keys = []
    notes = []
    try:
        from interactions.models import Activity

        notes = sorted((ref[a.customer_id], a.notes) for a in Activity.objects.filter(customer_id__in=created))
    except ImportError:
        pass
    return {
        "counts": (job.status, job.processed_rows, job.created_count, job.merged_count, job.skipped_count),
        "rejected": job.rejected_count,
        "outcomes": [(n, o, ref.get(c, c), r, v) for n, o, c, r, v in outcomes],
        "customers": customers,
        "audit": audit,
        "keys": keys,
        "notes": notes,
    }


class Rollback(Exception):
    pass


def _serial_and_pipelined(user, content: bytes, *, chunk_size: int, decisions: dict, **kwargs) -> tuple[dict, dict]:
    """Run the same decided job twice from the same database state: in process, then with the
    preparing process (the first run is rolled back, numbers and all)."""
    job = import_job_create(user=user, filename="same.csv", content=content, enqueue=False)
    job = import_job_analyse(job=job)
    assert job.status == ImportJob.Status.PREVIEW, job.message
    job = import_job_decide(job=job, decisions=decisions, enqueue=False)
    serial = None
    try:
        with transaction.atomic():
            import_job_run(job=job, chunk_size=chunk_size, use_pipeline=False)
            serial = _snapshot(job)
            raise Rollback
    except Rollback:
        pass
    assert ImportRow.objects.filter(job=job).count() == 0
    import_job_run(job=job, chunk_size=chunk_size, use_pipeline=True, **kwargs)
    return serial, _snapshot(job)


@pytest.fixture
def existing():
    customer = PersonFactory(name="赵已有")
    ContactPointFactory(customer=customer, kind="mobile", value="13900005555", normalized="+8613900005555")
    return customer


@pytest.mark.parametrize(
    "decisions",
    [{}, {"existing": "skip", "infile": "create"}, {"existing": "create", "infile": "skip", "new": "create"}],
    ids=["merge", "skip-existing", "create-duplicates"],
)
def test_the_pipelined_run_writes_exactly_what_the_serial_run_writes(
    data_steward, shenzhen_sales_rep, org, existing, decisions, monkeypatch
):
    started = []
    real_start = pipeline._start_child
    monkeypatch.setattr(pipeline, "_start_child", lambda spec: started.append(spec["start"]) or real_start(spec))
    serial, pipelined = _serial_and_pipelined(
        data_steward, csv_bytes(HEADERS, _rows()), chunk_size=7, decisions=decisions
    )
    assert started == [7]  # the second run did use the child, after the chunk it parsed while the child started
    assert serial["counts"][0] == ImportJob.Status.DONE
    assert serial["counts"][1] == len(_rows())
    assert serial["rejected"] >= 14 and serial["counts"][2] >= 23
    reasons = [reason for _n, outcome, _c, reason, _v in serial["outcomes"] if outcome == "rejected"]
    assert "Ensure this value has at most 200 characters (it has 202)." in reasons
    assert "Ensure this value has at most 200 characters (it has 240)." in reasons
    assert pipelined == serial


def test_the_child_sends_the_chunks_the_parent_would_compute(data_steward, shenzhen_sales_rep, org):
    from customers.io import formats
    from customers.io.importer import assignment_for
    from customers.io.readers import sniff

    content = csv_bytes(HEADERS, _rows())
    sheet = sniff(content, "a.csv")
    mapping = formats.guess_mapping(sheet.headers)
    ctx = assignment_for(data_steward)
    infile = {5, 9}
    here = list(pipeline.serial_chunks(content, sheet, 3, 4, mapping, ctx, infile, checks=True))
    there = list(pipeline.ready_chunks(content, sheet, 3, 4, mapping, ctx, infile, use_pipeline=True))
    # The first chunk is prepared in process while the child starts (its model checks are left to
    # the run); the child sends the others, with the checks.
    assert there[0] == here[0]._replace(checks={})
    assert there[1:] == here[1:]
    checks = {n: m for ready in there for n, m in ready.checks.items()}
    assert checks[10] == "Ensure this value has at most 200 characters (it has 202)."
    assert checks[14] == ""
    assert sum(len(r.rows) for r in here) == len(_rows()) - 3
    # Model instances come back as the parent's own context objects, not copies.
    owners = {id(row.owner) for ready in there for row in ready.rows if row.owner is not None}
    assert owners <= {id(ctx.user)} | {id(u) for u in ctx.users.values()}
    roles = [role for ready in there for row in ready.rows for role in row.roles]
    assert roles and all(role is ctx.roles[role.code.casefold()] for role in roles)


def test_a_child_that_dies_or_cannot_start_leaves_the_parent_to_parse_alone(
    data_steward, shenzhen_sales_rep, org, existing, monkeypatch
):
    def dead_child(spec):
        return subprocess.Popen(["true"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)

    monkeypatch.setattr(pipeline, "_start_child", dead_child)
    serial, pipelined = _serial_and_pipelined(data_steward, csv_bytes(HEADERS, _rows()), chunk_size=7, decisions={})
    assert pipelined == serial

    def no_child(spec):
        raise OSError("no fork today")

    monkeypatch.setattr(pipeline, "_start_child", no_child)
    content = csv_bytes(HEADERS, _rows()[:12])
    serial, pipelined = _serial_and_pipelined(data_steward, content, chunk_size=5, decisions={})
    assert pipelined == serial


def test_a_pipelined_run_stopped_between_chunks_resumes_without_double_inserts(data_steward):
    rows = good_rows(25, seed=5)
    job = import_job_create(user=data_steward, filename="a.csv", content=csv_bytes(HEADERS_ZH, rows), enqueue=False)
    job = import_job_decide(job=import_job_analyse(job=job), decisions={}, enqueue=False)
    job = import_job_run(job=job, chunk_size=10, stop_after_chunks=1, use_pipeline=True)
    assert job.status == ImportJob.Status.RUNNING and job.processed_rows == 10
    job = import_job_run(job=job, chunk_size=10, use_pipeline=True)
    job = import_job_run(job=job, chunk_size=10, use_pipeline=True)  # redelivered: nothing more
    assert job.status == ImportJob.Status.DONE
    assert job.accounted_rows == job.total_rows == 25 == job.created_count
    assert Customer.objects.filter(source="import").count() == 25
    assert ContactPoint.objects.filter(customer__source="import").count() == 75


def test_big_runs_use_the_child_and_small_ones_do_not(data_steward, settings, monkeypatch):
    started = []
    real_start = pipeline._start_child
    monkeypatch.setattr(pipeline, "_start_child", lambda spec: started.append(spec["start"]) or real_start(spec))
    settings.CUSTOMER_IMPORT_PIPELINE_MIN_ROWS = 20
    small = import_job_create(
        user=data_steward, filename="a.csv", content=csv_bytes(HEADERS_ZH, good_rows(19, seed=1)), enqueue=False
    )
    import_job_run(job=import_job_decide(job=import_job_analyse(job=small), decisions={}, enqueue=False))
    assert started == []
    big = import_job_create(
        user=data_steward,
        filename="b.csv",
        content=csv_bytes(HEADERS_ZH, good_rows(20, seed=2, start=1000)),
        enqueue=False,
    )
    big = import_job_run(job=import_job_decide(job=import_job_analyse(job=big), decisions={}, enqueue=False))
    assert started == [500] and big.created_count == 20
    settings.CUSTOMER_IMPORT_PIPELINE = False
    off = import_job_create(
        user=data_steward,
        filename="c.csv",
        content=csv_bytes(HEADERS_ZH, good_rows(20, seed=3, start=2000)),
        enqueue=False,
    )
    import_job_run(job=import_job_decide(job=import_job_analyse(job=off), decisions={}, enqueue=False))
    assert started == [500]


def test_analysis_and_run_relax_the_garbage_collector_and_put_it_back(data_steward, monkeypatch):
    import gc

    from customers.io import importer

    before = gc.get_threshold()
    seen = []
    real_commit = importer._commit_chunk

    def commit(*args, **kwargs):
        seen.append((gc.get_threshold(), gc.get_freeze_count() > 0))
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(importer, "_commit_chunk", commit)
    job = import_job_create(
        user=data_steward, filename="a.csv", content=csv_bytes(HEADERS_ZH, good_rows(12, seed=4)), enqueue=False
    )
    job = import_job_analyse(job=job)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    job = import_job_run(job=import_job_decide(job=job, decisions={}, enqueue=False), chunk_size=5)
    assert job.created_count == 12
    assert seen == [(pipeline.RELAXED_GC_THRESHOLD, True)] * 3
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(importer, "_commit_chunk", broken)
    job = import_job_create(
        user=data_steward,
        filename="b.csv",
        content=csv_bytes(HEADERS_ZH, good_rows(3, seed=5, start=100)),
        enqueue=False,
    )
    job = import_job_decide(job=import_job_analyse(job=job), decisions={}, enqueue=False)
    with pytest.raises(RuntimeError):
        import_job_run(job=job)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_candidate_lookups_send_one_array_not_a_placeholder_per_value(data_steward, existing):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customers.io import formats
    from customers.io.importer import assignment_for, existing_matches
    from customers.io.readers import sniff

    if connection.vendor != "postgresql":
        pytest.skip("= ANY(array) is the PostgreSQL shape; elsewhere the lookups are plain IN lists")
    content = csv_bytes(HEADERS, _rows())
    sheet = sniff(content, "a.csv")
    ctx = assignment_for(data_steward)
    (ready,) = pipeline.serial_chunks(content, sheet, 0, 100, formats.guess_mapping(sheet.headers), ctx, set())
    with CaptureQueriesContext(connection) as queries:
        matches = existing_matches(ready.rows, prepared=ready.prepared, keys=ready.keys)
    assert [customer_id for customer_id, _match, _info in matches.values()] == [existing.pk]
    lookups = [q["sql"] for q in queries.captured_queries if "dedup_matchkey" not in q["sql"]]
    # Contacts, codes, identity numbers, names; then the candidates, their contact points and
    # (persons only here) their person profiles.
    assert len(lookups) == 7
    for sql in lookups:
        assert " = ANY(" in sql and " IN (" not in sql.replace('status" IN (', ""), sql
