"""Celery tasks of the dedup app: thin wrappers that take ids and call a service.

All of them are safe to run twice (acks_late and reject_on_worker_lost are on in the settings):
the start task plans once, a chunk is skipped when done or held by another worker, and its results
are committed together with its "done". Without REDIS_URL they run in-process, one after another.
"""

from celery import shared_task
from celery.signals import worker_init


@shared_task(name="dedup.tasks.dedup_job_start_task")
def dedup_job_start_task(job_id: int) -> int:
    """Plan the job's chunks and hand one task per chunk to the workers."""
    from dedup.models import DedupJob
    from dedup.services import dedup_job_dispatch, dedup_job_start

    job = DedupJob.objects.filter(pk=job_id).first()
    if job is None:
        return 0
    chunk_ids = dedup_job_start(job=job)
    dedup_job_dispatch(chunk_ids)
    return len(chunk_ids)


@shared_task(name="dedup.tasks.dedup_chunk_run_task")
def dedup_chunk_run_task(chunk_id: int) -> str:
    from dedup.services import dedup_chunk_run

    return dedup_chunk_run(chunk_id=chunk_id)


@shared_task(name="dedup.tasks.dedup_nightly_task")
def dedup_nightly_task() -> int | None:
    """Beat: the incremental duplicate search over customers changed since the last successful run."""
    from dedup.services import dedup_nightly

    job = dedup_nightly()
    return job.pk if job else None


@shared_task(name="dedup.tasks.match_keys_refresh_task")
def match_keys_refresh_task(customer_ids: list[int]) -> int:
    """For bulk loaders that prefer to hand key building to a worker."""
    from dedup.services import match_keys_refresh_many

    return match_keys_refresh_many(customer_ids)


@worker_init.connect(dispatch_uid="dedup.warm_normalizer_tables")
def warm_normalizer_tables(**kwargs) -> None:
    """Build the normaliser's pinyin tables in the worker's parent process, before the prefork pool
    forks its children: each child then starts with them (copy-on-write) instead of spending ~2 s
    of CPU on them in its first dedup chunk or import."""
    from dedup.normalize import _pinyin_table, _place_by_pinyin

    _pinyin_table()
    _place_by_pinyin()
