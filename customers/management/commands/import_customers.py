"""python manage.py import_customers FILE --as USERNAME [--dry-run] [--existing merge|skip|create] …

The same pipeline as the browser (permissions of --as, preview, chunked resumable run, report),
run in this process. Exit status 0 when the file was read (rejected rows are reported, not fatal),
1 when the file or the user cannot be used.
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from customers.io import exporter, importer, selectors
from customers.io.readers import FileProblem
from customers.models import ImportJob


class Command(BaseCommand):
    help = "Import customers from a CSV or XLSX file as a given user (see docs/import-format.md)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--as", dest="username", required=True, help="Import with this user's rights.")
        parser.add_argument("--dry-run", action="store_true", help="Only check the file and print the preview.")
        parser.add_argument("--new", choices=importer.DECISIONS["new"], default="create")
        parser.add_argument("--existing", choices=importer.DECISIONS["existing"], default="merge")
        parser.add_argument("--infile", choices=importer.DECISIONS["infile"], default="merge")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="Map a file column (header or 1-based number).",
        )
        parser.add_argument("--rejected", metavar="OUT", help="Write the rejected rows to this CSV or XLSX file.")
        parser.add_argument("--resume", type=int, metavar="JOB_ID", help="Continue an interrupted job.")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['username']!r}.")
        if options["resume"]:
            job = ImportJob.objects.filter(pk=options["resume"], created_by=user).first()
            if job is None:
                raise CommandError(f"No import job {options['resume']} of {user.username}.")
            job = importer.import_job_resume(job=job)
            return self._finish(importer.import_job_run(job=job), options)
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            job = importer.import_job_create(
                user=user, filename=path.name, content=path.read_bytes(), dry_run=options["dry_run"], enqueue=False
            )
        except PermissionDenied as exc:
            raise CommandError(f"{user.username} may not import customers (role flag can_import).") from exc
        except FileProblem as exc:
            raise CommandError(str(exc)) from exc
        if options["map"] or job.status == ImportJob.Status.MAPPING:
            mapping = dict(job.mapping)
            for item in options["map"]:
                column, _, field = item.partition("=")
                index = (
                    int(column) - 1
                    if column.isdigit()
                    else (job.headers.index(column) if column in job.headers else -1)
                )
                if index < 0:
                    raise CommandError(f"No column {column!r}; the headers are: {', '.join(job.headers)}")
                mapping[str(index)] = field
            try:
                job = importer.import_job_map(job=job, mapping=mapping, enqueue=False)
            except importer.ImportProblem as exc:
                raise CommandError(f"{exc} Headers: {', '.join(job.headers)}. Use --map COLUMN=FIELD.") from exc
        job = importer.import_job_analyse(job=job)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.message)
        counts = job.analysis.get("counts", {})
        self.stdout.write(json.dumps({"job": job.pk, "preview": counts, "encoding": job.encoding}, ensure_ascii=False))
        for sample in job.analysis.get("samples", {}).get("invalid", [])[:20]:
            self.stdout.write(f"  row {sample['row']}: {'; '.join(sample['reasons'])}")
        if options["dry_run"]:
            return
        job = importer.import_job_decide(
            job=job,
            decisions={"new": options["new"], "existing": options["existing"], "infile": options["infile"]},
            enqueue=False,
        )
        self._finish(importer.import_job_run(job=job), options)

    def _finish(self, job, options):
        report = {
            "job": job.pk,
            "status": job.status,
            "rows": job.total_rows,
            "created": job.created_count,
            "merged": job.merged_count,
            "skipped": job.skipped_count,
            "rejected": job.rejected_count,
        }
        self.stdout.write(json.dumps(report, ensure_ascii=False))
        if options.get("rejected") and job.rejected_count:
            out = Path(options["rejected"])
            file_format = "xlsx" if out.suffix.lower() == ".xlsx" else "csv"
            out.write_bytes(exporter.rows_to_bytes(selectors.rejected_file_rows(job), file_format))
            self.stdout.write(f"rejected rows written to {out}")
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.message)
