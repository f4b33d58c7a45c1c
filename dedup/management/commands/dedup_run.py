"""`manage.py dedup_run [--province X] [--unit CODE] [--incremental] [--cleanse] [--rebuild-keys] [--queue]`

Runs a duplicate search (or, with --cleanse, a cleansing job) over the customers. By default the
job runs here, chunk after chunk, and the command prints its progress; with --queue it is handed
to the Celery workers instead (REDIS_URL must be set) and the command returns at once. Jobs are
recorded like the steward page's ones (created_by empty) and show on `dedup:jobs`.

--rebuild-keys rebuilds the match-key table for every customer first (after a bulk load that
bypassed the model signals), in batches, before the search.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from dedup.models import DedupJob


class Command(BaseCommand):
    help = "Find duplicate customers (or cleanse the customer data) in chunks; resumable."

    def add_arguments(self, parser):
        parser.add_argument("--province", default="", help="only customers of this province (short form, e.g. 广东)")
        parser.add_argument("--unit", default="", help="only customers of this org unit (code) and its sub-units")
        parser.add_argument("--incremental", action="store_true", help="only customers changed since the last run")
        parser.add_argument("--cleanse", action="store_true", help="run a cleansing and quality job instead")
        parser.add_argument("--rebuild-keys", action="store_true", help="rebuild all match keys first")
        parser.add_argument("--queue", action="store_true", help="hand the job to the Celery workers")
        parser.add_argument("--resume", type=int, metavar="JOB_ID", help="resume an unfinished job instead")

    def handle(self, *args, **options):
        from dedup import services
        from sharing.models import OrgUnit

        if options["rebuild_keys"]:
            self._rebuild_keys()
        if options["resume"]:
            job = DedupJob.objects.filter(pk=options["resume"]).first()
            if job is None:
                raise CommandError(f"no job #{options['resume']}")
            if options["queue"]:
                services.dedup_job_resume(job=job)
                self.stdout.write(f"job #{job.pk} resumed on the workers")
                return
            job.refresh_from_db()
            if job.status == DedupJob.Status.QUEUED:
                return self._run_inline(job, services.dedup_job_start(job=job))
            chunk_ids = list(job.chunks.exclude(status="done").values_list("pk", flat=True))
            DedupJob.objects.filter(pk=job.pk).update(status=DedupJob.Status.RUNNING, error="", finished_at=None)
            return self._run_inline(job, chunk_ids)
        unit = None
        if options["unit"]:
            unit = OrgUnit.objects.filter(code=options["unit"]).first()
            if unit is None:
                raise CommandError(f"no org unit with code {options['unit']!r}")
        kind = DedupJob.Kind.CLEANSE if options["cleanse"] else DedupJob.Kind.DEDUP
        try:
            job = self._create(kind, options["province"], unit, options["incremental"], queue=options["queue"])
        except Exception as exc:  # ValidationError: another job of this kind is running
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        if options["queue"]:
            self.stdout.write(f"job #{job.pk} queued for the workers")
            return
        self._run_inline(job, services.dedup_job_start(job=job))

    def _create(self, kind, province, unit, incremental, *, queue):
        from dedup import services

        return services.dedup_job_create(
            created_by=None, kind=kind, province=province, org_unit=unit, incremental=incremental, start=queue
        )

    def _run_inline(self, job, chunk_ids):
        from dedup import services

        started = time.monotonic()
        total = len(chunk_ids)
        for index, chunk_id in enumerate(chunk_ids, start=1):
            services.dedup_chunk_run(chunk_id=chunk_id)
            if index % 10 == 0 or index == total:
                self.stdout.write(f"job #{job.pk}: {index}/{total} chunks")
        job = services.dedup_job_finish_if_complete(job_id=job.pk)
        self.stdout.write(
            self.style.SUCCESS(
                f"job #{job.pk} {job.status}: {job.customers_scanned} customers scanned, "
                f"{job.pairs_found} pairs found in {time.monotonic() - started:.1f}s"
            )
        )

    def _rebuild_keys(self):
        from customers.models import Customer
        from dedup.services import match_keys_refresh_many

        cursor, done = 0, 0
        while True:
            ids = list(Customer.objects.filter(pk__gt=cursor).order_by("pk").values_list("pk", flat=True)[:5000])
            if not ids:
                break
            match_keys_refresh_many(ids)
            cursor, done = ids[-1], done + len(ids)
            self.stdout.write(f"keys rebuilt for {done} customers")
