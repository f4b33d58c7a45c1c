"""Dashboard figures for managers, built from the same data and the same visibility rules.

Every figure starts from a `visible_to(user)` queryset (customers, or interaction records that
also check the record kind), so a provincial manager's funnel counts only the province's
opportunities and a finance clerk sees receivables but no funnel. Figures are computed live with
aggregate queries (a handful per section, none per row), except that the heavy sections (funnel,
RFM, silent customers, data quality) add up the precomputed rows of the viewer's units when
`crm.summaries.summary_source` allows it (a unit-shaped scope and a fresh run); such a section
carries `computed_at`. docs/adr/0008-dashboards.md, docs/adr/0010-dashboard-summaries.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Aggregate,
    Avg,
    Case,
    CharField,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
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
        grouped = source.rows("funnel", days).values(stage=F("bucket")).annotate(n=Sum("n"), amount=Sum("amount"))
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


def won_lost(user, period: Period, unit=None, source=None) -> Section | None:
    from crm.summaries import FUNNEL_PERIODS
    from interactions.models import Opportunity

    if not get_principal(user).sees_kind("opportunity"):
        return None
    days = _summary_days(period, source, FUNNEL_PERIODS)
    if days is not None:
        grouped = [
            {"stage": stage, "close_reason": reason, "n": row["n"], "amount": row["amount"]}
            for row in source.rows("won_lost", days).values("bucket").annotate(n=Sum("n"), amount=Sum("amount"))
            for stage, reason in [row["bucket"].split(WON_LOST_SEPARATOR, 1)]
        ]
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
    if summarised:
        grouped = source.rows("activities", days).values("user__username", "user__membership__unit__name")
        grouped = grouped.annotate(n=Sum("n"))
    else:
        since = timezone.now() - timedelta(days=days)
        qs = _unit_filter(Activity.objects.visible_to(user), unit, "customer__").filter(occurred_at__gte=since)
        grouped = qs.values("user__username", "user__membership__unit__name").annotate(n=Count("id"))
    rows = [
        [r["user__username"] or "—", r["user__membership__unit__name"] or "—", r["n"]]
        for r in grouped.order_by("-n", "user__username", "user__membership__unit__name")[:50]
    ]
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


def receivables(user, unit=None, today: date | None = None) -> Section | None:
    from interactions.models import Payment

    if not get_principal(user).sees_kind("payment"):
        return None
    today = today or timezone.localdate()
    qs = _unit_filter(Payment.objects.visible_to(user), unit, "customer__").open()
    totals = qs.aggregate(
        open_n=Count("id"),
        open_amount=Sum("amount"),
        overdue_n=Count("id", filter=Q(due_on__lt=today)),
        overdue_amount=Sum("amount", filter=Q(due_on__lt=today)),
    )
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
    )


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(values)) - 1)
    return values[rank]


class _PercentileDisc(Aggregate):
    """PostgreSQL's nearest-rank percentile (the same rank as `_percentile`)."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _resolution_aggregates() -> dict:
    """Average and p90 of (closed - received) in the database where it can (PostgreSQL)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    duration = ExpressionWrapper(F("closed_at") - F("received_at"), output_field=DurationField())
    return {
        "avg_resolution": Avg(duration, output_field=DurationField()),
        "p90_resolution": _PercentileDisc(duration, 0.9, output_field=DurationField()),
    }


def service(user, period: Period, unit=None) -> Section | None:
    from interactions.models import ServiceCase

    if not get_principal(user).sees_kind("service_case"):
        return None
    start, end = period.datetime_range()
    visible = _unit_filter(ServiceCase.objects.visible_to(user), unit, "customer__")
    received = visible.filter(received_at__gte=start, received_at__lt=end)
    rows = [
        [str(ServiceCase.Category(r["category"]).label), str(ServiceCase.Severity(r["severity"]).label), r["n"]]
        for r in received.values("category", "severity").annotate(n=Count("id")).order_by("category", "severity")
    ]
    closed = visible.filter(closed_at__gte=start, closed_at__lt=end)
    # One aggregate for everything about the closed cases (it was five queries and a Python loop
    # over every closed case's timestamps: 0.4 s of CPU for the executive at 1M).
    figures = closed.aggregate(
        closed=Count("id"),
        csat=Avg("satisfaction"),
        answers=Count("recommend"),
        promoters=Count("id", filter=Q(recommend__gte=9)),
        detractors=Count("id", filter=Q(recommend__lte=6)),
        **_resolution_aggregates(),
    )
    if "p90_resolution" not in figures:  # SQLite: no percentile aggregate
        hours = sorted(
            (closed_at - received_at).total_seconds() / 3600
            for received_at, closed_at in closed.values_list("received_at", "closed_at")
        )
        figures["avg_resolution"] = sum(hours) / len(hours) if hours else None
        figures["p90_resolution"] = _percentile(hours, 90)
    else:
        for key in ("avg_resolution", "p90_resolution"):
            value = figures[key]
            figures[key] = value.total_seconds() / 3600 if value is not None else None
    answers = figures["answers"]
    summary = {
        "received": sum(row[2] for row in rows),
        "closed": figures["closed"],
        "avg_hours": round(figures["avg_resolution"], 1) if figures["avg_resolution"] is not None else None,
        "p90_hours": round(figures["p90_resolution"], 1) if figures["p90_resolution"] is not None else None,
        "overdue": visible.overdue().count(),
        "csat": round(figures["csat"], 2) if figures["csat"] is not None else None,
        "nps": round(100 * (figures["promoters"] - figures["detractors"]) / answers, 1) if answers else None,
    }
    return Section(
        "service",
        str(_("Service cases")),
        [str(_("Category")), str(_("Severity")), str(_("Cases received"))],
        rows,
        [(f"{r[0]} / {r[1]}", r[2]) for r in rows],
        summary,
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

    if source is not None and days in SILENT_PERIODS:
        per_unit = source.rows("silent", days).values("org_unit__name").annotate(n=Sum("n"))
    else:
        per_unit = silent_customers(user, days, unit).values("org_unit__name").annotate(n=Count("id"))
    rows = [[r["org_unit__name"] or "—", r["n"]] for r in per_unit.order_by("org_unit__name")]
    return Section(
        "silent",
        str(_("Silent customers (no activity or order for %(days)s days)") % {"days": days}),
        [str(_("Unit")), str(_("Silent customers"))],
        rows,
        [(r[0], r[1]) for r in rows],
        summary={"total": sum(r[1] for r in rows), "days": days},
        computed_at=source.computed_at if source is not None and days in SILENT_PERIODS else None,
    )


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
        for row in source.rows("rfm").values("bucket").annotate(n=Sum("n")).order_by():
            counts[row["bucket"]] = row["n"]
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


def data_quality(user, unit=None, source=None) -> Section:
    from dedup.models import CandidatePair

    if source is not None:
        per_unit = [
            {**r, "avg": _mean(r["score_sum"], r["score_n"])}
            for r in source.rows("customers")
            .values("org_unit__name")
            .annotate(n=Sum("n"), no_owner=Sum("extra"), score_sum=Sum("score_sum"), score_n=Sum("score_n"))
            .order_by("org_unit__name")
        ]
        invalid = dict(source.rows("invalid_contacts").values_list("org_unit__name").annotate(n=Sum("n")).order_by())
        open_pairs = source.pair_count()
        totals = source.totals("customers")
        overall = {"avg": _mean(totals["score_sum"], totals["score_n"])}
    else:
        visible = _unit_filter(Customer.objects.visible_to(user).active(), unit)
        per_unit = list(
            visible.values("org_unit__name")
            .annotate(n=Count("id"), avg=Avg("quality_score"), no_owner=Count("id", filter=Q(owner__isnull=True)))
            .order_by("org_unit__name")
        )
        invalid = dict(
            ContactPoint.objects.filter(customer__in=visible, is_valid=False)
            .values_list("customer__org_unit__name")
            .annotate(n=Count("id"))
            .order_by()
        )
        open_pairs = CandidatePair.objects.filter(status="open", a__in=visible, b__in=visible).count()
        overall = visible.aggregate(avg=Avg("quality_score"))
    rows = [
        [
            r["org_unit__name"] or "—",
            r["n"],
            round(r["avg"], 1) if r["avg"] is not None else None,
            invalid.get(r["org_unit__name"], 0),
            r["no_owner"],
        ]
        for r in per_unit
    ]
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


def dashboard(user, *, period: Period, unit=None, use_summary: bool = True) -> list[Section]:
    """All sections the viewer's roles may see, in page order.

    The heavy sections read the precomputed summary when `summary_source` allows it for this viewer
    and unit filter (sections that came from it carry `computed_at`); everything else is live.
    """
    from crm.summaries import summary_source

    source = summary_source(user, unit) if use_summary else None
    sections = [
        funnel(user, period, unit, source),
        won_lost(user, period, unit, source),
        activities(user, 30, unit, source),
        receivables(user, unit),
        service(user, period, unit),
        rfm(user, unit, source=source),
        silent_counts(user, SILENT_DAYS_DEFAULT, unit, source),
        data_quality(user, unit, source),
    ]
    return [s for s in sections if s is not None]
