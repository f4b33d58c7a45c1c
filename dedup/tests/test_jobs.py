"""Batch jobs: chunked, idempotent, cancellable, resumable, scoped and incremental; the jobs page."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from dedup import matching
from dedup.models import CandidatePair, DedupChunk, DedupJob
from dedup.records import records_load
from dedup.services import (
    dedup_chunk_run,
    dedup_job_cancel,
    dedup_job_create,
    dedup_job_finish_if_complete,
    dedup_job_resume,
    dedup_job_run_inline,
    dedup_job_start,
    dedup_nightly,
    pair_decide,
)


@pytest.fixture
def world(make_customer, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep):
    """Twelve customers: four duplicate pairs written differently, the rest unrelated."""
    made = [
        make_customer(name="深圳市华为技术有限公司", owner=shenzhen_sales_rep, phones=["13800138000"]),
        make_customer(name="华为技术股份有限公司", owner=guangzhou_sales_rep, phones=["+86 138-0013-8000"]),
        make_customer(name="广州恒通贸易有限公司", owner=guangzhou_sales_rep, emails=["ht@hengtong.cn"]),
        make_customer(name="恒通贸易（广州）有限公司", owner=beijing_sales_rep, emails=["HT@hengtong.cn"]),
        make_customer(name="张伟", kind="person", owner=shenzhen_sales_rep, phones=["13912345678"]),
        make_customer(name="張偉", kind="person", owner=beijing_sales_rep, phones=["139 1234 5678"]),
        make_customer(name="北京朝阳饮料有限公司", owner=beijing_sales_rep, phones=["010-65529988"]),
        make_customer(name="朝阳饮料有限公司", owner=beijing_sales_rep, phones=["(010) 6552 9988"]),
        make_customer(name="杭州西湖茶业有限公司", owner=beijing_sales_rep, phones=["0571-87001234"]),
        make_customer(name="成都锦江宾馆", owner=shenzhen_sales_rep, phones=["028-85506666"]),
        make_customer(name="李娜", kind="person", owner=guangzhou_sales_rep, phones=["13711112222"]),
        make_customer(name="王芳", kind="person", owner=guangzhou_sales_rep, phones=["13622223333"]),
    ]
    return made


def _engine_pairs(customers):
    """What the pure engine finds over the same records in memory: the reference."""
    records = records_load([c.pk for c in customers]).values()
    return {(a, b) for a, b, _match in matching.find_pairs(records)}


def _stored_pairs():
    return set(CandidatePair.objects.values_list("a_id", "b_id"))


def _job(**kwargs):
    return dedup_job_create(created_by=None, start=False, **kwargs)


def test_a_job_finds_what_the_engine_finds_and_a_rerun_changes_nothing(world, settings):
    settings.DEDUP_CHUNK_SIZE = 3
    job = dedup_job_run_inline(job=_job())
    assert job.status == "done" and job.progress == 100
    assert job.chunks_total == 4 and job.chunks_done == 4
    assert job.customers_scanned == len(world)
    expected = _engine_pairs(world)
    assert len(expected) >= 4
    assert _stored_pairs() == expected
    assert job.pairs_found == len(expected)
    first = {p.pk: (p.score, p.explanation) for p in CandidatePair.objects.all()}

    again = dedup_job_run_inline(job=_job())
    assert again.status == "done"
    assert _stored_pairs() == expected
    assert {p.pk: (p.score, p.explanation) for p in CandidatePair.objects.all()} == first


def test_running_a_chunk_twice_is_a_no_op(world, settings):
    settings.DEDUP_CHUNK_SIZE = 5
    job = _job()
    chunk_ids = dedup_job_start(job=job)
    for chunk_id in chunk_ids:
        assert dedup_chunk_run(chunk_id=chunk_id) == "done"
    pairs = _stored_pairs()
    for chunk_id in chunk_ids:
        assert dedup_chunk_run(chunk_id=chunk_id) == "skipped"
    assert _stored_pairs() == pairs
    job.refresh_from_db()
    assert job.status == "done" and DedupChunk.objects.filter(job=job, attempts=1).count() == len(chunk_ids)


def test_a_pair_decided_not_a_duplicate_stays_decided_through_later_runs(world, data_steward):
    dedup_job_run_inline(job=_job())
    pair = CandidatePair.objects.order_by("-score").first()
    pair_decide(pair=pair, decided_by=data_steward, status="not_duplicate", reason="两家公司")
    dedup_job_run_inline(job=_job())
    pair.refresh_from_db()
    assert pair.status == "not_duplicate"
    assert CandidatePair.objects.filter(a=pair.a, b=pair.b).count() == 1
    from dedup.selectors import pair_queue

    assert pair not in pair_queue(data_steward)


def test_a_province_job_looks_at_that_provinces_customers_only(world, settings):
    from customers.models import Customer

    Customer.objects.filter(pk__in=[world[6].pk, world[7].pk]).update(province="北京")
    job = dedup_job_run_inline(job=_job(province="北京"))
    assert job.customers_scanned == 2
    assert _stored_pairs() == {CandidatePair.ordered(world[6].pk, world[7].pk)}


def test_an_incremental_job_scans_only_customers_changed_since_the_last_run(world, make_customer):
    from customers.models import Customer
    from dedup.models import MatchKey

    full = dedup_job_run_inline(job=_job())
    an_hour_ago = timezone.now() - timezone.timedelta(hours=1)
    Customer.objects.update(updated_at=an_hour_ago)
    MatchKey.objects.update(created_at=an_hour_ago)
    DedupJob.objects.filter(pk=full.pk).update(started_at=an_hour_ago + timezone.timedelta(minutes=30))
    newcomer = make_customer(name="杭州西湖茶业有限公司", phones=["0571 8700 1234"])
    job = dedup_job_run_inline(job=_job(incremental=True))
    assert job.incremental and job.customers_scanned == 1
    assert CandidatePair.objects.filter(b=newcomer, a=world[8]).exists()


def test_a_cancelled_job_stops_and_a_resumed_one_finishes_without_redoing_done_chunks(world, settings, data_steward):
    settings.DEDUP_CHUNK_SIZE = 2
    job = _job()
    chunk_ids = dedup_job_start(job=job)
    dedup_chunk_run(chunk_id=chunk_ids[0])
    job = dedup_job_cancel(job=job, cancelled_by=data_steward)
    assert job.status == "cancelled"  # nobody was working on a chunk: cancelled at once
    assert dedup_chunk_run(chunk_id=chunk_ids[1]) == "cancelled"
    assert job.chunks_done == 1

    pending = dedup_job_resume(job=job, resumed_by=data_steward)
    assert chunk_ids[0] not in pending and len(pending) == len(chunk_ids) - 1
    for chunk_id in pending:
        dedup_chunk_run(chunk_id=chunk_id)
    job.refresh_from_db()
    assert job.status == "done" and job.chunks_done == len(chunk_ids)
    assert DedupChunk.objects.get(pk=chunk_ids[0]).attempts == 1
    assert _stored_pairs() == _engine_pairs(world)


def test_a_stalled_job_whose_worker_died_is_resumed_and_loses_nothing(world, settings):
    """In-process version of T4: some chunks done, the rest never ran (their worker died)."""
    settings.DEDUP_CHUNK_SIZE = 3
    job = _job()
    chunk_ids = dedup_job_start(job=job)
    dedup_chunk_run(chunk_id=chunk_ids[0])
    assert dedup_job_finish_if_complete(job_id=job.pk).status == "running"
    for chunk_id in dedup_job_resume(job=job):
        dedup_chunk_run(chunk_id=chunk_id)
    job.refresh_from_db()
    assert job.status == "done"
    assert _stored_pairs() == _engine_pairs(world)


def test_only_one_job_of_a_kind_runs_at_a_time_and_the_nightly_run_waits(world, data_steward):
    from django.core.exceptions import ValidationError

    _job()
    with pytest.raises(ValidationError):
        _job()
    assert dedup_nightly() is None
    assert _job(kind="cleanse").kind == "cleanse"


def test_the_nightly_run_is_incremental_since_the_last_successful_one(world):
    first = dedup_nightly()
    assert not first.incremental  # nothing ran before: everyone
    dedup_job_run_inline(job=first)
    assert dedup_nightly().incremental


def test_the_beat_schedules_the_nightly_run():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "dedup.tasks.dedup_nightly_task" in tasks


def test_a_job_started_in_the_page_runs_to_the_end_in_process_without_a_broker(
    world, client_for, data_steward, django_capture_on_commit_callbacks, monkeypatch, settings
):
    """Without REDIS_URL tasks run eagerly: the start task dispatches the chunks one after another."""
    from crm.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    settings.DEDUP_CHUNK_SIZE = 4
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(data_steward).post(reverse("dedup:jobs"), {"kind": "dedup", "scope": "all"})
    assert response.status_code == 302
    job = DedupJob.objects.get()
    assert job.status == "done" and job.chunks_done == 3 and job.created_by == data_steward
    assert _stored_pairs() == _engine_pairs(world)


def test_the_jobs_page_is_for_stewards_only(client, client_for, shenzhen_sales_rep, guangdong_sales_manager):
    assert client.get(reverse("dedup:jobs")).status_code == 302
    for user in (shenzhen_sales_rep, guangdong_sales_manager):
        assert client_for(user).get(reverse("dedup:jobs")).status_code == 404
        assert client_for(user).post(reverse("dedup:jobs"), {"kind": "dedup", "scope": "all"}).status_code == 404
    assert not DedupJob.objects.exists()


def test_the_job_form_explains_what_is_missing(client_for, data_steward):
    response = client_for(data_steward).post(reverse("dedup:jobs"), {"kind": "dedup", "scope": "province"})
    assert response.status_code == 400
    assert "province" in response.context["form"].errors
    assert not DedupJob.objects.exists()


def test_a_running_jobs_row_polls_every_two_seconds_and_a_finished_one_stops(world, client_for, data_steward):
    job = _job()
    client = client_for(data_steward)
    body = client.get(reverse("dedup:job_progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in body and 'data-status="queued"' in body
    dedup_job_run_inline(job=job)
    body = client.get(reverse("dedup:job_progress", args=[job.pk])).content.decode()
    assert "every 2s" not in body and 'data-status="done"' in body and 'value="100"' in body
    page = client.get(reverse("dedup:jobs")).content.decode()
    assert f'id="job-{job.pk}"' in page


def test_a_steward_cancels_a_job_from_the_page(world, client_for, data_steward):
    job = _job()
    response = client_for(data_steward).post(reverse("dedup:job_cancel", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status in ("cancelling", "cancelled")
    dedup_job_start(job=job)
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_the_management_command_runs_a_job_here(world, capsys):
    call_command("dedup_run")
    assert "done" in capsys.readouterr().out
    assert _stored_pairs() == _engine_pairs(world)
    call_command("dedup_run", "--cleanse", "--rebuild-keys")
    assert DedupJob.objects.filter(kind="cleanse", status="done").exists()


def test_a_search_that_wrote_many_pairs_refreshes_the_pair_statistics(
    world, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """Once the last chunk commits, a search with at least ANALYZE_PAIRS_MIN pairs ANALYZEs the pair
    table, so that the dashboards' pair counts are planned on the table as it now is; a search with
    fewer does not."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dedup import services

    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    settings.DEDUP_CHUNK_SIZE = 3

    def run(minimum):
        monkeypatch.setattr(services, "ANALYZE_PAIRS_MIN", minimum)
        with CaptureQueriesContext(connection) as ctx, django_capture_on_commit_callbacks(execute=True):
            job = dedup_job_run_inline(job=_job())
        return job, [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("ANALYZE")]

    job, analyzed = run(1)
    assert job.pairs_found >= 4 and len(analyzed) == 1  # once, after the chunk that closed the job
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [CandidatePair._meta.db_table])
        assert cursor.fetchone()[0] == CandidatePair.objects.count()  # ANALYZE counted the rows
    assert run(job.pairs_found + 1)[1] == []
