"""Dashboard summaries: set-based refresh, and the rule for when a dashboard may read them.

Refresh (`summaries_refresh`): one `INSERT … SELECT … GROUP BY org_unit` statement per metric and
period, compiled from the same ORM expressions as the live figures (so SQLite and PostgreSQL run
the same thing, and nothing loops over customers in Python), into a new `SummaryRun`, inside one
transaction; older runs are deleted in the same transaction. Running it twice leaves one run with
the same figures: idempotent.

Read (`summary_source`): a viewer whose view scope is a set of whole org units gets the sum of
those units' rows. The visible set is `owner = me OR unit IN scope OR shared with me`, so that
holds when the scope "sees everything", or when nothing the viewer owns or holds a share of lies
outside the scope's units (one indexed EXISTS query). Owner-only scopes, shares reaching outside
the units, a run older than SUMMARY_MAX_AGE or from another day answer None: the caller computes
live. docs/adr/0010-dashboard-summaries.md.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import CharField, Count, F, Max, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from crm.models import DashboardSummary, SummaryRun

# Periods (days) of the funnel kept in the summary; other periods are computed live.
FUNNEL_PERIODS = (30, 90, 365)
# Activity windows (days) per person kept in the summary.
ACTIVITY_PERIODS = (30,)
# Silent-customer thresholds (days) counted in the summary; other thresholds are computed live.
SILENT_PERIODS = (90,)
# A run older than this is not used (the beat task refreshes every 15 minutes; two missed runs are tolerated).
SUMMARY_MAX_AGE = timedelta(minutes=45)

COLUMNS = ("n", "extra", "amount", "score_sum", "score_n")


# --- refresh -------------------------------------------------------------------------------------


def _insert_select(run_id: int, metric: str, period_days: int, queryset, fields: dict[str, str]) -> int:
    """INSERT the rows of a grouped queryset: alias `s_unit` (org unit), optional `s_bucket`, values in `fields`.

    One statement; the grouped query is the ORM's own SQL, so it is the live figure's expression.
    """
    inner, params = queryset.query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(DashboardSummary._meta.db_table)
    bucket = "s.s_bucket" if "s_bucket" in queryset.query.annotations else "''"
    person = "s.s_user" if "s_user" in queryset.query.annotations else "NULL"
    columns = ", ".join(quote(c) for c in COLUMNS)
    values = ", ".join(f"COALESCE(s.{quote(fields[c])}, 0)" if c in fields else "0" for c in COLUMNS)
    sql = (
        f"INSERT INTO {table} (run_id, org_unit_id, user_id, metric, period_days, bucket, {columns}) "  # noqa: S608 (ORM SQL, our names)
        f"SELECT %s, s.s_unit, {person}, %s, %s, {bucket}, {values} FROM ({inner}) s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (run_id, metric, period_days, *params))
        return cursor.rowcount


def _grouped(queryset, unit_path: str, bucket=None, user_path=None):
    queryset = queryset.annotate(s_unit=F(unit_path))
    keys = ["s_unit"]
    if bucket is not None:
        queryset = queryset.annotate(s_bucket=bucket)
        keys.append("s_bucket")
    if user_path is not None:
        queryset = queryset.annotate(s_user=F(user_path))
        keys.append("s_user")
    return queryset.values(*keys)


def _fill(run: SummaryRun) -> dict[str, int]:
    from crm import dashboards
    from customers.models import ContactPoint, Customer
    from dedup.models import CandidatePair
    from interactions.models import Activity, Opportunity, Payment

    rows: dict[str, int] = {}
    active = Customer.objects.active()

    # Data quality: active customers, their quality score (sum and count, for exact averages) and those without owner.
    rows["customers"] = _insert_select(
        run.pk,
        "customers",
        0,
        _grouped(active, "org_unit_id")
        .annotate(
            n=Count("id"),
            extra=Count("id", filter=Q(owner__isnull=True)),
            score_sum=Sum("quality_score"),
            score_n=Count("quality_score"),
        )
        .order_by(),
        {"n": "n", "extra": "extra", "score_sum": "score_sum", "score_n": "score_n"},
    )
    rows["invalid_contacts"] = _insert_select(
        run.pk,
        "invalid_contacts",
        0,
        _grouped(ContactPoint.objects.filter(is_valid=False, customer__in=active), "customer__org_unit_id")
        .annotate(n=Count("id"))
        .order_by(),
        {"n": "n"},
    )
    # Open duplicate pairs between two active customers, keyed by both units: a scope counts a pair
    # only when it holds both sides, exactly like the live figure.
    rows["open_pairs"] = _insert_select(
        run.pk,
        "open_pairs",
        0,
        _grouped(
            CandidatePair.objects.filter(status="open", a__in=active, b__in=active),
            "a__org_unit_id",
            Coalesce(Cast("b__org_unit_id", output_field=CharField()), Value("")),
        )
        .annotate(n=Count("id"))
        .order_by(),
        {"n": "n"},
    )

    # Silent customers: the live list's queryset, counted per unit.
    for days in SILENT_PERIODS:
        rows[f"silent_{days}"] = _insert_select(
            run.pk,
            "silent",
            days,
            _grouped(dashboards.silent_set(Customer.objects.all(), days, now=run.as_of), "org_unit_id")
            .annotate(n=Count("id"))
            .order_by(),
            {"n": "n"},
        )

    # Funnel: opportunities created in the period, per stage; won and lost: those closed in the
    # period, per stage and reason. Both count and sum the amount, per period.
    for days in FUNNEL_PERIODS:
        start, end = dashboards.Period.last_days(days, today=run.today).datetime_range()
        opportunity_metrics = {
            "funnel": (Opportunity.objects.filter(created_at__gte=start, created_at__lt=end), F("stage")),
            "won_lost": (
                Opportunity.objects.filter(stage__in=["won", "lost"], closed_at__gte=start, closed_at__lt=end),
                Concat(F("stage"), Value(dashboards.WON_LOST_SEPARATOR), F("close_reason"), output_field=CharField()),
            ),
        }
        for metric, (opportunities, bucket) in opportunity_metrics.items():
            rows[f"{metric}_{days}"] = _insert_select(
                run.pk,
                metric,
                days,
                _grouped(opportunities, "customer__org_unit_id", bucket)
                .annotate(n=Count("id"), amount=Sum("amount"))
                .order_by(),
                {"n": "n", "amount": "amount"},
            )

    # Activities in the last N days per person, keyed by the customer's unit (the scope) and the person.
    for days in ACTIVITY_PERIODS:
        rows[f"activities_{days}"] = _insert_select(
            run.pk,
            "activities",
            days,
            _grouped(
                Activity.objects.filter(occurred_at__gte=run.as_of - timedelta(days=days)),
                "customer__org_unit_id",
                user_path="user_id",
            )
            .annotate(n=Count("id"))
            .order_by(),
            {"n": "n"},
        )

    # RFM: per customer (grouped by customer and unit), its segment by dashboards.rfm_segment's rule,
    # then counted per unit and segment by an outer GROUP BY.
    per_customer = (
        Payment.objects.filter(paid_on__isnull=False)
        .annotate(s_unit=F("customer__org_unit_id"))
        .values("customer_id", "s_unit")
        .annotate(last=Max("paid_on"), freq=Count("id"), total=Sum("amount"))
        .annotate(s_bucket=dashboards.rfm_segment_expression(run.today))
        .order_by()
    )
    inner, params = per_customer.query.sql_with_params()
    table = connection.ops.quote_name(DashboardSummary._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (run_id, org_unit_id, user_id, metric, period_days, bucket, n, extra, amount, score_sum, score_n) "  # noqa: S608
            f"SELECT %s, s.s_unit, NULL, 'rfm', 0, s.s_bucket, COUNT(*), 0, 0, 0, 0 FROM ({inner}) s GROUP BY s.s_unit, s.s_bucket",
            (run.pk, *params),
        )
        rows["rfm"] = cursor.rowcount
    return rows


def summaries_refresh(*, now: datetime | None = None) -> SummaryRun:
    """Compute every summary into a new run (one transaction) and delete the older runs."""
    started = time.monotonic()
    now = now or timezone.now()
    with transaction.atomic():
        run = SummaryRun.objects.create(started_at=timezone.now(), as_of=now, today=timezone.localdate(now))
        _fill(run)
        run.finished_at = timezone.now()
        run.seconds = round(time.monotonic() - started, 3)
        run.save(update_fields=["finished_at", "seconds"])
        SummaryRun.objects.filter(pk__lt=run.pk).delete()
    return run


# --- read ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummarySource:
    """The run to read and the org units whose rows make up the viewer's (filtered) scope.

    `unit_ids` None means every row, customers without a unit included ("sees everything", no filter).
    """

    run: SummaryRun
    unit_ids: frozenset[int] | None

    @property
    def computed_at(self) -> datetime:
        return self.run.as_of

    def rows(self, metric: str, period_days: int = 0):
        qs = DashboardSummary.objects.filter(run=self.run, metric=metric, period_days=period_days)
        if self.unit_ids is not None:
            qs = qs.filter(org_unit_id__in=sorted(self.unit_ids))
        return qs

    def totals(self, metric: str, period_days: int = 0) -> dict:
        return self.rows(metric, period_days).aggregate(**{c: Sum(c) for c in COLUMNS})

    def pair_count(self) -> int:
        """Open duplicate pairs with both sides in scope."""
        qs = self.rows("open_pairs")
        if self.unit_ids is not None:
            qs = qs.filter(bucket__in=[str(pk) for pk in self.unit_ids])
        return qs.aggregate(n=Sum("n"))["n"] or 0


def latest_run(now: datetime | None = None) -> SummaryRun | None:
    """The newest finished run if it is fresh (younger than SUMMARY_MAX_AGE and of today's date)."""
    now = now or timezone.now()
    run = SummaryRun.objects.filter(finished_at__isnull=False).order_by("-finished_at", "-pk").first()
    if run is None or run.as_of < now - SUMMARY_MAX_AGE or run.today != timezone.localdate(now):
        return None
    return run


def _reaches_outside(principal, unit_ids) -> bool:
    """Does the viewer own, or hold a live share of, a customer outside these units (or without one)?"""
    from customers.models import Customer
    from sharing.principal import ActionScope, visibility_q

    own_and_shared = visibility_q(dataclasses.replace(principal, scopes={"view": ActionScope()}), "view")
    return Customer.objects.filter(own_and_shared).exclude(org_unit_id__in=sorted(unit_ids)).exists()


def summary_source(user, unit=None, *, now: datetime | None = None) -> SummarySource | None:
    """Where the viewer's dashboard may read precomputed figures from, or None for "compute live"."""
    from sharing.models import OrgUnit
    from sharing.principal import get_principal

    principal = get_principal(user)
    if not principal.is_authenticated:
        return None
    scope = principal.scope("view")
    if not scope.sees_all and (not scope.unit_ids or _reaches_outside(principal, scope.unit_ids)):
        return None
    run = latest_run(now)
    if run is None:
        return None
    unit_ids = None if scope.sees_all else frozenset(scope.unit_ids)
    if unit is not None:
        subtree = frozenset(OrgUnit.objects.filter(path__startswith=unit.path).values_list("pk", flat=True))
        unit_ids = subtree if unit_ids is None else unit_ids & subtree
    return SummarySource(run=run, unit_ids=unit_ids)


def scope_customer_totals(user, *, now: datetime | None = None) -> tuple[dict, datetime] | None:
    """({"n": active customers, "extra": those without an owner}, as of) for the viewer's whole scope.

    The summary's rows of the scope's units, plus, counted live, the customers the viewer owns or
    holds a share of outside those units (usually a handful; one query on the owner and share
    indexes). So a manager with one share outside the province gets the summary too (it was a live
    count of ~90,000 customers on every workbench view). None: no fresh run, or an owner-only scope
    (its live count is cheap).
    """
    from customers.models import Customer
    from sharing.principal import ActionScope, get_principal, visibility_q

    principal = get_principal(user)
    if not principal.is_authenticated:
        return None
    scope = principal.scope("view")
    if not scope.sees_all and not scope.unit_ids:
        return None
    run = latest_run(now)
    if run is None:
        return None
    unit_ids = None if scope.sees_all else frozenset(scope.unit_ids)
    totals = SummarySource(run=run, unit_ids=unit_ids).totals("customers")
    figures = {"n": totals["n"] or 0, "extra": totals["extra"] or 0}
    if unit_ids is not None:
        own_and_shared = visibility_q(dataclasses.replace(principal, scopes={"view": ActionScope()}), "view")
        outside = (
            Customer.objects.active()
            .filter(own_and_shared)
            .exclude(org_unit_id__in=sorted(unit_ids))
            .aggregate(n=Count("id"), extra=Count("id", filter=Q(owner__isnull=True)))
        )
        figures = {key: figures[key] + (outside[key] or 0) for key in figures}
    return figures, run.as_of


__all__ = [
    "FUNNEL_PERIODS",
    "SILENT_PERIODS",
    "SummarySource",
    "latest_run",
    "summaries_refresh",
    "summary_source",
]
