"""Celery tasks of the import pipeline: thin wrappers that load the job and call the service.

Both services are idempotent (the analysis only runs for a job in "analysing"; the run continues at
the job's committed row count), so at-least-once delivery is safe: acks_late and
reject_on_worker_lost come from the settings.
"""

import logging

from celery import shared_task
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

__all__ = ["import_job_analyse_task", "import_job_run_task"]


@shared_task(name="customers.import_job_analyse_task", acks_late=True)
def import_job_analyse_task(job_id: int) -> None:
    from customers.io.importer import import_job_analyse
    from customers.models import ImportJob

    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        import_job_analyse(job=job)
    except Exception:
        logger.exception("import job %s: analysis failed", job_id)
        _fail(job_id, _("The file could not be checked because of an unexpected error; nothing was written."))
        raise


@shared_task(name="customers.import_job_run_task", acks_late=True)
def import_job_run_task(job_id: int) -> None:
    from customers.io.importer import import_job_run
    from customers.models import ImportJob

    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        import_job_run(job=job)
    except Exception:
        logger.exception("import job %s: run failed", job_id)
        _fail(
            job_id,
            _(
                "The import stopped because of an unexpected error. The rows before it are imported and "
                "accounted for; an administrator can continue it with manage.py import_customers --resume %(id)s."
            )
            % {"id": job_id},
        )
        raise


def _fail(job_id: int, message: str) -> None:
    from django.utils import timezone

    from customers.models import ImportJob

    ImportJob.objects.filter(pk=job_id).exclude(status=ImportJob.Status.DONE).update(
        status=ImportJob.Status.FAILED, message=message, updated_at=timezone.now()
    )
