"""T4: a real Celery worker (prefork, two processes) is killed with SIGKILL in the middle of a
duplicate search; a new worker and a resume finish the job with 0 lost and 0 duplicated pairs.

Needs Redis (REDIS_URL) and PostgreSQL; skipped without REDIS_URL unless CRM_REQUIRE_SERVICES=1.
The worker processes use the test database (transactional test: the data is committed) and a
queue of their own, so nothing else sharing the Redis database interferes.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from dedup import matching
from dedup.models import CandidatePair, DedupChunk, DedupJob
from dedup.records import records_load

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 300  # generous: CI machines are shared


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    if not url:
        if os.environ.get("CRM_REQUIRE_SERVICES") == "1":
            pytest.fail("CRM_REQUIRE_SERVICES=1 but REDIS_URL is not set", pytrace=False)
        pytest.skip("REDIS_URL is not set: no broker to run real workers against")
    if connection.vendor != "postgresql":
        pytest.skip("the worker test needs PostgreSQL (worker processes share the test database)")
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    return url


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Workers:
    """`celery -A crm worker --pool=prefork -c 2` processes on a private queue, killable as a group."""

    def __init__(self, redis_url, tmp_path):
        self.queue = f"dedup-t4-{uuid.uuid4().hex[:10]}"
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        n = len(self.processes)
        log_path = self.tmp_path / f"worker{n}.log"
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": _database_url(),
            "DJANGO_SETTINGS_MODULE": "crm.test_settings",
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        args = [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=prefork", "-c", "2"]
        args += ["-Q", self.queue, "-n", f"{self.queue}-{n}@%h", "--loglevel=INFO"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                args, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        process.log_path = log_path
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        return process

    @staticmethod
    def kill(process, sig=signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # the main process and its pool children
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)
        from crm.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(self.queue)


@pytest.fixture
def workers(redis_url, tmp_path):
    pool = Workers(redis_url, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def _bulk_world(count: int) -> list[int]:
    """`count` companies with phones; every third one a duplicate of the one before, written
    differently (another legal suffix, another phone format)."""
    from customers.models import CompanyProfile, ContactPoint, Customer
    from customers.services import customer_numbers_reserve
    from dedup.normalize import normalize_name, normalize_phone
    from dedup.services import match_keys_refresh_many

    numbers = customer_numbers_reserve(count)
    customers, phones = [], []
    for i in range(count):
        base = i - 1 if i % 3 == 2 else i
        name = f"测试{base}号科技有限公司" if i % 3 != 2 else f"测试{base}号科技股份有限公司"
        phone = f"139{base:08d}"
        phones.append(phone if i % 3 != 2 else f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}")
        customers.append(Customer(number=numbers[i], kind="company", name=name, name_normalized=normalize_name(name)))
    Customer.objects.bulk_create(customers, batch_size=1000)
    CompanyProfile.objects.bulk_create([CompanyProfile(customer=c) for c in customers], batch_size=1000)
    ContactPoint.objects.bulk_create(
        [
            ContactPoint(customer=c, kind="mobile", value=p, normalized=normalize_phone(p), is_primary=True)
            for c, p in zip(customers, phones, strict=True)
        ],
        batch_size=1000,
    )
    ids = [c.pk for c in customers]
    match_keys_refresh_many(ids)
    return ids


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing_after_resume(workers, settings):
    from dedup.services import dedup_job_create, dedup_job_dispatch, dedup_job_resume, dedup_job_start

    ids = _bulk_world(3000)
    expected = {(a, b) for a, b, _m in matching.find_pairs(records_load(ids).values())}
    assert len(expected) >= 1000

    settings.DEDUP_CHUNK_SIZE = 30
    job = dedup_job_create(created_by=None, start=False)
    chunk_ids = dedup_job_start(job=job)
    total = len(chunk_ids)
    assert total == 100

    first = workers.start()
    dedup_job_dispatch(chunk_ids, queue=workers.queue)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        done = DedupChunk.objects.filter(job=job, status="done").count()
        if done >= total // 10:
            break
        assert time.monotonic() < deadline, first.log_path.read_text()
        time.sleep(0.02)
    workers.kill(first)  # SIGKILL to the whole worker: no shutdown, no acks, transactions cut off
    done_at_kill = DedupChunk.objects.filter(job=job, status="done").count()
    assert done_at_kill < total, "the job finished before the kill: make it bigger"
    job.refresh_from_db()
    assert job.status == "running"

    second = workers.start()
    dedup_job_resume(job=job, queue=workers.queue)  # re-dispatches every chunk not done
    while True:
        job.refresh_from_db()
        if job.status == "done":
            break
        assert job.status == "running", job.error
        assert time.monotonic() < deadline, (
            f"job {job.status}, {job.chunks_done}/{job.chunks_total} chunks counted, "
            f"{DedupChunk.objects.filter(job=job, status='done').count()} done:\n{second.log_path.read_text()[-3000:]}"
        )
        time.sleep(0.2)

    chunks = DedupChunk.objects.filter(job=job)
    assert chunks.filter(status="done").count() == total
    stored = list(CandidatePair.objects.values_list("a_id", "b_id"))
    assert len(stored) == len(set(stored))  # 0 duplicated
    assert set(stored) == expected  # 0 lost
    # Each pair is found by exactly one chunk (from its smaller id): the counts add up exactly.
    assert sum(chunks.values_list("pairs_found", flat=True)) == job.pairs_found == len(expected)
    assert job.customers_scanned == len(ids)
    assert DedupJob.objects.get(pk=job.pk).progress == 100
