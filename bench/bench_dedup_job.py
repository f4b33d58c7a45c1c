"""The batch duplicate search over the whole database, and the on-entry duplicate check.

    DATABASE_URL=postgres://…/crm_scale [REDIS_URL=redis://…] .venv/bin/python bench/bench_dedup_job.py \
        [--scope all|province:广东|unit:GD] [--workers 2] [--max-seconds 1500] [--cleanse] \
        [--check-samples 200] [--skip-job] [--cleanup]

With REDIS_URL the job runs as in production: this script starts `celery -A crm worker -c N` on a
private queue and hands it one task per chunk; without it the chunks run here, one after another.
A job still running after --max-seconds is cancelled and the throughput so far is reported
(`completed: false`). `cpu_s` is the Python CPU of the run (this process and the workers, with
their start-up; not PostgreSQL's), `cpu_per_chunk_s` that over the chunks done: on a shared
machine it moves less than the wall time. --cleanse runs a cleansing job first (it rebuilds every
match key: needed when the seeder wrote only phone/email/code keys). The on-entry check is measured through Django
(`dedup:check`, the data steward persona, name + phone of random existing customers, typed in
another format) and as the bare service. Prints JSON lines, e.g.
{"metric": "dedup_job_seconds", "value": 812.4, "unit": "s", "customers": 1000000, "pairs": 51234, ...}
The pairs found stay in the database (they are what the review queue shows); --cleanup removes the
open pairs and the jobs this run created.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, note, setup_django, summary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHECK_TARGET_MS = 50


def _start_workers(count: int, queue: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "bench.settings")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=prefork", "-c", str(count)]
    args += ["-Q", queue, "-n", f"{queue}@%h", "--loglevel=WARNING", "--without-gossip", "--without-mingle"]
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(3)  # the pool forks and connects; chunks wait in the queue meanwhile anyway
    return process


def _stop_workers(process: subprocess.Popen, queue: str) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
    from crm.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


def _worker_peaks_mb(process: subprocess.Popen) -> list[float]:
    """VmHWM (peak RSS) in MB of the Celery main process and each pool child, read from /proc
    before they are stopped."""
    pids = [process.pid]
    try:
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
            pids += [int(pid) for pid in f.read().split()]
    except OSError:
        pass
    peaks = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peaks.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            continue
    return peaks


def _cpu_seconds() -> float:
    """CPU (user + system) of this process and of its reaped children: the Celery workers once
    stopped (their pool processes included), not PostgreSQL's."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _scope(text: str) -> dict:
    from sharing.models import OrgUnit

    if text.startswith("province:"):
        return {"province": text.split(":", 1)[1]}
    if text.startswith("unit:"):
        return {"org_unit": OrgUnit.objects.get(code=text.split(":", 1)[1])}
    return {}


def run_job(kind: str, scope: dict, workers: int, max_seconds: float, steward) -> object:
    from django.conf import settings

    from dedup.models import DedupJob
    from dedup.services import dedup_chunk_run, dedup_job_cancel, dedup_job_create, dedup_job_dispatch, dedup_job_start

    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    job = dedup_job_create(created_by=None, kind=kind, start=False, **scope)
    chunk_ids = dedup_job_start(job=job)
    planned = time.perf_counter()
    note(f"{kind} job #{job.pk}: {len(chunk_ids)} chunks planned in {planned - started:.1f}s")
    deadline = started + max_seconds
    mode = "in-process"
    if settings.CELERY_TASK_ALWAYS_EAGER:
        for index, chunk_id in enumerate(chunk_ids, start=1):
            if time.perf_counter() > deadline:
                break
            dedup_chunk_run(chunk_id=chunk_id)
            if index % 25 == 0:
                note(f"  {index}/{len(chunk_ids)} chunks, {time.perf_counter() - started:.0f}s")
    else:
        mode = f"celery-{workers}-processes"
        queue = f"bench-dedup-{uuid.uuid4().hex[:8]}"
        process = _start_workers(workers, queue)
        try:
            dedup_job_dispatch(chunk_ids, queue=queue)
            while time.perf_counter() < deadline:
                job.refresh_from_db()
                if not job.is_active:
                    break
                time.sleep(1)
                note(f"  {job.chunks_done}/{job.chunks_total} chunks, {time.perf_counter() - started:.0f}s")
        finally:
            job.refresh_from_db()
            if job.is_active:
                dedup_job_cancel(job=job, cancelled_by=steward)
            peaks = _worker_peaks_mb(process)
            _stop_workers(process, queue)
        if peaks:
            emit(
                "memory.celery_worker_peak_rss",
                max(peaks),
                "MB",
                workers=workers,
                all_processes=peaks,
                note="VmHWM of the Celery main process and each pool child after the batch job",
            )
    job = DedupJob.objects.get(pk=job.pk)
    if job.is_active:
        job = dedup_job_cancel(job=job, cancelled_by=steward)
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_started
    completed = job.status == "done"
    emit(
        f"{'dedup' if kind == 'dedup' else 'cleanse'}_job_seconds",
        round(elapsed, 1),
        "s",
        customers=job.customers_scanned,
        pairs=job.pairs_found if kind == "dedup" else None,
        chunks=job.chunks_total,
        chunks_done=job.chunks_done,
        planning_s=round(planned - started, 1),
        cpu_s=round(cpu, 1),
        cpu_per_chunk_s=round(cpu / job.chunks_done, 3) if job.chunks_done else None,
        mode=mode,
        completed=completed,
        job=job.pk,
    )
    emit(
        f"{'dedup' if kind == 'dedup' else 'cleanse'}_job_customers_per_s",
        round(job.customers_scanned / elapsed, 1) if elapsed else None,
        "customers/s",
        mode=mode,
        completed=completed,
    )
    return job


def measure_check(samples: int, steward) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from customers.models import ContactPoint, Customer
    from dedup.services import duplicate_candidates

    top = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rng = random.Random(20261122)
    probes = []
    attempts = 0
    while len(probes) < samples and attempts < samples * 20:
        attempts += 1
        pk = rng.randint(1, top)
        row = Customer.objects.filter(pk=pk).values_list("kind", "name").first()
        phone = (
            ContactPoint.objects.filter(customer_id=pk, kind__in=["mobile", "landline"])
            .values_list("normalized", flat=True)
            .first()
        )
        if row and phone and phone.startswith("+86"):
            national = phone[3:]
            probes.append({"kind": row[0], "name": row[1], "phone": f"{national[:3]} {national[3:7]} {national[7:]}"})
    if not probes:
        note("no customers with phones to probe the check with")
        return
    client = Client()
    client.force_login(steward)
    url = reverse("dedup:check")
    for data in probes[:5]:  # warm-up: sessions, the principal, caches
        client.post(url, data)
    page_ms, service_ms, queries, hits = [], [], [], []
    for data in probes:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.post(url, data)
            page_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        queries.append(len(captured))
        started = time.perf_counter()
        hits.append(len(duplicate_candidates(user=steward, data=data)))
        service_ms.append((time.perf_counter() - started) * 1000)
    stats = summary(page_ms)
    emit(
        "dedup_check_ms",
        stats["p95"],
        "ms",
        persona="data_steward",
        **stats,
        queries=max(queries),
        mean_hits=round(sum(hits) / len(hits), 2),
        target=CHECK_TARGET_MS,
        meets_target=stats["p95"] <= CHECK_TARGET_MS,
    )
    stats = summary(service_ms)
    emit("dedup_candidates_service_ms", stats["p95"], "ms", persona="data_steward", **stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scope", default="all", help="all, province:<name> or unit:<code>")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (with REDIS_URL)")
    parser.add_argument("--max-seconds", type=float, default=1500)
    parser.add_argument("--cleanse", action="store_true", help="run a cleansing job first (rebuilds all keys)")
    parser.add_argument("--check-samples", type=int, default=200)
    parser.add_argument("--skip-job", action="store_true", help="only measure the on-entry check")
    parser.add_argument("--cleanup", action="store_true", help="delete this run's jobs and open pairs afterwards")
    parser.add_argument("--user", default="steward1", help="a user with the merge flag")
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model

    from dedup.models import CandidatePair, DedupJob

    steward = get_user_model().objects.filter(username=args.user).first()
    if steward is None:
        note(f"no user {args.user!r}: seed the database first (seed_scale or seed_demo)")
        sys.exit(2)
    if DedupJob.objects.active().exists():
        note("a dedup or cleansing job is running in this database: not starting another")
        sys.exit(2)
    jobs = []
    if not args.skip_job:
        scope = _scope(args.scope)
        if args.cleanse:
            jobs.append(run_job("cleanse", scope, args.workers, args.max_seconds, steward))
        jobs.append(run_job("dedup", scope, args.workers, args.max_seconds, steward))
    if args.check_samples:
        measure_check(args.check_samples, steward)
    if args.cleanup:
        for job in jobs:
            CandidatePair.objects.filter(job=job, status="open").delete()
            job.delete()


if __name__ == "__main__":
    main()
