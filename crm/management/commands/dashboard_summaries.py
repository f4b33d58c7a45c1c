"""Recompute the dashboard summaries now (the beat task does it every 15 minutes)."""

from django.core.management.base import BaseCommand

from crm.summaries import summaries_refresh


class Command(BaseCommand):
    help = "Recompute the precomputed dashboard figures now (idempotent; replaces the previous run)."

    def handle(self, *args, **options):
        run = summaries_refresh()
        self.stdout.write(
            f"summary run {run.pk}: {run.rows.count()} rows as of {run.as_of:%Y-%m-%d %H:%M:%S} in {run.seconds} s"
        )
