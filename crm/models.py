"""Precomputed dashboard figures (docs/adr/0010-dashboard-summaries.md).

A beat task (`crm.tasks.dashboard_summaries_refresh_task`) fills one `SummaryRun` with rows keyed
by (org unit, metric, period, bucket), each a count or sum over the customers of that one unit.
A dashboard whose viewer's scope is a set of whole units adds up the rows of those units instead
of aggregating a million customers; any other scope, and a stale or missing run, is computed live.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SummaryRun(models.Model):
    """One refresh. Dashboards read only the newest finished run; older runs are deleted by the next."""

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True, db_index=True)
    as_of = models.DateTimeField(_("figures as of"), help_text=_("the moment 'last N days' is counted back from"))
    today = models.DateField(_("local date of the figures"))
    seconds = models.FloatField(_("duration (s)"), null=True, blank=True)

    class Meta:
        verbose_name = _("dashboard summary run")
        verbose_name_plural = _("dashboard summary runs")
        ordering = ["-finished_at", "-pk"]

    def __str__(self):
        return f"summary run {self.pk} as of {self.as_of:%Y-%m-%d %H:%M}"


class DashboardSummary(models.Model):
    """One figure of one org unit: `n` (count), `extra` (a second count), `amount`, `score_sum`/`score_n`.

    `org_unit` is null for customers without a unit (only "sees everything" viewers add those up).
    `period_days` is 0 for figures without a period. `bucket` is the stage, the RFM segment, or
    (for duplicate pairs) the other customer's unit id; `user` the person of per-person figures.
    """

    run = models.ForeignKey(SummaryRun, on_delete=models.CASCADE, related_name="rows")
    # No database constraint: bulk reloads (seed_scale --reset) truncate org units, and a row of a
    # vanished unit is never read (rows are read by the viewer's current unit ids).
    org_unit = models.ForeignKey(
        "sharing.OrgUnit", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    # The person of per-person figures (activities); null elsewhere.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    metric = models.CharField(max_length=20)
    period_days = models.PositiveIntegerField(default=0)
    # Stage, RFM segment, "stage\x1freason" (won/lost: a reason is up to 300 characters) or a unit id.
    bucket = models.CharField(max_length=320, blank=True, default="")
    n = models.BigIntegerField(default=0)
    extra = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    score_sum = models.BigIntegerField(default=0)
    score_n = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("dashboard summary row")
        verbose_name_plural = _("dashboard summary rows")
        indexes = [models.Index(fields=["run", "metric", "period_days", "org_unit"], name="dash_summary_lookup")]

    def __str__(self):
        return f"{self.metric}/{self.period_days}/{self.bucket} unit {self.org_unit_id}: {self.n}"
