"""A full job counts the keys' holders once when it is planned (DedupJobKey) and its chunks read
those rows instead of probing every key: the pairs, scores and explanations must be exactly those
of the live probes and of the engine, on a world with over-cap keys and shared lines."""

import pytest

from dedup import matching
from dedup import services as dedup_services
from dedup.models import CandidatePair, DedupJob, DedupJobKey
from dedup.records import records_load
from dedup.services import dedup_chunk_run, dedup_job_cancel, dedup_job_create, dedup_job_run_inline, dedup_job_start

SWITCHBOARD = "0755-88880000"  # held by more than the phone cap (50): a shared line, no block
MAILBOX = "info@jiayi-group.cn"  # held by 12: a block (under 50) and a shared line (over 10)


@pytest.fixture
def varied_world(make_customer, shenzhen_sales_rep, beijing_sales_rep):
    made = [
        make_customer(name="深圳市华为技术有限公司", owner=shenzhen_sales_rep, phones=["13800138000"]),
        make_customer(name="华为技术股份有限公司", phones=["+86 138-0013-8000"]),
        make_customer(name="广州恒通贸易有限公司", emails=["ht@hengtong.cn"]),
        make_customer(name="恒通贸易（广州）有限公司", owner=beijing_sales_rep, emails=["HT@hengtong.cn"]),
        make_customer(name="张伟", kind="person", phones=["13912345678"]),
        make_customer(name="張偉", kind="person", phones=["139 1234 5678"]),
        make_customer(name="深圳市星河电子有限公司", phones=["0755-26001234"]),
        make_customer(name="深圳市星河电了有限公司", phones=["0755-26001299"]),  # a typo neighbour
        make_customer(name="杭州西湖茶业有限公司", phones=["0571-87001234"]),
    ]
    # 55 companies behind one switchboard; two of them are the same company written differently,
    # so they meet through their names and agree on a phone that must count as a shared line.
    made.append(make_customer(name="深圳市甲乙科技有限公司", phones=[SWITCHBOARD]))
    made.append(make_customer(name="甲乙科技（深圳）有限公司", phones=["(0755) 8888 0000"]))
    for n in range(53):
        made.append(make_customer(name=f"深圳市园区第{n}号租户有限公司", phones=[SWITCHBOARD]))
    # 12 companies of a group sharing a mailbox (a block and a shared line at once).
    for n in range(12):
        made.append(make_customer(name=f"甲乙集团第{n}分公司", emails=[MAILBOX], phones=[f"02087{n:06d}"]))
    # 12 people of the most common name with their own phones: the name key is over its cap.
    for n in range(12):
        made.append(make_customer(name="王伟", kind="person", phones=[f"1367777{n:04d}"]))
    made.append(make_customer(name="王伟", kind="person", phones=["136 7777 0003"]))  # one of them again
    return made


def _engine(customers):
    records = records_load([c.pk for c in customers]).values()
    return {(a, b): (m.score, m.evidence) for a, b, m in matching.find_pairs(records)}


def _stored():
    return {(p.a_id, p.b_id): (p.score, p.explanation) for p in CandidatePair.objects.all()}


def _full_job():
    return dedup_job_create(created_by=None, start=False)


def test_planned_keys_find_exactly_the_pairs_of_the_live_probes_and_of_the_engine(varied_world, settings, monkeypatch):
    settings.DEDUP_CHUNK_SIZE = 7

    def live_is_not_used(ids):
        raise AssertionError("a full job must read the planned keys")

    with monkeypatch.context() as patched:
        patched.setattr(dedup_services, "_live_keys_of_chunk", live_is_not_used)
        job = dedup_job_run_inline(job=_full_job())
    assert job.status == "done" and job.keys_planned and job.customers_scanned == len(varied_world)
    planned = _stored()

    # Only shared keys were kept: the switchboard with its holder count, no key held by one customer.
    kept = dict(DedupJobKey.objects.filter(job_id=job.pk).values_list("key", "holders").distinct())
    assert kept and min(kept.values()) >= 2
    assert kept["p:+8675588880000"] == 55
    assert "p:+8657187001234" not in kept

    engine = _engine(varied_world)
    assert set(planned) == set(engine)
    assert {pair: score for pair, (score, _e) in planned.items()} == {
        pair: score for pair, (score, _e) in engine.items()
    }
    jiayi = CandidatePair.ordered(varied_world[9].pk, varied_world[10].pk)
    assert {"field": "contact", "agreement": "shared", "points": matching.POINTS["shared_contact"]} in planned[jiayi][1]

    # The same job probing keys live (as scoped jobs do) finds the same pairs, scores and evidence.
    CandidatePair.objects.all().delete()
    monkeypatch.setattr(dedup_services, "_plans_keys", lambda job: False)
    live = dedup_job_run_inline(job=_full_job())
    assert not live.keys_planned
    assert _stored() == planned


def test_a_new_plan_releases_the_keys_of_finished_jobs(varied_world):
    first = dedup_job_run_inline(job=_full_job())
    assert DedupJobKey.objects.filter(job_id=first.pk).exists()
    second = dedup_job_run_inline(job=_full_job())
    first.refresh_from_db()
    assert not first.keys_planned and not DedupJobKey.objects.filter(job_id=first.pk).exists()
    assert second.keys_planned and DedupJobKey.objects.filter(job_id=second.pk).exists()


def test_a_cancelled_job_resumed_after_its_keys_were_released_probes_live_and_loses_nothing(
    varied_world, settings, data_steward
):
    settings.DEDUP_CHUNK_SIZE = 10
    job = _full_job()
    chunk_ids = dedup_job_start(job=job)
    dedup_chunk_run(chunk_id=chunk_ids[0])
    job = dedup_job_cancel(job=job, cancelled_by=data_steward)
    assert job.status == "cancelled"
    other = dedup_job_run_inline(job=_full_job())  # plans anew: the cancelled job's keys go
    assert other.status == "done"
    job.refresh_from_db()
    assert not job.keys_planned
    CandidatePair.objects.all().delete()

    from dedup.services import dedup_job_resume

    for chunk_id in dedup_job_resume(job=job, resumed_by=data_steward):
        dedup_chunk_run(chunk_id=chunk_id)
    job.refresh_from_db()
    assert job.status == DedupJob.Status.DONE
    # The first chunk's pairs were deleted above and are not re-found (done chunks are not rerun);
    # every pair from the other chunks is the engine's.
    first = DedupJob.objects.get(pk=job.pk).chunks.get(seq=0)
    engine = {pair for pair in _engine(varied_world) if not first.start_id <= pair[0] <= first.end_id}
    assert set(_stored()) == engine
