"""Dashboard figures for managers, built from the same data and the same visibility rules.

Every figure starts from a `visible_to(user)` queryset (customers, or interaction records that
also check the record kind), so a provincial manager's funnel counts only the province's
opportunities and a finance clerk sees receivables but no funnel. Figures are computed live with
aggregate queries (a handful per section, none per row), except that the additive sections
(funnel, won/lost, activities, RFM, silent customers, data quality) add up the precomputed rows of
the viewer's units plus the same figure computed live over the viewer's own and shared customers
outside those units, when `crm.summaries.summary_source` allows it (a scope with units and a fresh
run); "sees everything" scopes also read the whole-company service and receivables figures. Such a
section carries `computed_at`. docs/adr/0008-dashboards.md, docs/adr/0010-dashboard-summaries.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Mod
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import ContactPoint, Customer
from sharing.principal import get_principal

FUNNEL_STAGES = ["lead", "qualified", "proposal", "negotiation", "won"]
SILENT_DAYS_DEFAULT = 90


@dataclass
class Period:
    start: date
    end: date

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> Period:
        today = today or timezone.localdate()
        return cls(today - timedelta(days=days - 1), today)

    def datetime_range(self):
        tz = timezone.get_current_timezone()
        from datetime import datetime, time

        return (
            timezone.make_aware(datetime.combine(self.start, time.min), tz),
            timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min), tz),
        )


@dataclass
class Section:
    """One dashboard section: a title, rows for the table/CSV and an optional chart series."""

    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    chart: list[tuple[str, float]] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    # When the figures come from a summary run: the moment they were computed for. None = live.
    computed_at: datetime | None = None

    def shown(self, limit: int | None = None) -> tuple[list[list], list[tuple[str, float]], int]:
        """What the page shows: per-unit sections (silent, quality) with more than `limit` units show
        the `limit` units with the largest figures, rows and chart alike; the CSV has them all. An
        executive's page rendered 900 unit rows and bars (70% of its CPU at 1M)."""
        limit = limit or SHOWN_UNIT_ROWS
        if self.key not in PER_UNIT_SECTIONS or len(self.rows) <= limit:
            return self.rows, self.chart, 0
        rows = sorted(self.rows, key=lambda row: -(row[1] or 0))[:limit]
        chart = sorted(self.chart, key=lambda bar: -(bar[1] or 0))[:limit]
        return rows, chart, len(self.rows) - len(rows)


# Sections with one row per org unit (column 1 is the unit's count), and how many units the page shows.
PER_UNIT_SECTIONS = ("silent", "quality")
SHOWN_UNIT_ROWS = 25


def _unit_filter(queryset, unit, prefix=""):
    """Narrow to one org unit's subtree (an extra filter on top of visibility, never a widening)."""
    if unit is None:
        return queryset
    return queryset.filter(**{f"{prefix}org_unit__path__startswith": unit.path})


def _name_key(value):
    """Sort key for names on both paths and every database: by code point, None ("—") last."""
    return (value is None, value or "")


def _add_up(target: dict, key, row: dict, columns=("n", "amount")) -> None:
    """Add a group's figures to `target[key]` (a summary group and a live group of the same key)."""
    into = target.setdefault(key, dict.fromkeys(columns, 0))
    for column in columns:
        into[column] += row.get(column) or 0


def _summary_days(period: Period, source, kept) -> int | None:
    """The period's length in days if the summary run holds exactly this period, else None (live)."""
    days = (period.end - period.start).days + 1
    if source is None or days not in kept or period.end != source.run.today:
        return None
    return days


def funnel(user, period: Period, unit=None, source=None) -> Section | None:
    """Opportunities created in the period by stage: count, amount, and conversion between stages."""
    from crm.summaries import FUNNEL_PERIODS
    from interactions.models import Opportunity

    if not get_principal(user).sees_kind("opportunity"):
        return None
    days = _summary_days(period, source, FUNNEL_PERIODS)
    if days is not None:
        by_stage: dict[str, dict] = {}
        for row in source.figures("funnel", days):
            _add_up(by_stage, row["bucket"], row)
        for row in _outside_opportunities(source, period):
            _add_up(by_stage, row["stage"], {"n": row["created_n"], "amount": row["created_amount"]})
    else:
        start, end = period.datetime_range()
        qs = _unit_filter(Opportunity.objects.visible_to(user), unit, "customer__").filter(
            created_at__gte=start, created_at__lt=end
        )
        grouped = qs.values("stage").annotate(n=Count("id"), amount=Sum("amount"))
        by_stage = {row["stage"]: row for row in grouped.order_by()}
    # An opportunity has reached a stage if its current stage is that stage or a later one (won is last).
    rows, chart = [], []
    previous_reached = None
    for index, stage in enumerate(FUNNEL_STAGES):
        reached = sum(by_stage.get(s, {}).get("n", 0) for s in FUNNEL_STAGES[index:])
        count = by_stage.get(stage, {}).get("n", 0)
        amount = by_stage.get(stage, {}).get("amount") or Decimal(0)
        conversion = None if not previous_reached else round(100 * reached / previous_reached, 1)
        rows.append([str(Opportunity.Stage(stage).label), count, amount, reached, conversion])
        chart.append((str(Opportunity.Stage(stage).label), reached))
        previous_reached = reached
    lost = by_stage.get("lost", {})
    rows.append([str(Opportunity.Stage("lost").label), lost.get("n", 0), lost.get("amount") or Decimal(0), None, None])
    return Section(
        "funnel",
        str(_("Sales funnel")),
        [str(_("Stage")), str(_("Now at stage")), str(_("Amount")), str(_("Reached")), str(_("Conversion %"))],
        rows,
        chart,
        computed_at=source.computed_at if days is not None else None,
    )


# Separates stage and reason in the summary's bucket ("lost\x1f价格高").
WON_LOST_SEPARATOR = "\x1f"


def _outside_opportunities(source, period: Period) -> list[dict]:
    """Funnel and won/lost of the outside customers (live): one query per page for both sections,
    grouped by stage and reason with the created-in-period and closed-in-period figures apart."""
    from interactions.models import Opportunity

    if not source.reaches_outside:
        return []

    def compute():
        start, end = period.datetime_range()
        created = Q(created_at__gte=start, created_at__lt=end)
        closed = Q(stage__in=["won", "lost"], closed_at__gte=start, closed_at__lt=end)
        return list(
            source.outside_records(Opportunity.objects.all())
            .filter(created | closed)
            .values("stage", "close_reason")
            .annotate(
                created_n=Count("id", filter=created),
                created_amount=Sum("amount", filter=created),
                closed_n=Count("id", filter=closed),
                closed_amount=Sum("amount", filter=closed),
            )
            .order_by()
        )

    return source.cached(("opportunities", period.start, period.end), compute)


def won_lost(user, period: Period, unit=None, source=None) -> Section | None:
    from crm.summaries import FUNNEL_PERIODS
    from interactions.models import Opportunity

    if not get_principal(user).sees_kind("opportunity"):
        return None
    days = _summary_days(period, source, FUNNEL_PERIODS)
    if days is not None:
        by_outcome: dict[tuple[str, str], dict] = {}
        for row in source.figures("won_lost", days):
            _add_up(by_outcome, tuple(row["bucket"].split(WON_LOST_SEPARATOR, 1)), row)
        for row in _outside_opportunities(source, period):
            if row["closed_n"]:
                key = (row["stage"], row["close_reason"])
                _add_up(by_outcome, key, {"n": row["closed_n"], "amount": row["closed_amount"]})
        grouped = [{"stage": stage, "close_reason": reason, **row} for (stage, reason), row in by_outcome.items()]
    else:
        start, end = period.datetime_range()
        qs = _unit_filter(Opportunity.objects.visible_to(user), unit, "customer__").filter(
            stage__in=["won", "lost"], closed_at__gte=start, closed_at__lt=end
        )
        grouped = list(qs.values("stage", "close_reason").annotate(n=Count("id"), amount=Sum("amount")).order_by())
    grouped.sort(key=lambda r: (r["stage"], -r["n"], r["close_reason"]))
    rows = [
        [str(Opportunity.Stage(r["stage"]).label), r["close_reason"] or "—", r["n"], r["amount"] or Decimal(0)]
        for r in grouped
    ]
    return Section(
        "won_lost",
        str(_("Won and lost")),
        [str(_("Outcome")), str(_("Reason")), str(_("Count")), str(_("Amount"))],
        rows,
        computed_at=source.computed_at if days is not None else None,
    )


def activities(user, days: int = 30, unit=None, source=None) -> Section | None:
    from crm.summaries import ACTIVITY_PERIODS
    from interactions.models import Activity

    if not get_principal(user).sees_kind("activity"):
        return None
    summarised = source is not None and days in ACTIVITY_PERIODS
    since = timezone.now() - timedelta(days=days)
    person = ("user__username", "user__membership__unit__name")
    if summarised:
        per_person: dict[tuple, dict] = {}
        for row in source.figures("activities", days):
            _add_up(per_person, (row["user"], row["user_unit"]), row, ("n",))
        if source.reaches_outside:
            outside = source.outside_records(Activity.objects.all()).filter(occurred_at__gte=since)
            for row in outside.values(*person).annotate(n=Count("id")).order_by():
                _add_up(per_person, (row[person[0]], row[person[1]]), row, ("n",))
        grouped = [(username, unit_name, row["n"]) for (username, unit_name), row in per_person.items()]
    else:
        qs = _unit_filter(Activity.objects.visible_to(user), unit, "customer__").filter(occurred_at__gte=since)
        grouped = [(r[person[0]], r[person[1]], r["n"]) for r in qs.values(*person).annotate(n=Count("id")).order_by()]
    # Ordered in Python on both paths (the same order on PostgreSQL and SQLite, whatever the collation).
    grouped.sort(key=lambda r: (-r[2], _name_key(r[0]), _name_key(r[1])))
    rows = [[username or "—", unit_name or "—", n] for username, unit_name, n in grouped[:50]]
    per_unit: dict[str, int] = {}
    for _user, unit_name, n in rows:
        per_unit[unit_name] = per_unit.get(unit_name, 0) + n
    return Section(
        "activities",
        str(_("Activities in the last %(days)s days") % {"days": days}),
        [str(_("Person")), str(_("Unit")), str(_("Activities"))],
        rows,
        sorted(per_unit.items(), key=lambda kv: -kv[1]),
        computed_at=source.computed_at if summarised else None,
    )


def receivables_totals(payments, today: date) -> dict:
    """Open and overdue payments of `payments`: count and amount (the live section and the summary run)."""
    return payments.open().aggregate(
        open_n=Count("id"),
        open_amount=Sum("amount"),
        overdue_n=Count("id", filter=Q(due_on__lt=today)),
        overdue_amount=Sum("amount", filter=Q(due_on__lt=today)),
    )


def receivables(user, unit=None, today: date | None = None, source=None) -> Section | None:
    """Open and overdue totals and the 50 longest overdue payments (always live).

    The totals come from the summary run's whole-company rows for "sees everything" scopes.
    """
    from interactions.models import Payment

    if not get_principal(user).sees_kind("payment"):
        return None
    today = today or timezone.localdate()
    qs = _unit_filter(Payment.objects.visible_to(user), unit, "customer__").open()
    summarised = source is not None and source.whole_company and source.run.today == today
    if summarised:
        company = {row["bucket"]: row for row in source.figures("receivables_all")}
        totals = {
            f"{bucket}_{column}": company.get(bucket, {}).get(key) or 0
            for bucket in ("open", "overdue")
            for column, key in (("n", "n"), ("amount", "amount"))
        }
    else:
        totals = receivables_totals(qs, today)
    rows = [
        [p.number, p.customer.number, p.customer.name, p.amount, p.currency, p.due_on, (today - p.due_on).days]
        for p in qs.filter(due_on__lt=today).select_related("customer").order_by("due_on")[:50]
    ]
    return Section(
        "receivables",
        str(_("Receivables")),
        [
            str(_("Payment")),
            str(_("Customer number")),
            str(_("Customer")),
            str(_("Amount")),
            str(_("Currency")),
            str(_("Due")),
            str(_("Days overdue")),
        ],
        rows,
        summary={k: v or 0 for k, v in totals.items()},
        computed_at=source.computed_at if summarised else None,
    )


# Resolution hours are shown to 0.1 h, rounded half up: a duration of `us` microseconds falls in the
# tenth-of-an-hour bucket (us + 180,000,000) // 360,000,000. Rounding is monotonic, so the p90 of
# the buckets is the bucket of the p90: counts per bucket are additive (units + outside part), and
# a percentile of a union needs nothing else. Integer arithmetic on both databases.
TENTH_HOUR_US = 360_000_000


class _Microseconds(Func):
    """A duration expression as whole microseconds (PostgreSQL interval, SQLite's integer)."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s)", **extra)


def _resolution_us():
    return _Microseconds(ExpressionWrapper(F("closed_at") - F("received_at"), output_field=DurationField()))


def service_bucket_expression():
    """The tenth-of-an-hour bucket of a case's resolution time (integer)."""
    return ExpressionWrapper(
        (_resolution_us() + Value(TENTH_HOUR_US // 2)) / Value(TENTH_HOUR_US), output_field=BigIntegerField()
    )


def service_closed_aggregates() -> dict:
    """Additive figures of closed cases: count, resolution time (whole seconds + the microseconds
    rest, exact and far from bigint's range), CSAT sum and count, NPS answers, promoters, detractors."""
    return {
        "closed": Count("id"),
        "seconds": Sum(ExpressionWrapper(_resolution_us() / Value(1_000_000), output_field=BigIntegerField())),
        "micros": Sum(Mod(_resolution_us(), Value(1_000_000), output_field=BigIntegerField())),
        "csat_sum": Sum("satisfaction"),
        "csat_n": Count("satisfaction"),
        "answers": Count("recommend"),
        "promoters": Count("id", filter=Q(recommend__gte=9)),
        "detractors": Count("id", filter=Q(recommend__lte=6)),
    }


SERVICE_CLOSED_KEYS = ("closed", "seconds", "micros", "csat_sum", "csat_n", "answers", "promoters", "detractors")


@dataclass
class ServiceGroups:
    """The additive parts of the service section: add two (units + outside), then `figures()`."""

    received: dict = field(default_factory=dict)  # (category, severity) -> cases received in the period
    closed: dict = field(default_factory=lambda: dict.fromkeys(SERVICE_CLOSED_KEYS, 0))
    buckets: dict = field(default_factory=dict)  # tenth-of-an-hour bucket -> cases closed in the period
    overdue: int = 0

    def add(self, other: ServiceGroups) -> None:
        for key, n in other.received.items():
            self.received[key] = self.received.get(key, 0) + n
        for key, n in other.closed.items():
            self.closed[key] += n
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n
        self.overdue += other.overdue

    def figures(self) -> tuple[list[tuple], dict]:
        closed = self.closed
        avg = p90 = None
        if closed["closed"]:
            total_us = closed["seconds"] * 1_000_000 + closed["micros"]
            # Half up to 0.1 h of the mean, in integers: floor((total/n + half) / tenth).
            avg = ((2 * total_us + TENTH_HOUR_US * closed["closed"]) // (2 * TENTH_HOUR_US * closed["closed"])) / 10
            rank = max(0, math.ceil(0.9 * closed["closed"]) - 1)  # nearest rank, as before
            seen = 0
            for bucket in sorted(self.buckets):
                seen += self.buckets[bucket]
                if seen > rank:
                    p90 = bucket / 10
                    break
        answers = closed["answers"]
        return sorted((c, s, n) for (c, s), n in self.received.items()), {
            "closed": closed["closed"],
            "avg_hours": avg,
            "p90_hours": p90,
            "overdue": self.overdue,
            "csat": round(closed["csat_sum"] / closed["csat_n"], 2) if closed["csat_n"] else None,
            "nps": round(100 * (closed["promoters"] - closed["detractors"]) / answers, 1) if answers else None,
        }


def service_groups(cases, period: Period, now: datetime | None = None) -> ServiceGroups:
    """Three queries: cases received per (category, severity), closed ones per resolution bucket
    with their additive figures, overdue ones. The live section, the outside part and (grouped by
    unit) the summary run all count with these expressions."""
    start, end = period.datetime_range()
    groups = ServiceGroups()
    for r in (
        cases.filter(received_at__gte=start, received_at__lt=end)
        .values("category", "severity")
        .annotate(n=Count("id"))
        .order_by()
    ):
        groups.received[(r["category"], r["severity"])] = r["n"]
    closed = cases.filter(closed_at__gte=start, closed_at__lt=end)
    for r in (
        closed.annotate(bucket=service_bucket_expression())
        .values("bucket")
        .annotate(**service_closed_aggregates())
        .order_by()
    ):
        groups.buckets[int(r["bucket"])] = r["closed"]
        for key in SERVICE_CLOSED_KEYS:
            groups.closed[key] += int(r[key] or 0)
    groups.overdue = cases.overdue(now).count()
    return groups


def service_figures(cases, period: Period, now: datetime | None = None) -> tuple[list[tuple], dict]:
    """Received per (category, severity) and the closed cases' figures of `cases` in the period."""
    return service_groups(cases, period, now).figures()


def _company_service_figures(source, days: int) -> tuple[list[tuple], dict]:
    """`service_figures` of every case, as the summary run stored them (crm.summaries._fill_company)."""
    from crm.summaries import BUCKET_SEPARATOR

    received, figures = [], {"closed": 0, "avg_hours": None, "p90_hours": None, "overdue": 0, "csat": None, "nps": None}
    for row in source.figures("service_all", days):
        parts = row["bucket"].split(BUCKET_SEPARATOR)
        if parts[0] == "received":
            received.append((parts[1], parts[2], row["n"]))
        elif parts[0] in ("closed", "overdue"):
            figures[parts[0]] = row["n"]
        elif parts[0] in figures:
            figures[parts[0]] = float(row["amount"])
    return sorted(received), figures


def _summary_service_groups(source, days: int) -> ServiceGroups:
    """The scope's units' service parts as the summary run stored them (crm.summaries._fill)."""
    from crm.summaries import BUCKET_SEPARATOR

    groups = ServiceGroups()
    for row in source.figures("service_received", days):
        category, severity = row["bucket"].split(BUCKET_SEPARATOR)
        groups.received[(category, severity)] = row["n"]
    for row in source.figures("service_closed", days):  # per resolution bucket
        groups.buckets[int(row["bucket"])] = row["n"]
        for key, column in SERVICE_CLOSED_COLUMNS.items():
            groups.closed[key] += int(row[column])
    for row in source.figures("service_nps", days):
        for key, column in SERVICE_NPS_COLUMNS.items():
            groups.closed[key] += int(row[column])
    groups.overdue = sum(row["n"] for row in source.figures("service_overdue"))
    return groups


# Where the summary run keeps the closed cases' additive figures (two metrics of five columns).
SERVICE_CLOSED_COLUMNS = {
    "closed": "n",
    "seconds": "extra",
    "micros": "score_sum",
    "csat_n": "score_n",
    "csat_sum": "amount",
}
SERVICE_NPS_COLUMNS = {"answers": "n", "promoters": "extra", "detractors": "score_sum"}


def service(user, period: Period, unit=None, source=None) -> Section | None:
    from crm.summaries import COMPANY_PERIODS
    from interactions.models import ServiceCase

    if not get_principal(user).sees_kind("service_case"):
        return None
    days = _summary_days(period, source, COMPANY_PERIODS)
    if days is not None and source.whole_company:
        received, figures = _company_service_figures(source, days)
    elif days is not None:
        # The units' additive parts from the summary, the outside customers' counted live.
        groups = _summary_service_groups(source, days)
        if source.reaches_outside:
            groups.add(service_groups(source.outside_records(ServiceCase.objects.all()), period))
        received, figures = groups.figures()
    else:
        visible = _unit_filter(ServiceCase.objects.visible_to(user), unit, "customer__")
        received, figures = service_figures(visible, period)
    rows = [
        [str(ServiceCase.Category(category).label), str(ServiceCase.Severity(severity).label), n]
        for category, severity, n in received
    ]
    summary = {
        "received": sum(row[2] for row in rows),
        **figures,
    }
    return Section(
        "service",
        str(_("Service cases")),
        [str(_("Category")), str(_("Severity")), str(_("Cases received"))],
        rows,
        [(f"{r[0]} / {r[1]}", r[2]) for r in rows],
        summary,
        computed_at=source.computed_at if days is not None else None,
    )


def silent_set(customers, days: int, now: datetime | None = None):
    """The active customers of `customers` with no activity and no order for `days` days.

    NOT EXISTS probes per customer (indexes activity (customer, -occurred_at) and order (customer,
    -created_at)): the list walks customers by `updated_at` and stops after a page, and the
    summary's count per unit becomes a hash anti-join.
    """
    from interactions.models import Activity, Order

    since = (now or timezone.now()) - timedelta(days=days)
    return customers.active().filter(
        ~Exists(Activity.objects.filter(customer_id=OuterRef("pk"), occurred_at__gte=since)),
        ~Exists(Order.objects.filter(customer_id=OuterRef("pk"), ordered_on__gte=since.date())),
    )


def silent_customers(user, days: int = SILENT_DAYS_DEFAULT, unit=None):
    """Visible active customers with no activity and no order for `days` days (a queryset, for paging)."""
    return (
        silent_set(_unit_filter(Customer.objects.visible_to(user), unit), days)
        .select_related("owner", "org_unit")
        .order_by("updated_at", "pk")
    )


def silent_counts(user, days: int = SILENT_DAYS_DEFAULT, unit=None, source=None) -> Section:
    """How many silent customers each unit has (the list itself is the silent page, always live)."""
    from crm.summaries import SILENT_PERIODS

    summarised = source is not None and days in SILENT_PERIODS
    if summarised:
        # The scope's units from the summary; the outside customers live, under their own units'
        # names (or "—"), added to a unit of the same name as the live GROUP BY name would.
        by_unit: dict = {}
        for row in source.figures("silent", days):
            _add_up(by_unit, row["unit"], row, ("n",))
        for row in _outside_customers(source, days):
            if row["silent"]:
                _add_up(by_unit, row["org_unit__name"], {"n": row["silent"]}, ("n",))
        per_unit = [(name, row["n"]) for name, row in by_unit.items()]
    else:
        per_unit = [
            (r["org_unit__name"], r["n"])
            for r in silent_set(_unit_filter(Customer.objects.visible_to(user), unit), days)
            .values("org_unit__name")
            .annotate(n=Count("id"))
            .order_by()
        ]
    rows = [[name or "—", n] for name, n in sorted(per_unit, key=lambda r: _name_key(r[0]))]
    return Section(
        "silent",
        str(_("Silent customers (no activity or order for %(days)s days)") % {"days": days}),
        [str(_("Unit")), str(_("Silent customers"))],
        rows,
        [(r[0], r[1]) for r in rows],
        summary={"total": sum(r[1] for r in rows), "days": days},
        computed_at=source.computed_at if summarised else None,
    )


def _outside_customers(source, silent_days: int = SILENT_DAYS_DEFAULT) -> list[dict]:
    """Data quality and silent counts of the outside customers (live), per unit name: one query."""
    if source is None or not source.reaches_outside:
        return []

    def compute():
        silent = silent_set(Customer.objects.all(), silent_days).filter(pk=OuterRef("pk"))
        return list(
            source.outside_records(Customer.objects.active(), "pk")
            .values("org_unit__name")
            .annotate(
                n=Count("id"),
                extra=Count("id", filter=Q(owner__isnull=True)),
                score_sum=Sum("quality_score"),
                score_n=Count("quality_score"),
                silent=Count("id", filter=Q(Exists(silent))),
            )
            .order_by()
        )

    return source.cached(("customers", silent_days), compute)


RFM_SEGMENTS = {
    "loyal": _("High-value loyal"),
    "new": _("New"),
    "regular": _("Regular"),
    "at_risk": _("At risk"),
    "dormant": _("Dormant"),
}


# "High value": paid in total at least this much (CNY). A fixed company-wide threshold, so a
# customer's segment is the same whoever looks and per-unit counts add up (ADR 0010).
RFM_HIGH_VALUE = Decimal("100000")


def rfm_segment(recency_days: int, frequency: int, monetary: Decimal, high_value: Decimal = RFM_HIGH_VALUE) -> str:
    """The segment rule (docs/adr/0010-dashboard-summaries.md): recency first, then frequency and value."""
    if recency_days > 365:
        return "dormant"
    if recency_days > 180:
        return "at_risk"
    if frequency >= 3 and monetary >= high_value:
        return "loyal"
    if frequency == 1 and recency_days <= 90:
        return "new"
    return "regular"


def rfm_segment_expression(today: date):
    """`rfm_segment` as SQL over per-customer annotations `last` (date), `freq` and `total`."""
    return Case(
        When(last__lt=today - timedelta(days=365), then=Value("dormant")),
        When(last__lt=today - timedelta(days=180), then=Value("at_risk")),
        When(freq__gte=3, total__gte=RFM_HIGH_VALUE, then=Value("loyal")),
        When(freq=1, last__gte=today - timedelta(days=90), then=Value("new")),
        default=Value("regular"),
        output_field=CharField(),
    )


def rfm(user, unit=None, today: date | None = None, source=None) -> Section | None:
    from interactions.models import Payment

    if not get_principal(user).sees_kind("payment"):
        return None
    today = today or timezone.localdate()
    if source is not None and source.run.today == today:
        counts = dict.fromkeys(RFM_SEGMENTS, 0)
        for row in source.figures("rfm"):
            counts[row["bucket"]] += row["n"]
        if source.reaches_outside:
            # The outside customers' segments, by the same rule as the live section.
            paid = source.outside_records(Payment.objects.filter(paid_on__isnull=False))
            for r in (
                paid.values("customer_id").annotate(last=Max("paid_on"), n=Count("id"), total=Sum("amount")).order_by()
            ):
                counts[rfm_segment((today - r["last"]).days, r["n"], r["total"])] += 1
        rows = [[str(RFM_SEGMENTS[k]), v] for k, v in counts.items()]
        if not any(counts.values()):
            rows = []
        return Section(
            "rfm",
            str(_("RFM segments")),
            [str(_("Segment")), str(_("Customers"))],
            rows,
            [(label, n) for label, n in rows],
            summary={"customers": []},
            computed_at=source.computed_at,
        )
    qs = _unit_filter(Payment.objects.visible_to(user), unit, "customer__").filter(paid_on__isnull=False)
    per_customer = list(
        qs.values("customer_id", "customer__number", "customer__name")
        .annotate(last=Max("paid_on"), n=Count("id"), total=Sum("amount"))
        .order_by()
    )
    if not per_customer:
        return Section("rfm", str(_("RFM segments")), [str(_("Segment")), str(_("Customers"))], [])
    counts = dict.fromkeys(RFM_SEGMENTS, 0)
    for r in per_customer:
        r["segment"] = rfm_segment((today - r["last"]).days, r["n"], r["total"])
        counts[r["segment"]] += 1
    rows = [[str(RFM_SEGMENTS[k]), v] for k, v in counts.items()]
    return Section(
        "rfm",
        str(_("RFM segments")),
        [str(_("Segment")), str(_("Customers"))],
        rows,
        [(label, n) for label, n in rows],
        summary={"customers": per_customer[:200]},
    )


def _mean(total, n):
    return None if not n else total / n


def _outside_pair_count(source) -> int:
    """Open pairs of two visible active customers with at least one side among the outside customers.

    The visible set is the units' customers + the outside ones (disjoint); pairs with both sides in
    the units are the summary's. Both sides' rows are joined (a pair has one of each), so the query
    starts from the few pairs of the outside customers instead of the scope's whole customer set.
    """
    from dedup.models import CandidatePair

    outside, units = source.outside, sorted(source.unit_ids or ())
    # Customer.objects.active(): not merged, not erased.
    inactive = ["merged", "erased"]
    a_visible = Q(a__org_unit_id__in=units) | Q(a_id__in=outside)
    b_visible = Q(b__org_unit_id__in=units) | Q(b_id__in=outside)
    return (
        CandidatePair.objects.filter(status="open")
        .exclude(a__status__in=inactive)
        .exclude(b__status__in=inactive)
        .filter((Q(a_id__in=outside) & b_visible) | (Q(b_id__in=outside) & a_visible))
        .count()
    )


def data_quality(user, unit=None, source=None) -> Section:
    from dedup.models import CandidatePair

    columns = ("n", "extra", "score_sum", "score_n")
    if source is not None:
        # The scope's units from the summary, plus the outside customers live (under their units'
        # names); averages from sums and counts, so both paths divide the same integers.
        by_unit: dict = {}
        for row in source.figures("customers"):
            _add_up(by_unit, row["unit"], row, columns)
        for row in _outside_customers(source):
            _add_up(by_unit, row["org_unit__name"], row, columns)
        invalid: dict = {}
        for row in source.figures("invalid_contacts"):
            invalid[row["unit"]] = invalid.get(row["unit"], 0) + row["n"]
        open_pairs = source.pair_count()
        if source.reaches_outside:
            outside_active = source.outside_records(Customer.objects.active(), "pk").values("pk")
            for name, n in (
                ContactPoint.objects.filter(customer__in=outside_active, is_valid=False)
                .values_list("customer__org_unit__name")
                .annotate(n=Count("id"))
                .order_by()
            ):
                invalid[name] = invalid.get(name, 0) + n
            open_pairs += _outside_pair_count(source)
    else:
        visible = _unit_filter(Customer.objects.visible_to(user).active(), unit)
        by_unit = {
            r["org_unit__name"]: r
            for r in visible.values("org_unit__name")
            .annotate(
                n=Count("id"),
                extra=Count("id", filter=Q(owner__isnull=True)),
                score_sum=Sum("quality_score"),
                score_n=Count("quality_score"),
            )
            .order_by()
        }
        invalid = dict(
            ContactPoint.objects.filter(customer__in=visible, is_valid=False)
            .values_list("customer__org_unit__name")
            .annotate(n=Count("id"))
            .order_by()
        )
        open_pairs = CandidatePair.objects.filter(status="open", a__in=visible, b__in=visible).count()
    per_unit = sorted(by_unit.items(), key=lambda item: _name_key(item[0]))
    rows = []
    for name, r in per_unit:
        avg = _mean(r["score_sum"] or 0, r["score_n"])
        rows.append([name or "—", r["n"], round(avg, 1) if avg is not None else None, invalid.get(name, 0), r["extra"]])
    overall = {"avg": _mean(sum(r["score_sum"] or 0 for _, r in per_unit), sum(r["score_n"] for _, r in per_unit))}
    return Section(
        "quality",
        str(_("Data quality")),
        [
            str(_("Unit")),
            str(_("Customers")),
            str(_("Average quality score")),
            str(_("Invalid contact points")),
            str(_("Without owner")),
        ],
        rows,
        [(r[0], r[2] or 0) for r in rows],
        summary={"avg": round(overall["avg"], 1) if overall["avg"] is not None else None, "open_pairs": open_pairs},
        computed_at=source.computed_at if source is not None else None,
    )


def _unseen_metrics(principal) -> frozenset[str]:
    """Summary metrics of the sections this viewer's roles do not see (each section checks its kind
    before it reads anything; this only keeps their rows out of the page's one read)."""
    from crm.summaries import SERVICE_METRICS

    by_kind = {
        "opportunity": ("funnel", "won_lost"),
        "activity": ("activities",),
        "payment": ("rfm", "receivables_all"),
        "service_case": ("service_all", "service_overdue", *SERVICE_METRICS),
    }
    return frozenset(metric for kind, metrics in by_kind.items() if not principal.sees_kind(kind) for metric in metrics)


def dashboard(user, *, period: Period, unit=None, use_summary: bool = True) -> list[Section]:
    """All sections the viewer's roles may see, in page order.

    The heavy sections read the precomputed summary when `summary_source` allows it for this viewer
    and unit filter (sections that came from it carry `computed_at`); everything else is live.
    """
    from crm.summaries import summary_source

    source = summary_source(user, unit) if use_summary else None
    if source is not None:
        source.page_days = (period.end - period.start).days + 1
        source.skip_metrics = _unseen_metrics(get_principal(user))
    sections = [
        funnel(user, period, unit, source),
        won_lost(user, period, unit, source),
        activities(user, 30, unit, source),
        receivables(user, unit, source=source),
        service(user, period, unit, source),
        rfm(user, unit, source=source),
        silent_counts(user, SILENT_DAYS_DEFAULT, unit, source),
        data_quality(user, unit, source),
    ]
    return [s for s in sections if s is not None]
