"""Reads of interactions shaped for pages: follow-ups, the timeline, the 360 sections, lists.

Everything starts from `<Model>.objects.visible_to(user)`, so a record of a hidden customer or of
a kind the user's roles do not list never reaches a page. Query counts do not grow with rows:
related rows come with `select_related`, and the timeline is one UNION ordered and sliced in SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db import connection, models
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.db.models.base import DEFERRED
from django.db.models.functions import Coalesce, Concat, NullIf, Substr, Trim
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from crm import prepared
from customers.team_models import CustomerMove
from interactions.campaign_models import Campaign, CampaignParticipation
from interactions.models import (
    Activity,
    Contract,
    Opportunity,
    Order,
    Payment,
    Quote,
    ServiceCase,
    Shipment,
)
from interactions.querysets import FEW, LIST
from interactions.services import creatable_kinds, interactions_writer
from sharing.principal import may_access_customer

HOME_LIMIT = 10
SECTION_LIMIT = 10
FOLLOWUPS_PER_PAGE = 50
LIST_PER_PAGE = 25
TIMELINE_PER_PAGE = 10  # the 360 page's timeline sits in a column beside the profile

# The timeline's kinds in the order of the filter menu, with their models and labels.
TIMELINE_MODELS = {
    "activity": Activity,
    "opportunity": Opportunity,
    "quote": Quote,
    "contract": Contract,
    "order": Order,
    "shipment": Shipment,
    "payment": Payment,
    "service_case": ServiceCase,
    "account": CustomerMove,  # ownership, pool and team changes (customers/pool.py): everyone who sees the customer
    "campaign": CampaignParticipation,  # campaign participation beyond "targeted": everyone who sees the customer
}
# Kinds on every timeline, whatever the roles' interaction kinds.
ALWAYS_VISIBLE_KINDS = ("account", "campaign")
KIND_LABELS = {
    "activity": _("Activities"),
    "opportunity": _("Opportunities"),
    "quote": _("Quotes"),
    "contract": _("Contracts"),
    "order": _("Orders"),
    "shipment": _("Shipments"),
    "payment": _("Payments"),
    "service_case": _("Service cases"),
    "account": _("Ownership and team"),
    "campaign": _("Campaigns"),
}


def visible_kinds(user) -> list[str]:
    """The interaction kinds the user's roles may see, in timeline order."""
    from sharing.principal import get_principal

    principal = get_principal(user)
    kinds = [kind for kind in TIMELINE_MODELS if principal.sees_kind(kind) and kind not in ALWAYS_VISIBLE_KINDS]
    # Ownership and team changes come with any timeline (a role that sees no record kind has none).
    return [*kinds, *ALWAYS_VISIBLE_KINDS] if kinds else []


# --- team ---------------------------------------------------------------------------------------


def team_members(user):
    """For a unit manager: the active users whose unit lies in the manager's subtree (incl. the manager).

    Others get only themselves.
    """
    from sharing.principal import get_principal

    User = get_user_model()
    principal = get_principal(user)
    if not principal.is_manager or not principal.unit_path:
        return User.objects.filter(pk=user.pk)
    return (
        User.objects.filter(is_active=True, membership__unit__path__startswith=principal.unit_path)
        .select_related("membership__unit")
        .order_by("last_name", "first_name", "username")
    )


def team_options(user) -> tuple[list[tuple[int, str]], str]:
    """(pk, "name · unit") of `team_members(user)`, and their `<option>` markup: the follow-up page's
    person filter. A manager's team depends only on the unit subtree (an executive's is every active
    user, 2,000 at scale), so it comes from the shared cache under the directory's validity
    (customers.selectors.directory_cached); anyone else's is the user alone."""
    from crm.widgets import options_markup, user_option_rows
    from customers.selectors import directory_cached
    from sharing.principal import get_principal

    def build():
        rows = [
            (pk, f"{name}{' · ' + unit if unit else ''}")
            for pk, name, _username, unit in user_option_rows(team_members(user))
        ]
        return rows, options_markup(rows)

    principal = get_principal(user)
    if not principal.is_manager or not principal.unit_path:
        return build()
    return directory_cached("team-options", (principal.unit_path,), build)


# --- follow-ups ---------------------------------------------------------------------------------


def followups_for_user(*, user, person_id: int | None = None, today: date | None = None):
    """Open follow-ups due today or earlier, oldest first (so overdue ones come on top).

    Everyone sees their own; a unit manager also sees the team's (the users of the manager's unit
    subtree) and may narrow the list to one person. Always within what the user may see.
    """
    from sharing.principal import get_principal

    today = today or timezone.localdate()
    principal = get_principal(user)
    # A manager's team list is a list; anyone else's, their own few follow-ups (querysets.FEW).
    rows = LIST if principal.is_manager and principal.unit_path else FEW
    qs = Activity.objects.visible_to(user, rows=rows).due_by(today).select_related("customer", "user")
    if principal.is_manager and principal.unit_path:
        # One IN over the team (the manager included), no OR: the planner can then walk the
        # follow_up_on index in list order and stop after a page.
        team = (
            get_user_model()
            .objects.filter(Q(membership__unit__path__startswith=principal.unit_path) | Q(pk=user.pk))
            .values("pk")
        )
        qs = qs.filter(user__in=team)
        if person_id:
            qs = qs.filter(user_id=person_id)
    else:
        qs = qs.filter(user=user)
    return qs.order_by("follow_up_on", "occurred_at", "pk")


def followup_counts(qs, *, today: date) -> dict:
    """{"due_today": n, "overdue": n} of a follow-up queryset, in one query."""
    return qs.order_by().aggregate(
        due_today=Count("pk", filter=Q(follow_up_on=today)), overdue=Count("pk", filter=Q(follow_up_on__lt=today))
    )


def followup_capped_counts(qs, *, today: date, cap: int | None = None) -> dict:
    """{"due_today": (n, capped), "overdue": (n, capped), "all": (n, capped)}, each up to the cap.

    Two capped counts that PostgreSQL stops after cap + 1 rows, instead of counting every open
    follow-up of a broad scope (115,000 for an executive: 170 ms; a province manager's team: 11,000
    records checked against 87,000 visible customers, 550 ms on the 1M seed). The list (`qs`, due
    today or earlier) is exactly those two parts, so its count follows from theirs: more than the
    cap when either part was capped or their sum exceeds it (no third count).
    """
    from crm.pagination import DEFAULT_CAP, cap_count, capped_count

    cap = cap or DEFAULT_CAP
    counts = {
        key: capped_count(qs.filter(condition), cap)
        for key, condition in (("due_today", Q(follow_up_on=today)), ("overdue", Q(follow_up_on__lt=today)))
    }
    total, capped = cap_count(counts["due_today"][0] + counts["overdue"][0], cap)
    counts["all"] = (total, capped or counts["due_today"][1] or counts["overdue"][1])
    return counts


def followup_count_labels(qs, *, today: date, cap: int | None = None, counts: dict | None = None) -> dict:
    """{"due_today": "12", "overdue": "1,000+"}: each counted up to the list's cap (crm/pagination.py)."""
    from crm.pagination import count_label

    counts = counts or followup_capped_counts(qs, today=today, cap=cap)
    return {key: count_label(*counts[key]) for key in ("due_today", "overdue")}


def followups_for_home(user) -> dict:
    """The home page's follow-up panel: counts due today and overdue, and the first ten (overdue first).

    Only the user's own follow-ups (a manager's team list lives on the follow-ups page).
    Returns {"due_today": int, "overdue": int, "items": [Activity], "url": str}; three queries.
    """
    today = timezone.localdate()
    mine = Activity.objects.visible_to(user, rows=FEW).due_by(today).filter(user=user)
    counts = followup_counts(mine, today=today)
    items = list(mine.select_related("customer").order_by("follow_up_on", "occurred_at", "pk")[:HOME_LIMIT])
    return {
        "due_today": counts["due_today"],
        "overdue": counts["overdue"],
        "items": items,
        "url": reverse("interactions:followups"),
    }


# --- timeline -----------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    kind: str
    pk: int
    date: datetime
    title: str
    summary: str
    status: str
    url: str | None
    kind_label: str = ""
    subkind: str = ""
    amount: Decimal | None = None
    currency: str = ""
    actor: str = ""


_CHAR = models.CharField()
_TEXT = models.TextField()


def _name(prefix: str):
    """A user's name as `get_full_name()` gives it (the convention of the site shell), in SQL."""
    return Concat(
        Coalesce(f"{prefix}first_name", Value("")),
        Value(" "),
        Coalesce(f"{prefix}last_name", Value("")),
        output_field=_CHAR,
    )


def _name_or_username(prefix: str):
    """A user's full name, else the user name (NULL without a user), in SQL."""
    return Coalesce(NullIf(Trim(_name(prefix)), Value("")), F(f"{prefix}username"), output_field=_CHAR)


def _move_title():
    """A CustomerMove's "who": "old → new" when both are known (a reassignment), else the one person
    involved: the member who joined or left the team, the owner whose customer returned to the pool,
    the rep who claimed it."""
    old, new = _name_or_username("from_user__"), _name_or_username("to_user__")
    return Case(
        When(from_user__isnull=False, to_user__isnull=False, then=Concat(old, Value(" → "), new, output_field=_CHAR)),
        When(to_user__isnull=False, then=new),
        default=Coalesce(old, Value(""), output_field=_CHAR),
        output_field=_CHAR,
    )


def _timeline_part(kind: str, qs, *, at, title, summary, status, subkind, actor, amount=None, currency=None):
    """One kind's rows with the timeline's columns (all annotations, so the UNION columns line up)."""
    return qs.annotate(
        t_kind=Value(kind, output_field=_CHAR),
        t_pk=F("pk"),
        t_at=at,
        t_title=title,
        t_summary=summary,
        t_status=status,
        t_subkind=subkind,
        t_actor=actor,
        t_amount=amount
        if amount is not None
        else Value(None, output_field=models.DecimalField(max_digits=14, decimal_places=2)),
        t_currency=currency if currency is not None else Value("", output_field=_CHAR),
    ).values(
        "t_kind", "t_pk", "t_at", "t_title", "t_summary", "t_status", "t_subkind", "t_actor", "t_amount", "t_currency"
    )


# The column each kind's entries are dated by (created_at unless listed).
_TIMELINE_AT = {"activity": "occurred_at", "campaign": "updated_at", "service_case": "received_at"}
# Newest first; the kind breaks a tie of date and id between two kinds' rows (else the page would
# hold either one at random).
_TIMELINE_ORDER = ("-t_at", "-t_pk", "t_kind")
_TIMELINE_ORDER_SQL = "t_at DESC, t_pk DESC, t_kind ASC"
_PAGE_END = object()  # in `_TimelinePage`'s compiled parameters: offset + limit of the page
_PAGE_KEYS = "timeline_keys"  # in `_TimelinePage`: one page's (t_kind, t_pk, t_at) and the count


def _timeline_base(kind: str, customer_id: int):
    """One kind's rows of the customer's timeline (every row of the customer; campaign participations
    only once they went beyond "targeted")."""
    qs = TIMELINE_MODELS[kind].objects.filter(customer_id=customer_id).order_by()
    if kind == "campaign":
        qs = qs.exclude(status=CampaignParticipation.Status.TARGETED)
    return qs


def _timeline_queryset(customer, user, kinds: list[str], *, page_keys: bool = False):
    """The timeline as one UNION ALL of the kinds' rows with their display columns, newest first.

    `page_keys`: each branch keeps only the row of `timeline_keys` — one key of a page, joined
    LATERAL by `_TimelinePage` (SQL for that statement only)."""
    from django.db.models.expressions import RawSQL

    parts = []
    # The caller checked the customer's visibility once; every row here belongs to that customer,
    # so the branches need only the customer id (compiling the visibility predicate into eight
    # branches twice cost more than the query itself).
    base = {}
    for kind in kinds:
        qs = TIMELINE_MODELS[kind].objects.filter(customer_id=customer.pk).order_by()
        if page_keys:
            # The row of the page's key at hand (a LATERAL reference; the kind test gates the branch).
            gate = RawSQL(f"{_PAGE_KEYS}.t_kind = %s", (kind,), output_field=models.BooleanField())  # noqa: S611
            qs = qs.filter(gate).filter(pk=RawSQL(f"{_PAGE_KEYS}.t_pk", ()))  # noqa: S611 (constant SQL)
        base[kind] = qs
    empty = Value("", output_field=_CHAR)
    for kind, qs in base.items():
        if kind == "activity":
            parts.append(
                _timeline_part(
                    kind,
                    qs,
                    at=F("occurred_at"),
                    title=F("subject"),
                    summary=Substr("notes", 1, 200, output_field=_TEXT),
                    status=Value("", output_field=_CHAR),
                    subkind=F("kind"),
                    actor=_name("user__"),
                )
            )
        elif kind == "opportunity":
            parts.append(
                _timeline_part(
                    kind,
                    qs,
                    at=F("created_at"),
                    title=F("name"),
                    summary=F("close_reason"),
                    status=F("stage"),
                    subkind=empty,
                    actor=_name("owner__"),
                    amount=F("amount"),
                    currency=F("currency"),
                )
            )
        elif kind == "account":
            parts.append(
                _timeline_part(
                    kind,
                    qs,
                    at=F("created_at"),
                    title=_move_title(),
                    summary=F("note"),
                    status=Value("", output_field=_CHAR),
                    subkind=F("kind"),
                    actor=_name("by__"),
                )
            )
        elif kind == "campaign":
            parts.append(
                _timeline_part(
                    kind,
                    qs.exclude(status=CampaignParticipation.Status.TARGETED),
                    at=F("updated_at"),
                    title=F("campaign__name"),
                    summary=empty,
                    status=F("status"),
                    subkind=F("campaign__kind"),
                    actor=_name("updated_by__"),
                )
            )
        elif kind == "service_case":
            parts.append(
                _timeline_part(
                    kind,
                    qs,
                    at=F("received_at"),
                    title=Concat(F("number"), Value(" "), F("subject"), output_field=_CHAR),
                    summary=Substr("description", 1, 200, output_field=_TEXT),
                    status=F("status"),
                    subkind=F("type"),
                    actor=_name("created_by__"),
                )
            )
        else:
            priced = kind != "shipment"
            parts.append(
                _timeline_part(
                    kind,
                    qs,
                    at=F("created_at"),
                    title=F("number"),
                    summary=Substr("note", 1, 200, output_field=_TEXT),
                    status=F("status"),
                    subkind=empty,
                    actor=_name("created_by__"),
                    amount=F("amount") if priced else None,
                    currency=F("currency") if priced else None,
                )
            )
    first, *rest = parts
    union = first.union(*rest, all=True) if rest else first
    return union.order_by(*_TIMELINE_ORDER)


_COMPILED_TIMELINES: dict[tuple[str, ...], tuple[str, str, tuple]] = {}
_CUSTOMER_SENTINEL = -730_151_101  # no customer has it; never executed


class _CompiledTimeline:
    """The timeline's UNION ALL as SQL compiled once per process and set of kinds (PostgreSQL).

    Building and compiling the eight-branch union through the ORM took 12-25 ms of CPU, twice per
    page (count and rows) — more than running it. The SQL differs only in the customer id, so it
    is compiled once with a sentinel id that is swapped for the real one in the parameters. Acts
    as the paginator's object list: `count()` and slicing, rows as dicts like `values()` gives.
    PostgreSQL only: psycopg returns the right Python types; on SQLite the ORM's converters are
    needed, so the queryset is used there.
    """

    def __init__(self, customer_id: int, kinds: list[str]):
        key = tuple(kinds)
        if key not in _COMPILED_TIMELINES:
            union = _timeline_queryset(SimpleNamespace(pk=_CUSTOMER_SENTINEL), None, list(kinds))
            ordered_sql, params = union.query.get_compiler(using=union.db).as_sql()
            unordered_sql, unordered_params = union.order_by().query.get_compiler(using=union.db).as_sql()
            assert tuple(params) == tuple(unordered_params)
            _COMPILED_TIMELINES[key] = (ordered_sql, unordered_sql, tuple(params))
        self.ordered_sql, self.unordered_sql, params = _COMPILED_TIMELINES[key]
        self.params = [customer_id if p == _CUSTOMER_SENTINEL else p for p in params]

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({self.unordered_sql}) AS timeline", self.params)  # noqa: S608
            return cursor.fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list[dict]:
        start, stop = window.start or 0, window.stop
        with connection.cursor() as cursor:
            cursor.execute(f"{self.ordered_sql} LIMIT %s OFFSET %s", [*self.params, max(stop - start, 0), start])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _entry_url(kind: str, pk: int) -> str | None:
    if kind in ("activity", "account", "campaign"):
        return None
    if kind == "service_case":
        return reverse("interactions:case_detail", args=[pk])
    return reverse(f"interactions:{kind}_detail", args=[pk])


def _choice_labels(choices) -> dict:
    return {value: str(label) for value, label in choices.choices}


_TIMELINE_LABELS: dict[str, tuple[dict, dict, dict]] = {}


def _timeline_labels() -> tuple[dict, dict, dict]:
    """Per kind: status labels, subkind labels and the kind's name, in the active language.

    Built once per process and language; per row, `dict(choices)` and the lazy labels' translation
    lookups cost more than the rest of the row."""
    language = translation.get_language()
    if language not in _TIMELINE_LABELS:
        statuses, subkinds, names = {}, {}, {}
        subkind_choices = {
            "activity": Activity.Kind,
            "service_case": ServiceCase.Type,
            "account": CustomerMove.Kind,
            "campaign": Campaign.Kind,
        }
        for kind, model in TIMELINE_MODELS.items():
            choices = getattr(model, "Status", None) or getattr(model, "Stage", None)
            statuses[kind] = _choice_labels(choices) if choices is not None else None
            subkinds[kind] = _choice_labels(subkind_choices[kind]) if kind in subkind_choices else None
            names[kind] = str(model._meta.verbose_name)
        _TIMELINE_LABELS[language] = (statuses, subkinds, names)
    return _TIMELINE_LABELS[language]


def _status_label(kind: str, code: str) -> str:
    labels = _timeline_labels()[0][kind]
    if labels is None or not code:
        return ""
    return str(labels.get(code, code))


def _subkind_label(kind: str, code: str) -> str:
    labels = _timeline_labels()[1][kind]
    if labels is None:
        return ""
    return str(labels.get(code, code))


_COMPILED_TIMELINE_PAGES: dict[tuple[str, ...], tuple[str, tuple]] = {}


def _timeline_count_queryset(customer_id: int, kinds: list[str]):
    """The timeline's rows without their columns: one `customer_id = …` branch per kind, no joins.

    Counts exactly what the union holds (the union's joins only add columns, never rows), but
    PostgreSQL can answer each branch from the customer_id index alone."""
    parts = [_timeline_base(kind, customer_id).values("pk") for kind in kinds]
    first, *rest = parts
    return first.union(*rest, all=True) if rest else first


def _timeline_keys_querysets(customer_id: int, kinds: list[str]) -> list:
    """Per kind, the rows as (t_kind, t_pk, t_at) only, newest first: no joins, so that a page is
    chosen before any user or campaign is joined (the rows are those of `_timeline_queryset`)."""
    return [
        _timeline_base(kind, customer_id)
        .annotate(t_kind=Value(kind, output_field=_CHAR), t_pk=F("pk"), t_at=F(_TIMELINE_AT.get(kind, "created_at")))
        .values("t_kind", "t_pk", "t_at")
        .order_by("-t_at", "-t_pk")
        for kind in kinds
    ]


class _TimelinePage:
    """Count and one page of the timeline in one query (PostgreSQL).

    The page's keys — (kind, id, date) of its rows — come from join-free branches, each read
    newest first from its `(customer_id, date)` index and cut at the page's end, with the count
    from join-free index-only branches; then each key's row is read with its display columns
    through a LATERAL union whose branches are gated by the key's kind. The whole union joined
    every row to its users (1,000 rows for the bench's customer, a hash of all 2,000 users per
    branch) to keep ten. Compiled once per process and set of kinds, with a sentinel customer id
    swapped for the real one. A page past the end has no keys and so no count: `count()`."""

    def __init__(self, customer_id: int, kinds: list[str]):
        key = tuple(kinds)
        if key not in _COMPILED_TIMELINE_PAGES:
            sentinel = SimpleNamespace(pk=_CUSTOMER_SENTINEL)
            branches = [
                qs.query.get_compiler(using=qs.db).as_sql()
                for qs in _timeline_keys_querysets(_CUSTOMER_SENTINEL, kinds)
            ]
            counted = _timeline_count_queryset(_CUSTOMER_SENTINEL, list(kinds))
            rows = _timeline_queryset(sentinel, None, list(kinds), page_keys=True).order_by()
            (count_sql, count_params), (rows_sql, rows_params) = (
                qs.query.get_compiler(using=qs.db).as_sql() for qs in (counted, rows)
            )
            # Each branch cut at the page's end (a parameter): an index scan that stops early, not a
            # sort of every row (nor a parallel plan for one).
            keys_sql = " UNION ALL ".join(f"({sql} LIMIT %s)" for sql, _params in branches)
            keys_params = [param for _sql, params in branches for param in (*params, _PAGE_END)]
            order = ", ".join(f"timeline_page.{term}" for term in _TIMELINE_ORDER_SQL.split(", "))
            _COMPILED_TIMELINE_PAGES[key] = (
                f"SELECT {_PAGE_KEYS}.n, timeline_page.* FROM (SELECT k.*, (SELECT COUNT(*) FROM ({count_sql}) AS c)"  # noqa: S608
                f" AS n FROM ({keys_sql}) AS k ORDER BY {_TIMELINE_ORDER_SQL} LIMIT %s OFFSET %s) AS {_PAGE_KEYS}"
                f" CROSS JOIN LATERAL ({rows_sql}) AS timeline_page ORDER BY {order}",
                f"SELECT COUNT(*) FROM ({count_sql}) AS c",  # noqa: S608
                (tuple(count_params), tuple(keys_params), tuple(rows_params)),
            )
        self.sql, self.count_sql, params = _COMPILED_TIMELINE_PAGES[key]
        self.count_params, self.keys_params, self.rows_params = (
            [customer_id if p == _CUSTOMER_SENTINEL else p for p in group] for group in params
        )

    def fetch(self, offset: int, limit: int) -> tuple[int | None, list[dict]]:
        """(count, rows) of one page; count is None when the page is empty (past the end)."""
        with connection.cursor() as cursor:
            keys_params = [offset + limit if p is _PAGE_END else p for p in self.keys_params]
            prepared.execute(cursor, self.sql, [*self.count_params, *keys_params, limit, offset, *self.rows_params])
            names = [column[0] for column in cursor.description][1:]
            rows = cursor.fetchall()
        count = rows[0][0] if rows else None
        return count, [dict(zip(names, row[1:], strict=True)) for row in rows]

    def count(self) -> int:
        with connection.cursor() as cursor:
            prepared.execute(cursor, self.count_sql, self.count_params)
            return cursor.fetchone()[0]


def _timeline_page_postgresql(customer_id: int, kinds: list[str], page, per_page: int) -> Page:
    """`Paginator.get_page(page)` with count and rows from one query (two or three when `page` lies
    outside the pages: then the last page is shown, as get_page does)."""
    try:
        number = int(page)
    except (TypeError, ValueError):
        number = 1
    query = _TimelinePage(customer_id, kinds)
    count, rows = query.fetch((max(number, 1) - 1) * per_page, per_page)
    if count is None:  # no rows on that page: an empty timeline, or a page past the end
        count = query.count() if number > 1 else 0
    paginator = Paginator([], per_page)
    paginator.count = count  # a cached_property: the paginator does not count again
    if not 1 <= number <= paginator.num_pages:
        number = paginator.num_pages
        rows = query.fetch((number - 1) * per_page, per_page)[1] if count else []
    return Page(rows, number, paginator)


def customer_timeline(*, customer, user, kinds=None, page=1, per_page: int = 20) -> Page:
    """One page of everything about `customer` the viewer may see, newest first.

    `kinds` narrows to some record kinds (those the viewer may not see are ignored). One UNION ALL
    of per-kind `values()` querysets, ordered and sliced in SQL: one query on PostgreSQL (count and
    page together, `_TimelinePage`), two elsewhere, whatever the number of entries, after one check
    that the viewer sees the customer. The page's `object_list` holds `TimelineEntry` objects.
    """
    allowed = visible_kinds(user)
    if kinds:
        wanted = {kinds} if isinstance(kinds, str) else set(kinds)
        allowed = [k for k in allowed if k in wanted]
    if not allowed or not may_access_customer(user, customer.pk, "view"):
        return Paginator([], per_page).get_page(1)
    if connection.vendor == "postgresql":
        page_obj = _timeline_page_postgresql(customer.pk, allowed, page, per_page)
    else:
        page_obj = Paginator(_timeline_queryset(customer, user, allowed), per_page).get_page(page)
    page_obj.object_list = [
        TimelineEntry(
            kind=row["t_kind"],
            pk=row["t_pk"],
            date=row["t_at"],
            title=row["t_title"] or "",
            summary=row["t_summary"] or "",
            status=_status_label(row["t_kind"], row["t_status"]),
            url=_entry_url(row["t_kind"], row["t_pk"]),
            kind_label=_timeline_labels()[2][row["t_kind"]],
            subkind=_subkind_label(row["t_kind"], row["t_subkind"]),
            amount=row["t_amount"],
            currency=row["t_currency"] or "",
            actor=(row["t_actor"] or "").strip(),
        )
        for row in page_obj.object_list
    ]
    return page_obj


def timeline_context(*, customer, user, kind: str = "", page=1, activity_form=None) -> dict:
    """Context of the timeline partial (interactions/partials/_timeline.html) and its section."""
    kinds = visible_kinds(user)
    selected = kind if kind in kinds else ""
    return {
        "customer": customer,
        "timeline": customer_timeline(
            customer=customer, user=user, kinds=[selected] if selected else None, page=page, per_page=TIMELINE_PER_PAGE
        ),
        "timeline_kinds": [(k, KIND_LABELS[k]) for k in kinds],
        "timeline_kind": selected,
        "timeline_url": reverse("interactions:timeline", args=[customer.pk]),
        "activity_form": activity_form,
    }


# --- the customer's 360 page ----------------------------------------------------------------------


def _section(template: str, data: dict) -> tuple[str, dict]:
    # Templates read `section.*`; the dict also holds itself under "section", so it works both
    # as render_to_string(template, ctx) and as {% include template with section=ctx %}.
    data["section"] = data
    return f"interactions/partials/{template}", data


# The short lists of the 360 page: (model kind, related objects the templates read, fields the
# templates read, the list's rows). Each list is a `values()` query of `customer_id = …` with its
# order and SECTION_LIMIT; the templates get model instances built from those values (other fields
# stay deferred: a template reading one more field costs a query, which the query-count tests see).
_SECTION_LISTS = {
    "followups": (
        "activity",
        {"user": ("id", "first_name", "last_name", "username")},
        ("id", "subject", "follow_up_on", "user_id"),
        lambda qs: qs.open_followups().order_by("follow_up_on", "pk"),
    ),
    "opportunities": (
        "opportunity",
        {"owner": ("id", "first_name", "last_name", "username")},
        ("id", "name", "stage", "amount", "currency", "expected_close_on", "owner_id"),
        lambda qs: qs.order_by(
            models.Case(models.When(stage__in=Opportunity.OPEN_STAGES, then=0), default=1), "-created_at"
        ),
    ),
    "contracts": (
        "contract",
        {},
        ("id", "number", "status", "amount", "currency", "start_on", "end_on"),
        lambda qs: qs.order_by("-created_at"),
    ),
    "orders": (
        "order",
        {},
        ("id", "number", "status", "amount", "currency", "ordered_on"),
        lambda qs: qs.order_by("-created_at"),
    ),
    "cases": (
        "service_case",
        {},
        ("id", "number", "subject", "type", "severity", "status", "due_at"),
        lambda qs: qs.order_by(models.Case(models.When(status="closed", then=1), default=0), "-received_at"),
    ),
    "payments": (
        "payment",
        {"contract": ("id", "number")},
        ("id", "number", "contract_id", "amount", "currency", "due_on", "status"),
        lambda qs: qs.order_by(models.Case(models.When(status="open", then=0), default=1), "due_on", "pk"),
    ),
}
_COMPILED_SECTION_LISTS: dict[tuple[str, ...], tuple[str, tuple]] = {}


def _section_list_queryset(name: str, customer_id: int):
    kind, related, fields, ordered = _SECTION_LISTS[name]
    model = TIMELINE_MODELS[kind]
    columns = [*fields, *(f"{relation}__{field}" for relation, names in related.items() for field in names)]
    return ordered(model.objects.filter(customer_id=customer_id)).values_list(*columns)[:SECTION_LIMIT]


def _section_instances(name: str, rows) -> list:
    """Model instances (with their related objects, as select_related would give) from value rows."""
    kind, related, fields, _ordered = _SECTION_LISTS[name]
    model = TIMELINE_MODELS[kind]
    db = model.objects.db
    concrete = model._meta.concrete_fields
    instances = []
    for row in rows:
        by_name = dict(zip(fields, row, strict=False))
        obj = model.from_db(db, fields, [by_name.get(f.attname, DEFERRED) for f in concrete])
        position = len(fields)
        for relation, names in related.items():
            field = model._meta.get_field(relation)
            values = dict(zip(names, row[position : position + len(names)], strict=True))
            position += len(names)
            target = field.related_model
            rel = (
                target.from_db(db, names, [values.get(f.attname, DEFERRED) for f in target._meta.concrete_fields])
                if values[names[0]] is not None
                else None
            )
            field.set_cached_value(obj, rel)
        instances.append(obj)
    return instances


def _json_converters(name: str) -> list:
    """Per column, the function turning a JSON value back into what the database adapter returns."""
    kind, related, fields, _ordered = _SECTION_LISTS[name]
    model = TIMELINE_MODELS[kind]
    model_fields = [model._meta.get_field(f) for f in fields]
    for relation, names in related.items():
        target = model._meta.get_field(relation).related_model
        model_fields += [target._meta.get_field(f) for f in names]
    converters = []
    for field in model_fields:
        internal = field.get_internal_type()
        if internal == "DateTimeField":
            converters.append(lambda v: None if v is None else datetime.fromisoformat(v))
        elif internal == "DateField":
            converters.append(lambda v: None if v is None else date.fromisoformat(v))
        elif internal == "DecimalField":
            converters.append(lambda v: v if v is None or isinstance(v, Decimal) else Decimal(str(v)))
        else:
            converters.append(lambda v: v)
    return converters


def _section_lists(customer_id: int, names: list[str]) -> dict[str, list]:
    """The 360 page's short lists, each as model instances.

    PostgreSQL: all of them in one query — each list's SQL (compiled once per process and set of
    lists, the customer id swapped in as for the timeline) wrapped as `SELECT name, row_to_json(…)`
    and joined with UNION ALL. Five or six round trips and ORM compilations were a third of the
    page's query count and 15 ms of its CPU. Elsewhere one query per list.
    """
    if not names:
        return {}
    if connection.vendor != "postgresql":
        return {name: _section_instances(name, _section_list_queryset(name, customer_id)) for name in names}
    key = tuple(names)
    if key not in _COMPILED_SECTION_LISTS:
        parts, all_params = [], []
        for name in names:
            qs = _section_list_queryset(name, _CUSTOMER_SENTINEL)
            sql, params = qs.query.get_compiler(using=qs.db).as_sql()
            width = len(qs.query.values_select)
            columns = ", ".join(f"c{i}" for i in range(width))
            parts.append(f"SELECT %s AS section, row_to_json(x) AS r FROM ({sql}) AS x({columns})")  # noqa: S608
            all_params += [name, *params]
        _COMPILED_SECTION_LISTS[key] = (" UNION ALL ".join(parts), tuple(all_params))
    sql, params = _COMPILED_SECTION_LISTS[key]
    from psycopg.types.json import set_json_loads

    with connection.cursor() as cursor:
        # Amounts as Decimal, digit for digit as the numeric column holds them (not via float).
        set_json_loads(partial(json.loads, parse_float=Decimal), cursor.cursor)
        prepared.execute(cursor, sql, [customer_id if p == _CUSTOMER_SENTINEL else p for p in params])
        fetched = cursor.fetchall()
    rows: dict[str, list] = {name: [] for name in names}
    converters = {name: _json_converters(name) for name in names}
    for name, record in fetched:
        record = json.loads(record) if isinstance(record, str) else record
        rows[name].append(tuple(convert(record[f"c{i}"]) for i, convert in enumerate(converters[name])))
    return {name: _section_instances(name, rows[name]) for name in names}


def customer_360_sections(*, customer, user, request=None) -> list[tuple[str, dict]]:
    """The interaction sections of a customer's 360 page, as (template name, context) pairs.

    Only sections whose record kinds the viewer may see are returned (absent, not empty): the
    timeline with its filter and the "add activity" form, open follow-ups, opportunities,
    contracts and orders, service cases and payments (finance). Render each with
    `render_to_string(template_name, context, request=request)` or
    `{% include template_name with section=context %}`. A fixed number of queries: the timeline's
    one and one for all the short lists on PostgreSQL.
    """
    from interactions.forms import ActivityForm

    kinds = set(visible_kinds(user))
    if not kinds:
        return []
    creatable = creatable_kinds(user, customer)
    can_log = "activity" in creatable
    sections = [
        _section(
            "_section_timeline.html",
            timeline_context(customer=customer, user=user, activity_form=ActivityForm() if can_log else None),
        )
    ]
    # The lists hold only this customer's records, of kinds the roles see (as of_visible_customer).
    wanted = [name for name, (kind, *_rest) in _SECTION_LISTS.items() if kind in kinds]
    if not may_access_customer(user, customer.pk, "view"):
        wanted = []
    lists = _section_lists(customer.pk, wanted)
    if "activity" in kinds:
        sections.append(
            _section(
                "_section_followups.html",
                {"customer": customer, "followups": lists.get("followups", []), "today": timezone.localdate()},
            )
        )
    if "opportunity" in kinds:
        sections.append(
            _section(
                "_section_opportunities.html",
                {
                    "customer": customer,
                    "opportunities": lists.get("opportunities", []),
                    "can_create": "opportunity" in creatable,
                },
            )
        )
    if "contract" in kinds or "order" in kinds:
        sections.append(
            _section(
                "_section_contracts.html",
                {
                    "customer": customer,
                    "contracts": lists.get("contracts", []) if "contract" in kinds else None,
                    "orders": lists.get("orders", []) if "order" in kinds else None,
                },
            )
        )
    if "service_case" in kinds:
        sections.append(
            _section(
                "_section_cases.html",
                {
                    "customer": customer,
                    "cases": lists.get("cases", []),
                    "can_create": "service_case" in creatable,
                    "now": timezone.now(),
                },
            )
        )
    if "payment" in kinds:
        sections.append(
            _section(
                "_section_payments.html",
                {
                    "customer": customer,
                    "payments": lists.get("payments", []),
                    "can_create": "payment" in creatable,
                    "today": timezone.localdate(),
                },
            )
        )
    return sections


# --- lists ----------------------------------------------------------------------------------------


def _stage_counts(qs, *, unfiltered_visibility: bool) -> dict[str, int]:
    """{stage: number of opportunities} of `qs`, stages without any left out.

    Grouping every opportunity of a viewer who sees them all (an executive's 500,000, 96 ms on the
    1M seed; 211 ms for the HQ "team") is replaced, for a viewer without a visibility predicate, by
    per-stage counts on PostgreSQL up to the list's cap only (a larger one reads cap + 1: show it
    with `count_label`): 1 ms in all. With a visibility predicate each per-stage count would re-read
    the predicate's rows (a provincial manager 51 against 27 ms, the big-share user 276 against
    85 ms), so those are grouped, exactly."""
    from crm.pagination import DEFAULT_CAP

    base = qs.order_by().values("stage")
    if connection.vendor != "postgresql" or not unfiltered_visibility:
        return dict(base.annotate(n=Count("pk")).values_list("stage", "n"))
    sql, params = base.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.stage, (SELECT COUNT(*) FROM (SELECT 1 FROM ("  # noqa: S608 - compiled by the ORM
            + sql
            + ") AS b WHERE b.stage = v.stage LIMIT %s) AS c) FROM unnest(%s::text[]) AS v(stage)",
            [*params, DEFAULT_CAP + 1, list(Opportunity.Stage.values)],
        )
        return {stage: n for stage, n in cursor.fetchall() if n}


def opportunity_list(*, user, scope: str = "mine", stage: str = ""):
    """Opportunities: "mine" (I own), "team" (owned by my unit subtree; managers) or "all" I may see.

    Returns (queryset, counts per stage for the same scope: `_stage_counts`).
    """
    from sharing.principal import get_principal

    qs = Opportunity.objects.visible_to(user, rows=FEW if scope == "mine" else LIST)
    unfiltered_visibility = not qs.query.where  # a viewer who sees every opportunity
    principal = get_principal(user)
    if scope == "mine":
        qs = qs.filter(owner=user)
    elif scope == "team" and principal.is_manager and principal.unit_path:
        qs = qs.filter(owner__membership__unit__path__startswith=principal.unit_path)
    counts = _stage_counts(qs, unfiltered_visibility=unfiltered_visibility)
    if stage in Opportunity.Stage.values:
        qs = qs.filter(stage=stage)
    qs = qs.select_related("customer", "owner").order_by("expected_close_on", "-updated_at", "-pk")
    return qs, counts


def receivables(*, user, overdue_only: bool = False, today: date | None = None):
    """Open payments the user may see (finance), earliest due first, with totals per currency."""
    today = today or timezone.localdate()
    qs = Payment.objects.visible_to(user, rows=LIST).open()
    if overdue_only:
        qs = qs.filter(due_on__lt=today)
    totals = list(
        qs.order_by()
        .values("currency")
        .annotate(total=Sum("amount"), overdue=Sum("amount", filter=Q(due_on__lt=today)), n=Count("pk"))
        .order_by("currency")
    )
    return qs.select_related("customer", "contract").order_by("due_on", "pk"), totals


CASE_FILTERS = {
    "open": _("Open"),
    "overdue": _("Overdue"),
    "mine": _("Assigned to me"),
    "closed": _("Closed"),
    "all": _("All"),
}


class KeysFirst:
    """A list queryset for CappedPaginator whose page picks its ids before reading any row.

    A page is `SELECT … FROM t WHERE id IN (SELECT id FROM <the list> ORDER BY … LIMIT n OFFSET m)
    ORDER BY …`: one query, the inner walk reads only the list's sort index when it covers the
    filter (the big-share user's open cases: ~1,200 entries checked against the hashed share set
    index-only on `case_open_due`, instead of ~1,200 case rows fetched to keep 25), then 25 rows by
    primary key with their joins. The ids come from the visible list, so the outer query needs no
    filter of its own. Counting goes to the list itself (`capped_count`).
    """

    ordered = True

    def __init__(self, queryset):
        self.queryset = queryset

    @property
    def query(self):
        return self.queryset.query

    def order_by(self, *fields):
        return self.queryset.order_by(*fields)

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window):
        if not isinstance(window, slice):
            return self.queryset[window]
        qs = self.queryset
        order = qs.query.order_by or qs.model._meta.ordering
        rows = qs.model._default_manager.filter(pk__in=qs.values("pk")[window]).order_by(*order)
        rows.query.select_related = qs.query.select_related
        return rows


def case_list(*, user, show: str = "open", type: str = ""):  # noqa: A002
    qs = ServiceCase.objects.visible_to(user, rows=FEW if show == "mine" else LIST)
    if show == "open":
        qs = qs.open()
    elif show == "overdue":
        qs = qs.overdue()
    elif show == "mine":
        qs = qs.open().filter(responsible_user=user)
    elif show == "closed":
        qs = qs.filter(status=ServiceCase.Status.CLOSED)
    if type in ServiceCase.Type.values:
        qs = qs.filter(type=type)
    order = ("due_at", "pk") if show in ("open", "overdue", "mine") else ("-received_at", "-pk")
    return qs.select_related("customer", "responsible_user").order_by(*order)


def document_chain(*, document, user) -> dict:
    """The documents around one sales document that the viewer may see: where it came from, what followed."""
    from sharing.principal import get_principal

    principal = get_principal(user)
    previous = []
    following = []
    if isinstance(document, Quote):
        if principal.sees_kind("opportunity"):
            previous.append(document.opportunity)
        following += list(Contract.objects.visible_to(user).filter(quote=document).order_by("pk"))
    elif isinstance(document, Contract):
        if principal.sees_kind("quote"):
            previous.append(document.quote)
        following += list(Order.objects.visible_to(user).filter(contract=document).order_by("pk"))
        following += list(Payment.objects.visible_to(user).filter(contract=document).order_by("pk"))
    elif isinstance(document, Order):
        if principal.sees_kind("contract"):
            previous.append(document.contract)
        following += list(Shipment.objects.visible_to(user).filter(order=document).order_by("pk"))
        following += list(Payment.objects.visible_to(user).filter(order=document).order_by("pk"))
    elif isinstance(document, Shipment):
        if principal.sees_kind("order"):
            previous.append(document.order)
    elif isinstance(document, Payment):
        if principal.sees_kind("contract"):
            previous.append(document.contract)
        if document.order_id and principal.sees_kind("order"):
            previous.append(document.order)
    return {"previous": previous, "following": following}


def can_write(user) -> bool:
    return interactions_writer(user)
