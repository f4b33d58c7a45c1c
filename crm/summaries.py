"""Dashboard summaries: set-based refresh, and the rule for when a dashboard may read them.

Refresh (`summaries_refresh`): one `INSERT … SELECT … GROUP BY org_unit` statement per metric and
period, compiled from the same ORM expressions as the live figures (so SQLite and PostgreSQL run
the same thing, and nothing loops over customers in Python), into a new `SummaryRun`, inside one
transaction; older runs are deleted in the same transaction. Running it twice leaves one run with
the same figures: idempotent.

Read (`summary_source`): the visible set is `owner = me OR unit IN scope OR shared with me`, i.e.
the customers of the scope's units plus the few the viewer owns or holds a live share of outside
those units (or without a unit). A viewer with units in scope gets the sum of those units' rows
(all of them in one grouped query) plus, for every additive figure, the same figure computed live
over that outside part (one query over the owner and share indexes finds it; usually a handful of
customers or none). "Sees everything" scopes also read the whole-company service and receivables
figures. Owner-only scopes, a run older than SUMMARY_MAX_AGE or from another day answer None: the
caller computes live. docs/adr/0010-dashboard-summaries.md.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, Max, Q, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from crm.dbstats import analyze
from crm.models import DashboardSummary, SummaryRun

# Periods (days) of the funnel kept in the summary; other periods are computed live.
FUNNEL_PERIODS = (30, 90, 365)
# Activity windows (days) per person kept in the summary.
ACTIVITY_PERIODS = (30,)
# Silent-customer thresholds (days) counted in the summary; other thresholds are computed live.
SILENT_PERIODS = (90,)
# Whole-company service and receivables figures (for "sees everything" scopes): these funnel periods.
COMPANY_PERIODS = FUNNEL_PERIODS
# More own or shared customers outside the scope's units than this: the live part filters by a subquery
# instead of a list of ids.
OUTSIDE_IDS_LIMIT = 1000
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
    rows.update(_fill_service(run))
    rows["company"] = _fill_company(run)
    return rows


# Per-unit service metrics of a period (the page reads only its own period's).
SERVICE_METRICS = ("service_received", "service_closed", "service_nps")
# Metrics kept for each of FUNNEL_PERIODS / COMPANY_PERIODS, of which a page reads one.
PAGE_PERIOD_METRICS = ("funnel", "won_lost", "service_all", *SERVICE_METRICS)


def _fill_service(run: SummaryRun) -> dict[str, int]:
    """Service cases per unit, in additive parts (dashboards.ServiceGroups): received per category
    and severity; closed ones' count, resolution seconds, CSAT and NPS counts; closed ones per
    tenth-of-an-hour resolution bucket (the p90 of a union of units is read off the summed buckets);
    overdue ones (as of the run). Ten statements, each joining the cases to their customers' units."""
    from crm import dashboards
    from interactions.models import ServiceCase

    rows: dict[str, int] = {}
    unit = "customer__org_unit_id"
    for days in COMPANY_PERIODS:
        start, end = dashboards.Period.last_days(days, today=run.today).datetime_range()
        received = ServiceCase.objects.filter(received_at__gte=start, received_at__lt=end)
        closed = ServiceCase.objects.filter(closed_at__gte=start, closed_at__lt=end)
        kind = Concat(F("category"), Value(BUCKET_SEPARATOR), F("severity"), output_field=CharField())
        rows[f"service_received_{days}"] = _insert_select(
            run.pk,
            "service_received",
            days,
            _grouped(received, unit, kind).annotate(n=Count("id")).order_by(),
            {"n": "n"},
        )
        aggregates = dashboards.service_closed_aggregates()
        # Closed cases per unit and resolution bucket (the p90's histogram and the additive
        # figures in one scan); NPS counts per unit.
        bucket = Cast(dashboards.service_bucket_expression(), output_field=CharField())
        for metric, columns, bucket_expression in (
            ("service_closed", dashboards.SERVICE_CLOSED_COLUMNS, bucket),
            ("service_nps", dashboards.SERVICE_NPS_COLUMNS, None),
        ):
            rows[f"{metric}_{days}"] = _insert_select(
                run.pk,
                metric,
                days,
                _grouped(closed, unit, bucket_expression)
                .annotate(**{key: aggregates[key] for key in columns})
                .order_by(),
                {column: key for key, column in columns.items()},
            )
    rows["service_overdue"] = _insert_select(
        run.pk,
        "service_overdue",
        0,
        _grouped(ServiceCase.objects.all().overdue(run.as_of), unit).annotate(n=Count("id")).order_by(),
        {"n": "n"},
    )
    return rows


# Separates the parts of a company figure's bucket ("received\x1fcomplaint\x1fhigh").
BUCKET_SEPARATOR = "\x1f"


def _fill_company(run: SummaryRun) -> int:
    """Whole-company service and receivables figures, computed by the live sections' own code.

    Read only by "sees everything" scopes without a unit filter (`SummarySource.unit_ids` None),
    whose live figures are exactly these (visible_to is the whole table for them). A percentile is
    not additive, so there are no per-unit rows: other scopes compute these sections live. Rows have
    no unit; whole numbers go to `n`, the rounded hours, CSAT and NPS to `amount` (absent = None).
    """
    from crm import dashboards
    from interactions.models import Payment, ServiceCase

    objects = []

    def add(metric, days, bucket, n=0, amount=0):
        objects.append(
            DashboardSummary(run=run, org_unit=None, metric=metric, period_days=days, bucket=bucket, n=n, amount=amount)
        )

    for days in COMPANY_PERIODS:
        period = dashboards.Period.last_days(days, today=run.today)
        received, figures = dashboards.service_figures(ServiceCase.objects.all(), period, now=run.as_of)
        for category, severity, n in received:
            add("service_all", days, BUCKET_SEPARATOR.join(("received", category, severity)), n=n)
        for key, value in figures.items():
            if isinstance(value, int):
                add("service_all", days, key, n=value)
            elif value is not None:
                add("service_all", days, key, amount=Decimal(repr(value)))
    totals = dashboards.receivables_totals(Payment.objects.all(), run.today)
    add("receivables_all", 0, "open", n=totals["open_n"], amount=totals["open_amount"] or 0)
    add("receivables_all", 0, "overdue", n=totals["overdue_n"], amount=totals["overdue_amount"] or 0)
    DashboardSummary.objects.bulk_create(objects)
    return len(objects)


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
        # Fresh statistics for the page's one grouped read (a stale estimate of a few rows made it a
        # nested loop over every row).
        analyze(DashboardSummary)
    return run


# --- read ----------------------------------------------------------------------------------------


# Metrics whose rows the page groups by unit name; by the person; by nothing but the bucket.
PER_UNIT_METRICS = ("customers", "invalid_contacts", "silent")


@dataclass
class SummarySource:
    """The run to read, the org units whose rows make up the viewer's (filtered) scope, and the
    viewer's own and shared customers outside those units, whose figures are added live.

    `unit_ids` None means every row, customers without a unit included ("sees everything", no
    filter). `outside` is a tuple of customer ids (usually empty or a handful) or, when there are
    more than OUTSIDE_IDS_LIMIT, a queryset of their ids: the visible set is exactly "customers of
    `unit_ids`" + `outside`, two disjoint parts, so every additive figure is summary + live part.
    """

    run: SummaryRun
    unit_ids: frozenset[int] | None
    outside: object = ()
    # The page's period in days: per-unit service rows of other periods are not read.
    page_days: int | None = None
    # Metrics of sections the viewer's roles do not see: not read.
    skip_metrics: frozenset[str] = frozenset()
    _figures: dict | None = field(default=None, repr=False, compare=False)
    _outside_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def computed_at(self) -> datetime:
        return self.run.as_of

    @property
    def reaches_outside(self) -> bool:
        return not isinstance(self.outside, tuple) or bool(self.outside)

    @property
    def whole_company(self) -> bool:
        """Every row of the run stands for the viewer's figure, customers without a unit included."""
        return self.unit_ids is None

    def outside_records(self, queryset, field_name: str = "customer_id"):
        """The records of `queryset` that belong to the outside customers (never more than those)."""
        return queryset.filter(**{f"{field_name}__in": self.outside})

    def cached(self, key, compute):
        """One live query over the outside customers shared by the sections that need it."""
        if key not in self._outside_cache:
            self._outside_cache[key] = compute()
        return self._outside_cache[key]

    def figures(self, metric: str, period_days: int = 0) -> list[dict]:
        """The scope's rows of one metric and period, summed by what the page shows.

        All metrics and periods of the run are read in ONE grouped query on the first call (the
        page used to make one or four queries per section): per-unit metrics grouped by unit name
        (`unit`), activities by person and the person's unit (`user`, `user_unit`), the others by
        `bucket`; duplicate pairs only where both sides are in scope, summed to one row.
        """
        if self._figures is None:
            self._figures = self._load()
        return self._figures.get((metric, period_days), [])

    def _load(self) -> dict:
        qs = DashboardSummary.objects.filter(run=self.run)
        if self.skip_metrics:
            qs = qs.exclude(metric__in=sorted(self.skip_metrics))
        if self.unit_ids is None:
            qs = qs.exclude(metric__in=(*SERVICE_METRICS, "service_overdue"))  # the company rows stand for them
        else:
            qs = qs.exclude(metric__in=("service_all", "receivables_all"))
        if self.page_days is not None:
            # Metrics kept per funnel period: only the page's period is read.
            qs = qs.filter(~Q(metric__in=PAGE_PERIOD_METRICS) | Q(period_days=self.page_days))
        if self.unit_ids is not None:
            units = sorted(self.unit_ids)
            qs = qs.filter(org_unit_id__in=units).filter(
                ~Q(metric="open_pairs") | Q(bucket__in=[str(pk) for pk in units])
            )
        grouped = (
            qs.annotate(
                f_bucket=Case(
                    When(metric__in=("open_pairs", *PER_UNIT_METRICS, "activities"), then=Value("")),
                    default=F("bucket"),
                    output_field=CharField(),
                ),
                f_unit=Case(When(metric__in=PER_UNIT_METRICS, then=F("org_unit__name")), output_field=CharField()),
                f_user=Case(When(metric="activities", then=F("user__username")), output_field=CharField()),
                f_user_unit=Case(
                    When(metric="activities", then=F("user__membership__unit__name")), output_field=CharField()
                ),
            )
            .values("metric", "period_days", "f_bucket", "f_unit", "f_user", "f_user_unit")
            .annotate(**{c: Sum(c) for c in COLUMNS})
            .order_by()
        )
        if connection.vendor == "postgresql":
            # The rows as the driver gives them: Django's per-value converters took most of the
            # executive's read (2,800 rows × 5 sums); PostgreSQL's sums are exact Decimals already.
            sql, params = grouped.query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                names = [column.name for column in cursor.description]
                rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        else:
            rows = grouped
        figures: dict[tuple[str, int], list[dict]] = {}
        for row in rows:
            figures.setdefault((row["metric"], row["period_days"]), []).append(
                {
                    "bucket": row["f_bucket"],
                    "unit": row["f_unit"],
                    "user": row["f_user"],
                    "user_unit": row["f_user_unit"],
                    "n": int(row["n"] or 0),
                    "extra": int(row["extra"] or 0),
                    "amount": row["amount"] or Decimal(0),
                    "score_sum": int(row["score_sum"] or 0),
                    "score_n": int(row["score_n"] or 0),
                }
            )
        return figures

    def rows(self, metric: str, period_days: int = 0):
        qs = DashboardSummary.objects.filter(run=self.run, metric=metric, period_days=period_days)
        if self.unit_ids is not None:
            qs = qs.filter(org_unit_id__in=sorted(self.unit_ids))
        return qs

    def totals(self, metric: str, period_days: int = 0) -> dict:
        return self.rows(metric, period_days).aggregate(**{c: Sum(c) for c in COLUMNS})

    def pair_count(self) -> int:
        """Open duplicate pairs with both sides in scope."""
        return sum(row["n"] for row in self.figures("open_pairs"))


def latest_run(now: datetime | None = None) -> SummaryRun | None:
    """The newest finished run if it is fresh (younger than SUMMARY_MAX_AGE and of today's date)."""
    now = now or timezone.now()
    run = SummaryRun.objects.filter(finished_at__isnull=False).order_by("-finished_at", "-pk").first()
    if run is None or run.as_of < now - SUMMARY_MAX_AGE or run.today != timezone.localdate(now):
        return None
    return run


def _own_and_shared(principal):
    """The viewer's own customers and live shares, without the units of the scope (visibility_q's other half)."""
    from sharing.principal import ActionScope, visibility_q

    return visibility_q(dataclasses.replace(principal, scopes={"view": ActionScope()}), "view")


def outside_customers(principal, unit_ids, unit=None):
    """Ids of the customers the viewer owns or holds a live share of outside these units (or without
    a unit), narrowed to `unit`'s subtree: a tuple, or a queryset when there are more than
    OUTSIDE_IDS_LIMIT. One query over the owner and share indexes."""
    from customers.models import Customer

    queryset = Customer.objects.filter(_own_and_shared(principal)).exclude(org_unit_id__in=sorted(unit_ids))
    if unit is not None:
        queryset = queryset.filter(org_unit__path__startswith=unit.path)
    ids = list(queryset.order_by().values_list("pk", flat=True)[: OUTSIDE_IDS_LIMIT + 1])
    if len(ids) > OUTSIDE_IDS_LIMIT:
        return queryset.order_by().values("pk")
    return tuple(sorted(ids))


def _unit_scope_run(user, now: datetime | None):
    """(principal, view scope, fresh run) when the viewer's scope is made of units (or everything)
    and a fresh run exists; None otherwise (owner-only scopes, anonymous users, no run)."""
    from sharing.principal import get_principal

    principal = get_principal(user)
    if not principal.is_authenticated:
        return None
    scope = principal.scope("view")
    if not scope.sees_all and not scope.unit_ids:
        return None
    run = latest_run(now)
    if run is None:
        return None
    return principal, scope, run


def summary_source(user, unit=None, *, now: datetime | None = None) -> SummarySource | None:
    """Where the viewer's dashboard may read precomputed figures from, or None for "compute live".

    Any scope with units (or everything): the rows of the scope's units (narrowed to the unit
    filter's subtree) plus the live outside part. Owner-only scopes: None (their sets are small).
    """
    from sharing.models import OrgUnit

    found = _unit_scope_run(user, now)
    if found is None:
        return None
    principal, scope, run = found
    unit_ids = None if scope.sees_all else frozenset(scope.unit_ids)
    if unit is not None:
        subtree = frozenset(OrgUnit.objects.filter(path__startswith=unit.path).values_list("pk", flat=True))
        unit_ids = subtree if unit_ids is None else unit_ids & subtree
    outside = () if scope.sees_all else outside_customers(principal, scope.unit_ids, unit)
    return SummarySource(run=run, unit_ids=unit_ids, outside=outside)


def scope_customer_totals(user, *, now: datetime | None = None) -> tuple[dict, datetime] | None:
    """({"n": active customers, "extra": those without an owner}, as of) for the viewer's whole scope.

    The summary's rows of the scope's units, plus, counted live, the customers the viewer owns or
    holds a share of outside those units (usually a handful; one query on the owner and share
    indexes). So a manager with one share outside the province gets the summary too (it was a live
    count of ~90,000 customers on every workbench view). None: no fresh run, or an owner-only scope
    (its live count is cheap).
    """
    from customers.models import Customer

    found = _unit_scope_run(user, now)
    if found is None:
        return None
    principal, scope, run = found
    unit_ids = None if scope.sees_all else frozenset(scope.unit_ids)
    totals = SummarySource(run=run, unit_ids=unit_ids).totals("customers")
    figures = {"n": totals["n"] or 0, "extra": totals["extra"] or 0}
    if unit_ids is not None:
        outside = (
            Customer.objects.active()
            .filter(_own_and_shared(principal))
            .exclude(org_unit_id__in=sorted(unit_ids))
            .aggregate(n=Count("id"), extra=Count("id", filter=Q(owner__isnull=True)))
        )
        figures = {key: figures[key] + (outside[key] or 0) for key in figures}
    return figures, run.as_of


__all__ = [
    "COMPANY_PERIODS",
    "FUNNEL_PERIODS",
    "SILENT_PERIODS",
    "SummarySource",
    "latest_run",
    "summaries_refresh",
    "summary_source",
]
